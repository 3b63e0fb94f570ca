"""A taught classifier reaches the house: the running service (the dog classifier on llvmpipe,
uvicorn on loopback) with a camera whose watched spot shows a cat, then coffee, in turn; its
state, attributes and picture over a real mosquitto with Home Assistant discovery, its state
changes as events in the history and to a real webhook receiver, its numbers in /metrics;
switched off, its entities stay announced and its availability says "offline" until it runs
again; once it is deleted, its entities, retained topics and series go."""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "teach"))

from mqtt_watch import Watcher, retained  # noqa: E402
from photo_sets import WATCHED, teach_over_api, write_camera  # noqa: E402
from serving import engine_up, running_service, wait_for  # noqa: E402
from test_webhooks import parts, receiver  # noqa: E402

TOKEN = "teach-out-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PREFIX = "shadercam/house"
DEVICE = "homeassistant/device/shadercam_house/config"
STATES = ("cat", "coffee")
BLOCK = 8  # camera frames of each state in turn


@pytest.fixture(scope="module")
def camera_folder(tmp_path_factory):
    """BLOCK frames of the cat in the watched spot, then BLOCK of the coffee, played in a loop."""
    return write_camera(tmp_path_factory.mktemp("camera"), STATES, BLOCK, seed=7)


def metrics(http: httpx.Client) -> dict[str, list]:
    text = http.get("/metrics").text
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def test_a_taught_classifier_over_mqtt_events_webhooks_and_metrics(dog_model_path, camera_folder,
                                                                   broker, tmp_path):
    rng = np.random.default_rng(3)
    watcher = Watcher(broker.port)
    with receiver() as (url, received), running_service(
            dog_model_path, state_dir=tmp_path / "state", camera_source=f"files:{camera_folder}",
            camera_fps=2, model_self_test="off", server_token=TOKEN,
            server_uploads_per_minute=6000, teach_interval_s=0.0, teach_agree=2,
            mqtt_host="127.0.0.1", mqtt_port=broker.port, mqtt_topic_prefix=PREFIX,
            mqtt_prediction_interval_s=0.0, webhooks_urls=[url], webhooks_snapshot=True) as run, \
            httpx.Client(base_url=run.base, timeout=120, headers=AUTH) as http:
        engine_up(run)
        teach_over_api(http, "pet-flap", STATES, WATCHED, rng)

        # Home Assistant discovery: the state is an enum of the classes and "unknown"
        def taught_entities():
            payload = watcher.last(DEVICE)
            components = json.loads(payload)["components"] if payload else {}
            return {o: c for o, c in components.items()  # removal entries left out
                    if o.startswith("taught_pet_flap") and len(c) > 1}
        entities = wait_for(taught_entities, 60)
        state = entities["taught_pet_flap"]
        assert state["device_class"] == "enum" and state["options"] == [*STATES, "unknown"]
        assert state["unique_id"] == "shadercam_house_taught_pet_flap"
        topic = state["state_topic"]
        assert topic == f"{PREFIX}/taught/pet_flap"
        assert entities["taught_pet_flap_confidence"]["state_topic"] == f"{topic}/attributes"
        assert entities["taught_pet_flap_picture"]["image_topic"] == f"{topic}/image"
        for entity in entities.values():
            assert entity["availability_mode"] == "all"
            assert [a["topic"] for a in entity["availability"]] == [
                f"{PREFIX}/available", f"{topic}/available"]
        wait_for(lambda: watcher.last(f"{topic}/available") == b"online", 30)

        # the state follows the camera: both states arrive, each change once
        wait_for(lambda: {s.encode() for s in STATES} <= set(watcher.on(topic)), 120,
                 seen=lambda: watcher.on(topic))
        states = [p.decode() for p in watcher.on(topic)]
        assert all(a != b for a, b in zip(states, states[1:])), states
        attributes = json.loads(watcher.last(f"{topic}/attributes"))
        assert {"label", "probability", "uncertain", "state", "frame", "timestamp"} <= \
            set(attributes) and set(attributes["probabilities"]) == set(STATES)
        picture = watcher.last(f"{topic}/image")
        assert picture.startswith(b"\xff\xd8")
        assert max(Image.open(io.BytesIO(picture)).size) <= 128
        kept = retained(broker.port, f"{PREFIX}/taught/#")
        assert kept[topic].decode() in STATES and kept[f"{topic}/image"].startswith(b"\xff\xd8")

        # events: each state a taught event, the one before it named
        def taught_events():
            events = http.get("/api/events", params={"label": "coffee"}).json()["events"]
            return [e for e in events if e["taught"] == "pet-flap"]
        coffee = wait_for(taught_events, 30)[-1]
        assert coffee["display_label"] == "pet-flap: coffee"
        assert coffee["previous"] in (None, "cat")
        shot = http.get(coffee["snapshot"])
        assert shot.headers["content-type"] == "image/jpeg"
        assert max(Image.open(io.BytesIO(shot.content)).size) <= 128
        ended = wait_for(lambda: [e for e in http.get("/api/events").json()["events"]
                                  if e["taught"] == "pet-flap" and e["state"] == "ended"
                                  and e["previous"] is not None], 60)
        assert ended[0]["end"] >= ended[0]["start"]
        assert {ended[0]["label"], ended[0]["previous"]} == set(STATES)

        # the webhook receives them, with the region's picture
        def hooked():
            got = []
            for headers, body in list(received):
                sent = parts(headers, body) if headers["Content-Type"].startswith(
                    "multipart/") else {"event": ("application/json", body)}
                document = json.loads(sent["event"][1])
                if document["event"].get("taught") == "pet-flap":
                    got.append((document, sent))
            return got
        document, sent = wait_for(hooked, 30)[0]
        assert document["type"] == "start" and document["event"]["label"] in STATES
        assert sent["snapshot"][1].startswith(b"\xff\xd8")

        # /metrics: one state at 1, the probability, the states entered
        scraped = metrics(http)
        gauges = {s.labels["state"]: s.value for s in scraped["shadercam_taught_state"]
                  if s.labels["classifier"] == "pet-flap"}
        assert set(gauges) == {*STATES, "unknown"} and sorted(gauges.values()) == [0, 0, 1]
        (probability,) = [s.value for s in scraped["shadercam_taught_probability"]
                          if s.labels["classifier"] == "pet-flap"]
        assert 0 < probability <= 1
        (changes,) = [s.value for s in scraped["shadercam_taught_state_changes"]
                      if s.labels["classifier"] == "pet-flap" and s.name.endswith("_total")]
        assert changes >= 2

        # switched off: its entities stay announced, unavailable by its own topic; on again:
        # available, and its state is sent again
        assert http.patch("/api/teach/pet-flap", json={"active": False}).status_code == 200
        wait_for(lambda: retained(broker.port, f"{topic}/available").get(
            f"{topic}/available") == b"offline", 30)
        assert set(taught_entities()) == set(entities)
        assert json.loads(watcher.last(DEVICE))["components"]["taught_pet_flap"] == state
        assert retained(broker.port, f"{PREFIX}/available")[f"{PREFIX}/available"] == b"online"
        switched_off = len(watcher.on(topic))
        assert http.patch("/api/teach/pet-flap", json={"active": True}).status_code == 200
        wait_for(lambda: retained(broker.port, f"{topic}/available").get(
            f"{topic}/available") == b"online", 30)
        wait_for(lambda: len(watcher.on(topic)) > switched_off, 60,
                 seen=lambda: watcher.on(topic))
        assert set(taught_entities()) == set(entities)

        # deleted: its entities are removed, its retained topics cleared, its series gone
        assert http.delete("/api/teach/pet-flap").status_code == 200
        wait_for(lambda: not taught_entities(), 30)
        components = json.loads(watcher.last(DEVICE))["components"]
        assert components["taught_pet_flap"] == {"platform": "sensor"}
        assert components["taught_pet_flap_picture"] == {"platform": "image"}
        assert components["taught_pet_flap_confidence"] == {"platform": "sensor"}
        assert "label" in components  # the rest of the device stays
        wait_for(lambda: not retained(broker.port, f"{PREFIX}/taught/#"), 30)
        wait_for(lambda: "pet-flap" not in http.get("/metrics").text, 30)
        wait_for(lambda: all(e["state"] == "ended" for e in http.get("/api/events").json()
                             ["events"] if e["taught"] == "pet-flap"), 30)
    watcher.close()
