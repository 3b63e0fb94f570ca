"""Safe on a home network: host names, origins, the access token and security headers.

`SecurityMiddleware` (plain ASGI, the same on Starlette 0.26 and the newest) checks in order:
  1. the Host header names this machine (its hostname, <hostname>.local, localhost, the
     address the connection came in on, or a name in `server.hosts`), which defeats DNS
     rebinding: 421 otherwise;
  2. a websocket upgrade or a state-changing request that carries an Origin comes from the
     same origin: 403 otherwise (browsers send Origin with both; scripts send none);
  3. with `server.token` set, the token: an `Authorization: Bearer` header, a `?token=`
     query (for MJPEG in Home Assistant and for scripts) or the cookie that /login sets.
     Unauthenticated, /api/health answers only its status; the pages redirect to /login;
     everything else is 401, and a websocket is closed before it is accepted. Wrong tokens
     (header, query or /login; not a stale cookie) are paced per client address: after
     WRONG_TOKEN_BURST of them, every token from that address waits its turn, one a second
     (WRONG_TOKENS_PER_MINUTE), before it is checked (a right one then gives its turn
     back), and one whose turn is more than MAX_TOKEN_WAIT_S away is refused unchecked (429),
     so guesses sent in parallel gain nothing. Other addresses are not affected.
Every HTTP answer carries headers that keep browsers from sniffing, framing or leaking.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import ipaddress
import logging
import math
import re
import socket
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI

from app.api.limits import (AcceptErrorFilter, LimitsMiddleware, Message, RateLimiter, Receive,
                            Scope, Send, content_length, json_answer)
from app.api.port import ServerSettings
from app.api.schemas import ErrorAnswer
from app.config import ENV_PREFIX

COOKIE = "shadercam_session"
COOKIE_MAX_AGE_S = 365 * 24 * 3600
LOGIN_BODY_LIMIT = 4096  # a login form is one field; a larger body is refused unread
WRONG_TOKEN_BURST = 10  # wrong tokens one address may send at once ...
WRONG_TOKENS_PER_MINUTE = 60  # ... and then this many a minute
MAX_TOKEN_WAIT_S = 10.0  # a token that would wait longer to be checked is refused (429)
WS_POLICY_VIOLATION = 1008
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # same-origin, not no-referrer: with no-referrer browsers post forms with "Origin: null"
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
     b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
)
PAGES = frozenset({"/", "/teach", "/events", "/settings"})  # without the token: to /login
# what the login page itself shows, answered without the token: nothing in them is secret
PUBLIC = frozenset({"/static/style.css", "/static/favicon.svg", "/favicon.ico"})
DEFAULT_CONFIG_FILE = "/etc/shadercam/config.toml"  # where the installer puts it
TOKEN_IN_TEXT = re.compile(r"(token=)[^&\s\"']+")


# the answers these guards can give to any route, documented on every route
GUARD_ANSWERS = {
    401: "the access token is missing or wrong",
    403: "a state-changing request from another site (Origin)",
    413: "the request body is larger than server.max_upload_mb",
    421: "the Host header does not name this machine (server.hosts)",
}


def install_guards(app: FastAPI, settings: ServerSettings, health: Callable[[], str]) -> None:
    """Put the security and resource limits in front of every route of `app`; `health` gives
    the service's status, which /api/health tells clients without the token."""
    max_body = int(settings.max_upload_mb * 1024 * 1024) + 64 * 1024  # + form fields
    app.add_middleware(LimitsMiddleware, max_body=max_body,
                       client_caps={"/stream.mjpg": settings.max_stream_clients,
                                    "/ws": settings.max_websocket_clients},
                       client_timeout_s=settings.client_timeout_s)
    app.add_middleware(SecurityMiddleware, token=settings.token,
                       token_origin=settings.token_origin, max_body=max_body,
                       hosts=allowed_hosts(settings.hosts), health=health)
    _document_guard_answers(app)
    for name in ("uvicorn.access", "uvicorn.error"):
        _add_filter_once(logging.getLogger(name), TokenRedactor)
    _add_filter_once(logging.getLogger("asyncio"), AcceptErrorFilter)


