"""The websocket output: fan-out of hub messages to the page's websocket clients.

Subscribers live on the server's event loop; the hub calls `publish` from other threads, which
only schedules the fan-out on that loop. Each subscriber has a small bounded mailbox: when it is
full the oldest message is lost, and a subscriber that has taken nothing for `stale_after_s`
while messages kept coming is dropped, so one stuck browser never holds anything up.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from app.config import Config
from app.hub import Message
from app.outputs.base import OutputContext


class SubscriptionClosed(Exception):
    """The output dropped this subscriber (it fell behind for too long) or the loop changed."""


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
                raise SubscriptionClosed("dropped by the websocket output")
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


class WebsocketOutput:
    """Fans hub messages out as JSON to the subscribers of one event loop."""

    name = "websocket"

    def __init__(self, mailbox: int = 4, stale_after_s: float = 10.0) -> None:
        self.mailbox = mailbox
        self.stale_after_s = stale_after_s
        self._lock = threading.Lock()
        self._sequence = 0
        self._latest_prediction: tuple[int, str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: set[Subscription] = set()
        self.lost_messages = 0
        self.dropped_subscribers = 0

    @classmethod
    def from_config(cls, config: Config, context: OutputContext) -> WebsocketOutput:
        """Always there: the page's live view."""
        return cls()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def start(self) -> None:
        pass  # subscribers bring the event loop with them

    def stop(self) -> None:
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._close_all)
            except RuntimeError:  # that loop has closed already
                pass

    def status(self) -> dict[str, Any]:
        return {"state": "ok", "clients": self.subscribers, "lost_messages": self.lost_messages,
                "dropped_clients": self.dropped_subscribers}

    def publish(self, message: Message) -> None:
        """Called from any thread; never blocks on subscribers."""
        text = message.json
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
            if message.type == "prediction":
                self._latest_prediction = (sequence, text)
            loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._fan_out, sequence, text)
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
                self._close_all()
                self._loop = loop
            latest = self._latest_prediction
        subscription = Subscription(self.mailbox, self.stale_after_s)
        if latest is not None:
            subscription._offer(*latest, time.monotonic())
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription._close()
        self._subscribers.discard(subscription)

    def _close_all(self) -> None:
        for old in self._subscribers:
            old._close()
        self._subscribers = set()

    def _fan_out(self, sequence: int, message: str) -> None:
        now = time.monotonic()
        for subscription in list(self._subscribers):
            lost_before = subscription.lost
            if not subscription._offer(sequence, message, now):
                self.dropped_subscribers += 1
                self.unsubscribe(subscription)
            self.lost_messages += subscription.lost - lost_before
