"""Classify one job: the function a Dask worker runs (and the in-process runner too).

A GL context belongs to the thread that made it, so each process keeps one engine per
(thread, model) and makes it lazily inside the thread that runs the tasks: with Dask's
`--nthreads 1` that is the worker's single executor thread, so a worker process makes exactly
one engine and reuses it for every task. Engines are never pickled; what travels is a
`ModelRef` (a path every worker can read, checked against its sha256) or a `ModelBytes`
(the file itself, scattered once and kept by each worker that needs it).

A taught classifier runs as a `TaughtModel` beside its backbone's model: its head, descriptor
and region only (no examples, no thumbnails: tens of KB), sent with each task; the worker
computes the descriptor on the backbone's engine (one embedder per descriptor, kept like the
engine) and applies the head.

Engines are opened as the service opens its own (gpu_engine.open_engine): the software-GL
policy and the GPU self-test of `Trust`. A refused GPU raises GPURefused from the task; the
runners then stop the whole batch with the reason rather than write a record per picture (an
output holding only errors would be taken for finished work when the run is continued).
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.images import ImageError, decode
from app.teach.head import Head


class PathNotShared(Exception):
    """This worker cannot see the file the client named (another machine): send the bytes."""


class ModelUnavailable(Exception):
    """This worker has no file at the model's path with the model's sha256: send the bytes."""


@dataclass(frozen=True)
class Trust:
    """How a worker opens its engine: the software-GL policy (`auto`, `allow`, `refuse`) and
    whether the GPU self-test runs first."""

    software_gl: str = "auto"
    self_test: bool = True


@dataclass(frozen=True)
class ModelRef:
    """The model by path, for workers that share the client's files."""

    path: str
    sha256: str


@dataclass(frozen=True)
class ModelBytes:
    """The model file itself, for workers that cannot read the client's path."""

    name: str  # the file's name without its suffix, as gpu_engine.load_model names a model
    sha256: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class TaughtModel:
    """What a worker needs of a taught classifier (app.teach.store) to classify a picture."""

    name: str
    classes: tuple[str, ...]
    region: tuple[float, float, float, float]
    features: dict                   # the descriptor: layer, grid, input_size
    head: Head                       # standardization, weights, threshold


@dataclass(frozen=True)
class Job:
    """One picture to classify, and how the worker gets its pixels."""

    path: str                        # as written in the output
    frame: int | None = None         # video frame number (the first is 1), None for a picture
    time_s: float | None = None      # the video frame's time
    location: str | None = None      # absolute path to read where files are shared
    size: int | None = None          # its size here: a same-named different file is not shared
    data: bytes | None = field(default=None, repr=False)        # the file where not shared
    pixels: np.ndarray | None = field(default=None, repr=False)  # a decoded video frame
    error: str | None = None         # failed before classification (e.g. an unreadable video)

    def record(self) -> dict:
        """The output record's identifying fields."""
        if self.frame is None:
            return {"path": self.path}
        return {"path": self.path, "frame": self.frame, "time_s": self.time_s}


def model_bytes(path: str | os.PathLike[str]) -> ModelBytes:
    """The model file with its sha256, read here (on the client)."""
    data = Path(path).read_bytes()
    return ModelBytes(Path(path).stem, hashlib.sha256(data).hexdigest(), data)


