"""Settings changed through PUT /api/settings: each key checked against its config key's type
and range (refused naming the key, nothing changed), taken up by the running service, kept per
model where a value means something for one model only, and kept across restarts in the state
directory, which the model store does not move."""
from __future__ import annotations

import json
import shutil
import signal

import httpx
import pytest

from app.runtime_settings import RUNTIME_KEYS
import picamera2_standin
from openapi_check import OpenAPI
from serving import engine_up, free_port, running_service, wait_for
from test_cli_serve import shadercam

BAD_VALUES = {  # key -> a value of the wrong type, a value out of range
    "top_k": ("3", 0),
    "threshold": ("high", 1.01),
    "smoothing": (2.5, 101),
    "event_labels": ("cat", [3]),
    "event_threshold": ([0.5], -0.01),
    "event_thresholds": ([0.5], {"red": 1.5}),
    "camera_fps": (None, 121),
}


def test_every_key_is_checked_and_a_refusal_names_it(colour_model, colour_pictures, tmp_path):
    assert set(BAD_VALUES) == {key.name for key in RUNTIME_KEYS}
    with running_service(colour_model, camera_source=f"files:{colour_pictures}", camera_fps=8,
                         state_dir=tmp_path / "state") as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        api = OpenAPI(http.get("/openapi.json").json())
        before = http.get("/api/settings").json()
        for name, values in BAD_VALUES.items():
            for value in values:
                # with a good key beside it: nothing of the request is taken
                answer = http.put("/api/settings", json={"top_k": 2, name: value}
                                  if name != "top_k" else {name: value, "threshold": 0.2})
                api.answer("/api/settings", "PUT", answer)
                assert answer.status_code == 422, (name, value, answer.text)
                body = answer.json()
                assert name in body["detail"]
                assert [e["field"] for e in body["errors"]] == [f"body.{name}"], body
        unknown = http.put("/api/settings", json={"top_k": 2, "topk": 3, "colour": "red"})
        assert unknown.status_code == 422
        assert {e["field"] for e in unknown.json()["errors"]} == {"body.topk", "body.colour"}
        assert "unknown setting; known: top_k, threshold" in unknown.json()["detail"]
        for body in ([], "3", None, {}):  # not an object of settings at all
            refused = http.put("/api/settings", json=body)
            assert refused.status_code == 422
            assert refused.json()["errors"][0]["field"] == "body", refused.text
        assert http.get("/api/settings").json() == before
        assert not (tmp_path / "state" / "settings.json").exists()

        # each range's ends are taken
        ends = {"top_k": 1000, "threshold": 0.0, "smoothing": 100, "event_threshold": 1.0,
                "camera_fps": 0.1, "event_labels": ["*"], "event_thresholds": {"red": 0.0}}
        assert http.put("/api/settings", json=ends).json() == {**before, **ends}


