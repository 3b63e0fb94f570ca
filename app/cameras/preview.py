"""The preview picture: hardware JPEGs as they come, or RGB frames encoded only when watched.

Written from the camera thread, read from the server: `wait_newer` lets many async watchers
sleep until a new picture arrives, and `jpeg` encodes each RGB frame at most once however many
watchers ask, and never when nobody does.
"""
from __future__ import annotations

import asyncio
import io
import threading

import numpy as np


class Preview:
    def __init__(self, quality: int = 80) -> None:
        self.quality = quality
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._seq = 0
        self._rgb: np.ndarray | None = None
        self._jpeg: bytes | None = None
        self._jpeg_seq = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self.encoded = 0  # CPU encodes done, for the stats page and the tests

    @property
    def seq(self) -> int:
        return self._seq

    def put_jpeg(self, data: bytes) -> None:
        with self._lock:
            self._seq += 1
            self._jpeg, self._jpeg_seq, self._rgb = bytes(data), self._seq, None
        self._notify()

    def put_rgb(self, rgb: np.ndarray) -> None:
        with self._lock:
            self._seq += 1
            self._rgb = rgb
        self._notify()

    def jpeg(self) -> tuple[int, bytes] | None:
        """The newest picture as JPEG (blocking: call it from a worker thread)."""
        with self._encode_lock:
            with self._lock:
                seq, rgb, cached, cached_seq = self._seq, self._rgb, self._jpeg, self._jpeg_seq
            if cached is not None and cached_seq == seq:
                return seq, cached
            if rgb is None:
                return (cached_seq, cached) if cached is not None else None
            from PIL import Image

            out = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(rgb[..., :3])).save(
                out, format="JPEG", quality=self.quality)
            data = out.getvalue()
            with self._lock:
                self._jpeg, self._jpeg_seq = data, seq
            self.encoded += 1
            return seq, data

    async def wait_newer(self, seq: int, timeout: float) -> int:
        """Wait (at most `timeout` s) until the picture is newer than `seq`; return the newest seq."""
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
