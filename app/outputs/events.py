"""The event recorder: turns camera predictions into events, with a snapshot of each event's
best frame, keeps them in the event store and announces each start and end through the hub
(to the websocket, MQTT and webhooks).

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
from app.hub import Message
from app.outputs.base import OutputContext
from app.outputs.queued import QueuedOutput


class EventRecorder(QueuedOutput):
    name = "events"

    def __init__(self, rules: EventRules, store: EventStore, preview: Preview,
                 announce: Callable[[dict[str, Any], bytes | None], None],
                 snapshot_every_s: float = 1.0, limit: int = 64) -> None:
        super().__init__(limit)
        self.detector = EventDetector(rules)
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
                   context.service.hub.publish_event)

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

    def _handle(self, prediction) -> None:
        for change in self.detector.feed(prediction):
            self._apply(change)

    def _tick(self) -> None:
        for change in self.detector.tick(time.time()):
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
            picture, stored = self._picture(event.peak_frame), False
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
