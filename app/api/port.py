"""What the web layer may ask of the service, and the server settings it is given.

The routes talk to the service through `ServicePort` only: every method returns plain data
(or a JPEG, a future, a subscription) and says what went wrong by raising one of app.errors'
kinds. `app.service.Service` implements it. Limits of the server itself reach the API as a
`ServerSettings`, built from the configuration once, where the app is wired.
"""
from __future__ import annotations

import concurrent.futures
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy as np

from app.config import Config
from app.hub import Prediction
from app.outputs.websocket import Subscription


class TeachingPort(Protocol):
    """The taught classifiers (app.teach.service.Teaching): plain data, app.teach's errors."""

    def list(self) -> dict[str, Any]: ...

    def get(self, name: str) -> dict[str, Any]: ...

    def create(self, name: str, classes: list[str],
               region: list[float] | None = None) -> dict[str, Any]: ...

    def delete(self, name: str) -> dict[str, Any]: ...

    def switch(self, name: str, active: bool) -> dict[str, Any]:
        """Blocking (disk)."""

    def embed(self, name: str, label: str,
              rgb: np.ndarray | None = None) -> concurrent.futures.Future:
        """The future (feature vector, thumbnail) of a new example, computed on the GPU."""

    def add_example(self, name: str, label: str, vector: np.ndarray,
                    thumb: bytes) -> dict[str, Any]:
        """Blocking (disk)."""

    def delete_example(self, name: str, example_id: str) -> dict[str, Any]: ...

    def relabel_example(self, name: str, example_id: str, label: str) -> dict[str, Any]: ...

    def thumb(self, name: str, example_id: str) -> bytes: ...

    def review(self, name: str) -> dict[str, Any]: ...

    def review_thumb(self, name: str, item_id: str) -> bytes: ...

    def label_review(self, name: str, item_id: str, label: str) -> dict[str, Any]:
        """Blocking (disk)."""

    def dismiss_review(self, name: str, item_id: str) -> dict[str, Any]: ...

    def export(self, name: str) -> bytes: ...

    def import_(self, data: bytes, name: str | None = None,
                replace: bool = False) -> dict[str, Any]:
        """Blocking (disk)."""


class ServicePort(Protocol):
    teaching: TeachingPort

    def model(self) -> dict[str, Any]:
        """The model's status (name, state, input_size, ...)."""

    def latest(self) -> dict[str, Any]:
        """The newest prediction, or a waiting message."""

    def labels(self) -> dict[str, Any]:
        """The model's class names (raises Unavailable before the model is loaded)."""

    def health(self) -> dict[str, Any]: ...

    def hello(self) -> dict[str, Any]: ...

    def stats(self) -> dict[str, Any]: ...

    def settings(self) -> dict[str, Any]: ...

    def change_settings(self, threshold: float | None = None,
                        smoothing: int | None = None) -> dict[str, Any]: ...

    def classify(self, rgb: np.ndarray) -> concurrent.futures.Future[Prediction]: ...

    def picture(self, frame: int | None = None) -> tuple[int, bytes]:
        """(frame, JPEG); blocking."""

    def newest_picture(self) -> tuple[int, bytes] | None:
        """Like `picture()`, but None before the first picture; blocking."""

    async def wait_picture(self, seq: int, timeout: float) -> int: ...

    def streaming(self) -> AbstractContextManager[None]:
        """Counts an MJPEG client while it watches."""

    def subscribe(self) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    def metrics_text(self) -> str: ...

    def events_list(self, label: str | None = None, since: float | None = None,
                    limit: int = 50, until: float | None = None, before: str | None = None,
                    taught: str | None = None) -> dict[str, Any]: ...

    def delete_events(self, label: str | None = None, since: float | None = None,
                      until: float | None = None, taught: str | None = None) -> dict[str, Any]:
        """Blocking (disk)."""

    def event(self, event_id: str) -> dict[str, Any]: ...

    def event_snapshot(self, event_id: str) -> bytes: ...

    def delete_event(self, event_id: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ServerSettings:
    """The server's own limits and credentials: the `server.*` keys of the same names (their
    defaults live in app.config.KEYS only), plus what no key sets."""

    token: str
    hosts: str
    max_upload_mb: float
    upload_max_megapixels: float
    uploads_per_minute: int
    max_stream_clients: int
    max_websocket_clients: int
    client_timeout_s: float
    upload_timeout_s: float = 120.0  # an upload the classifier has not answered by then: 504
    # where server.token was set (a config file's path, SHADERCAM_SERVER_TOKEN, "command line"):
    # the login page tells a user where to look it up
    token_origin: str = ""

    @classmethod
    def from_config(cls, config: Config, **changes: Any) -> ServerSettings:
        """The settings of `config`; `changes` replace single fields (tests shorten timeouts)."""
        from_keys = [f.name for f in fields(cls) if f"server.{f.name}" in config.values]
        origin = {"token_origin": config.origins.get("server.token", "")}
        return cls(**{**{name: config.get(f"server.{name}") for name in from_keys}, **origin,
                      **changes})
