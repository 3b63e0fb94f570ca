"""The service's throughput and end-to-end latency against the bare engine's, in one run.

    python benchmarks/service_bench.py [--model PATH] [--seconds S] [--image FILE]

First the bare engine classifies one picture in a loop (frames per second, seconds per call).
Then the whole service runs on the same picture (files source faster than the model, real
uvicorn on loopback) while a websocket client measures the rate of predictions and the time
from each frame's capture to its prediction arriving. Both on the same machine, one after the
other, so the ratios hold even where the absolute figures are noisy.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MESA_GLES_VERSION_OVERRIDE", "2.0")  # ES 2.0 exactly, as on a Pi Zero

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "app"))  # the loopback server helper of the tests

DOG_MODEL = REPO.parent / "shared" / "models" / "dog_classifier.chunks"


def test_picture() -> np.ndarray:
    try:
        from skimage.data import chelsea
        return chelsea()
    except ImportError:  # any natural-ish picture will do for timing
        y, x = np.mgrid[0:300, 0:450]
        return np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)


def bench_engine(model_path: Path, rgb: np.ndarray, seconds: float) -> dict:
    import gpu_engine

    engine = gpu_engine.Engine(gpu_engine.load_model(model_path))
    try:
        engine.classify_rgb(rgb)  # warm-up
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or calls < 3:
            engine.classify_rgb(rgb)
            calls += 1
        elapsed = time.perf_counter() - start
        return {"fps": calls / elapsed, "latency_ms": 1000 * elapsed / calls, "frames": calls,
                "renderer": engine.gl_info.renderer}
    finally:
        engine.release()


def bench_service(model_path: Path, picture: Path, seconds: float) -> dict:
    import websockets
    from serving import engine_up, running_service

    with running_service(model_path, camera_source=f"files:{picture}", camera_fps=100,
                         camera_width=1024, camera_height=1024) as run:
        engine_up(run)

        async def listen() -> list[tuple[float, dict]]:
            got = []
            async with websockets.connect(run.ws) as ws:
                json.loads(await ws.recv())  # hello
                skip_until = time.time() + 1.0  # let the pipeline fill first
                deadline = skip_until + seconds
                while time.time() < deadline:
                    message = json.loads(await ws.recv())
                    arrived = time.time()
                    if message["type"] == "prediction" and arrived >= skip_until:
                        got.append((arrived, message))
            return got

        got = asyncio.run(listen())
    if len(got) < 2:
        raise SystemExit(f"only {len(got)} predictions in {seconds} s: run longer")
    span = got[-1][0] - got[0][0]
    latencies = [1000 * (arrived - m["timestamp"]) for arrived, m in got]
    return {"fps": (len(got) - 1) / span, "latency_ms": float(np.mean(latencies)),
            "latency_p95_ms": float(np.percentile(latencies, 95)), "frames": len(got),
            "gpu_ms": float(np.mean([m["timings_ms"]["gpu"] for _, m in got]))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DOG_MODEL)
    parser.add_argument("--seconds", type=float, default=15.0, help="per measurement")
    parser.add_argument("--image", type=Path, help="picture to classify (default: a cat)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    rgb = np.asarray(Image.open(args.image).convert("RGB")) if args.image else test_picture()
    with tempfile.TemporaryDirectory() as folder:
        picture = Path(folder) / "picture.png"
        Image.fromarray(rgb).save(picture)
        engine = bench_engine(args.model, rgb, args.seconds)
        service = bench_service(args.model, picture, args.seconds)
    result = {"model": args.model.name, "renderer": engine["renderer"], "engine": engine,
              "service": service, "fps_ratio": service["fps"] / engine["fps"],
              "latency_ratio": service["latency_ms"] / engine["latency_ms"]}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"model {result['model']} on {result['renderer']}")
    print(f"{'':10}{'fps':>8}{'latency ms':>12}{'frames':>8}")
    for name in ("engine", "service"):
        row = result[name]
        print(f"{name:10}{row['fps']:8.2f}{row['latency_ms']:12.1f}{row['frames']:8d}")
    print(f"service/engine: fps x{result['fps_ratio']:.3f}, latency x{result['latency_ratio']:.3f}"
          f" (p95 {service['latency_p95_ms']:.1f} ms; capture to websocket, including the"
          f" wait for the GPU to finish the previous frame)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
