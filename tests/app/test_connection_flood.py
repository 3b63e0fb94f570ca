"""Connections that never finish their request against `shadercam serve` (its own process
with the unit's descriptor limit, an access token and the files camera, on loopback): the
attacker's connections come from other loopback addresses than the token holder's, and
each must make progress or be closed, within caps far below the descriptor limit."""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import httpx
import psutil
import pytest

from app.api.connections import address_key
from attack_server import serve_process, unit_nofile
from test_security_attacks import raise_own_fd_limit

TOKEN = "flood-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HEAD_TIMEOUT_S = 3.0  # server.head_timeout_s here (default 10), to keep the test short
FLOOD = 4200  # more connections than the unit's LimitNOFILE=4096


@pytest.fixture
def pictures(tmp_path):
    from PIL import Image

    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, colour in enumerate(("red", "green", "blue")):
        Image.new("RGB", (160, 120), colour).save(folder / f"{i}.png")
    return folder


def half_open(port: int, address: str, kind: int) -> socket.socket:
    """A connection from `address` that never finishes its request: it sends nothing, half a
    request line, or a request head and 100 bytes of the 1 MB body it announced."""
    sock = socket.socket()
    sock.setblocking(False)
    sock.bind((address, 0))
    sock.connect_ex(("127.0.0.1", port))
    sent = [b"", b"GET /api/stats HT",
            b"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + bytes(100)][kind % 3]
    if sent:
        try:
            sock.send(sent)
        except OSError:
            pass  # not connected yet (the server's backlog is full) or already refused
    return sock


@dataclass
class Probe:
    """A token holder asking for health and stats every 0.2 s on new connections, and the
    service's open descriptors sampled meanwhile."""

    base: str
    process: psutil.Process
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    captured: list[int] = field(default_factory=list)
    peak_fds: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                health = httpx.get(f"{self.base}/api/health", headers=AUTH, timeout=10)
                stats = httpx.get(f"{self.base}/api/stats", headers=AUTH, timeout=10)
                self.latencies.append(time.monotonic() - started)
                if health.status_code != 200 or stats.status_code != 200:
                    self.failures.append(f"{health.status_code} {stats.status_code}")
                elif health.json()["camera"]["state"] != "running":
                    self.failures.append(f"camera {health.json()['camera']}")
                else:
                    self.captured.append(stats.json()["frames"]["captured"])
            except httpx.HTTPError as exc:
                self.failures.append(f"{type(exc).__name__} after "
                                     f"{time.monotonic() - started:.1f} s")
            self.peak_fds = max(self.peak_fds, self.process.num_fds())
            time.sleep(0.2)


def flood_and_hold(port: int, addresses: list[str]) -> list[list[socket.socket]]:
    """Two waves of FLOOD half-open connections (the second as if the attacker reopened what
    the service closed), each held for longer than the head deadline; all closed after."""
    waves = []
    for _ in range(2):
        for sock in waves[-1] if waves else ():
            sock.close()
        waves.append([half_open(port, addresses[i % len(addresses)], i) for i in range(FLOOD)])
        time.sleep(HEAD_TIMEOUT_S + 3)
    return waves


def open_fds_settle(process: psutil.Process, below: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while (fds := process.num_fds()) >= below and time.monotonic() < deadline:
        time.sleep(0.2)
    return fds


@pytest.mark.parametrize("addresses", [["127.0.0.2"], [f"127.0.0.{i}" for i in range(2, 81)]],
                         ids=["one-address", "79-addresses"])
def test_a_flood_of_half_open_connections_leaves_the_service_answering(tmp_path, pictures,
                                                                        addresses):
    raise_own_fd_limit(FLOOD + 600)
    nofile = unit_nofile()
    with serve_process(tmp_path, nofile=nofile, server_token=TOKEN,
                       camera_source=f"files:{pictures}",
                       server_head_timeout_s=str(HEAD_TIMEOUT_S)) as served:
        idle_fds = served.process.num_fds()
        probe = Probe(served.base, served.process)
        prober = threading.Thread(target=probe.run)
        served.process.cpu_percent()
        prober.start()
        try:
            waves = flood_and_hold(served.port, addresses)
            cpu = served.process.cpu_percent()
            # the attacker still holds its sockets: the service has closed its ends
            held_fds = open_fds_settle(served.process, idle_fds + 20)
            for sock in waves[-1]:
                sock.close()
        finally:
            probe.stop.set()
            prober.join()
        after = httpx.get(f"{served.base}/api/health", headers=AUTH, timeout=10).json()
        log = served.log_text()
    print(f"\n{FLOOD} half-open connections twice from {len(addresses)} address(es): "
          f"{len(probe.latencies)} probes, slowest {max(probe.latencies):.2f} s, "
          f"{len(probe.failures)} failed; service descriptors: idle {idle_fds}, peak "
          f"{probe.peak_fds}, with the attacker's sockets still open {held_fds}; service CPU "
          f"{cpu:.0f} % during the flood; "
          f"{[line for line in log.splitlines() if 'closed connections' in line]}")
    assert not probe.failures, probe.failures[:10]
    assert probe.captured[-1] > probe.captured[0], "the camera stopped during the flood"
    assert probe.peak_fds < nofile // 2
    assert held_fds < idle_fds + 20, "half-open connections were not closed"
    assert after["status"] == "ok" and after["camera"]["state"] == "running", after
    assert "Too many open files" not in log and "Traceback" not in log


def closed_by_server(sock: socket.socket, within_s: float, started: float | None = None,
                     received: bytearray | None = None) -> float | None:
    """Seconds from `started` (default: now) until the server closed `sock` (what it sent
    goes to `received`), None when it was still open `within_s` after it."""
    started = time.monotonic() if started is None else started
    sock.settimeout(0.5)
    while time.monotonic() - started < within_s:
        try:
            data = sock.recv(65536)
            if received is not None:
                received += data
            if not data:
                return time.monotonic() - started
        except TimeoutError:
            continue
        except ConnectionError:
            return time.monotonic() - started
    return None


def test_slow_heads_and_bodies_are_closed_and_steady_uploads_pass(tmp_path, pictures):
    with serve_process(tmp_path, server_token=TOKEN, camera_source=f"files:{pictures}",
                       server_head_timeout_s="2", server_min_body_rate="1024") as served:
        started = time.monotonic()
        silent = socket.create_connection(("127.0.0.1", served.port))
        half_line = socket.create_connection(("127.0.0.1", served.port))
        half_line.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        kept_alive = socket.create_connection(("127.0.0.1", served.port))
        kept_alive.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = kept_alive.recv(65536)
        kept_alive.sendall(b"GET /api/hea")  # the next request on the same connection, halved
        trickle = socket.create_connection(("127.0.0.1", served.port))
        trickle.sendall(f"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        f"Authorization: Bearer {TOKEN}\r\nContent-Length: 100000\r\n"
                        "Content-Type: multipart/form-data; boundary=B0UNDARY\r\n\r\n"
                        '--B0UNDARY\r\nContent-Disposition: form-data; name="file"; '
                        'filename="p.png"\r\nContent-Type: image/png\r\n\r\n'.encode())

        def dribble() -> None:  # 50 bytes a second, far below server.min_body_rate
            try:
                for _ in range(40):
                    trickle.sendall(bytes(50))
                    time.sleep(1)
            except OSError:
                pass

        dribbler = threading.Thread(target=dribble)
        dribbler.start()
        # a real upload slower than the head deadline in all, but above the minimum rate
        picture = (pictures / "0.png").read_bytes() + bytes(30000)
        upload = threading.Thread(target=lambda: results.append(steady_upload(served.port,
                                                                              picture)))
        results: list[int] = []
        upload.start()
        try:
            trickle_got = bytearray()
            closed = {name: closed_by_server(sock, 15, started, got) for name, sock, got in
                      [("silent", silent, None), ("half line", half_line, None),
                       ("half keep-alive", kept_alive, None),
                       ("trickled body", trickle, trickle_got)]}
        finally:
            upload.join()
            dribbler.join()
            for sock in (silent, half_line, kept_alive, trickle):
                sock.close()
    print(f"\nclosed after (s): {closed}; steady upload answered {results}")
    assert answer.startswith(b"HTTP/1.1 200")
    assert all(seconds is not None for seconds in closed.values()), closed
    assert not trickle_got, trickle_got  # cut off while its body came, not answered
    assert results == [200]


def steady_upload(port: int, picture: bytes) -> int:
    """POST `picture` at about 8 KB/s (8 times server.min_body_rate); its status."""
    boundary = "B0UNDARY"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\n'
            "Content-Type: image/png\r\n\r\n").encode() + picture \
        + f"\r\n--{boundary}--\r\n".encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n"
                     f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n".encode())
        for start in range(0, len(body), 2048):
            sock.sendall(body[start:start + 2048])
            time.sleep(0.25)
        sock.settimeout(30)
        answer = sock.recv(65536)
    return int(answer.split()[1])


def websocket(port: int, address: str = "127.0.0.1") -> socket.socket | None:
    """An upgraded websocket from `address`, once its first message (hello) has come and
    nothing after it is read; None when the server refused it (over the viewer limit it is
    accepted and closed at once with 1013, so a page can tell why)."""
    sock = socket.create_connection(("127.0.0.1", port), source_address=(address, 0))
    sock.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nAuthorization: Bearer {TOKEN}\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        sock.close()
        return None
    if not rest:
        rest = sock.recv(4096)
    if rest[:1] == b"\x88":  # a close frame: code 1013, over the viewer limit
        sock.close()
        assert rest[2:4] == (1013).to_bytes(2, "big"), rest[:20]
        return None
    assert rest[:1] == b"\x81", rest[:20]  # a text frame: the hello
    return sock


def test_websockets_count_against_the_cap_and_are_released(tmp_path, pictures):
    with serve_process(tmp_path, server_token=TOKEN, camera_source=f"files:{pictures}",
                       server_max_connections_per_address="3") as served:
        url = f"{served.base}/api/health"
        for _ in range(2):  # twice: the first three were released when they closed
            sockets = [websocket(served.port) for _ in range(3)]
            assert all(sockets)
            over_cap = socket.create_connection(("127.0.0.1", served.port))
            over_cap.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            refused_after = closed_by_server(over_cap, 5)
            over_cap.close()
            with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as client:
                other = client.get(url, headers=AUTH, timeout=10)
            for sock in sockets:
                sock.close()
            deadline = time.monotonic() + 10
            while True:
                try:
                    again = httpx.get(url, headers=AUTH, timeout=5)
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, "the closed websockets were not released"
                    time.sleep(0.3)
            assert refused_after is not None and refused_after < 2, refused_after
            assert other.status_code == 200 and again.status_code == 200


def test_websocket_clients_that_read_nothing_free_their_places_within_the_client_timeout(
        tmp_path, pictures):
    # the defaults: server.max_websocket_clients = 32, server.client_timeout_s = 10
    with serve_process(tmp_path, server_token=TOKEN, camera_source=f"files:{pictures}") as served:
        stuck = [websocket(served.port, "127.0.0.2") for _ in range(32)]
        started = time.monotonic()
        try:
            assert all(stuck)
            assert websocket(served.port) is None  # all places taken
            reader = None
            while reader is None and time.monotonic() - started < 60:
                time.sleep(0.5)
                reader = websocket(served.port)
            waited = time.monotonic() - started
        finally:
            for sock in stuck + [reader]:
                if sock is not None:
                    sock.close()
    print(f"\n32 websocket clients that read nothing: a reader got in after {waited:.1f} s")
    # 10 s: pinged after 5 s, no answer 5 s later; bookworm's websockets 10.4 then waits up to
    # 10 s more for the client's closing frame (uvicorn's defaults: 40 s, and 50 s on bookworm)
    assert reader is not None and waited < 25


def test_an_ipv6_client_counts_as_its_64_network():
    # one host may take any address of its /64 (privacy addresses): per-address caps count it
    assert address_key(("2001:db8:1:2:aaaa::1", 80, 0, 0)) == "2001:db8:1:2::/64"
    assert address_key(("2001:db8:1:2:bbbb::9", 81, 0, 0)) == "2001:db8:1:2::/64"
    assert address_key(("2001:db8:1:3::1", 82, 0, 0)) == "2001:db8:1:3::/64"
    assert address_key(("fe80::1%eth0", 83, 0, 2)) == "fe80::/64"
    assert address_key(("::ffff:192.0.2.7", 84, 0, 0)) == "192.0.2.7"
    assert address_key(("192.0.2.7", 85)) == "192.0.2.7"
