"""What every output class is made from: the configuration and the `OutputContext`.

Each output class has `from_config(config, context) -> output | None` (None: the configuration
turns it off), so an output's settings, defaults and on/off switch live in its own class and
its keys in `app.config.KEYS`; `app.outputs.OUTPUTS` lists the classes.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from app.cameras.preview import Preview
from app.config import Config
from app.hub import Output, ResultsHub


@dataclass(frozen=True)
class ServiceView:
    """What outputs may read from the service (all calls are cheap and thread-safe)."""

    hub: ResultsHub
    preview: Preview
    labels: Callable[[], list[str]]
    model: Callable[[], dict[str, Any]]
    gl: Callable[[], dict[str, Any]]
    stats: Callable[[], dict[str, Any]]
    outputs: Callable[[], dict[str, dict[str, Any]]]
    # the taught classifiers that run now: name -> {"classes": [...], "region": (x, y, w, h)}
    taught: Callable[[], dict[str, dict[str, Any]]] = dict
    # every stored taught classifier, running or switched off, in the same form (kept by the
    # service and replaced on each change: reading it costs nothing)
    taught_stored: Callable[[], dict[str, dict[str, Any]]] = dict


@dataclass(frozen=True)
class OutputContext:
    service: ServiceView
    state_dir: Path  # where outputs keep files (the service's state directory)


class OutputClass(Protocol):
    """An output class as `app.outputs.OUTPUTS` lists it."""

    def from_config(self, config: Config, context: OutputContext) -> Output | None: ...


def marked_test_message() -> dict[str, Any]:
    """What "send a test message" sends: plainly no event, so a receiver's automation can
    tell it apart (`type` "test")."""
    return {"type": "test", "test": True, "timestamp": time.time(),
            "message": "ShaderCam test message, sent from the settings page; not an event"}
