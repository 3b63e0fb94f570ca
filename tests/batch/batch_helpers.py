"""Helpers of the batch tests: comparing records with the engine's own answers, and real Dask
scheduler and worker processes on loopback."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO / "app" / "assets" / "demo_model.chunks"


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_same_as_engine(records: list[dict], expected: dict[str, np.ndarray],
                          broken: list[str] = ()) -> None:
    """Every path exactly once, the engine's top-1 and its probabilities to 1e-6."""
    paths = [record["path"] for record in records]
    assert sorted(paths) == sorted([*expected, *broken])
    for record in records:
        if record["path"] in broken:
            assert "error" in record and "top_k" not in record
            continue
        probabilities = expected[record["path"]]
        ranked = record["top_k"]
        assert ranked[0]["index"] == int(np.argmax(probabilities)), record
        for entry in ranked:
            assert abs(entry["probability"] - float(probabilities[entry["index"]])) <= 1e-6


class DaskProcesses:
    """A `dask scheduler` and `dask worker` processes, each a real subprocess on loopback."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.processes: list[subprocess.Popen] = []
        self.log = open(workdir / "dask.log", "ab")
        self.address = ""

    def _start(self, command: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(command, cwd=self.workdir, stdout=self.log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def start_scheduler(self) -> str:
        info = self.workdir / "scheduler.json"
        self._start([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1",
                     "--port", "0", "--no-dashboard", "--scheduler-file", str(info)])
        deadline = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip():
            if time.monotonic() > deadline:
                pytest.fail("the dask scheduler did not start: " + self.log_text())
            time.sleep(0.1)
        time.sleep(0.1)  # the file is written in one go, but be sure it is complete
        self.address = json.loads(info.read_text())["address"]
        return self.address

    def start_worker(self, wrapper: list[str] = (), gpu: bool = True) -> subprocess.Popen:
        scratch = self.workdir / f"worker{len(self.processes)}"
        scratch.mkdir()
        resources = ["--resources", "GPU=1"] if gpu else []
        return self._start([*wrapper, sys.executable, "-m", "dask", "worker", self.address,
                            "--nthreads", "1", *resources, "--host", "127.0.0.1",
                            "--no-dashboard", "--local-directory", str(scratch)])

    def log_text(self) -> str:
        self.log.flush()
        return (self.workdir / "dask.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        for process in reversed(self.processes):  # workers first, then the scheduler
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.log.close()


@contextmanager
def dask_processes(workdir: Path):
    processes = DaskProcesses(workdir)
    try:
        yield processes
    finally:
        processes.stop()


def wait_for_workers(client, count: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while len(client.scheduler_info()["workers"]) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"fewer than {count} dask workers joined")
        time.sleep(0.2)


def model_copy(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(DEMO_MODEL, folder / "demo_model.chunks"))
