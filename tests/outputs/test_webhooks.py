"""Webhooks from the running service to real HTTP servers on loopback: JSON or multipart with
the snapshot, and a failing and a stuck receiver that hold up neither the good one nor the
classifier, with their failures counted and their tokens kept out of health and logs; and a
receiver that answers a byte at a time, cut at the whole-request deadline."""
from __future__ import annotations

import contextlib
import email.parser
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from PIL import Image

from serving import engine_up, running_service, wait_for


@contextlib.contextmanager
def receiver(status: int = 200, hold: threading.Event | None = None):
    """An HTTP server recording each POST (headers, body); `hold` keeps it from answering."""
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            if hold is not None:
                hold.wait(30)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with serving(Handler, release=hold) as url:
        yield url, received


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler], release: threading.Event | None = None):
    """`handler` on a loopback port in a thread, quiet; yields its URL. `release` is set before
    the server shuts down, so handlers waiting on it let go."""
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        if release is not None:
            release.set()
        server.shutdown()
        server.server_close()


def parts(headers: dict[str, str], body: bytes) -> dict[str, tuple[str, bytes]]:
    message = email.parser.BytesParser().parsebytes(
        f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + body)
    return {part.get_param("name", header="content-disposition"):
            (part.get_content_type(), part.get_payload(decode=True))
            for part in message.get_payload()}


def test_webhooks_send_events_and_bad_receivers_hold_up_nothing(demo_model, shape_schedule,
                                                                caplog):
    folder, _ = shape_schedule
    stuck = threading.Event()
    with receiver() as (good_url, good), receiver(500) as (failing_url, failing), \
            receiver(hold=stuck) as (slow_url, slow):
        urls = [f"{good_url}/hook", f"{failing_url}/hook?token=SECRET-1",
                f"http://user:SECRET-2@{slow_url[7:]}/hook"]
        with running_service(demo_model, camera_source=f"files:{folder}", camera_fps=8,
                             events_start_frames=2, events_end_s=0.3, events_cooldown_s=0,
                             webhooks_urls=urls, webhooks_timeout_s=1.0, webhooks_retries=1,
                             webhooks_backoff_s=0.1, webhooks_snapshot=True) as run, \
                httpx.Client(base_url=run.base, timeout=20) as http:
            engine_up(run)

            def posted():
                return [json.loads(parts(*r)["event"][1]) for r in good]

            # the good receiver gets starts and ends while the slow one answers none
            wait_for(lambda: sum(p["type"] == "end" for p in posted()) >= 3, timeout=60)
            assert slow and not stuck.is_set()
            assert slow[0][0]["Authorization"] == "Basic dXNlcjpTRUNSRVQtMg=="  # user:SECRET-2
            headers, body = good[0]
            assert headers["Content-Type"].startswith("multipart/form-data; boundary=")
            event_part, snapshot_part = parts(headers, body)["event"], parts(headers, body)["snapshot"]
            assert event_part[0] == "application/json" and snapshot_part[0] == "image/jpeg"
            with Image.open(io.BytesIO(snapshot_part[1])) as image:
                assert image.format == "JPEG"
            ids = {}
            for post in posted():
                ids.setdefault(post["event"]["id"], []).append(post["type"])
            assert any(kinds == ["start", "end"] for kinds in ids.values()), ids

            def webhooks():
                return http.get("/api/health").json()["outputs"]["webhooks"]

            status = wait_for(lambda: webhooks()["urls"][1]["failed"] >= 2 and
                              webhooks()["urls"][2]["failed"] >= 1 and webhooks(), timeout=60)
            assert status["state"] == "error" and len(failing) >= 2 * status["urls"][1]["failed"]
            good_status, failing_status, slow_status = status["urls"]
            assert good_status["sent"] >= 6 and good_status["failed"] == 0
            assert failing_status["url"] == f"{failing_url}/hook"
            assert "HTTP 500" in failing_status["error"]
            assert slow_status["sent"] == 0 and "timed out" in slow_status["error"]
            assert "SECRET" not in json.dumps(status) and "SECRET" not in caplog.text
            assert http.get("/api/health").json()["status"] == "degraded"
            assert run.service.worker.frames_failed == 0


@contextlib.contextmanager
def trickling_receiver(trickle: threading.Event):
    """An HTTP server that, while `trickle` is set, answers each POST one byte every 0.2 s
    (a header line that never ends: each read gets its byte well within any per-read
    timeout), and otherwise at once with 200; yields its URL and the POSTs' arrival times."""
    arrived: list[float] = []
    closing = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            arrived.append(time.monotonic())
            if not trickle.is_set():
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slowly: ")
                while trickle.is_set() and not closing.wait(0.2):
                    self.wfile.write(b"x")
            except OSError:  # the sender gave up and shut the connection
                pass
            self.close_connection = True

    with serving(Handler, release=closing) as url:
        yield url, arrived


def test_a_trickling_receiver_is_cut_at_the_deadline_degrades_health_and_recovers(
        demo_model, shape_schedule):
    folder, _ = shape_schedule
    trickle = threading.Event()
    trickle.set()
    with trickling_receiver(trickle) as (url, arrived), \
            running_service(demo_model, camera_source=f"files:{folder}", camera_fps=8,
                            events_start_frames=2, events_end_s=0.3, events_cooldown_s=0,
                            webhooks_urls=[f"{url}/hook"], webhooks_timeout_s=1.0,
                            webhooks_retries=0, webhooks_backoff_s=0.1) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        engine_up(run)

        def webhooks():
            return http.get("/api/health").json()["outputs"]["webhooks"]

        # each POST is cut at its deadline: health says so, and the sender goes on to the next
        wait_for(lambda: arrived, timeout=60)
        stuck = wait_for(lambda: webhooks()["state"] == "error" and webhooks(), timeout=20,
                         seen=webhooks)
        assert "timed out: no complete answer within 1 s" in stuck["urls"][0]["error"]
        assert http.get("/api/health").json()["status"] == "degraded"
        wait_for(lambda: len(arrived) >= 3 and webhooks()["urls"][0]["failed"] >= 2,
                 timeout=60, seen=webhooks)
        assert webhooks()["urls"][0]["sent"] == 0

        # the receiver answers again: the next POST goes through and the output is ok
        trickle.clear()
        recovered = wait_for(lambda: webhooks()["urls"][0]["sent"] >= 1 and webhooks(),
                             timeout=60, seen=webhooks)
        assert recovered["state"] == "ok" and recovered["urls"][0]["error"] is None
        wait_for(lambda: http.get("/api/health").json()["status"] == "ok", timeout=30)
        assert run.service.worker.frames_failed == 0
