"""`shadercam serve` as a process: config file, environment and flags, clean stop on SIGTERM."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from serving import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]


def shadercam(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def test_serve_runs_with_config_env_and_flags_then_stops_on_sigterm(tmp_path, colour_model,
                                                                  colour_pictures):
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text('[server]\nhost = "127.0.0.1"\nport = 1\n[camera]\nsource = "demo"\n'
                      '[model]\ntop_k = 9\n')
    process = shadercam("serve", "--config", str(config), "--port", str(port),
                        "--source", f"files:{colour_pictures}", "--model", str(colour_model),
                        env={"SHADERCAM_MODEL_TOP_K": "2", "SHADERCAM_CAMERA_FPS": "4"})
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            def latest():
                try:
                    return http.get("/api/latest").json().get("label") and http.get("/api/latest")
                except httpx.TransportError:
                    assert process.poll() is None, process.stdout.read()
                    return None

            body = wait_for(latest, timeout=60).json()
            assert body["label"] == "red" and len(body["top_k"]) == 2  # env beat the file
            assert http.get("/api/health").json()["camera"]["source"].startswith("files:")
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        log = process.stdout.read()
        serving = [line for line in log.splitlines() if "serving" in line]
        assert len(serving) == 1 and serving[0].count(f"files:{colour_pictures}") == 1, log
        assert serving[0].endswith(f"on http://127.0.0.1:{port}/")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_refuses_bad_settings_naming_the_key(tmp_path, colour_model):
    config = tmp_path / "config.toml"
    config.write_text("[camera]\nfps = -3\n")
    process = shadercam("serve", "--config", str(config), "--model", str(colour_model))
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2 and "camera.fps" in output and "between" in output
    process = shadercam("serve", "--model", str(tmp_path / "missing.chunks"))
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2 and "no model file" in output


def test_a_taken_port_is_one_clear_error_and_typos_in_variables_are_named(colour_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = shadercam("serve", "--host", "127.0.0.1", "--port", str(port), "--model",
                            str(colour_model), env={"SHADERCAM_SERVER_PROT": "9000"})
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 1, output
    assert "SHADERCAM_SERVER_PROT is not a setting and is ignored; did you mean " \
        "SHADERCAM_SERVER_PORT?" in output
    assert f"cannot listen on 127.0.0.1:{port}" in output
    assert "serving" not in output and "Traceback" not in output


def test_sigterm_while_starting_stops_it_cleanly(colour_model):
    """systemd may stop the unit while it starts (a stop right after a restart; start-up takes
    seconds on a Pi): the stop must not wait for TimeoutStopSec and a SIGKILL."""
    process = shadercam("serve", "--host", "127.0.0.1", "--port", str(free_port()), "--model",
                        str(colour_model), "--source", "demo")
    try:
        lines = []
        for line in process.stdout:  # the service has started; the web server has not yet
            lines.append(line)
            if "serving" in line:
                break
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0, "".join(lines)
        rest = process.stdout.read()
        assert "Traceback" not in rest, rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
