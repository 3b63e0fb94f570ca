"""The device config and ids of Home Assistant discovery, without a broker: ids that no two
classes share and that stay the same, the removal entries for entities that went, and which
per-entity configs of earlier versions are migrated."""
import json

from app.outputs.ha_discovery import class_ids, device_config, migration_messages, with_removals

NODE = "shadercam_cam"


def config(labels, watched, **changes):
    arguments = dict(discovery_prefix="homeassistant", prefix="shadercam/cam", node_id=NODE,
                     device_name="ShaderCam cam", model_name="m", labels=labels,
                     watched=watched, page_url="http://cam.local:8080/",
                     prediction_interval_s=1.0, stats_interval_s=60.0)
    return device_config(**{**arguments, **changes})


def test_every_class_gets_its_own_id_and_plain_slugs_stay():
    labels = ["golden retriever", "日本", "狗", "café", "t-shirt", "t shirt", "star", "star"]
    ids = class_ids(labels)
    assert ids["golden retriever"] == "golden_retriever" and ids["star"] == "star"
    assert ids["café"] == "caf"  # unique, so as earlier versions had it
    made = [ids[label] for label in dict.fromkeys(labels)]
    assert len(set(made)) == len(made)
    for label in ("日本", "狗", "t-shirt", "t shirt"):
        assert ids[label] != "_" and set(ids[label]) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")
    assert ids["t-shirt"].startswith("t_shirt_") and ids["t shirt"].startswith("t_shirt_")
    # the same label gets the same id whatever else the model has, unless it becomes ambiguous
    assert class_ids(["日本", "cat"])["日本"] == ids["日本"]
    assert class_ids(["t-shirt", "t shirt", "cat"])["t-shirt"] == ids["t-shirt"]


def test_the_device_config_carries_origin_link_enum_and_expiry():
    topic, payload = config(["cat", "dog"], ["dog"])
    assert topic == f"homeassistant/device/{NODE}/config"
    assert payload["device"]["configuration_url"] == "http://cam.local:8080/"
    assert payload["origin"]["name"] == "ShaderCam"
    components = payload["components"]
    assert sorted(components) == ["class_dog", "confidence", "fps", "label", "latency",
                                  "snapshot"]
    assert components["label"]["options"] == ["cat", "dog", "uncertain"]
    assert "expire_after" not in components["label"]
    assert components["fps"]["expire_after"] == 180 and components["latency"]["expire_after"] == 10
    assert components["class_dog"]["state_topic"] == "shadercam/cam/class/dog"


def test_entities_that_went_are_removed_once():
    _, before = config(["cat", "dog"], ["cat", "dog"])
    _, after = config(["cat", "dog"], ["dog"])
    sent = with_removals(after, before)
    assert sent["components"]["class_cat"] == {"platform": "binary_sensor"}
    assert with_removals(after, sent) == after  # a removal entry is not sent again
    assert with_removals(after, None) == after
    # whatever else the broker kept there is no device config of ours
    for kept in ({"components": []}, {"components": {"x": "y", "z": {"p": "sensor", "a": 1}}}):
        assert with_removals(after, kept) == after


def test_per_entity_configs_of_this_node_are_migrated_or_cleared():
    _, payload = config(["cat", "dog"], ["dog"])
    retained = [f"homeassistant/sensor/{NODE}/label/config",
                f"homeassistant/binary_sensor/{NODE}/class_cat/config",
                f"homeassistant/binary_sensor/{NODE}/class_dog/config",
                "homeassistant/binary_sensor/other_node/class_dog/config",
                f"homeassistant/device/{NODE}/config", "shadercam/cam/class/cat"]
    migrate, old = migration_messages("homeassistant", NODE, payload, retained)
    assert migrate == [f"homeassistant/binary_sensor/{NODE}/class_dog/config",
                       f"homeassistant/sensor/{NODE}/label/config"]
    assert old == sorted(retained[:3])


def test_each_taught_classifier_has_its_state_confidence_and_picture():
    _, payload = config(["cat", "dog"], [], taught={"front-door": ["open", "closed"],
                                                    "front_door": ["a", "b"]},
                        taught_interval_s=3.0)
    components = payload["components"]
    taught = sorted(object_id for object_id in components if object_id.startswith("taught_"))
    assert len(taught) == 6 and len({components[o]["unique_id"] for o in taught}) == 6
    state_id = next(o for o in taught if components[o].get("name") == "front-door")
    state = components[state_id]
    assert state["platform"] == "sensor" and state["device_class"] == "enum"
    assert state["options"] == ["open", "closed", "unknown"]
    topic = state["state_topic"]
    assert topic.startswith("shadercam/cam/taught/") and "-" not in topic.rsplit("/", 1)[1]
    assert state["json_attributes_topic"] == f"{topic}/attributes"
    assert state["unique_id"] == f"{NODE}_{state_id}" and "expire_after" not in state
    confidence = components[f"{state_id}_confidence"]
    assert confidence["state_topic"] == f"{topic}/attributes"
    assert confidence["unit_of_measurement"] == "%"
    assert confidence["expire_after"] == 18  # 2 classifiers, each at most every 3 s: 3 x 6 s
    picture = components[f"{state_id}_picture"]
    assert picture["platform"] == "image" and picture["image_topic"] == f"{topic}/image"
    # available while the device is and it runs (its own topic), the others as the device
    assert [a["topic"] for a in payload["availability"]] == ["shadercam/cam/available"]
    for entity in (state, confidence, picture):
        assert entity["availability_mode"] == "all"
        assert [a["topic"] for a in entity["availability"]] == [
            "shadercam/cam/available", f"{topic}/available"]
        assert {a["payload_not_available"] for a in entity["availability"]} == {"offline"}
    assert "availability" not in components["label"]
    # a classifier deleted: its entities are named with their platform alone
    _, after = config(["cat", "dog"], [], taught={"front_door": ["a", "b"]})
    removed = with_removals(after, payload)["components"]
    assert removed[state_id] == {"platform": "sensor"}
    assert removed[f"{state_id}_picture"] == {"platform": "image"}


def test_the_largest_device_config_fits_what_the_service_reads_back():
    from app.outputs.mqtt import MAX_CLASS_SENSORS, MAX_INCOMING_BYTES
    from app.teach.store import MAX_CLASSES, MAX_CLASSIFIERS
    labels = [f"a class name of the model that is long {n:04d}" for n in range(1000)]
    taught = {f"{n:02d}-a-taught-classifier-name-long"[:32]: [f"a long class name of it {c:06d}"
                                                        for c in range(MAX_CLASSES)]
              for n in range(MAX_CLASSIFIERS)}
    _, payload = config(labels, labels[:MAX_CLASS_SENSORS], taught=taught)
    assert len(json.dumps(payload).encode()) < MAX_INCOMING_BYTES
