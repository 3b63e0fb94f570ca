"""The page's stored settings are held to the same types and ranges as the config keys they
override: a hand-edited or damaged settings.json never reaches the classifier. The state
directory has its own key, apart from the model store."""
from __future__ import annotations

import json
import logging

import pytest

from app.config import load_config
from app.models.store import SYSTEM_STATE, store_dir
from app.runtime_settings import (RUNTIME_KEYS, SettingsFile, SettingsProblem, checked,
                                  left_behind, state_dir)


def test_saved_settings_load_back(tmp_path):
    settings = SettingsFile(tmp_path)
    stored = {"top_k": 3, "camera_fps": 2.5, "event_labels": ["cat"],
              "event_thresholds": {"cat": 0.8},
              "models": {"dogs": {"threshold": 0.25, "smoothing": 4}, "cats": {"threshold": 0.7}}}
    settings.save(stored)
    assert settings.load() == stored
    assert json.loads(settings.path.read_text()) == stored


@pytest.mark.parametrize("stored, named", [
    ({"models": {"dogs": {"threshold": 2, "smoothing": 1}}}, "model.threshold"),
    ({"models": {"dogs": {"threshold": 0.5, "smoothing": 0}}}, "model.smoothing"),
    ({"models": {"dogs": {"smoothing": "many"}}}, "model.smoothing"),
    ({"models": {"dogs": {"threshold": True}}}, "model.threshold"),
    ({"top_k": 0}, "model.top_k"),
    ({"camera_fps": 500}, "camera.fps"),
    ({"event_labels": "cat"}, "events.labels"),
    ({"event_thresholds": {"cat": 1.5}}, "events.thresholds"),
])
def test_a_value_out_of_its_config_range_ignores_the_file(tmp_path, caplog, stored, named):
    settings = SettingsFile(tmp_path)
    settings.path.write_text(json.dumps(stored))
    with caplog.at_level(logging.WARNING, logger="app.runtime_settings"):
        assert settings.load() == {"models": {}}
    assert named in caplog.text and str(settings.path) in caplog.text


@pytest.mark.parametrize("text", ["[0.5, 1]", "{not json", "", '{"models": [1]}',
                                  '{"models": {"dogs": 0.5}}'])
def test_a_file_that_is_no_settings_object_is_ignored(tmp_path, caplog, text):
    settings = SettingsFile(tmp_path)
    settings.path.write_text(text)
    with caplog.at_level(logging.WARNING, logger="app.runtime_settings"):
        assert settings.load() == {"models": {}}
    assert str(settings.path) in caplog.text


def test_only_known_keys_are_taken(tmp_path):
    settings = SettingsFile(tmp_path)
    settings.path.write_text(json.dumps({"top_k": 1, "colour": "red",
                                         "models": {"dogs": {"threshold": 1, "top_k": 2}}}))
    assert settings.load() == {"top_k": 1, "models": {"dogs": {"threshold": 1.0}}}


def test_an_older_files_threshold_for_no_model_is_not_applied_to_any(tmp_path, caplog):
    """Older versions kept one threshold for whatever model ran: it is not guessed to be this
    model's, and the log says so."""
    settings = SettingsFile(tmp_path)
    settings.path.write_text(json.dumps({"threshold": 0.9, "smoothing": 3}))
    with caplog.at_level(logging.WARNING, logger="app.runtime_settings"):
        assert settings.load() == {"models": {}}
    assert "threshold, smoothing" in caplog.text and "per model" in caplog.text


def test_every_runtime_key_is_a_config_key():
    config = load_config(env={})
    for key in RUNTIME_KEYS:
        config.get(key.config)


