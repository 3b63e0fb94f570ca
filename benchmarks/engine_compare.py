"""This checkout's engine against an older commit's, inference by inference, alternating.

    python benchmarks/engine_compare.py [--commit 6411e66] [--rounds 30] [--model PATH]

The old engine is checked out with `git worktree add` into a temporary folder; each engine runs
in its own process (OpenGL ES 2.0 exactly, LP_NUM_THREADS=2 for llvmpipe), both on the dog
classifier and chelsea (scikit-image) at 385x385, upload and readback included. The engines
take turns, one inference each, so both see the same machine load; the ratio of the medians is
the figure to quote, the absolute times are only this machine's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOG_MODEL = ROOT.parent / "shared" / "models" / "dog_classifier.chunks"


def chelsea_385():
    """skimage's chelsea, centre square, resized to 385x385 (the dog classifier's input)."""
    import numpy as np
    import skimage.data
    import skimage.transform
    image = skimage.data.chelsea()
    height, width = image.shape[:2]
    left = (width - height) // 2
    square = image[:, left:left + height]
    resized = skimage.transform.resize(square, (385, 385), order=1, anti_aliasing=False,
                                       preserve_range=True)
    return np.ascontiguousarray(np.round(resized).astype(np.uint8))


def worker(root: str, model_path: str) -> None:
    """Serve 'run' requests on stdin with one timed inference each, from the engine in root."""
    sys.path.insert(0, root)
    import numpy as np

    from gpu_engine import Engine, load_model
    model = load_model(model_path)
    engine = Engine(model)
    image = chelsea_385()
    first = engine.classify_rgb(image)
    texture_bytes = (engine.texture_bytes() if hasattr(engine, "texture_bytes")
                     else engine.plan.texture_bytes())
    print(json.dumps({"top": int(np.argmax(first)), "p": float(first.max()),
                      "version": engine.gl_info.version, "texture_bytes": texture_bytes}),
          flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        start = time.perf_counter()
        engine.classify_rgb(image)
        print(1000 * (time.perf_counter() - start), flush=True)
    engine.release()


def start(root: Path, model: Path) -> tuple[subprocess.Popen, dict]:
    env = dict(os.environ, LP_NUM_THREADS="2", MESA_GLES_VERSION_OVERRIDE="2.0")
    process = subprocess.Popen([sys.executable, __file__, "--worker", str(root), str(model)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               cwd=root, env=env)
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise SystemExit(f"the engine in {root} did not start")
    return process, json.loads(line)


def timed(process: subprocess.Popen) -> float:
    process.stdin.write("run\n")
    process.stdin.flush()
    return float(process.stdout.readline())


def call_counts(model: Path) -> dict:
    """GL calls of one steady inference of this checkout's engine (a counting engine)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("MESA_GLES_VERSION_OVERRIDE", "2.0")
    from gpu_engine import Engine, load_model
    from gpu_engine.gles2 import CallLog
    log = CallLog()
    engine = Engine(load_model(model), gl_calls=log)
    image = chelsea_385()
    engine.classify_rgb(image)
    log.reset()
    engine.classify_rgb(image)
    engine.release()
    return dict(log.counts, total=log.total)


def compare(commit: str, rounds: int, model: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="shadercam-old-engine-") as folder:
        old_root = Path(folder) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old_root),
                        commit], check=True, capture_output=True)
        try:
            engines = {"old": start(old_root, model), "new": start(ROOT, model)}
            times: dict[str, list[float]] = {"old": [], "new": []}
            for turn in range(rounds + 2):
                order = ("old", "new") if turn % 2 == 0 else ("new", "old")
                for name in order:
                    elapsed = timed(engines[name][0])
                    if turn >= 2:  # the first two rounds warm caches and clocks
                        times[name].append(elapsed)
            for process, _ in engines.values():
                process.stdin.close()
                process.wait(timeout=60)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(old_root)], capture_output=True)
    for name, label in (("old", f"engine of {commit}"), ("new", "this checkout's engine")):
        info, values = engines[name][1], times[name]
        print(f"{label:28s} min {min(values):7.1f} / median {statistics.median(values):7.1f} / "
              f"max {max(values):7.1f} ms; top-1 {info['top']} ({info['p']:.4f}); textures "
              f"{info['texture_bytes'] / 2**20:.2f} MiB")
    ratio = statistics.median(times["new"]) / statistics.median(times["old"])
    print(f"{engines['new'][1]['version']}, LP_NUM_THREADS=2, {rounds} alternating rounds")
    print(f"median new / old: {ratio:.3f}")
    counts = call_counts(model)
    print(f"new engine per inference: {counts['total']} GL calls, "
          f"{counts.get('glDrawArrays', 0)} draws, "
          f"{counts.get('glBindFramebuffer', 0)} framebuffer binds")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2], sys.argv[3])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commit", default="6411e66", help="the old engine's commit")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--model", type=Path, default=DOG_MODEL)
    arguments = parser.parse_args()
    compare(arguments.commit, arguments.rounds, arguments.model)
