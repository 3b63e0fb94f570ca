"""The outputs are made from the configuration in one place: each class turns itself on or off
from its own keys, takes their values (no defaults of its own), and keeps files in the
service's state directory unless its keys name another."""
from __future__ import annotations

from pathlib import Path

from app.cameras.preview import Preview
from app.config import load_config
from app.events.rules import EventRules
from app.events.store import EventStore
from app.hub import ResultsHub
from app.outputs import build_outputs
from app.outputs.base import ServiceView


def view() -> ServiceView:
    return ServiceView(ResultsHub(), Preview(), lambda: ["cat", "dog"],
                       lambda: {"name": "toy"}, lambda: {}, lambda: {}, lambda: {})


def test_the_configuration_turns_outputs_on_and_off(tmp_path: Path):
    defaults = build_outputs(load_config(env={}), tmp_path, view())
    assert [o.name for o in defaults.all] == ["websocket", "metrics", "events"]
    assert defaults.events is not None and defaults.events.store.directory == tmp_path / "events"

    config = load_config(env={}, overrides={
        "events.enabled": False, "mqtt.host": "127.0.0.1", "mqtt.port": 1884,
        "mqtt.topic_prefix": "garden/cam/", "webhooks.urls": ["http://127.0.0.1:9/a",
                                                              "http://127.0.0.1:9/b"],
        "webhooks.retries": 7})
    outputs = build_outputs(config, tmp_path, view())
    assert [o.name for o in outputs.all] == ["websocket", "metrics", "mqtt", "webhooks"]
    assert outputs.events is None and outputs.websocket is outputs.all[0]
    mqtt, webhooks = outputs.all[2], outputs.all[3]
    assert (mqtt.settings.host, mqtt.settings.port, mqtt.prefix) == ("127.0.0.1", 1884,
                                                                     "garden/cam")
    assert mqtt.settings.queue == config.mqtt_queue  # a default, taken from the config's keys
    assert [s.status()["url"] for s in webhooks.senders] == ["http://127.0.0.1:9/a",
                                                             "http://127.0.0.1:9/b"]
    assert {s.settings.retries for s in webhooks.senders} == {7}


def test_event_defaults_are_the_configurations(tmp_path: Path):
    config = load_config(env={})
    assert EventRules() == EventRules.from_config(config)
    made, plain = EventStore.from_config(config, tmp_path), EventStore(tmp_path / "events")
    assert (made.directory, made.max_count, made.max_bytes, made.max_age_s) == \
        (plain.directory, plain.max_count, plain.max_bytes, plain.max_age_s)
    elsewhere = load_config(env={}, overrides={"events.dir": str(tmp_path / "history")})
    assert EventStore.from_config(elsewhere, tmp_path).directory == tmp_path / "history"
