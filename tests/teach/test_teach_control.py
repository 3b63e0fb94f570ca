"""Taught classifiers switched on and off over the API (kept across a restart of the service),
and the review queue of frames a classifier was unsure of, labelled and dismissed over the API;
the colour model on llvmpipe, a files camera showing red, uvicorn on loopback."""
from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from app.teach import review
from colour_model import COLOURS, write_colour_model
from serving import engine_up, running_service, wait_for

TOKEN = "teach-control-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def picture(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), COLOURS[colour]).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory):
    return write_colour_model(tmp_path_factory.mktemp("model") / "colours.chunks")


@pytest.fixture
def red_camera(tmp_path):
    folder = tmp_path / "camera"
    folder.mkdir()
    Image.new("RGB", (160, 120), COLOURS["red"]).save(folder / "red.png")
    return folder


def serve(model, camera, state, **settings):
    return running_service(model, state_dir=state, camera_source=f"files:{camera}",
                           camera_fps=20, model_self_test="off", server_token=TOKEN,
                           server_uploads_per_minute=6000, teach_interval_s=0.0, **settings)


def teach(http: httpx.Client, name: str, examples: dict[str, list[str]]) -> dict:
    """A classifier of the classes in `examples`, each taught from uploads of those colours."""
    assert http.post("/api/teach", json={"name": name, "classes": list(examples)}
                     ).status_code == 201
    for label, colours in examples.items():
        for colour in colours:
            added = http.post(f"/api/teach/{name}/examples", params={"label": label},
                              files={"file": ("x.png", picture(colour), "image/png")})
            assert added.status_code == 201, added.text
    return added.json()


def taught_now(http: httpx.Client, run) -> dict:
    """`taught` of a prediction made after this call (not one made before a change)."""
    published = run.service.hub.published  # the second after it was classified after it
    wait_for(lambda: run.service.hub.published >= published + 2)
    return http.get("/api/latest").json()["taught"]


def test_switched_off_from_the_api_it_stops_running_and_stays_off_after_a_restart(
        colour_model, red_camera, tmp_path):
    state = tmp_path / "state"
    with serve(colour_model, red_camera, state) as run, \
            httpx.Client(base_url=run.base, timeout=60, headers=AUTH) as http:
        engine_up(run)
        teach(http, "colour", {"red": ["red", "red"], "blue": ["blue", "blue"]})
        assert wait_for(lambda: http.get("/api/latest").json()["taught"].get("colour")
                        )["label"] == "red"
        assert httpx.patch(f"{run.base}/api/teach/colour", json={"active": False}
                           ).status_code == 401  # behind the token
        off = http.patch("/api/teach/colour", json={"active": False})
        assert off.status_code == 200, off.text
        assert off.json()["enabled"] is False and off.json()["active"] is False
        assert "colour" not in taught_now(http, run)
        listed = http.get("/api/teach").json()
        assert listed["active"] == [] and listed["classifiers"][0]["enabled"] is False
        assert http.patch("/api/teach/porch", json={"active": True}).status_code == 404
        assert http.patch("/api/teach/colour", json={"active": "maybe"}).status_code == 422

    with serve(colour_model, red_camera, state) as run, \
            httpx.Client(base_url=run.base, timeout=60, headers=AUTH) as http:
        engine_up(run)
        wait_for(lambda: run.service.hub.latest is not None)
        assert http.get("/api/teach/colour").json()["enabled"] is False
        assert "colour" not in taught_now(http, run)
        on = http.patch("/api/teach/colour", json={"active": True})
        assert on.json()["enabled"] is True and on.json()["active"] is True
        assert wait_for(lambda: http.get("/api/latest").json()["taught"].get("colour")
                        )["label"] == "red"

    # switched on but not named by teach.active: it does not run, and says it is enabled
    with serve(colour_model, red_camera, state, teach_active=["door"]) as run, \
            httpx.Client(base_url=run.base, timeout=60, headers=AUTH) as http:
        engine_up(run)
        wait_for(lambda: run.service.hub.latest is not None)
        detail = http.get("/api/teach/colour").json()
        assert detail["enabled"] is True and detail["active"] is False
        assert "colour" not in taught_now(http, run)


