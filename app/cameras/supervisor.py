"""Keeps a camera running: reads frames into a one-frame slot, and reopens a failed camera
with exponential back-off while the rest of the service stays up and reports it."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from app.cameras.base import Camera, Frame
from app.cameras.preview import Preview
from app.errors import in_words
from app.meter import RateMeter

log = logging.getLogger(__name__)


class FrameSlot:
    """Holds only the newest frame: a consumer that is slower than the camera skips frames
    instead of working through a queue of stale ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self.overwritten = 0  # frames replaced before anybody took them

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.overwritten += 1
            self._frame = frame
            self._cond.notify_all()

    def wake(self) -> None:
        """End a take() that is waiting, so its thread can do other work (an upload)."""
        with self._cond:
            self._cond.notify_all()

    def take(self, timeout: float) -> Frame | None:
        """The newest frame not taken yet, waiting at most `timeout` seconds for one."""
        with self._cond:
            if self._frame is None:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            return frame


class CameraSupervisor(threading.Thread):
    """The camera thread. `status()` is what /api/health and the page show."""

    def __init__(self, make_camera: Callable[[], Camera], slot: FrameSlot, preview: Preview,
                 retry_min_s: float = 0.5, retry_max_s: float = 30.0,
                 source: str = "camera", stall_after_s: float = 10.0) -> None:
        super().__init__(name="camera", daemon=True)
        self.make_camera = make_camera
        self.slot = slot
        self.preview = preview
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.source = source
        self.stall_after_s = stall_after_s
        self.state = "starting"
        self.error: str | None = None
        self.failures = 0
        self.frames = 0
        self.last_frame_at: float | None = None
        self.retry_at: float | None = None  # monotonic time of the next attempt, while retrying
        self.meter = RateMeter()
        self._stop_event = threading.Event()
        self._camera: Camera | None = None

    def status(self) -> dict[str, Any]:
        """A camera that hangs inside its driver never raises; it shows as 'stalled' here."""
        age = None if self.last_frame_at is None else time.monotonic() - self.last_frame_at
        state, error = self.state, self.error
        if state == "running" and age is not None and age > self.stall_after_s:
            state, error = "stalled", f"no frame for {age:.0f} s"
        retry_at = self.retry_at
        retry_in = None if retry_at is None or state != "retrying" else \
            round(max(0.0, retry_at - time.monotonic()), 2)
        return {"source": self.source, "state": state, "error": error,
                "failures": self.failures, "frames": self.frames,
                "fps": round(self.meter.rate(), 2),
                "last_frame_age_s": None if age is None else round(age, 3),
                "retry_in_s": retry_in}

    def set_fps(self, fps: float, stall_after_s: float) -> None:
        """The running camera delivers `fps` from now on (a reopened one is made with it by
        `make_camera`); silence is judged against the new rate."""
        self.stall_after_s = stall_after_s
        camera = self._camera
        if camera is not None:
            try:
                camera.set_fps(fps)
            except Exception as exc:  # a failing camera: reopened, it is made with the rate
                log.warning("camera %s did not take %g fps now (%s: %s); it will when it is "
                            "opened again", self.source, fps, type(exc).__name__, exc)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop_event.set()
        camera = self._camera
        if camera is not None:
            camera.interrupt()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        delay = self.retry_min_s
        while not self._stop_event.is_set():
            delivered = self._run_camera()
            if self._stop_event.is_set():
                break
            self.failures += 1
            self.state = "retrying"
            delay = self.retry_min_s if delivered else min(delay * 2, self.retry_max_s)
            log.warning("camera %s failed (%s); retrying in %.1f s", self.source, self.error, delay)
            self.retry_at = time.monotonic() + delay
            self._stop_event.wait(delay)
            self.retry_at = None
        self.state = "stopped"

    def _run_camera(self) -> bool:
        """Open the camera and pump frames until it fails; True if it delivered any frame."""
        delivered = False
        camera = None
        try:
            camera = self._camera = self.make_camera()
            if self._stop_event.is_set():
                camera.interrupt()
            camera.open(self.preview)
            self.state, self.error = "running", None
            while not self._stop_event.is_set():
                frame = camera.read()
                self.frames += 1
                frame.number = self.preview.camera_frame = self.frames
                self.last_frame_at = frame.monotonic
                self.meter.tick(frame.monotonic)
                self.slot.put(frame)
                if not camera.hardware_preview and frame.rgb is not None:
                    self.preview.put_rgb(frame.rgb, frame.number)
                delivered = True
        except Exception as exc:  # any failure of a camera must leave the service up
            self.error = in_words(exc)
        finally:
            self._camera = None
            if camera is not None:
                try:
                    camera.close()
                except Exception:  # closing a broken camera may fail as well
                    log.exception("closing camera %s", self.source)
        return delivered
