"""Outputs of the results hub, and the one place where the configuration chooses them.

Every output has the same small interface (`app.hub.Output`): start, publish (never blocks),
stop, status. The websocket and the metrics are always there; the event recorder, MQTT and
webhooks when the configuration asks for them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.cameras.preview import Preview
from app.config import Config
from app.events.rules import EventRules
from app.events.store import EventStore
from app.hub import Output, ResultsHub
from app.outputs.events import EventRecorder
from app.outputs.metrics import MetricsOutput
from app.outputs.mqtt import MqttOutput, MqttSettings
from app.outputs.webhooks import WebhookSettings, WebhooksOutput
from app.outputs.websocket import WebsocketOutput
from app.runtime_settings import state_dir as default_state_dir


@dataclass
class Outputs:
    websocket: WebsocketOutput
    metrics: MetricsOutput
    events: EventRecorder | None = None
    all: list[Output] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceView:
    """What outputs may read from the service (all calls are cheap and thread-safe)."""

    hub: ResultsHub
    preview: Preview
    labels: Callable[[], list[str]]
    model: Callable[[], dict[str, Any]]
    gl: Callable[[], dict[str, Any]]
    stats: Callable[[], dict[str, Any]]
    outputs: Callable[[], dict[str, dict[str, Any]]]


def build_outputs(config: Config, state_dir: Path | None, view: ServiceView) -> Outputs:
    """`state_dir`: the service's; the event history goes to its "events" folder unless
    events.dir names one (None: the process's state directory)."""
    rules = EventRules(labels=config.events_labels, threshold=config.events_threshold,
                       thresholds=config.events_thresholds, start_frames=config.events_start_frames,
                       end_s=config.events_end_s, cooldown_s=config.events_cooldown_s)
    outputs = Outputs(WebsocketOutput(),
                      MetricsOutput(view.stats, view.outputs, view.model, view.gl))
    outputs.all += [outputs.websocket, outputs.metrics]
    if config.events_enabled:
        folder = Path(config.events_dir) if config.events_dir else \
            (state_dir or default_state_dir()) / "events"
        store = EventStore(folder,
                           config.events_max_count, int(config.events_max_mb * 2**20),
                           config.events_max_age_days * 86400.0)
        outputs.events = EventRecorder(rules, store, view.preview, view.hub.publish_event)
        outputs.all.append(outputs.events)
    if config.mqtt_host:
        settings = MqttSettings(**{name: config.get(f"mqtt.{name}")
                                   for name in MqttSettings.__dataclass_fields__})
        outputs.all.append(MqttOutput(settings, view.labels, lambda: view.model()["name"],
                                      view.stats, rules.watches))
    if config.webhooks_urls:
        outputs.all.append(WebhooksOutput(WebhookSettings(
            **{name: config.get(f"webhooks.{name}")
               for name in WebhookSettings.__dataclass_fields__})))
    return outputs
