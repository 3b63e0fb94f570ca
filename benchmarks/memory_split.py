"""Where the service's memory goes: ours (Python objects, NumPy buffers, code) apart from the
GL driver's (Mesa and LLVM code, shaders compiled to machine code, the driver's heap).

    python benchmarks/memory_split.py [--seconds S] [--model PATH] [--json]

Each configuration runs the whole service in a fresh process (files camera at the Pi's preview
size, events on, real uvicorn on loopback) with the clients of tests/app/memory_load.py
connected for S seconds; then that process reads its own /proc/self/smaps and tracemalloc and
prints the split. Configurations: the dog classifier with weights folded into the shaders
(what software GL does by default), the same without folding (what a Pi's GPU runs), and the
demo model. Figures in MB; tracemalloc's own bookkeeping is left out of every row but the
peak (tracemalloc also makes Python's heap larger: the service's anonymous memory without it
is what tests/app/test_memory_budget.py measures).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "app"))

DOG_MODEL = REPO.parent / "shared" / "models" / "dog_classifier.chunks"
NUMPY_DOMAIN = 389047  # the tracemalloc domain NumPy reports its data buffers in
GL_LIBRARIES = re.compile(r"libLLVM|libgallium|_dri\.so|libEGL|libGLES|libGLdispatch|libglapi|"
                          r"libgbm|libdrm|libelf|libz3|libxml2|libedit|libsensors|libvulkan")
MB = 2**20


def smaps() -> dict[str, int]:
    """Resident bytes of this process by kind of mapping."""
    kinds = dict.fromkeys(("gl_code", "jit_code", "other_files", "anonymous"), 0)
    kind = "anonymous"
    with open("/proc/self/smaps") as lines:
        for line in lines:
            head = line.split(maxsplit=5)
            if "-" in head[0] and len(head) >= 5:  # a mapping's first line
                path = head[5].strip() if len(head) > 5 else ""
                if path.startswith("/") and not path.startswith("/dev/zero"):
                    kind = "gl_code" if GL_LIBRARIES.search(path) else "other_files"
                else:
                    kind = "jit_code" if "x" in head[1] else "anonymous"
            elif head[0] == "Rss:":
                kinds[kind] += int(head[1]) * 1024
    return kinds


def split() -> dict[str, float]:
    """This process's memory, ours apart from the GL driver's."""
    import tracemalloc

    snapshot = tracemalloc.take_snapshot()
    numpy = sum(t.size for t in snapshot.filter_traces(
        [tracemalloc.DomainFilter(True, NUMPY_DOMAIN)]).traces)
    traced = tracemalloc.get_traced_memory()[0]
    bookkeeping = tracemalloc.get_tracemalloc_memory()
    del snapshot
    kinds = smaps()
    rows = {
        "ours_python_objects": traced - numpy,
        "ours_numpy_buffers": numpy,
        "ours_code": kinds["other_files"],  # Python, NumPy, Pillow, uvicorn... and their data
        "gl_driver_code": kinds["gl_code"],  # Mesa, LLVM
        "gl_jit_code": kinds["jit_code"],  # shaders compiled to machine code
        # everything else malloc holds: the driver's compiled programs and LLVM's working
        # memory above all (libjpeg's and others' too), with what is freed but not given back
        "c_heap_gl_driver_mostly": kinds["anonymous"] - bookkeeping - traced,
    }
    rows["ours"] = sum(v for k, v in rows.items() if k.startswith("ours_"))
    rows["gl_driver"] = rows["gl_driver_code"] + rows["gl_jit_code"] + \
        rows["c_heap_gl_driver_mostly"]
    rows["total"] = rows["ours"] + rows["gl_driver"]
    return {name: round(value / MB, 1) for name, value in rows.items()}


def peak_rss() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(model: Path, fold: str, picture: Path) -> None:
    """Run the service here, say where, and print the split once a line arrives on stdin."""
    import tracemalloc
    tracemalloc.start()
    from serving import engine_up, running_service

    with running_service(model, camera_source=f"files:{picture}",
                         model_fold_weights=fold) as run:
        engine_up(run)
        print(run.base, flush=True)
        sys.stdin.readline()
        result = {**split(), "peak_rss_with_tracemalloc": peak_rss()}
    print(json.dumps(result), flush=True)


def measure(model: Path, fold: str, seconds: float, folder: Path) -> dict:
    from memory_load import photo, run_load

    picture = folder / "photo.jpg"
    data = photo(picture)
    env = {**os.environ, "MESA_GLES_VERSION_OVERRIDE": "2.0"}
    process = subprocess.Popen([sys.executable, __file__, "--child", str(model), fold,
                                str(picture)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, env=env)
    try:
        base = process.stdout.readline().strip()
        if not base:
            raise SystemExit(f"the service did not start ({model.name}, fold_weights={fold})")
        load = asyncio.run(run_load(base, seconds, data))
        process.stdin.write("measure\n")
        process.stdin.flush()
        result = json.loads(process.stdout.readline())
    finally:
        process.kill()
        process.wait()
    result["load"] = {"predictions": load.predictions, "stream_frames": load.stream_frames,
                      "uploads_ok": load.uploads_ok, "errors": load.errors}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DOG_MODEL)
    parser.add_argument("--seconds", type=float, default=30.0, help="of clients, per run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], Path(args.child[2]))
        return 0
    from app.models.store import DEMO_MODEL
    runs = {"folded": (args.model, "on"), "unfolded (as a Pi)": (args.model, "off"),
            "demo model": (DEMO_MODEL, "auto")}
    with tempfile.TemporaryDirectory() as folder:
        results = {name: measure(model, fold, args.seconds, Path(folder))
                   for name, (model, fold) in runs.items()}
    if args.json:
        print(json.dumps(results))
        return 0
    names = list(results)
    print(f"model {args.model.name} (demo: the built-in demo model)")
    print(f"{'MB':28}" + "".join(f"{name:>20}" for name in names))
    for row in next(iter(results.values())):
        if row != "load":
            print(f"{row:28}" + "".join(f"{results[n][row]:>20}" for n in names))
    for name in names:
        print(f"{name}: {results[name]['load']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
