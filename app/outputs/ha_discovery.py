"""Home Assistant MQTT discovery: the one retained device config that makes ShaderCam appear in
Home Assistant as one device with its entities, without any YAML on the Home Assistant side.

The config goes to `<discovery_prefix>/device/<node_id>/config` (device-based discovery,
Home Assistant 2024.12+). Every entity's `unique_id` is `<node_id>_<object_id>`, derived from
the node id and the class alone, so it stays the same across restarts and model changes, and is
the same as under the per-entity topics `<discovery_prefix>/<component>/<node_id>/<object_id>/
config` that earlier versions published: `migration_messages` moves those over without changing
any entity id.

Each stored taught classifier adds three entities, ids `taught_<id>` (id: its name made a
slug, unique as class ids are): its state (an enum of its classes and "unknown", with its
newest result as attributes), its confidence, and its region's picture. They are available
while the device is AND the classifier runs (`<prefix>/taught/<id>/available`), so one
switched off stays in Home Assistant, unavailable, with the user's entity ids and settings.
When one is deleted, the next device config names its entities with the platform alone, which
is how Home Assistant is told to remove them (`with_removals`).
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from app.labels import display_label
from app.teach.head import UNKNOWN
from app.version import version

UNCERTAIN = "uncertain"  # the label sent below the threshold


def slug(text: str) -> str:
    """A topic level / object id made of [a-z0-9_] only."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "_"


def class_ids(labels: Sequence[str]) -> dict[str, str]:
    """label -> the id of its binary sensor and state topic, unique among the model's labels.
    A label keeps its plain slug (as earlier versions had it, so existing entities keep their
    ids) unless that is empty or another label of the model shares it; then a short hash of the
    label follows the slug, and the class index where even that is taken (a repeated label)."""
    distinct = list(dict.fromkeys(labels))
    counts = Counter(slug(label) for label in distinct)
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for index, label in enumerate(distinct):
        made = slug(label)
        if made == "_" or counts[made] > 1:
            digest = hashlib.sha1(label.encode()).hexdigest()[:6]
            made = f"{made.strip('_') or 'class'}_{digest}"
        if made in taken:
            made = f"{made}_{index}"
        taken.add(made)
        ids[label] = made
    return ids


def class_topic(prefix: str, class_id: str) -> str:
    return f"{prefix}/class/{class_id}"


def taught_topic(prefix: str, taught_id: str) -> str:
    """A taught classifier's state topic; its attributes, picture and availability are under
    it."""
    return f"{prefix}/taught/{taught_id}"


def availability(topic: str) -> dict[str, str]:
    """One entry of an entity's `availability` list: "online" / "offline" on `topic`."""
    return {"topic": topic, "payload_available": "online", "payload_not_available": "offline"}


def expire_after(interval_s: float) -> int:
    """Seconds after which Home Assistant shows a value sent every `interval_s` as unavailable:
    three missed sends, at least 10 s."""
    return max(10, math.ceil(3 * interval_s))


