"""A LAN attacker and a foreign web page against the service (real uvicorn on loopback, demo
model): the access token, Host and Origin checks, security headers, the local API docs, client
caps, and health that tells the truth about a broken model."""
from __future__ import annotations

import asyncio
import io
import json
import re
import socket

import httpx
import pytest
import websockets
from PIL import Image

from app.config import ConfigError, load_config
from attack_server import DEMO_MODEL, serve_process
from serving import engine_up, running_service, wait_for

TOKEN = "correct-horse-battery-staple-42"
PROTECTED = ["/api/latest", "/api/labels", "/api/stats", "/snapshot.jpg", "/stream.mjpg",
             "/openapi.json", "/docs", "/static/app.js"]
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
                    "referrer-policy": "same-origin"}


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(out, format="PNG")
    return out.getvalue()


def ws_url(run, query: str = "") -> str:
    return run.ws + (f"?{query}" if query else "")


# websockets 14+ names extra request headers `additional_headers`; bookworm's 10.4 `extra_headers`
HEADERS_ARG = "additional_headers" if int(websockets.__version__.split(".")[0]) >= 14 \
    else "extra_headers"


async def ws_hello(url: str, **headers: str) -> dict:
    async with websockets.connect(url, **{HEADERS_ARG: headers}) as ws:
        return json.loads(await ws.recv())


def ws_admitted(url: str, **headers: str) -> dict | None:
    """The hello message, or None when the server refuses the handshake (it never accepts
    the connection)."""
    try:
        return asyncio.run(ws_hello(url, **headers))
    except (websockets.exceptions.InvalidHandshake, websockets.exceptions.ConnectionClosed):
        return None


def ws_refused(url: str, **headers: str) -> bool:
    return ws_admitted(url, **headers) is None


@pytest.fixture(scope="module")
def locked():
    with running_service(DEMO_MODEL, server_token=TOKEN) as run:
        engine_up(run)
        wait_for(lambda: run.service.hub.latest is not None)
        yield run


def test_without_the_token_nothing_but_a_minimal_health_answers(locked):
    with httpx.Client(base_url=locked.base, timeout=10) as http:
        for path in PROTECTED:
            answer = http.get(path)
            assert answer.status_code == 401, path
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "/login" in answer.json()["detail"]
        assert http.post("/api/classify", files={"file": ("a.png", png(), "image/png")}
                         ).status_code == 401
        assert http.get("/", follow_redirects=False).headers["location"] == "/login"
        # the other pages: the login page brings the person back, to the same query too
        assert http.get("/teach", follow_redirects=False).headers["location"] == \
            "/login?next=%2Fteach"
        assert http.get("/settings", follow_redirects=False).headers["location"] == \
            "/login?next=%2Fsettings"
        back = http.get("/events?label=red&event=7", follow_redirects=False).headers["location"]
        assert back == "/login?next=%2Fevents%3Flabel%3Dred%26event%3D7"
        form = http.get(back)
        assert 'value="/events?label=red&amp;event=7"' in form.text
        assert http.put("/api/settings", json={"top_k": 1}).status_code == 401
        assert http.post("/api/outputs/webhooks/test").status_code == 401
        assert http.get("/api/health").json() == {"status": "ok"}  # no model, GL, camera
        wrong = {"Authorization": "Bearer " + TOKEN[:-1] + "x"}
        assert http.get("/api/latest", headers=wrong).status_code == 401
        assert http.get("/api/latest", params={"token": TOKEN.upper()}).status_code == 401
    assert ws_refused(ws_url(locked))
    assert ws_refused(ws_url(locked, "token=nope"))


