"""The device config and ids of Home Assistant discovery, without a broker: ids that no two
classes share and that stay the same, the removal entries for entities that went, and which
per-entity configs of earlier versions are migrated."""
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
                f"homeassistant/binary_sensor/other_node/class_dog/config",
                f"homeassistant/device/{NODE}/config", "shadercam/cam/class/cat"]
    migrate, old = migration_messages("homeassistant", NODE, payload, retained)
    assert migrate == [f"homeassistant/binary_sensor/{NODE}/class_dog/config",
                       f"homeassistant/sensor/{NODE}/label/config"]
    assert old == sorted(retained[:3])
