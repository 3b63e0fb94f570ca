"""Results hub: the latest prediction, and the seam where outputs attach.

The worker thread publishes predictions; the event recorder publishes events. Every message
goes to every attached output (the websocket, MQTT, webhooks, metrics, ...) by a call to its
`publish`, which must return at once: an output does its slow work (network, disk) on its own
thread behind its own bounded queue, so a slow or dead output never slows the worker or the
other outputs. An output that raises is counted and skipped, never allowed to stop the worker.
"""
from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from app.labels import display_label
from gpu_engine import topk

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ranked:
    index: int
    label: str  # the model's own label
    display_label: str  # the same, readable (see app.labels)
    probability: float


@dataclass(frozen=True)
class Prediction:
    """One classified frame. `to_dict` is the one shape of a prediction everywhere: /api/latest,
    /api/classify, the websocket and the outputs (app.api.schemas.Prediction describes it)."""

    frame: int  # camera frame number (the preview picture of the same number); 0 for uploads
    timestamp: float  # wall-clock seconds (Unix time) when the frame was captured
    label: str | None  # the best class, or None when below the confidence threshold
    display_label: str | None
    uncertain: bool
    top_k: list[Ranked]
    timings_ms: dict[str, float]
    model_name: str
    origin: str  # "camera" or "upload"
    smoothing: int = 1
    threshold: float = 0.0
    # each active taught classifier's newest result by name (app.teach.store.answer_dict, plus
    # its debounced `state` and the `frame` and `timestamp` it was taken from); camera only
    taught: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "prediction", **asdict(self)}


class PredictionMaker:
    """Turns raw probabilities into a `Prediction`: smoothing over recent frames, top-k, threshold."""

    def __init__(self, labels: Sequence[str], model_name: str, top_k: int = 5,
                 smoothing: int = 1, threshold: float = 0.0) -> None:
        self.labels = list(labels)
        self.display_labels = [display_label(label) for label in self.labels]
        self.model_name = model_name
        self.top_k = min(top_k, len(self.labels))
        self.threshold = threshold
        self.smoothing = smoothing
        self._recent: deque[np.ndarray] = deque(maxlen=smoothing)

    def configure(self, smoothing: int, threshold: float, top_k: int | None = None) -> None:
        """Change the settings between two frames (from the thread that calls `make`)."""
        if top_k is not None:
            self.top_k = min(top_k, len(self.labels))
        if smoothing != self.smoothing:
            self.smoothing = smoothing
            self._recent = deque(self._recent, maxlen=smoothing)
        self.threshold = threshold

    def make(self, probabilities: np.ndarray, frame: int, timestamp: float,
             timings_s: dict[str, float], origin: str = "camera",
             taught: dict[str, dict[str, Any]] | None = None) -> Prediction:
        """Rank one result; camera frames are smoothed with the previous ones, uploads are not."""
        probabilities = np.asarray(probabilities, dtype=np.float32)
        if origin == "camera" and self.smoothing > 1:
            self._recent.append(probabilities)
            probabilities = np.mean(self._recent, axis=0)
        best = topk.top_k(probabilities, self.labels, self.top_k)
        ranked = [Ranked(index, label, self.display_labels[index], round(probability, 6))
                  for index, label, probability in best]
        uncertain = ranked[0].probability < self.threshold
        return Prediction(
            frame=frame, timestamp=timestamp, label=None if uncertain else ranked[0].label,
            display_label=None if uncertain else ranked[0].display_label,
            uncertain=uncertain, top_k=ranked,
            timings_ms={k: round(v * 1000.0, 3) for k, v in timings_s.items()},
            model_name=self.model_name, origin=origin,
            smoothing=self.smoothing if origin == "camera" else 1, threshold=self.threshold,
            taught=taught or {})


@dataclass(frozen=True, eq=False)
class Message:
    """One thing the hub hands to its outputs: a prediction, or an event starting or ending."""

    type: str  # "prediction" or "event"
    body: dict[str, Any]  # what the websocket sends, without bulky extras
    prediction: Prediction | None = None
    snapshot: bytes | None = None  # an event's JPEG, for outputs that send pictures

    @cached_property
    def json(self) -> str:
        return json.dumps(self.body)

    @staticmethod
    def of_prediction(prediction: Prediction) -> Message:
        return Message("prediction", prediction.to_dict(), prediction)

    @staticmethod
    def of_event(event: dict[str, Any], snapshot: bytes | None = None) -> Message:
        return Message("event", {"type": "event", "event": event}, snapshot=snapshot)


class Output(Protocol):
    """What every output implements. `publish` is called from the publishing thread (the
    worker's or the event recorder's) and must never block; `status` feeds /api/health."""

    name: str

    def start(self) -> None: ...

    def publish(self, message: Message) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


class ResultsHub:
    """Holds the latest prediction and hands every message to the attached outputs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: Prediction | None = None
        self._outputs: tuple[Output, ...] = ()
        self.published = 0
        self.output_errors: dict[str, int] = {}

    @property
    def latest(self) -> Prediction | None:
        with self._lock:
            return self._latest

    @property
    def outputs(self) -> tuple[Output, ...]:
        return self._outputs

    def attach(self, output: Output) -> None:
        """Safe from any thread, also while publishing: the next message reaches it."""
        with self._lock:
            self._outputs = (*self._outputs, output)
            self.output_errors.setdefault(output.name, 0)

    def detach(self, output: Output) -> None:
        with self._lock:
            self._outputs = tuple(o for o in self._outputs if o is not output)

    def publish(self, prediction: Prediction) -> None:
        """Called from the inference worker for each result."""
        with self._lock:
            self._latest = prediction
            self.published += 1
        self._hand_out(Message.of_prediction(prediction))

    def publish_event(self, event: dict[str, Any], snapshot: bytes | None = None) -> None:
        """Called from the event recorder when an event starts or ends."""
        self._hand_out(Message.of_event(event, snapshot))

    def _hand_out(self, message: Message) -> None:
        for output in self._outputs:
            try:
                output.publish(message)
            except Exception:  # a broken output must not take the worker down with it
                with self._lock:
                    self.output_errors[output.name] = self.output_errors.get(output.name, 0) + 1
                log.exception("output %s failed to take a %s", output.name, message.type)
