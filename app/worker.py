"""The inference worker: the one thread that owns the GL context.

It loads the model, creates the engine (whose calls must all come from this thread), then
classifies the newest camera frame again and again, publishing each result to the hub.
Uploaded images from POST /api/classify, and examples for taught classifiers, are handed to it
as jobs; it serves at most one job between two camera frames, so they can slow the live
predictions but never stop them. After a camera frame it runs one due taught classifier on the
same frame (each at most once per `teach.interval_s`, in turn), with an embedder per
descriptor made here, on the same engine; its result rides on the frame's prediction, and a
frame it was unsure of goes to its review queue (app.teach.review).
"""
from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from app.cameras.base import Frame
from app.cameras.preview import Preview
from app.cameras.supervisor import FrameSlot
from app.errors import Busy, Unavailable, in_words
from app.hub import Prediction, PredictionMaker, ResultsHub
from app.meter import RateMeter
from app.models.store import describe, describe_self_test
from app.teach.head import Debouncer
from app.teach.review import ReviewQueues
from app.teach.runner import Embedders, descriptor_for, file_sha256, yuv420_to_rgb
from app.teach.store import Region, TaughtClassifier, answer_dict, thumbnail

log = logging.getLogger(__name__)


class InferenceWorker(threading.Thread):
    def __init__(self, model_path: Path, slot: FrameSlot, hub: ResultsHub, top_k: int = 5,
                 smoothing: int = 1, threshold: float = 0.0, max_uploads: int = 2,
                 preview: Preview | None = None, self_test: bool = True,
                 software_gl: str = "auto", frame_wait_s: float = 1.0,
                 fold_weights: bool | None = None, taught_interval_s: float = 1.0,
                 taught_agree: int = 3) -> None:
        """`frame_wait_s`: after an upload, how long a camera frame is waited for before the
        next upload may go first (a stopped camera must not block uploads). `fold_weights`:
        see gpu_engine.Engine (None: on software GL only). `taught_interval_s`: the least time
        between two runs of one taught classifier; `taught_agree`: results in a row that change
        its `state`."""
        super().__init__(name="inference", daemon=True)
        self.model_path = Path(model_path)
        self.slot = slot
        self.hub = hub
        self.preview = preview
        self.top_k, self.smoothing, self.threshold = top_k, smoothing, threshold
        self.self_test, self.software_gl = self_test, software_gl
        self.fold_weights = fold_weights
        self.state = "loading"
        self.error: str | None = None
        self.error_kind: str | None = None  # the exception's class, for the page to explain it
        self.model_info: dict[str, Any] = {"name": self.model_path.stem, "path": str(model_path)}
        self.labels: list[str] = []
        self.gl_info: dict[str, Any] = dict.fromkeys(("vendor", "renderer", "version", "api",
                                                      "software"))
        self.ready = threading.Event()  # set once the engine is up or failed to come up
        self.meter = RateMeter()
        self.frames_processed = 0
        self.frames_failed = 0
        self.last_timings_ms: dict[str, float] = {}
        self._uploads: queue.Queue[tuple[Callable[..., Any], concurrent.futures.Future]] = \
            queue.Queue(max_uploads)
        self.taught_interval_s, self.taught_agree = taught_interval_s, taught_agree
        self.model_sha256: str | None = None
        self.teach_features: dict[str, Any] | None = None  # the descriptor of new ones
        self.taught_results: dict[str, dict[str, Any]] = {}  # name -> newest result
        self.taught_errors: dict[str, str] = {}  # name -> why it does not run
        self._taught: dict[str, TaughtClassifier] = {}
        self._new_taught: dict[str, TaughtClassifier] | None = None
        self._new_taught_lock = threading.Lock()
        self._taught_due: dict[str, float] = {}
        self._debouncers: dict[str, Debouncer] = {}
        self.review = ReviewQueues()
        self._last_frame: Frame | None = None
        self._stop_event = threading.Event()
        self.frame_wait_s = frame_wait_s

    def classify_upload(self, rgb: np.ndarray) -> concurrent.futures.Future[Prediction]:
        """Queue an uploaded image for the GPU; the future resolves to its Prediction (raises
        Busy when uploads already fill the queue, Unavailable without a working model)."""
        def work(engine, maker: PredictionMaker, embedders: Embedders) -> Prediction:
            started = time.monotonic()
            probabilities = engine.classify_rgb(rgb)
            timings = {**engine.last_timings, "total": time.monotonic() - started}
            maker.configure(self.smoothing, self.threshold, self.top_k)
            return maker.make(probabilities, 0, time.time(), timings, origin="upload")
        return self._queue(work)

    def embed_example(self, features: dict[str, Any], region: Region,
                      rgb: np.ndarray | None = None
                      ) -> concurrent.futures.Future[tuple[np.ndarray, bytes]]:
        """Queue a taught classifier's example: the feature vector and thumbnail of `region`
        of `rgb`, or of the newest classified camera frame when `rgb` is None."""
        def work(engine, maker: PredictionMaker, embedders: Embedders) -> tuple[np.ndarray, bytes]:
            frame = self._last_frame
            if rgb is not None:
                return embedders.embed_rgb(features, rgb, region), thumbnail(rgb, region)
            if frame is None:
                raise Unavailable("no camera frame has been classified yet")
            return _embed(embedders, features, frame, region), thumbnail(_rgb(frame), region)
        return self._queue(work)

    def taught_running(self) -> dict[str, dict[str, Any]]:
        """The taught classifiers that run now, name -> their classes and region, for the
        outputs (from any thread: the worker replaces its set, never changes it in place)."""
        return {name: {"classes": list(classifier.classes), "region": tuple(classifier.region)}
                for name, classifier in self._taught.items()}

    def set_taught(self, classifiers: dict[str, TaughtClassifier]) -> None:
        """The taught classifiers to run from now on (taken up before the next frame's)."""
        with self._new_taught_lock:
            self._new_taught = dict(classifiers)

    def _queue(self, work: Callable[..., Any]) -> concurrent.futures.Future:
        if self.state == "error" or self._stop_event.is_set():
            raise Unavailable("classifier unavailable: "
                              + (self.error or "the inference worker has stopped"))
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            self._uploads.put_nowait((work, future))
        except queue.Full:
            raise Busy("the classifier is busy with other uploads; try again") from None
        self.slot.wake()
        return future

    def configure(self, smoothing: int, threshold: float, top_k: int | None = None) -> None:
        """New settings, taken up before the next frame is ranked."""
        self.smoothing, self.threshold = smoothing, threshold
        if top_k is not None:
            self.top_k = top_k

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_event.set()
        self.slot.wake()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        try:
            engine, maker = self._start_engine()
        except Exception as exc:  # a bad model or missing GL leaves the service up, saying so
            self.state, self.error, self.error_kind = "error", in_words(exc), type(exc).__name__
            log.error("inference worker cannot start: %s", self.error)
            self.ready.set()
            self._fail_uploads()
            return
        self.state = "running"
        self.ready.set()
        embedders = Embedders(engine)
        try:
            camera_turn = False  # set after an upload: a camera frame goes next
            while not self._stop_event.is_set():
                if not camera_turn and self._serve_upload(engine, maker, embedders):
                    camera_turn = True
                    continue
                frame = self._next_frame(self.frame_wait_s if camera_turn else 1.0, camera_turn)
                camera_turn = False
                if frame is not None and not self._stop_event.is_set():
                    self._classify_frame(engine, maker, frame, embedders)
        finally:
            self.state = "stopped"
            self._fail_uploads()
            embedders.release()
            engine.release()

    def _start_engine(self):
        """The model's engine, opened through gpu_engine.open_engine (the software-GL policy,
        then the self-test, before anything is published); what the GPU is and the
        self-test's report are kept for /api/health, refused or not."""
        import gpu_engine

        model = gpu_engine.load_model(self.model_path)
        self.model_info = describe(model, self.model_path)
        try:
            engine, report = gpu_engine.open_engine(model, software_gl=self.software_gl,
                                                    self_test=self.self_test,
                                                    fold_weights=self.fold_weights)
        except gpu_engine.GPURefused as exc:
            self.gl_info = exc.gl_info.as_dict()
            self._keep_report(exc.report)
            raise
        self.gl_info = engine.gl_info.as_dict()
        self._keep_report(report)
        if engine.gl_info.software:
            log.warning("GL renderer %r is a software renderer: inference runs on the CPU "
                        "(on a Pi, is the service user in the 'render' group?)",
                        engine.gl_info.renderer)
        self.labels = list(model.labels)
        self.model_sha256 = file_sha256(self.model_path)
        self.teach_features = descriptor_for(model)
        maker = PredictionMaker(self.labels, model.name, self.top_k, self.smoothing,
                                self.threshold)
        return engine, maker

    def _keep_report(self, report) -> None:
        if report is not None:
            self.model_info["self_test"] = describe_self_test(report)

    def _next_frame(self, timeout: float, ignore_wakes: bool) -> Frame | None:
        """The newest camera frame within `timeout`; an upload's wake-up ends the wait early
        unless `ignore_wakes` (it is the camera's turn)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.slot.take(timeout=max(0.0, deadline - time.monotonic()))
            if (frame is not None or not ignore_wakes or self._stop_event.is_set()
                    or time.monotonic() >= deadline):
                return frame

    def _classify_frame(self, engine, maker: PredictionMaker, frame: Frame,
                        embedders: Embedders) -> None:
        started = time.monotonic()
        try:
            if frame.yuv is not None:
                probabilities = engine.classify_yuv420(*frame.yuv)
            else:
                probabilities = engine.classify_rgb(frame.rgb)
        except Exception as exc:  # one bad frame must not end the worker
            self.frames_failed += 1
            self.error, self.error_kind = in_words(exc), type(exc).__name__
            log.exception("classifying frame %d failed", frame.number)
            return
        self._last_frame = frame
        timings = {"capture": frame.capture_s, "wait": started - frame.monotonic,
                   **engine.last_timings}
        taught_started = time.monotonic()
        taught = self._run_taught(embedders, frame)
        done = time.monotonic()
        timings.update(taught=done - taught_started,
                       total=done - frame.monotonic + frame.capture_s)
        maker.configure(self.smoothing, self.threshold, self.top_k)
        prediction = maker.make(probabilities, frame.number, frame.timestamp, timings,
                                taught=taught)
        if self.preview is not None:  # the picture goes first: a client asks for it on the news
            self.preview.classified(frame.number, frame.rgb)
        self.frames_processed += 1
        self.error = self.error_kind = None
        self.meter.tick(done)
        self.last_timings_ms = prediction.timings_ms
        self.hub.publish(prediction)

    def _run_taught(self, embedders: Embedders, frame: Frame) -> dict[str, dict[str, Any]]:
        """Run the taught classifier that is due longest, if any, on `frame`; every active
        one's newest result."""
        with self._new_taught_lock:
            new, self._new_taught = self._new_taught, None
        if new is not None:
            self._take_taught(new)
        now = time.monotonic()
        due = [name for name in self._taught if self._taught_due.get(name, 0.0) <= now]
        if due:
            name = min(due, key=lambda n: self._taught_due.get(n, 0.0))
            classifier = self._taught[name]
            self._taught_due[name] = now + self.taught_interval_s
            try:
                vector = _embed(embedders, classifier.features, frame, classifier.region)
                answer = classifier.classify(vector)
                if self.review.wants(name, answer, now):
                    self.review.add(name, answer, vector,
                                    thumbnail(_rgb(frame), classifier.region),
                                    frame.number, frame.timestamp, now)
            except Exception as exc:  # one taught classifier must not stop the others
                self.taught_errors[name] = in_words(exc)
                self._taught = {n: c for n, c in self._taught.items() if n != name}
                self.taught_results.pop(name, None)
                log.exception("taught classifier %s failed on frame %d", name, frame.number)
            else:
                debouncer = self._debouncers.setdefault(name, Debouncer(self.taught_agree))
                debouncer.update(answer.label)
                self.taught_results[name] = {**answer_dict(answer), "state": debouncer.state,
                                             "frame": frame.number,
                                             "timestamp": frame.timestamp}
        return {name: self.taught_results[name] for name in self._taught
                if name in self.taught_results}

    def _take_taught(self, classifiers: dict[str, TaughtClassifier]) -> None:
        """Swap in the classifiers set by set_taught; one that changed starts afresh."""
        errors: dict[str, str] = {}
        for name, classifier in classifiers.items():
            if classifier.head is None:
                errors[name] = "it needs examples of at least two classes"
            elif classifier.backbone["sha256"] != self.model_sha256:
                errors[name] = (f"it was taught on model {classifier.backbone['name']!r}, not "
                                f"on the one running ({self.model_info['name']!r})")
        active = {name: c for name, c in classifiers.items() if name not in errors}
        for name in set(self._taught) | set(active):
            old, new = self._taught.get(name), active.get(name)
            if old is None or new is None or old.revision != new.revision:
                self.taught_results.pop(name, None)
                self._debouncers.pop(name, None)
                self._taught_due.pop(name, None)
        self._taught, self.taught_errors = active, errors
        self.review.keep_only({name: c.inputs for name, c in active.items()})

    def _serve_upload(self, engine, maker: PredictionMaker, embedders: Embedders) -> bool:
        try:
            work, future = self._uploads.get_nowait()
        except queue.Empty:
            return False
        if not future.set_running_or_notify_cancel():
            return True
        try:
            future.set_result(work(engine, maker, embedders))
        except Exception as exc:
            future.set_exception(exc)
        return True

    def _fail_uploads(self) -> None:
        while True:
            try:
                _, future = self._uploads.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(Unavailable("classifier unavailable: "
                                                 + (self.error or "worker stopped")))


def _embed(embedders: Embedders, features: dict[str, Any], frame: Frame,
           region: Region) -> np.ndarray:
    """A taught descriptor of a camera frame: from its YUV planes when the camera gave them
    (no conversion of the whole frame), else from its RGB."""
    if frame.yuv is not None:
        return embedders.embed_yuv420(features, frame.yuv, region)
    return embedders.embed_rgb(features, frame.rgb, region)


def _rgb(frame: Frame) -> np.ndarray:
    """A camera frame's whole picture as RGB, for a thumbnail of its region."""
    return frame.rgb if frame.yuv is None else yuv420_to_rgb(*frame.yuv)
