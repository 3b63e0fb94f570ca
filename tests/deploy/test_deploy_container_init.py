"""container_init.sh, which the installer test uses to reach a booted container's init: run on a
real process tree shaped like systemd-nspawn's (a short-lived first child, then the init in a
new PID namespace) with look-alikes it must pass over."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIND_INIT = REPO / "tests" / "deploy" / "container_init.sh"

# The stand-in for systemd-nspawn. Its first child is a helper that the test ends; beside it run
# processes named `systemd` that are not a container's init: one in this PID namespace, one
# that is PID 2 of a new namespace. The init (`systemd` as PID 1 of a new namespace, a
# grandchild) starts only when the test writes to the `go` pipe. Every process that matters
# writes its host PID to a file (its NSpid line: host PID, then PID in its own namespace).
NSPAWN = r"""
unshare=("$@")
nspid() {  # this shell's own NSpid line (read by a builtin: no child process in between)
    local line
    while read -r line; do [[ $line == NSpid:* ]] && echo "$line"; done < /proc/self/status
}
export -f nspid
sleep 600 & echo "$!" > helper.pid
"$SYSTEMD" 600 & echo "$!" > host-systemd.pid
"${unshare[@]}" bash -c '(nspid > second.nspid; exec "$0" 600) & wait' "$SYSTEMD" &
read -r _ < go
"${unshare[@]}" bash -c 'nspid > init.nspid; exec "$0" 600' "$SYSTEMD" &
wait
"""


def unshare_pid() -> list[str]:
    """unshare's command for a new PID namespace: as root, else inside a user namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("util-linux's unshare is not installed")
    command = ["unshare", "--pid", "--fork", "--kill-child"]
    if os.geteuid() != 0:
        command[1:1] = ["--user", "--map-root-user"]
    probe = subprocess.run([*command, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"this host cannot make PID namespaces: {probe.stderr.strip()}")
    return command


@dataclass
class FakeNspawn:
    pid: int
    workdir: Path

    def wait_for_file(self, name: str) -> str:
        path = self.workdir / name
        for _ in range(600):
            if path.is_file() and path.read_text().endswith("\n"):
                return path.read_text()
            time.sleep(0.05)
        raise AssertionError(f"{name} never appeared: the fake process tree did not start")

    def host_pid(self, name: str) -> int:
        """The PID, as this namespace sees it, written to `name` (a PID or an NSpid line)."""
        text = self.wait_for_file(name)
        return int(text.split()[1] if text.startswith("NSpid:") else text)

    def release_init(self) -> None:
        with open(self.workdir / "go", "w") as pipe:
            pipe.write("go\n")


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):  # reaped, or exiting while read (ESRCH)
        return "(gone)"


def wait_for_comm(pid: int, name: str) -> None:
    for _ in range(600):
        if comm(pid) == name:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} is {comm(pid)!r}, never {name!r}")


def find_init(ancestor: int, wait_s: int = 0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(FIND_INIT), str(ancestor), str(wait_s)],
                          capture_output=True, text=True, timeout=wait_s + 60)


@pytest.fixture
def nspawn(tmp_path: Path) -> Iterator[FakeNspawn]:
    command = unshare_pid()
    os.mkfifo(tmp_path / "go")
    systemd = tmp_path / "systemd"  # a process's name is its program file's name
    systemd.symlink_to(shutil.which("sleep"))
    process = subprocess.Popen(["bash", "-c", NSPAWN, "nspawn", *command], cwd=tmp_path,
                               env={**os.environ, "SYSTEMD": str(systemd)},
                               start_new_session=True)
    try:
        yield FakeNspawn(process.pid, tmp_path)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # a namespace's init takes SIGKILL from outside
        process.wait()


def test_passes_over_the_first_child_and_look_alikes_then_finds_the_init(nspawn):
    helper = nspawn.host_pid("helper.pid")
    for name in ("host-systemd.pid", "second.nspid"):
        wait_for_comm(nspawn.host_pid(name), "systemd")
    assert nspawn.wait_for_file("second.nspid").split()[2] == "2"

    before = find_init(nspawn.pid)
    assert before.returncode == 1, before.stdout
    assert "no container init" in before.stderr

    waiting = subprocess.Popen(["bash", str(FIND_INIT), str(nspawn.pid), "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.kill(helper, signal.SIGKILL)  # the short-lived first child goes away
    nspawn.release_init()
    out, err = waiting.communicate(timeout=120)
    init = nspawn.host_pid("init.nspid")
    assert nspawn.wait_for_file("init.nspid").split()[2] == "1"
    assert (waiting.returncode, out.strip()) == (0, str(init)), err
    assert comm(init) == "systemd"
    assert find_init(nspawn.pid).stdout.strip() == str(init)  # found again on each look-up


def test_an_init_that_is_gone_is_not_found_again(nspawn):
    nspawn.release_init()
    init = nspawn.host_pid("init.nspid")
    wait_for_comm(init, "systemd")
    assert find_init(nspawn.pid).stdout.strip() == str(init)
    os.kill(init, signal.SIGKILL)
    for _ in range(600):
        if comm(init) == "(gone)":
            break
        time.sleep(0.05)
    gone = find_init(nspawn.pid)
    assert gone.returncode == 1 and gone.stdout == ""


def test_an_init_under_another_process_is_not_found(nspawn):
    nspawn.release_init()
    wait_for_comm(nspawn.host_pid("init.nspid"), "systemd")
    other = subprocess.Popen(["sleep", "600"])
    try:
        unrelated = find_init(other.pid, 1)
    finally:
        other.kill()
        other.wait()
    assert unrelated.returncode == 1 and unrelated.stdout == ""
    assert "after 1 s" in unrelated.stderr


def test_a_process_that_is_gone_ends_the_wait_with_the_reason():
    dead = subprocess.Popen(["true"])
    dead.wait()
    result = find_init(dead.pid, 30)
    assert result.returncode == 1
    assert f"process {dead.pid} is gone" in result.stderr


def test_bad_arguments_say_how_to_call_it():
    result = subprocess.run(["bash", str(FIND_INIT), "not-a-pid"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "usage: container_init.sh ANCESTOR_PID [WAIT_SECONDS]" in result.stderr
