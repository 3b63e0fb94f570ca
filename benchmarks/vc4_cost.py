"""A model's cost on the Pi's GPU, estimated by its real compiler (Mesa vc4 under drm-shim):

    python benchmarks/vc4_cost.py [--model PATH] [--checkout DIR] [--json]

Sums over the draws of one inference each kernel's estimated cycles (VC4STAT, the draw-time
fragment shader compile) times the fragments it draws, and prints the per-kernel table.
`--checkout DIR` runs the engine of another checkout of this repository (a git worktree of
an older commit, say) under the same compiler, for before/after figures. Kernels that fail
to compile are listed and left out of the sum (their fragments are counted separately).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.vc4_shaderdb import REPO, compile_report, table  # noqa: E402

DOG = REPO.parent / "shared" / "models" / "dog_classifier.chunks"


def vc4_cost(model_path: str | os.PathLike, checkout: str | os.PathLike | None = None) -> dict:
    """The compile report of the model with its per-inference estimate under `frame`."""
    return compile_report(model_path, engine_checkout=checkout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DOG))
    parser.add_argument("--checkout", help="run the engine of this checkout instead")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = vc4_cost(args.model, args.checkout)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(table(report))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