def allowed_hosts(configured: str) -> frozenset[str] | None:
    """Host names answered, lower case, without port; None answers any (`server.hosts = "*"`)."""
    names = {name.strip().lower().rstrip(".") for name in configured.split(",") if name.strip()}
    if "*" in names:
        return None
    hostname = socket.gethostname().lower()
    names |= {"localhost", hostname, f"{hostname}.local", socket.getfqdn().lower()}
    return frozenset(names)


class SecurityMiddleware:
    def __init__(self, app, token: str, hosts: frozenset[str] | None,
                 health: Callable[[], str], max_body: int, token_origin: str = "") -> None:
        """`max_body`: a refused request's body is read (and dropped) up to this size first,
        so that its client, still sending, sees the answer instead of a broken pipe.
        `token_origin`: where the token was set, named on the login page."""
        self.app = app
        self.max_body = max_body
        self.token = token
        self.token_origin = token_origin
        self.cookie = _cookie_value(token) if token else ""
        self.hosts = hosts
        self.health = health
        self.wrong_tokens = RateLimiter(WRONG_TOKENS_PER_MINUTE, WRONG_TOKEN_BURST)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        if kind == "http":
            send = _with_headers(send)
        headers = _headers(scope)
        host = headers.get("host", "")
        refusal = None
        if not self._host_allowed(host, scope):
            refusal = 421, f"unknown host name {_host_name(host)!r}; add it to server.hosts"
        elif (kind == "websocket" or scope["method"] not in SAFE_METHODS) \
                and not _same_origin(headers.get("origin"), host):
            refusal = 403, "cross-origin request refused"
        if refusal:
            if kind == "websocket":
                return await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION})
            await _discard_body(receive, self.max_body)
            return await json_answer(send, *refusal)
        if scope["path"] == "/login" and kind == "http":
            return await self._login(scope, receive, send)
        if not self.token or self._has_cookie(headers) \
                or (kind == "http" and scope["path"] in PUBLIC and scope["method"] in SAFE_METHODS):
            return await self.app(scope, receive, send)
        offered = self._offered(scope, headers)
        if offered:
            right, refused_s = await self._check(scope, offered)
            if right:
                return await self.app(scope, receive, send)
            if refused_s:
                if kind == "websocket":
                    return await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION})
                await _discard_body(receive, self.max_body)
                return await json_answer(send, 429, _too_many(refused_s),
                                         {"Retry-After": str(refused_s)})
        if kind == "websocket":
            return await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION})
        if scope["path"] == "/api/health":
            status = self.health()
            return await json_answer(send, 503 if status == "error" else 200, status,
                                     payload={"status": status})
        if scope["path"] in PAGES and scope["method"] in SAFE_METHODS:
            return await _redirect(send, _login_for(scope))
        await _discard_body(receive, self.max_body)
        await json_answer(send, 401, "this ShaderCam needs its access token: log in at /login, "
                                     "or send Authorization: Bearer TOKEN or ?token=TOKEN",
                          {"WWW-Authenticate": "Bearer"})

    def _host_allowed(self, host: str, scope: Scope) -> bool:
        if self.hosts is None:
            return True
        name = _host_name(host)
        if name in self.hosts:
            return True
        try:  # an address, never subject to DNS rebinding: the one the connection came in on
            return ipaddress.ip_address(name) == ipaddress.ip_address(scope["server"][0])
        except (ValueError, TypeError, IndexError):
            return False

    def _offered(self, scope: Scope, headers: dict[str, str]) -> list[str]:
        """The tokens the request gives in an Authorization header or a ?token= query."""
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        offered = [credential.strip()] if scheme.lower() == "bearer" else []
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return offered + query.get("token", [])

    def _has_cookie(self, headers: dict[str, str]) -> bool:
        return _equal(_cookies(headers.get("cookie", "")).get(COOKIE, ""), self.cookie)

    async def _check(self, scope: Scope, offered: list[str]) -> tuple[bool, int]:
        """(whether a token in `offered` is the right one, 0), once this address's turn has
        come; (False, seconds to wait) at once, checking nothing, when its turn is too far.
        While the address has wrong tokens to spare, the check and the count of a wrong one
        follow without an await, so parallel requests cannot slip past the count."""
        address, now = _address(scope), time.monotonic()
        if not self.wrong_tokens.wait(address, now):
            right = any(_equal(given, self.token) for given in offered)
            if not right:
                self.wrong_tokens.take(address, now)
            return right, 0
        turn = self.wrong_tokens.reserve(address, now, MAX_TOKEN_WAIT_S)
        if turn is None:
            return False, math.ceil(self.wrong_tokens.wait(address, now))
        await asyncio.sleep(turn)
        right = any(_equal(given, self.token) for given in offered)
        if right:  # only wrong tokens count: the token holder's next requests need not wait
            self.wrong_tokens.give_back(address, time.monotonic())
        return right, 0

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.token:
            return await _redirect(send, _back_to(
                parse_qs(scope.get("query_string", b"").decode("latin-1"))))
        if scope["method"] == "POST":
            length = content_length(scope)
            body = None if length is not None and length > LOGIN_BODY_LIMIT \
                else await _read_body(receive, LOGIN_BODY_LIMIT)
            if body is None:
                return await json_answer(send, 413, f"a login form is at most "
                                                    f"{LOGIN_BODY_LIMIT} bytes")
            given = parse_qs(body.decode("latin-1"))
        else:
            given = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        tokens = given.get("token", [])[:1]
        back = _back_to(given)
        if not tokens and self._has_cookie(_headers(scope)):  # logged in meanwhile
            return await _redirect(send, back)
        right, refused_s = await self._check(scope, tokens) if tokens else (False, 0)
        if refused_s:
            return await _login_page(send, 429, _too_many(refused_s), self.token_origin, back,
                                     {"retry-after": str(refused_s)})
        if right:
            cookie = (f"{COOKIE}={self.cookie}; Max-Age={COOKIE_MAX_AGE_S}; Path=/; HttpOnly; "
                      "SameSite=Strict")
            return await _redirect(send, back, cookie)
        if scope["method"] not in SAFE_METHODS | {"POST"}:
            return await json_answer(send, 405, "GET or POST /login")
        await _login_page(send, 401 if tokens else 200, "That is not the token." if tokens else "",
                          self.token_origin, back)


