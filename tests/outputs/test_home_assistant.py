"""ShaderCam as a real Home Assistant sees it: Home Assistant (the version tests/deploy/
ha_trixie.sh installs, in a Debian trixie tree for its Python 3.13) with its MQTT integration
on the test's mosquitto, set up through its own onboarding and config flow, read back through
its websocket API (entity and device registries, states).

Home Assistant starts once for the module's tests (its start-up is slow). An earlier version's
per-entity
discovery comes first (its recorded retained messages), a user renames two of its entities;
then ShaderCam starts with fewer watched classes: the entities it keeps are the same registry
entries with the user's ids, the others are gone with their states, the device links to the
page, the label is an enum, the origin is known; a kill makes every entity unavailable.
A taught classifier (the dog classifier on llvmpipe, a camera showing a cat, then coffee, in
its watched spot) is an enum sensor that follows it, a confidence in % and its region's picture;
switched off, its entities stay in Home Assistant's registry, unavailable, and come back as the
same entries when switched on; deleted, they leave the registry.

Needs root (chroot) and the tree (built once per machine); skips saying so, except in CI
(CI set), where a missing tree is a failure."""
from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "teach"))

from mqtt_watch import serve  # noqa: E402
from photo_sets import WATCHED as SPOT, teach_over_api, write_camera  # noqa: E402
from serving import engine_up, free_port, running_service, wait_for  # noqa: E402
from test_mqtt import DATA, DEMO_CLASSES, DEVICE, NODE, PREFIX, publish_recorded, \
    retained, stop, write_config  # noqa: E402
from test_taught_outputs import BLOCK, STATES  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "tests" / "deploy" / "ha_trixie.sh"
HA_VERSION = re.search(r"^HA_VERSION=(\S+)$", BUILD.read_text(), re.M).group(1)
WATCHED = ["circle", "square"]
CLIENT_ID = "http://127.0.0.1/"


def tree_problem() -> tuple[Path, str | None]:
    prefix = Path(os.environ.get("SHADERCAM_HA") or
                  Path.home() / ".cache" / "shadercam" / f"ha-{HA_VERSION}")
    if os.geteuid() != 0:
        return prefix, "running Home Assistant in its chroot needs root"
    if not (prefix / "done").is_file():
        return prefix, (f"no Home Assistant {HA_VERSION} tree at {prefix}: build it once with "
                        f"sudo {BUILD.relative_to(REPO)}")
    if not shutil.which("unshare"):
        return prefix, "unshare (util-linux) is needed"
    return prefix, None


