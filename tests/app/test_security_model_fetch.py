"""`shadercam model install` fetches only over http(s): other URL schemes are refused outright,
and a download server cannot redirect it to file://, ftp:// or anything else."""
from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator

import pytest

from app.cli import main
from attack_server import DEMO_MODEL

DEMO_SHA = hashlib.sha256(DEMO_MODEL.read_bytes()).hexdigest()


class _Redirects(http.server.BaseHTTPRequestHandler):
    """/to/<url-encoded target>: a 302 there; /model.chunks: the demo model."""

    def do_GET(self) -> None:  # noqa: N802 - name fixed by http.server
        if self.path.startswith("/to/"):
            self.send_response(302)
            self.send_header("Location", self.path[len("/to/"):])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/model.chunks":
            body = DEMO_MODEL.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def redirector() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirects)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def store(tmp_path, monkeypatch):
    folder = tmp_path / "store"
    monkeypatch.setenv("SHADERCAM_MODEL_STORE", str(folder))
    return folder


@pytest.mark.parametrize("source", ["file:///etc/passwd", "ftp://127.0.0.1/model.chunks",
                                    "gopher://127.0.0.1/x", "FILE:///etc/shadow"])
def test_other_url_schemes_are_refused_even_with_a_checksum(store, capsys, source):
    assert main(["model", "install", source, "--sha256", "a" * 64]) == 1
    err = capsys.readouterr().err
    assert "only http:// and https:// URLs or local files" in err and "Traceback" not in err
    assert not store.exists() or not [p for p in store.iterdir() if p.suffix == ".chunks"]


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/model.chunks", "file:///etc/passwd",
                                    "data:,not-a-model"])
def test_a_redirect_away_from_http_is_not_followed(store, redirector, capsys, target):
    assert main(["model", "install", f"{redirector}/to/{target}", "--sha256", DEMO_SHA]) == 1
    err = capsys.readouterr().err
    assert f"redirected to {target.split(':')[0]}:, refused" in err and "Traceback" not in err
    assert not [p for p in store.iterdir() if p.suffix == ".chunks"]


def test_a_redirect_to_http_is_followed(store, redirector, capsys):
    url = f"{redirector}/to/{redirector}/model.chunks"
    assert main(["model", "install", url, "--sha256", DEMO_SHA, "--name", "moved"]) == 0
    assert (store / "moved.chunks").read_bytes() == DEMO_MODEL.read_bytes()
