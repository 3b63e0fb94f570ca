"""MQTT with a real mosquitto broker and `shadercam serve` in its own process (demo camera,
demo model): availability and last will, Home Assistant discovery (one device config; what
earlier runs and versions left retained cleared or moved over), label changes, events with
snapshots, a broker that goes away and comes back, a login whose password never reaches the
log, and floods on homeassistant/status. tests/outputs/test_home_assistant.py checks the same
against a real Home Assistant."""
from __future__ import annotations

import io
import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest
from PIL import Image

from app.outputs.mqtt import REANNOUNCE_GAP_S, new_client
from attack_server import peak_rise
from mqtt_watch import Watcher, retained, serve
from serving import free_port, wait_for

PREFIX = "shadercam/testcam"
NODE = "shadercam_testcam"
DEVICE = f"homeassistant/device/{NODE}/config"
DATA = Path(__file__).parent / "data"
DEMO_CLASSES = ["circle", "square", "triangle", "star", "ring", "cross", "crescent", "heart"]


def write_config(path, http_port: int, mqtt_port: int, events_dir, extra: str = "") -> None:
    path.write_text(f"""
[server]
host = "127.0.0.1"
port = {http_port}
[camera]
source = "demo"
fps = 8
[events]
dir = "{events_dir}"
start_frames = 2
end_s = 0.5
cooldown_s = 0
[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
topic_prefix = "{PREFIX}"
prediction_interval_s = 0.5
stats_interval_s = 2
{extra}
""")


def discovery(watcher: Watcher) -> dict[str, dict]:
    """The entities of the device config last sent, by object id (removal entries left out)."""
    payload = watcher.last(DEVICE)
    components = json.loads(payload)["components"] if payload else {}
    return {object_id: c for object_id, c in components.items() if len(c) > 1}


def stats(http: httpx.Client) -> dict:
    return http.get("/api/stats").json()


