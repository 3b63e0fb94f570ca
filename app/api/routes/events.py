"""HTTP API of the event history: a page of it, one event, its snapshot, delete one or many."""
from __future__ import annotations

import zlib
from typing import Any, Optional

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.api import schemas
from app.api.port import ServicePort

MAX_PAGE = 1000  # events in one answer at most


def events_router(service: ServicePort) -> APIRouter:
    router = APIRouter(prefix="/api/events", tags=["events"])

    @router.get("", response_model=schemas.Events, responses=schemas.error_answers(404),
                summary="A page of the history, newest first")
    def list_events(label: Optional[str] = _label(), taught: Optional[str] = _taught(),
                    since: Optional[float] = _since(), until: Optional[float] = _until(),
                    before: Optional[str] = Query(None, max_length=64, description="an event "
                                                  "id: only older events (the `next` of the "
                                                  "page before)"),
                    limit: int = Query(50, ge=1, le=MAX_PAGE)) -> Any:
        return service.events_list(label, since, limit, until, before, taught)

    @router.delete("", response_model=schemas.DeletedEvents,
                   responses=schemas.error_answers(404, 503),
                   summary="Delete every ended event (of a label, in a time span), with their "
                           "snapshots; ongoing ones are kept")
    def delete_events(label: Optional[str] = _label(), taught: Optional[str] = _taught(),
                      since: Optional[float] = _since(),
                      until: Optional[float] = _until()) -> Any:
        return service.delete_events(label, since, until, taught)

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


# the filters that listing and deleting share (a Query object per route and parameter)
def _label() -> Any:
    return Query(None, max_length=200, description="only this `label` (a model's class or a "
                 "taught classifier's state)")


def _taught() -> Any:
    return Query(None, max_length=200, description="only the states of this taught classifier")


def _since() -> Any:
    return Query(None, description="only events that started at or after this Unix time")


def _until() -> Any:
    return Query(None, description="only events that started before this Unix time")
