"""Webhooks from the running service to real HTTP servers on loopback: JSON or multipart with
the snapshot, and a failing and a stuck receiver that hold up neither the good one nor the
classifier, with their failures counted and their tokens kept out of health and logs."""
from __future__ import annotations

import contextlib
import email.parser
import io
import json
import threading
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

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        if hold is not None:
            hold.set()
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
