"""Bounded resources: request bodies, stream and websocket clients, file descriptors, and the
log lines a flood of failed accept() calls would write.

`LimitsMiddleware` is plain ASGI, so it works the same on Starlette 0.26 (Debian bookworm)
and the newest releases: it refuses a body over the cap from its Content-Length at once and
stops reading one without it as soon as it passes the cap; it caps the clients of each
streaming path (beyond the cap: 503, or a websocket accepted and closed at once with 1013, so
a page can tell "full" from "not logged in") and drops a stream client that has not taken a
message for `client_timeout_s`. Websocket clients that stop reading are found by uvicorn's
pings (set by `app.api.connections.ConnectionGuard`). `RateLimiter` paces what one address
may try.
"""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import resource
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import HTTPException

from app.api.errors import error_body

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ACCEPT_LOG_INTERVAL_S = 60.0
WS_TRY_AGAIN_LATER = 1013
VIEWER_LIMIT_REASON = "viewer limit reached"  # the close reason of a websocket over the cap
RATE_CLIENTS = 1024  # addresses remembered by a rate limiter


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a request body passes the cap; answered with 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit // 1024} KiB")


class _SlowClient(Exception):
    """A stream client took longer than the timeout to accept one message."""


async def json_answer(send: Send, status: int, detail: str,
                      headers: Mapping[str, str] | None = None,
                      payload: Mapping[str, Any] | None = None) -> None:
    """Answer an HTTP request with the API's one error body (or `payload`) and close the
    connection."""
    body = json.dumps(error_body(detail) if payload is None else dict(payload)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           (b"connection", b"close")]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class LimitsMiddleware:
    def __init__(self, app, max_body: int, client_caps: Mapping[str, int],
                 client_timeout_s: float) -> None:
        """`client_caps`: path -> most clients at once (a streaming route or a websocket)."""
        self.app = app
        self.max_body = max_body
        self.client_caps = dict(client_caps)
        self.client_timeout_s = client_timeout_s
        self.clients = {path: 0 for path in client_caps}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if scope["type"] == "http":
            length = content_length(scope)
            if length is not None and length > self.max_body:
                return await json_answer(send, 413, BodyTooLarge(self.max_body).detail)
            receive = self._capped(receive)
        path = scope["path"]
        if path not in self.client_caps:
            return await self.app(scope, receive, send)
        if self.clients[path] >= self.client_caps[path]:
            log.debug("refused a client of %s: %d already connected", path, self.clients[path])
            if scope["type"] == "websocket":
                await send({"type": "websocket.accept"})
                return await send({"type": "websocket.close", "code": WS_TRY_AGAIN_LATER,
                                   "reason": VIEWER_LIMIT_REASON})
            return await json_answer(send, 503, f"too many clients of {path}; try again later",
                                     {"Retry-After": "10"})
        self.clients[path] += 1
        try:
            if scope["type"] == "websocket":
                return await self.app(scope, receive, send)  # the route times its own sends
            await self._stream(scope, receive, send)
        finally:
            self.clients[path] -= 1

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        dropped = False

        async def timed_send(message: Message) -> None:
            nonlocal dropped
            try:
                await asyncio.wait_for(send(message), self.client_timeout_s)
            except asyncio.TimeoutError:
                dropped = True
                raise _SlowClient from None

        try:
            await self.app(scope, receive, timed_send)
        except BaseException:
            if not dropped:
                raise
            # The abandoned response's body iterator is left in a reference cycle (task
            # groups, cancellations); a collection once this request is over runs its
            # clean-up (client counts) soon. Rare: one per stream client per timeout.
            asyncio.get_running_loop().call_later(1.0, gc.collect)
            log.info("dropped a client of %s that took nothing for %g s", scope["path"],
                     self.client_timeout_s)

    def _capped(self, receive: Receive) -> Receive:
        received = 0

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise BodyTooLarge(self.max_body)
            return message

        return capped


class RateLimiter:
    """A token bucket per client address: `per_minute` tries, in bursts of up to `burst`."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)

    def take(self, client: str, now: float) -> float:
        """0 when the client may go on (one try is counted), else the seconds until it may
        try again."""
        tokens = self._tokens(client, now)
        wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
        self._remember(client, tokens - 1.0 if tokens >= 1.0 else tokens, now)
        return wait

    def reserve(self, client: str, now: float, longest: float) -> float | None:
        """Count a try now and return the seconds until its turn (0: now); tries beyond the
        burst queue up one `60 / per_minute` apart. None, counting nothing, when the turn
        would come more than `longest` seconds from now."""
        tokens = self._tokens(client, now)
        wait = max(0.0, (1.0 - tokens) / self.rate)
        if wait > longest:
            return None
        self._remember(client, tokens - 1.0, now)
        return wait

    def give_back(self, client: str, now: float) -> None:
        """Uncount a try that `reserve` counted and that turned out not to count."""
        self._remember(client, min(self.burst, self._tokens(client, now) + 1.0), now)

    def wait(self, client: str, now: float) -> float:
        """The seconds until the client may try again (0: now), counting nothing."""
        tokens = self._tokens(client, now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _tokens(self, client: str, now: float) -> float:
        tokens, then = self._buckets.get(client, (self.burst, now))
        return min(self.burst, tokens + (now - then) * self.rate)

    def _remember(self, client: str, tokens: float, now: float) -> None:
        self._buckets.pop(client, None)
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > RATE_CLIENTS:  # forget the longest-idle clients first
            del self._buckets[next(iter(self._buckets))]


def content_length(scope: Scope) -> int | None:
    """The request's Content-Length, None when it has none (chunked) or a broken one."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class AcceptErrorFilter(logging.Filter):
    """Lets one failed-accept() report through per interval: when the process runs out of file
    descriptors, the event loop reports every retry, which would fill the journal."""

    def __init__(self, interval_s: float = ACCEPT_LOG_INTERVAL_S) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last = -float("inf")
        self._suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "accept" not in record.getMessage():
            return True
        now = time.monotonic()
        if now - self._last < self.interval_s:
            self._suppressed += 1
            return False
        if self._suppressed:
            record.msg = f"{record.msg} (and {self._suppressed} more in the last " \
                         f"{now - self._last:.0f} s)"
        self._last, self._suppressed = now, 0
        record.exc_info = record.exc_text = None  # one line; the traceback is always the same
        return True


def raise_fd_limit() -> int:
    """Raise the soft file-descriptor limit to the hard one (systemd's LimitNOFILE=); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft
