"""The settings the page may change while the service runs: threshold and smoothing."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api import schemas
from app.api.port import ServicePort


def settings_router(service: ServicePort) -> APIRouter:
    router = APIRouter(tags=["settings"])

    @router.get("/api/settings", response_model=schemas.Settings,
                summary="Threshold and smoothing in use")
    def settings() -> Any:
        return service.settings()

    @router.put("/api/settings", response_model=schemas.Settings,
                responses=schemas.error_answers(400, 503),
                summary="Change threshold and/or smoothing now; kept across restarts")
    def change_settings(change: schemas.SettingsChange) -> Any:
        return service.change_settings(change.threshold, change.smoothing)

    return router
