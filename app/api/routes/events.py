"""HTTP API of the event history: list, one event, its snapshot, delete."""
from __future__ import annotations

import zlib
from typing import Any, Optional

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.api import schemas
from app.api.port import ServicePort


def events_router(service: ServicePort) -> APIRouter:
    router = APIRouter(prefix="/api/events", tags=["events"])

    @router.get("", response_model=schemas.Events, responses=schemas.error_answers(404),
                summary="Recent events, newest first")
    def list_events(label: Optional[str] = Query(None, description="only this class (its "
                                                                     "`label`)"),
                    since: Optional[float] = Query(None, description="only events that "
                                                   "started at or after this Unix time"),
                    limit: int = Query(50, ge=1, le=1000)) -> Any:
        return service.events_list(label, since, limit)

    @router.get("/{event_id}", response_model=schemas.Event,
                responses=schemas.error_answers(404), summary="One event")
    def get_event(event_id: str) -> Any:
        return service.event(event_id)

    @router.get("/{event_id}/snapshot.jpg", response_class=Response, summary="The JPEG of "
                "the event's best frame", responses={200: {"content": {"image/jpeg": {}}},
                                                     **schemas.error_answers(404)})
    def snapshot(event_id: str, request: Request) -> Response:
        data = service.event_snapshot(event_id)
        # a better picture may replace it while the event lasts: browsers ask again each time
        headers = {"Cache-Control": "no-cache", "ETag": f'"{zlib.crc32(data):08x}-{len(data)}"'}
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type="image/jpeg", headers=headers)

    @router.delete("/{event_id}", response_model=schemas.Deleted,
                   responses=schemas.error_answers(404, 409, 503),
                   summary="Delete an event that has ended, with its snapshot")
    def delete_event(event_id: str) -> Any:
        return service.delete_event(event_id)

    return router
