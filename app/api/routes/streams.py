"""Pictures and pushed messages: the snapshot, a classified frame's preview, the MJPEG stream
and the websocket of predictions and events."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, WebSocket
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.api import schemas
from app.api.port import ServicePort
from app.outputs.websocket import SubscriptionClosed

log = logging.getLogger(__name__)

BOUNDARY = "frame"
# every part's headers: sent right after the picture before it, because Chromium shows a part
# only once the next part's headers have arrived (sent later, the picture shows a frame late)
PART_HEAD = f"\r\n--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n".encode()
JPEG_ANSWER = {"content": {"image/jpeg": {}}, "description": "a JPEG picture; its frame "
               "number in the X-Frame header"}


def streams_router(service: ServicePort, send_timeout_s: float) -> APIRouter:
    """`send_timeout_s`: a websocket client that takes longer to accept one message is cut
    off."""
    router = APIRouter(tags=["pictures"])

    @router.get("/snapshot.jpg", response_class=Response,
                responses={200: JPEG_ANSWER, **schemas.error_answers(503)},
                summary="The picture of the newest prediction (the newest camera picture "
                        "while nothing is classified)")
    async def snapshot() -> Response:
        return await _picture_answer(service, None)

    @router.get("/preview/{frame}.jpg", response_class=Response,
                responses={200: JPEG_ANSWER, **schemas.error_answers(404)},
                summary="The picture of one of the last few classified frames, by frame "
                        "number")
    async def preview(frame: int) -> Response:
        return await _picture_answer(service, frame)

    @router.get("/stream.mjpg", summary="The preview as a multipart MJPEG stream: the "
                "classified pictures while the classifier runs, else the camera's",
                response_class=StreamingResponse, responses=schemas.error_answers(503))
    def stream() -> StreamingResponse:
        return StreamingResponse(_mjpeg(service), headers={"Cache-Control": "no-store"},
                                 media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}")

    @router.websocket("/ws")
    async def predictions(websocket: WebSocket) -> None:
        await websocket.accept()
        subscription = service.subscribe()
        receiver = asyncio.ensure_future(_until_disconnect(websocket))
        try:
            await websocket.send_text(json.dumps(service.hello()))
            while True:
                getter = asyncio.ensure_future(subscription.get())
                await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():  # the client went away
                    getter.cancel()
                    break
                await asyncio.wait_for(websocket.send_text(getter.result()), send_timeout_s)
        except (SubscriptionClosed, asyncio.TimeoutError):
            log.info("websocket client fell behind; closing it")
        except Exception as exc:  # the client vanished mid-send: nothing to clean up but us
            log.debug("websocket closed: %r", exc)
        finally:
            receiver.cancel()
            service.unsubscribe(subscription)

    return router


async def _picture_answer(service: ServicePort, frame: int | None) -> Response:
    number, data = await run_in_threadpool(service.picture, frame)
    return Response(data, media_type="image/jpeg",
                    headers={"Cache-Control": "no-store", "X-Frame": str(number)})


async def _until_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, returning when it disconnects."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
    except Exception:  # a broken connection counts as a disconnect
        return


async def _mjpeg(service: ServicePort) -> AsyncIterator[bytes]:
    with service.streaming():
        seq, sent = -1, None
        yield PART_HEAD[2:]  # the first part's headers, without the line end before a boundary
        while True:
            newest = await service.wait_picture(seq, timeout=5.0)
            if newest == seq:
                continue
            seq = newest
            got = await run_in_threadpool(service.newest_picture)
            if got is None:  # no picture yet: wait for the next one
                continue
            frame, data = got
            if frame != sent:
                sent = frame
                yield data + PART_HEAD
