"""POST /api/classify: uploaded pictures read so that no file can exhaust a Pi or starve the camera.

A file declares its own size, so every picture is measured before it is decoded: JPEGs are
decoded at a reduced scale (libjpeg's 1/2, 1/4, 1/8) close to twice the model input, and a
picture whose decoded pixels would exceed `server.upload_max_megapixels` is refused unread.
What is decoded is shrunk on the CPU to about twice the model input, always below the
smallest GPU texture limit we run on. One picture is decoded at a time, a client sending
too fast is told to wait (429 + Retry-After), and the worker alternates uploads with camera
frames, so uploads never stop the live predictions. Refusals are raised as app.errors' and
app.images' kinds; app/api/errors.py answers them.
"""
from __future__ import annotations

import asyncio
import io
import math
import time
from typing import Any

import numpy as np
from fastapi import Request, UploadFile
from starlette.concurrency import run_in_threadpool

from app.api.port import ServerSettings, ServicePort
from app.errors import Busy, TimedOut, TooFrequent
from app.images import ImageFormatRefused, ImageTooLarge, ImageUnreadable
from gpu_engine.profile import VC4_GLES2

ACCEPTED_FORMATS = ("JPEG", "MPO", "PNG")  # MPO: the multi-picture JPEGs many phones write
REDUCIBLE_MODES = ("L", "LA", "RGB", "RGBA", "CMYK")
MAX_SIDE = VC4_GLES2.max_texture_size  # the Pi's largest texture; every GPU we run on takes that
DEFAULT_INPUT = 224  # model input side assumed while the model is still loading
MAX_IN_FLIGHT = 4  # uploads held (body read, decoding or queued for the GPU) at once
RATE_CLIENTS = 1024  # clients remembered by the rate limiter


class RateLimiter:
    """A token bucket per client address: `per_minute` uploads, in bursts of up to `burst`."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)

    def take(self, client: str, now: float) -> float:
        """0 when the client may go on, else the seconds until it may try again."""
        tokens, then = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[client] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        while len(self._buckets) > RATE_CLIENTS:  # forget the longest-idle clients first
            del self._buckets[next(iter(self._buckets))]
        return wait


class Uploads:
    """Reads, checks, decodes and classifies uploads for one service."""

    def __init__(self, service: ServicePort, settings: ServerSettings) -> None:
        self.service = service
        self.max_bytes = int(settings.max_upload_mb * 1024 * 1024)
        self.max_pixels = int(settings.upload_max_megapixels * 1_000_000)
        self.timeout_s = settings.upload_timeout_s
        per_minute = settings.uploads_per_minute
        self.limiter = RateLimiter(per_minute, burst=max(1, min(10, per_minute // 6)))
        self._decoding = asyncio.Lock()
        self._in_flight = 0

    async def classify(self, request: Request, file: UploadFile) -> dict[str, Any]:
        wait = self.limiter.take(request.client.host if request.client else "", time.monotonic())
        if wait:
            raise TooFrequent(f"too many uploads from this address; try again in "
                              f"{math.ceil(wait)} s", retry_after_s=math.ceil(wait))
        if self._in_flight >= MAX_IN_FLIGHT:
            raise Busy("the classifier is busy with other uploads; try again")
        self._in_flight += 1
        try:
            return await self._classify(file)
        finally:
            self._in_flight -= 1

    async def _classify(self, file: UploadFile) -> dict[str, Any]:
        data = await file.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise ImageTooLarge(f"image larger than {self.max_bytes // 1024} KiB")
        if not data:
            raise ImageUnreadable("the uploaded file is empty")
        side = 2 * max(self.service.model().get("input_size") or [DEFAULT_INPUT])
        async with self._decoding:  # one decode at a time bounds the memory of all of them
            rgb = await run_in_threadpool(decode_upload, data, side, self.max_pixels)
        del data
        future = self.service.classify(rgb)
        try:
            prediction = await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except asyncio.TimeoutError:
            future.cancel()
            raise TimedOut("the classifier did not answer in time") from None
        return prediction.to_dict()


def decode_upload(data: bytes, side: int, max_pixels: int) -> np.ndarray:
    """RGB uint8 whose shorter side is at most about `side` and longer side at most MAX_SIDE.

    Raises ImageFormatRefused for another image format, ImageTooLarge when decoding would take
    more than `max_pixels` pixels of memory, ImageUnreadable for anything the decoder cannot
    read.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ACCEPTED_FORMATS:
                raise ImageFormatRefused(f"expected a JPEG or PNG image, got {image.format}")
            width, height = image.size
            if image.format in ("JPEG", "MPO"):
                _draft(image, side)
            decoded = _decoded_pixels(image, width, height)
            if decoded > max_pixels:
                raise ImageTooLarge(f"the image is {width}x{height} pixels; decoding it "
                                    f"needs {decoded / 1e6:.1f} megapixels, more than the "
                                    f"{max_pixels / 1e6:g} allowed")
            image.load()
            return _shrink(image, side)
    except (ImageFormatRefused, ImageTooLarge):
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"the image has too many pixels ({exc})") from None
    except Exception as exc:  # Pillow's decoders raise many kinds; each means a broken file
        raise ImageUnreadable(f"not a readable JPEG or PNG image "
                              f"({type(exc).__name__}: {exc})") from None


def _draft(image, side: int) -> None:
    """Let libjpeg decode at the smallest scale that keeps the shorter side >= `side`."""
    width, height = image.size
    short = min(width, height)
    if short > side:
        image.draft("RGB", (math.ceil(width * side / short), math.ceil(height * side / short)))


def _decoded_pixels(image, width: int, height: int) -> int:
    """Pixels held in memory while decoding: a progressive JPEG keeps every coefficient of
    the declared size whatever the scale; other files decode at `image.size`."""
    if image.format in ("JPEG", "MPO") and (image.info.get("progressive")
                                            or image.info.get("progression")):
        return width * height
    return image.size[0] * image.size[1]


def _shrink(image, side: int) -> np.ndarray:
    """Reduce first and convert after, so the full-size picture is never copied."""
    from PIL import Image

    if image.mode not in REDUCIBLE_MODES:
        image = image.convert("RGB")
    width, height = image.size
    factor = min(width, height) // side
    if factor >= 2:  # a cheap box filter first; what is left is at most twice `side`
        image = image.reduce(factor)
        width, height = image.size
    if image.mode != "RGB":
        image = image.convert("RGB")
    scale = min(1.0, side / min(width, height), MAX_SIDE / max(width, height))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = image.resize(size, Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)
