"""What can go wrong for a request, said in the service's own terms (no HTTP here).

The service, the inference worker and the upload path raise these; the web layer maps each
kind to its answer in one table (app/api/errors.py), so routes never catch them.
"""
from __future__ import annotations


class ServiceError(Exception):
    """A request the service cannot carry out; the message says why, in one sentence."""


class Unavailable(ServiceError):
    """What the request needs is not working (model not loaded, no picture yet, storage)."""


class Invalid(ServiceError):
    """The request's values are refused; `problems` maps each field (e.g. body.top_k) to
    what is wrong with it."""

    def __init__(self, message: str, problems: dict[str, str]) -> None:
        super().__init__(message)
        self.problems = problems


class Busy(Unavailable):
    """The service is working at its limit; the same request may succeed after a wait."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotFound(ServiceError):
    """The thing asked for does not exist (any more) or is turned off."""


class Conflict(ServiceError):
    """The thing asked for exists but is in a state that forbids the request."""


class TooFrequent(ServiceError):
    """The client asks more often than it may; it may try again after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TimedOut(ServiceError):
    """The service took too long to answer the request."""


def in_words(exc: BaseException) -> str:
    """What went wrong, for a person: the exception's own sentence without the Python class
    in front (the log keeps the class and the traceback)."""
    if isinstance(exc, OSError) and exc.strerror:  # not "[Errno 2] ...: '/x'"
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc).strip() or "an unexpected error; the service's log says more"
