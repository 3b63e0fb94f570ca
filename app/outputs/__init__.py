"""Outputs of the results hub, and the one place where they are wired.

Every output has the same small interface (`app.hub.Output`): start, publish (never blocks),
stop, status; and its class says how the configuration makes it (`from_config`, see
`app.outputs.base`). Adding an output is its class, listed in OUTPUTS, and its keys in
`app.config.KEYS`. The websocket and the metrics are always there; the others when the
configuration turns them on.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from app.config import Config
from app.hub import Output
from app.outputs.base import OutputClass, OutputContext, ServiceView
from app.outputs.events import EventRecorder
from app.outputs.metrics import MetricsOutput
from app.outputs.mqtt import MqttOutput
from app.outputs.webhooks import WebhooksOutput
from app.outputs.websocket import WebsocketOutput
from app.runtime_settings import state_dir as default_state_dir

__all__ = ["OUTPUTS", "Outputs", "ServiceView", "build_outputs"]

# In the order they start and receive each message.
OUTPUTS: tuple[OutputClass, ...] = (WebsocketOutput, MetricsOutput, EventRecorder, MqttOutput,
                                    WebhooksOutput)

Kind = TypeVar("Kind")


@dataclass(frozen=True)
class Outputs:
    """The outputs the configuration turned on, and the ones the service itself uses."""

    all: tuple[Output, ...]

    @property
    def websocket(self) -> WebsocketOutput:
        return self._find(WebsocketOutput)

    @property
    def metrics(self) -> MetricsOutput:
        return self._find(MetricsOutput)

    @property
    def events(self) -> EventRecorder | None:
        return self._find(EventRecorder)

    @property
    def mqtt(self) -> MqttOutput | None:
        return self._find(MqttOutput)

    @property
    def webhooks(self) -> WebhooksOutput | None:
        return self._find(WebhooksOutput)

    def _find(self, kind: type[Kind]) -> Kind | None:
        return next((output for output in self.all if isinstance(output, kind)), None)


def build_outputs(config: Config, state_dir: Path | None, view: ServiceView) -> Outputs:
    """`state_dir`: the service's, where outputs keep files (None: the process's state
    directory)."""
    context = OutputContext(view, state_dir or default_state_dir())
    made = (kind.from_config(config, context) for kind in OUTPUTS)
    return Outputs(tuple(output for output in made if output is not None))
