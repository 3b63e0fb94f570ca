"""POST /api/classify: uploaded pictures read so that no file can exhaust a Pi or starve the camera.

Pictures are decoded by app.images, which refuses before decoding any picture whose decoder
would hold more than `server.upload_max_megapixels` allow and reduces the rest to about twice
the model input. One picture is decoded at a time, a client sending too fast is told to wait
(429 + Retry-After), and the worker alternates uploads with camera frames, so uploads never
stop the live predictions. The rate limit and the busy check come before the body is read
(`UploadRoute`), so refused uploads are never spooled: at most MAX_IN_FLIGHT bodies of up to
`server.max_upload_mb` each are held (the multipart parser keeps 1 MB of each in memory, the
rest in a temporary file). Refusals are raised as app.errors' and app.images' kinds;
app/api/errors.py answers them.
"""
from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import Request, UploadFile
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.api.limits import RateLimiter
from app.api.port import ServerSettings, ServicePort
from app.errors import Busy, TimedOut, TooFrequent
from app.images import UPLOAD_FORMATS, ImageTooLarge, ImageUnreadable, decode

DEFAULT_INPUT = 224  # model input side assumed while the model is still loading
MAX_IN_FLIGHT = 4  # uploads held (body read, decoding or queued for the GPU) at once


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

    @contextlib.contextmanager
    def admitted(self, request: Request) -> Iterator[None]:
        """Hold one of the MAX_IN_FLIGHT places while an upload is read and classified;
        refuses (TooFrequent, Busy) before any of its body is read."""
        client = request.client.host if request.client else ""
        wait = self.limiter.take(client, time.monotonic())
        if wait:
            raise TooFrequent(f"too many uploads from this address; try again in "
                              f"{math.ceil(wait)} s", retry_after_s=math.ceil(wait))
        if self._in_flight >= MAX_IN_FLIGHT:
            raise Busy("the classifier is busy with other uploads; try again")
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1

    def route_class(self) -> type[APIRoute]:
        """The route class of POST /api/classify: FastAPI reads a form (spooling its files)
        before any dependency or endpoint runs, so admission wraps the whole handler."""
        uploads = self

        class UploadRoute(APIRoute):
            def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
                handle = super().get_route_handler()

                async def admitted(request: Request) -> Response:
                    if not request.headers.get("content-type", "").lower().startswith(
                            "multipart/form-data"):
                        # no file can be in it: FastAPI says so (422) from an empty body,
                        # without reading this one or counting it as an upload
                        return await handle(Request(request.scope, _no_body))
                    with uploads.admitted(request):
                        return await handle(request)

                return admitted

        return UploadRoute

    async def classify(self, file: UploadFile) -> dict[str, Any]:
        """The prediction for an admitted upload."""
        data = await file.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise ImageTooLarge(f"image larger than {self.max_bytes // 1024} KiB")
        if not data:
            raise ImageUnreadable("the uploaded file is empty")
        side = 2 * max(self.service.model().get("input_size") or [DEFAULT_INPUT])
        async with self._decoding:  # one decode at a time bounds the memory of all of them
            rgb = await run_in_threadpool(decode, data, side, self.max_pixels, UPLOAD_FORMATS)
        del data
        future = self.service.classify(rgb)
        try:
            prediction = await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except asyncio.TimeoutError:
            future.cancel()
            raise TimedOut("the classifier did not answer in time") from None
        return prediction.to_dict()


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}
