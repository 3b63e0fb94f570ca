"""The `files` source: a folder of images, one image (animated ones play), or a video file,
looped at a set frame rate. Pictures are decoded by app.images (within its memory budget, at
about the preview size) and shrunk to fit the preview size."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from app.cameras.base import Camera, CameraError, Frame
from app.cameras.paced import Pacer
from app.cameras.preview import Preview
from app.images import ImageError, read_frames

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".h264", ".mjpeg", ".mjpg"}


class FilesCamera(Camera):
    name = "files"

    def __init__(self, path: str, fps: float, max_size: tuple[int, int] = (640, 480)) -> None:
        super().__init__()
        self.path = Path(path)
        self.max_size = max_size
        self.pacer = Pacer(fps)
        self._frames: Iterator[np.ndarray] | None = None

    def open(self, preview: Preview) -> None:
        if not self.path.exists():
            raise CameraError(f"{self.path} does not exist")
        if self.path.is_dir():
            files = sorted(p for p in self.path.iterdir()
                           if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
            if not files:
                raise CameraError(f"no images or videos in {self.path} "
                                  f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        else:
            files = [self.path]
        self._frames = self._loop_forever(files)

    def read(self) -> Frame:
        assert self._frames is not None, "read() before open()"
        self._pause(self.pacer.delay())
        start = time.monotonic()
        rgb = next(self._frames)
        return Frame(timestamp=time.time(), monotonic=time.monotonic(),
                     capture_s=time.monotonic() - start, rgb=rgb)

    def set_fps(self, fps: float) -> None:
        self.pacer.set_fps(fps)

    def close(self) -> None:
        self._frames = None

    def _loop_forever(self, files: list[Path]) -> Iterator[np.ndarray]:
        while True:
            produced = False
            for path in files:
                for rgb in self._decode(path):
                    produced = True
                    yield rgb
            if not produced:
                raise CameraError(f"nothing decodable in {self.path}")

    def _decode(self, path: Path) -> Iterator[np.ndarray]:
        if path.suffix.lower() in VIDEO_SUFFIXES:
            yield from self._decode_video(path)
            return
        try:
            for rgb in read_frames(path, target=min(self.max_size)):
                yield self._fit(rgb)
        except ImageError as exc:
            if not path.exists():
                raise CameraError(f"{path} disappeared") from exc
            raise CameraError(f"cannot decode {exc}") from exc  # the message names the file

    def _decode_video(self, path: Path) -> Iterator[np.ndarray]:
        try:
            import av  # PyAV: python3-av on Raspberry Pi OS, `av` on PyPI
        except ImportError as exc:
            raise CameraError(f"playing {path.name} needs PyAV (apt install python3-av "
                              "or pip install av)") from exc
        try:
            with av.open(str(path)) as container:
                for video_frame in container.decode(video=0):
                    yield self._fit(video_frame.to_ndarray(format="rgb24"))
        except av.error.FFmpegError as exc:
            raise CameraError(f"cannot decode video {path}: {exc}") from exc

    def _fit(self, rgb: np.ndarray) -> np.ndarray:
        """The frame within the preview size, its aspect kept."""
        if rgb.shape[1] <= self.max_size[0] and rgb.shape[0] <= self.max_size[1]:
            return rgb
        from PIL import Image
        picture = Image.fromarray(rgb)
        picture.thumbnail(self.max_size)
        return np.asarray(picture, dtype=np.uint8)
