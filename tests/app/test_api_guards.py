"""Hostile and careless clients against `shadercam serve` (its own process, demo model,
loopback): uploads refused before their bodies are read, a full websocket, a huge login form,
NaN settings and guessed tokens. (Websocket clients that never read: test_connection_flood.)"""
from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import threading
import time
from pathlib import Path

import httpx
import psutil
import websockets

from attack_server import read_status, serve_process
from serving import wait_for

MB = 1024 * 1024
TOKEN = "correct-horse-battery-staple-42"
UPLOAD_MB = 8
MAX_IN_FLIGHT = 4  # app.api.uploads.MAX_IN_FLIGHT: the uploads the service holds at once
BOUNDARY = "BOUNDARY"
FILE_HEAD = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
             f'filename="x.jpg"\r\nContent-Type: image/jpeg\r\n\r\n').encode()
FILE_TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


def upload_head(port: int, body_bytes: int) -> bytes:
    return (f"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {body_bytes}\r\n\r\n").encode()



class SpoolWatch:
    """Samples the bytes a process holds in files under `folder` (open, even deleted: the
    multipart parser's temporary files have no name)."""

    def __init__(self, process: psutil.Process, folder: Path) -> None:
        self.process, self.folder = process, str(folder)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def held(self) -> int:
        total = 0
        fds = Path(f"/proc/{self.process.pid}/fd")
        for fd in fds.iterdir():
            try:
                if os.readlink(fd).startswith(self.folder):
                    total += os.stat(fd).st_size
            except OSError:
                pass  # closed meanwhile
        return total

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.held())
            time.sleep(0.005)

    def __enter__(self) -> SpoolWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_uploads_beyond_the_rate_limit_and_busy_check_are_refused_before_their_bodies_are_read(
        tmp_path, monkeypatch):
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setenv("TMPDIR", str(spool))  # where the service's multipart parser spools
    body_bytes = len(FILE_HEAD) + UPLOAD_MB * MB + len(FILE_TAIL)
    with serve_process(tmp_path, server_max_upload_mb=str(UPLOAD_MB + 1)) as served, \
            SpoolWatch(served.process, spool) as watch:
        # 40 uploads at once, each sending its head and the first 64 KB of its 8 MB body
        clients = []
        for _ in range(40):
            sock = socket.create_connection(("127.0.0.1", served.port))
            sock.sendall(upload_head(served.port, body_bytes) + FILE_HEAD + bytes(64 * 1024))
            clients.append(sock)
        # the refused are answered at once; the admitted wait for the rest of their body
        # (briefly: a stalled body is closed by the connection guard's minimum rate)
        early, pending = {}, set(clients)
        deadline = time.monotonic() + 3.0
        while pending and time.monotonic() < deadline:
            for sock in select.select(list(pending), [], [], 0.1)[0]:
                early[sock] = read_status(sock, 5.0)
                pending.discard(sock)
        refused = list(early.values())
        admitted = list(pending)
        # the admitted ones send the rest: they are read, spooled and answered
        for sock in admitted:
            sock.settimeout(60)
            sock.sendall(bytes(UPLOAD_MB * MB - 64 * 1024) + FILE_TAIL)
        late = [read_status(sock, 60.0) for sock in admitted]
        for sock in clients:
            sock.close()
        health = httpx.get(f"{served.base}/api/health", timeout=10).json()["status"]
    print(f"\n40 parallel {UPLOAD_MB} MB uploads: {len(refused)} refused before their bodies "
          f"({refused.count(429)} x 429, {refused.count(503)} x 503), {len(admitted)} read "
          f"({late}); peak spooled {watch.peak / MB:.1f} MB")
    assert set(refused) <= {429, 503} and refused.count(429) >= 30, refused
    assert 1 <= len(admitted) <= MAX_IN_FLIGHT
    assert all(status is not None and status < 500 for status in late), late
    assert watch.peak <= len(admitted) * body_bytes, watch.peak
    assert health == "ok"