def stop(process: subprocess.Popen, how=signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(how)
        process.wait(30)


def test_service_talks_to_home_assistant_over_mqtt(lasting_broker, tmp_path):
    broker = lasting_broker
    http_port = free_port()
    config = tmp_path / "config.toml"
    write_config(config, http_port, broker.port, tmp_path / "events")
    # the watcher's session outlives the broker's restart below, so it misses nothing the
    # service sends when it is back first (events are not retained)
    watcher = Watcher(broker.port, persistent=True)
    process = serve(config, tmp_path / "service.log")
    http = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=10)
    try:
        wait_for(lambda: watcher.last(f"{PREFIX}/available") == b"online", timeout=90)

        # discovery: one device config with every entity and what Home Assistant needs
        configs = wait_for(lambda: len(discovery(watcher)) >= 5 + len(DEMO_CLASSES) and
                           discovery(watcher), timeout=60)
        device = json.loads(watcher.last(DEVICE))
        assert [a["topic"] for a in device["availability"]] == [f"{PREFIX}/available"]
        assert device["device"]["identifiers"] == [NODE]
        assert device["device"]["configuration_url"] == f"http://127.0.0.1:{http_port}/"
        assert device["origin"]["name"] == "ShaderCam" and device["origin"]["sw_version"]
        assert device["origin"]["support_url"] == f"http://127.0.0.1:{http_port}/"
        components = {}
        for object_id, payload in configs.items():
            component = payload["platform"]
            assert payload["unique_id"] == f"{NODE}_{object_id}" and payload["name"]
            assert payload["default_entity_id"] == f"{component}.{payload['unique_id']}"
            key = "image_topic" if component == "image" else "state_topic"
            assert payload[key].startswith(PREFIX + "/"), payload
            components.setdefault(component, []).append(object_id)
        assert sorted(components["sensor"]) == ["confidence", "fps", "label", "latency"]
        assert components["image"] == ["snapshot"]
        assert sorted(components["binary_sensor"]) == sorted(f"class_{c}" for c in DEMO_CLASSES)
        # the label is an enum of the model's classes and "uncertain"; it is sent on change
        # only, so it never expires, while the measurements do
        label = configs["label"]
        assert label["device_class"] == "enum" and label["options"] == [*DEMO_CLASSES, "uncertain"]
        assert "unit_of_measurement" not in label and "state_class" not in label
        assert "expire_after" not in label
        assert all(configs[name]["expire_after"] >= 10 for name in ("confidence", "latency", "fps"))
        # nothing else of this node is retained under the discovery prefix
        assert set(retained(broker.port, "homeassistant/#")) == {DEVICE}

        # the label changes with the demo camera's shapes; each is sent only on change
        labels = wait_for(lambda: len(set(watcher.on(f"{PREFIX}/label"))) >= 3 and
                          watcher.on(f"{PREFIX}/label"), timeout=60)
        assert all(a != b for a, b in zip(labels, labels[1:]))
        assert {label.decode() for label in labels} <= set(DEMO_CLASSES) | {"uncertain"}
        prediction = json.loads(watcher.last(f"{PREFIX}/prediction"))
        assert prediction["type"] == "prediction" and len(prediction["top_k"]) == 5
        wait_for(lambda: any(json.loads(p)["fps"] > 0 for p in watcher.on(f"{PREFIX}/stats")))
        # no 0.0 before the rate is measured: Home Assistant would keep it as a sample
        assert all(json.loads(p)["fps"] > 0 for p in watcher.on(f"{PREFIX}/stats"))

        # events: a start and an end of the same event, its class on then off, a JPEG snapshot
        def an_event_ended():
            messages = [json.loads(p) for p in watcher.on(f"{PREFIX}/events")]
            starts = {m["event"]["id"] for m in messages if m["type"] == "start"}
            return next((m["event"] for m in messages
                         if m["type"] == "end" and m["event"]["id"] in starts), None)

        def its_class_went_off(event) -> bool:
            """The end's snapshot and class OFF are sent after the end: they may be in flight."""
            states = watcher.on(f"{PREFIX}/class/{event['label']}")
            return b"ON" in states and b"OFF" in states[states.index(b"ON"):]

        event = wait_for(lambda: (e := an_event_ended()) and its_class_went_off(e) and e,
                         timeout=60)
        assert event["label"] in DEMO_CLASSES and event["end"] >= event["start"]
        assert watcher.on(f"{PREFIX}/class/{event['label']}")[-1] in (b"OFF", b"ON")
        snapshot = watcher.last(f"{PREFIX}/snapshot")
        with Image.open(io.BytesIO(snapshot)) as image:
            assert image.format == "JPEG" and image.size == (640, 480)
        health = http.get("/api/health").json()
        assert health["outputs"]["mqtt"]["state"] == "ok" and health["status"] == "ok"

        # the broker goes away: classifying goes on, health says so; it comes back: reconnect
        broker.stop()
        went_down = time.monotonic()
        wait_for(lambda: http.get("/api/health").json()["outputs"]["mqtt"]["state"] == "error")
        processed = stats(http)["frames"]["processed"]
        wait_for(lambda: stats(http)["frames"]["processed"] >= processed + 16, timeout=30)
        assert http.get("/api/health").json()["status"] == "degraded"
        # an event that ends while the broker is away waits in the queue for the reconnect
        missed = wait_for(lambda: [e for e in http.get("/api/events").json()["events"]
                                   if e["state"] == "ended" and e["start"] > time.time() -
                                   (time.monotonic() - went_down)], timeout=30)[0]
        assert http.get("/api/health").json()["outputs"]["mqtt"]["queued"] >= 1
        broker.start()
        # (a broker that keeps sessions may first send the service's last will for it)
        wait_for(lambda: watcher.on(f"{PREFIX}/available", after=went_down, live=True)[-1:] ==
                 [b"online"],
                 timeout=90, seen=lambda: (watcher.on(f"{PREFIX}/available", after=went_down),
                                           http.get("/api/health").json()["outputs"]["mqtt"],
                                           f"watcher connected: {watcher.client.is_connected()}"))
        mqtt = wait_for(lambda: http.get("/api/health").json()["outputs"]["mqtt"], timeout=30)
        assert mqtt["connected"] and mqtt["reconnects"] >= 1
        wait_for(lambda: any(json.loads(p)["event"]["id"] == missed["id"] and
                             json.loads(p)["type"] == "end"
                             for p in watcher.on(f"{PREFIX}/events", after=went_down)))
        # the states and the discovery are sent again (sent, not the broker's kept copies)
        wait_for(lambda: watcher.on(f"{PREFIX}/label", after=went_down, live=True), timeout=30)
        wait_for(lambda: watcher.on(DEVICE, after=went_down, live=True), timeout=30)
        wait_for(lambda: len(discovery(watcher)) >= 5 + len(DEMO_CLASSES), timeout=30)

        # Home Assistant restarts: it says so, and gets the discovery again
        announced = time.monotonic()
        watcher.client.publish("homeassistant/status", "online")
        wait_for(lambda: watcher.on(DEVICE, after=announced))

        # killed without a chance to say goodbye: the broker says it for us (the last will)
        killed = time.monotonic()
        process.kill()
        process.wait(10)
        wait_for(lambda: watcher.on(f"{PREFIX}/available", after=killed) == [b"offline"])
        ids_before = {p["unique_id"] for p in discovery(watcher).values()}
        assert len(ids_before) == 5 + len(DEMO_CLASSES)

        # a restart: the same entities, and a clean stop says offline itself
        restarted = time.monotonic()
        process = serve(config, tmp_path / "service.log")
        wait_for(lambda: watcher.on(f"{PREFIX}/available", after=restarted) == [b"online"],
                 timeout=90)
        wait_for(lambda: watcher.on(DEVICE, after=restarted), timeout=60)
        assert {p["unique_id"] for p in discovery(watcher).values()} == ids_before
        stopped = time.monotonic()
        stop(process)
        assert process.returncode == 0
        wait_for(lambda: watcher.on(f"{PREFIX}/available", after=stopped) == [b"offline"],
                 timeout=10)
    finally:
        http.close()
        stop(process, signal.SIGKILL)
        watcher.close()


