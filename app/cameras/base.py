"""The interface every camera source implements, and the frame it delivers."""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from app.cameras.preview import Preview


class CameraError(RuntimeError):
    """The camera cannot be opened or stopped delivering frames; the supervisor retries."""


@dataclass
class Frame:
    """One captured frame: RGB (files, demo) or Y/U/V planes (picamera2 lores), never both."""

    timestamp: float  # wall clock (time.time()) at capture
    monotonic: float  # time.monotonic() at capture, for latency measurements
    capture_s: float  # seconds the source spent producing the frame
    rgb: np.ndarray | None = None
    yuv: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    number: int = 0  # set by the supervisor, counting from 1


class Camera(ABC):
    """A source of frames: open, read frames one at a time, close. Used by one thread."""

    name = "camera"
    #: True when the source feeds the preview itself (picamera2's hardware JPEG encoder);
    #: otherwise the supervisor hands each RGB frame to the preview, encoded only on demand.
    hardware_preview = False

    def __init__(self) -> None:
        self._interrupted = threading.Event()

    @abstractmethod
    def open(self, preview: Preview) -> None:
        """Start capturing; raise CameraError when the camera is not there."""

    @abstractmethod
    def read(self) -> Frame:
        """Block until the next frame; raise CameraError when the camera fails."""

    @abstractmethod
    def close(self) -> None:
        """Release the camera; safe to call after a failed open or read."""

    def set_fps(self, fps: float) -> None:
        """Deliver `fps` frames a second from now on (called from another thread)."""

    def interrupt(self) -> None:
        """Called from another thread to end a wait inside read() soon (at shutdown)."""
        self._interrupted.set()

    def _pause(self, seconds: float) -> None:
        """Sleep for frame pacing, cut short by interrupt()."""
        if seconds > 0 and self._interrupted.wait(seconds):
            raise CameraError("interrupted")
