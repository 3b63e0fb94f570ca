"""MQTT output, with Home Assistant discovery. Topics under `<prefix>` (Frigate's conventions):

  available   "online" / "offline", retained; "offline" is also the last will, so the broker
              says it when the service dies
  label       the top-1 label ("uncertain" below the threshold), retained, sent on change
  prediction  JSON as /api/latest, at most once per `prediction_interval_s`
  events      JSON {"type": "start"|"end", "event": {...}} for each event start and end
  snapshot    JPEG of the latest event's best frame, retained
  stats       JSON as /api/stats, every `stats_interval_s`
  class/<c>   "ON" while an event of class c lasts, else "OFF", retained

paho-mqtt's network thread connects and reconnects with back-off; this output's own thread
turns hub messages into MQTT messages. While the broker is away, event messages wait in a
bounded queue; on reconnect they are sent, after the current retained states.
Works with paho-mqtt 1.6 (Debian bookworm) and 2.x, whose constructors differ.
"""
from __future__ import annotations

import json
import logging
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as paho

from app.config import Config
from app.events.rules import EventRules
from app.hub import Message
from app.outputs.base import OutputContext
from app.outputs.ha_discovery import class_topic, discovery_messages, slug
from app.outputs.queued import QueuedOutput

log = logging.getLogger(__name__)

CONNECTED = object()  # queued by paho's thread when a connection is up: announce everything
HA_STATUS = object()  # Home Assistant restarted: announce the discovery configs again
MAX_CLASS_SENSORS = 32


def new_client(client_id: str) -> paho.Client:
    """A client with the callback signatures of paho-mqtt 2.x, or 1.6's when that is installed;
    the callbacks below accept both."""
    if hasattr(paho, "CallbackAPIVersion"):  # paho-mqtt 2.x
        return paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id)
    return paho.Client(client_id=client_id)


