"""The page's stored settings are held to the same types and ranges as the config keys they
override: a hand-edited or damaged settings.json never reaches the classifier."""
from __future__ import annotations

import json
import logging

import pytest

from app.runtime_settings import SettingsFile


def test_saved_settings_load_back(tmp_path):
    settings = SettingsFile(tmp_path)
    settings.save({"threshold": 0.25, "smoothing": 4})
    assert settings.load() == {"threshold": 0.25, "smoothing": 4}
    assert json.loads(settings.path.read_text()) == {"threshold": 0.25, "smoothing": 4}


@pytest.mark.parametrize("stored, named", [
    ({"threshold": 2, "smoothing": 1}, "model.threshold"),
    ({"threshold": 0.5, "smoothing": 0}, "model.smoothing"),
    ({"smoothing": "many"}, "model.smoothing"),
    ({"threshold": True}, "model.threshold"),
])
def test_a_value_out_of_its_config_range_ignores_the_file(tmp_path, caplog, stored, named):
    settings = SettingsFile(tmp_path)
    settings.path.write_text(json.dumps(stored))
    with caplog.at_level(logging.WARNING, logger="app.runtime_settings"):
        assert settings.load() == {}
    assert named in caplog.text and str(settings.path) in caplog.text


@pytest.mark.parametrize("text", ["[0.5, 1]", "{not json", ""])
def test_a_file_that_is_no_settings_object_is_ignored(tmp_path, caplog, text):
    settings = SettingsFile(tmp_path)
    settings.path.write_text(text)
    with caplog.at_level(logging.WARNING, logger="app.runtime_settings"):
        assert settings.load() == {}
    assert str(settings.path) in caplog.text


def test_only_known_keys_are_taken(tmp_path):
    settings = SettingsFile(tmp_path)
    settings.path.write_text(json.dumps({"threshold": 1, "colour": "red"}))
    assert settings.load() == {"threshold": 1.0}