def _too_many(wait: int) -> str:
    return f"too many wrong tokens from this address; try again in {wait} s"


async def _login_page(send: Send, status: int, message: str, token_origin: str, back: str,
                      headers: dict[str, str] | None = None) -> None:
    body = _LOGIN_PAGE.format(message=html.escape(message), back=html.escape(back),
                              where=_token_whereabouts(token_origin)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"),
                            *((k.encode(), v.encode()) for k, v in (headers or {}).items())]})
    await send({"type": "http.response.body", "body": body})


def _token_whereabouts(origin: str) -> str:
    """Where the person at the login page finds the token: where the service got it (HTML)."""
    if origin.startswith(ENV_PREFIX):
        return (f"The token is the service's environment variable <code>{html.escape(origin)}"
                f"</code> (see its systemd unit or the shell that started it).")
    if origin == "command line":
        return ("The token (<code>server.token</code>) was given on the command line that "
                "started the service.")
    path = origin if origin not in ("", "default") else DEFAULT_CONFIG_FILE
    return (f"The token is <code>server.token</code> in <code>{html.escape(path)}</code>; the "
            "installer printed a link that logs in.")


def _login_for(scope: Scope) -> str:
    """The login page, told to bring the person back to the page (and its query) they asked."""
    page = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}"
                            if scope.get("query_string") else "")
    return "/login" if page == "/" else f"/login?{urlencode({'next': page})}"


