"""Taught classifiers in the running service: taught over the API (uploads and camera
captures), live in /api/latest and on the websocket under `taught`, kept across a restart,
exported and imported; the dog classifier on the GPU (llvmpipe), uvicorn on loopback."""
from __future__ import annotations

import asyncio
import io
import json

import httpx
import numpy as np
import pytest
import websockets
from PIL import Image

from photo_sets import WATCHED, jpeg, scene, teach_over_api
from serving import engine_up, running_service, wait_for

STATES = ("cat", "coffee", "rocket")
TOKEN = "teach-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# websockets 14+ names extra request headers `additional_headers`; bookworm's 10.4 `extra_headers`
HEADERS_ARG = "additional_headers" if int(websockets.__version__.split(".")[0]) >= 14 \
    else "extra_headers"


@pytest.fixture(scope="module")
def camera_folder(tmp_path_factory):
    """The camera looks at the watched spot with the cat in it."""
    folder = tmp_path_factory.mktemp("camera")
    rng = np.random.default_rng(5)
    for number in range(4):
        (folder / f"{number}.jpg").write_bytes(jpeg(scene("cat", rng)))
    return folder


def serve(dog_model_path, camera_folder, state_dir, **settings):
    return running_service(dog_model_path, state_dir=state_dir,
                           camera_source=f"files:{camera_folder}", camera_fps=4,
                           model_self_test="off", server_token=TOKEN,
                           server_uploads_per_minute=6000, teach_interval_s=0.0, **settings)


def test_teach_over_the_api_then_live_results_restart_export_import(dog_model_path,
                                                                    camera_folder, tmp_path):
    state = tmp_path / "state"
    rng = np.random.default_rng(11)
    with serve(dog_model_path, camera_folder, state) as run, \
            httpx.Client(base_url=run.base, timeout=120, headers=AUTH) as http:
        engine_up(run)
        assert httpx.get(f"{run.base}/api/teach").status_code == 401  # behind the token
        made, *_, body = teach_over_api(http, "flap", STATES, WATCHED, rng)
        assert made["report"]["needs_more_examples"] and not made["ready"]
        assert body["counts"] == {"cat": 4, "coffee": 4, "rocket": 4}
        assert body["report"]["accuracy"] > 0.6 and body["report"]["folds"] == 4, body["report"]
        wait_for(lambda: http.get("/api/latest").json().get("frame"))  # a frame to capture
        captured = http.post("/api/teach/flap/examples", params={"label": "cat"})
        assert captured.status_code == 201, captured.text
        thumb = http.get(captured.json()["example"]["thumb"])
        assert thumb.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(thumb.content)).size[0] <= 128

        latest = wait_for(lambda: http.get("/api/latest").json().get("taught", {}).get("flap"))
        assert latest["label"] == "cat" and latest["probability"] >= 0.7, latest
        assert set(latest["probabilities"]) == set(STATES) and latest["frame"] >= 1
        assert wait_for(lambda: http.get("/api/latest").json()["taught"]["flap"]["state"]) == "cat"

        async def websocket_taught():
            async with websockets.connect(run.ws, **{HEADERS_ARG: AUTH}) as ws:
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if message["type"] == "prediction" and message["taught"]:
                        return message["taught"]
        assert asyncio.run(websocket_taught())["flap"]["label"] == "cat"

        detail = http.get("/api/teach/flap").json()
        assert len(detail["examples"]) == 13 and detail["active"] and detail["error"] is None
        first = detail["examples"][0]["id"]
        relabelled = http.patch(f"/api/teach/flap/examples/{first}", json={"label": "rocket"})
        assert relabelled.json()["counts"]["rocket"] == 5
        assert http.delete(f"/api/teach/flap/examples/{first}").json()["counts"] == \
            {"cat": 4, "coffee": 4, "rocket": 4}
        exported = http.get("/api/teach/flap/export")
        assert exported.headers["content-type"] == "application/zip"

        # what is wrong is said in one sentence, with the table's status
        assert http.get("/api/teach/porch").status_code == 404
        assert http.get("/api/teach/..%2Fetc").status_code in (400, 404)
        bad = http.post("/api/teach", json={"name": "../x", "classes": ["a", "b"]})
        assert bad.status_code == 400 and "bad classifier name" in bad.json()["detail"]
        assert http.post("/api/teach", json={"name": "flap", "classes": ["a", "b"]}
                         ).status_code == 409
        wrong = http.post("/api/teach/flap/examples", params={"label": "dog"})
        assert wrong.status_code == 400 and "not a class" in wrong.json()["detail"]
        garbage = http.post("/api/teach/import", files={"file": ("x.zip", b"PK\x03\x04")})
        assert garbage.status_code == 400
        imported = http.post("/api/teach/import", params={"name": "flap2"},
                             files={"file": ("flap.zip", exported.content, "application/zip")})
        assert imported.status_code == 201 and imported.json()["counts"] == \
            {"cat": 4, "coffee": 4, "rocket": 4}
        assert http.get("/openapi.json").json()["components"]["schemas"]["Prediction"][
            "properties"]["taught"]
        assert run.service.worker.state == "running"

    # a restart keeps both; teach.active picks which run
    with serve(dog_model_path, camera_folder, state, teach_active=["flap2"]) as run, \
            httpx.Client(base_url=run.base, timeout=60, headers=AUTH) as http:
        engine_up(run)
        listed = http.get("/api/teach").json()
        assert [c["name"] for c in listed["classifiers"]] == ["flap", "flap2"]
        assert listed["active"] == ["flap2"]
        taught = wait_for(lambda: http.get("/api/latest").json().get("taught"))
        assert set(taught) == {"flap2"} and taught["flap2"]["label"] == "cat"
        assert http.delete("/api/teach/flap").json() == {"deleted": "flap"}
        assert [c["name"] for c in http.get("/api/teach").json()["classifiers"]] == ["flap2"]


