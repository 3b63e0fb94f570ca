"""What the loaded model knows: its class names."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api import schemas
from app.api.port import ServicePort


def model_router(service: ServicePort) -> APIRouter:
    router = APIRouter(tags=["model"])

    @router.get("/api/labels", response_model=schemas.Labels,
                responses=schemas.error_answers(503),
                summary="The class names of the loaded model, raw and readable")
    def labels() -> Any:
        return service.labels()

    return router
