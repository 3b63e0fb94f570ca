"""Taught classifiers: list, create and delete them; add examples from the camera or a photo,
delete or relabel one; each change answers with the refitted accuracy; export and import."""
from __future__ import annotations

import asyncio
from typing import Any, Optional

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from app.api import schemas
from app.api.port import ServerSettings, ServicePort
from app.api.uploads import Uploads
from app.errors import TimedOut
from app.images import ImageTooLarge
from app.teach.store import MAX_IMPORT_BYTES


def teach_router(service: ServicePort, settings: ServerSettings) -> APIRouter:
    router = APIRouter(tags=["teach"])
    teaching = service.teaching
    uploads = Uploads(service, settings)

    @router.get("/api/teach", response_model=schemas.TaughtList,
                summary="The taught classifiers, which of them run, and their newest results")
    def list_classifiers() -> Any:
        return teaching.list()

    @router.post("/api/teach", response_model=schemas.TaughtClassifierDetail, status_code=201,
                 responses=schemas.error_answers(400, 409, 503),
                 summary="Create a taught classifier on the running model (no examples yet)")
    def create(body: schemas.TaughtCreate) -> Any:
        return teaching.create(body.name, body.classes, body.region)

    @router.post("/api/teach/import", response_model=schemas.TaughtClassifierDetail,
                 status_code=201, responses=schemas.error_answers(400, 409),
                 summary="Import a taught classifier from its export")
    async def import_classifier(
            file: UploadFile = File(..., description="the zip that /export gave"),
            name: Optional[str] = Query(None, description="store it under this name instead"),
            replace: bool = Query(False, description="replace one of the same name")) -> Any:
        data = await file.read(MAX_IMPORT_BYTES + 1)
        if len(data) > MAX_IMPORT_BYTES:
            raise ImageTooLarge(f"an export is at most {MAX_IMPORT_BYTES >> 20} MiB")
        return await run_in_threadpool(teaching.import_, data, name, replace)

    @router.get("/api/teach/{name}", response_model=schemas.TaughtClassifierDetail,
                responses=schemas.error_answers(400, 404, 503),
                summary="One taught classifier with its examples")
    def get(name: str) -> Any:
        return teaching.get(name)

    @router.patch("/api/teach/{name}", response_model=schemas.TaughtClassifier,
                  responses=schemas.error_answers(400, 404, 503),
                  summary="Switch a taught classifier on or off (kept across restarts); it runs "
                          "when switched on and named by teach.active")
    def switch(name: str, body: schemas.TaughtSwitch) -> Any:
        return teaching.switch(name, body.active)

    @router.delete("/api/teach/{name}", response_model=schemas.Deleted,
                   responses=schemas.error_answers(400, 404),
                   summary="Delete a taught classifier and its examples")
    def delete(name: str) -> Any:
        return teaching.delete(name)

    # admitted (rate limit, busy check) before an uploaded example's body is read
    examples = APIRouter(tags=["teach"], route_class=uploads.route_class())

    @examples.post("/api/teach/{name}/examples", response_model=schemas.ExampleAdded,
                 status_code=201,
                 responses=schemas.error_answers(400, 404, 415, 429, 503, 504),
                 summary="Add an example of a class: the camera's newest frame, or an uploaded "
                         "JPEG or PNG; answers with the refitted accuracy")
    async def add_example(request: Request, name: str,
                          label: str = Query(..., description="the example's class"),
                          file: Optional[UploadFile] = File(
                              None, description="a JPEG or PNG picture; without it, the "
                                                "camera's newest classified frame")) -> Any:
        rgb = None if file is None else await uploads.picture(file)
        future = teaching.embed(name, label, rgb)
        try:
            vector, thumb = await asyncio.wait_for(asyncio.wrap_future(future),
                                                   settings.upload_timeout_s)
        except asyncio.TimeoutError:
            future.cancel()
            raise TimedOut("the classifier did not answer in time") from None
        return await run_in_threadpool(teaching.add_example, name, label, vector, thumb)

    @router.patch("/api/teach/{name}/examples/{example_id}",
                  response_model=schemas.TaughtClassifier,
                  responses=schemas.error_answers(400, 404),
                  summary="Give an example another class; answers with the refitted accuracy")
    def relabel(name: str, example_id: str, body: schemas.Relabel) -> Any:
        return teaching.relabel_example(name, example_id, body.label)

    @router.delete("/api/teach/{name}/examples/{example_id}",
                   response_model=schemas.TaughtClassifier,
                   responses=schemas.error_answers(400, 404),
                   summary="Delete an example; answers with the refitted accuracy")
    def delete_example(name: str, example_id: str) -> Any:
        return teaching.delete_example(name, example_id)

    @router.get("/api/teach/{name}/examples/{example_id}.jpg", response_class=Response,
                responses={200: {"content": {"image/jpeg": {}}},
                           **schemas.error_answers(400, 404)},
                summary="An example's thumbnail")
    def thumb(name: str, example_id: str) -> Response:
        return Response(teaching.thumb(name, example_id), media_type="image/jpeg")

    @router.get("/api/teach/{name}/export", response_class=Response,
                responses={200: {"content": {"application/zip": {}}},
                           **schemas.error_answers(400, 404)},
                summary="The taught classifier as one file, to import elsewhere")
    def export(name: str) -> Response:
        data = teaching.export(name)
        return Response(data, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="{name}.shadercam-taught.zip"'})

    @router.get("/api/teach/{name}/review", response_model=schemas.ReviewQueue,
                responses=schemas.error_answers(400, 404),
                summary="Recent camera frames it was unsure of (below its threshold, or two "
                        "classes close), to label or dismiss")
    def review(name: str) -> Any:
        return teaching.review(name)

    @router.get("/api/teach/{name}/review/{item_id}.jpg", response_class=Response,
                responses={200: {"content": {"image/jpeg": {}}},
                           **schemas.error_answers(400, 404)},
                summary="A frame to review: its region's thumbnail")
    def review_thumb(name: str, item_id: str) -> Response:
        return Response(teaching.review_thumb(name, item_id), media_type="image/jpeg")

    @router.post("/api/teach/{name}/review/{item_id}", response_model=schemas.ExampleAdded,
                 status_code=201, responses=schemas.error_answers(400, 404, 503),
                 summary="Label a frame to review: it becomes an example of that class "
                         "(its stored features, no second pass); answers with the refitted "
                         "accuracy")
    def label_review(name: str, item_id: str, body: schemas.Relabel) -> Any:
        return teaching.label_review(name, item_id, body.label)

    @router.delete("/api/teach/{name}/review/{item_id}", response_model=schemas.Deleted,
                   responses=schemas.error_answers(400, 404),
                   summary="Dismiss a frame to review")
    def dismiss_review(name: str, item_id: str) -> Any:
        return teaching.dismiss_review(name, item_id)

    router.include_router(examples)
    return router
