"""Prometheus metrics, served at /metrics. Names start with `shadercam_` and use base units.

The latency histogram and the events counter are fed by hub messages as they pass; everything
the service already counts (frames, fps, clients, output errors) is read at scrape time, so
the numbers in /metrics and /api/stats can never disagree. Buckets fit a Pi Zero, whose
classifier takes from about 50 ms (a small model) to several seconds per frame.

Each running taught classifier has its state (a gauge per class and "unknown", 1 for the
current one), its newest result's probability, and the states it entered (a counter, counted as
predictions pass, as app.events.taught counts changes), labelled `classifier`; a classifier
that stops running leaves /metrics.
"""
from __future__ import annotations

import platform
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

from app.config import Config
from app.events.taught import TaughtStates
from app.hub import Message, Prediction
from app.outputs.base import OutputContext
from app.teach.head import UNKNOWN
from app.version import version

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


class MetricsOutput:
    name = "metrics"

    def __init__(self, stats: Callable[[], dict[str, Any]],
                 outputs: Callable[[], dict[str, dict[str, Any]]],
                 model: Callable[[], dict[str, Any]], gl: Callable[[], dict[str, Any]],
                 latest: Callable[[], Prediction | None] = lambda: None,
                 taught: Callable[[], dict[str, dict[str, Any]]] = dict) -> None:
        """`latest`: the hub's newest prediction; `taught`: the taught classifiers that run."""
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "shadercam_inference_latency_seconds",
            "Time from the capture of a camera frame to its classification result",
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.events = Counter("shadercam_events", "Events started, by class", ["label"],
                              registry=self.registry)
        self.registry.register(_ServiceCollector(stats, outputs, model, gl))
        self.taught_states = TaughtStates()
        self.taught_changes: dict[str, int] = {}  # classifier -> states entered
        self.registry.register(_TaughtCollector(latest, taught, self.taught_changes))

    @classmethod
    def from_config(cls, config: Config, context: OutputContext) -> MetricsOutput:
        """Always there: /metrics."""
        service = context.service
        return cls(service.stats, service.outputs, service.model, service.gl,
                   lambda: service.hub.latest, service.taught)

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
            if prediction.origin == "camera":
                for change in self.taught_states.feed(prediction.taught):
                    self.taught_changes[change.name] = self.taught_changes.get(change.name, 0) + 1
        elif message.body["event"]["state"] == "active" and \
                message.body["event"].get("taught") is None:  # taught ones: counted above
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


class _TaughtCollector:
    """The running taught classifiers' states and probabilities, read at each scrape from the
    newest prediction."""

    def __init__(self, latest: Callable[[], Prediction | None],
                 taught: Callable[[], dict[str, dict[str, Any]]],
                 changes: dict[str, int]) -> None:
        self.latest, self.taught, self.changes = latest, taught, changes

    def collect(self) -> Iterator[Any]:
        running, latest = self.taught(), self.latest()
        results = latest.taught if latest is not None else {}
        state = GaugeMetricFamily("shadercam_taught_state",
                                  "1 for a taught classifier's current (debounced) state, else 0",
                                  labels=["classifier", "state"])
        probability = GaugeMetricFamily("shadercam_taught_probability",
                                        "The probability of a taught classifier's newest answer",
                                        labels=["classifier"])
        changes = CounterMetricFamily("shadercam_taught_state_changes",
                                      "States a taught classifier entered (the first counts)",
                                      labels=["classifier"])
        counted = dict(self.changes)
        for name, info in sorted(running.items()):
            result = results.get(name) or {}
            for label in [*info["classes"], UNKNOWN]:
                state.add_metric([name, label], 1.0 if result.get("state") == label else 0.0)
            if "probability" in result:
                probability.add_metric([name], result["probability"])
            changes.add_metric([name], counted.get(name, 0))
        yield state
        yield probability
        yield changes


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)
