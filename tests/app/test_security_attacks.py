"""Attacks on `shadercam serve` (its own process, demo model, loopback) measured from outside:
decompression bombs against its memory, endless bodies against what it reads, idle stream
clients and an exhausted descriptor table against its availability and its log."""
from __future__ import annotations

import resource
import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from attack_server import PeakRss, blank_png, peak_rise, read_status, serve_process, unit_nofile
from crafted_images import black_png, multi_scan_jpeg

MB = 1024 * 1024
RSS_BOUND = 150 * MB  # peak resident memory over idle, whatever the uploads declare


def post_png(base: str, data: bytes, name: str = "bomb.png") -> httpx.Response:
    return httpx.post(f"{base}/api/classify", files={"file": (name, data, "image/png")},
                      timeout=60)


def test_decompression_bombs_leave_memory_within_150_mb_of_idle(tmp_path):
    huge = blank_png(13000, 13000)  # 507 MB of pixels in a file of a few hundred KB
    big = [blank_png(9000, 9000) for _ in range(4)]  # 243 MB each
    largest = blank_png(4000, 4000)  # 16 MP: the most the default budget decodes
    assert len(huge) < 2 * MB and all(len(b) < MB for b in big)
    with serve_process(tmp_path, server_uploads_per_minute="6000") as served:
        assert post_png(served.base, blank_png(640, 480)).status_code == 200  # warm up
        idle = served.process.memory_info().rss
        with PeakRss(served.process) as alone:
            answer = post_png(served.base, huge)
        with ThreadPoolExecutor(4) as pool, PeakRss(served.process) as together:
            answers = list(pool.map(lambda data: post_png(served.base, data), big))
        with PeakRss(served.process) as at_limit:
            accepted = post_png(served.base, largest)
    print(f"\nidle RSS {idle / MB:.0f} MB; peak over idle: 13000x13000 PNG "
          f"{(alone.peak - idle) / MB:.1f} MB, four 9000x9000 PNG at once "
          f"{(together.peak - idle) / MB:.1f} MB, one 4000x4000 PNG (decoded) "
          f"{(at_limit.peak - idle) / MB:.1f} MB; bound {RSS_BOUND // MB} MB")
    assert answer.status_code == 413 and "13000x13000" in answer.json()["detail"]
    assert [a.status_code for a in answers] == [413] * 4
    assert accepted.status_code == 200 and accepted.json()["origin"] == "upload"
    assert alone.peak - idle < RSS_BOUND
    assert together.peak - idle < RSS_BOUND
    assert at_limit.peak - idle < RSS_BOUND


def test_pictures_whose_decoders_hold_far_more_than_their_pixels_leave_memory_within_150_mb(
        tmp_path):
    crafted = {"multi-scan.jpg": multi_scan_jpeg(12000, 12000),  # 864 MB of coefficients
               "column.png": black_png(1, 16_000_000),  # 16 M rows, a pointer each
               "row.png": black_png(16_000_000, 1)}  # rows of 48 MB, two held
    with serve_process(tmp_path, server_uploads_per_minute="6000") as served:
        assert post_png(served.base, blank_png(640, 480)).status_code == 200  # warm up
        answers = {name: peak_rise(served.process, lambda: post_png(served.base, data, name))
                   for name, data in crafted.items()}
        assert httpx.get(f"{served.base}/api/health").json()["status"] == "ok"
    print("\npeak RSS over idle: " + ", ".join(f"{name} ({len(crafted[name]) // 1024} KB) "
                                              f"{answer.status_code} {rise / MB:.1f} MB"
                                              for name, (answer, rise) in answers.items()))
    for name, (answer, rise) in answers.items():
        assert rise <= RSS_BOUND, (name, answer.status_code, rise / MB)
        assert answer.status_code == 413, (name, answer.text)


def multipart_head(port: int, extra: str = "") -> bytes:
    return (f"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}"
            "Content-Type: multipart/form-data; boundary=BOUNDARY\r\n\r\n").encode()


FILE_PART = (b'--BOUNDARY\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
             b"Content-Type: image/png\r\n\r\n")



def send_until_answered(port: int, extra_headers: str) -> tuple[int | None, int]:
    """POST a 1 GB multipart body in 64 KiB blocks, stopping as soon as the server answers;
    returns the answer's status and how many body bytes were sent, an upper bound on what the
    server can have read."""
    block = bytes(64 * 1024)
    chunked = "chunked" in extra_headers
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        sock.sendall(multipart_head(port, extra_headers))
        sent = 0
        sock.settimeout(10)
        try:
            while sent < 1 << 30:
                if select.select([sock], [], [], 0)[0]:
                    break  # the answer is there: the server stopped reading
                data = FILE_PART if sent == 0 else block
                sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data)
                sent += len(data)
        except OSError:
            pass  # the server closed the connection while we were still sending
        return read_status(sock), sent


