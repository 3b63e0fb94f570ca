"""Examples for /docs, made through the real schema classes: each is an instance the class
itself validated, so a field added, renamed or retyped there breaks the example at once
instead of leaving the page describing an older API.

`MESSAGES` is what the websocket sends (in that order); `JSON_BODIES` the request bodies of
the curl examples, by schema name; `UPLOADS` the file each upload's example sends.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

from pydantic import BaseModel

from app.api import schemas
from app.api.limits import VIEWER_LIMIT_REASON, WS_TRY_AGAIN_LATER
from app.api.security import WS_POLICY_VIOLATION

_TOP_K = [{"index": 11, "label": "beagle", "display_label": "Beagle", "probability": 0.61},
          {"index": 5, "label": "basset_hound", "display_label": "Basset hound",
           "probability": 0.18},
          {"index": 21, "label": "english_foxhound", "display_label": "English foxhound",
           "probability": 0.07}]

PREDICTION = schemas.Prediction(
    type="prediction", frame=1234, timestamp=1763892902.25, label="beagle",
    display_label="Beagle", uncertain=False, top_k=_TOP_K,
    timings_ms={"capture": 2.0, "wait": 35.1, "upload": 4.1, "gpu": 410.0, "readback": 1.2,
                "total": 452.4},
    model_name="dog_classifier", origin="camera", smoothing=1, threshold=0.5, taught={})

HELLO = schemas.Hello(
    type="hello", status="ok",
    camera={"source": "picamera2", "state": "running", "error": None, "failures": 0,
            "frames": 1240, "fps": 10.0, "last_frame_age_s": 0.04, "retry_in_s": None},
    model={"name": "dog_classifier", "path": "/var/lib/shadercam/models/dog_classifier.chunks",
           "classes": 120, "input_size": [224, 224], "state": "running", "error": None,
           "demo": False, "smoothing": 1, "threshold": 0.5,
           "self_test": {"ok": True, "seconds": 3.2, "kernels": 14, "probe": "133x133"}},
    gl={"vendor": "Broadcom", "renderer": "VC4 V3D 2.1", "version": "OpenGL ES 2.0 Mesa 22.3.6",
        "api": "OpenGL ES 2.0", "software": False},
    fps=2.2, prediction_age_s=0.45, uptime_s=3600.0, server_time=1763892902.7,
    outputs={"websocket": {"state": "ok", "clients": 1, "lost_messages": 0,
                           "dropped_clients": 0, "errors": 0}})

EVENT = schemas.EventMessage(type="event", event=schemas.Event(
    id="20261123T101502250-3fa2c1", label="beagle", display_label="Beagle",
    model_name="dog_classifier", state="active", start=1763892902.25, end=None,
    last_seen=1763892904.0, start_frame=4120, end_frame=4137, peak=0.83, peak_frame=4131,
    snapshot="/api/events/20261123T101502250-3fa2c1/snapshot.jpg"))


@dataclass(frozen=True)
class WebsocketMessage:
    """One kind of websocket message: its class, when it is sent, an example."""

    schema: type[BaseModel]
    when: str
    example: BaseModel

    @property
    def type(self) -> str:
        return str(getattr(self.example, "type"))


MESSAGES = (
    WebsocketMessage(schemas.Hello, "once, first, right after the connection is accepted",
                     HELLO),
    WebsocketMessage(schemas.Prediction, "the latest prediction right after the hello (when "
                     "there is one), then every new one as it is made", PREDICTION),
    WebsocketMessage(schemas.EventMessage, "at an event's start (its state active) and at "
                     "its end (state ended)", EVENT),
)

CLOSE_CODES = (
    (WS_POLICY_VIOLATION, "the access token is missing or wrong, or the page that opened it "
                          "is from another site: sent before anything else"),
    (WS_TRY_AGAIN_LATER, f"reason \"{VIEWER_LIMIT_REASON}\": server.max_websocket_clients "
                         "are connected already; try again later"),
)

JSON_BODIES: Dict[str, BaseModel] = {
    "SettingsChange": schemas.SettingsChange(threshold=0.6),
    "TaughtCreate": schemas.TaughtCreate(name="door", classes=["open", "closed"]),
    "Relabel": schemas.Relabel(label="open"),
    "TaughtSwitch": schemas.TaughtSwitch(active=False),
}

# (METHOD, path) of an upload -> the file its example sends
UPLOADS = {
    ("POST", "/api/classify"): "picture.jpg",
    ("POST", "/api/teach/import"): "door.shadercam-taught.zip",
}


def plain(model: BaseModel) -> Dict[str, Any]:
    """The example as JSON data without the optional fields it leaves out."""
    return {key: value for key, value in schemas.dump(model).items() if value is not None}
