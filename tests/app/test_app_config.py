"""Configuration: file < environment < flags, and errors that name the key."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import KEYS, ConfigError, load_config, unknown_env

EXAMPLE = Path(__file__).resolve().parents[2] / "systemd" / "config.example.toml"


def test_example_file_documents_every_key_with_its_default():
    text = EXAMPLE.read_text()
    config = load_config(EXAMPLE, env={})
    for key in KEYS:
        assert re.search(rf"^{key.name} = ", text, re.M), f"{key.dotted} missing from example"
        assert config.get(key.dotted) == key.default, key.dotted
    # every assignment belongs to a group of lines opened by a comment
    previous = ""
    for line in text.splitlines():
        if re.match(r"^\w+ = ", line):
            assert previous.startswith("#") or re.match(r"^\w+ = ", previous), line
        previous = line


def test_precedence_file_env_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[server]\nport = 9000\nhost = "127.0.0.1"\n[model]\ntop_k = 3\n')
    env = {"SHADERCAM_SERVER_PORT": "9100", "SHADERCAM_MODEL_THRESHOLD": "0.25"}
    config = load_config(path, env=env, overrides={"model.top_k": 7, "camera.fps": None})
    assert config.server_port == 9100 and config.origins["server.port"] == "SHADERCAM_SERVER_PORT"
    assert config.server_host == "127.0.0.1"
    assert config.model_top_k == 7 and config.origins["model.top_k"] == "command line"
    assert config.model_threshold == 0.25
    assert config.camera_fps == 10.0  # a flag given as None leaves the value alone


def test_config_path_from_environment(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[camera]\nsource = "picamera2"\n')
    assert load_config(env={"SHADERCAM_CONFIG": str(path)}).camera_source == "picamera2"


@pytest.mark.parametrize("text, env, message", [
    ('[server]\nport = 70000\n', {}, r"server\.port .*between 1 and 65535"),
    ('[server]\nport = "80"\n', {}, r"server\.port .*expected int"),
    ('[camera]\nspeed = 3\n', {}, r"camera\.speed .*unknown key"),
    ('[camera]\nsource = "webcam"\n', {}, r"camera\.source .*demo, picamera2 or files:PATH"),
    ('camera = 3\n', {}, r"camera .*\[camera\] table"),
    ('[model\n', {}, r"not valid TOML"),
    ('', {"SHADERCAM_CAMERA_FPS": "fast"}, r"camera\.fps \(from SHADERCAM_CAMERA_FPS\)"),
    ('', {"SHADERCAM_MODEL_SELF_TEST": "maybe"}, r"model\.self_test .*on, off"),
    ('[camera]\nretry_min_s = 5\nretry_max_s = 1\n', {}, r"camera\.retry_max_s"),
])
def test_bad_values_name_the_key(tmp_path, text, env, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, env=env)


def test_a_removed_key_is_refused_with_the_reason_and_where_it_was_set(tmp_path):
    """model.gl_api chose desktop GL once; a setting that is still there must not be ignored."""
    path = tmp_path / "c.toml"
    path.write_text('[model]\ngl_api = "gles2"\n')
    reason = r"this key was removed: ShaderCam always uses OpenGL ES 2\.0"
    where = re.escape(str(path))
    with pytest.raises(ConfigError, match=rf"^model\.gl_api \(in {where}\): {reason}"):
        load_config(path, env={})
    variable = "SHADERCAM_MODEL_GL_API"
    with pytest.raises(ConfigError, match=rf"^model\.gl_api \(from {variable}\): {reason}"):
        load_config(env={variable: "gl"})
    assert "model.gl_api" not in load_config(env={}).values
    assert unknown_env({variable: "gl"}) == []  # the error says it all


def test_bad_flag_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"model\.top_k \(from command line\)"):
        load_config(env={}, overrides={"model.top_k": 0})
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml", env={})
