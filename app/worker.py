"""The inference worker: the one thread that owns the GL context.

It loads the model, creates the engine (whose calls must all come from this thread), then
classifies the newest camera frame again and again, publishing each result to the hub.
Uploaded images from POST /api/classify are handed to it as jobs; it serves at most one upload
between two camera frames, so uploads can slow the live predictions but never stop them.
"""
from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.cameras.base import Frame
from app.cameras.preview import Preview
from app.cameras.supervisor import FrameSlot
from app.errors import Busy, Unavailable
from app.hub import Prediction, PredictionMaker, ResultsHub
from app.meter import RateMeter
from app.models.store import describe, describe_self_test

log = logging.getLogger(__name__)


class InferenceWorker(threading.Thread):
    def __init__(self, model_path: Path, slot: FrameSlot, hub: ResultsHub, top_k: int = 5,
                 smoothing: int = 1, threshold: float = 0.0, max_uploads: int = 2,
                 preview: Preview | None = None, self_test: bool = True,
                 software_gl: str = "auto", frame_wait_s: float = 1.0) -> None:
        """`frame_wait_s`: after an upload, how long a camera frame is waited for before the
        next upload may go first (a stopped camera must not block uploads)."""
        super().__init__(name="inference", daemon=True)
        self.model_path = Path(model_path)
        self.slot = slot
        self.hub = hub
        self.preview = preview
        self.top_k, self.smoothing, self.threshold = top_k, smoothing, threshold
        self.self_test, self.software_gl = self_test, software_gl
        self.state = "loading"
        self.error: str | None = None
        self.model_info: dict[str, Any] = {"name": self.model_path.stem, "path": str(model_path)}
        self.labels: list[str] = []
        self.gl_info: dict[str, Any] = dict.fromkeys(("vendor", "renderer", "version", "api",
                                                      "software"))
        self.ready = threading.Event()  # set once the engine is up or failed to come up
        self.meter = RateMeter()
        self.frames_processed = 0
        self.frames_failed = 0
        self.last_timings_ms: dict[str, float] = {}
        self._uploads: queue.Queue[tuple[np.ndarray, concurrent.futures.Future]] = \
            queue.Queue(max_uploads)
        self._stop_event = threading.Event()
        self.frame_wait_s = frame_wait_s

    def classify_upload(self, rgb: np.ndarray) -> concurrent.futures.Future[Prediction]:
        """Queue an uploaded image for the GPU; the future resolves to its Prediction (raises
        Busy when uploads already fill the queue, Unavailable without a working model)."""
        if self.state == "error" or self._stop_event.is_set():
            raise Unavailable("classifier unavailable: "
                              + (self.error or "the inference worker has stopped"))
        future: concurrent.futures.Future[Prediction] = concurrent.futures.Future()
        try:
            self._uploads.put_nowait((rgb, future))
        except queue.Full:
            raise Busy("the classifier is busy with other uploads; try again") from None
        self.slot.wake()
        return future

    def configure(self, smoothing: int, threshold: float) -> None:
        """New settings, taken up before the next frame is ranked."""
        self.smoothing, self.threshold = smoothing, threshold

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_event.set()
        self.slot.wake()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        try:
            engine, maker = self._start_engine()
        except Exception as exc:  # a bad model or missing GL leaves the service up, saying so
            self.state, self.error = "error", f"{type(exc).__name__}: {exc}"
            log.error("inference worker cannot start: %s", self.error)
            self.ready.set()
            self._fail_uploads()
            return
        self.state = "running"
        self.ready.set()
        try:
            camera_turn = False  # set after an upload: a camera frame goes next
            while not self._stop_event.is_set():
                if not camera_turn and self._serve_upload(engine, maker):
                    camera_turn = True
                    continue
                frame = self._next_frame(self.frame_wait_s if camera_turn else 1.0, camera_turn)
                camera_turn = False
                if frame is not None and not self._stop_event.is_set():
                    self._classify_frame(engine, maker, frame)
        finally:
            self.state = "stopped"
            self._fail_uploads()
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
                                                    self_test=self.self_test)
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

    def _classify_frame(self, engine, maker: PredictionMaker, frame: Frame) -> None:
        started = time.monotonic()
        try:
            if frame.yuv is not None:
                probabilities = engine.classify_yuv420(*frame.yuv)
            else:
                probabilities = engine.classify_rgb(frame.rgb)
        except Exception as exc:  # one bad frame must not end the worker
            self.frames_failed += 1
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("classifying frame %d failed", frame.number)
            return
        done = time.monotonic()
        timings = {"capture": frame.capture_s, "wait": started - frame.monotonic,
                   **engine.last_timings, "total": done - frame.monotonic + frame.capture_s}
        maker.configure(self.smoothing, self.threshold)
        prediction = maker.make(probabilities, frame.number, frame.timestamp, timings)
        if self.preview is not None:  # the picture goes first: a client asks for it on the news
            self.preview.classified(frame.number, frame.rgb)
        self.frames_processed += 1
        self.error = None
        self.meter.tick(done)
        self.last_timings_ms = prediction.timings_ms
        self.hub.publish(prediction)

    def _serve_upload(self, engine, maker: PredictionMaker) -> bool:
        try:
            rgb, future = self._uploads.get_nowait()
        except queue.Empty:
            return False
        if not future.set_running_or_notify_cancel():
            return True
        started = time.monotonic()
        try:
            probabilities = engine.classify_rgb(rgb)
            timings = {**engine.last_timings, "total": time.monotonic() - started}
            maker.configure(self.smoothing, self.threshold)
            future.set_result(maker.make(probabilities, 0, time.time(), timings, origin="upload"))
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
