"""The `picamera2` source: the Raspberry Pi camera through libcamera.

Two streams: `main` (YUV420) goes to picamera2's MJPEGEncoder, which is the hardware JPEG
encoder on Pi 0-4, and feeds the preview; `lores` (YUV420) is what the classifier sees. Its
planes go to the engine as they are (views into picamera2's array, no colour conversion on
the CPU). Both are full-range (sYCC): the engine converts with full-range BT.601, while
picamera2 would pick limited-range Smpte170m for small streams. picamera2 is imported only
here, and only when this source is opened.
"""
from __future__ import annotations

import io
import time

import numpy as np

from app.cameras.base import Camera, CameraError, Frame
from app.cameras.preview import Preview


def yuv420_planes(array: np.ndarray, width: int, height: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split picamera2's YUV420 array into Y, U, V views.

    The buffer holds `height` rows of Y with `stride` bytes each, then the U plane and the V
    plane, each ceil(height/2) rows of stride/2 bytes; picamera2 hands it over reshaped to
    (height*3/2, stride) rows, so a chroma plane need not start on a row of that array (it
    does not when height % 4 == 2). The planes are cut from the flat buffer instead, padding
    on the right of each row cut off; an odd width or height loses its last column or row.
    """
    stride = array.shape[1] if array.ndim == 2 else 0
    chroma_stride, chroma_rows = stride // 2, (height + 1) // 2
    luma_bytes, chroma_bytes = stride * height, chroma_stride * chroma_rows
    if stride < width or array.size < luma_bytes + 2 * chroma_bytes or width < 2 or height < 2:
        raise CameraError(f"unexpected YUV420 array {array.shape} for a {width}x{height} stream")
    flat = array.reshape(-1)  # a view: picamera2's arrays are contiguous
    rows, columns = height // 2, width // 2
    y = flat[:luma_bytes].reshape(height, stride)[:2 * rows, :2 * columns]
    u, v = (flat[start:start + chroma_bytes].reshape(chroma_rows, chroma_stride)[:rows, :columns]
            for start in (luma_bytes, luma_bytes + chroma_bytes))
    return y, u, v


class _PreviewSink(io.BufferedIOBase):
    """What picamera2's FileOutput writes each hardware JPEG into."""

    def __init__(self, preview: Preview) -> None:
        super().__init__()
        self.preview = preview

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # data: bytes-like JPEG of one frame
        self.preview.put_jpeg(data)
        return len(data)


class PiCamera(Camera):
    name = "picamera2"
    hardware_preview = True

    def __init__(self, fps: float, size: tuple[int, int] = (640, 480),
                 inference_size: tuple[int, int] = (384, 288), buffer_count: int = 3,
                 camera_num: int = 0) -> None:
        super().__init__()
        self.fps = fps
        self.size = size
        self.inference_size = inference_size
        self.buffer_count = buffer_count
        self.camera_num = camera_num
        self._picam2 = None
        self._encoding = False

    def open(self, preview: Preview) -> None:
        try:
            from libcamera import ColorSpace
            from picamera2 import Picamera2
            from picamera2.encoders import MJPEGEncoder
            from picamera2.outputs import FileOutput
        except ImportError as exc:
            raise CameraError("the picamera2 source needs picamera2 "
                              "(apt install python3-picamera2)") from exc
        try:
            self._picam2 = Picamera2(self.camera_num)
        except (IndexError, RuntimeError) as exc:
            raise CameraError(f"no camera {self.camera_num}: {exc}") from exc
        frame_us = int(round(1_000_000 / self.fps))
        config = self._picam2.create_video_configuration(
            main={"size": self.size, "format": "YUV420"},
            lores={"size": self.inference_size, "format": "YUV420"},
            buffer_count=self.buffer_count, encode="main", colour_space=ColorSpace.Sycc(),
            controls={"FrameDurationLimits": (frame_us, frame_us)})
        self._picam2.configure(config)
        lores = self._picam2.stream_configuration("lores")
        self._lores_size = tuple(lores["size"])  # libcamera may align the requested size
        self._picam2.start_encoder(MJPEGEncoder(), FileOutput(_PreviewSink(preview)), name="main")
        self._encoding = True
        self._picam2.start()

    def set_fps(self, fps: float) -> None:
        """libcamera takes a new frame duration while it streams."""
        self.fps = fps
        picam2 = self._picam2
        if picam2 is not None:
            frame_us = int(round(1_000_000 / fps))
            picam2.set_controls({"FrameDurationLimits": (frame_us, frame_us)})

    def read(self) -> Frame:
        if self._interrupted.is_set():
            raise CameraError("interrupted")
        start = time.monotonic()
        array = self._picam2.capture_array("lores")
        width, height = self._lores_size
        return Frame(timestamp=time.time(), monotonic=time.monotonic(),
                     capture_s=time.monotonic() - start,
                     yuv=yuv420_planes(array, width, height))

    def close(self) -> None:
        picam2, self._picam2 = self._picam2, None
        if picam2 is None:
            return
        try:
            if self._encoding:
                picam2.stop_encoder()
            picam2.stop()
        finally:
            self._encoding = False
            picam2.close()
