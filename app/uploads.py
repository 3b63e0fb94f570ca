"""POST /api/classify: uploaded pictures read so that no file can exhaust a Pi or starve the camera.

Pictures are decoded by app.images, which refuses before decoding any picture whose decoder
would hold more than `server.upload_max_megapixels` allow and reduces the rest to about twice
the model input. One picture is decoded at a time, a client sending too fast is told to wait
(429 + Retry-After), and the worker alternates uploads with camera frames, so uploads never
stop the live predictions.
"""
from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from fastapi import HTTPException, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from app.images import (UPLOAD_FORMATS, ImageError, ImageFormatRefused, ImageTooLarge,
                        ImageUnreadable, decode)
from app.service import Service, Unavailable
from app.worker import WorkerBusy, WorkerUnavailable

DEFAULT_INPUT = 224  # model input side assumed while the model is still loading
UPLOAD_TIMEOUT_S = 120.0
MAX_IN_FLIGHT = 4  # uploads held (body read, decoding or queued for the GPU) at once
RATE_CLIENTS = 1024  # clients remembered by the rate limiter
IMAGE_STATUS = {ImageUnreadable: 400, ImageFormatRefused: 415, ImageTooLarge: 413}


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

    def __init__(self, service: Service) -> None:
        config = service.config
        self.service = service
        self.max_bytes = int(config.server_max_upload_mb * 1024 * 1024)
        self.max_pixels = int(config.server_upload_max_megapixels * 1_000_000)
        per_minute = config.server_uploads_per_minute
        self.limiter = RateLimiter(per_minute, burst=max(1, min(10, per_minute // 6)))
        self._decoding = asyncio.Lock()
        self._in_flight = 0

    async def classify(self, request: Request, file: UploadFile) -> dict[str, Any]:
        wait = self.limiter.take(request.client.host if request.client else "", time.monotonic())
        if wait:
            raise HTTPException(429, f"too many uploads from this address; try again in "
                                     f"{math.ceil(wait)} s",
                                headers={"Retry-After": str(math.ceil(wait))})
        if self._in_flight >= MAX_IN_FLIGHT:
            raise HTTPException(503, "the classifier is busy with other uploads; try again",
                                headers={"Retry-After": "1"})
        self._in_flight += 1
        try:
            return await self._classify(file)
        finally:
            self._in_flight -= 1

    async def _classify(self, file: UploadFile) -> dict[str, Any]:
        data = await file.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise HTTPException(413, f"image larger than {self.max_bytes // 1024} KiB")
        if not data:
            raise HTTPException(400, "the uploaded file is empty")
        side = 2 * max(self.service.worker.model_info.get("input_size") or [DEFAULT_INPUT])
        async with self._decoding:  # one decode at a time bounds the memory of all of them
            try:
                rgb = await run_in_threadpool(decode, data, side, self.max_pixels,
                                              UPLOAD_FORMATS)
            except ImageError as exc:
                raise HTTPException(IMAGE_STATUS[type(exc)], str(exc)) from None
        del data
        try:
            future = self.service.classify(rgb)
        except WorkerBusy as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from None
        except Unavailable as exc:
            raise HTTPException(503, str(exc)) from None
        try:
            prediction = await asyncio.wait_for(asyncio.wrap_future(future), UPLOAD_TIMEOUT_S)
        except asyncio.TimeoutError:
            future.cancel()
            raise HTTPException(504, "the classifier did not answer in time") from None
        except WorkerUnavailable as exc:
            raise HTTPException(503, f"classifier unavailable: {exc}") from None
        return prediction.to_dict()