def classify_job(job: Job, model: ModelRef | ModelBytes, top_k: int,
                 trust: Trust = Trust(), taught: TaughtModel | None = None) -> dict:
    """The output record of one job: its top-k classes, or the error that stopped it. With
    `taught`, `model` is its backbone and the classes are the taught ones, and the record
    carries the taught answer too: `label` ('unknown' below its threshold), `probability`,
    `uncertain`."""
    if job.error is not None:
        return {**job.record(), "error": job.error}
    loaded, engine = engine_for(model, trust)
    try:
        rgb = _pixels(job)
    except ImageError as exc:
        return {**job.record(), "error": str(exc)}
    from app.labels import display_label
    from gpu_engine import top_k as best
    answer: dict = {}
    if taught is None:
        probabilities, labels = engine.classify_rgb(rgb), loaded.labels
    else:
        vector = _embedders_for(model.sha256, engine).embed_rgb(taught.features, rgb,
                                                                  taught.region)
        said = taught.head.classify(vector)
        probabilities, labels = [said.probabilities[c] for c in taught.classes], taught.classes
        answer = {"label": said.label, "probability": said.probability,
                  "uncertain": said.uncertain}
    return {**job.record(), "top_k": [
        {"index": index, "label": label, "display_label": display_label(label), "probability": p}
        for index, label, p in best(probabilities, list(labels), top_k)], **answer}


def _pixels(job: Job) -> np.ndarray:
    if job.pixels is not None:
        return job.pixels
    data = job.data
    if data is None:
        try:
            if os.stat(job.location).st_size != job.size:
                raise PathNotShared(f"{job.location} differs on this worker")
            with open(job.location, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise PathNotShared(f"{job.location}: {exc.strerror or exc}") from exc
    # Every worker reduces pictures the same way (to the Pi's texture limit only, so the
    # answers are the engine's on the picture), within the same memory budget.
    return decode(data)


# ---- the per-process engines -----------------------------------------------------------------

_lock = threading.Lock()
_engines: dict[tuple[int, str], tuple] = {}   # (thread id, sha256) -> (Model, Engine)
_created: list[tuple[int, str]] = []           # every engine this process made, in order
_embedders: dict[tuple[int, str], Any] = {}    # (thread id, sha256) -> its engine's Embedders


def engine_for(model: ModelRef | ModelBytes, trust: Trust = Trust()):
    """(Model, Engine) for `model` in the calling thread, opened on first use (GPURefused
    when the GPU fails `trust`)."""
    key = (threading.get_ident(), model.sha256)
    with _lock:
        found = _engines.get(key)
    if found is not None:
        return found
    from gpu_engine import load_model_bytes, open_engine
    loaded = load_model_bytes(_model_data(model), name=_model_name(model))
    engine, _ = open_engine(loaded, software_gl=trust.software_gl, self_test=trust.self_test)
    with _lock:
        _engines[key] = (loaded, engine)
        _created.append((threading.get_ident(), threading.current_thread().name))
    return loaded, engine


def _embedders_for(sha256: str, engine) -> Any:
    """The taught descriptors' embedders of the calling thread's engine of `sha256`."""
    from app.teach.runner import Embedders
    key = (threading.get_ident(), sha256)
    with _lock:
        if key not in _embedders:
            _embedders[key] = Embedders(engine)
        return _embedders[key]


def _model_name(model: ModelRef | ModelBytes) -> str:
    return Path(model.path).stem if isinstance(model, ModelRef) else model.name


def _model_data(model: ModelRef | ModelBytes) -> bytes:
    if isinstance(model, ModelBytes):
        data = model.data
    else:
        try:
            with open(model.path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise ModelUnavailable(f"{model.path}: {exc.strerror or exc}") from exc
    if hashlib.sha256(data).hexdigest() != model.sha256:
        if isinstance(model, ModelRef):
            raise ModelUnavailable(f"{model.path} on this worker is another file")
        raise ValueError(f"model {model.name} arrived damaged (sha256 mismatch)")
    return data


def engines_made() -> list[tuple[int, str]]:
    """(thread id, thread name) of every engine this process made: one on a healthy worker."""
    with _lock:
        return list(_created)


def release_engines() -> None:
    """Release the calling thread's engines (their GL contexts belong to it)."""
    me = threading.get_ident()
    with _lock:
        embedders = [_embedders.pop(key) for key in list(_embedders) if key[0] == me]
        mine = [key for key in _engines if key[0] == me]
        released = [_engines.pop(key)[1] for key in mine]
    for made in embedders:  # before their engine
        made.release()
    for engine in released:
        engine.release()
