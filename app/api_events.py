"""HTTP API of the event history: list, one event, its snapshot, delete."""
from __future__ import annotations

import zlib
from typing import Any, Optional

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from app import api_models as models
from app.events.rules import ID_PATTERN, Event
from app.events.store import EventStore
from app.service import Service, Unavailable

ERRORS = {code: {"model": models.ErrorAnswer} for code in (404, 409)}


def events_router(service: Service) -> APIRouter:
    router = APIRouter(prefix="/api/events", tags=["events"])

    def store() -> EventStore:
        try:
            return service.event_store()
        except Unavailable as exc:
            raise HTTPException(404, str(exc)) from None

    def find(event_id: str) -> Event:
        event = store().get(event_id) if ID_PATTERN.fullmatch(event_id) else None
        if event is None:
            raise HTTPException(404, f"no event {event_id!r}")
        return event

    @router.get("", response_model=models.Events, responses=ERRORS,
                summary="Recent events, newest first")
    def list_events(label: Optional[str] = Query(None, description="only this class (its "
                                                                     "`label`)"),
                    since: Optional[float] = Query(None, description="only events that "
                                                   "started at or after this Unix time"),
                    limit: int = Query(50, ge=1, le=1000)) -> Any:
        events = store().list(label, since, limit)
        return {"events": [event.to_dict() for event in events], "count": len(events),
                "total": store().status()["count"]}

    @router.get("/{event_id}", response_model=models.Event, responses=ERRORS,
                summary="One event")
    def get_event(event_id: str) -> Any:
        return find(event_id).to_dict()

    @router.get("/{event_id}/snapshot.jpg", response_class=Response, summary="The JPEG of "
                "the event's best frame", responses={200: {"content": {"image/jpeg": {}}},
                                                     **ERRORS})
    def snapshot(event_id: str, request: Request) -> Response:
        data = store().snapshot(find(event_id).id)
        if data is None:
            raise HTTPException(404, f"event {event_id!r} has no snapshot")
        # a better picture may replace it while the event lasts: browsers ask again each time
        headers = {"Cache-Control": "no-cache", "ETag": f'"{zlib.crc32(data):08x}-{len(data)}"'}
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type="image/jpeg", headers=headers)

    @router.delete("/{event_id}", response_model=models.Deleted, responses=ERRORS,
                   summary="Delete an event that has ended, with its snapshot")
    def delete_event(event_id: str) -> Any:
        if find(event_id).active:
            raise HTTPException(409, f"event {event_id!r} is still going on")
        store().delete(event_id)
        return {"deleted": event_id}

    return router
