"""Batches on a cluster started by hand: `dask scheduler` and `dask worker ... --nthreads 1
--resources GPU=1` as separate processes on loopback, as a user starts them on their machines."""
from __future__ import annotations

import os
import shutil
import socket
import signal

import pytest

from app.batch.cluster import ClusterRunner, connect
from app.batch.sources import collect, jobs
from app.batch.tasks import model_bytes
from app.batch.writers import open_output
from app.cli import main
from batch_helpers import (DEMO_MODEL, assert_same_as_engine, dask_processes, model_copy,
                           read_records, wait_for_workers)

pytest.importorskip("distributed", reason="the cluster tests need Dask (the `cluster` extra)")


def test_scheduler_and_two_workers_give_the_engines_answers_even_when_one_dies(
        pictures, expected, tmp_path):
    broken = [str(pictures / "top" / "broken.jpg")]
    with dask_processes(tmp_path) as dask:
        address = dask.start_scheduler()
        dask.start_worker()
        dask.start_worker()
        with connect(scheduler=address) as client:
            wait_for_workers(client, 2)
            out = tmp_path / "out.jsonl"
            assert main(["batch", "--model", str(DEMO_MODEL), "--scheduler", address,
                         "--top-k", "3", "--output", str(out), str(pictures)]) == 1
            assert_same_as_engine(read_records(out), expected, broken=broken)

            # Again, SIGKILLing the busiest worker process after 5 results.
            out = tmp_path / "killed.jsonl"
            runner = ClusterRunner(client, model_bytes(DEMO_MODEL), DEMO_MODEL, top_k=3)
            writer, _ = open_output(str(out), 3, "demo_model")
            killed = None
            for count, record in enumerate(runner.run(jobs(collect([str(pictures)]), 1)), 1):
                writer.write(record)
                if count == 5:
                    processing = client.processing()
                    busy = max(processing, key=lambda a: len(processing[a]))
                    killed = client.run(os.getpid, workers=[busy])[busy]
                    os.kill(killed, signal.SIGKILL)
            writer.close()
            assert killed is not None and killed not in client.run(os.getpid).values()
            assert_same_as_engine(read_records(out), expected, broken=broken)


def test_a_worker_on_another_machine_gets_the_model_and_pictures_as_bytes(
        pictures, expected, tmp_path):
    """The worker runs in its own mount namespace with empty folders mounted over the
    pictures and the model, so, like a worker on another machine, it cannot read them."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("hiding folders from one worker needs root and unshare (mount namespace)")
    model_path = model_copy(tmp_path / "models")
    hide = (f"mount -t tmpfs none {pictures} && mount -t tmpfs none {model_path.parent} "
            '&& exec "$@"')
    with dask_processes(tmp_path) as dask:
        address = dask.start_scheduler()
        dask.start_worker(["unshare", "--mount", "--propagation", "private", "sh", "-c", hide,
                           "sh"])
        with connect(scheduler=address) as client:
            wait_for_workers(client, 1)
            sees = client.run(os.path.exists, next(iter(expected)))
            assert list(sees.values()) == [False], dask.log_text()
            out = tmp_path / "out.jsonl"
            assert main(["batch", "--model", str(model_path), "--scheduler", address,
                         "--top-k", "3", "--output", str(out), str(pictures)]) == 1
            assert_same_as_engine(read_records(out), expected,
                                  broken=[str(pictures / "top" / "broken.jpg")])


def test_unreachable_scheduler_and_workers_without_a_gpu_are_clear_errors(
        pictures, tmp_path, monkeypatch, capsys):
    from app.batch import cluster
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 3.0)
    monkeypatch.setattr(cluster, "WORKER_WAIT_S", 3.0)
    with socket.socket() as closed:  # a loopback port that nothing listens on
        closed.bind(("127.0.0.1", 0))
        nowhere = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
    assert main(["batch", "--model", str(DEMO_MODEL), "--scheduler", nowhere,
                 str(pictures)]) == 1
    assert f"cannot reach the Dask scheduler at {nowhere}" in capsys.readouterr().err
    with dask_processes(tmp_path) as dask:
        address = dask.start_scheduler()
        dask.start_worker(gpu=False)
        with connect(scheduler=address) as client:
            wait_for_workers(client, 1)
            out = tmp_path / "out.jsonl"
            assert main(["batch", "--model", str(DEMO_MODEL), "--scheduler", address,
                         "--output", str(out), str(pictures)]) == 1
            assert "--resources GPU=1" in capsys.readouterr().err
            assert out.read_text() == ""
