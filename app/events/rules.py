"""Events: when a watched class is seen, from when to when, and how sure the classifier was.

A class *starts* an event when its probability (smoothed, if smoothing is on) is at or above
its threshold for `start_frames` consecutive camera frames, and the event *ends* once the class
has stayed below for `end_s` seconds. After an event ends, the same class cannot start another
for `cooldown_s` seconds. Pure logic on predictions: the recorder output feeds it and does the
snapshots and the storage.
"""
from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from app.config import Config, default
from app.hub import Prediction
from app.labels import display_label

ID_PATTERN = re.compile(r"\d{8}T\d{9}-[0-9a-f]{6}")
STALLED_AFTER_S = 5.0  # with no predictions at all for end_s + this, open events end anyway


@dataclass(frozen=True)
class EventRules:
    """The events.* settings (defaults as in the configuration's KEYS)."""

    labels: tuple[str, ...] = default("events.labels")  # class names, or "*" for every class
    threshold: float = default("events.threshold")
    thresholds: Mapping[str, float] = field(default_factory=dict)  # per class, over threshold
    start_frames: int = default("events.start_frames")
    end_s: float = default("events.end_s")
    cooldown_s: float = default("events.cooldown_s")

    @classmethod
    def from_config(cls, config: Config) -> EventRules:
        return cls(**{name: config.get(f"events.{name}") for name in cls.__dataclass_fields__})

    def watches(self, label: str) -> bool:
        return "*" in self.labels or label in self.labels

    def threshold_of(self, label: str) -> float:
        return self.thresholds.get(label, self.threshold)


@dataclass
class Event:
    """One sighting of a class, or one state of a taught classifier; `end` is None while it
    lasts. Times are Unix seconds."""

    id: str
    label: str  # the model's own label; display_label is the same made readable
    display_label: str
    model_name: str
    start: float
    start_frame: int
    peak: float
    peak_frame: int
    last_seen: float
    end_frame: int
    end: float | None = None
    snapshot: str | None = None  # URL path of the JPEG, once it is stored
    # a taught classifier's state (app.events.taught): its name, and the state before this one
    # (None when none was known); both None for an event of the model's class
    taught: str | None = None
    previous: str | None = None

    @property
    def active(self) -> bool:
        return self.end is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": "active" if self.active else "ended"}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Event:
        names = Event.__dataclass_fields__
        return Event(**{k: v for k, v in data.items() if k in names})


def new_event_id(start: float) -> str:
    """Sortable by start time, safe in file names and URLs."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(start))
    return f"{stamp}{int(start % 1 * 1000):03d}-{secrets.token_hex(3)}"


@dataclass
class _Run:
    """Consecutive frames at or above the threshold, before an event has started."""

    frames: int
    first_frame: int
    first_seen: float
    peak: float
    peak_frame: int


@dataclass(frozen=True)
class Change:
    kind: str  # "start", "peak" (a better frame of an active event) or "end"
    event: Event


class EventDetector:
    """Feed it camera predictions in order; it says which events start, improve and end."""

    def __init__(self, rules: EventRules) -> None:
        self.rules = rules
        self._runs: dict[str, _Run] = {}
        self._active: dict[str, Event] = {}
        self._cool_until: dict[str, float] = {}
        self._last_fed: float | None = None

    @property
    def active(self) -> list[Event]:
        return list(self._active.values())

    def feed(self, prediction: Prediction) -> list[Change]:
        now = prediction.timestamp
        self._last_fed = now
        seen = {r.label: r.probability for r in prediction.top_k if self.rules.watches(r.label)}
        changes: list[Change] = []
        for label in set(seen) | set(self._runs) | set(self._active):
            probability = seen.get(label, 0.0)
            above = probability >= self.rules.threshold_of(label)
            event = self._active.get(label)
            if event is not None:
                changes += self._follow(event, above, probability, prediction.frame, now)
            elif above and now >= self._cool_until.get(label, float("-inf")):
                changes += self._count(label, probability, prediction, now)
            else:
                self._runs.pop(label, None)
        return changes

    def tick(self, now: float) -> list[Change]:
        """End the open events when the classifier has stopped sending predictions."""
        if self._last_fed is None or now - self._last_fed < self.rules.end_s + STALLED_AFTER_S:
            return []
        return [self._end(event) for event in list(self._active.values())]

    def _follow(self, event: Event, above: bool, probability: float, frame: int,
                now: float) -> list[Change]:
        if above:
            event.last_seen, event.end_frame = now, frame
            if probability > event.peak:
                event.peak, event.peak_frame = probability, frame
                return [Change("peak", event)]
            return []
        if now - event.last_seen >= self.rules.end_s:
            return [self._end(event)]
        return []

    def _count(self, label: str, probability: float, prediction: Prediction,
               now: float) -> list[Change]:
        run = self._runs.get(label)
        if run is None:
            run = self._runs[label] = _Run(0, prediction.frame, now, probability, prediction.frame)
        run.frames += 1
        if probability > run.peak:
            run.peak, run.peak_frame = probability, prediction.frame
        if run.frames < self.rules.start_frames:
            return []
        del self._runs[label]
        event = Event(id=new_event_id(run.first_seen), label=label,
                      display_label=display_label(label), model_name=prediction.model_name,
                      start=run.first_seen, start_frame=run.first_frame, peak=run.peak,
                      peak_frame=run.peak_frame, last_seen=now, end_frame=prediction.frame)
        self._active[label] = event
        return [Change("start", event)]

    def _end(self, event: Event) -> Change:
        event.end = event.last_seen
        del self._active[event.label]
        self._cool_until[event.label] = event.end + self.rules.cooldown_s
        return Change("end", event)
