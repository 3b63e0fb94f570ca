"""Home Assistant MQTT discovery: the retained config messages that make ShaderCam appear in
Home Assistant as one device with its entities, without any YAML on the Home Assistant side.

Topics are `<discovery_prefix>/<component>/<node_id>/<object_id>/config`; every entity has a
`unique_id` derived from the node id only, so it stays the same across restarts and model
changes, and shares the device's availability topic.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from app.labels import display_label
from app.version import version


def slug(text: str) -> str:
    """A topic level / object id made of [a-z0-9_] only."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "_"


def class_topic(prefix: str, label: str) -> str:
    return f"{prefix}/class/{slug(label)}"


def discovery_messages(discovery_prefix: str, prefix: str, node_id: str, device_name: str,
                       model_name: str, classes: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
    """(topic, payload) of every entity: the top-1 label, confidence, fps and latency sensors,
    one binary sensor per watched class (on while its event lasts), the snapshot image."""
    device = {"identifiers": [node_id], "name": device_name, "manufacturer": "ShaderCam",
              "model": f"GPU image classifier ({model_name})", "sw_version": version()}
    common = {"availability_topic": f"{prefix}/available", "payload_available": "online",
              "payload_not_available": "offline", "device": device}

    def entity(component: str, object_id: str, name: str, **fields: Any) -> tuple[str, dict]:
        unique_id = f"{node_id}_{object_id}"
        return (f"{discovery_prefix}/{component}/{node_id}/{object_id}/config",
                {"name": name, "unique_id": unique_id,
                 "default_entity_id": f"{component}.{unique_id}", **common, **fields})

    messages = [
        entity("sensor", "label", "Label", state_topic=f"{prefix}/label", icon="mdi:eye"),
        entity("sensor", "confidence", "Confidence", state_topic=f"{prefix}/prediction",
               value_template="{{ (value_json.top_k[0].probability * 100) | round(1) }}",
               unit_of_measurement="%", state_class="measurement", icon="mdi:percent"),
        entity("sensor", "latency", "Latency", state_topic=f"{prefix}/prediction",
               value_template="{{ value_json.timings_ms.total | round(0) }}",
               unit_of_measurement="ms", device_class="duration", state_class="measurement"),
        entity("sensor", "fps", "Classifier fps", state_topic=f"{prefix}/stats",
               value_template="{{ value_json.fps }}", unit_of_measurement="fps",
               state_class="measurement", icon="mdi:speedometer"),
        entity("image", "snapshot", "Snapshot", image_topic=f"{prefix}/snapshot",
               content_type="image/jpeg"),
    ]
    for label in classes:
        messages.append(entity("binary_sensor", f"class_{slug(label)}", display_label(label),
                               state_topic=class_topic(prefix, label), payload_on="ON",
                               payload_off="OFF", icon="mdi:shape"))
    return messages
