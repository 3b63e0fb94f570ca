"""The systemd unit: systemd's own verifier and security review, and the settings the
installer, the model store and the GPU rely on."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "shadercam.service"
INSTALLER = REPO / "systemd" / "install.sh"
VENV_PROGRAM = "/opt/shadercam/venv/bin/shadercam"


def unit_lines() -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, repeated keys kept, as systemd reads them."""
    section, lines = "", []
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        lines.append((section, key, value))
    return lines


def values(key: str) -> list[str]:
    return [value for _, k, value in unit_lines() if k == key]


@pytest.fixture
def unit_root(tmp_path) -> Path:
    """An alternate root holding the unit and an executable at its ExecStart path."""
    program = tmp_path / VENV_PROGRAM.lstrip("/")
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    units = tmp_path / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    shutil.copy(UNIT, units)
    return tmp_path


def systemd_analyze(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing: apt-get install systemd")
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=60)


def test_systemd_analyze_verify_passes(unit_root):
    unit = unit_root / "etc/systemd/system/shadercam.service"
    result = systemd_analyze("verify", f"--root={unit_root}", "--recursive-errors=no", str(unit))
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_systemd_analyze_verify_catches_a_broken_unit(unit_root):
    """The check above can fail: the same call rejects a misspelt setting."""
    unit = unit_root / "etc/systemd/system/shadercam.service"
    unit.write_text(unit.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    result = systemd_analyze("verify", f"--root={unit_root}", "--recursive-errors=no", str(unit))
    assert result.returncode != 0 and "sometimes" in result.stderr


def test_security_exposure_is_low(unit_root):
    unit = unit_root / "etc/systemd/system/shadercam.service"
    result = systemd_analyze("security", "--offline=yes", f"--root={unit_root}", str(unit))
    match = re.search(r"Overall exposure level for shadercam.service: ([\d.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.5, result.stdout


def test_runs_serve_as_an_unprivileged_user_with_camera_and_gpu_groups():
    assert values("User") == ["shadercam"]
    assert set(values("SupplementaryGroups")[0].split()) == {"video", "render"}
    assert values("ExecStart") == [f"{VENV_PROGRAM} serve --config /etc/shadercam/config.toml"]
    assert values("CapabilityBoundingSet") == [""]
    assert values("NoNewPrivileges") == ["yes"]
    assert values("ProtectSystem") == ["strict"]


def test_restarts_on_failure_within_limits():
    assert values("Restart") == ["on-failure"]
    assert int(values("RestartSec")[0]) >= 1
    assert int(values("StartLimitBurst")[0]) >= 3
    assert [s for s, k, _ in unit_lines() if k.startswith("StartLimit")] == ["Unit", "Unit"]


def test_state_cache_and_shader_cache_directories():
    assert values("StateDirectory") == ["shadercam"]  # the model store: $STATE_DIRECTORY/models
    assert values("CacheDirectory") == ["shadercam"]
    assert "MESA_SHADER_CACHE_DIR=%C/shadercam" in values("Environment")


def test_hardening_leaves_devices_visible():
    """Camera and GPU device nodes must stay reachable: no device allow-list of any kind."""
    keys = {k for _, k, _ in unit_lines()}
    for key in ("PrivateDevices", "DevicePolicy", "DeviceAllow", "ProtectClock",
                "MemoryDenyWriteExecute", "PrivateUsers"):
        assert key not in keys, key
    assert "AF_NETLINK" in values("RestrictAddressFamilies")[0]


def test_installer_puts_the_program_where_the_unit_runs_it():
    text = INSTALLER.read_text()
    assert "PREFIX=/opt/shadercam\nVENV=$PREFIX/venv\n" in text
    assert 'CONFIG=$CONF_DIR/config.toml' in text and "CONF_DIR=/etc/shadercam" in text


def test_descriptors_and_memory_are_bounded_for_a_pi_zero():
    """Room for every client the service admits (its stream and websocket caps are far lower),
    and a memory ceiling that leaves a 512 MB Pi Zero's system its share."""
    assert [s for s, k, _ in unit_lines() if k in ("LimitNOFILE", "MemoryMax")] == \
        ["Service", "Service"]
    assert 1200 <= int(values("LimitNOFILE")[0]) <= 65536
    mebibytes = {key: int(values(key)[0].rstrip("M")) for key in ("MemoryHigh", "MemoryMax")}
    assert 200 <= mebibytes["MemoryHigh"] < mebibytes["MemoryMax"] <= 400


def test_installer_makes_a_token_once_and_prints_the_link_that_logs_in():
    text = INSTALLER.read_text()
    fresh = text[text.index("install_config() {"):text.index("install_unit() {")]
    # only when it writes a new config: a re-run keeps the config, and with it the token
    assert fresh.index('if [ -e "$CONFIG" ]') < fresh.index("secrets.token_urlsafe")
    assert 's/^host = "127.0.0.1"/host = "0.0.0.0"/' in fresh
    assert 'chmod 640 "$CONFIG.tmp"' in fresh  # the token is a secret
    assert "login?token=$token" in text[text.index("print_url() {"):]
