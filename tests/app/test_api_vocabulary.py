"""Every JSON answer of the API and every websocket message, checked against the service's own
/openapi.json: one typed vocabulary, documented where clients look for it."""
from __future__ import annotations

import asyncio
import io
import json

import httpx
import websockets
from PIL import Image

from colour_model import COLOURS, LABELS
from openapi_check import OpenAPI
from serving import engine_up, running_service, wait_for


# The schema of each kind of message the websocket sends after its hello.
SCHEMAS = {"prediction": "Prediction", "event": "EventMessage"}


def picture(colour, fmt="PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, format=fmt)
    return out.getvalue()


def test_every_answer_matches_its_schema(colour_model, colour_pictures, tmp_path):
    with running_service(colour_model, camera_source=f"files:{colour_pictures}", camera_fps=8,
                         model_top_k=3, state_dir=tmp_path / "state") as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        engine_up(run)
        api = OpenAPI(http.get("/openapi.json").json())
        wait_for(lambda: http.get("/api/latest").json().get("type") == "prediction")
        latest = api.answer("/api/latest", "GET", http.get("/api/latest"))
        assert latest["label"] == "red" and latest["display_label"] == "Red"
        assert latest["top_k"][0] == {"index": 0, "label": "red", "display_label": "Red",
                                      "probability": latest["top_k"][0]["probability"]}
        assert latest["origin"] == "camera" and latest["model_name"] == "colours"
        labels = api.answer("/api/labels", "GET", http.get("/api/labels"))
        assert labels == {"model_name": "colours", "labels": LABELS,
                          "display_labels": [label.capitalize() for label in LABELS]}
        health = api.answer("/api/health", "GET", http.get("/api/health"))
        assert health["status"] == "ok" and health["model"]["classes"] == 4
        assert isinstance(health["fps"], float) and isinstance(health["camera"]["fps"], float)
        stats = api.answer("/api/stats", "GET", http.get("/api/stats"))
        assert isinstance(stats["fps"], float) and stats["frames"]["processed"] > 0

        upload = api.answer("/api/classify", "POST", http.post(
            "/api/classify", files={"file": ("b.png", picture(COLOURS["blue"]), "image/png")}))
        assert upload["label"] == "blue" and upload["origin"] == "upload" and upload["frame"] == 0
        for bad, status in ((b"hello", 400), (picture("red", "GIF"), 415), (b"", 400)):
            api.answer("/api/classify", "POST", answer := http.post(
                "/api/classify", files={"file": ("x", bad, "image/x")}))
            assert answer.status_code == status
        api.answer("/api/classify", "POST", http.post("/api/classify"))  # 422, no file

        settings = api.answer("/api/settings", "GET", http.get("/api/settings"))
        assert settings == {"model": "colours", "threshold": 0.5, "smoothing": 1, "top_k": 3,
                            "event_labels": ["*"], "event_threshold": 0.6,
                            "event_thresholds": {}, "camera_fps": 8.0}  # the config's values
        changed = api.answer("/api/settings", "PUT",
                             http.put("/api/settings", json={"threshold": 0.9}))
        assert changed == {**settings, "threshold": 0.9, "smoothing": 1}
        purple = (230, 20, 230)  # as red as it is blue: about 50 % each
        unsure = api.answer("/api/classify", "POST", http.post(
            "/api/classify", files={"file": ("p.png", picture(purple), "image/png")}))
        assert unsure["uncertain"] and unsure["label"] is None and unsure["display_label"] is None
        assert unsure["top_k"][0]["label"] in ("red", "blue") and unsure["threshold"] == 0.9
        sure = wait_for(lambda: (p := http.get("/api/latest").json())["threshold"] == 0.9 and p)
        assert sure["label"] == "red" and not sure["uncertain"]
        refused = http.put("/api/settings", json={"smoothing": 0, "threshold": 2})
        api.answer("/api/settings", "PUT", refused)
        assert refused.status_code == 422
        assert json.loads((tmp_path / "state" / "settings.json").read_text()) == \
            {"models": {"colours": {"threshold": 0.9}}}

        async def listen(predictions: int) -> list[dict]:
            """The hello, then every message up to the `predictions`-th prediction: the red
            event's start and end share the socket and may come between them."""
            async with websockets.connect(run.ws) as ws:
                messages = [json.loads(await ws.recv())]
                while sum(m["type"] == "prediction" for m in messages) < predictions:
                    messages.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
                return messages

        hello, *messages = asyncio.run(listen(2))
        api.message("Hello", hello)
        assert hello["type"] == "hello" and hello["model"]["threshold"] == 0.9
        for message in messages:
            assert message["type"] in SCHEMAS, message
            api.message(SCHEMAS[message["type"]], message)

        # the picture of a prediction carries its frame number; a frame no longer kept is a 404
        def newest_shown() -> tuple[int, httpx.Response] | None:
            newest = http.get("/api/latest").json()["frame"]
            shown = http.get(f"/preview/{newest}.jpg")
            return newest > 10 and shown.status_code == 200 and (newest, shown)

        newest, shown = wait_for(newest_shown)
        assert shown.headers["content-type"] == "image/jpeg"
        assert shown.headers["x-frame"] == str(newest)
        assert http.get("/snapshot.jpg").headers["x-frame"].isdigit()
        processed = http.get("/api/stats").json()["frames"]["processed"]
        wait_for(lambda: http.get("/api/stats").json()["frames"]["processed"] >= processed + 5)
        api.answer("/preview/{frame}.jpg", "GET", gone := http.get(f"/preview/{newest}.jpg"))
        assert gone.status_code == 404 and "not kept" in gone.json()["detail"]

    # the page's settings outlive a restart; the config file was never touched
    with running_service(colour_model, camera_source=f"files:{colour_pictures}",
                         state_dir=tmp_path / "state") as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        kept = http.get("/api/settings").json()
        assert (kept["threshold"], kept["smoothing"]) == (0.9, 1)


def test_error_answers_match_their_schemas(tmp_path, colour_pictures):
    model = tmp_path / "broken.chunks"
    model.write_bytes(b"\x05\x00\x00\x00abc")
    with running_service(model, camera_source=f"files:{tmp_path / 'nothing'}",
                         camera_retry_min_s=0.05, camera_retry_max_s=0.2) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        api = OpenAPI(http.get("/openapi.json").json())
        health = wait_for(lambda: (h := http.get("/api/health").json())["status"] == "error"
                          and h["camera"]["failures"] >= 1 and h)
        api.answer("/api/health", "GET", http.get("/api/health"))
        assert health["model"]["state"] == "error" and "truncated" in health["model"]["error"]
        assert "does not exist" in health["camera"]["error"]
        waiting = api.answer("/api/latest", "GET", http.get("/api/latest"))
        assert waiting["type"] == "waiting" and "failed to load" in waiting["detail"]
        labels = api.answer("/api/labels", "GET", http.get("/api/labels"))
        assert "model not loaded" in labels["detail"]
        answer = http.post("/api/classify", files={"file": ("a.png", picture("red"), "image/png")})
        assert api.answer("/api/classify", "POST", answer) and answer.status_code == 503
        api.answer("/snapshot.jpg", "GET", none_yet := http.get("/snapshot.jpg"))
        assert none_yet.status_code == 503 and "no picture yet" in none_yet.json()["detail"]
        api.answer("/api/stats", "GET", http.get("/api/stats"))

        async def hello():
            async with websockets.connect(run.ws) as ws:
                return json.loads(await ws.recv())

        api.message("Hello", asyncio.run(hello()))
