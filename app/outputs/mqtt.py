"""MQTT output, with Home Assistant discovery. Topics under `<prefix>` (Frigate's conventions):

  available   "online" / "offline", retained; "offline" is also the last will, so the broker
              says it when the service dies
  label       the top-1 label ("uncertain" below the threshold), retained, sent on change
  prediction  JSON as /api/latest, at most once per `prediction_interval_s`
  events      JSON {"type": "start"|"end", "event": {...}} for each event start and end
  snapshot    JPEG of the latest event's best frame, retained
  stats       JSON as /api/stats, every `stats_interval_s`
  class/<c>   "ON" while an event of class c lasts, else "OFF", retained
  taught/<t>  a taught classifier's state (its debounced label), retained, sent on change
              while it runs; under it `attributes` (its newest result as JSON: label,
              probability, uncertain, state, frame, timestamp, probabilities; on each new
              result, at most once per `prediction_interval_s`), `image` (the JPEG of its
              region, retained: on each change, else at most every TAUGHT_PICTURE_EVERY_S) and
              `available` ("online" while it runs, "offline" while it is switched off, retained)

Home Assistant discovery is one retained device config (app.outputs.ha_discovery). The service
cannot remember across restarts what it announced before, so at each connect it reads what is
retained under its own node (its device config, per-entity configs of earlier versions, class
and taught states) and clears whatever it no longer announces, moving per-entity configs to the
device config with Home Assistant's `migrate_discovery` so entity ids stay. Every stored taught
classifier is announced; one switched on or off only changes its `available`, so that Home
Assistant keeps its entities (unavailable) with the user's ids and settings. Taught classifiers
created or deleted while it runs change the device config: it is sent again, naming removed
entities with their platform alone so that Home Assistant removes them, and the deleted
classifiers' retained state, picture and availability are cleared.

paho-mqtt's network thread connects and reconnects with back-off; this output's own thread
turns hub messages into MQTT messages. While the broker is away, event messages wait in a
bounded queue; on reconnect they are sent, after the current retained states.
The service speaks MQTT 5 so that it can tell the broker the largest packet it takes
(MAX_INCOMING_BYTES): anyone may publish on `homeassistant/status`, and paho reads a whole
packet into memory before any callback could look at its size.
Works with paho-mqtt 1.6 (Debian bookworm) and 2.x, whose constructors differ.
"""
from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from app.config import Config
from app.cameras.preview import Preview
from app.events.rules import EventRules
from app.events.taught import TaughtStates
from app.hub import Message
from app.outputs.base import OutputContext, marked_test_message
from app.outputs.ha_discovery import (class_ids, class_topic, device_config, entity_configs,
                                      migration_messages, slug, taught_topic, with_removals)
from app.outputs.queued import QueuedOutput
from app.outputs.taught import region_picture

log = logging.getLogger(__name__)

CONNECTED = object()  # queued by paho's thread when a connection is up: announce everything
MAX_CLASS_SENSORS = 32
# what the service receives: "online"/"offline", the broker's small answers and, at connect,
# its own retained device config (up to 32 class sensors and 16 taught classifiers of 10 classes,
# each entity of those with its availability list: under 110 kB with a 1000-class model) read
# back to clear leftovers
MAX_INCOMING_BYTES = 131072
# Home Assistant's "online" messages within this long of an announcement make one more
REANNOUNCE_GAP_S = 5.0
SCAN_S = 5.0  # how long a connect waits for what the broker retains under the node
MIGRATE = json.dumps({"migrate_discovery": True})
TAUGHT_PICTURE_EVERY_S = 10.0  # a taught classifier's picture, when its state stays
TEST_WAIT_S = 5.0  # how long a test message waits for the broker's acknowledgement


def new_client(client_id: str, protocol: int = paho.MQTTv311, **options: Any) -> paho.Client:
    """A client with the callback signatures of paho-mqtt 2.x, or 1.6's when that is installed;
    the callbacks below accept both. `options`: paho.Client's own (e.g. clean_session)."""
    if hasattr(paho, "CallbackAPIVersion"):  # paho-mqtt 2.x
        return paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                           protocol=protocol, **options)
    return paho.Client(client_id=client_id, protocol=protocol, **options)


