"""Camera sources behind one interface, chosen by the `camera.source` setting."""
from __future__ import annotations

from app.cameras.base import Camera, CameraError, Frame
from app.cameras.preview import Preview
from app.cameras.supervisor import CameraSupervisor, FrameSlot

__all__ = ["Camera", "CameraError", "CameraSupervisor", "Frame", "FrameSlot", "Preview",
           "make_camera"]


def make_camera(source: str, fps: float, size: tuple[int, int] = (640, 480),
                inference_size: tuple[int, int] = (384, 288), buffer_count: int = 3) -> Camera:
    """A new, unopened camera for `demo`, `picamera2` or `files:PATH`."""
    if source == "demo":
        from app.cameras.demo import DemoCamera
        return DemoCamera(fps, *size)
    if source == "picamera2":
        from app.cameras.picam import PiCamera
        return PiCamera(fps, size, inference_size, buffer_count)
    if source.startswith("files:"):
        from app.cameras.files import FilesCamera
        return FilesCamera(source[len("files:"):], fps, max_size=size)
    raise ValueError(f"unknown camera source {source!r}: use demo, picamera2 or files:PATH")