class HomeAssistant:
    """Home Assistant in its tree, in a private mount namespace, with a clean environment."""

    def __init__(self, root: Path, broker_port: int) -> None:
        self.root = root
        self.port = free_port()
        self.broker_port = broker_port
        self.config = Path(tempfile.mkdtemp(prefix="shadercam-ha-", dir=root / "tmp"))
        (self.config / "configuration.yaml").write_text(
            "homeassistant:\n  name: ShaderCam test\n  time_zone: UTC\n  country: DE\n"
            "  unit_system: metric\n"
            f"http:\n  server_host: 127.0.0.1\n  server_port: {self.port}\n"
            "api:\nconfig:\nlogger:\n  default: info\n")
        self.log = self.config / "home-assistant.log"
        inside = "/" + str(self.config.relative_to(root))
        self.output = self.config / "output.txt"  # what it says before its log is set up
        with open(self.output, "wb") as output:
            self.process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                 'mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" && '
                 'exec chroot "$0" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/bin:/bin '
                 'TMPDIR=/tmp "$@"', str(root), "/opt/ha/bin/hass", "--config", inside,
                 "--skip-pip", "--log-no-color"],
                stdout=output, stderr=subprocess.STDOUT,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = ""

    def seen(self) -> str:
        log = self.log if self.log.exists() else self.output
        return log.read_text(errors="replace")[-3000:]

    def start(self) -> None:
        """Up, onboarded (a user and its token), its MQTT integration on the test's broker."""
        def up():
            assert self.process.poll() is None, f"Home Assistant exited: {self.seen()}"
            try:
                return httpx.get(f"{self.url}/api/onboarding", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, timeout=600, step=1, seen=self.seen)
        with httpx.Client(base_url=self.url, timeout=60) as http:
            code = http.post("/api/onboarding/users", json={
                "client_id": CLIENT_ID, "name": "Test", "username": "test",
                "password": "test-password-1", "language": "en"}).json()["auth_code"]
            self.token = http.post("/auth/token", data={
                "grant_type": "authorization_code", "code": code,
                "client_id": CLIENT_ID}).json()["access_token"]
            http.headers["Authorization"] = f"Bearer {self.token}"
            flow = http.post("/api/config/config_entries/flow", json={"handler": "mqtt"}).json()
            assert flow.get("step_id") == "broker", flow
            entry = http.post(f"/api/config/config_entries/flow/{flow['flow_id']}", json={
                "broker": "127.0.0.1", "port": self.broker_port}).json()
            assert entry.get("type") == "create_entry", entry
        wait_for(lambda: "mqtt" in self.command("get_config")["components"], timeout=120,
                 step=0.5, seen=self.seen)

    def command(self, kind: str, **fields) -> object:
        """One websocket API command's result."""
        async def ask():
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/api/websocket",
                                          max_size=None) as ws:
                assert json.loads(await ws.recv())["type"] == "auth_required"
                await ws.send(json.dumps({"type": "auth", "access_token": self.token}))
                assert json.loads(await ws.recv())["type"] == "auth_ok"
                await ws.send(json.dumps({"id": 1, "type": kind, **fields}))
                answer = json.loads(await ws.recv())
                assert answer["success"], answer
                return answer["result"]

        return asyncio.run(asyncio.wait_for(ask(), 30))

    def entities(self, node: str = NODE) -> dict[str, dict]:
        """A node's entities in Home Assistant's entity registry, by entity id."""
        return {e["entity_id"]: e for e in self.command("config/entity_registry/list")
                if e["platform"] == "mqtt" and (e["unique_id"] or "").startswith(f"{node}_")}

    def states(self) -> dict[str, dict]:
        return {s["entity_id"]: s for s in self.command("get_states")}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.config, ignore_errors=True)


@pytest.fixture(scope="module")
def home_assistant(module_broker):
    """Home Assistant on the module's broker; it starts once for the module's tests."""
    prefix, problem = tree_problem()
    if problem and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must run the Home Assistant check: {problem}")
    if problem:
        pytest.skip(problem)
    ha = HomeAssistant(prefix / "root", module_broker.port)
    try:
        ha.start()
        yield ha, module_broker
    finally:
        ha.stop()


