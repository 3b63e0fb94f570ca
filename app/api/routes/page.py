"""The page, the Teach and Settings pages, the event history, the icon and /docs: the API as a
local page (no scripts from a CDN), made from the OpenAPI document by app.api.docs."""
from __future__ import annotations

from importlib import resources
from typing import Any

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.api import docs as api_docs
from app.api import examples
from app.api.port import ServicePort
from app.config import bounds, kind_of
from app.runtime_settings import RUNTIME_KEYS

_STEPS = {"top_k": 1, "smoothing": 1, "threshold": 0.01, "event_threshold": 0.01,
          "camera_fps": 0.1}


def settings_fields() -> list[dict[str, Any]]:
    """The settings page's form, from the one table of runtime keys: each field's input kind
    and its config key's range."""
    fields = []
    for key in RUNTIME_KEYS:
        kind = kind_of(key.config)
        low, high = bounds(key.config) or (None, None)
        fields.append({"name": key.name, "label": key.label, "help": key.description,
                       "config": key.config, "per_model": key.per_model,
                       "input": {tuple: "list", dict: "table"}.get(kind, "number"),
                       "min": low, "max": high, "step": _STEPS.get(key.name, "any")})
    return fields


def page_router(service: ServicePort) -> APIRouter:
    router = APIRouter()
    templates = jinja2.Environment(autoescape=True, loader=jinja2.FileSystemLoader(
        str(resources.files("web").joinpath("templates"))))
    templates.filters["prose"] = api_docs.prose

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(templates.get_template("index.html").render(model=service.model()))

    @router.get("/teach", response_class=HTMLResponse, include_in_schema=False)
    def teach_page() -> HTMLResponse:
        return HTMLResponse(templates.get_template("teach.html").render())

    @router.get("/settings", response_class=HTMLResponse, include_in_schema=False)
    def settings_page() -> HTMLResponse:
        return HTMLResponse(templates.get_template("settings.html").render(
            fields=settings_fields()))

    @router.get("/events", response_class=HTMLResponse, include_in_schema=False)
    def events_page() -> HTMLResponse:
        return HTMLResponse(templates.get_template("events.html").render())

    @router.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        icon = resources.files("web").joinpath("static", "favicon.svg").read_bytes()
        return Response(icon, media_type="image/svg+xml",
                        headers={"Cache-Control": "max-age=86400"})

    @router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        spec = request.app.openapi()
        base = str(request.base_url).rstrip("/")
        routes = api_docs.routes(spec, base)
        messages = api_docs.messages(spec)
        tags = list(dict.fromkeys(route.tag for route in routes))
        return HTMLResponse(templates.get_template("api_docs.html").render(
            title=spec["info"]["title"], description=spec["info"].get("description", ""),
            routes=routes, tags=tags, messages=messages, base=base,
            websocket=base.replace("http", "ws", 1) + "/ws",
            nested=api_docs.nested_schemas(spec, [m.schema for m in messages]),
            error=api_docs.schema(spec, "ErrorAnswer"),
            close_codes=examples.CLOSE_CODES))

    return router
