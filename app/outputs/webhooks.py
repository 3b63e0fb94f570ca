"""Webhooks: each event start and end POSTed as JSON to every configured URL, optionally as
multipart with the event's snapshot JPEG.

Every URL has its own thread and bounded queue, so one slow or dead receiver delays neither
the others nor anything else. Each POST has `timeout_s` in all, from connecting to the end of
the answer (urllib's own timeout is per socket read: a receiver answering a byte at a time
would hold the sender forever). A failed POST (error, timeout, non-2xx answer) makes the
sender's state "error" at once, is retried with doubling back-off, then counted as failed.
URLs may carry tokens: logs and /api/health show only their scheme, host and path.
"""
from __future__ import annotations

import base64
import concurrent.futures
import http.client
import json
import logging
import secrets
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from app.config import Config
from app.hub import Message
from app.outputs.base import OutputContext, marked_test_message
from app.outputs.queued import QueuedOutput

log = logging.getLogger(__name__)


def shown(url: str) -> str:
    """The URL without credentials or query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _split_login(url: str) -> tuple[str, dict[str, str]]:
    """user:password@ in a URL becomes a Basic Authorization header (urllib ignores it)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, {}
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    login = base64.b64encode(f"{unquote(parts.username)}:{unquote(parts.password or '')}"
                             .encode()).decode()
    return urlunsplit(parts._replace(netloc=host)), {"Authorization": f"Basic {login}"}


class _Deadline:
    """Ends one request once it has taken `seconds` in all, by shutting its sockets down,
    which wakes a read blocked on them."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:  # the kernel's shutdown, also under TLS: it wakes the reader at once
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:  # closed already (or handed over to the TLS socket, watched too)
        pass


class _Watched:
    """A connection whose sockets, the plain one while connecting and the one it then talks
    over (TLS for https), are watched by a `_Deadline`."""

    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline
        self._create_connection = \
            lambda *a, **k: deadline.watch(socket.create_connection(*a, **k))

    def connect(self) -> None:
        super().connect()
        self._deadline.watch(self.sock)


class _WatchedHTTP(_Watched, http.client.HTTPConnection):
    pass


class _WatchedHTTPS(_Watched, http.client.HTTPSConnection):
    pass


class _DeadlineHandler:
    """urllib's handler for one scheme, opening its connections watched by `deadline`."""

    connection: type

    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def do_open(self, http_class: type, request: urllib.request.Request,
                **kwargs: Any) -> http.client.HTTPResponse:
        return super().do_open(self.connection, request, deadline=self._deadline, **kwargs)


class _DeadlineHTTP(_DeadlineHandler, urllib.request.HTTPHandler):
    connection = _WatchedHTTP


class _DeadlineHTTPS(_DeadlineHandler, urllib.request.HTTPSHandler):
    connection = _WatchedHTTPS