def test_home_assistant_keeps_users_entities_and_drops_leftovers(home_assistant, tmp_path):
    ha, broker = home_assistant
    # an earlier version's per-entity discovery, every class watched, star and circle left ON
    recorded = json.loads((DATA / "per_entity_discovery.json").read_text())["retained"]
    publish_recorded(broker.port, {**recorded, f"{PREFIX}/available": "online"})
    old_ids = {f"{topic.split('/')[1]}.{NODE}_{topic.split('/')[3]}"
               for topic in recorded if topic.endswith("/config")}
    wait_for(lambda: set(ha.entities()) == old_ids and
             ha.states().get(f"binary_sensor.{NODE}_class_star", {}).get("state") == "on",
             timeout=120, seen=lambda: (sorted(ha.entities()), ha.seen()))
    # the user renames two entities, as dashboards and automations then use
    renamed = {f"sensor.{NODE}_confidence": "sensor.garden_cam_confidence",
               f"binary_sensor.{NODE}_class_circle": "binary_sensor.garden_circle"}
    for old, new in renamed.items():
        ha.command("config/entity_registry/update", entity_id=old, new_entity_id=new)
    before = ha.entities()

    # ShaderCam starts, watching only circle and square
    http_port = free_port()
    config = tmp_path / "config.toml"
    write_config(config, http_port, broker.port, tmp_path / "events")
    config.write_text(config.read_text().replace(
        "[events]\n", f"[events]\nlabels = {json.dumps(WATCHED)}\n"))
    process = serve(config, tmp_path / "service.log")
    try:
        kept = {renamed.get(i, i) for i in (
            f"sensor.{NODE}_label", f"sensor.{NODE}_confidence", f"sensor.{NODE}_latency",
            f"sensor.{NODE}_fps", f"image.{NODE}_snapshot",
            *(f"binary_sensor.{NODE}_class_{c}" for c in WATCHED))}

        def moved_over():
            # every entity available: one with expire_after is unavailable from its
            # (re)discovery until its first state arrives, which a busy machine delays
            entities, states = ha.entities(), ha.states()
            return set(entities) == kept and \
                not any(i.startswith(f"binary_sensor.{NODE}_class_") and i not in kept
                        for i in states) and \
                states[f"sensor.{NODE}_fps"]["state"] not in ("unknown", "unavailable") and \
                all(states.get(i, {}).get("state") != "unavailable" for i in entities) and \
                (entities, states)

        entities, states = wait_for(moved_over, timeout=120, step=0.5,
                                    seen=lambda: (sorted(ha.entities()), ha.seen()))
        # the same registry entries: the user's ids and everything else they set stay
        for entity_id in kept:
            assert entities[entity_id]["id"] == before[entity_id]["id"], entity_id
        for entity_id, entity in entities.items():
            assert states[entity_id]["state"] != "unavailable", (entity_id, states[entity_id])
        # the label: an enum of the model's classes and "uncertain", without unit or state class
        label = states[f"sensor.{NODE}_label"]
        assert label["attributes"]["device_class"] == "enum"
        assert label["attributes"]["options"] == [*DEMO_CLASSES, "uncertain"]
        assert "unit_of_measurement" not in label["attributes"]
        assert "state_class" not in label["attributes"]
        assert label["state"] in label["attributes"]["options"]
        assert float(states[f"sensor.{NODE}_fps"]["state"]) > 0
        assert 0 <= float(states["sensor.garden_cam_confidence"]["state"]) <= 100
        assert states["binary_sensor.garden_circle"]["state"] in ("on", "off")
        # one device, linking to the page, with every entity
        device_ids = {e["device_id"] for e in entities.values()}
        assert len(device_ids) == 1
        device = next(d for d in ha.command("config/device_registry/list")
                      if d["id"] in device_ids)
        assert device["configuration_url"] == f"http://127.0.0.1:{http_port}/"
        assert device["manufacturer"] == "ShaderCam" and ["mqtt", NODE] in device["identifiers"]
        # Home Assistant knows where every entity comes from: the device config, ShaderCam
        debug = ha.command("mqtt/device/debug_info", device_id=device["id"])["entities"]
        assert {e["entity_id"] for e in debug} == kept
        for entity in debug:
            assert entity["discovery_data"]["topic"] == DEVICE
            assert entity["discovery_data"]["payload"]["origin"]["name"] == "ShaderCam"
        # on the broker: the device config alone, the class states of the watched classes only
        assert set(retained(broker.port, "homeassistant/#")) == {DEVICE}
        assert set(retained(broker.port, f"{PREFIX}/class/#")) == {
            f"{PREFIX}/class/{c}" for c in WATCHED}

        # killed without a goodbye: the broker's last will makes every entity unavailable
        process.kill()
        process.wait(10)
        wait_for(lambda: all(ha.states()[i]["state"] == "unavailable" for i in kept),
                 timeout=60, step=0.5,
                 seen=lambda: {i: ha.states()[i]["state"] for i in kept})
    finally:
        stop(process, signal.SIGKILL)


HOUSE = "shadercam/house"  # the taught classifier's service, a node of its own
TAUGHT = "shadercam_house_taught_pet_flap"
TOKEN = "ha-teach-token-0123456789"


@pytest.fixture(scope="module")
def flap_camera(tmp_path_factory):
    """BLOCK frames of the cat in the watched spot, then BLOCK of the coffee, in a loop."""
    return write_camera(tmp_path_factory.mktemp("camera"), STATES, BLOCK, seed=7)


