"""Prometheus metrics, served at /metrics. Names start with `shadercam_` and use base units.

The latency histogram and the events counter are fed by hub messages as they pass; everything
the service already counts (frames, fps, clients, output errors) is read at scrape time, so
the numbers in /metrics and /api/stats can never disagree. Buckets fit a Pi Zero, whose
classifier takes from about 50 ms (a small model) to several seconds per frame.
"""
from __future__ import annotations

import platform
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

from app.config import Config
from app.hub import Message
from app.outputs.base import OutputContext
from app.version import version

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


class MetricsOutput:
    name = "metrics"

    def __init__(self, stats: Callable[[], dict[str, Any]],
                 outputs: Callable[[], dict[str, dict[str, Any]]],
                 model: Callable[[], dict[str, Any]], gl: Callable[[], dict[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "shadercam_inference_latency_seconds",
            "Time from the capture of a camera frame to its classification result",
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.events = Counter("shadercam_events", "Events started, by class", ["label"],
                              registry=self.registry)
        self.registry.register(_ServiceCollector(stats, outputs, model, gl))

    @classmethod
    def from_config(cls, config: Config, context: OutputContext) -> MetricsOutput:
        """Always there: /metrics."""
        service = context.service
        return cls(service.stats, service.outputs, service.model, service.gl)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return {"state": "ok"}

    def publish(self, message: Message) -> None:
        prediction = message.prediction
        if prediction is not None:
            total_ms = prediction.timings_ms.get("total")
            if prediction.origin == "camera" and total_ms is not None:
                self.latency.observe(total_ms / 1000.0)
        elif message.body["event"]["state"] == "active":
            self.events.labels(message.body["event"]["label"]).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ServiceCollector:
    """Reads the service's own counters at each scrape."""

    def __init__(self, stats, outputs, model, gl) -> None:
        self.stats, self.outputs, self.model, self.gl = stats, outputs, model, gl

    def collect(self) -> Iterator[Any]:
        stats = self.stats()
        frames = {"captured": "Frames the camera delivered",
                  "processed": "Camera frames classified",
                  "dropped": "Camera frames skipped because a newer one arrived first",
                  "failed": "Camera frames the classifier failed on"}
        for key, doc in frames.items():
            yield CounterMetricFamily(f"shadercam_frames_{key}", doc, stats["frames"][key])
        yield _gauge("shadercam_camera_fps", "Camera frames per second", stats["camera_fps"])
        yield _gauge("shadercam_inference_fps", "Classified frames per second", stats["fps"])
        yield _gauge("shadercam_websocket_clients", "Connected websocket clients",
                     stats["clients"]["websocket"])
        yield _gauge("shadercam_stream_clients", "Clients watching the MJPEG preview stream",
                     stats["clients"]["stream"])
        errors = CounterMetricFamily("shadercam_output_errors",
                                     "Failures of an output (broker, webhook, disk)",
                                     labels=["output"])
        up = GaugeMetricFamily("shadercam_output_up", "1 when an output works, else 0",
                               labels=["output"])
        for name, status in self.outputs().items():
            errors.add_metric([name], status.get("errors", 0))
            up.add_metric([name], 1.0 if status["state"] == "ok" else 0.0)
        yield errors
        yield up
        yield InfoMetricFamily("shadercam_build", "ShaderCam version and Python",
                               value={"version": version(),
                                      "python": platform.python_version()})
        model, gl = self.model(), self.gl()
        yield InfoMetricFamily("shadercam_model", "The loaded model and the GPU it runs on",
                               value={"name": str(model.get("name", "")),
                                      "classes": str(model.get("classes", "")),
                                      "state": str(model.get("state", "")),
                                      "renderer": str(gl.get("renderer", ""))})


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)
