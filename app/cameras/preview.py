"""The preview pictures, numbered like the frames they show.

Two kinds: the newest camera picture, and the last few pictures the classifier has classified,
kept under their frame numbers so a client can show exactly the picture a prediction is about
(`GET /preview/{frame}.jpg`, the stream's `X-Frame` headers). Written from the camera and
inference threads, read from the server: `wait_newer` lets async watchers sleep until something
changes, and each RGB picture is encoded to JPEG at most once, and only when somebody asks.
"""
from __future__ import annotations

import asyncio
import io
import threading
from collections import OrderedDict

import numpy as np

CLASSIFIED_KEPT = 4  # classified pictures kept: enough for a page that is a frame or two late
HARDWARE_KEPT = 16  # hardware JPEGs kept to find the one of a classified frame (~50 kB each)


class _Picture:
    """One picture: an RGB array to encode when first asked for, or a JPEG already."""

    __slots__ = ("frame", "rgb", "jpeg")

    def __init__(self, frame: int, rgb: np.ndarray | None = None, jpeg: bytes | None = None):
        self.frame, self.rgb, self.jpeg = frame, rgb, jpeg


class Preview:
    def __init__(self, quality: int = 80) -> None:
        self.quality = quality
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._seq = 0
        self._camera: _Picture | None = None
        self._hardware: OrderedDict[int, _Picture] = OrderedDict()
        self._classified: OrderedDict[int, _Picture] = OrderedDict()
        #: number of the newest captured frame, set by the camera thread; hardware JPEGs that
        #: arrive without a number get this one
        self.camera_frame = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self.encoded = 0  # CPU encodes done, for the stats page and the tests

    @property
    def seq(self) -> int:
        """Counts every change (camera or classified picture), for `wait_newer`."""
        return self._seq

    def put_jpeg(self, data: bytes, frame: int | None = None) -> None:
        """A camera picture already encoded (picamera2's hardware encoder)."""
        picture = _Picture(self.camera_frame if frame is None else frame, jpeg=bytes(data))
        with self._lock:
            self._seq += 1
            self._camera = picture
            self._hardware[picture.frame] = picture
            while len(self._hardware) > HARDWARE_KEPT:
                self._hardware.popitem(last=False)
        self._notify()

    def put_rgb(self, rgb: np.ndarray, frame: int | None = None) -> None:
        """A camera picture to encode only if somebody looks at it."""
        with self._lock:
            self._seq += 1
            self._camera = _Picture(self.camera_frame if frame is None else frame, rgb=rgb)
        self._notify()

    def classified(self, frame: int, rgb: np.ndarray | None = None) -> None:
        """The classifier has classified frame `frame` (its RGB, or None for a camera whose
        pictures are hardware JPEGs: then the JPEG of that frame, or the nearest older)."""
        with self._lock:
            if rgb is not None:
                picture = _Picture(frame, rgb=rgb)
            else:
                older = [p for n, p in self._hardware.items() if n <= frame]
                source = older[-1] if older else self._camera
                if source is None:
                    return
                picture = _Picture(frame, jpeg=source.jpeg)
            self._seq += 1
            self._classified[frame] = picture
            while len(self._classified) > CLASSIFIED_KEPT:
                self._classified.popitem(last=False)
        self._notify()

    def jpeg(self) -> tuple[int, bytes] | None:
        """The newest camera picture as (frame, JPEG); blocking: call it from a worker thread."""
        with self._lock:
            picture = self._camera
        return None if picture is None else (picture.frame, self._encode(picture))

    def classified_jpeg(self, frame: int | None = None) -> tuple[int, bytes] | None:
        """A classified picture as (frame, JPEG): that of `frame` if still kept, else None;
        without `frame`, the newest. Blocking, like `jpeg`."""
        with self._lock:
            if frame is None:
                picture = next(reversed(self._classified.values()), None)
            else:
                picture = self._classified.get(frame)
        return None if picture is None else (picture.frame, self._encode(picture))

    def _encode(self, picture: _Picture) -> bytes:
        with self._encode_lock:
            if picture.jpeg is None:
                from PIL import Image

                out = io.BytesIO()
                Image.fromarray(np.ascontiguousarray(picture.rgb[..., :3])).save(
                    out, format="JPEG", quality=self.quality)
                picture.jpeg, picture.rgb = out.getvalue(), None
                self.encoded += 1
            return picture.jpeg

    async def wait_newer(self, seq: int, timeout: float) -> int:
        """Wait (at most `timeout` s) until anything is newer than `seq`; return the newest seq."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        if self._seq == seq:
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, timeout)
            except asyncio.TimeoutError:
                pass
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return self._seq

    def _notify(self) -> None:
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # that loop has closed
                self._loop = None

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
