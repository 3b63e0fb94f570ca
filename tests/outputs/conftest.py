"""Fixtures of the output tests: the demo model with pictures that change class on a known
schedule, and a real mosquitto broker on a free loopback port."""
from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from app import demo_scene  # noqa: E402
from app.models.store import DEMO_MODEL  # noqa: E402
from serving import free_port  # noqa: E402
from shape_schedule import FRAMES_PER_CLASS, SCHEDULE_CLASSES  # noqa: E402


@pytest.fixture(scope="session")
def demo_model() -> Path:
    return DEMO_MODEL


@pytest.fixture(scope="session")
def shape_schedule(tmp_path_factory) -> tuple[Path, list[str]]:
    """A files-source folder showing each of SCHEDULE_CLASSES for FRAMES_PER_CLASS frames in
    turn (one picture repeated), and the class of each file in playing order. The pictures are
    drawn by the demo scene and kept only when the demo model, on the GPU, is sure of them."""
    from gpu_engine import Engine, load_model

    engine = Engine(load_model(DEMO_MODEL))
    rng = np.random.default_rng(2024)
    chosen: dict[str, np.ndarray] = {}
    try:
        for _ in range(400):
            image, index = demo_scene.random_sample(rng, 240)
            name = demo_scene.CLASSES[index]
            if name in SCHEDULE_CLASSES and name not in chosen and \
                    engine.classify_rgb(image)[index] > 0.97:
                chosen[name] = image
            if len(chosen) == len(SCHEDULE_CLASSES):
                break
    finally:
        engine.release()
    missing = set(SCHEDULE_CLASSES) - set(chosen)
    assert not missing, f"the demo model is sure of no picture of {missing}"
    folder = tmp_path_factory.mktemp("schedule")
    order = []
    for name in SCHEDULE_CLASSES:
        for _ in range(FRAMES_PER_CLASS):
            Image.fromarray(chosen[name]).save(folder / f"{len(order):03d}-{name}.png")
            order.append(name)
    return folder, order


class Broker:
    """mosquitto on 127.0.0.1:port with its own config; can stop and start again."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.config = folder / "mosquitto.conf"
        self.keep_sessions(False)

    def keep_sessions(self, keep: bool) -> None:
        """`keep`: a stop saves the clients' sessions (and retained messages) and a start
        restores them, so a persistent subscriber misses nothing sent before it reconnects.
        Takes effect at the next start (see `lasting_broker`)."""
        persistence = (f"persistence true\npersistence_location {self.folder}/\n" if keep
                       else "persistence false\n")
        # run as whoever runs the tests: as root mosquitto would otherwise switch to its own
        # user, which cannot read the test's files
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                               f"{persistence}log_dest stderr\nuser {getpass.getuser()}\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not start: "
                                       + self.process.stderr.read().decode(errors="replace"))
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


@pytest.fixture
def broker(tmp_path):
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is expected (Debian package mosquitto; scripts/setup-dev.sh)")
    broker = Broker(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory):
    """One broker for every test of a module (for a slow client that starts once per module)."""
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is expected (Debian package mosquitto; scripts/setup-dev.sh)")
    broker = Broker(tmp_path_factory.mktemp("broker"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def lasting_broker(broker):
    """The broker, keeping its clients' sessions across its own restarts."""
    broker.stop()
    broker.keep_sessions(True)
    broker.start()
    return broker


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 kB tmpfs: room for a few events, then a full disk."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
