"""Every error answer of the API in one shape, from one table.

Routes and the service raise the service's own errors (app.errors), the image errors
(app.images) and the taught classifiers' (app.teach); `install_error_handlers` maps each kind
to its status here, once. FastAPI's request validation (422) and Starlette's own refusals
(404 for an unknown path, 405, ...) get the same body, `{"detail": "<one sentence>"}`, plus
`errors` (one entry a field) for a 422, as do the guards in front of the app
(app.api.security, app.api.limits) through `error_body`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from app.errors import Busy, Conflict, Invalid, NotFound, TimedOut, TooFrequent, Unavailable
from app.images import ImageError, ImageFormatRefused, ImageTooLarge, ImageUnreadable
from app.teach.head import TeachError
from app.teach.store import NoSuchClassifier, TeachConflict, TeachStorageError

# each kind of error -> the status it is answered with (the most specific class wins)
STATUS: Mapping[type[Exception], int] = {
    ImageError: 400,
    ImageUnreadable: 400,
    ImageTooLarge: 413,
    ImageFormatRefused: 415,
    TeachError: 400,
    NoSuchClassifier: 404,
    TeachConflict: 409,
    TeachStorageError: 503,
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    TooFrequent: 429,
    Unavailable: 503,
    Busy: 503,
    TimedOut: 504,
}
INVALID_REQUEST = "the request's parameters or body are not valid"


def error_body(detail: str, errors: Sequence[Mapping[str, str]] | None = None) -> dict[str, Any]:
    """The JSON of every error answer (`ErrorAnswer` in the OpenAPI document)."""
    body: dict[str, Any] = {"detail": detail}
    if errors is not None:
        body["errors"] = list(errors)
    return body


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of `app` from the table above, in the one shape."""
    for kind in STATUS:
        app.add_exception_handler(kind, _domain_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


async def _domain_error(request: Request, exc: Exception) -> Response:
    status = next(STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS)
    retry = getattr(exc, "retry_after_s", None)
    headers = None if retry is None else {"Retry-After": str(retry)}
    problems = exc.problems if isinstance(exc, Invalid) else None
    errors = None if problems is None else [{"field": field, "problem": problem}
                                            for field, problem in problems.items()]
    return JSONResponse(error_body(str(exc), errors), status, headers=headers)


async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
    errors = [{"field": ".".join(str(part) for part in error.get("loc", ())),
               "problem": str(error.get("msg", ""))} for error in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['problem']}" for e in errors) or INVALID_REQUEST
    return JSONResponse(error_body(f"{INVALID_REQUEST}: {detail}", errors), 422)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code in (204, 304):  # answers that carry no body
        return Response(status_code=exc.status_code, headers=exc.headers)
    return JSONResponse(error_body(str(exc.detail)), exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    """A bug: the traceback goes to the log (Starlette re-raises it after this answer)."""
    return JSONResponse(error_body("internal error; the service's log says more"), 500)


def document_errors(document: dict[str, Any]) -> None:
    """Make the OpenAPI document say what the handlers answer: every 422 is an ErrorAnswer,
    and only where a request can be invalid; a body that cannot be parsed at all (not JSON,
    a broken form) is FastAPI's 400; FastAPI's own validation schemas, no longer answered, go."""
    error_answer = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorAnswer"}}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answers = operation.get("responses", {})
            if "requestBody" in operation:
                answers.setdefault("400", {"description": "the body cannot be parsed",
                                           "content": error_answer})
            if "422" not in answers:
                continue
            if not _can_be_invalid(operation):
                del answers["422"]
                continue
            answers["422"] = {"description": INVALID_REQUEST, "content": error_answer}
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def _can_be_invalid(operation: dict[str, Any]) -> bool:
    """False when every parameter is a path segment taken as any text (FastAPI documents a
    422 for every operation with parameters, but such a request is never invalid)."""
    if "requestBody" in operation:
        return True
    for parameter in operation.get("parameters", ()):
        schema = parameter.get("schema", {})
        if parameter.get("in") != "path" or schema.get("type") != "string" \
                or set(schema) - {"type", "title", "description"}:
            return True
    return False