def publish_recorded(port: int, messages: dict[str, object]) -> None:
    """Leave `messages` retained on the broker, as an earlier run would have."""
    publisher = Watcher(port, "unused/#")
    try:
        assert publisher.subscribed.wait(10)
        for topic, payload in messages.items():
            text = payload if isinstance(payload, str) else json.dumps(payload)
            publisher.client.publish(topic, text, qos=1, retain=True).wait_for_publish(10)
    finally:
        publisher.close()


def test_leftovers_are_cleared_and_per_entity_discovery_moves_to_the_device(broker, tmp_path):
    """An earlier version's per-entity configs for every class and two class states left ON by
    a killed run; now only circle and square are watched: the kept entities are migrated
    (migrate_discovery, so Home Assistant keeps their entity ids), every old config is cleared,
    then the device config comes; the unwatched classes' states go."""
    recorded = json.loads((DATA / "per_entity_discovery.json").read_text())["retained"]
    publish_recorded(broker.port, recorded)
    assert retained(broker.port, "#") == {
        topic: (p if isinstance(p, str) else json.dumps(p)).encode()
        for topic, p in recorded.items()}
    http_port = free_port()
    config = tmp_path / "config.toml"
    write_config(config, http_port, broker.port, tmp_path / "events")
    config.write_text(config.read_text()
                      .replace("stats_interval_s = 2", "stats_interval_s = 3600")
                      .replace("[events]\n", '[events]\nlabels = ["circle", "square"]\n'))
    watcher = Watcher(broker.port)
    watcher.retained()
    started = time.monotonic()
    process = serve(config, tmp_path / "service.log")
    try:
        wait_for(lambda: watcher.last(DEVICE), timeout=90)
        kept = {f"homeassistant/{c}/{NODE}/{o}/config" for c, o in (
            ("sensor", "label"), ("sensor", "confidence"), ("sensor", "latency"),
            ("sensor", "fps"), ("image", "snapshot"), ("binary_sensor", "class_circle"),
            ("binary_sensor", "class_square"))}
        old = {topic for topic in recorded if topic.endswith("/config")}
        wait_for(lambda: all(watcher.on(topic, started) == [b""] for topic in old - kept) and
                 all(watcher.on(topic, started) == [b'{"migrate_discovery": true}', b""]
                     for topic in kept), timeout=30,
                 seen=lambda: {topic: watcher.on(topic, started) for topic in old})
        with watcher._lock:
            order = [topic for t, topic, _, _ in watcher.messages if t >= started]
        # migrated first, then every old config cleared, then the device config
        device_at = order.index(DEVICE)
        cleared_at = [len(order) - 1 - order[::-1].index(topic) for topic in old]
        assert max(order.index(topic) for topic in kept) < min(cleared_at)
        assert max(cleared_at) < device_at
        assert sorted(discovery(watcher)) == [
            "class_circle", "class_square", "confidence", "fps", "label", "latency",
            "snapshot"]
        assert set(retained(broker.port, "homeassistant/#")) == {DEVICE}
        # the unwatched star's ON is cleared; circle's stale ON is replaced by the service's
        # own state (OFF, or ON when an event of circle came first)
        assert watcher.on(f"{PREFIX}/class/star", started) == [b""]
        assert watcher.on(f"{PREFIX}/class/circle", started)[0] in (b"OFF", b"ON")
        assert set(retained(broker.port, f"{PREFIX}/class/#")) == {
            f"{PREFIX}/class/circle", f"{PREFIX}/class/square"}

        # Home Assistant's birth: the discovery again and the stats at once, not an hour later
        wait_for(lambda: watcher.on(f"{PREFIX}/stats"), timeout=60)
        born = time.monotonic()
        watcher.client.publish("homeassistant/status", "online")
        wait_for(lambda: watcher.on(DEVICE, after=born) and watcher.on(f"{PREFIX}/stats",
                                                                        after=born))
        assert all(json.loads(p)["fps"] > 0 for p in watcher.on(f"{PREFIX}/stats"))
    finally:
        stop(process, signal.SIGKILL)
        watcher.close()


