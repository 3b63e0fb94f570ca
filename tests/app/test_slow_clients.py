"""One websocket client that never reads and twenty that do: the worker keeps its frame rate,
the readers get every prediction, the stuck one is cut off (it never answers the server's
keep-alive pings), and memory stays bounded."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from serving import engine_up, running_service, wait_for

LOAD = Path(__file__).with_name("ws_load.py")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_stuck_client_does_not_slow_the_worker_or_the_others(colour_model, colour_pictures):
    with running_service(colour_model, send_timeout_s=1.0, ws_ping_s=1.0,
                         camera_source=f"files:{colour_pictures}", camera_fps=8) as run:
        engine_up(run)
        worker, hub = run.service.worker, run.service.websocket
        # Room for 2 s of predictions: on a loaded 2-core CI machine a reader process can be
        # descheduled for a while, and what is measured here is the stuck client's effect.
        hub.mailbox = 16
        wait_for(lambda: worker.frames_processed >= 10)
        time.sleep(2)
        baseline_fps = worker.meter.rate()
        memory_before = rss_mb()

        load = subprocess.Popen([sys.executable, str(LOAD), run.ws, "20", "8"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # all 21 connect; then the stuck one is cut off while the readers go on
            wait_for(lambda: hub.subscribers == 21, timeout=30)
            wait_for(lambda: hub.subscribers == 20, timeout=10)
            assert load.poll() is None, "the readers finished before the stuck client was cut"
            out, err = load.communicate(timeout=60)
        finally:
            if load.poll() is None:
                load.kill()
        assert load.returncode == 0, err
        result = json.loads(out)
        loaded_fps = worker.meter.rate()  # over the last 5 s, all under load

        assert baseline_fps > 5 and loaded_fps > 0.7 * baseline_fps, (baseline_fps, loaded_fps)
        for frames in result["frames"]:
            assert frames == sorted(frames)
            missing = frames[-1] - frames[0] + 1 - len(frames)
            # 8 s at the worker's rate, every prediction of that span (a mailbox never overflowed)
            assert len(frames) > 0.6 * 8 * baseline_fps and missing <= 0.02 * len(frames), \
                (len(frames), missing)
        assert wait_for(lambda: hub.subscribers == 0, timeout=10)
        assert rss_mb() - memory_before < 30
        assert run.service.health()["status"] == "ok"
