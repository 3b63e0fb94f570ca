"""POST /api/classify: uploaded pictures read so that no file can exhaust a Pi or starve the camera.

Pictures are decoded by app.images, which refuses before decoding any picture whose decoder
would hold more than `server.upload_max_megapixels` allow and reduces the rest to about twice
the model input. One picture is decoded at a time, a client sending too fast is told to wait
(429 + Retry-After), and the worker alternates uploads with camera frames, so uploads never
stop the live predictions. Refusals are raised as app.errors' and app.images' kinds;
app/api/errors.py answers them.
"""
from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import numpy as np
from fastapi import Request, UploadFile
from starlette.concurrency import run_in_threadpool

from app.api.port import ServerSettings, ServicePort
from app.errors import Busy, TimedOut, TooFrequent
from app.images import UPLOAD_FORMATS, ImageTooLarge, ImageUnreadable, decode

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
        self._admit(request)
        self._in_flight += 1
        try:
            return await self._classify(file)
        finally:
            self._in_flight -= 1

    async def picture(self, request: Request, file: UploadFile) -> np.ndarray:
        """An uploaded picture, read and decoded within the same limits as for classify (a
        taught classifier's example)."""
        self._admit(request)
        self._in_flight += 1
        try:
            return await self._decode(file)
        finally:
            self._in_flight -= 1

    def _admit(self, request: Request) -> None:
        wait = self.limiter.take(request.client.host if request.client else "", time.monotonic())
        if wait:
            raise TooFrequent(f"too many uploads from this address; try again in "
                              f"{math.ceil(wait)} s", retry_after_s=math.ceil(wait))
        if self._in_flight >= MAX_IN_FLIGHT:
            raise Busy("the classifier is busy with other uploads; try again")

    async def _classify(self, file: UploadFile) -> dict[str, Any]:
        rgb = await self._decode(file)
        future = self.service.classify(rgb)
        try:
            prediction = await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except asyncio.TimeoutError:
            future.cancel()
            raise TimedOut("the classifier did not answer in time") from None
        return prediction.to_dict()

    async def _decode(self, file: UploadFile) -> np.ndarray:
        data = await file.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise ImageTooLarge(f"image larger than {self.max_bytes // 1024} KiB")
        if not data:
            raise ImageUnreadable("the uploaded file is empty")
        side = 2 * max(self.service.model().get("input_size") or [DEFAULT_INPUT])
        async with self._decoding:  # one decode at a time bounds the memory of all of them
            return await run_in_threadpool(decode, data, side, self.max_pixels, UPLOAD_FORMATS)
