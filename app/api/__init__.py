"""The web layer: the page, the JSON API, the websocket and the preview pictures.

`create_app` wires the routers (app/api/routes/, one module a noun) to a service through its
narrow port (app/api/port.py), puts the guards in front (security.py: host, origin, token;
limits.py: bodies and clients) and answers every error from one table (errors.py). Each JSON
answer has a typed schema in schemas.py, so /openapi.json describes it. Written for both
FastAPI 0.92 / Starlette 0.26 (Debian bookworm) and the newest releases: templates are
rendered with Jinja2 directly and no lifespan hooks are used.
"""
from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from app.api import schemas
from app.api.errors import document_errors, install_error_handlers
from app.api.port import ServerSettings, ServicePort
from app.api.routes.events import events_router
from app.api.routes.metrics import metrics_router
from app.api.routes.model import model_router
from app.api.routes.page import page_router
from app.api.routes.predictions import predictions_router
from app.api.routes.settings import settings_router
from app.api.routes.status import status_router
from app.api.routes.streams import streams_router
from app.api.routes.teach import teach_router
from app.api.security import install_guards


def create_app(service: ServicePort, settings: ServerSettings) -> FastAPI:
    """The ASGI app serving `service`, within the limits of `settings`."""
    app = FastAPI(title="ShaderCam", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Live image classification on a GPU: latest results, health, "
                              "a websocket of predictions and the camera preview.")
    app.mount("/static", StaticFiles(directory=str(resources.files("web").joinpath("static"))),
              name="static")
    for router in (events_router(service), metrics_router(service), page_router(service),
                   predictions_router(service, settings), model_router(service),
                   status_router(service), settings_router(service),
                   teach_router(service, settings),
                   streams_router(service, settings.client_timeout_s)):
        app.include_router(router)
    install_error_handlers(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    install_guards(app, settings, health=lambda: service.health()["status"])
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the one error shape, plus the websocket's message schemas,
    which no route answers with."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)
        document_errors(document)
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for model in schemas.EXTRA_SCHEMAS:
            schema = schemas.schema_of(model)
            for name, nested in schema.pop("$defs").items():
                components.setdefault(name, nested)
            components.setdefault(model.__name__, schema)
        app.openapi_schema = document
    return app.openapi_schema
