"""The thread and bounded queue behind every output that does slow work (disk, network).

`publish` only appends to the queue and returns; when the queue is full the oldest item is
dropped and counted, so a stuck output costs the publisher nothing and uses bounded memory.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from app.hub import Message

log = logging.getLogger(__name__)


class QueuedOutput:
    name = "output"
    tick_s = 0.5  # how often `_tick` runs while the queue is empty

    def __init__(self, limit: int) -> None:
        self._queue: deque[Any] = deque()
        self._limit = limit
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"output-{self.name}", daemon=True)
        self.dropped = 0  # items lost because the queue was full
        self.errors = 0  # failures of the slow work, for /api/health and /metrics

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.request_stop()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def request_stop(self) -> None:
        """Tell the thread to finish, without waiting for it (to stop several at once)."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()

    def publish(self, message: Message) -> None:
        item = self._accept(message)
        if item is not None:
            self._put(item)

    def _put(self, item: Any) -> None:
        with self._cond:
            if len(self._queue) >= self._limit:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(item)
            self._cond.notify()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def _accept(self, message: Message) -> Any:
        """On the publisher's thread: what to queue for this message (None: nothing). Cheap."""
        return message

    def _handle(self, item: Any) -> None:
        """On the output's thread: the slow work for one item."""
        raise NotImplementedError

    def _tick(self) -> None:
        """On the output's thread, between items and at least every `tick_s`."""

    def _finish(self) -> None:
        """On the output's thread, once stopping (after the queue is drained or abandoned)."""

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue and not self._stopping.is_set():
                    self._cond.wait(self.tick_s)
                item = self._queue.popleft() if self._queue else None
            if self._stopping.is_set():
                break
            try:
                if item is not None:
                    self._handle(item)
                self._tick()
            except Exception:  # one bad item must not end the output
                self.errors += 1
                log.exception("output %s failed", self.name)
        try:
            self._finish()
        except Exception:
            log.exception("output %s failed to finish", self.name)
