"""Batches on an embedded Dask LocalCluster: two real worker processes on loopback."""
from __future__ import annotations

import os
import signal
import threading

import pytest

from app.batch.cluster import ClusterRunner, connect
from app.batch.sources import collect, jobs
from app.batch.tasks import engines_made, model_bytes
from app.batch.writers import open_output
from app.cli import main
from batch_helpers import (DEMO_MODEL, assert_same_as_engine, model_copy, read_records,
                           wait_for_workers)
from serving import wait_for

pytest.importorskip("distributed", reason="the cluster tests need Dask (the `cluster` extra)")


@pytest.fixture(scope="module")
def client():
    with connect(workers=2) as client:
        yield client


def runner(client, model_path=DEMO_MODEL, **options) -> ClusterRunner:
    return ClusterRunner(client, model_bytes(model_path), model_path, top_k=3, **options)


def classify_tasks(client, pending_only: bool = False) -> list[str]:
    """The classify tasks this client still holds (the client's event loop changes the dict:
    it is copied at once), or only those not finished yet."""
    return [str(key) for key, state in list(client.futures.items())
            if str(key).startswith("classify_job")
            and (not pending_only or state.status == "pending")]


def run_and_kill(client, runner, pictures, out, kill_after: int | None) -> int | None:
    """Runs the batch into `out`; after `kill_after` records SIGKILLs one busy worker process.
    Returns the killed pid."""
    writer, done = open_output(str(out), 3, "demo_model")
    killed = None
    try:
        for count, record in enumerate(runner.run(jobs(collect([str(pictures)]), 1, done)), 1):
            # Never more than a few tasks per GPU slot in flight, whatever the batch's size
            # (those taken are let go of by the client's event loop, soon but not at once).
            assert len(classify_tasks(client, pending_only=True)) <= 2 * 2 + 2
            writer.write(record)
            if count == kill_after:
                processing = client.processing()
                busy = max(processing, key=lambda address: len(processing[address]))
                killed = client.run(os.getpid, workers=[busy])[busy]
                os.kill(killed, signal.SIGKILL)
    finally:
        writer.close()
    return killed


def test_workers_2_from_the_command_line(pictures, expected, tmp_path):
    out = tmp_path / "out.jsonl"
    assert main(["batch", "--model", str(DEMO_MODEL), "--workers", "2", "--top-k", "3",
                 "--output", str(out), str(pictures)]) == 1  # the corrupt picture
    assert_same_as_engine(read_records(out), expected,
                          broken=[str(pictures / "top" / "broken.jpg")])


def test_a_refused_worker_gpu_stops_the_batch_with_the_reason(client, pictures, tmp_path,
                                                              monkeypatch):
    """The workers open their engines as the service does: told to refuse a software renderer,
    a worker on llvmpipe refuses it, and the batch stops with the worker's reason."""
    from app.batch import BatchError
    from app.batch.tasks import Trust
    with pytest.raises(BatchError, match=r"the GPU of a worker is refused: GL renderer '.*' is "
                                         r"a software renderer \(model.software_gl = refuse\)"
                       ) as stopped:
        list(runner(client, trust=Trust(software_gl="refuse")).run(
            jobs(collect([str(pictures)]), 1, set())))
    # The stopped batch leaves no task behind to run on, or to crowd the next batch, even while
    # its error (and the run it came from) is still held.
    # (the client forgets released tasks on its event loop, soon after)
    wait_for(lambda: not classify_tasks(client), timeout=10, seen=lambda: classify_tasks(client))
    assert stopped.value


def test_a_worker_killed_mid_batch_loses_nothing(client, pictures, expected, tmp_path):
    out = tmp_path / "out.jsonl"
    killed = run_and_kill(client, runner(client), pictures, out, kill_after=5)
    assert killed is not None
    assert_same_as_engine(read_records(out), expected,
                          broken=[str(pictures / "top" / "broken.jpg")])
    assert killed not in client.run(os.getpid).values()  # that process really is gone


def test_one_engine_per_worker_made_in_the_thread_that_runs_its_tasks(client, pictures,
                                                                       tmp_path):
    wait_for_workers(client, 2)  # the nanny restarts a worker killed by an earlier test
    run_and_kill(client, runner(client), pictures, tmp_path / "out.jsonl", kill_after=None)
    made = client.run(engines_made)
    assert len(made) == 2
    for address, engines in made.items():
        assert len(engines) == 1, (address, engines)  # reused for every task, never remade
        task_thread = client.submit(threading.get_ident, workers=[address], pure=False,
                                    resources={"GPU": 1}).result()
        assert engines[0][0] == task_thread
        event_loop_thread = client.run(threading.get_ident, workers=[address])[address]
        assert task_thread != event_loop_thread


def test_model_is_sent_when_workers_cannot_read_its_path_and_survives_a_worker(
        client, pictures, expected, tmp_path):
    wait_for_workers(client, 2)
    model_path = model_copy(tmp_path / "models")
    sent = runner(client, model_path)
    model_path.unlink()  # read here once; from now on no worker finds it at that path
    out = tmp_path / "out.jsonl"
    assert run_and_kill(client, sent, pictures, out, kill_after=5) is not None
    assert_same_as_engine(read_records(out), expected,
                          broken=[str(pictures / "top" / "broken.jpg")])


def test_send_files_sends_bytes_with_the_same_results(client, pictures, expected):
    records = list(runner(client, send_files=True).run(jobs(collect([str(pictures)]), 1)))
    assert_same_as_engine(records, expected, broken=[str(pictures / "top" / "broken.jpg")])
