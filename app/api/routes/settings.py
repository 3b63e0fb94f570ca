"""The settings that may change while the service runs, and the outputs' test messages."""
from __future__ import annotations

from typing import Any, Dict

from fastapi import APIRouter, Body

from app.api import schemas
from app.api.port import ServicePort
from app.config import bounds, kind_of
from app.runtime_settings import RUNTIME_KEYS

_JSON_TYPES = {int: {"type": "integer"}, float: {"type": "number"},
               tuple: {"type": "array", "items": {"type": "string"}},
               dict: {"type": "object", "additionalProperties": {"type": "number"}}}


def change_schema() -> Dict[str, Any]:
    """The body of PUT /api/settings, made from the one table of runtime keys and the ranges
    of their config keys."""
    properties = {}
    for key in RUNTIME_KEYS:
        schema = {**_JSON_TYPES[kind_of(key.config)], "description":
                  f"{key.description} (config key {key.config})"}
        limits = bounds(key.config)
        if limits is not None:
            schema.update(minimum=limits[0], maximum=limits[1])
        properties[key.name] = schema
    return {"title": "SettingsChange", "type": "object", "properties": properties,
            "additionalProperties": False, "minProperties": 1}


def settings_router(service: ServicePort) -> APIRouter:
    router = APIRouter(tags=["settings"])

    @router.get("/api/settings", response_model=schemas.Settings,
                summary="The settings in use: top-k, threshold and smoothing (this model's), "
                        "the events' classes and thresholds, the camera's frame rate")
    def settings() -> Any:
        return service.settings()

    @router.put("/api/settings", response_model=schemas.Settings,
                responses=schemas.error_answers(422, 503),
                openapi_extra={"requestBody": {"content": {"application/json": {
                    "schema": change_schema()}}}},
                summary="Change some settings now; kept across restarts. Unknown keys and "
                        "values out of their config key's range are refused, naming the key")
    def change_settings(change: Any = Body(...)) -> Any:  # checked whole by the service
        return service.change_settings(change)

    @router.post("/api/outputs/mqtt/test", response_model=schemas.OutputTest,
                 responses=schemas.error_answers(409),
                 summary="Send a marked test message to the MQTT broker and say whether it "
                         "took it (within 5 s)")
    def test_mqtt() -> Any:
        return service.test_mqtt()

    @router.post("/api/outputs/webhooks/test", response_model=schemas.OutputTest,
                 responses=schemas.error_answers(409),
                 summary="POST a marked test message to every webhook URL and say how each "
                         "answered (within webhooks.timeout_s)")
    def test_webhooks() -> Any:
        return service.test_webhooks()

    return router
