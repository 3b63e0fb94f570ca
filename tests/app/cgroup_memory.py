"""A memory cgroup of the test's own with a hard limit, as systemd makes one for the unit's
MemoryMax=: cgroup v2 (a directory under the root of /sys/fs/cgroup) or v1 (under this
process's own group of the memory hierarchy). Swap is limited too where the kernel accounts it,
so that a limit cannot be dodged by swapping. Needs root; `CgroupUnavailable` says why not."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


class CgroupUnavailable(Exception):
    """This machine or user cannot make a memory cgroup (the message says why)."""


class MemoryCgroup:
    def __init__(self, limit_bytes: int, name: str) -> None:
        self.limit = limit_bytes
        if "memory" in _read(ROOT / "cgroup.controllers", "").split():
            self.version = 2
            self.path = ROOT / name
            self._make()
            if "memory" not in _read(ROOT / "cgroup.subtree_control", "").split():
                self._write(ROOT / "cgroup.subtree_control", "+memory")
            self._write(self.path / "memory.max", str(limit_bytes))
            if (self.path / "memory.swap.max").exists():
                self._write(self.path / "memory.swap.max", "0")
        elif (ROOT / "memory" / "memory.limit_in_bytes").exists():
            self.version = 1
            own = next((line.split(":", 2)[2] for line in
                        _read(Path("/proc/self/cgroup"), "").splitlines()
                        if line.split(":")[1] == "memory"), "/")
            self.path = ROOT / "memory" / own.strip("/") / name
            self._make()
            self._write(self.path / "memory.limit_in_bytes", str(limit_bytes))
            if (self.path / "memory.memsw.limit_in_bytes").exists():
                self._write(self.path / "memory.memsw.limit_in_bytes", str(limit_bytes))
        else:
            raise CgroupUnavailable("no memory controller under /sys/fs/cgroup (v2 or v1)")

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def anonymous_bytes(self) -> int:
        """Anonymous memory of the group now (heaps, buffers, compiled shaders): what a
        limit cannot reclaim without swap, unlike the page cache."""
        key = "anon" if self.version == 2 else "total_rss"
        return int(self._stat(self.path / "memory.stat")[key])

    def oom_kills(self) -> int:
        """Processes of the group the kernel killed for its limit."""
        if self.version == 2:
            return int(self._stat(self.path / "memory.events").get("oom_kill", 0))
        return int(self._stat(self.path / "memory.oom_control").get("oom_kill", 0))

    def close(self) -> None:
        """Kill what is still inside (only processes this test started can be) and remove it."""
        if not self.path.exists():
            return
        deadline = time.monotonic() + 10
        while pids := _read(self.procs, "").split():
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"processes {pids} stay in {self.path}")
            time.sleep(0.1)
        while True:
            try:
                self.path.rmdir()
                return
            except OSError:  # the last member's exit is still being accounted
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def __enter__(self) -> MemoryCgroup:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _make(self) -> None:
        try:
            self.path.mkdir()
        except OSError as exc:
            raise CgroupUnavailable(f"cannot make {self.path}: {exc.strerror or exc}") from None

    def _write(self, path: Path, value: str) -> None:
        try:
            path.write_text(value)
        except OSError as exc:
            self.close()
            raise CgroupUnavailable(f"cannot write {value!r} to {path}: "
                                    f"{exc.strerror or exc}") from None

    @staticmethod
    def _stat(path: Path) -> dict[str, str]:
        return dict(line.split(maxsplit=1) for line in path.read_text().splitlines() if line)


def _read(path: Path, default: str) -> str:
    try:
        return path.read_text()
    except OSError:
        return default
