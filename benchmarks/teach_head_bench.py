"""How long a taught classifier's refit takes: x86 measured, a Pi Zero estimated from its count.

    python benchmarks/teach_head_bench.py [--classes 5] [--examples 50] [--dim 1152] [--rounds 7]

One refit is what the page does after every added or removed example: app.teach.head.fit on
classes x examples descriptors of the default descriptor's length (docs/TEACH.md), the fit on
all of them plus its k-fold cross-validation. Prints the median x86 time on one core, the
multiply-adds that bound it (fit_multiply_adds), numpy's float64 matrix-product rate here, and
the Pi Zero estimate: the count at an assumed Pi Zero rate; and, as a pessimistic check, the whole
x86 time scaled by the ratio of the two rates (as if numpy's per-call overhead, about 16 calls
per gradient step, grew like the arithmetic). The target is under a second on a Pi Zero.

The Pi Zero's rate is an assumption, not a measurement: its ARM1176 (1 GHz, VFP11) issues one
float64 multiply-add every two cycles (0.5 G/s peak); third-party Linpack (HPL) runs on a
900 MHz Pi 1 reached 0.27 GFLOP/s with OpenBLAS and 0.21 with ATLAS, 0.025 with an
unoptimised reference BLAS. We assume 0.2 GFLOP/s = 100 M multiply-adds a second with an
optimised BLAS (ATLAS/OpenBLAS at 1 GHz, about 80 % of HPL); numpy against the reference BLAS
would be several times slower.
"""
from __future__ import annotations

import os

for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"  # one core, like a Pi Zero; set before numpy loads its BLAS

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.teach.head import HeadSettings, fit, fit_multiply_adds  # noqa: E402

PI_ZERO_MACS_PER_S = 100e6   # the assumption above
DEFAULT_DIM = 1152           # b3-scale 3x3 (128 channels x 9 cells), docs/TEACH.md


def matmul_rate(n: int, d: int, rounds: int) -> float:
    """float64 multiply-adds per second of numpy's matrix product at the Gram's shape."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(d, n))
    a @ b
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return n * n * d / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--examples", type=int, default=50, help="per class")
    parser.add_argument("--dim", type=int, default=DEFAULT_DIM)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    settings = HeadSettings()
    rng = np.random.default_rng(1)
    n = args.classes * args.examples
    centres = rng.normal(size=(args.classes, args.dim))
    y = np.repeat(np.arange(args.classes), args.examples)
    x = np.clip(centres[y] + 2.0 * rng.normal(size=(n, args.dim)), 0, None) / 8  # ReLU-like
    labels = [f"class {v}" for v in y]
    fit(x, labels, settings=settings)
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        _, report = fit(x, labels, settings=settings)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    macs = fit_multiply_adds(n, args.dim, args.classes, settings)
    rate = matmul_rate(n, args.dim, args.rounds)
    print(f"refit + {report.folds}-fold CV, {args.classes} classes x {args.examples} examples, "
          f"{args.dim} features, {settings.iterations} steps per fit")
    print(f"x86, one core: {seconds * 1e3:.1f} ms (median of {args.rounds}); "
          f"numpy float64 matmul here: {rate / 1e9:.2f} G multiply-adds/s")
    print(f"multiply-adds: {macs / 1e6:.1f} M (x86 ran them at {macs / seconds / 1e9:.2f} G/s "
          f"overall)")
    print(f"Pi Zero estimate: {macs / PI_ZERO_MACS_PER_S:.2f} s at an assumed "
          f"{PI_ZERO_MACS_PER_S / 1e6:.0f} M multiply-adds/s")
    ratio = rate / PI_ZERO_MACS_PER_S
    print(f"pessimistic check: all of the x86 time (numpy's per-call overhead too) scaled by the "
          f"rate ratio {ratio:.0f}: {seconds * ratio:.2f} s")


if __name__ == "__main__":
    main()
