"""The clients a Pi's service has while it runs, for the memory test and benchmarks/memory_split.py:
websocket viewers reading every prediction, MJPEG stream viewers, a stream viewer that never
reads, uploads and health polls, all at once against a service on loopback.

Also the service's own process as `shadercam serve` runs it, started inside a given cgroup
before it allocates anything, and the photo the camera and the uploads use."""
from __future__ import annotations

import asyncio
import io
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def photo(path: Path, size: tuple[int, int] = (1024, 768)) -> bytes:
    """A photo-like JPEG (smooth shapes and noise, so it compresses like a camera picture),
    written to `path`; its bytes are returned for uploads."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:size[1], 0:size[0]].astype(np.float32)
    base = np.stack([128 + 100 * np.sin(x / 97 + c) * np.cos(y / 61 - c) for c in (0, 1, 2)], -1)
    rgb = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=90)
    path.write_bytes(out.getvalue())
    return out.getvalue()


@dataclass
class LoadReport:
    predictions: int = 0  # websocket prediction messages, all viewers together
    stream_frames: int = 0  # MJPEG parts received, all viewers together
    uploads_ok: int = 0
    uploads_refused: int = 0  # 429/503 answers: the service saying it is busy, by design
    health: list[str] = field(default_factory=list)  # every /api/health status seen
    errors: list[str] = field(default_factory=list)  # anything else that went wrong


async def _viewer(url: str, report: LoadReport, deadline: float) -> None:
    async with websockets.connect(url, max_queue=None) as ws:
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await asyncio.wait_for(ws.recv(), left)
            except asyncio.TimeoutError:
                return
            if '"type": "prediction"' in message:
                report.predictions += 1


async def _stream(http: httpx.AsyncClient, report: LoadReport, deadline: float) -> None:
    async with http.stream("GET", "/stream.mjpg") as answer:
        if answer.status_code != 200:
            report.errors.append(f"stream: HTTP {answer.status_code}")
            return
        async for chunk in answer.aiter_bytes():
            report.stream_frames += chunk.count(b"Content-Type: image/jpeg")
            if time.monotonic() > deadline:
                return


async def _uploads(http: httpx.AsyncClient, picture: bytes, report: LoadReport, deadline: float,
                   every_s: float) -> None:
    while time.monotonic() < deadline:
        answer = await http.post("/api/classify", files={"file": ("photo.jpg", picture,
                                                                  "image/jpeg")})
        if answer.status_code == 200:
            report.uploads_ok += 1
        elif answer.status_code in (429, 503):
            report.uploads_refused += 1
        else:
            report.errors.append(f"upload: HTTP {answer.status_code}: {answer.text[:200]}")
        await asyncio.sleep(every_s)


async def _health(http: httpx.AsyncClient, report: LoadReport, deadline: float) -> None:
    while time.monotonic() < deadline:
        report.health.append((await http.get("/api/health")).json()["status"])
        await asyncio.sleep(1.0)


def _stuck_stream(base: str) -> socket.socket:
    """A stream viewer that asks and then never reads: what the service holds for it must stay
    bounded by its send timeout, not grow with every frame."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    return sock


async def run_load(base: str, seconds: float, picture: bytes, viewers: int = 4, streams: int = 2,
                   upload_every_s: float = 0.5) -> LoadReport:
    """`viewers` websocket clients, `streams` MJPEG clients plus one that never reads, uploads
    of `picture` one after another and a health poll each second, for `seconds`."""
    report = LoadReport()
    deadline = time.monotonic() + seconds
    stuck = _stuck_stream(base)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            tasks = [_viewer(base.replace("http", "ws", 1) + "/ws", report, deadline)
                     for _ in range(viewers)]
            tasks += [_stream(http, report, deadline) for _ in range(streams)]
            tasks += [_uploads(http, picture, report, deadline, upload_every_s),
                      _health(http, report, deadline)]
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, BaseException):
                    report.errors.append(f"{type(result).__name__}: {result}")
    finally:
        stuck.close()
    return report


def serve_command(config: Path) -> list[str]:
    """`shadercam serve` with this interpreter (the console script of this checkout)."""
    return [sys.executable, "-m", "app.cli", "serve", "--config", str(config)]


def start_in(procs_file: Path | None, command: list[str], **popen: Any) -> subprocess.Popen:
    """Start `command` as a member of the cgroup whose `cgroup.procs` is `procs_file` (None:
    where this process is) from its first instruction: the shell joins and then execs it."""
    if procs_file is None:
        return subprocess.Popen(command, cwd=REPO, **popen)
    script = 'echo $$ > "$0" && exec "$@"'
    return subprocess.Popen(["sh", "-c", script, str(procs_file), *command], cwd=REPO, **popen)


def wait_healthy(base: str, process: subprocess.Popen, timeout: float = 120.0) -> dict:
    """The first health report whose status is ok; fails with the last one seen, or when the
    process exits."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the service exited with {process.returncode}")
        try:
            last = httpx.get(base + "/api/health", timeout=5).json()
            if last["status"] == "ok":
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the service was not healthy within {timeout} s: {last}")