def test_with_discovery_turned_off_no_config_of_the_node_stays(broker, tmp_path):
    recorded = json.loads((DATA / "per_entity_discovery.json").read_text())["retained"]
    publish_recorded(broker.port, {**recorded, DEVICE: {"device": {}, "components": {}},
                                   "homeassistant/sensor/other_cam/label/config": {"name": "x"}})
    http_port = free_port()
    config = tmp_path / "config.toml"
    write_config(config, http_port, broker.port, tmp_path / "events", "discovery = false")
    watcher = Watcher(broker.port)
    process = serve(config, tmp_path / "service.log")
    try:
        wait_for(lambda: watcher.on(DEVICE) and watcher.on(DEVICE)[-1] == b"", timeout=90)
        # another node's config is not this service's to clear
        assert set(retained(broker.port, "homeassistant/#")) == {
            "homeassistant/sensor/other_cam/label/config"}
    finally:
        stop(process, signal.SIGKILL)
        watcher.close()


@pytest.fixture
def broker_with_login(broker):
    """The broker again, now refusing anonymous clients; user 'cam', password 's3cr3t-Pw'."""
    passwords = broker.config.parent / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "cam", "s3cr3t-Pw"],
                   check=True, capture_output=True)
    broker.stop()
    broker.config.write_text(broker.config.read_text().replace(
        "allow_anonymous true", f"allow_anonymous false\npassword_file {passwords}"))
    broker.start()
    return broker


