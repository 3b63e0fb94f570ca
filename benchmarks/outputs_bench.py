"""Does a bad output slow the classifier? Inference fps with no outputs against fps with
events, a failing webhook, a webhook that never answers and an unreachable MQTT broker, side
by side in one run (alternating rounds, so drift of the machine's load hits both alike).

    python benchmarks/outputs_bench.py [--model PATH] [--seconds S] [--rounds N] [--fps F]

The files source plays demo-scene pictures that change class every few frames, so events
start and end all the time and every one of them goes to the bad webhooks. The receivers run
in their own process, as they would on another machine.
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

os.environ.setdefault("MESA_GLES_VERSION_OVERRIDE", "2.0")  # ES 2.0 exactly, as on a Pi Zero

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "app"))  # the loopback server helper of the tests

RECEIVERS = r"""
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.server.server_address[1] == slow_port:
            time.sleep(3600)
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
failing = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
slow = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
slow.daemon_threads = failing.daemon_threads = True
slow_port = slow.server_address[1]
print(failing.server_address[1], slow_port, flush=True)
import threading
threading.Thread(target=slow.serve_forever, daemon=True).start()
failing.serve_forever()
"""


def pictures(folder: Path, per_class: int = 4) -> Path:
    from app import demo_scene

    rng = np.random.default_rng(1)
    for i in range(len(demo_scene.CLASSES)):
        image, _ = demo_scene.random_sample(rng, 240)
        for j in range(per_class):
            Image.fromarray(image).save(folder / f"{i:02d}-{j}.png")
    return folder


def closed_port() -> int:
    from serving import free_port

    return free_port()  # nothing listens there: the broker is "down"


def run_round(model: Path, source: Path, fps: float, seconds: float, outputs: dict) -> dict:
    from serving import engine_up, running_service

    with running_service(model, camera_source=f"files:{source}", camera_fps=fps,
                         **outputs) as run:
        engine_up(run)
        worker = run.service.worker
        time.sleep(1.0)  # the pipeline fills, the first events start
        frames, start = worker.frames_processed, time.perf_counter()
        time.sleep(seconds)
        done = worker.frames_processed - frames
        elapsed = time.perf_counter() - start
        status = run.service.outputs_status()
        return {"fps": done / elapsed,
                "events": status.get("events", {}).get("recorded", 0),
                "webhook_failures": status.get("webhooks", {}).get("errors", 0),
                "mqtt": status.get("mqtt", {}).get("state")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="model file (default: the demo model)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds a round")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of each kind")
    parser.add_argument("--fps", type=float, default=120.0,
                        help="camera fps: faster than the model (the default) makes the "
                             "classifier the bottleneck, so any CPU the outputs take shows; "
                             "slower (say 10, a Pi camera's rate) shows whether they ever stall it")
    args = parser.parse_args()
    from app.models.store import DEMO_MODEL

    model = args.model or DEMO_MODEL
    receivers = subprocess.Popen([sys.executable, "-c", RECEIVERS], stdout=subprocess.PIPE,
                                 text=True)
    try:
        failing_port, slow_port = map(int, receivers.stdout.readline().split())
        with tempfile.TemporaryDirectory() as folder:
            source = pictures(Path(folder))
            bad = {"events_start_frames": 2, "events_end_s": 0.2, "events_cooldown_s": 0,
                   "webhooks_urls": [f"http://127.0.0.1:{failing_port}/hook",
                                     f"http://127.0.0.1:{slow_port}/hook"],
                   "webhooks_timeout_s": 5.0, "webhooks_retries": 2, "webhooks_backoff_s": 0.5,
                   "webhooks_snapshot": True,
                   "mqtt_host": "127.0.0.1", "mqtt_port": closed_port()}
            kinds = {"none": {"events_enabled": False}, "bad outputs": bad}
            results: dict[str, list[dict]] = {kind: [] for kind in kinds}
            for _ in range(args.rounds):
                for kind, outputs in kinds.items():
                    results[kind].append(run_round(model, source, args.fps, args.seconds,
                                                   outputs))
                    print(f"{kind:12s} {results[kind][-1]}", flush=True)
    finally:
        receivers.kill()
        receivers.wait()
    # each round with bad outputs against the round without just before it: the pairs share
    # the machine's load of the moment, which on a shared machine varies more than 5 %
    ratios = [bad["fps"] / none["fps"] for none, bad in zip(results["none"], results["bad outputs"])]
    summary = {"model": model.name, "rounds": args.rounds, "seconds": args.seconds,
               "fps_no_outputs": round(statistics.median(r["fps"] for r in results["none"]), 2),
               "fps_bad_outputs": round(statistics.median(
                   r["fps"] for r in results["bad outputs"]), 2),
               "ratio_median": round(statistics.median(ratios), 3),
               "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
               "events_per_round": statistics.mean(r["events"] for r in results["bad outputs"]),
               "webhook_failures_per_round": statistics.mean(
                   r["webhook_failures"] for r in results["bad outputs"])}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