def _connect_properties() -> Properties:
    """The broker must not send this client a packet larger than MAX_INCOMING_BYTES."""
    properties = Properties(PacketTypes.CONNECT)
    properties.MaximumPacketSize = MAX_INCOMING_BYTES
    return properties


class MqttOutput(QueuedOutput):
    name = "mqtt"
    tick_s = 0.2  # how soon a new label goes out

    def __init__(self, settings: SimpleNamespace, labels: Callable[[], Sequence[str]],
                 model_name: Callable[[], str], stats: Callable[[], dict[str, Any]],
                 watched: Callable[[str], bool], page_url: str,
                 taught: Callable[[], dict[str, dict[str, Any]]] = dict,
                 preview: Preview | None = None, taught_interval_s: float = 1.0,
                 taught_stored: Callable[[], dict[str, dict[str, Any]]] = dict) -> None:
        """`settings`: the [mqtt] table of the configuration; `watched`: whether a class has
        events (and so a binary sensor); `page_url`: the page, linked from Home Assistant;
        `taught`: the taught classifiers that run and `taught_stored` all of them
        (app.outputs.base.ServiceView), `preview` where their pictures come from,
        `taught_interval_s` how often each runs at most."""
        super().__init__(limit=64)
        self.settings = settings
        # an empty topic_prefix means shadercam/<hostname>
        self.prefix = settings.topic_prefix.rstrip("/") or \
            f"shadercam/{slug(socket.gethostname())}"
        self.node_id = slug(self.prefix)
        self.page_url = page_url
        self._status_topic = f"{settings.discovery_prefix}/status"
        self._device_topic = f"{settings.discovery_prefix}/device/{self.node_id}/config"
        # what the broker retains under this node, read at each connect (paho's thread)
        self._scan_topics = [f"{settings.discovery_prefix}/+/{self.node_id}/+/config",
                             self._device_topic, f"{self.prefix}/class/+",
                             f"{self.prefix}/taught/+", f"{self.prefix}/taught/+/available"]
        self._retained: dict[str, bytes] = {}
        self._scanned = threading.Event()
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
        self._class_topics: dict[str, str] = {}  # label -> class topic, for the model's labels
        self.taught, self.preview, self.taught_interval_s = taught, preview, taught_interval_s
        self.taught_stored = taught_stored
        self._taught: dict[str, dict[str, Any]] = {}  # the stored ones, as announced
        self._taught_topics: dict[str, str] = {}  # stored taught classifier -> state topic
        self._available: dict[str, str] = {}  # its availability topic -> "online" / "offline"
        self._taught_states = TaughtStates()
        self._taught_sent: dict[str, str] = {}  # taught state topic -> state, retained
        self._pictures: dict[str, tuple[float, bytes]] = {}  # picture topic -> (when, JPEG)
        self._attributes_sent: dict[str, tuple[float, int]] = {}  # name -> (when, frame)
        self._announced: tuple | None = None  # what the device config was made from
        self._announced_at = float("-inf")  # monotonic time of the last (re)announcement
        self._reannounce_at: float | None = None  # Home Assistant asked again: when to answer
        self._device: dict[str, Any] | None = None  # the device config on the broker
        self._newest: Message | None = None  # set by the publisher, taken by this thread
        self._prediction: Message | None = None  # waiting for prediction_interval_s
        self._prediction_sent = 0.0
        self._stats_sent = time.monotonic()
        self.client = new_client(f"shadercam-{self.node_id}", paho.MQTTv5)
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
                   service.stats, EventRules.from_config(config).watches, page_url(config),
                   service.taught, service.preview, config.teach_interval_s,
                   service.taught_stored)

    # -- lifecycle (service thread) -------------------------------------------------------
    def start(self) -> None:
        super().start()
        self.client.connect_async(self.settings.host, self.settings.port, keepalive=30,
                                  properties=_connect_properties())
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

    def send_test(self) -> dict[str, Any]:
        """Publish a marked test message on `<prefix>/test` (QoS 1) and wait, at most
        TEST_WAIT_S, for the broker to acknowledge it; says what happened in words."""
        target = f"{self.prefix}/test on {self.settings.host}:{self.settings.port}"
        error = None
        if not self.connected:
            error = f"not connected to the broker: {self.error or 'connecting'}"
        else:
            info = self.client.publish(f"{self.prefix}/test", json.dumps(marked_test_message()),
                                       qos=1)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                error = f"the message was not sent: {paho.error_string(info.rc)}"
            else:
                try:
                    info.wait_for_publish(TEST_WAIT_S)
                except (RuntimeError, ValueError) as exc:  # the connection went away meanwhile
                    error = f"the message was not sent: {exc}"
                if error is None and not info.is_published():
                    error = f"the broker did not acknowledge it within {TEST_WAIT_S:g} s"
        return {"delivered": error is None,
                "results": [{"target": target, "delivered": error is None, "error": error}]}

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
        self._retained = {}
        self._scanned.clear()
        # the availability topic too: the service's own "online" coming back (not retained)
        # says the retained messages of the topics before it have all arrived
        client.subscribe([(self._status_topic, 0), *((topic, 1) for topic in self._scan_topics),
                          (f"{self.prefix}/available", 1)])
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
        """Home Assistant (re)started: announce again, once for a whole burst of such messages;
        while a connect reads back what the broker retains under the node, keep it."""
        if message.topic == self._status_topic:
            if message.payload == b"online" and self._reannounce_at is None:
                self._reannounce_at = max(time.monotonic(),
                                          self._announced_at + REANNOUNCE_GAP_S)
        elif self._scanned.is_set():
            return
        elif message.topic == f"{self.prefix}/available":
            if not message.retain:
                self._scanned.set()
        elif message.retain and message.payload:
            self._retained[message.topic] = message.payload

    # -- this output's thread -------------------------------------------------------------
    def _handle(self, item: Any) -> None:
        if item is CONNECTED:
            self._send(f"{self.prefix}/available", "online", qos=1, retain=True)
            self._read_retained()
            self._announce(force=True)
            self._send_states()
            self._stats_sent = -math.inf  # and the stats at the next tick
            while self._offline and self.connected:
                self._send(*self._offline.popleft())
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
        self._send_available()
        now = time.monotonic()
        if self._reannounce_at is not None and now >= self._reannounce_at:
            self._reannounce_at, self._announced_at = None, now
            self._announce(force=True)
            self._send_states()
            self._stats_sent = -math.inf  # a restarted Home Assistant knows no fps until then
        if self._prediction is not None and \
                now - self._prediction_sent >= self.settings.prediction_interval_s:
            self._send(f"{self.prefix}/prediction", self._prediction.json)
            self._prediction, self._prediction_sent = None, now
        if now - self._stats_sent >= self.settings.stats_interval_s:
            stats = self.stats()
            # no rate is measured before two frames: 0.0 then is no sample, so wait for one
            if stats["fps"] > 0 or stats["frames"]["processed"] >= 2:
                self._stats_sent = now
                self._send(f"{self.prefix}/stats", json.dumps(stats))

    def _on_prediction(self, message: Message) -> None:
        if self._announce(force=False):
            self._send_states()
        label = message.prediction.label or "uncertain"
        if label != self._label:
            self._label = label
            self._send(f"{self.prefix}/label", label, retain=True)
        self._prediction = message
        self._on_taught(message.prediction.taught)

    def _on_taught(self, results: dict[str, dict[str, Any]]) -> None:
        """Each running taught classifier's state on change, its attributes on a new result
        (at most once per prediction_interval_s), its picture on change and now and then."""
        now = time.monotonic()
        results = {name: result for name, result in results.items()
                   if name in self._taught_topics}
        changed = {change.name for change in self._taught_states.feed(results)}
        for name, result in results.items():
            topic = self._taught_topics[name]
            if name in changed:
                self._taught_sent[topic] = result["state"]
                self._send(topic, result["state"], retain=True)
            sent_at, frame = self._attributes_sent.get(name, (-math.inf, -1))
            if result["frame"] != frame and \
                    now - sent_at >= self.settings.prediction_interval_s:
                self._attributes_sent[name] = (now, result["frame"])
                self._send(f"{topic}/attributes", json.dumps(result))
            picture_at, _ = self._pictures.get(f"{topic}/image", (-math.inf, b""))
            if self.preview is not None and (
                    name in changed or now - picture_at >= TAUGHT_PICTURE_EVERY_S):
                picture = region_picture(self.preview, result["frame"],
                                         self._taught[name]["region"])
                if picture is not None:
                    self._pictures[f"{topic}/image"] = (now, picture)
                    self._send(f"{topic}/image", picture, retain=True)

    def _send_available(self) -> None:
        """Each announced taught classifier's availability, on change: "online" while it runs.
        One that stops forgets its state, so that it is sent again when it runs again."""
        running = self.taught()
        for name, topic in self._taught_topics.items():
            available = "online" if name in running else "offline"
            if self._available.get(f"{topic}/available") != available:
                self._available[f"{topic}/available"] = available
                self._send(f"{topic}/available", available, qos=1, retain=True)
        self._taught_states.forget(running)

    def _on_event(self, message: Message) -> None:
        event = message.body["event"]
        kind = "start" if event["state"] == "active" else "end"
        self._send(f"{self.prefix}/events", json.dumps({"type": kind, "event": event}), qos=1,
                   keep=True)
        if event.get("taught") is not None:  # its state and picture have their own topics
            return
        if message.snapshot is not None:
            self._snapshot = message.snapshot
            self._send(f"{self.prefix}/snapshot", message.snapshot, retain=True)
        topic = self._class_topic(event["label"])
        if topic is not None and self.watched(event["label"]):
            self._classes[topic] = "ON" if kind == "start" else "OFF"
            self._send(topic, self._classes[topic], retain=True)

    def _class_topic(self, label: str) -> str | None:
        """The state topic of a class of the model (None: not one of its labels)."""
        if label not in self._class_topics:
            self._map_classes(self.labels())
        return self._class_topics.get(label)

    def _map_classes(self, labels: Sequence[str]) -> None:
        ids = class_ids(labels)
        self._class_topics = {label: class_topic(self.prefix, ids[label]) for label in labels}

    def _watched_classes(self) -> tuple[str, ...]:
        classes = tuple(label for label in self.labels() if self.watched(label))
        if len(classes) > MAX_CLASS_SENSORS:
            return ()  # too many to show as sensors: name the classes in events.labels
        return classes

    def _read_retained(self) -> None:
        """Wait (bounded) for what the broker retains under this node, then stop listening to
        it; without an answer nothing is cleared."""
        answered = self._scanned.wait(SCAN_S)
        self._scanned.set()
        if not answered:
            log.warning("MQTT: the broker did not return the service's own messages within "
                        "%.0f s; leftovers of earlier runs are not cleared", SCAN_S)
            self._retained = {}
        if self.connected:
            self.client.unsubscribe([*self._scan_topics, f"{self.prefix}/available"])
        try:
            device = json.loads(self._retained.get(self._device_topic) or "null")
        except ValueError:  # not ours after all: it is replaced
            device = None
        self._device = device if isinstance(device, dict) else None

    def _announce(self, force: bool) -> bool:
        """Send the device config once the model's labels are known, again whenever they or the
        model change and whenever `force`d, and clear what is no longer announced: earlier
        versions' per-entity configs (moved over), entities and class states of classes gone.
        True when sent."""
        labels = tuple(self.labels())
        if not self.connected or not labels:
            return False
        classes = self._watched_classes()
        taught = self.taught_stored()
        made_from = (self.model_name(), labels, classes,
                     tuple((name, tuple(info["classes"]), tuple(info["region"]))
                           for name, info in sorted(taught.items())))
        if self._announced == made_from and not force:
            return False
        self._announced, self._announced_at = made_from, time.monotonic()
        self._map_classes(labels)
        self._map_taught(taught)
        if self.settings.discovery:
            name = f"ShaderCam {self.prefix.rsplit('/', 1)[-1]}"
            topic, config = device_config(
                self.settings.discovery_prefix, self.prefix, self.node_id, name,
                self.model_name(), labels, classes, self.page_url,
                self.settings.prediction_interval_s, self.settings.stats_interval_s,
                {name: info["classes"] for name, info in taught.items()},
                self.taught_interval_s)
            migrate, old = migration_messages(self.settings.discovery_prefix, self.node_id,
                                              config, self._retained)
            # migrated entities are unloaded with their registry entries kept; clearing their
            # old topics before the device config comes means Home Assistant sees no conflict
            for old_topic in migrate:
                self._send(old_topic, MIGRATE, qos=1, retain=True)
            for old_topic in old:
                self._send(old_topic, "", qos=1, retain=True)
            config = with_removals(config, self._device)
            self._send(topic, json.dumps(config), qos=1, retain=True)
            self._device = config
        else:  # discovery turned off: no config of this node stays
            for old_topic in entity_configs(self.settings.discovery_prefix, self.node_id,
                                            self._retained):
                self._send(old_topic, "", qos=1, retain=True)
            if self._device_topic in self._retained:
                self._send(self._device_topic, "", qos=1, retain=True)
        # class states: every class with a sensor starts "OFF"; those of unwatched classes go
        announced = {self._class_topics[label] for label in labels if self.watched(label)}
        for label in classes:
            self._classes.setdefault(self._class_topics[label], "OFF")
        leftovers = {topic for topic in self._retained if topic.startswith(f"{self.prefix}/class/")}
        for topic in (set(self._classes) | leftovers) - announced:
            self._classes.pop(topic, None)
            self._send(topic, "", qos=1, retain=True)
        # taught states, pictures and availabilities of classifiers deleted go
        stored = set(self._taught_topics.values())
        under = f"{self.prefix}/taught/"
        leftovers = {under + topic[len(under):].split("/")[0] for topic in self._retained
                     if topic.startswith(under)}
        for topic in (set(self._taught_sent) | set(self._available_states()) | leftovers) \
                - stored:
            self._taught_sent.pop(topic, None)
            self._pictures.pop(f"{topic}/image", None)
            self._available.pop(f"{topic}/available", None)
            for cleared in (topic, f"{topic}/image", f"{topic}/available"):
                self._send(cleared, "", qos=1, retain=True)
        self._retained = {}
        return True

    def _available_states(self) -> list[str]:
        """The state topics whose availability was sent."""
        return [topic.removesuffix("/available") for topic in self._available]

    def _map_taught(self, taught: dict[str, dict[str, Any]]) -> None:
        """Take the stored taught classifiers: their topics, and a fresh start for those that
        changed (a state is sent again, a new picture taken)."""
        ids = class_ids(list(taught))
        topics = {name: taught_topic(self.prefix, ids[name]) for name in taught}
        self._taught_states.forget({
            name for name in taught if self._taught.get(name) == taught[name]
            and self._taught_topics.get(name) == topics[name]})
        self._taught, self._taught_topics = taught, topics
        self._attributes_sent = {name: sent for name, sent in self._attributes_sent.items()
                                 if name in taught}

    def _send_states(self) -> None:
        """The retained states as they are now, after a reconnect (a broker without persistence
        forgets them on restart); so only events wait in the offline queue."""
        if self._label is not None:
            self._send(f"{self.prefix}/label", self._label, retain=True)
        if self._snapshot is not None:
            self._send(f"{self.prefix}/snapshot", self._snapshot, retain=True)
        for topic, state in self._classes.items():
            self._send(topic, state, retain=True)
        for topic, state in self._taught_sent.items():
            self._send(topic, state, retain=True)
        for topic, available in self._available.items():
            self._send(topic, available, qos=1, retain=True)
        for topic, (_, picture) in self._pictures.items():
            self._send(topic, picture, retain=True)

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


def page_url(config: Config) -> str:
    """The page's address as Home Assistant links to it: `mqtt.page_url`, else made from where
    the server listens (this machine's .local name when it listens on every address)."""
    if config.mqtt_page_url:
        return config.mqtt_page_url
    host = config.server_host
    if host in ("0.0.0.0", "::"):
        host = f"{socket.gethostname()}.local"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.server_port}/"
