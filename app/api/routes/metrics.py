"""GET /metrics in Prometheus' text format."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from app.api.port import ServicePort


def metrics_router(service: ServicePort) -> APIRouter:
    router = APIRouter(tags=["metrics"])

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(await run_in_threadpool(service.metrics_text),
                        media_type=CONTENT_TYPE_LATEST)

    return router