class MqttOutput(QueuedOutput):
    name = "mqtt"
    tick_s = 0.2  # how soon a new label goes out

    def __init__(self, settings: SimpleNamespace, labels: Callable[[], Sequence[str]],
                 model_name: Callable[[], str], stats: Callable[[], dict[str, Any]],
                 watched: Callable[[str], bool]) -> None:
        """`settings`: the [mqtt] table of the configuration; `watched`: whether a class has
        events (and so a binary sensor)."""
        super().__init__(limit=64)
        self.settings = settings
        # an empty topic_prefix means shadercam/<hostname>
        self.prefix = settings.topic_prefix.rstrip("/") or \
            f"shadercam/{slug(socket.gethostname())}"
        self.node_id = slug(self.prefix)
        self.labels, self.model_name, self.stats, self.watched = labels, model_name, stats, watched
        self.connected = False
        self.ever_connected = False
        self.error: str | None = None
        self.published = 0
        self.reconnects = 0
        self._offline: deque[tuple[str, bytes | str, int, bool]] = deque(maxlen=settings.queue)
        self.offline_dropped = 0
        self._label: str | None = None
        self._snapshot: bytes | None = None  # the latest event's JPEG
        self._classes: dict[str, str] = {}  # class topic -> "ON" / "OFF"
        self._announced = False
        self._newest: Message | None = None  # set by the publisher, taken by this thread
        self._prediction: Message | None = None  # waiting for prediction_interval_s
        self._prediction_sent = 0.0
        self._stats_sent = time.monotonic()
        self.client = new_client(f"shadercam-{self.node_id}")
        self.client.will_set(f"{self.prefix}/available", "offline", qos=1, retain=True)
        if settings.username:
            self.client.username_pw_set(settings.username, settings.password or None)
        self.client.reconnect_delay_set(min_delay=1, max_delay=60)
        self.client.max_queued_messages_set(settings.queue)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    @classmethod
    def from_config(cls, config: Config, context: OutputContext) -> MqttOutput | None:
        if not config.mqtt_host:
            return None
        service = context.service
        return cls(config.section("mqtt"), service.labels, lambda: service.model()["name"],
                   service.stats, EventRules.from_config(config).watches)

    # -- lifecycle (service thread) -------------------------------------------------------
    def start(self) -> None:
        super().start()
        self.client.connect_async(self.settings.host, self.settings.port, keepalive=30)
        self.client.loop_start()

    def _finish(self) -> None:
        if self.connected:
            info = self.client.publish(f"{self.prefix}/available", "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(2.0)
            except (RuntimeError, ValueError):  # the connection went away meanwhile
                pass
        self.client.disconnect()
        self.client.loop_stop()

    def status(self) -> dict[str, Any]:
        if self.connected:
            state = "ok"
        else:
            state = "starting" if not self.ever_connected and self.error is None else "error"
        return {"state": state, "connected": self.connected,
                "broker": f"{self.settings.host}:{self.settings.port}", "topic": self.prefix,
                "error": None if self.connected else self.error, "published": self.published,
                "errors": self.errors, "reconnects": self.reconnects,
                "queued": len(self._offline), "dropped": self.dropped + self.offline_dropped}

    # -- paho's network thread ------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason, *properties) -> None:
        failed = getattr(reason, "is_failure", reason != 0)
        if failed:
            why = paho.connack_string(reason) if isinstance(reason, int) else str(reason)
            error = f"the broker refused the connection: {why}"
            if error != self.error:
                log.warning("MQTT %s; retrying with back-off", error)
            self.error = error
            self.errors += 1
            return
        if self.ever_connected:
            self.reconnects += 1
        self.connected = self.ever_connected = True
        self.error = None
        log.info("MQTT connected to %s:%d as %s", self.settings.host, self.settings.port,
                 self.prefix)
        client.subscribe(f"{self.settings.discovery_prefix}/status")
        self._put(CONNECTED)

    def _on_connect_fail(self, client, userdata) -> None:
        if self.error is None:
            log.warning("MQTT broker %s:%d unreachable; retrying with back-off",
                        self.settings.host, self.settings.port)
        self.error = f"cannot reach the broker at {self.settings.host}:{self.settings.port}"
        self.errors += 1

    def _on_disconnect(self, client, userdata, *args) -> None:
        if self.connected:
            log.warning("MQTT connection to %s:%d lost; reconnecting", self.settings.host,
                        self.settings.port)
            self.error = "connection lost; reconnecting"
        self.connected = False

    def _on_message(self, client, userdata, message) -> None:
        if message.payload == b"online":
            self._put(HA_STATUS)

    # -- this output's thread -------------------------------------------------------------
    def _handle(self, item: Any) -> None:
        if item is CONNECTED:
            self._send(f"{self.prefix}/available", "online", qos=1, retain=True)
            self._announce(force=True)
            self._send_states()
            self._stats_sent = 0.0  # and the stats at the next tick
            while self._offline and self.connected:
                self._send(*self._offline.popleft())
        elif item is HA_STATUS:
            self._announce(force=True)
            self._send_states()
        else:
            self._on_event(item)

    def _accept(self, message: Message) -> Any:
        """Events queue; of the predictions only the newest matters, taken at the next tick."""
        if message.prediction is None:
            return message
        if message.prediction.origin == "camera":
            self._newest = message
        return None

    def _tick(self) -> None:
        message, self._newest = self._newest, None
        if message is not None:
            self._on_prediction(message)
        now = time.monotonic()
        if self._prediction is not None and \
                now - self._prediction_sent >= self.settings.prediction_interval_s:
            self._send(f"{self.prefix}/prediction", self._prediction.json)
            self._prediction, self._prediction_sent = None, now
        if now - self._stats_sent >= self.settings.stats_interval_s:
            self._stats_sent = now
            self._send(f"{self.prefix}/stats", json.dumps(self.stats()))

    def _on_prediction(self, message: Message) -> None:
        if self._announce(force=False):
            self._send_states()
        label = message.prediction.label or "uncertain"
        if label != self._label:
            self._label = label
            self._send(f"{self.prefix}/label", label, retain=True)
        self._prediction = message

    def _on_event(self, message: Message) -> None:
        event = message.body["event"]
        kind = "start" if event["state"] == "active" else "end"
        self._send(f"{self.prefix}/events", json.dumps({"type": kind, "event": event}), qos=1,
                   keep=True)
        if message.snapshot is not None:
            self._snapshot = message.snapshot
            self._send(f"{self.prefix}/snapshot", message.snapshot, retain=True)
        if self.watched(event["label"]):
            topic = class_topic(self.prefix, event["label"])
            self._classes[topic] = "ON" if kind == "start" else "OFF"
            self._send(topic, self._classes[topic], retain=True)

    def _watched_classes(self) -> tuple[str, ...]:
        classes = tuple(label for label in self.labels() if self.watched(label))
        if len(classes) > MAX_CLASS_SENSORS:
            return ()  # too many to show as sensors: name the classes in events.labels
        return classes

    def _announce(self, force: bool) -> bool:
        """Send the discovery configs once the model's labels are known, and again whenever
        `force`d; True when sent."""
        if not self.settings.discovery or not self.connected or (self._announced and not force):
            return False
        classes = self._watched_classes()
        if not self.labels():
            return False
        self._announced = True
        device = f"ShaderCam {self.prefix.rsplit('/', 1)[-1]}"
        for topic, payload in discovery_messages(self.settings.discovery_prefix, self.prefix,
                                                 self.node_id, device, self.model_name(),
                                                 classes):
            self._send(topic, json.dumps(payload), qos=1, retain=True)
        for label in classes:
            self._classes.setdefault(class_topic(self.prefix, label), "OFF")
        return True

    def _send_states(self) -> None:
        """The retained states as they are now, after a reconnect (a broker without persistence
        forgets them on restart); so only events wait in the offline queue."""
        if self._label is not None:
            self._send(f"{self.prefix}/label", self._label, retain=True)
        if self._snapshot is not None:
            self._send(f"{self.prefix}/snapshot", self._snapshot, retain=True)
        for topic, state in self._classes.items():
            self._send(topic, state, retain=True)

    def _send(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False,
              keep: bool = False) -> None:
        """Publish now, or when disconnected keep it (if `keep`) for the reconnect."""
        if self.connected:
            info = self.client.publish(topic, payload, qos=qos, retain=retain)
            if info.rc == paho.MQTT_ERR_SUCCESS:
                self.published += 1
                return
            self.errors += 1
        if keep:
            if len(self._offline) == self._offline.maxlen:
                self.offline_dropped += 1
            self._offline.append((topic, payload, qos, retain))
