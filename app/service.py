"""Wires the parts together: camera supervisor -> frame slot -> inference worker -> results hub,
plus the preview; and reports on all of them for /api/health and /api/stats."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from app.cameras import CameraSupervisor, FrameSlot, Preview, make_camera
from app.cameras.base import Camera
from app.config import Config
from app.hub import ResultsHub
from app.worker import InferenceWorker

DEMO_MODEL_NAME = "demo_model"
STALL_INTERVALS = 5  # health is degraded when the newest prediction is this many intervals old
STALL_GRACE_S = 3.0  # ...and at least this many seconds


class Service:
    def __init__(self, config: Config, model_path: Path) -> None:
        self.config = config
        self.hub = ResultsHub()
        self.preview = Preview(config.camera_jpeg_quality)
        self.slot = FrameSlot()
        size = (config.camera_width, config.camera_height)
        inference_size = (config.camera_inference_width, config.camera_inference_height)

        def new_camera() -> Camera:
            return make_camera(config.camera_source, config.camera_fps, size, inference_size,
                               config.camera_buffer_count)

        self.supervisor = CameraSupervisor(new_camera, self.slot, self.preview,
                                           config.camera_retry_min_s, config.camera_retry_max_s,
                                           source=config.camera_source,
                                           stall_after_s=max(10.0, 5.0 / config.camera_fps))
        self.worker = InferenceWorker(model_path, self.slot, self.hub, config.model_top_k,
                                      config.model_smoothing, config.model_threshold,
                                      config.model_gl_api,
                                      frame_wait_s=min(1.0, 2.0 / config.camera_fps))
        self.started_at = time.monotonic()
        self.stream_clients = 0

    def start(self) -> None:
        self.worker.start()  # the engine compiles while the camera starts
        self.supervisor.start()

    def stop(self) -> None:
        self.supervisor.stop()
        self.worker.stop()

    def model(self) -> dict[str, Any]:
        info = {**self.worker.model_info, "state": self.worker.state, "error": self.worker.error,
                "top_k": self.config.model_top_k, "smoothing": self.config.model_smoothing,
                "threshold": self.config.model_threshold}
        info["demo"] = Path(info["path"]).stem == DEMO_MODEL_NAME
        return info

    def health(self) -> dict[str, Any]:
        camera = self.supervisor.status()
        worker = self.worker.state
        if worker == "error":
            status = "error"
        elif worker == "loading" or camera["state"] == "starting":
            status = "starting"
        elif camera["state"] != "running" or worker != "running" or self.predictions_stalled():
            status = "degraded"
        else:
            status = "ok"
        return {"status": status, "camera": camera, "model": self.model(), "gl": self.worker.gl_info,
                "fps": round(self.worker.meter.rate(), 2),
                "prediction_age_s": self.prediction_age_s(),
                "uptime_s": round(time.monotonic() - self.started_at, 1)}

    def prediction_age_s(self) -> float | None:
        """Seconds since the frame of the newest camera prediction was captured."""
        latest = self.hub.latest
        return None if latest is None else round(max(0.0, time.time() - latest.timestamp), 2)

    def predictions_stalled(self) -> bool:
        """True when the newest prediction is older than a few frame intervals (each at least
        as long as the last inference took)."""
        age = self.prediction_age_s()
        if age is None:
            return time.monotonic() - self.started_at > STALL_GRACE_S
        interval = max(1.0 / self.config.camera_fps,
                       self.worker.last_timings_ms.get("total", 0.0) / 1000.0)
        return age > max(STALL_GRACE_S, STALL_INTERVALS * interval)

    def stats(self) -> dict[str, Any]:
        return {
            "timings_ms": self.worker.last_timings_ms,
            "fps": {"camera": round(self.supervisor.meter.rate(), 2),
                    "inference": round(self.worker.meter.rate(), 2)},
            "frames": {"captured": self.supervisor.frames,
                       "processed": self.worker.frames_processed,
                       "dropped": self.slot.overwritten, "failed": self.worker.frames_failed},
            "clients": {"websocket": self.hub.subscribers, "stream": self.stream_clients},
            "hub": {"published": self.hub.published, "lost_messages": self.hub.lost_messages,
                    "dropped_subscribers": self.hub.dropped_subscribers},
            "preview": {"cpu_jpeg_encodes": self.preview.encoded},
        }

    def hello(self) -> dict[str, Any]:
        return {"type": "hello", "model": self.model(), "labels": len(self.worker.labels),
                "gl": self.worker.gl_info, "camera": self.config.camera_source}