def device_config(discovery_prefix: str, prefix: str, node_id: str, device_name: str,
                  model_name: str, labels: Sequence[str], watched: Iterable[str], page_url: str,
                  prediction_interval_s: float, stats_interval_s: float,
                  taught: Mapping[str, Sequence[str]] | None = None,
                  taught_interval_s: float = 1.0) -> tuple[str, dict[str, Any]]:
    """(topic, payload) of the device with every entity: the top-1 label (an enum of the model's
    labels and "uncertain"), confidence, fps and latency sensors, one binary sensor per watched
    class (on while its event lasts), the snapshot image; and per `taught` classifier (name ->
    its classes; every stored one) its state, confidence and picture, available only while it
    runs. `taught_interval_s`: how often a taught classifier runs at most (its confidence
    expires after three missed)."""
    ids = class_ids(labels)

    def entity(component: str, object_id: str, name: str, **fields: Any) -> tuple[str, dict]:
        unique_id = f"{node_id}_{object_id}"
        return object_id, {"platform": component, "name": name, "unique_id": unique_id,
                           "default_entity_id": f"{component}.{unique_id}", **fields}

    predictions_expire = expire_after(max(prediction_interval_s, 1.0))
    components = dict([
        # sent only on change: no expire_after, or a steady label would expire
        entity("sensor", "label", "Label", state_topic=f"{prefix}/label", icon="mdi:eye",
               device_class="enum", options=[*dict.fromkeys(labels), UNCERTAIN]),
        entity("sensor", "confidence", "Confidence", state_topic=f"{prefix}/prediction",
               value_template="{{ (value_json.top_k[0].probability * 100) | round(1) }}",
               unit_of_measurement="%", state_class="measurement", icon="mdi:percent",
               expire_after=predictions_expire),
        entity("sensor", "latency", "Latency", state_topic=f"{prefix}/prediction",
               value_template="{{ value_json.timings_ms.total | round(0) }}",
               unit_of_measurement="ms", device_class="duration", state_class="measurement",
               expire_after=predictions_expire),
        entity("sensor", "fps", "Classifier fps", state_topic=f"{prefix}/stats",
               value_template="{{ value_json.fps }}", unit_of_measurement="fps",
               state_class="measurement", icon="mdi:speedometer",
               expire_after=expire_after(stats_interval_s)),
        entity("image", "snapshot", "Snapshot", image_topic=f"{prefix}/snapshot",
               content_type="image/jpeg"),
    ])
    for label in watched:
        components.update([entity(
            "binary_sensor", f"class_{ids[label]}", display_label(label),
            state_topic=class_topic(prefix, ids[label]), payload_on="ON", payload_off="OFF",
            icon="mdi:shape")])
    taught = taught or {}
    # the worker runs one taught classifier per frame, each at most every taught_interval_s:
    # with several, each comes about that many times less often (and a Pi Zero takes seconds)
    taught_expire = expire_after(max(prediction_interval_s, taught_interval_s * len(taught), 5.0))
    device_available = availability(f"{prefix}/available")
    for name, taught_id in class_ids(list(taught)).items():
        topic = taught_topic(prefix, taught_id)
        # overrides the device's availability (Home Assistant takes an entity's own first)
        available = {"availability": [device_available, availability(f"{topic}/available")],
                     "availability_mode": "all"}
        components.update([
            # sent on change and retained: no expire_after, as the label
            entity("sensor", f"taught_{taught_id}", name, state_topic=topic,
                   json_attributes_topic=f"{topic}/attributes", device_class="enum",
                   options=[*taught[name], UNKNOWN], icon="mdi:school", **available),
            entity("sensor", f"taught_{taught_id}_confidence", f"{name} confidence",
                   state_topic=f"{topic}/attributes",
                   value_template="{{ (value_json.probability * 100) | round(1) }}",
                   unit_of_measurement="%", state_class="measurement", icon="mdi:percent",
                   expire_after=taught_expire, **available),
            entity("image", f"taught_{taught_id}_picture", f"{name} picture",
                   image_topic=f"{topic}/image", content_type="image/jpeg", **available),
        ])
    payload = {
        "device": {"identifiers": [node_id], "name": device_name, "manufacturer": "ShaderCam",
                   "model": f"GPU image classifier ({model_name})", "sw_version": version(),
                   "configuration_url": page_url},
        "origin": {"name": "ShaderCam", "sw_version": version(), "support_url": page_url},
        # a list, as the taught entities' own: Home Assistant merges the device's availability
        # into each entity that has none, and a topic would clash with an entity's list
        "availability": [device_available], "qos": 1,
        "components": components,
    }
    return f"{discovery_prefix}/device/{node_id}/config", payload


def entity_config_topic(discovery_prefix: str, node_id: str, component: str,
                        object_id: str) -> str:
    """Where earlier versions put an entity's own config (per-entity discovery)."""
    return f"{discovery_prefix}/{component}/{node_id}/{object_id}/config"


def migration_messages(discovery_prefix: str, node_id: str, config: dict[str, Any],
                       retained: Iterable[str]) -> tuple[list[str], list[str]]:
    """For the per-entity config topics still retained on the broker: (the topics of entities
    the device config carries on, which get `{"migrate_discovery": true}` so that Home
    Assistant unloads them but keeps their registry entries and so their entity ids; every one
    of them, which is cleared after that and before the device config)."""
    kept = {entity_config_topic(discovery_prefix, node_id, component["platform"], object_id)
            for object_id, component in config["components"].items()}
    old = entity_configs(discovery_prefix, node_id, retained)
    return [topic for topic in old if topic in kept], old


def entity_configs(discovery_prefix: str, node_id: str, topics: Iterable[str]) -> list[str]:
    """The per-entity config topics of this node among `topics`, sorted."""
    def of_node(topic: str) -> bool:
        levels = topic[len(discovery_prefix) + 1:].split("/")
        return topic.startswith(f"{discovery_prefix}/") and len(levels) == 4 and \
            levels[0] != "device" and levels[1] == node_id and levels[3] == "config"

    return sorted(filter(of_node, topics))


def with_removals(config: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """`config` plus, for each entity of the `previous` device config it no longer has, the
    platform alone: what tells Home Assistant to remove that entity (it keeps entities that are
    merely left out). `previous` is what the broker kept, so anything malformed is skipped."""
    components = (previous or {}).get("components")
    gone = {object_id: {"platform": component["platform"]}
            for object_id, component in (components if isinstance(components, dict) else {})
            .items()
            if object_id not in config["components"] and isinstance(component, dict)
            and isinstance(component.get("platform"), str) and len(component) > 1}
    return {**config, "components": {**config["components"], **gone}} if gone else config
