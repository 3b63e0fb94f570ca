"""The event history on disk: one JSON file per event and one JPEG of its best frame.

Kept in the state directory (`$STATE_DIRECTORY/events`, /var/lib/shadercam/events on a Pi).
Every file is written to a temporary name, synced, then renamed, so a power cut leaves the old
version or the new one, never half a file. Retention by count, bytes and age keeps an SD card
from filling up, and the list in memory within the same limits whatever the disk does. A write
that fails (disk full, read-only card) is reported in `status()` and the event is still kept
in memory and published: losing the history must not stop the camera. A delete whose file
cannot be removed raises and keeps the event, so it cannot come back after a restart.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from app.atomic import write_atomically
from app.config import Config, default
from app.events.rules import ID_PATTERN, Event

log = logging.getLogger(__name__)

SNAPSHOT_URL = "/api/events/{id}/snapshot.jpg"


class EventStore:
    def __init__(self, directory: Path, max_count: int = default("events.max_count"),
                 max_bytes: int = int(default("events.max_mb") * 2**20),
                 max_age_s: float = default("events.max_age_days") * 86400.0) -> None:
        self.directory = Path(directory)
        self.max_count, self.max_bytes, self.max_age_s = max_count, max_bytes, max_age_s
        self._lock = threading.Lock()
        self._events: dict[str, Event] = {}
        self._sizes: dict[str, int] = {}  # bytes on disk per event, JSON and JPEG together
        self.error: str | None = None
        self.write_errors = 0
        self.removed = 0

    @classmethod
    def from_config(cls, config: Config, state_dir: Path) -> EventStore:
        """The history in events.dir, else in the "events" folder of `state_dir`."""
        folder = Path(config.events_dir) if config.events_dir else state_dir / "events"
        return cls(folder, config.events_max_count, int(config.events_max_mb * 2**20),
                   config.events_max_age_days * 86400.0)

    def load(self) -> None:
        """Read the history back; events a crash left open are closed at their last sighting,
        and leftovers of interrupted writes are removed."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            paths = sorted(self.directory.iterdir())
        except OSError as exc:
            self._failed("open", exc)
            return
        interrupted = []
        for path in paths:
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)
            elif path.suffix == ".json" and ID_PATTERN.fullmatch(path.stem):
                event = self._load_one(path)
                if event is not None and event.active:
                    event.end = event.last_seen
                    interrupted.append(event)
        for path in paths:
            if path.suffix == ".jpg" and path.stem not in self._events:
                path.unlink(missing_ok=True)
        for event in interrupted:
            self.save(event)
        self.prune()

    def _load_one(self, path: Path) -> Event | None:
        try:
            event = Event.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            log.warning("skipping unreadable event file %s: %s", path, exc)
            return None
        jpeg = path.with_suffix(".jpg")
        self._events[event.id] = event
        self._sizes[event.id] = path.stat().st_size + (jpeg.stat().st_size if jpeg.exists() else 0)
        return event

    def save(self, event: Event, snapshot: bytes | None = None) -> None:
        """Write (or rewrite) an event, and its snapshot when given; then apply retention."""
        with self._lock:
            self._events[event.id] = event
        try:
            size = 0
            if snapshot is not None:
                self._write(event.id + ".jpg", snapshot)
                event.snapshot = SNAPSHOT_URL.format(id=event.id)
            if event.snapshot is not None:
                size += len(snapshot) if snapshot is not None else self._size_of(event.id + ".jpg")
            size += self._write(event.id + ".json", json.dumps(event.to_dict()).encode())
        except OSError as exc:
            self._failed("write", exc)
        else:
            with self._lock:
                self._sizes[event.id] = size
                self.error = None
        self.prune()  # retention holds in memory whatever the disk does

    def _write(self, name: str, data: bytes) -> int:
        write_atomically(self.directory / name, data, 0o644)
        return len(data)

    def _size_of(self, name: str) -> int:
        try:
            return (self.directory / name).stat().st_size
        except OSError:
            return 0

    def _failed(self, doing: str, exc: OSError) -> None:
        with self._lock:
            self.write_errors += 1
            first = self.error is None
            self.error = f"cannot {doing} events in {self.directory}: {exc.strerror or exc}"
        if first:
            log.error("%s; events are kept in memory only", self.error)

    def list(self, label: str | None = None, since: float | None = None,
             limit: int = 50, until: float | None = None, before: str | None = None,
             taught: str | None = None) -> list[Event]:
        """Newest first; `before` (an event id) pages on: only events older than that one."""
        return older_than(self.matching(label, since, until, taught), before)[:limit]

    def matching(self, label: str | None = None, since: float | None = None,
                 until: float | None = None, taught: str | None = None) -> list[Event]:
        """Every event of `label` (of the taught classifier `taught`) that started in
        [since, until), newest first. Ordered by id, which sorts by start time and tells apart
        events that start on the same frame, so an id is a cursor that stays valid when that
        event is deleted."""
        with self._lock:
            events = sorted(self._events.values(), key=lambda e: e.id, reverse=True)
        return [e for e in events
                if (label is None or e.label == label) and (taught is None or e.taught == taught)
                and (since is None or e.start >= since) and (until is None or e.start < until)]

    def labels(self) -> dict[tuple[str, str | None], tuple[str, int]]:
        """Each (label, taught classifier or None) in the history -> (its display label, how
        many events): two taught classifiers may both have a state "open"."""
        with self._lock:
            events = list(self._events.values())
        counts = Counter((e.label, e.taught) for e in events)
        return {(e.label, e.taught): (e.display_label, counts[e.label, e.taught])
                for e in events}

    def get(self, event_id: str) -> Event | None:
        with self._lock:
            return self._events.get(event_id)

    def snapshot(self, event_id: str) -> bytes | None:
        event = self.get(event_id)
        if event is None or event.snapshot is None:
            return None
        try:
            return (self.directory / f"{event_id}.jpg").read_bytes()
        except OSError:
            return None

    def delete(self, event_id: str) -> bool:
        """Remove an event and its files; False when there is no such event. Raises OSError
        when its file cannot be removed (a read-only card): the event is then kept, in memory
        as on disk, so what the caller is told is what a restart will show."""
        if self.get(event_id) is None:
            return False
        try:
            self._remove_files(event_id)
        except OSError as exc:
            self._failed("delete", exc)
            raise
        self._forget(event_id)
        return True

    def _remove_files(self, event_id: str) -> None:
        """The JSON file first: once it is gone the event is gone for good (a JPEG left
        behind is removed at the next load), so only its failure raises."""
        _remove(self.directory / f"{event_id}.json")
        try:
            _remove(self.directory / f"{event_id}.jpg")
        except OSError as exc:
            self._failed("delete", exc)

    def _forget(self, event_id: str) -> None:
        with self._lock:
            self._events.pop(event_id, None)
            self._sizes.pop(event_id, None)

    def prune(self, now: float | None = None) -> int:
        """Remove the oldest ended events beyond the count, bytes or age limits."""
        now = time.time() if now is None else now
        with self._lock:
            ended = sorted((e for e in self._events.values() if not e.active),
                           key=lambda e: e.start)
            count, total = len(self._events), sum(self._sizes.values())
            doomed = []
            for event in ended:
                too_old = now - (event.end or event.start) > self.max_age_s
                if not (too_old or count > self.max_count or total > self.max_bytes):
                    break
                doomed.append(event.id)
                count -= 1
                total -= self._sizes.get(event.id, 0)
        for event_id in doomed:
            # forgotten even when its files stay (a read-only card): the next load reads
            # them back and this retention drops them again
            self._forget(event_id)
            try:
                self._remove_files(event_id)
            except OSError as exc:
                self._failed("delete", exc)
        with self._lock:
            self.removed += len(doomed)
        return len(doomed)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"dir": str(self.directory), "count": len(self._events),
                    "bytes": sum(self._sizes.values()), "error": self.error,
                    "write_errors": self.write_errors, "removed": self.removed}


def _remove(path: Path) -> None:
    """A file that is not there counts as removed, also where a read-only file system refuses
    the unlink before looking (an event that never reached the card)."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        if path.exists():
            raise


def older_than(events: list[Event], before: str | None) -> list[Event]:
    """The events of a newest-first list that come after the cursor `before` (an event id):
    the next page's, however the list was filtered."""
    return events if before is None else [e for e in events if e.id < before]
