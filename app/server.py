"""The FastAPI app: the page, the JSON API, the websocket and the preview pictures.

Everything here talks to the service facade (app.service.Service) only; each JSON answer has a
typed model in app.api_models, so /openapi.json describes it. Uploads for POST /api/classify
are read by app/uploads.py; host, origin, token and resource limits sit in front of every
route (app/security.py, app/limits.py). Written for both FastAPI 0.92 / Starlette 0.26
(Debian bookworm) and the newest releases: templates are rendered with Jinja2 directly and no
lifespan hooks are used.
"""
from __future__ import annotations

import asyncio
import json
import logging
from importlib import resources
from typing import Any, Union

import jinja2
from fastapi import FastAPI, File, HTTPException, Request, UploadFile, WebSocket
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from app import api_models as models
from app.api_events import events_router
from app.api_metrics import metrics_router
from app.outputs.websocket import SubscriptionClosed
from app.security import install_guards
from app.service import Service, Unavailable
from app.uploads import Uploads

log = logging.getLogger(__name__)

BOUNDARY = "frame"
# every part's headers: sent right after the picture before it, because Chromium shows a part
# only once the next part's headers have arrived (sent later, the picture shows a frame late)
PART_HEAD = f"\r\n--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n".encode()
JPEG_ANSWER = {"content": {"image/jpeg": {}}, "description": "a JPEG picture; its frame "
               "number in the X-Frame header"}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": models.ErrorAnswer} for code in codes}


def _web_dir(name: str) -> str:
    return str(resources.files("web").joinpath(name))


def create_app(service: Service, send_timeout_s: float | None = None) -> FastAPI:
    """`send_timeout_s`: a websocket client that takes longer to accept one message is cut off
    (default: `server.client_timeout_s`)."""
    send_timeout_s = send_timeout_s or service.config.server_client_timeout_s
    app = FastAPI(title="ShaderCam", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Live image classification on a GPU: latest results, health, "
                              "a websocket of predictions and the camera preview.")
    pages = jinja2.Environment(loader=jinja2.FileSystemLoader(_web_dir("templates")),
                               autoescape=True)
    app.mount("/static", StaticFiles(directory=_web_dir("static")), name="static")
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    app.include_router(events_router(service))
    app.include_router(metrics_router(service))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(pages.get_template("index.html").render(model=service.model()))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        icon = resources.files("web").joinpath("static", "favicon.svg").read_bytes()
        return Response(icon, media_type="image/svg+xml",
                        headers={"Cache-Control": "max-age=86400"})

    @app.get("/api/latest", response_model=Union[models.Prediction, models.Waiting],
             summary="The latest prediction, or a waiting state before the first")
    def latest() -> Any:
        return service.latest()

    @app.get("/api/labels", response_model=models.Labels, responses=_errors(503),
             summary="The class names of the loaded model, raw and readable")
    def labels() -> Any:
        try:
            return service.labels()
        except Unavailable as exc:
            raise HTTPException(503, str(exc)) from None

    @app.get("/api/health", response_model=models.Health,
             responses={503: {"model": models.Health, "description": "the model is in error"}},
             summary="Status of camera, model and GPU; fps and uptime (503 while the model "
                     "is in error)")
    def health(response: Response) -> Any:
        report = service.health()
        if report["status"] == "error":
            response.status_code = 503
        return report

    @app.get("/api/stats", response_model=models.Stats,
             summary="Timings, frames processed and dropped, clients")
    def stats() -> Any:
        return service.stats()

    @app.get("/api/settings", response_model=models.Settings,
             summary="Threshold and smoothing in use")
    def settings() -> Any:
        return service.settings()

    @app.put("/api/settings", response_model=models.Settings, responses=_errors(503),
             summary="Change threshold and/or smoothing now; kept across restarts")
    def change_settings(change: models.SettingsChange) -> Any:
        try:
            return service.change_settings(change.threshold, change.smoothing)
        except Unavailable as exc:
            raise HTTPException(503, str(exc)) from None

    uploads = Uploads(service)

    @app.post("/api/classify", response_model=models.Prediction,
              responses=_errors(400, 413, 415, 429, 503, 504),
              summary="Classify an uploaded JPEG or PNG image")
    async def classify(request: Request, file: UploadFile = File(...)) -> Any:
        return await uploads.classify(request, file)

    @app.get("/snapshot.jpg", response_class=Response,
             responses={200: JPEG_ANSWER, **_errors(503)},
             summary="The picture of the newest prediction (the newest camera picture while "
                     "nothing is classified)")
    async def snapshot() -> Response:
        return await _picture_answer(service, None)

    @app.get("/preview/{frame}.jpg", response_class=Response,
             responses={200: JPEG_ANSWER, **_errors(404)},
             summary="The picture of one of the last few classified frames, by frame number")
    async def preview(frame: int) -> Response:
        return await _picture_answer(service, frame)

    @app.get("/stream.mjpg", summary="The preview as a multipart MJPEG stream: the classified "
             "pictures while the classifier runs, else the camera's",
             response_class=StreamingResponse, responses=_errors(503))
    def stream() -> StreamingResponse:
        return StreamingResponse(_mjpeg(service), headers={"Cache-Control": "no-store"},
                                 media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}")

    @app.websocket("/ws")
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

    install_guards(app, service)
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the websocket's message models, which no route answers with."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for model in models.EXTRA_SCHEMAS:
            schema = models.schema_of(model)
            for name, nested in schema.pop("$defs").items():
                schemas.setdefault(name, nested)
            schemas.setdefault(model.__name__, schema)
        app.openapi_schema = document
    return app.openapi_schema


async def _picture_answer(service: Service, frame: int | None) -> Response:
    try:
        number, data = await run_in_threadpool(service.picture, frame)
    except Unavailable as exc:
        return Response(json.dumps({"detail": str(exc)}), media_type="application/json",
                        status_code=503 if frame is None else 404)
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


async def _mjpeg(service: Service):
    service.stream_clients += 1
    try:
        seq, sent = -1, None
        yield PART_HEAD[2:]  # the first part's headers, without the line end before a boundary
        while True:
            newest = await service.wait_picture(seq, timeout=5.0)
            if newest == seq:
                continue
            seq = newest
            try:
                frame, data = await run_in_threadpool(service.picture)
            except Unavailable:
                continue
            if frame != sent:
                sent = frame
                yield data + PART_HEAD
    finally:
        service.stream_clients -= 1
