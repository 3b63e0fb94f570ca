"""Frame pacing for sources that make their own frames (files, demo)."""
from __future__ import annotations

import time


class Pacer:
    """Yields the time to wait before the next frame so frames come `fps` times a second;
    after a stall it resumes at the rate instead of catching up in a burst."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self._next: float | None = None

    def set_fps(self, fps: float) -> None:
        """A new rate, from the next frame on (a float assignment: safe from any thread)."""
        self.period = 1.0 / fps

    def delay(self) -> float:
        now = time.monotonic()
        if self._next is None or self._next < now - self.period:
            self._next = now
        wait = self._next - now
        self._next += self.period
        return max(wait, 0.0)
