"""The default runner: one engine in this process and thread, jobs one after another."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from app.batch import BatchError
from app.batch.sources import with_bytes
from app.batch.tasks import Job, ModelBytes, TaughtModel, Trust, classify_job, release_engines
from gpu_engine import GPURefused


class LocalRunner:
    def __init__(self, model: ModelBytes, top_k: int, trust: Trust = Trust(),
                 taught: TaughtModel | None = None):
        """`taught`: classify with that taught classifier, `model` being its backbone."""
        self.model, self.top_k, self.trust, self.taught = model, top_k, trust, taught

    def run(self, jobs: Iterable[Job]) -> Iterator[dict]:
        """Records in job order (an unreadable file gives a record with its error); a GPU
        that is refused stops the run (BatchError)."""
        for job in jobs:
            try:
                yield classify_job(with_bytes(job), self.model, self.top_k, self.trust,
                                   self.taught)
            except GPURefused as exc:
                raise BatchError(f"the GPU is refused: {exc}") from None

    def close(self) -> None:
        release_engines()
