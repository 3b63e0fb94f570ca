"""Run the real service (camera, GL worker, uvicorn on loopback) inside a test."""
from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from app.config import load_config
from app.api import create_app
from app.api.port import ServerSettings
from app.service import Service


@dataclass
class Running:
    base: str  # http://127.0.0.1:PORT
    ws: str  # ws://127.0.0.1:PORT/ws
    service: Service


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def uvicorn_thread(app, port: int, ws_ping_s: float = 20.0) -> Iterator[uvicorn.Server]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", ws_ping_interval=ws_ping_s,
                                           ws_ping_timeout=ws_ping_s))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def running_service(model: Path, send_timeout_s: float | None = None, ws_ping_s: float = 20.0,
                    state_dir: Path | None = None, upload_timeout_s: float | None = None,
                    **settings: Any) -> Iterator[Running]:
    """`settings` are config keys with '_' for '.', e.g. camera_source="files:/x"; `state_dir`
    keeps the page's settings (None: in memory) and the event history (None: a temporary
    folder, unless `events_dir` is given). `send_timeout_s` replaces server.client_timeout_s;
    `upload_timeout_s` is how long an upload may wait for the classifier."""
    with tempfile.TemporaryDirectory(prefix="shadercam-events-") as events_dir:
        if state_dir is None:
            settings.setdefault("events_dir", events_dir)
        overrides = {key.replace("_", ".", 1): value for key, value in settings.items()}
        config = load_config(env={}, overrides=overrides)
        service = Service(config, model, state_dir)
        service.start()
        port = free_port()
        try:
            changes = {"client_timeout_s": send_timeout_s, "upload_timeout_s": upload_timeout_s}
            server = ServerSettings.from_config(config, **{
                name: value for name, value in changes.items() if value is not None})
            with uvicorn_thread(create_app(service, server), port, ws_ping_s):
                yield Running(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", service)
        finally:
            service.stop()


def engine_up(run: Running) -> None:
    """Fail at once, with the worker's own message, when the engine could not start."""
    worker = run.service.worker
    assert worker.ready.wait(60), "the inference worker did not start within 60 s"
    assert worker.state == "running", f"inference worker: {worker.state}: {worker.error}"


def wait_for(predicate, timeout: float = 30.0, step: float = 0.05, seen=None):
    """The predicate's first true value; `seen()` says what was there instead when none came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s"
                         + (f"; instead: {seen()}" if seen else ""))