def test_login_works_a_wrong_password_is_reported_and_never_logged(broker_with_login, tmp_path):
    watcher_port = broker_with_login.port
    for password, connects in (("wrong-Pw-123", False), ("s3cr3t-Pw", True)):
        http_port = free_port()
        config = tmp_path / f"config-{connects}.toml"
        write_config(config, http_port, watcher_port, tmp_path / "events",
                     f'username = "cam"\npassword = "{password}"')
        log = tmp_path / f"service-{connects}.log"
        process = serve(config, log)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=10) as http:
                def mqtt_state():
                    try:
                        return http.get("/api/health").json()["outputs"]["mqtt"]
                    except httpx.TransportError:
                        assert process.poll() is None, log.read_text()
                        return None

                if connects:
                    assert wait_for(lambda: (mqtt_state() or {}).get("connected"), timeout=90)
                else:
                    mqtt = wait_for(lambda: (mqtt_state() or {}).get("error") and mqtt_state(),
                                    timeout=90)
                    assert mqtt["state"] == "error" and not mqtt["connected"]
                    assert "refused" in mqtt["error"] and password not in json.dumps(mqtt)
                    wait_for(lambda: stats(http)["frames"]["processed"] > 10, timeout=60)
        finally:
            stop(process)
        assert process.returncode == 0
        assert password not in log.read_text()


def test_home_assistant_status_floods_cost_neither_memory_nor_announcements(broker, tmp_path):
    """Anyone on the broker may publish on homeassistant/status: huge payloads never reach the
    service, and a burst of "online" messages makes a few announcements, not one each."""
    http_port = free_port()
    config = tmp_path / "config.toml"
    write_config(config, http_port, broker.port, tmp_path / "events")
    watcher = Watcher(broker.port)
    flooder = new_client(f"flooder-{time.monotonic_ns()}")
    flooder.connect("127.0.0.1", broker.port)
    flooder.loop_start()
    process = serve(config, tmp_path / "service.log")
    device_config = DEVICE  # the one discovery message: each announcement sends it
    try:
        wait_for(lambda: watcher.on(device_config), timeout=90)
        service = psutil.Process(process.pid)

        def big_payloads_then_online() -> None:
            sent = time.monotonic()
            for _ in range(3):
                flooder.publish("homeassistant/status", bytes(50 * 2**20),
                                qos=1).wait_for_publish(60)
            flooder.publish("homeassistant/status", "online", qos=1).wait_for_publish(10)
            # the service answers the "online" sent after them: it has had them, or not
            wait_for(lambda: watcher.on(device_config, after=sent), timeout=60)

        _, rise = peak_rise(service, big_payloads_then_online)
        assert rise < 30 * 2**20, f"3 x 50 MB on homeassistant/status: +{rise / 2**20:.0f} MB"

        def burst() -> float:
            started = time.monotonic()
            for _ in range(4999):
                flooder.publish("homeassistant/status", "online")
            flooder.publish("homeassistant/status", "online").wait_for_publish(30)
            return started

        started, rise = peak_rise(service, burst)
        wait_for(lambda: watcher.on(device_config, after=started), timeout=30)
        time.sleep(REANNOUNCE_GAP_S + 2)  # room for any announcement still to come
        announced = len(watcher.on(device_config, after=started))
        assert 1 <= announced <= 3, f"{announced} announcements for a burst of 5000"
        assert rise < 30 * 2**20, f"5000 x online: +{rise / 2**20:.0f} MB"
        health = httpx.get(f"http://127.0.0.1:{http_port}/api/health", timeout=10).json()
        assert health["outputs"]["mqtt"]["state"] == "ok"
    finally:
        stop(process, signal.SIGKILL)
        flooder.disconnect()
        flooder.loop_stop()
        watcher.close()
