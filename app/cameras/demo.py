"""The `demo` source: moving pictures of the kind the built-in demo model knows, so a fresh
install with no camera shows something alive that the model can classify."""
from __future__ import annotations

import time

from app.cameras.base import Camera, Frame
from app.cameras.paced import Pacer
from app.cameras.preview import Preview


class DemoCamera(Camera):
    name = "demo"

    def __init__(self, fps: float, width: int = 640, height: int = 480) -> None:
        super().__init__()
        self.width, self.height = width, height
        self.pacer = Pacer(fps)
        self._start = 0.0

    def open(self, preview: Preview) -> None:
        from app import demo_scene  # the scene lives beside the demo model it was made for

        self._render = demo_scene.render_scene
        self._start = time.monotonic()

    def read(self) -> Frame:
        self._pause(self.pacer.delay())
        start = time.monotonic()
        rgb = self._render(start - self._start, self.width, self.height)
        return Frame(timestamp=time.time(), monotonic=time.monotonic(),
                     capture_s=time.monotonic() - start, rgb=rgb)

    def set_fps(self, fps: float) -> None:
        self.pacer.set_fps(fps)

    def close(self) -> None:
        pass