def _back_to(given: dict[str, list[str]]) -> str:
    """The page to return to after logging in: a path on this service, never another site."""
    path = given.get("next", ["/"])[0]
    if not path.startswith("/") or path.startswith(("//", "/\\", "/login")) \
            or len(path) > 512 or not path.isprintable():
        return "/"
    return path


_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>ShaderCam: log in</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/style.css"></head>
<body class="login-page">
<header><h1><img src="/static/favicon.svg" alt="" width="28" height="28"> ShaderCam</h1></header>
<main class="login-main"><section class="card login-card" aria-labelledby="login-title">
<h2 id="login-title">Log in</h2>
<form method="post" action="/login">
<input type="hidden" name="next" value="{back}">
<p class="login-row"><label>Access token <input name="token" type="password"
 autocomplete="current-password" required autofocus></label>
 <button type="submit">Log in</button></p>
<p role="alert" class="login-message">{message}</p>
<p class="note" id="token-where">{where}</p>
</form></section></main></body></html>
"""


class TokenRedactor(logging.Filter):
    """Keeps `?token=` values out of the access log and error messages."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(TOKEN_IN_TEXT.sub(r"\1***", a) if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str):
            record.msg = TOKEN_IN_TEXT.sub(r"\1***", record.msg)
        return True


def _add_filter_once(logger: logging.Logger, kind: type[logging.Filter]) -> None:
    if not any(isinstance(existing, kind) for existing in logger.filters):
        logger.addFilter(kind())


def _document_guard_answers(app: FastAPI) -> None:
    """List the guards' refusals under every operation of the OpenAPI document. Done on the
    document, not on the routes: newer FastAPI keeps an included router's routes out of
    `app.routes`."""
    document_of = app.openapi

    def guarded() -> dict:
        document = document_of()
        for operations in document.get("paths", {}).values():
            for method, operation in operations.items():
                codes = (401, 421) if method.upper() in SAFE_METHODS else (401, 403, 413, 421)
                answers = operation.setdefault("responses", {})
                for code in codes:
                    answers.setdefault(str(code), {
                        "description": GUARD_ANSWERS[code],
                        "content": {"application/json": {
                            "schema": {"$ref": f"#/components/schemas/{ErrorAnswer.__name__}"}}}})
        return document

    app.openapi = guarded  # type: ignore[method-assign]


def _with_headers(send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", ())}
            extra = [pair for pair in SECURITY_HEADERS if pair[0] not in present]
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return send_with_headers


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", ())}


def _host_name(host: str) -> str:
    """`host[:port]` or `[v6]:port` -> the name or address alone, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host.rstrip(".")


def _same_origin(origin: str | None, host: str) -> bool:
    """No Origin (not a browser) or one naming exactly this scheme-less host and port."""
    if origin is None:
        return True
    scheme, _, rest = origin.partition("://")
    return scheme in ("http", "https") and rest.lower() == host.strip().lower()


def _cookies(text: str) -> dict[str, str]:
    pairs = (part.strip().partition("=") for part in text.split(";"))
    return {name: value for name, _, value in pairs if name}


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def _cookie_value(token: str) -> str:
    """What the cookie holds: derived from the token, so the cookie never carries the token."""
    return hmac.new(token.encode(), b"shadercam login cookie", hashlib.sha256).hexdigest()


def _equal(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None as soon as it passes `limit` bytes (the rest unread)."""
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        more = message["type"] == "http.request" and message.get("more_body", False)
    return body


async def _discard_body(receive: Receive, limit: int) -> None:
    """Read and drop up to `limit` bytes of the body of a request about to be refused."""
    seen, more = 0, True
    while more and seen <= limit:
        message = await receive()
        seen += len(message.get("body", b""))
        more = message["type"] == "http.request" and message.get("more_body", False)


async def _redirect(send: Send, location: str, cookie: str | None = None) -> None:
    headers = [(b"location", location.encode()), (b"content-length", b"0"),
               (b"cache-control", b"no-store")]
    if cookie:
        headers.append((b"set-cookie", cookie.encode()))
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