def test_home_assistant_shows_a_taught_classifier_until_it_stops(home_assistant, dog_model_path,
                                                                 flap_camera, tmp_path):
    ha, broker = home_assistant
    rng = np.random.default_rng(3)
    ids = {f"sensor.{TAUGHT}", f"sensor.{TAUGHT}_confidence", f"image.{TAUGHT}_picture"}
    with running_service(
            dog_model_path, state_dir=tmp_path / "state", camera_source=f"files:{flap_camera}",
            camera_fps=2, model_self_test="off", server_token=TOKEN,
            server_uploads_per_minute=6000, teach_interval_s=0.0, teach_agree=2,
            mqtt_host="127.0.0.1", mqtt_port=broker.port, mqtt_topic_prefix=HOUSE,
            mqtt_prediction_interval_s=0.0) as run, \
            httpx.Client(base_url=run.base, timeout=120,
                         headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        engine_up(run)
        teach_over_api(http, "pet-flap", STATES, SPOT, rng)

        def house() -> set[str]:
            return set(ha.entities("shadercam_house"))

        # its three entities, on the service's device; the state an enum of the classes
        wait_for(lambda: ids <= house(), timeout=60, step=0.5, seen=house)
        seen: set[str] = set()

        def both_states():
            states = ha.states()
            seen.add(states[f"sensor.{TAUGHT}"]["state"])
            return set(STATES) <= seen and states
        # the state in Home Assistant follows the camera: cat, then coffee (or the other way)
        states = wait_for(both_states, timeout=120, step=0.5, seen=lambda: seen)
        taught = states[f"sensor.{TAUGHT}"]["attributes"]
        assert taught["device_class"] == "enum" and taught["options"] == [*STATES, "unknown"]
        assert taught["probabilities"].keys() == set(STATES)  # its newest result
        confidence = states[f"sensor.{TAUGHT}_confidence"]
        assert confidence["attributes"]["unit_of_measurement"] == "%"
        assert 0 <= float(confidence["state"]) <= 100
        # the picture of its region, served by Home Assistant itself

        def picture():
            got = httpx.get(f"{ha.url}/api/image_proxy/image.{TAUGHT}_picture", timeout=30,
                            headers={"Authorization": f"Bearer {ha.token}"})
            return got.status_code == 200 and got
        served = wait_for(picture, timeout=60, step=0.5)
        assert served.headers["content-type"] == "image/jpeg"
        assert max(Image.open(io.BytesIO(served.content)).size) <= 128
        before = ha.entities("shadercam_house")

        # switched off: its entities stay in Home Assistant's registry, unavailable, while the
        # device's other entities stay available
        def taught_states() -> dict[str, str]:
            states = ha.states()
            return {i: states[i]["state"] for i in ids if i in states}
        assert http.patch("/api/teach/pet-flap", json={"active": False}).status_code == 200
        wait_for(lambda: set(taught_states().values()) == {"unavailable"}, timeout=30,
                 step=0.5, seen=taught_states)
        registry = ha.entities("shadercam_house")
        assert {i: registry[i]["id"] for i in ids} == {i: before[i]["id"] for i in ids}
        assert ha.states()["sensor.shadercam_house_label"]["state"] != "unavailable"
        # switched on: the same registry entries, with states again
        assert http.patch("/api/teach/pet-flap", json={"active": True}).status_code == 200
        wait_for(lambda: taught_states().get(f"sensor.{TAUGHT}") in STATES, timeout=60,
                 step=0.5, seen=taught_states)
        wait_for(lambda: "unavailable" not in taught_states().values(), timeout=30,
                 step=0.5, seen=taught_states)
        registry = ha.entities("shadercam_house")
        assert {i: registry[i]["id"] for i in ids} == {i: before[i]["id"] for i in ids}
        assert set(before) <= set(registry)  # the device's other entities stayed

        # deleted: its entities leave Home Assistant's registry and states
        assert http.delete("/api/teach/pet-flap").status_code == 200
        wait_for(lambda: not ids & house() and not ids & set(ha.states()), timeout=30,
                 step=0.5, seen=house)
        assert "sensor.shadercam_house_label" in house()
    # the house's device leaves the broker too, for the module's other tests
    publish_recorded(broker.port, {"homeassistant/device/shadercam_house/config": ""})
