"""Engine speed on this machine: `python benchmarks/engine_bench.py [--model PATH] [-n N]`.

The same figures as `shadercam bench --reference`: GPU latency beside the NumPy reference's,
measured in one run, so the ratio is meaningful even on a shared, noisy machine.
"""
import argparse
import sys

from app.cli.engine import run_bench

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model")
    parser.add_argument("-n", "--iterations", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.reference = True
    sys.exit(run_bench(args))