class WebhookSender(QueuedOutput):
    name = "webhook"

    def __init__(self, url: str, settings: SimpleNamespace) -> None:
        """`settings`: the [webhooks] table of the configuration."""
        super().__init__(settings.queue)
        self.url, self.settings = url, settings
        self._target, self._login = _split_login(url)
        self.sent = 0
        self.error: str | None = None

    def status(self) -> dict[str, Any]:
        return {"url": shown(self.url), "state": "error" if self.error else "ok",
                "error": self.error, "sent": self.sent, "failed": self.errors,
                "queued": self.queued, "dropped": self.dropped}

    def _accept(self, message: Message) -> Any:
        return message if message.type == "event" else None

    def _handle(self, message: Message) -> None:
        body, headers = self._body(message)
        headers.update(self._login)
        was_failing = self.error is not None
        for attempt in range(self.settings.retries + 1):
            if attempt and self._stopping.wait(self.settings.backoff_s * 2 ** (attempt - 1)):
                return
            self.error = self._try_post(body, headers)
            if self.error is None:
                self.sent += 1
                return
        self.errors += 1
        if not was_failing:
            log.warning("%s (gave up after %d tries)", self.error, self.settings.retries + 1)

    def send_test(self) -> dict[str, Any]:
        """POST a marked test message once (no retries), within `timeout_s`; on the caller's
        thread, apart from the queue, so it says how this URL answers now."""
        body = json.dumps(marked_test_message()).encode()
        error = self._try_post(body, {"Content-Type": "application/json", **self._login})
        return {"target": shown(self.url), "delivered": error is None, "error": error}

    def _try_post(self, body: bytes, headers: dict[str, str]) -> str | None:
        """One POST; None when it was answered with 2xx, else what went wrong in words."""
        try:
            self._post(body, headers)
            return None
        except urllib.error.HTTPError as exc:
            return f"POST to {shown(self.url)} failed: HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            why = getattr(exc, "reason", None) or exc
            return f"POST to {shown(self.url)} failed: {why}"

    def _post(self, body: bytes, headers: dict[str, str]) -> None:
        """One POST, answered in full within `timeout_s` or failed with TimeoutError."""
        request = urllib.request.Request(self._target, body, headers, method="POST")
        with _Deadline(self.settings.timeout_s) as deadline:
            opener = urllib.request.build_opener(_DeadlineHTTP(deadline), _DeadlineHTTPS(deadline))
            try:
                with opener.open(request, timeout=self.settings.timeout_s) as answer:
                    answer.read(65536)
            except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
                if not deadline.expired:
                    raise
            if deadline.expired:
                raise TimeoutError(f"timed out: no complete answer within "
                                   f"{deadline.seconds:g} s")

    def _body(self, message: Message) -> tuple[bytes, dict[str, str]]:
        event = message.body["event"]
        document = json.dumps({"type": "start" if event["state"] == "active" else "end",
                               "event": event}).encode()
        if not (self.settings.snapshot and message.snapshot):
            return document, {"Content-Type": "application/json"}
        boundary = "shadercam-" + secrets.token_hex(12)
        parts = [(b'name="event"', b"application/json", document),
                 (f'name="snapshot"; filename="{event["id"]}.jpg"'.encode(), b"image/jpeg",
                  message.snapshot)]
        body = b"".join(b"--%s\r\nContent-Disposition: form-data; %s\r\nContent-Type: %s\r\n\r\n"
                        % (boundary.encode(), disposition, kind) + data + b"\r\n"
                        for disposition, kind, data in parts) + f"--{boundary}--\r\n".encode()
        return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


class WebhooksOutput:
    """One sender per URL, reported together."""

    name = "webhooks"

    def __init__(self, settings: SimpleNamespace) -> None:
        """`settings`: the [webhooks] table of the configuration."""
        self.senders: Sequence[WebhookSender] = [WebhookSender(url, settings)
                                                 for url in settings.urls]

    @classmethod
    def from_config(cls, config: Config, context: OutputContext) -> WebhooksOutput | None:
        return cls(config.section("webhooks")) if config.webhooks_urls else None

    def start(self) -> None:
        for sender in self.senders:
            sender.start()

    def publish(self, message: Message) -> None:
        for sender in self.senders:
            sender.publish(message)

    def stop(self) -> None:
        for sender in self.senders:  # all at once: each may be waiting for a slow receiver
            sender.request_stop()
        for sender in self.senders:
            sender.stop()

    def send_test(self) -> dict[str, Any]:
        """A test message to every URL at once; delivered when every one took it."""
        with concurrent.futures.ThreadPoolExecutor(len(self.senders)) as pool:
            results = list(pool.map(WebhookSender.send_test, self.senders))
        return {"delivered": all(r["delivered"] for r in results), "results": results}

    def status(self) -> dict[str, Any]:
        hooks = [sender.status() for sender in self.senders]
        return {"state": "error" if any(h["error"] for h in hooks) else "ok",
                "errors": sum(h["failed"] for h in hooks), "urls": hooks}
