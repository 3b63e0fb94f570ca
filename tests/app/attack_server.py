"""`shadercam serve` as its own process on loopback, for attacks measured from outside:
its memory (psutil), what it read from sockets, its file descriptors and its log."""
from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from serving import free_port

REPO = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO / "app" / "assets" / "demo_model.chunks"
UNIT = REPO / "systemd" / "shadercam.service"


def unit_nofile() -> int:
    """The unit's LimitNOFILE=, the file-descriptor limit the service runs under on a Pi."""
    for line in UNIT.read_text().splitlines():
        if line.startswith("LimitNOFILE="):
            return int(line.split("=", 1)[1])
    raise AssertionError("the unit sets no LimitNOFILE=")


@dataclass
class Served:
    base: str
    port: int
    process: psutil.Process
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def serve_process(tmp_path: Path, model: Path = DEMO_MODEL, nofile: int | None = None,
                  wrap: Sequence[str] = (), **settings: str) -> Iterator[Served]:
    """Run `shadercam serve` with SHADERCAM_<KEY> settings (e.g. server_token="...") until
    /api/health says ok; `nofile` sets its file-descriptor limit (soft and hard); `wrap` is
    a command that execs the rest (e.g. `unshare -m`: its own mount namespace)."""
    port = free_port()
    env = {**os.environ, "SHADERCAM_SERVER_HOST": "127.0.0.1",
           "SHADERCAM_SERVER_PORT": str(port), "SHADERCAM_CAMERA_FPS": "10",
           "SHADERCAM_MODEL_PATH": str(model)}
    env.pop("SHADERCAM_CONFIG", None)
    env.update({f"SHADERCAM_{key.upper()}": str(value) for key, value in settings.items()})

    def limit_fds() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    log = tmp_path / f"serve-{port}.log"
    with open(log, "wb") as out:
        child = subprocess.Popen([*wrap, sys.executable, "-m", "app.cli", "serve"], cwd=REPO,
                                 env=env, stdout=out, stderr=subprocess.STDOUT,
                                 preexec_fn=limit_fds)
    served = Served(f"http://127.0.0.1:{port}", port, psutil.Process(child.pid), log)
    try:
        headers = {"Authorization": f"Bearer {settings['server_token']}"} \
            if settings.get("server_token") else {}
        deadline = time.monotonic() + 90
        status = None
        while status != "ok":
            assert child.poll() is None, f"shadercam serve exited:\n{served.log_text()}"
            assert time.monotonic() < deadline, f"not ok within 90 s ({status}):\n" \
                                                f"{served.log_text()}"
            try:
                status = httpx.get(f"{served.base}/api/health", headers=headers,
                                   timeout=5).json()["status"]
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield served
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class PeakRss:
    """Samples a process's resident memory every few milliseconds while in use."""

    def __init__(self, process: psutil.Process, every_s: float = 0.005) -> None:
        self.process, self.every_s = process, every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.every_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def peak_rise(process: psutil.Process, action):
    """(what `action()` returned, the process's peak resident memory during it over its
    resident memory before): the kernel's own peak (VmHWM), reset first, misses nothing."""
    Path(f"/proc/{process.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = _status_kb(process.pid, "VmRSS")
    result = action()
    return result, (_status_kb(process.pid, "VmHWM") - before) * 1024


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def blank_png(width: int, height: int) -> bytes:
    """A valid 8-bit RGB PNG of any size, made without ever holding its pixels: rows of zeros
    compress to almost nothing, so a file of a few hundred KB declares gigabytes of pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    squeeze = zlib.compressobj(9)
    row = bytes(1 + 3 * width)  # filter byte 0, then black pixels
    parts = [squeeze.compress(row) for _ in range(height)]
    parts.append(squeeze.flush())
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts))
            + chunk(b"IEND", b""))


def read_status(sock: socket.socket, timeout: float = 10.0) -> int | None:
    """The status code of the answer waiting on `sock`, or None when the server closed the
    connection or nothing came within `timeout`."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            got = sock.recv(4096)
            if not got:
                break
            data += got
    except OSError:
        pass
    return int(data.split()[1]) if data.startswith(b"HTTP/1.1 ") else None
