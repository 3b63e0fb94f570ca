"""A test-side MQTT client that records every message on the broker, and the service process."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from app.outputs.mqtt import new_client

REPO = Path(__file__).resolve().parents[2]


class Watcher:
    """Subscribes to everything; reconnects by itself when the broker comes back.

    `persistent`: a session the broker keeps (QoS 1): with a broker that keeps sessions across
    a restart, what others send before this client is back is queued for it."""

    def __init__(self, port: int, topic_filter: str = "#", persistent: bool = False) -> None:
        self.messages: list[tuple[float, str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = new_client(f"watcher-{os.getpid()}-{time.monotonic_ns()}",
                                 clean_session=not persistent)
        self.subscribed = threading.Event()
        qos = 1 if persistent else 0
        self.client.on_connect = lambda client, *_: client.subscribe(topic_filter, qos)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((time.monotonic(), message.topic, message.payload,
                                  bool(message.retain)))

    def on(self, topic: str, after: float = 0.0, live: bool = False) -> list[bytes]:
        """`live`: only messages sent while subscribed, not the broker's retained copies."""
        with self._lock:
            return [p for t, top, p, kept in self.messages
                    if top == topic and t >= after and not (live and kept)]

    def last(self, topic: str) -> bytes | None:
        payloads = self.on(topic)
        return payloads[-1] if payloads else None

    def topics(self, prefix: str) -> dict[str, bytes]:
        with self._lock:
            return {top: p for _, top, p, _ in self.messages if top.startswith(prefix)}

    def retained(self) -> dict[str, bytes]:
        """What the broker gave this client as retained (empty payloads left out): read once a
        message published after the subscription has come back, so all of it is there."""
        assert self.subscribed.wait(10), "the broker did not acknowledge the subscription"
        marker = f"test/marker/{os.getpid()}-{time.monotonic_ns()}"
        self.client.subscribe(marker)
        self.client.publish(marker, "x", qos=1)
        deadline = time.monotonic() + 10
        while not self.on(marker):
            assert time.monotonic() < deadline, "the marker did not come back"
            time.sleep(0.02)
        with self._lock:
            return {top: p for _, top, p, kept in self.messages if kept and p}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained(port: int, topic_filter: str) -> dict[str, bytes]:
    """What the broker retains under `topic_filter`, as a new client is given it."""
    watcher = Watcher(port, topic_filter)
    try:
        return watcher.retained()
    finally:
        watcher.close()


def serve(config: Path, log: Path) -> subprocess.Popen:
    """`shadercam serve` in its own process, its log in a file."""
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--config", str(config)],
                                cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT)
