"""Batch throughput in this process, on one local Dask worker and on two, in one run.

    python benchmarks/batch_bench.py [--model PATH] [--pictures N] [--size WxH] [--json]

Writes N demo-camera pictures (JPEG) to a temporary folder, then classifies all of them three
times, one configuration after the other: in-process (one engine), `--workers 1` and
`--workers 2` (an embedded LocalCluster of single-threaded worker processes). For each it
reports images per second over the whole batch (first submit to last result, engine set-up
included), in the steady state (after the first result), and the seconds the cluster took to
start. The steady ratios to the in-process figure are the meaningful part: the load average
printed alongside says how busy the machine was. One untimed picture first fills Mesa's
on-disk shader cache, so no configuration pays the compiler where another does not.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MESA_GLES_VERSION_OVERRIDE", "2.0")  # ES 2.0 exactly, as on a Pi Zero

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from app import demo_scene  # noqa: E402
from app.batch.sources import collect, jobs  # noqa: E402
from app.batch.tasks import model_bytes  # noqa: E402
from app.models.store import resolve_model_path  # noqa: E402


def write_pictures(folder: Path, count: int, size: tuple[int, int]) -> None:
    for number in range(count):
        frame = demo_scene.render_scene(0.37 * number, *size)
        Image.fromarray(frame).save(folder / f"{number:05d}.jpg", quality=90)


def timed(runner, folder: Path) -> dict:
    """Images per second over the whole batch, and in the steady state after the first
    result (engines made, shaders compiled)."""
    start = time.perf_counter()
    finished = [time.perf_counter() for _ in runner.run(jobs(collect([str(folder)]), 1))]
    seconds = finished[-1] - start
    return {"images": len(finished), "seconds": seconds,
            "images_per_second": len(finished) / seconds,
            "steady_images_per_second": (len(finished) - 1) / (finished[-1] - finished[0])}


def bench(model_path: Path, folder: Path, worker_counts: list[int]) -> dict:
    from app.batch.local import LocalRunner
    model = model_bytes(model_path)
    runner = LocalRunner(model, top_k=5)
    try:
        # Untimed: fills Mesa's on-disk shader cache, which every configuration then finds.
        next(runner.run(jobs(collect([str(folder)]), 1)))
        runner.close()
        results = {"in-process": timed(runner, folder)}
    finally:
        runner.close()
    from app.batch.cluster import ClusterRunner, connect
    for workers in worker_counts:
        start = time.perf_counter()
        with connect(workers=workers) as client:
            runner = ClusterRunner(client, model, model_path, top_k=5)
            startup = time.perf_counter() - start
            results[f"--workers {workers}"] = {**timed(runner, folder), "startup_s": startup}
    base = results["in-process"]["steady_images_per_second"]
    for figures in results.values():
        figures["vs_in_process"] = figures["steady_images_per_second"] / base
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="chunkfile or installed model (default: the demo model)")
    parser.add_argument("--pictures", type=int, default=300, metavar="N")
    parser.add_argument("--size", default="640x480", metavar="WxH")
    parser.add_argument("--workers", default="1,2", help="worker counts to try (default 1,2)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    model_path = resolve_model_path(args.model) if args.model else \
        Path(__file__).resolve().parents[1] / "app" / "assets" / "demo_model.chunks"
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        write_pictures(Path(tmp), args.pictures, size)
        load_before = os.getloadavg()[0]
        results = bench(model_path, Path(tmp), [int(n) for n in args.workers.split(",")])
        load_after = os.getloadavg()[0]
    figures = {"model": model_path.name, "pictures": args.pictures, "size": args.size,
               "cpus": os.cpu_count(), "load_average_1min": [load_before, load_after],
               "runs": results}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"{args.pictures} pictures {args.size} JPEG, model {model_path.name}, "
          f"{os.cpu_count()} CPUs, load average {load_before:.1f} before / {load_after:.1f} after")
    print(f"  {'':12s} {'steady':>8s} {'ratio':>6s} {'whole batch':>18s}")
    for name, run in results.items():
        startup = f"  + cluster start {run['startup_s']:.1f} s" if "startup_s" in run else ""
        print(f"  {name:12s} {run['steady_images_per_second']:8.1f} {run['vs_in_process']:5.2f}x "
              f"{run['images_per_second']:7.1f}/s {run['seconds']:6.1f} s{startup}")
    print("  images/s; steady: after the first result; ratio: steady vs in-process")
    return 0


if __name__ == "__main__":
    sys.exit(main())
