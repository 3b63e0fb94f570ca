"""Starts the service the way systemd/shadercam.service does - its ExecStart command line, the
example config the installer writes, the unit's Environment= and EnvironmentFile= and the
directories systemd hands it - and talks to it over loopback."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from app.models.store import ModelStore

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "shadercam.service"
EXAMPLE_CONFIG = REPO / "systemd" / "config.example.toml"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0  # the unit's TimeoutStopSec


def unit_settings(key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in UNIT.read_text().splitlines()
            if line.startswith(f"{key}=")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_environment_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, comments and blanks skipped: the subset of systemd's syntax we document."""
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def get_json(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.load(response)


@pytest.fixture
def system(tmp_path, dog_model):
    """/etc/shadercam, /var/lib/shadercam and /var/cache/shadercam as the installer and systemd
    would leave them, with the dog classifier installed as the default model."""
    etc, state, cache = tmp_path / "etc", tmp_path / "state", tmp_path / "cache" / "shadercam"
    for folder in (etc, state, cache):
        folder.mkdir(parents=True)
    shutil.copy(EXAMPLE_CONFIG, etc / "config.toml")
    port = free_port()
    (etc / "environment").write_text(
        "# per-key overrides, as an administrator would write them\n"
        f"SHADERCAM_SERVER_HOST=127.0.0.1\nSHADERCAM_SERVER_PORT={port}\n"
        "SHADERCAM_CAMERA_FPS=2\n")
    ModelStore(state / "models").install(str(dog_model))
    return etc, state, cache, port


def test_service_starts_as_the_unit_runs_it_and_answers_health(system):
    etc, state, cache, port = system
    (exec_start,) = unit_settings("ExecStart")
    program, *args = exec_start.split()
    assert program == "/opt/shadercam/venv/bin/shadercam"
    args = [arg.replace("/etc/shadercam", str(etc)) for arg in args]
    env_file = unit_settings("EnvironmentFile")[0].lstrip("-").replace("/etc/shadercam", str(etc))

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(state),
           "STATE_DIRECTORY": str(state), "CACHE_DIRECTORY": str(cache)}
    for assignment in unit_settings("Environment"):
        key, _, value = assignment.partition("=")
        env[key] = value.replace("%C", str(cache.parent))  # %C: the root of cache folders
    env.update(read_environment_file(Path(env_file)))
    for name in ("MESA_GLES_VERSION_OVERRIDE", "PYTHONPATH"):  # test harness settings
        if name in os.environ:
            env[name] = os.environ[name]
    assert env["MESA_SHADER_CACHE_DIR"] == str(cache)

    # The console script's entry point (app.cli:main) on this interpreter, run from the checkout.
    process = subprocess.Popen([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, health = get_json(f"{base}/api/health")
                if status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        assert process.poll() is None, process.stdout.read()
        assert health is not None, "no answer from /api/health"

        # The model came from the store folder systemd gave it (StateDirectory=).
        labels, why = None, ""
        while labels is None and time.monotonic() < deadline and process.poll() is None:
            try:
                labels = get_json(f"{base}/api/labels")[1]
            except urllib.error.HTTPError as exc:  # 503 while the model is loading
                assert exc.code == 503, exc
                why = exc.read().decode()
                time.sleep(0.3)
        assert labels is not None, f"the model did not load in time: {why}"
        assert labels["model_name"] == "dog_classifier" and "Chihuahua" in labels["labels"]

        while health["status"] != "ok" and time.monotonic() < deadline:
            time.sleep(0.3)
            health = get_json(f"{base}/api/health")[1]
        assert health["status"] == "ok", health  # demo camera running, model classifying
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            pytest.fail(f"did not stop within TimeoutStopSec:\n{output}")
    # systemd counts exit 0 and death by SIGTERM as clean: Restart=on-failure leaves it stopped.
    assert process.returncode in (0, -signal.SIGTERM), output
    assert list(cache.iterdir()), "Mesa wrote no shader cache into CacheDirectory="
