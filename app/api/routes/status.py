"""How the service is doing: health and statistics."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from app.api import schemas
from app.api.port import ServicePort


def status_router(service: ServicePort) -> APIRouter:
    router = APIRouter(tags=["status"])

    @router.get("/api/health", response_model=schemas.Health,
                responses={503: {"model": schemas.Health,
                                 "description": "the model is in error"}},
                summary="Status of camera, model and GPU; fps and uptime (503 while the model "
                        "is in error)")
    def health(response: Response) -> Any:
        report = service.health()
        if report["status"] == "error":
            response.status_code = 503
        return report

    @router.get("/api/stats", response_model=schemas.Stats,
                summary="Timings, frames processed and dropped, clients")
    def stats() -> Any:
        return service.stats()

    return router