def test_announced_1_gb_body_is_refused_before_any_of_it_is_read(tmp_path):
    with serve_process(tmp_path) as served:
        status, sent = send_until_answered(served.port, f"Content-Length: {1 << 30}\r\n")
    print(f"\n1 GB announced: answer {status} after the client sent {sent / 1024:.0f} KiB")
    assert status == 413 and sent < 1 * MB


def test_streamed_1_gb_body_is_refused_before_10_mb_are_read(tmp_path):
    with serve_process(tmp_path) as served:
        status, sent = send_until_answered(served.port, "Transfer-Encoding: chunked\r\n")
    print(f"\n1 GB streamed (chunked): answer {status} after the client sent {sent / MB:.1f} MB")
    assert status in (413, None) and sent < 10 * MB


def raise_own_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"this test opens {needed} sockets; the hard file-descriptor limit here is "
                    f"{hard} (raise it with ulimit -Hn)")
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def open_idle_streams(port: int, count: int) -> list[socket.socket]:
    """Clients that ask for the MJPEG stream and then never read a byte of it."""
    clients = []
    for _ in range(count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        clients.append(sock)
    return clients


def test_1100_idle_stream_clients_leave_health_answering(tmp_path):
    raise_own_fd_limit(1400)
    # all from 127.0.0.1: the connection caps (test_connection_flood.py) are raised out of the way
    with serve_process(tmp_path, nofile=unit_nofile(), server_client_timeout_s="3",
                       server_max_connections="2000",
                       server_max_connections_per_address="2000") as served:
        clients = open_idle_streams(served.port, 1100)
        try:
            latencies, stream_clients = [], None
            # until the stuck streams are dropped: socket buffers take some seconds of
            # frames first, then server.client_timeout_s runs out
            deadline = time.monotonic() + 60
            while stream_clients != 0 and time.monotonic() < deadline:
                started = time.monotonic()
                health = httpx.get(f"{served.base}/api/health", timeout=10)
                latencies.append(time.monotonic() - started)
                assert health.status_code == 200 and health.json()["status"] == "ok"
                stream_clients = httpx.get(f"{served.base}/api/stats",
                                           timeout=10).json()["clients"]["stream"]
                assert stream_clients <= 8  # server.max_stream_clients
                time.sleep(0.5)
            assert stream_clients == 0, "idle stream clients were not dropped:\n" + \
                "\n".join(served.log_text().splitlines()[-20:])
            refused = sum(read_status(sock, 0.5) == 503 for sock in clients[-50:])
        finally:
            for sock in clients:
                sock.close()
        log = served.log_text()
    print(f"\n1100 idle streams: /api/health answered {len(latencies)} times, slowest in "
          f"{max(latencies):.2f} s; {refused} of the last 50 clients got 503; "
          f"{len(log.splitlines())} log lines")
    assert max(latencies) < 5.0
    assert refused == 50
    assert "Traceback" not in log


def test_exhausted_descriptors_are_logged_once_and_the_service_recovers(tmp_path):
    raise_own_fd_limit(1000)
    # connection caps above the descriptor limit, as if misconfigured: it runs out anyway
    with serve_process(tmp_path, nofile=256, server_max_connections="1000",
                       server_max_connections_per_address="1000") as served:
        clients = []
        for _ in range(400):  # connections that say nothing, more than the server can hold
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", served.port))
            clients.append(sock)
        time.sleep(4)  # the event loop retries accept() about once a second meanwhile
        for sock in clients:
            sock.close()
        health = None
        deadline = time.monotonic() + 15
        while health is None and time.monotonic() < deadline:
            try:
                health = httpx.get(f"{served.base}/api/health", timeout=3)
            except httpx.HTTPError:
                time.sleep(0.3)
        log = served.log_text()
    accept_lines = [line for line in log.splitlines() if "accept" in line]
    print(f"\nfd exhaustion: {len(accept_lines)} accept() lines in the log: {accept_lines}")
    assert health is not None and health.status_code == 200
    assert len(accept_lines) == 1  # unfiltered: one traceback per retry, about every second
    assert "Traceback" not in log
