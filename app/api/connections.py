"""Every connection makes progress or is closed, and no client can take all of them.

uvicorn reads a request's head and body without any deadline and accepts every connection
until the process runs out of file descriptors, so a few thousand connections that send
nothing (or half a request) would lock everyone out: the camera, the GPU and the token
holders included. `ConnectionGuard` plugs into uvicorn as its HTTP protocol
(`uvicorn.Config(..., **guard.uvicorn_options())`) and enforces:

- a request's head (request line and headers) arrives within `head_timeout_s` of the
  connection opening or of the previous answer being sent;
- a request's body arrives at `min_body_rate` bytes per second or more; it may fall behind
  by `head_timeout_s` seconds' worth, and time the server itself is not reading (its flow
  control waits for the application) does not count;
- each client address (an IPv6 client's /64 network) holds at most
  `max_per_address` connections; a connection beyond that is closed at once;
- all clients together hold at most `max_total` connections, far below the descriptor
  limit, so accept() never fails. At the cap, a new connection closes the oldest connection
  still waiting for its request head of the address that has the most of them (the
  flooders' own, not a real client's fresh one); when none waits, the new one is closed.

Websocket connections count too; once upgraded, the websocket protocol's pings time them
out (a client that reads nothing answers none: it is closed within twice `ws_ping_s`, not
the 20-40 s of uvicorn's defaults; websockets 10.4 on bookworm then waits up to 10 s for the
client's closing frame), and the guard releases them when their transport closes.
Works with uvicorn 0.17 (Debian bookworm) and the newest, with its h11 and httptools
protocols.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import Counter, OrderedDict
from typing import Any

log = logging.getLogger(__name__)

ACCEPT_BATCH = 128  # connections accepted per event-loop turn, and the listen() backlog
REPORT_INTERVAL_S = 60.0  # closed and refused connections are summed up in one log line


class ConnectionGuard:
    """Admits, times and releases the connections of one server (one event loop)."""

    def __init__(self, max_total: int, max_per_address: int, head_timeout_s: float,
                 min_body_rate: float, ws_ping_s: float) -> None:
        self.max_total = max_total
        self.max_per_address = max_per_address
        self.head_timeout_s = head_timeout_s
        self.min_body_rate = min_body_rate
        self.ws_ping_s = ws_ping_s
        self.tick_s = min(1.0, head_timeout_s / 4)
        self.open: dict[_Guarded, str] = {}  # connection -> its client's address key
        self.per_address: Counter[str] = Counter()
        # address -> its connections waiting for a request head, oldest first
        self.waiting: dict[str, OrderedDict[_Guarded, None]] = {}
        self.closed: Counter[str] = Counter()  # reason -> connections since the last report
        self._last_report = -REPORT_INTERVAL_S
        self._timer: asyncio.TimerHandle | None = None
        self._last_tick = 0.0

    @classmethod
    def from_config(cls, config: Any, fd_limit: int) -> ConnectionGuard:
        """The guard of `server.*` settings (websockets pinged every half of
        `server.client_timeout_s`, with as long to answer); warns when its total cap leaves
        less than half of the process's `fd_limit` descriptors to the camera, the GPU and the
        outputs."""
        if config.server_max_connections > fd_limit // 2:
            log.warning("server.max_connections (%d) is more than half of the file-descriptor "
                        "limit (%d): a flood of connections can starve the camera and the GPU",
                        config.server_max_connections, fd_limit)
        return cls(config.server_max_connections, config.server_max_connections_per_address,
                   config.server_head_timeout_s, config.server_min_body_rate,
                   config.server_client_timeout_s / 2)

    def uvicorn_options(self) -> dict[str, Any]:
        """`uvicorn.Config` arguments that put this guard in front of every connection.
        asyncio accepts up to `backlog` connections before any reaches the guard (uvicorn's
        default, 2048, would overshoot the descriptor limit by itself), so that is small."""
        return {"http": self.protocol(), "backlog": ACCEPT_BATCH,
                "ws_ping_interval": self.ws_ping_s, "ws_ping_timeout": self.ws_ping_s}

    def protocol(self) -> type[asyncio.Protocol]:
        """The HTTP protocol class uvicorn picks by itself (httptools when installed, else
        h11), guarded by this guard, for `uvicorn.Config(http=...)`."""
        from uvicorn.protocols.http.auto import AutoHTTPProtocol as base

        return type(f"Guarded{base.__name__}", (_Guarded, base), {"guard": self})

    # --- called by the protocol -------------------------------------------------------
    def admit(self, conn: _Guarded, transport: asyncio.Transport) -> bool:
        """Count a new connection, making room at the total cap; False: close it."""
        address = address_key(transport.get_extra_info("peername"))
        if self.per_address[address] >= self.max_per_address:
            self._note(f"over the cap of {self.max_per_address} from one address")
            return False
        if len(self.open) >= self.max_total and not self._evict():
            self._note(f"over the total cap of {self.max_total}, none waiting for a head")
            return False
        self.open[conn] = address
        self.per_address[address] += 1
        self._schedule()
        return True

    def release(self, conn: _Guarded) -> None:
        """Forget a closed connection (again: nothing)."""
        address = self.open.pop(conn, None)
        if address is None:
            return
        self._unwait(conn, address)
        self.per_address[address] -= 1
        if not self.per_address[address]:
            del self.per_address[address]

    def update(self, conn: _Guarded) -> None:
        """Re-file a connection after uvicorn handled its data or finished an answer."""
        address = self.open.get(conn)
        if address is None:
            return
        queue = self.waiting.get(address)
        if conn.guard_phase() == "head":
            if queue is None or conn not in queue:
                conn.guard_since = time.monotonic()
                self.waiting.setdefault(address, OrderedDict())[conn] = None
        elif queue is not None and conn in queue:
            self._unwait(conn, address)

    # --- inside ---------------------------------------------------------------------
    def _unwait(self, conn: _Guarded, address: str) -> None:
        queue = self.waiting.get(address)
        if queue is not None:
            queue.pop(conn, None)
            if not queue:
                del self.waiting[address]

    def _evict(self) -> bool:
        if not self.waiting:
            return False
        address = max(self.waiting, key=lambda key: len(self.waiting[key]))
        victim = next(iter(self.waiting[address]))
        self._note(f"waiting for a request head, for a new one at the total cap of "
                   f"{self.max_total}")
        self._close(victim)
        return True

    def _close(self, conn: _Guarded) -> None:
        self.release(conn)
        conn.transport.abort()  # at once: the descriptor is free before the next accept()

    def _schedule(self) -> None:
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._last_tick = loop.time()
            self._timer = loop.call_later(self.tick_s, self._tick)

    def _tick(self) -> None:
        """Once per tick while connections are open: close the ones that made no progress."""
        self._timer = None
        now_loop = asyncio.get_running_loop().time()
        elapsed, self._last_tick = now_loop - self._last_tick, now_loop
        now = time.monotonic()
        allowed_deficit = self.min_body_rate * self.head_timeout_s
        for conn in list(self.open):
            transport = conn.transport
            if transport.is_closing():  # an upgraded websocket's end, or closed meanwhile
                self.release(conn)
                continue
            phase = conn.guard_phase()
            if phase == "head" and now - conn.guard_since > self.head_timeout_s:
                self._note(f"no request head within {self.head_timeout_s:g} s")
                self._close(conn)
            elif phase == "body" and transport.is_reading():
                conn.guard_deficit += elapsed * self.min_body_rate
                if conn.guard_deficit > allowed_deficit:
                    self._note(f"request body slower than {self.min_body_rate:g} bytes/s")
                    self._close(conn)
            else:
                conn.guard_deficit = 0.0
        if self.open:
            self._schedule()

    def _note(self, reason: str) -> None:
        """Count a closed connection; the first is logged at once, then one line a minute
        at most sums them up (a flood would otherwise fill the journal)."""
        self.closed[reason] += 1
        now = time.monotonic()
        if now - self._last_report >= REPORT_INTERVAL_S:
            log.warning("closed connections (%s)", "; ".join(
                f"{count} {reason}" for reason, count in self.closed.items()))
            self.closed.clear()
            self._last_report = now


class _Guarded(asyncio.Protocol):
    """Mixed in before uvicorn's H11Protocol or HttpToolsProtocol (see
    `ConnectionGuard.protocol`); uses only what both have had since uvicorn 0.17: `transport`,
    `cycle` (with `more_body` and `response_complete`) and `on_response_complete`."""

    guard: ConnectionGuard
    transport: asyncio.Transport
    cycle: Any
    guard_since = 0.0
    guard_deficit = 0.0  # body bytes behind the minimum rate

    def guard_phase(self) -> str:
        """"upgraded" (a websocket now), "head" (waiting for a request head), "body"
        (receiving a request body) or "busy" (the application answers)."""
        if self.transport.get_protocol() is not self:
            return "upgraded"
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return "head"
        return "body" if cycle.more_body else "busy"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[arg-type]
        if self.guard.admit(self, transport):  # type: ignore[arg-type]
            self.guard.update(self)
        else:
            transport.abort()

    def data_received(self, data: bytes) -> None:
        self.guard_deficit = max(0.0, self.guard_deficit - len(data))
        super().data_received(data)  # type: ignore[misc]
        self.guard.update(self)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self.guard.update(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.release(self)
        super().connection_lost(exc)


def address_key(peername: Any) -> str:
    """The address a cap counts: the IPv4 address, or an IPv6 client's /64 network (one host
    can use any address of its /64)."""
    if not isinstance(peername, tuple) or not peername:
        return "local"
    try:
        address = ipaddress.ip_address(peername[0].split("%", 1)[0])
    except ValueError:
        return str(peername[0])
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