def test_a_full_server_accepts_the_websocket_and_closes_it_with_1013(tmp_path):
    with serve_process(tmp_path, server_max_websocket_clients="1") as served:
        url = f"ws://127.0.0.1:{served.port}/ws"

        async def main() -> websockets.exceptions.ConnectionClosed:
            async with websockets.connect(url) as first:
                assert json.loads(await first.recv())["type"] == "hello"
                async with websockets.connect(url) as second:  # the handshake succeeds
                    try:
                        await asyncio.wait_for(second.recv(), 10)
                    except websockets.exceptions.ConnectionClosed as closed:
                        return closed
            raise AssertionError("the second viewer got a message")

        closed = asyncio.run(main())
    code, reason = (closed.rcvd.code, closed.rcvd.reason) if hasattr(closed, "rcvd") \
        else (closed.code, closed.reason)
    assert code == 1013 and reason == "viewer limit reached"


def test_login_refuses_a_large_body_before_reading_it(tmp_path):
    with serve_process(tmp_path, server_token=TOKEN) as served:
        for framing in (f"Content-Length: {4 << 30}\r\n", "Transfer-Encoding: chunked\r\n"):
            with socket.create_connection(("127.0.0.1", served.port)) as sock:
                sock.sendall((f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
                              f"Content-Type: application/x-www-form-urlencoded\r\n{framing}"
                              "\r\n").encode())
                if "chunked" in framing:  # 8 KB of a form that never ends
                    sock.sendall(b"2000\r\n" + b"a=" + bytes(8190) + b"\r\n")
                assert read_status(sock, 10) == 413, framing


def test_nan_and_infinity_in_settings_are_refused_with_422(tmp_path):
    with serve_process(tmp_path) as served:
        for body in ('{"threshold": NaN}', '{"threshold": Infinity}', '{"smoothing": NaN}',
                     '{"threshold": -Infinity}', '{"threshold": "NaN"}'):
            answer = httpx.put(f"{served.base}/api/settings", content=body, timeout=10,
                               headers={"Content-Type": "application/json"})
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["errors"][0]["field"].startswith("body."), answer.text
        assert httpx.get(f"{served.base}/api/health", timeout=10).json()["status"] == "ok"


def from_address(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def test_wrong_tokens_are_throttled_per_address(tmp_path):
    with serve_process(tmp_path, server_token=TOKEN) as served:
        url = f"{served.base}/api/latest"

        def guess(number: int) -> httpx.Response:
            with from_address("127.0.0.2") as http:
                return http.get(url, headers={"Authorization": f"Bearer guess-{number}"})

        answers: list[httpx.Response] = []
        guesses = [threading.Thread(target=lambda n=n: answers.append(guess(n)))
                   for n in range(40)]
        for thread in guesses:
            thread.start()
        # the guesses are in once one is refused unchecked: ten answered, ten waiting, the rest 429
        wait_for(lambda: any(answer.status_code == 429 for answer in list(answers)))
        timed = {}
        for name, address in (("elsewhere", "127.0.0.3"), ("same", "127.0.0.2")):
            with from_address(address) as http:
                start = time.monotonic()
                answer = http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
                timed[name] = answer.status_code, time.monotonic() - start
        for thread in guesses:
            thread.join(60)
    statuses = sorted(answer.status_code for answer in answers)
    print(f"\n40 parallel wrong tokens from one address: {statuses.count(401)} x 401, "
          f"{statuses.count(429)} x 429; the right token then: {timed}")
    assert set(statuses) == {401, 429} and statuses.count(429) >= 15, statuses
    assert all(int(a.headers["retry-after"]) >= 1 for a in answers if a.status_code == 429)
    assert all(a.json()["detail"] for a in answers)
    # from another address the right token is checked at once; from the guessing address it
    # is not let in at once: it waits behind the guesses (about 10 s of them), or is refused
    # unchecked while they fill the queue
    assert timed["elsewhere"][0] == 200 and timed["elsewhere"][1] < 3.0, timed
    status, seconds = timed["same"]
    assert status == 429 or (status == 200 and seconds > 4.0), timed