def test_bearer_query_and_login_cookie_each_open_everything(locked):
    with httpx.Client(base_url=locked.base, timeout=10) as http:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert http.get("/api/latest", headers=bearer).json()["type"] == "prediction"
        assert "model" in http.get("/api/health", headers=bearer).json()
        assert http.get("/snapshot.jpg", params={"token": TOKEN}).content[:2] == b"\xff\xd8"
        with http.stream("GET", "/stream.mjpg", params={"token": TOKEN}) as stream:
            assert stream.status_code == 200
        assert http.post("/api/classify", headers=bearer,
                         files={"file": ("a.png", png(), "image/png")}).status_code == 200

        form = http.get("/login")
        assert form.status_code == 200 and '<form method="post" action="/login">' in form.text
        assert not re.search(r"(src|href)=\"https?:", form.text)  # nothing from elsewhere
        bad = http.post("/login", data={"token": "guess-guess-guess-guess"})
        assert bad.status_code == 401 and "not the token" in bad.text
        assert http.cookies.get("shadercam_session") is None
        good = http.post("/login", data={"token": TOKEN}, follow_redirects=False)
        assert good.status_code == 303 and good.headers["location"] == "/"
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
        assert http.get("/").status_code == 200  # the cookie now opens the page
        assert http.get("/teach").status_code == 200
        assert http.get("/settings").status_code == 200
        assert http.get("/api/labels").status_code == 200
        session = http.cookies["shadercam_session"]

    link = httpx.get(f"{locked.base}/login", params={"token": TOKEN}, follow_redirects=False)
    assert link.status_code == 303 and "shadercam_session=" in link.headers["set-cookie"]
    assert asyncio.run(ws_hello(ws_url(locked, f"token={TOKEN}")))["type"] == "hello"
    assert asyncio.run(ws_hello(ws_url(locked),
                                Cookie=f"shadercam_session={session}"))["type"] == "hello"


def test_foreign_host_names_are_refused(locked):
    port = locked.base.rsplit(":", 1)[1]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=locked.base, timeout=10) as http:
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.2:{port}",
                     f"localhost.evil.example:{port}"):
            answer = http.get("/api/latest", headers={**bearer, "Host": host})
            assert answer.status_code == 421, host
            assert "server.hosts" in answer.json()["detail"]
        for host in (f"localhost:{port}", f"{socket.gethostname()}:{port}",
                     f"{socket.gethostname()}.local:{port}", f"127.0.0.1:{port}"):
            assert http.get("/api/latest", headers={**bearer, "Host": host}).status_code == 200
    assert ws_refused(ws_url(locked, f"token={TOKEN}"), Host="rebound.evil.example")


def test_extra_host_names_come_from_the_config():
    with running_service(DEMO_MODEL, server_hosts="cam.example.lan, other.lan") as run:
        with httpx.Client(base_url=run.base, timeout=10) as http:
            assert http.get("/api/health", headers={"Host": "cam.example.lan"}).status_code == 200
            assert http.get("/api/health", headers={"Host": "evil.lan"}).status_code == 421


def test_foreign_origins_cannot_post_or_open_the_websocket(locked):
    port = locked.base.rsplit(":", 1)[1]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    upload = {"file": ("a.png", png(), "image/png")}
    with httpx.Client(base_url=locked.base, timeout=10) as http:
        for origin in ("http://evil.example", f"http://evil.example:{port}", "null",
                       f"http://localhost:{port}", f"https://127.0.0.1:{port}x"):
            answer = http.post("/api/classify", files=upload,
                               headers={**bearer, "Origin": origin})
            assert answer.status_code == 403, origin
            assert answer.json()["detail"] == "cross-origin request refused"
        same = http.post("/api/classify", files=upload,
                         headers={**bearer, "Origin": f"http://127.0.0.1:{port}"})
        assert same.status_code == 200
    assert ws_refused(ws_url(locked, f"token={TOKEN}"), Origin="http://evil.example")
    hello = asyncio.run(ws_hello(ws_url(locked, f"token={TOKEN}"),
                                 Origin=f"http://127.0.0.1:{port}"))
    assert hello["type"] == "hello"


