"""Progress of a long batch: a bar with rate and ETA on a terminal, a plain line now and then
otherwise (a log or a pipe gets readable lines, not carriage returns)."""
from __future__ import annotations

import sys
import time
from typing import IO


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Call `advance(error)` once per finished job, `finish()` at the end."""

    def __init__(self, total: int, stream: IO[str] | None = None, interval: float | None = None,
                 label: str = "batch"):
        self.stream = sys.stderr if stream is None else stream
        self.tty = self.stream.isatty()
        self.interval = interval if interval is not None else (0.2 if self.tty else 10.0)
        self.total, self.label = total, label
        self.done = self.errors = 0
        self.start = self._shown = time.monotonic()

    @property
    def rate(self) -> float:
        """Jobs per second since the start."""
        elapsed = time.monotonic() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def advance(self, error: bool = False) -> None:
        self.done += 1
        self.errors += error
        self.total = max(self.total, self.done)  # video frame counts are estimates
        if time.monotonic() - self._shown >= self.interval:
            self._show()

    def finish(self) -> None:
        self._show(final=True)

    def _show(self, final: bool = False) -> None:
        self._shown = time.monotonic()
        rate = self.rate
        left = self.total - self.done
        eta = _duration(left / rate) if rate > 0 and not final else "-"
        errors = f", {self.errors} errors" if self.errors else ""
        if final:
            text = (f"{self.label}: {self.done} done in {_duration(self._shown - self.start)}, "
                    f"{rate:.1f} images/s{errors}")
        elif self.tty:
            filled = int(30 * self.done / self.total) if self.total else 30
            text = (f"{self.label} |{'#' * filled}{'.' * (30 - filled)}| {self.done}/{self.total} "
                    f"{rate:.1f}/s ETA {eta}{errors}")
        else:
            text = (f"{self.label}: {self.done}/{self.total} done, {rate:.1f} images/s, "
                    f"ETA {eta}{errors}")
        if self.tty:
            self.stream.write("\r\x1b[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
