"""Running jobs on a Dask cluster: an embedded LocalCluster or workers already started with
`dask worker ADDRESS --nthreads 1 --resources GPU=1`.

Only a bounded number of tasks is in flight (a few per GPU slot), results are taken as they
finish (`as_completed`) and handed on at once, so memory stays flat for any archive size.
Tasks need the `GPU` resource, so the scheduler gives each worker's GPU one task at a time.

Files go by path, read on the worker, until a worker says it cannot see a path (another
machine): from then on the client sends the files' bytes. The model goes by path the same way
and is sent (scattered once, kept by each worker) when a worker lacks it. A worker that dies
mid-task loses nothing: Dask runs its tasks again elsewhere; a picture that has killed several
workers is reported as an error. A worker whose GPU is refused (software GL, a failed
self-test) stops the batch at once with the reason. Any other task failure is retried twice,
then stops the batch. A stopped batch cancels the tasks it still has in flight.

Only API that Debian bookworm's distributed 2022.12.1 and current releases share is used: no
worker plugins (2022.12 has `register_worker_plugin`, current releases only `register_plugin`)
and no `get_worker` (it finds the worker differently in each), hence engines kept per process
in `tasks` and the model sent as scattered data. A taught classifier's head (tens of KB) goes
with each task, by value.
"""
from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from app.batch import BatchError
from app.batch.sources import with_bytes
from app.batch.tasks import (Job, ModelBytes, ModelRef, ModelUnavailable, PathNotShared,
                             TaughtModel, Trust, classify_job)
from app.errors import in_words
from gpu_engine import GPURefused

log = logging.getLogger(__name__)

RETRIES = 2
TASKS_PER_SLOT = 2
WORKER_WAIT_S = 60.0
CONNECT_TIMEOUT_S = 3.0  # a scheduler on the LAN answers in milliseconds


def _distributed():
    try:
        import distributed
    except ImportError:
        raise BatchError("--workers and --scheduler need Dask: pip install 'shadercam[cluster]' "
                         "(on Debian and Raspberry Pi OS: apt install python3-distributed)"
                         ) from None
    return distributed


@contextmanager
def connect(workers: int | None = None, scheduler: str | None = None):
    """A Dask client: of an embedded LocalCluster of `workers` single-threaded worker processes
    (loopback only), or of the cluster whose scheduler is at `scheduler`."""
    distributed = _distributed()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:  # unreachable, or a bad address
            raise BatchError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client
        return
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  resources={"GPU": 1}, silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def gpu_slots(client) -> int:
    """GPU slots of the connected workers, waiting up to WORKER_WAIT_S for the first one."""
    deadline = time.monotonic() + WORKER_WAIT_S
    while True:
        workers, slots = _slots(client)
        if slots:
            return slots
        if time.monotonic() > deadline:
            if workers:
                raise BatchError("no worker offers a GPU: start workers with "
                                 "`dask worker ADDRESS --nthreads 1 --resources GPU=1`")
            raise BatchError(f"no worker joined the scheduler within {WORKER_WAIT_S:.0f} s")
        time.sleep(0.5)


def _slots(client) -> tuple[int, int]:
    """(workers, GPU slots) the scheduler knows of now."""
    workers = client.scheduler_info()["workers"].values()
    return len(workers), sum(int(w.get("resources", {}).get("GPU", 0)) for w in workers)


class ClusterRunner:
    def __init__(self, client, model: ModelBytes, model_path: str | os.PathLike[str],
                 top_k: int, send_files: bool = False, trust: Trust = Trust(),
                 taught: TaughtModel | None = None):
        """`taught`: classify with that taught classifier, `model` being its backbone."""
        self.client, self.model, self.top_k, self.trust = client, model, top_k, trust
        self.taught = taught
        self.send_files = send_files
        self._model_arg = ModelRef(os.path.abspath(model_path), model.sha256)
        self._limit = TASKS_PER_SLOT * gpu_slots(client) + 2
        self._limit_checked = time.monotonic()

    def run(self, jobs: Iterable[Job]) -> Iterator[dict]:
        """Records in the order the tasks finish."""
        from distributed import as_completed
        source = iter(jobs)
        ready: deque[dict] = deque()
        pending: dict = {}  # future -> (job, failed attempts)
        finished = as_completed()

        def submit(job: Job, attempts: int) -> None:
            if self.send_files:
                job = with_bytes(job)
            if job.error is not None:
                ready.append({**job.record(), "error": job.error})
                return
            future = self.client.submit(classify_job, job, self._model_arg, self.top_k,
                                        self.trust, self.taught, pure=False,
                                        resources={"GPU": 1})
            pending[future] = (job, attempts)
            finished.add(future)

        def top_up() -> None:
            while len(pending) < self._in_flight():
                job = next(source, None)
                if job is None:
                    return
                submit(job, 0)

        try:
            top_up()
            while ready or pending:
                while ready:
                    yield ready.popleft()
                if not pending:
                    top_up()
                    continue
                future = next(finished)
                job, attempts = pending.pop(future)
                if future.status == "finished":
                    ready.append(future.result())
                else:
                    self._failed(job, attempts, _exception(future), submit, ready)
                future.release()
                top_up()
        finally:
            # A batch stopped by an error, or by its reader, leaves nothing queued on the
            # cluster: the tasks in flight are cancelled and the client forgets them.
            finished.clear()
            if pending:
                self.client.cancel(list(pending))
                for future in pending:
                    future.release()

    def _failed(self, job: Job, attempts: int, exc: BaseException, submit, ready) -> None:
        if isinstance(exc, PathNotShared):
            self.send_files = True
            submit(job, attempts)
        elif isinstance(exc, ModelUnavailable):
            if isinstance(self._model_arg, ModelRef):
                self._send_model()
            submit(job, attempts)
        elif isinstance(exc, GPURefused):
            raise BatchError(f"the GPU of a worker is refused: {exc}")
        elif type(exc).__name__ == "KilledWorker":  # distributed.scheduler.KilledWorker
            ready.append({**job.record(), "error": f"the workers classifying it died: {exc}"})
        elif attempts < RETRIES:
            if not isinstance(self._model_arg, ModelRef) and self._model_arg.status != "finished":
                self._send_model()  # every worker holding the sent model has gone
            submit(job, attempts + 1)
        else:
            log.warning("%s failed %d times on the workers", job.path, attempts + 1,
                        exc_info=exc)
            raise BatchError(f"{job.path}: the workers failed {attempts + 1} times: "
                             f"{in_words(exc)}")

    def _send_model(self) -> None:
        """The model file to every worker, once (a worker that joins later fetches it)."""
        self._model_arg = self.client.scatter(self.model, broadcast=True, hash=False)

    def _in_flight(self) -> int:
        """Tasks to keep queued: a few per GPU slot, following workers that join or leave."""
        if time.monotonic() - self._limit_checked > 5.0:
            self._limit_checked = time.monotonic()
            slots = _slots(self.client)[1]
            self._limit = TASKS_PER_SLOT * max(1, slots) + 2
        return self._limit

    def close(self) -> None:
        """Engines live as long as their worker processes."""


def _exception(future) -> BaseException:
    if future.status == "cancelled":  # e.g. the scheduler restarted: run it again
        from concurrent.futures import CancelledError
        return CancelledError(f"task {future.key} was cancelled")
    return future.exception()