@pytest.mark.parametrize("change, named, problem", [
    ({"top_k": 0}, "top_k", "between 1 and 1000"),
    ({"top_k": 2.5}, "top_k", "expected int"),
    ({"top_k": "3"}, "top_k", "expected int"),
    ({"threshold": 1.5}, "threshold", "between 0 and 1"),
    ({"threshold": None}, "threshold", "expected float"),
    ({"smoothing": 101}, "smoothing", "between 1 and 100"),
    ({"event_labels": "cat"}, "event_labels", "a list of strings"),
    ({"event_labels": [1]}, "event_labels", "a list of strings"),
    ({"event_threshold": -0.1}, "event_threshold", "between 0 and 1"),
    ({"event_thresholds": {"cat": 2}}, "event_thresholds", "cat: must be between 0 and 1"),
    ({"event_thresholds": {"cat": "high"}}, "event_thresholds", "a table of numbers"),
    ({"camera_fps": 0}, "camera_fps", "between 0.1 and 120"),
    ({"camera_fps": True}, "camera_fps", "expected float"),
    ({"colour": "red"}, "colour", "unknown setting; known: top_k, threshold"),
])
def test_a_change_is_refused_naming_the_key(change, named, problem):
    with pytest.raises(SettingsProblem) as refused:
        checked({"top_k": 3, **change} if named != "top_k" else change)
    assert list(refused.value.problems) == [named]
    assert problem in refused.value.problems[named]


@pytest.mark.parametrize("change", [[], {}, "top_k", None, [["top_k", 3]]])
def test_a_change_is_an_object_of_settings(change):
    with pytest.raises(SettingsProblem) as refused:
        checked(change)
    assert list(refused.value.problems) == [""]
    assert "expected a JSON object" in str(refused.value)


def test_a_change_takes_each_keys_type():
    assert checked({"threshold": 1, "camera_fps": 5, "event_labels": ["cat", "dog"],
                    "event_thresholds": {"cat": 1}}) == \
        {"threshold": 1.0, "camera_fps": 5.0, "event_labels": ["cat", "dog"],
         "event_thresholds": {"cat": 1.0}}


@pytest.mark.skipif(SYSTEM_STATE.is_dir(), reason="a system install's state directory is used")
def test_the_state_directory_does_not_follow_the_model_store(tmp_path):
    home = {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "data")}
    moved = {**home, "SHADERCAM_MODEL_STORE": str(tmp_path / "elsewhere" / "models")}
    assert state_dir(home) == state_dir(moved) == tmp_path / "data" / "shadercam"
    assert store_dir(moved) == tmp_path / "elsewhere" / "models"


def test_the_state_directory_key_and_systemd(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "data"),
           "SHADERCAM_SERVICE_STATE_DIR": str(tmp_path / "mine")}
    config = load_config(env=env)
    assert config.service_state_dir == str(tmp_path / "mine")
    assert state_dir(env, config.service_state_dir) == tmp_path / "mine"
    assert state_dir(env) == tmp_path / "mine"  # commands that read no config file
    assert state_dir({**env, "SHADERCAM_SERVICE_STATE_DIR": ""}, str(tmp_path / "file")) == \
        tmp_path / "file"
    # systemd's StateDirectory= wins: the installed unit keeps its /var/lib/shadercam
    systemd = {**env, "STATE_DIRECTORY": str(tmp_path / "unit")}
    assert state_dir(systemd, config.service_state_dir) == tmp_path / "unit"


def test_state_left_beside_a_moved_model_store_is_named_not_moved(tmp_path):
    old = tmp_path / "old"
    (old / "events").mkdir(parents=True)
    (old / "settings.json").write_text("{}")
    env = {"SHADERCAM_MODEL_STORE": str(old / "models")}
    [warning] = left_behind(tmp_path / "new", env)
    assert str(old) in warning and "settings.json, events" in warning
    assert "service.state_dir" in warning and str(tmp_path / "new") in warning
    assert (old / "settings.json").exists() and not (tmp_path / "new").exists()
    assert left_behind(old, env) == []  # the state directory is where the state is
    assert left_behind(tmp_path / "new", {}) == []
