"""The event recorder: turns camera predictions into events, with a snapshot of each event's
best frame, keeps them in the event store and announces each start and end through the hub
(to the websocket, MQTT and webhooks). Two kinds: a class of the model seen
(app.events.rules), and a taught classifier's state (app.events.taught), whose snapshot is its
region's picture at the change.

Snapshots are the camera's own preview picture of the classified frame (the hardware JPEG on a
Pi, else the frame encoded once), taken when the event starts and again when its probability
peaks, at most once per `snapshot_every_s`; the JPEG kept is the one of the best frame seen.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from app.cameras.preview import Preview
from app.config import Config
from app.events.rules import Change, EventDetector, EventRules
from app.events.store import EventStore
from app.events.taught import TaughtEvents
from app.hub import Message, Prediction
from app.outputs.base import OutputContext
from app.outputs.queued import QueuedOutput
from app.outputs.taught import region_picture


class EventRecorder(QueuedOutput):
    name = "events"

    def __init__(self, rules: EventRules, store: EventStore, preview: Preview,
                 announce: Callable[[dict[str, Any], bytes | None], None],
                 snapshot_every_s: float = 1.0, limit: int = 64,
                 taught: Callable[[], dict[str, dict[str, Any]]] = dict) -> None:
        """`taught`: the taught classifiers that run now (app.outputs.base.ServiceView)."""
        super().__init__(limit)
        self.detector = EventDetector(rules)
        self.taught_events = TaughtEvents(rules.end_s)
        self.taught = taught
        self._regions: dict[str, tuple] = {}  # running taught classifier -> its region
        self.store = store
        self.preview = preview
        self.announce = announce
        self.snapshot_every_s = snapshot_every_s
        # event id -> (when taken, best JPEG so far, whether the store has that JPEG already)
        self._best: dict[str, tuple[float, bytes | None, bool]] = {}
        self.recorded = 0
        self.active: tuple[str, ...] = ()  # classes with an event going on, for status()

    @classmethod
    def from_config(cls, config: Config, context: OutputContext) -> EventRecorder | None:
        if not config.events_enabled:
            return None
        store = EventStore.from_config(config, context.state_dir)
        return cls(EventRules.from_config(config), store, context.service.preview,
                   context.service.hub.publish_event, taught=context.service.taught)

    def start(self) -> None:
        self.store.load()
        super().start()

    def status(self) -> dict[str, Any]:
        store = self.store.status()
        return {"state": "error" if store["error"] else "ok", "error": store["error"],
                "active": list(self.active), "recorded": self.recorded,
                "lost_predictions": self.dropped, "errors": self.errors + store["write_errors"],
                "store": store}

    def _accept(self, message: Message) -> Any:
        prediction = message.prediction
        return prediction if prediction is not None and prediction.origin == "camera" else None

    def _handle(self, prediction: Prediction) -> None:
        for change in self.detector.feed(prediction):
            self._apply(change)
        running = self.taught()
        self._regions = {name: info["region"] for name, info in running.items()}
        for change in self.taught_events.feed(prediction, running):
            self._apply(change)

    def _tick(self) -> None:
        now = time.time()
        for change in self.detector.tick(now) + self.taught_events.tick(now):
            self._apply(change)

    def _apply(self, change: Change) -> None:
        event = change.event
        if change.kind == "peak":
            taken_at, _, _ = self._best.get(event.id, (0.0, None, True))
            if time.monotonic() - taken_at >= self.snapshot_every_s:
                picture = self._picture(event.peak_frame)
                if picture is not None:
                    self._best[event.id] = (time.monotonic(), picture, False)
            return
        if change.kind == "start":
            self.recorded += 1
            if event.taught is None:
                picture = self._picture(event.peak_frame)
            else:
                picture = region_picture(self.preview, event.peak_frame,
                                         self._regions[event.taught])
            stored = False
            self._best[event.id] = (time.monotonic(), picture, True)
        else:
            _, picture, stored = self._best.pop(event.id, (0.0, None, True))
        self.active = tuple(e.label for e in self.detector.active)
        self.store.save(event, None if stored else picture)
        self.announce(event.to_dict(), picture)

    def _picture(self, frame: int) -> bytes | None:
        """That frame's picture while the preview keeps it (the last few), else the newest."""
        got = self.preview.classified_jpeg(frame) or self.preview.classified_jpeg() or \
            self.preview.jpeg()
        return None if got is None else got[1]