def test_every_answer_carries_the_security_headers(locked):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=locked.base, timeout=10, headers=bearer) as http:
        answers = [http.get("/"), http.get("/api/latest"), http.get("/static/app.js"),
                   http.get("/nothing-here"), http.get("/api/latest", headers={"Host": "x.y"}),
                   http.get("/api/labels", headers={"Authorization": "Bearer no"}),
                   http.get("/docs")]
    statuses = [a.status_code for a in answers]
    headers = [a.headers for a in answers]
    with socket.create_connection(("127.0.0.1", int(locked.base.rsplit(":", 1)[1]))) as sock:
        sock.sendall(f"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                     f"Bearer {TOKEN}\r\nContent-Length: 1073741824\r\n\r\n".encode())
        head = sock.makefile("rb").read().split(b"\r\n\r\n")[0].decode().split("\r\n")
    statuses.append(int(head[0].split()[1]))
    headers.append(httpx.Headers([line.split(": ", 1) for line in head[1:]]))
    assert statuses == [200, 200, 200, 404, 421, 401, 200, 413]
    for answer in headers:
        for name, value in SECURITY_HEADERS.items():
            assert answer.get(name) == value, (answer, name)
        csp = answer["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_api_docs_are_local_and_list_every_error_answer(locked):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=locked.base, timeout=10, headers=bearer) as http:
        docs = http.get("/docs")
        spec = http.get("/openapi.json").json()
        assert http.get("/redoc").status_code == 404
    assert docs.status_code == 200 and 'href="/openapi.json"' in docs.text
    assert not re.search(r"(src|href)=\"(https?:)?//", docs.text)  # no CDN, nothing external
    assert "/api/classify" in docs.text and "429" in docs.text
    # names the descriptions mark `so` are shown as code, never as backticks
    assert "`" not in docs.text and "<code>teach.agree</code>" in docs.text
    classify = spec["paths"]["/api/classify"]["post"]["responses"]
    assert {"400", "401", "403", "413", "415", "421", "429", "503", "504"} <= set(classify)
    assert classify["413"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorAnswer")
    for path, methods in spec["paths"].items():
        for operation in methods.values():
            assert {"401", "421"} <= set(operation["responses"]), path


def test_client_caps_refuse_the_extra_stream_and_websocket():
    with running_service(DEMO_MODEL, server_max_stream_clients=2,
                         server_max_websocket_clients=1) as run:
        engine_up(run)
        with httpx.Client(base_url=run.base, timeout=10) as http:
            with http.stream("GET", "/stream.mjpg") as first, \
                    http.stream("GET", "/stream.mjpg") as second:
                assert first.status_code == second.status_code == 200
                third = http.get("/stream.mjpg")
                assert third.status_code == 503 and third.headers["retry-after"] == "10"
            wait_for(lambda: http.get("/api/stats").json()["clients"]["stream"] == 0)
            with http.stream("GET", "/stream.mjpg") as again:  # the places are free again
                assert again.status_code == 200

        async def main() -> bool:
            async with websockets.connect(run.ws) as first:
                assert json.loads(await first.recv())["type"] == "hello"
                return await asyncio.get_running_loop().run_in_executor(None, ws_refused, run.ws)

        assert asyncio.run(main())
        # The place is free again once the server has seen the first client's close, which
        # may come a moment after the client has seen it.
        assert wait_for(lambda: ws_admitted(run.ws), timeout=10)["type"] == "hello"


def test_health_is_503_when_the_model_is_broken(tmp_path):
    broken = tmp_path / "broken.chunks"
    broken.write_bytes(b"\xff\xff\xff\x7f this is not a model")
    with running_service(broken, server_token=TOKEN) as run:
        assert run.service.worker.ready.wait(60)
        with httpx.Client(base_url=run.base, timeout=10) as http:
            full = http.get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"})
            minimal = http.get("/api/health")
    assert full.status_code == 503 and full.json()["status"] == "error"
    assert full.json()["model"]["error"]
    assert minimal.status_code == 503 and minimal.json() == {"status": "error"}


def test_development_default_is_loopback_without_a_token():
    config = load_config(env={})
    assert config.server_host == "127.0.0.1" and config.server_token == ""


def test_a_bad_token_is_refused_without_echoing_it():
    with pytest.raises(ConfigError) as error:
        load_config(env={"SHADERCAM_SERVER_TOKEN": "short secret"})
    assert "server.token" in str(error.value) and "short secret" not in str(error.value)


def test_the_token_never_reaches_the_log(tmp_path):
    with serve_process(tmp_path, server_token=TOKEN, server_log_level="info") as served:
        assert httpx.get(f"{served.base}/api/latest", params={"token": TOKEN},
                         timeout=10).status_code == 200
        assert httpx.get(f"{served.base}/login", params={"token": TOKEN},
                         timeout=10).status_code == 303
        log = served.log_text()
    assert "/api/latest?token=***" in log
    assert TOKEN not in log
