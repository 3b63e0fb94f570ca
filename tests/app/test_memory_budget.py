"""The service as a Pi runs it (`shadercam serve`, the dog classifier without weights folded into
the shaders, the files camera at the preview size, events on, MQTT off) inside a real cgroup
whose hard limit is the unit's MemoryMax=, with websocket and MJPEG viewers (one that never
reads), uploads and health polls connected for a while: it stays up, nothing is killed for the
limit, and both its anonymous memory and its peak resident set (code included) stay below the
unit's MemoryHigh=, where systemd starts to reclaim and throttle it. docs/MEMORY.md has the budget this checks."""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from cgroup_memory import CgroupUnavailable, MemoryCgroup
from memory_load import REPO, photo, run_load, serve_command, start_in, wait_healthy
from serving import free_port

DOG_MODEL = REPO.parent / "shared" / "models" / "dog_classifier.chunks"
LOAD_S = 40.0
MB = 2**20


def peak_resident(pid: int) -> int:
    """The process's peak resident set (VmHWM): its code pages too, which the unit's group is
    charged for when the service is the first to load them, as at a Pi's boot."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def unit_limit(name: str) -> int:
    """MemoryMax= or MemoryHigh= of the installed unit, in bytes."""
    text = (REPO / "systemd" / "shadercam.service").read_text()
    value = re.search(rf"^{name}=(\d+)M$", text, re.MULTILINE)
    assert value, f"{name}= in MB is not in systemd/shadercam.service"
    return int(value.group(1)) * MB


@pytest.fixture
def memory_cgroup():
    try:
        group = MemoryCgroup(unit_limit("MemoryMax"), f"shadercam-memory-{os.getpid()}")
    except CgroupUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must be able to make a memory cgroup: {exc}")
        pytest.skip(f"no memory cgroup can be made here: {exc}")
    with group:
        yield group


@pytest.mark.skipif(not DOG_MODEL.is_file(), reason=f"no published model at {DOG_MODEL}")
def test_service_with_clients_stays_within_the_units_memory_limit(memory_cgroup, tmp_path):
    picture = photo(tmp_path / "photo.jpg")
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(f"""
[server]
port = {port}
log_level = "warning"
[camera]
source = "files:{tmp_path / 'photo.jpg'}"
[model]
path = "{DOG_MODEL}"
fold_weights = "off"
[events]
dir = "{tmp_path / 'events'}"
""")
    env = {**os.environ, "MESA_GLES_VERSION_OVERRIDE": "2.0",
           "STATE_DIRECTORY": str(tmp_path / "state")}
    log = (tmp_path / "service.log").open("w+")
    process = start_in(memory_cgroup.procs, serve_command(config), env=env, stdout=log,
                       stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        anonymous: list[int] = []

        async def load_and_watch():
            async def watch():
                deadline = time.monotonic() + LOAD_S
                while time.monotonic() < deadline:
                    anonymous.append(memory_cgroup.anonymous_bytes())
                    await asyncio.sleep(0.5)
            report, _ = await asyncio.gather(run_load(base, LOAD_S, picture), watch())
            return report

        report = asyncio.run(load_and_watch())
        alive = process.poll() is None
        peak_rss = peak_resident(process.pid) if alive else 0
        if alive:  # and well again once the load is gone
            wait_healthy(base, process, timeout=60)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.seek(0)
        output = log.read()[-4000:]
        log.close()
    assert alive, f"the service died under load:\n{output}"
    assert memory_cgroup.oom_kills() == 0, f"killed for the memory limit:\n{output}"
    assert not report.errors, report.errors
    assert report.predictions > 0 and report.stream_frames > 0 and report.uploads_ok > 0, report
    # a prediction late on a crowded machine may read "degraded" for a moment; never worse
    assert set(report.health) <= {"ok", "degraded"}, report.health
    high = unit_limit("MemoryHigh")
    assert max(anonymous) < high, (f"anonymous memory reached {max(anonymous) / MB:.0f} MB, "
                                   f"above MemoryHigh={high // MB}M")
    assert peak_rss < high, (f"peak resident set {peak_rss / MB:.0f} MB, above "
                             f"MemoryHigh={high // MB}M")
    assert process.returncode == 0, f"the service did not stop cleanly:\n{output}"
