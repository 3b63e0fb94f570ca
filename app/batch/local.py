"""The default runner: one engine in this process and thread, jobs one after another."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from app.batch.sources import with_bytes
from app.batch.tasks import Job, ModelBytes, classify_job, release_engines


class LocalRunner:
    def __init__(self, model: ModelBytes, top_k: int):
        self.model, self.top_k = model, top_k

    def run(self, jobs: Iterable[Job]) -> Iterator[dict]:
        """Records in job order (an unreadable file gives a record with its error)."""
        for job in jobs:
            yield classify_job(with_bytes(job), self.model, self.top_k)

    def close(self) -> None:
        release_engines()