def test_which_taught_classifiers_run_is_a_config_key_and_an_environment_variable():
    from app.config import load_config
    assert load_config(env={}).teach_active == ("*",)
    config = load_config(env={"SHADERCAM_TEACH_ACTIVE": "door, parcel"})
    assert config.teach_active == ("door", "parcel")
    assert config.origins["teach.active"] == "SHADERCAM_TEACH_ACTIVE"


def test_a_yuv_camera_gives_examples_and_live_results(monkeypatch, tmp_path):
    """picamera2's lores stream (Y, U, V planes, here from the stand-in): examples captured
    from it, the taught result computed on it and its unsure frames queued for review, with the
    colour model as the backbone."""
    import picamera2_standin
    from colour_model import write_colour_model
    world = picamera2_standin.install(monkeypatch)
    model = write_colour_model(tmp_path / "colours.chunks")
    with running_service(model, state_dir=tmp_path / "state", camera_source="picamera2",
                         camera_fps=10, model_self_test="off", teach_interval_s=0.0) as run, \
            httpx.Client(base_url=run.base, timeout=60) as http:
        engine_up(run)
        made = http.post("/api/teach", json={"name": "ramp", "classes": ["left", "right"],
                                             "region": [0.0, 0.0, 0.5, 1.0]})
        assert made.status_code == 201, made.text
        assert made.json()["features"]["layer"] == "pool"  # the colour model's last map
        wait_for(lambda: http.get("/api/latest").json().get("frame"))
        for label in ("left", "right", "left", "right"):
            added = http.post("/api/teach/ramp/examples", params={"label": label})
            assert added.status_code == 201, added.text
        thumb = http.get(added.json()["example"]["thumb"]).content
        assert Image.open(io.BytesIO(thumb)).size[0] > 0
        result = wait_for(lambda: http.get("/api/latest").json()["taught"].get("ramp"))
        assert result["label"] in ("left", "right", "unknown") and result["frame"] >= 1

        # one picture taught as both classes: every camera frame is a toss-up, so frames go
        # to the review queue, their thumbnails cut from the YUV planes like the captures'
        picture = ("x.jpg", jpeg(np.full((48, 64, 3), 128, np.uint8)), "image/jpeg")
        assert http.post("/api/teach", json={"name": "torn", "classes": ["left", "right"],
                                             "region": [0.0, 0.0, 0.5, 1.0]}).status_code == 201
        for label in ("left", "right", "left", "right"):
            assert http.post("/api/teach/torn/examples", params={"label": label},
                             files={"file": picture}).status_code == 201
        item = wait_for(lambda: http.get("/api/teach/torn/review").json()["items"],
                        timeout=60)[0]
        queued = Image.open(io.BytesIO(http.get(item["thumb"]).content))
        width, height = world.instances[-1].camera_config["lores"]["size"]
        region = Image.new("RGB", (round(width / 2), height))  # the lores frame's left half
        region.thumbnail((128, 128))
        assert queued.format == "JPEG" and queued.size == region.size
        labelled = http.post(f"/api/teach/torn/review/{item['id']}", json={"label": "left"})
        assert labelled.status_code == 201 and labelled.json()["counts"]["left"] == 3
        assert http.get("/api/stats").json()["frames"]["failed"] == 0
