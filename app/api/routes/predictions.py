"""The latest prediction and the classification of uploaded pictures."""
from __future__ import annotations

from typing import Any, Union

from fastapi import APIRouter, File, UploadFile

from app.api import schemas
from app.api.port import ServerSettings, ServicePort
from app.api.uploads import Uploads


def predictions_router(service: ServicePort, settings: ServerSettings) -> APIRouter:
    router = APIRouter(tags=["predictions"])
    uploads = Uploads(service, settings)

    @router.get("/api/latest", response_model=Union[schemas.Prediction, schemas.Waiting],
                summary="The latest prediction, or a waiting state before the first")
    def latest() -> Any:
        return service.latest()

    upload = APIRouter(route_class=uploads.route_class())

    @upload.post("/api/classify", response_model=schemas.Prediction,
                 responses=schemas.error_answers(400, 413, 415, 429, 503, 504),
                 summary="Classify an uploaded JPEG or PNG image")
    async def classify(file: UploadFile = File(..., description="a JPEG (MPO included) or PNG "
                                                             "picture")) -> Any:
        return await uploads.classify(file)

    router.include_router(upload)
    return router
