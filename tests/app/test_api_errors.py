"""Every error answer that /openapi.json documents, provoked on a real service on loopback and
checked against the one ErrorAnswer schema: one body shape, whatever the status or the layer
(guards in front of the app, FastAPI's validation, the service's own refusals)."""
from __future__ import annotations

import io
import re
import subprocess
import time
from collections.abc import Callable, Iterator

import httpx
from PIL import Image

from app.events.rules import Event, new_event_id
from colour_model import COLOURS
from openapi_check import OpenAPI
from serving import engine_up, running_service, wait_for

TOKEN = "error-answers-token-0123456789"
EVIL = "http://evil.example"
# documented on every route by the guards, but /api/health answers its status without a token
UNREACHABLE = {("GET", "/api/health", "401")}

Provoke = Callable[[httpx.Client], httpx.Response]


def documented_errors(document: dict) -> Iterator[tuple[str, str, str]]:
    """(METHOD, path, status) of every answer documented as an ErrorAnswer."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
                if schema.get("$ref", "").endswith("/ErrorAnswer"):
                    yield method.upper(), path, status


def concrete(path: str) -> str:
    return path.replace("{frame}", "1").replace("{event_id}", "20260101T000000000-abcdef") \
        .replace("{name}", "flap").replace("{example_id}", "0123456789ab") \
        .replace("{item_id}", "0123456789ab")


def png(colour: tuple[int, int, int] = COLOURS["red"], fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, format=fmt)
    return out.getvalue()


def upload(data: bytes) -> Provoke:
    return lambda http: http.post("/api/classify", files={"file": ("x", data, "image/x")})


def guard_refusal(method: str, path: str, status: str, body_bytes: int) -> Provoke:
    """What makes the guards give `status` on any route."""
    url = concrete(path)
    if status == "401":
        return lambda http: http.request(method, url, headers={"Authorization": "Bearer wrong"})
    if status == "421":
        return lambda http: http.request(method, url, headers={"Host": "evil.example"})
    if status == "403":
        return lambda http: http.request(method, url, headers={"Origin": EVIL})
    assert status == "413", status
    return lambda http: http.request(method, url, content=b"x" * body_bytes)


def check(api: OpenAPI, key: tuple[str, str, str], answer: httpx.Response) -> None:
    method, path, status = key
    assert str(answer.status_code) == status, f"{key}: {answer.status_code} {answer.text}"
    body = api.answer(path, method, answer)
    api.message("ErrorAnswer", body)
    assert isinstance(body["detail"], str) and body["detail"], key
    if status == "422":
        assert body["errors"] and all(e["field"] and e["problem"] for e in body["errors"]), body
    if status == "429":
        assert int(answer.headers["retry-after"]) >= 1


def test_every_documented_error_answer_has_the_one_shape(colour_model, colour_pictures,
                                                         tmp_path):
    state = tmp_path / "state"
    (state / "settings.json").mkdir(parents=True)  # the page's settings cannot be stored
    (state / "taught" / "damaged").mkdir(parents=True)  # a taught classifier that cannot be read
    (state / "taught" / "damaged" / "classifier.json").write_text("{")
    checked: set[tuple[str, str, str]] = set()
    with running_service(colour_model, camera_source=f"files:{colour_pictures}", camera_fps=8,
                         state_dir=state, server_token=TOKEN, server_max_upload_mb=0.1,
                         server_max_stream_clients=1, server_uploads_per_minute=60,
                         upload_timeout_s=0, events_end_s=3600) as run, \
            httpx.Client(base_url=run.base, timeout=20,
                         headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        engine_up(run)
        assert http.post("/api/teach", json={"name": "flap", "classes": ["red", "blue"]}
                         ).status_code == 201
        api = OpenAPI(http.get("/openapi.json").json())
        documented = set(documented_errors(api.document))
        big = int(0.1 * 1024 * 1024) + 128 * 1024
        provoke: dict[tuple[str, str, str], Provoke] = {
            key: guard_refusal(*key, big) for key in documented - UNREACHABLE
            if key[2] in {"401", "403", "413", "421"}}
        provoke.update({
            ("PUT", "/api/settings", "503"): lambda h: h.put("/api/settings",
                                                             json={"threshold": 0.7}),
            ("PUT", "/api/settings", "422"): lambda h: h.put("/api/settings",
                                                             json={"smoothing": 0}),
            # bytes no JSON decoder reads as text: the body cannot be parsed at all
            ("PUT", "/api/settings", "400"): lambda h: h.put(
                "/api/settings", content=b"\xe9A;9\xf5}", headers={
                    "Content-Type": "application/json"}),
            ("POST", "/api/classify", "400"): upload(b"hello"),
            ("POST", "/api/classify", "415"): upload(png(fmt="GIF")),
            ("POST", "/api/classify", "422"): lambda h: h.post("/api/classify"),
            # upload_timeout_s=0: the answer never comes before the first wait, so 504 every time
            ("POST", "/api/classify", "504"): upload(png()),
            ("GET", "/preview/{frame}.jpg", "404"): lambda h: h.get("/preview/999999999.jpg"),
            ("GET", "/preview/{frame}.jpg", "422"): lambda h: h.get("/preview/first.jpg"),
            ("GET", "/api/events", "422"): lambda h: h.get("/api/events", params={"limit": 0}),
            ("DELETE", "/api/events", "422"):
                lambda h: h.delete("/api/events", params={"since": "noon"}),
            ("GET", "/api/events/{event_id}", "404"): lambda h: h.get("/api/events/nothing"),
            ("GET", "/api/events/{event_id}/snapshot.jpg", "404"):
                lambda h: h.get("/api/events/nothing/snapshot.jpg"),
            ("DELETE", "/api/events/{event_id}", "404"):
                lambda h: h.delete("/api/events/nothing"),
            ("POST", "/api/teach", "400"):
                lambda h: h.post("/api/teach", json={"name": "../x", "classes": ["a", "b"]}),
            ("POST", "/api/teach", "409"):
                lambda h: h.post("/api/teach", json={"name": "flap", "classes": ["a", "b"]}),
            ("POST", "/api/teach", "422"): lambda h: h.post("/api/teach", json={}),
            ("POST", "/api/teach/import", "400"):
                lambda h: h.post("/api/teach/import", files={"file": ("x.zip", b"PK")}),
            ("POST", "/api/teach/import", "409"): lambda h: h.post(
                "/api/teach/import", files={"file": ("x.zip", h.get("/api/teach/flap/export")
                                                     .content)}),
            ("POST", "/api/teach/import", "422"): lambda h: h.post("/api/teach/import"),
            ("GET", "/api/teach/{name}", "400"): lambda h: h.get("/api/teach/Bad!"),
            ("GET", "/api/teach/{name}", "404"): lambda h: h.get("/api/teach/porch"),
            ("GET", "/api/teach/{name}", "503"): lambda h: h.get("/api/teach/damaged"),
            ("DELETE", "/api/teach/{name}", "400"): lambda h: h.delete("/api/teach/Bad!"),
            ("DELETE", "/api/teach/{name}", "404"): lambda h: h.delete("/api/teach/porch"),
            ("POST", "/api/teach/{name}/examples", "400"):
                lambda h: h.post("/api/teach/flap/examples", params={"label": "green"}),
            ("POST", "/api/teach/{name}/examples", "404"):
                lambda h: h.post("/api/teach/porch/examples", params={"label": "red"}),
            ("POST", "/api/teach/{name}/examples", "415"): lambda h: h.post(
                "/api/teach/flap/examples", params={"label": "red"},
                files={"file": ("x", png(fmt="GIF"), "image/gif")}),
            ("POST", "/api/teach/{name}/examples", "422"):
                lambda h: h.post("/api/teach/flap/examples"),
            ("POST", "/api/teach/{name}/examples", "504"):  # upload_timeout_s=0 too
                lambda h: h.post("/api/teach/flap/examples", params={"label": "red"}),
            ("PATCH", "/api/teach/{name}/examples/{example_id}", "400"): lambda h: h.patch(
                "/api/teach/Bad!/examples/0123456789ab", json={"label": "red"}),
            ("PATCH", "/api/teach/{name}/examples/{example_id}", "404"): lambda h: h.patch(
                "/api/teach/flap/examples/0123456789ab", json={"label": "red"}),
            ("PATCH", "/api/teach/{name}/examples/{example_id}", "422"):
                lambda h: h.patch("/api/teach/flap/examples/0123456789ab", json={}),
            ("DELETE", "/api/teach/{name}/examples/{example_id}", "400"):
                lambda h: h.delete("/api/teach/Bad!/examples/0123456789ab"),
            ("DELETE", "/api/teach/{name}/examples/{example_id}", "404"):
                lambda h: h.delete("/api/teach/flap/examples/0123456789ab"),
            ("GET", "/api/teach/{name}/examples/{example_id}.jpg", "400"):
                lambda h: h.get("/api/teach/Bad!/examples/0123456789ab.jpg"),
            ("GET", "/api/teach/{name}/examples/{example_id}.jpg", "404"):
                lambda h: h.get("/api/teach/flap/examples/0123456789ab.jpg"),
            ("PATCH", "/api/teach/{name}", "400"):
                lambda h: h.patch("/api/teach/Bad!", json={"active": False}),
            ("PATCH", "/api/teach/{name}", "404"):
                lambda h: h.patch("/api/teach/porch", json={"active": False}),
            ("PATCH", "/api/teach/{name}", "422"): lambda h: h.patch("/api/teach/flap", json={}),
            ("PATCH", "/api/teach/{name}", "503"):
                lambda h: h.patch("/api/teach/damaged", json={"active": False}),
            ("GET", "/api/teach/{name}/review", "400"): lambda h: h.get("/api/teach/Bad!/review"),
            ("GET", "/api/teach/{name}/review", "404"): lambda h: h.get("/api/teach/porch/review"),
            ("GET", "/api/teach/{name}/review/{item_id}.jpg", "400"):
                lambda h: h.get("/api/teach/Bad!/review/0123456789ab.jpg"),
            ("GET", "/api/teach/{name}/review/{item_id}.jpg", "404"):
                lambda h: h.get("/api/teach/flap/review/0123456789ab.jpg"),
            ("POST", "/api/teach/{name}/review/{item_id}", "400"): lambda h: h.post(
                "/api/teach/Bad!/review/0123456789ab", json={"label": "red"}),
            ("POST", "/api/teach/{name}/review/{item_id}", "404"): lambda h: h.post(
                "/api/teach/flap/review/0123456789ab", json={"label": "red"}),
            ("POST", "/api/teach/{name}/review/{item_id}", "422"):
                lambda h: h.post("/api/teach/flap/review/0123456789ab", json={}),
            ("POST", "/api/teach/{name}/review/{item_id}", "503"): lambda h: h.post(
                "/api/teach/damaged/review/0123456789ab", json={"label": "red"}),
            ("DELETE", "/api/teach/{name}/review/{item_id}", "400"):
                lambda h: h.delete("/api/teach/Bad!/review/0123456789ab"),
            ("DELETE", "/api/teach/{name}/review/{item_id}", "404"):
                lambda h: h.delete("/api/teach/flap/review/0123456789ab"),
            ("GET", "/api/teach/{name}/export", "400"): lambda h: h.get("/api/teach/Bad!/export"),
            ("GET", "/api/teach/{name}/export", "404"): lambda h: h.get("/api/teach/porch/export"),
        })
        for key, request in provoke.items():
            check(api, key, request(http))
            checked.add(key)

        # a red event lasts while the camera shows red: it cannot be deleted yet
        active = wait_for(lambda: next((e["id"] for e in http.get("/api/events").json()["events"]
                                        if e["state"] == "active"), None))
        key = ("DELETE", "/api/events/{event_id}", "409")
        check(api, key, http.delete(f"/api/events/{active}"))
        checked.add(key)

        # an ended event whose file the disk will not remove (an immutable folder: as root a
        # permission is no obstacle): the delete is refused, and says so
        store = run.service.events.store
        start = time.time() - 60
        ended = Event(id=new_event_id(start), label="red", display_label="Red",
                      model_name="colours", start=start, start_frame=1, peak=0.9,
                      peak_frame=1, last_seen=start + 1, end_frame=8, end=start + 1)
        store.save(ended)
        subprocess.run(["chattr", "+i", str(store.directory)], check=True)
        try:
            key = ("DELETE", "/api/events/{event_id}", "503")
            check(api, key, http.delete(f"/api/events/{ended.id}"))
            checked.add(key)
            key = ("DELETE", "/api/events", "503")
            check(api, key, http.delete("/api/events"))
            checked.add(key)
        finally:
            subprocess.run(["chattr", "-i", str(store.directory)], check=True)

        # one stream client at a time: the second is refused while the first watches
        with http.stream("GET", "/stream.mjpg") as first:
            assert first.status_code == 200
            key = ("GET", "/stream.mjpg", "503")
            check(api, key, second := http.get("/stream.mjpg"))
            assert second.headers["retry-after"]
            checked.add(key)

        # 60 uploads a minute in bursts of 10: a quick series runs out
        key = ("POST", "/api/classify", "429")
        answers = (upload(b"hello")(http) for _ in range(30))
        check(api, key, next((a for a in answers if a.status_code == 429), None))
        checked.add(key)
        key = ("POST", "/api/teach/{name}/examples", "429")
        answers = (http.post("/api/teach/flap/examples", params={"label": "red"},
                             files={"file": ("x", b"hello")}) for _ in range(30))
        check(api, key, next((a for a in answers if a.status_code == 429), None))
        checked.add(key)

    broken = tmp_path / "broken.chunks"
    broken.write_bytes(b"\x05\x00\x00\x00abc")
    with running_service(broken, camera_source=f"files:{tmp_path / 'nothing'}",
                         events_enabled=False, state_dir=state) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        wait_for(lambda: http.get("/api/health").json()["status"] == "error")
        for key, request in {
            ("GET", "/api/labels", "503"): lambda h: h.get("/api/labels"),
            ("POST", "/api/classify", "503"): upload(png()),
            ("GET", "/snapshot.jpg", "503"): lambda h: h.get("/snapshot.jpg"),
            ("GET", "/api/events", "404"): lambda h: h.get("/api/events"),
            ("DELETE", "/api/events", "404"): lambda h: h.delete("/api/events"),
            ("POST", "/api/teach", "503"):  # a taught classifier is made on the loaded model
                lambda h: h.post("/api/teach", json={"name": "door", "classes": ["a", "b"]}),
            ("POST", "/api/teach/{name}/examples", "503"):
                lambda h: h.post("/api/teach/flap/examples", params={"label": "red"}),
        }.items():
            check(api, key, request(http))
            checked.add(key)

    assert checked == documented - UNREACHABLE, (
        f"not provoked: {sorted(documented - UNREACHABLE - checked)}; "
        f"not documented: {sorted(checked - documented)}")


def test_unknown_paths_and_methods_answer_the_one_shape(colour_model):
    with running_service(colour_model) as run, httpx.Client(base_url=run.base, timeout=20) as h:
        api = OpenAPI(h.get("/openapi.json").json())
        for answer, status in ((h.get("/no/such/page"), 404), (h.delete("/api/latest"), 405),
                               (h.post("/api/events"), 405)):
            assert answer.status_code == status
            api.message("ErrorAnswer", answer.json())
        assert not re.search(r"HTTPValidationError|\"ValidationError\"",
                             h.get("/openapi.json").text)
