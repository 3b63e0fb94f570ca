"""Results hub: the latest prediction, and fan-out to subscribers that can never slow the worker.

The worker thread publishes; websocket handlers subscribe from the server's event loop. Each
subscriber has a small bounded mailbox: when it is full the oldest message is lost, and a
subscriber that has taken nothing for `stale_after_s` while messages kept coming is dropped.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from app.labels import display_label


@dataclass(frozen=True)
class Ranked:
    index: int
    label: str  # the model's own label
    display_label: str  # the same, readable (see app.labels)
    probability: float


@dataclass(frozen=True)
class Prediction:
    """One classified frame. `to_dict` is the one shape of a prediction everywhere: /api/latest,
    /api/classify, the websocket and the outputs (app.api_models.Prediction describes it)."""

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

    def configure(self, smoothing: int, threshold: float) -> None:
        """Change the settings between two frames (from the thread that calls `make`)."""
        if smoothing != self.smoothing:
            self.smoothing = smoothing
            self._recent = deque(self._recent, maxlen=smoothing)
        self.threshold = threshold

    def make(self, probabilities: np.ndarray, frame: int, timestamp: float,
             timings_s: dict[str, float], origin: str = "camera") -> Prediction:
        """Rank one result; camera frames are smoothed with the previous ones, uploads are not."""
        probabilities = np.asarray(probabilities, dtype=np.float32)
        if origin == "camera" and self.smoothing > 1:
            self._recent.append(probabilities)
            probabilities = np.mean(self._recent, axis=0)
        order = np.argsort(-probabilities, kind="stable")[: self.top_k]
        ranked = [Ranked(int(i), self.labels[i], self.display_labels[i],
                         round(float(probabilities[i]), 6)) for i in order]
        uncertain = ranked[0].probability < self.threshold
        return Prediction(
            frame=frame, timestamp=timestamp, label=None if uncertain else ranked[0].label,
            display_label=None if uncertain else ranked[0].display_label,
            uncertain=uncertain, top_k=ranked,
            timings_ms={k: round(v * 1000.0, 3) for k, v in timings_s.items()},
            model_name=self.model_name, origin=origin,
            smoothing=self.smoothing if origin == "camera" else 1, threshold=self.threshold)


class SubscriptionClosed(Exception):
    """The hub dropped this subscriber (it fell behind for too long) or the hub closed."""


@dataclass(eq=False)
class Subscription:
    """A bounded mailbox of JSON messages for one subscriber, used from the event loop only."""

    limit: int
    stale_after_s: float
    _messages: deque[str] = field(default_factory=deque)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    lost: int = 0
    closed: bool = False
    _behind_since: float | None = None
    _seen: int = 0  # sequence number of the newest message offered

    async def get(self) -> str:
        while not self._messages:
            if self.closed:
                raise SubscriptionClosed("dropped by the results hub")
            self._wakeup.clear()
            await self._wakeup.wait()
        self._behind_since = None
        return self._messages.popleft()

    def _offer(self, sequence: int, message: str, now: float) -> bool:
        """Queue a message; False when this subscriber has been behind for too long."""
        if sequence <= self._seen:  # already queued when the subscription was made
            return True
        self._seen = sequence
        if len(self._messages) >= self.limit:
            self._messages.popleft()
            self.lost += 1
            if self._behind_since is None:
                self._behind_since = now
            elif now - self._behind_since > self.stale_after_s:
                return False
        self._messages.append(message)
        self._wakeup.set()
        return True

    def _close(self) -> None:
        self.closed = True
        self._wakeup.set()


class ResultsHub:
    """Holds the latest prediction; fans it out as JSON to the subscribers of one event loop."""

    def __init__(self, mailbox: int = 4, stale_after_s: float = 10.0) -> None:
        self.mailbox = mailbox
        self.stale_after_s = stale_after_s
        self._lock = threading.Lock()
        self._latest: Prediction | None = None
        self._latest_message: tuple[int, str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: set[Subscription] = set()
        self.published = 0
        self.lost_messages = 0
        self.dropped_subscribers = 0

    @property
    def latest(self) -> Prediction | None:
        with self._lock:
            return self._latest

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, prediction: Prediction) -> None:
        """Called from any thread; never blocks on subscribers."""
        message = json.dumps(prediction.to_dict())
        with self._lock:
            self._latest = prediction
            self.published += 1
            sequence = self.published
            self._latest_message = (sequence, message)
            loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._fan_out, sequence, message)
            except RuntimeError:  # the loop has closed: nobody is listening any more
                with self._lock:
                    if self._loop is loop:
                        self._loop = None

    def subscribe(self) -> Subscription:
        """Called from the server's event loop, which from then on receives the fan-out. The
        mailbox starts with the latest prediction, and no message is ever delivered twice."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._loop is not loop:
                for old in self._subscribers:
                    old._close()
                self._subscribers = set()
                self._loop = loop
            latest = self._latest_message
        subscription = Subscription(self.mailbox, self.stale_after_s)
        if latest is not None:
            subscription._offer(*latest, time.monotonic())
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription._close()
        self._subscribers.discard(subscription)

    def _fan_out(self, sequence: int, message: str) -> None:
        now = time.monotonic()
        for subscription in list(self._subscribers):
            lost_before = subscription.lost
            if not subscription._offer(sequence, message, now):
                self.dropped_subscribers += 1
                self.unsubscribe(subscription)
            self.lost_messages += subscription.lost - lost_before