def test_top_k_and_the_events_change_live_and_stay_after_a_restart(colour_model,
                                                                   colour_pictures, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    # only blue is watched: the red camera starts no event
    (state / "settings.json").write_text(json.dumps({"event_labels": ["blue"]}))
    with running_service(colour_model, camera_source=f"files:{colour_pictures}", camera_fps=8,
                         events_start_frames=2, state_dir=state) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        engine_up(run)
        assert http.get("/api/settings").json()["top_k"] == 5  # the config's
        wait_for(lambda: len(http.get("/api/latest").json().get("top_k", [])) == 4)  # 4 classes
        changed = http.put("/api/settings", json={"top_k": 2}).json()
        assert changed["top_k"] == 2
        newest = wait_for(lambda: (p := http.get("/api/latest").json())["frame"] and
                          len(p["top_k"]) == 2 and p)
        assert newest["top_k"][0]["label"] == "red"
        wait_for(lambda: http.get("/api/latest").json()["frame"] > newest["frame"] + 4)
        assert http.get("/api/events").json()["total"] == 0

        assert http.put("/api/settings", json={"event_labels": ["red"],
                                               "event_thresholds": {"red": 0.3}}).status_code == 200
        event = wait_for(lambda: http.get("/api/events").json()["events"])[0]
        assert event["label"] == "red"
        assert run.service.events.detector.rules.threshold_of("red") == 0.3

        assert http.put("/api/settings", json={"camera_fps": 2.5}).status_code == 200
        assert run.service.supervisor._camera.pacer.period == pytest.approx(0.4)
        assert run.service.supervisor.stall_after_s == 10.0

    stored = json.loads((state / "settings.json").read_text())
    assert stored == {"top_k": 2, "event_labels": ["red"], "event_thresholds": {"red": 0.3},
                      "camera_fps": 2.5, "models": {}}
    with running_service(colour_model, camera_source=f"files:{colour_pictures}", camera_fps=8,
                         state_dir=state) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        engine_up(run)
        kept = http.get("/api/settings").json()
        assert (kept["top_k"], kept["event_labels"], kept["camera_fps"]) == (2, ["red"], 2.5)
        assert len(wait_for(lambda: http.get("/api/latest").json().get("top_k"))) == 2
        assert run.service.supervisor._camera.pacer.period == pytest.approx(0.4)


def test_threshold_and_smoothing_are_each_models_own(colour_model, colour_pictures, tmp_path):
    other = tmp_path / "other-colours.chunks"  # the same classes under another model's name
    shutil.copy(colour_model, other)
    state = tmp_path / "state"
    source = f"files:{colour_pictures}"
    with running_service(colour_model, camera_source=source, state_dir=state,
                         model_threshold=0.4) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        tuned = http.put("/api/settings", json={"threshold": 0.95, "smoothing": 3,
                                                "top_k": 2}).json()
        assert tuned["model"] == "colours" and tuned["threshold"] == 0.95
    with running_service(other, camera_source=source, state_dir=state,
                         model_threshold=0.4) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        engine_up(run)
        settings = http.get("/api/settings").json()
        # the other model starts from the config, not from what was tuned for "colours";
        # top-k is no model's own and stays
        assert (settings["model"], settings["threshold"], settings["smoothing"],
                settings["top_k"]) == ("other-colours", 0.4, 1, 2)
        prediction = wait_for(lambda: (p := http.get("/api/latest").json()).get("frame") and p)
        assert prediction["threshold"] == 0.4 and prediction["smoothing"] == 1
        http.put("/api/settings", json={"threshold": 0.6})
    with running_service(colour_model, camera_source=source, state_dir=state,
                         model_threshold=0.4) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        back = http.get("/api/settings").json()
        assert (back["model"], back["threshold"], back["smoothing"]) == ("colours", 0.95, 3)
    assert json.loads((state / "settings.json").read_text())["models"] == {
        "colours": {"threshold": 0.95, "smoothing": 3}, "other-colours": {"threshold": 0.6}}


def test_a_real_restart_keeps_the_settings_in_the_state_dir_not_beside_the_model_store(
        tmp_path, colour_model, colour_pictures):
    """`shadercam serve` twice: the state directory comes from its own key; the model store,
    moved elsewhere, holds no settings and no history."""
    state, store = tmp_path / "state", tmp_path / "store" / "models"
    store.mkdir(parents=True)
    env = {"SHADERCAM_SERVICE_STATE_DIR": str(state), "SHADERCAM_MODEL_STORE": str(store),
           "SHADERCAM_CAMERA_SOURCE": f"files:{colour_pictures}", "STATE_DIRECTORY": ""}

    def serve(change: dict | None) -> dict:
        port = free_port()
        process = shadercam("serve", "--port", str(port), "--model", str(colour_model), env=env)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
                def settings():
                    try:
                        return http.get("/api/settings").json()
                    except httpx.TransportError:
                        assert process.poll() is None, process.stdout.read()
                        return None

                wait_for(settings, timeout=60)
                if change:
                    assert http.put("/api/settings", json=change).status_code == 200
                return settings()
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(20) == 0

    assert serve({"top_k": 3, "threshold": 0.8})["top_k"] == 3
    kept = serve(None)
    assert (kept["top_k"], kept["threshold"]) == (3, 0.8)
    assert json.loads((state / "settings.json").read_text()) == {
        "top_k": 3, "models": {"colours": {"threshold": 0.8}}}
    assert (state / "events").is_dir()
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["models"]


def test_the_pi_camera_takes_a_new_frame_rate_while_it_streams(monkeypatch, colour_model):
    world = picamera2_standin.install(monkeypatch)
    with running_service(colour_model, camera_source="picamera2", camera_fps=10,
                         camera_width=320, camera_height=240, camera_inference_width=100,
                         camera_inference_height=75) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        engine_up(run)
        wait_for(lambda: http.get("/api/latest").json().get("frame"))
        [camera] = world.instances
        assert camera.camera_config["controls"]["FrameDurationLimits"] == (100000, 100000)
        assert http.put("/api/settings", json={"camera_fps": 4}).json()["camera_fps"] == 4.0
        assert camera.camera_config["controls"]["FrameDurationLimits"] == (250000, 250000)
        assert run.service.supervisor.stall_after_s == 10.0
        assert run.service.worker.frame_wait_s == 0.5
        assert len(world.instances) == 1  # taken while streaming, not by reopening