def test_frames_it_is_unsure_of_are_queued_to_label_or_dismiss(colour_model, red_camera,
                                                                tmp_path):
    with serve(colour_model, red_camera, tmp_path / "state") as run, \
            httpx.Client(base_url=run.base, timeout=60, headers=AUTH) as http:
        engine_up(run)
        # the same red pictures taught as both classes: every red frame is a toss-up
        taught = teach(http, "torn", {"left": ["red", "red"], "right": ["red", "red"]})
        accuracy_before = taught["report"]["accuracy"]
        teach(http, "sure", {"red": ["red", "red"], "blue": ["blue", "blue"]})
        first = wait_for(lambda: http.get("/api/teach/torn/review").json()["items"],
                         timeout=60)[0]
        assert first["uncertain"] and first["label"] == "unknown"
        assert first["guess"] in ("left", "right") and 0.3 < first["probability"] < 0.7
        assert set(first["probabilities"]) == {"left", "right"} and first["frame"] >= 1
        thumb = http.get(first["thumb"])
        assert thumb.headers["content-type"] == "image/jpeg"
        red = Image.open(io.BytesIO(thumb.content)).convert("RGB").getpixel((5, 5))
        assert red[0] > 180 and red[1] < 70, red  # the camera's red frame

        # at most one every GAP_S: a second comes only after that
        second = wait_for(lambda: [i for i in http.get("/api/teach/torn/review").json()["items"]
                                   if i["id"] != first["id"]], timeout=60)[0]
        assert second["timestamp"] - first["timestamp"] >= review.GAP_S * 0.9

        # labelled: an example with the stored features, answered with the refitted report
        labelled = http.post(f"/api/teach/torn/review/{first['id']}", json={"label": "left"})
        assert labelled.status_code == 201, labelled.text
        body = labelled.json()
        assert body["counts"] == {"left": 3, "right": 2} and body["example"]["label"] == "left"
        assert body["report"]["accuracy"] is not None and accuracy_before is not None
        assert http.get(body["example"]["thumb"]).content == thumb.content
        ids = [i["id"] for i in http.get("/api/teach/torn/review").json()["items"]]
        assert first["id"] not in ids and second["id"] in ids
        assert http.post(f"/api/teach/torn/review/{first['id']}", json={"label": "left"}
                         ).status_code == 404  # labelled once only
        wrong = http.post(f"/api/teach/torn/review/{second['id']}", json={"label": "up"})
        assert wrong.status_code == 400 and "not a class" in wrong.json()["detail"]

        assert http.delete(f"/api/teach/torn/review/{second['id']}").json() == \
            {"deleted": second["id"]}
        assert second["id"] not in [i["id"] for i in
                                    http.get("/api/teach/torn/review").json()["items"]]
        assert http.get("/api/teach/torn").json()["counts"] == {"left": 3, "right": 2}

        # a sure classifier queues nothing; one switched off loses its queue
        assert http.get("/api/teach/sure/review").json()["items"] == []
        http.patch("/api/teach/torn", json={"active": False})
        wait_for(lambda: http.get("/api/teach/torn/review").json()["items"] == [])
        assert http.get("/api/teach/porch/review").status_code == 404
        assert run.service.worker.state == "running"
        assert len(run.service.worker.review.items("torn")) <= review.SIZE


def test_the_queue_keeps_the_newest_and_forgets_what_changed():
    """Bounded per classifier; a classifier whose region changed starts an empty queue."""
    import numpy as np

    from app.teach.head import Answer
    queues = review.ReviewQueues(size=3, gap_s=1.0)
    unsure = Answer("unknown", 0.55, True, {"a": 0.55, "b": 0.45})
    close = Answer("a", 0.56, False, {"a": 0.56, "b": 0.44})
    sure = Answer("a", 0.95, False, {"a": 0.95, "b": 0.05})
    assert review.unsure(unsure) and review.unsure(close) and not review.unsure(sure)
    queues.keep_only({"door": ("whole",)})
    assert queues.wants("door", unsure, 0.0) and not queues.wants("door", sure, 0.0)
    for second in range(5):
        assert queues.wants("door", unsure, float(second))
        queues.add("door", unsure, np.full(4, second), b"\xff\xd8", second, 100.0 + second,
                   float(second))
        assert not queues.wants("door", unsure, second + 0.5)
    assert [i.frame for i in queues.items("door")] == [4, 3, 2]
    queues.keep_only({"door": ("whole",)})
    assert len(queues.items("door")) == 3
    queues.keep_only({"door": ("left half",)})
    assert queues.items("door") == []
