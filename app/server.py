"""The FastAPI app: the page, the JSON API, the websocket and the preview stream.

Everything here only reads from the service (hub, preview, status); the one thing it sends
the other way is an uploaded image for POST /api/classify (app/uploads.py). Host, origin,
token and resource limits sit in front of every route (app/security.py, app/limits.py).
Written for both FastAPI 0.92 / Starlette 0.26 (Debian bookworm) and the newest releases:
templates are rendered with Jinja2 directly and no lifespan hooks are used.
"""
from __future__ import annotations

import asyncio
import json
import logging
from importlib import resources
from typing import Any

import jinja2
from fastapi import FastAPI, File, HTTPException, Request, UploadFile, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from app.hub import SubscriptionClosed
from app.security import error_answers, install_guards
from app.service import Service
from app.uploads import Uploads

log = logging.getLogger(__name__)

BOUNDARY = "frame"


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

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(pages.get_template("index.html").render(model=service.model()))

    @app.get("/api/latest", summary="The latest prediction, or a waiting state before the first")
    def latest() -> dict[str, Any]:
        prediction = service.hub.latest
        if prediction is None:
            health = service.health()
            return {"type": "waiting", "status": health["status"],
                    "detail": "no prediction yet: " + _waiting_reason(health)}
        return {"type": "prediction", **prediction.to_dict()}

    @app.get("/api/labels", summary="The class names of the loaded model",
             responses=error_answers(503))
    def labels() -> dict[str, Any]:
        if not service.worker.labels:
            raise HTTPException(503, f"model not loaded ({service.worker.state}"
                                     f"{': ' + service.worker.error if service.worker.error else ''})")
        return {"model": service.worker.model_info["name"], "labels": service.worker.labels}

    @app.get("/api/health", summary="Status of camera, model and GPU; fps and uptime",
             responses={503: {"description": "Status error: the model or GPU failed"}})
    def health() -> Any:
        answer = service.health()
        return JSONResponse(answer, status_code=503) if answer["status"] == "error" else answer

    @app.get("/api/stats", summary="Timings, frames processed and dropped, clients")
    def stats() -> dict[str, Any]:
        return service.stats()

    uploads = Uploads(service)

    @app.post("/api/classify", summary="Classify an uploaded JPEG or PNG image",
              responses=error_answers(400, 413, 415, 429, 503, 504))
    async def classify(request: Request, file: UploadFile = File(...)) -> dict[str, Any]:
        return await uploads.classify(request, file)

    @app.get("/snapshot.jpg", summary="The newest camera picture as JPEG",
             response_class=Response, responses=error_answers(503))
    async def snapshot() -> Response:
        got = await run_in_threadpool(service.preview.jpeg)
        if got is None:
            return JSONResponse({"detail": "no picture yet: " + _waiting_reason(service.health())},
                                status_code=503)
        return Response(got[1], media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/stream.mjpg", summary="The camera preview as a multipart MJPEG stream",
             response_class=StreamingResponse, responses=error_answers(503))
    def stream() -> StreamingResponse:
        return StreamingResponse(_mjpeg(service), headers={"Cache-Control": "no-store"},
                                 media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}")

    @app.websocket("/ws")
    async def predictions(websocket: WebSocket) -> None:
        await websocket.accept()
        subscription = service.hub.subscribe()
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
            service.hub.unsubscribe(subscription)

    install_guards(app, service)
    return app


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
        seen, started = -1, False
        while True:
            newest = await service.preview.wait_newer(seen, timeout=5.0)
            if newest == seen:
                continue
            got = await run_in_threadpool(service.preview.jpeg)
            if got is None:
                seen = newest
                continue
            seen, data = got
            # the boundary goes right after each picture: browsers show a part only once they
            # see the boundary that ends it, so leaving it to the next part shows pictures late
            head = b"" if started else f"--{BOUNDARY}\r\n".encode()
            started = True
            yield (head + f"Content-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                   .encode() + data + f"\r\n--{BOUNDARY}\r\n".encode())
    finally:
        service.stream_clients -= 1


def _waiting_reason(health: dict[str, Any]) -> str:
    model, camera = health["model"], health["camera"]
    if model["state"] == "error":
        return f"the model failed to load: {model['error']}"
    if model["state"] == "loading":
        return "the model is loading"
    if camera["state"] != "running":
        return f"camera {camera['state']}" + (f" ({camera['error']})" if camera["error"] else "")
    return "the first frame is being classified"
