"""The API's vocabulary as typed schemas: every JSON answer of /api/*, the websocket's messages
(and the outputs that reuse them) has one pydantic model here, so /openapi.json describes
each shape.

Works with pydantic 1.10 (Debian bookworm) and 2.x. Under 1.10 an optional field's schema gets
OpenAPI 3.0's `"nullable": true`, which pydantic 1 leaves out; 2.x writes `anyOf [..., null]`.
Field names follow one rule set, written down in the README ("The API's vocabulary").
"""
from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional

import pydantic
from pydantic import BaseModel, Field

from app.config import kind_of
from app.runtime_settings import RUNTIME_KEYS

PYDANTIC_V1 = pydantic.VERSION.startswith("1.")


class ApiModel(BaseModel):
    if PYDANTIC_V1:
        class Config:
            @staticmethod
            def schema_extra(schema: Dict[str, Any], model: Any) -> None:
                for field in model.__fields__.values():
                    if field.allow_none and field.alias in schema.get("properties", {}):
                        schema["properties"][field.alias]["nullable"] = True


class Ranked(ApiModel):
    index: int = Field(..., description="class index in the model's output")
    label: str = Field(..., description="the model's own label")
    display_label: str = Field(..., description="the label made readable for people")
    probability: float


class TaughtResult(ApiModel):
    """A taught classifier's newest result on the camera's frames."""

    label: str = Field(..., description="the most probable class, or 'unknown' below the "
                                        "classifier's threshold")
    probability: float = Field(..., description="the most probable class's probability")
    uncertain: bool
    probabilities: Dict[str, float] = Field(..., description="each class's probability")
    state: Optional[str] = Field(..., description="the label once `teach.agree` results in a "
                                                  "row gave it; null until then")
    frame: int = Field(..., description="the camera frame it was taken from")
    timestamp: float


class Prediction(ApiModel):
    """One classified frame (or uploaded picture)."""

    type: Literal["prediction"]
    frame: int = Field(..., description="camera frame number, the same as the preview "
                                        "picture's (X-Frame header); 0 for an upload")
    timestamp: float = Field(..., description="Unix time the frame was captured")
    label: Optional[str] = Field(..., description="best class; null when uncertain")
    display_label: Optional[str] = Field(..., description="best class, readable; null when "
                                                          "uncertain")
    uncertain: bool = Field(..., description="the best probability is below the threshold")
    top_k: List[Ranked] = Field(..., description="the best classes, best first")
    timings_ms: Dict[str, float]
    model_name: str
    origin: Literal["camera", "upload"]
    smoothing: int
    threshold: float
    taught: Dict[str, TaughtResult] = Field(default_factory=dict, description="each active "
                                            "taught classifier's newest result, by name "
                                            "(camera frames only)")


class Waiting(ApiModel):
    """What /api/latest says before the first prediction."""

    type: Literal["waiting"]
    status: str
    detail: str


class Labels(ApiModel):
    model_name: str
    labels: List[str]
    display_labels: List[str]


class CameraStatus(ApiModel):
    source: str = Field(..., description="camera.source: picamera2, files:PATH or demo")
    state: Literal["starting", "running", "retrying", "stalled", "stopped"]
    error: Optional[str] = Field(..., description="what is wrong, when it is")
    failures: int
    frames: int
    fps: float
    last_frame_age_s: Optional[float]
    retry_in_s: Optional[float] = Field(..., description="seconds until the camera is opened "
                                                         "again, while retrying")


class SelfTest(ApiModel):
    ok: bool
    seconds: float
    kernels: int = Field(..., description="shader variants checked")
    probe: str = Field(..., description="input size of the model's small copy, e.g. 133x133")


class ModelStatus(ApiModel):
    name: str
    path: str
    classes: Optional[int] = None
    input_size: Optional[List[int]] = None
    state: Literal["loading", "running", "error", "stopped"]
    error: Optional[str] = Field(..., description="what went wrong, in words")
    error_kind: Optional[str] = Field(None, description="its kind, for programs: the failure's "
                                      "name, e.g. ModelError (a damaged model file)")
    demo: bool = Field(..., description="the built-in demo model")
    smoothing: int
    threshold: float
    self_test: Optional[SelfTest] = Field(None, description="the GPU self-test against the "
                                                            "NumPy reference, once it ran")


class GLStatus(ApiModel):
    vendor: Optional[str] = None
    renderer: Optional[str] = None
    version: Optional[str] = None
    api: Optional[str] = None
    software: Optional[bool] = Field(None, description="a software renderer: the CPU does "
                                                       "the work")


class Health(ApiModel):
    status: Literal["ok", "starting", "degraded", "error"]
    camera: CameraStatus
    model: ModelStatus
    gl: GLStatus
    fps: float = Field(..., description="frames classified per second")
    prediction_age_s: Optional[float] = Field(None, description="seconds since the newest "
                                              "prediction's frame was captured; null before it")
    uptime_s: float
    outputs: Dict[str, Dict[str, Any]] = Field(
        default_factory=dict, description="each output (websocket, metrics, events, mqtt, "
        "webhooks) by name: its `state` (starting, ok, error), `error`, `errors` and its "
        "own counters")
    server_time: float = Field(..., description="the service's clock (Unix seconds) when it "
                               "answered: a client whose clock differs judges the age of a "
                               "prediction's `timestamp` by it")


class Hello(Health):
    """The websocket's first message: the health, then predictions follow."""

    type: Literal["hello"]


class FrameCounts(ApiModel):
    captured: int
    processed: int
    dropped: int
    failed: int


class ClientCounts(ApiModel):
    websocket: int
    stream: int


class HubCounts(ApiModel):
    published: int
    lost_messages: int
    dropped_subscribers: int


class PreviewCounts(ApiModel):
    cpu_jpeg_encodes: int


class Stats(ApiModel):
    timings_ms: Dict[str, float]
    fps: float = Field(..., description="frames classified per second")
    camera_fps: float
    frames: FrameCounts
    clients: ClientCounts
    hub: HubCounts
    preview: PreviewCounts


class Settings(ApiModel):
    """What may be changed while the service runs (kept in the state directory); the ranges
    are those of the config keys they override (app.runtime_settings.RUNTIME_KEYS)."""

    model: str = Field(..., description="the running model's file name: threshold and "
                                        "smoothing are this model's own")
    top_k: int = Field(..., description="how many of the best classes each result lists")
    threshold: float = Field(..., description="below this probability a result is "
                                              "'uncertain'")
    smoothing: int = Field(..., description="average over this many frames")
    event_labels: List[str] = Field(..., description="watched classes; [\"*\"]: every class")
    event_threshold: float = Field(..., description="probability a watched class needs")
    event_thresholds: Dict[str, float] = Field(..., description="per class, instead of "
                                                                "event_threshold")
    camera_fps: float = Field(..., description="frames a second asked of the camera")


_SETTING_TYPES: Dict[type, Any] = {int: Optional[int], float: Optional[float],
                                  tuple: Optional[List[str]], dict: Optional[Dict[str, float]]}
# A change of some settings (PUT /api/settings), one field a runtime key, made from their
# table; it gives /docs its example. The values' ranges are their config keys', checked by the
# service (app.runtime_settings.checked) and shown in the body's schema in /openapi.json.
SettingsChange = pydantic.create_model(
    "SettingsChange", __base__=ApiModel,
    **{key.name: (_SETTING_TYPES[kind_of(key.config)], Field(None, description=key.description))
       for key in RUNTIME_KEYS})


class OutputTestResult(ApiModel):
    target: str = Field(..., description="where it went: the topic and broker, or the URL "
                                         "without credentials")
    delivered: bool
    error: Optional[str] = Field(..., description="what went wrong, in words")


class OutputTest(ApiModel):
    """The result of sending a marked test message (`"type": "test"`) through an output."""

    output: Literal["mqtt", "webhooks"]
    delivered: bool = Field(..., description="every target took it")
    results: List[OutputTestResult]


class FieldProblem(ApiModel):
    field: str = Field(..., description="where: the part of the request and the field's name, "
                                        "e.g. body.threshold")
    problem: str


class ErrorAnswer(ApiModel):
    """Every error answer of the API, whatever its status."""

    detail: str = Field(..., description="what went wrong, in one sentence")
    errors: Optional[List[FieldProblem]] = Field(None, description="each field that is not "
                                                 "valid (422 only)")


class Event(ApiModel):
    """A watched class seen from `start` to `end` (null while it lasts), Unix times; or a
    taught classifier's state (`taught` names it) from the change into it to the next one."""

    id: str
    label: str
    display_label: str
    model_name: str
    state: Literal["active", "ended"]
    start: float
    end: Optional[float]
    last_seen: float = Field(..., description="the last time the class was at its threshold")
    start_frame: int
    end_frame: int = Field(..., description="the last frame at the threshold")
    peak: float = Field(..., description="the best probability")
    peak_frame: int
    snapshot: Optional[str] = Field(..., description="URL of the JPEG of the best frame")
    taught: Optional[str] = Field(None, description=(
        "the taught classifier whose state this is (then `label` is the state, `peak` the "
        "probability of the answer that changed it, `snapshot` its region); null for a class "
        "of the model"))
    previous: Optional[str] = Field(None, description=(
        "a taught classifier's state before this one (null when none was known)"))


class EventLabel(ApiModel):
    """A label present in the history (a model's class or a taught classifier's state)."""

    label: str
    display_label: str
    taught: Optional[str] = Field(..., description="the taught classifier whose state it is; "
                                                   "null for a class of the model")
    count: int = Field(..., description="its events in the history")


class Events(ApiModel):
    """One page of the history; ask for the next with `before` set to `next`."""

    events: List[Event] = Field(..., description="newest first")
    count: int = Field(..., description="events on this page")
    total: int = Field(..., description="events in the history")
    matching: int = Field(..., description="events that match the filters, on every page")
    next: Optional[str] = Field(..., description="the `before` of the next page; null on the "
                                                 "last page")
    labels: List[EventLabel] = Field(..., description="every label in the history, whatever "
                                                      "the filters")


class DeletedEvents(ApiModel):
    """What a delete of the history removed; ongoing events are kept until they end."""

    deleted: List[str] = Field(..., description="ids of the events removed")
    count: int = Field(..., description="events removed")
    kept: List[str] = Field(..., description="ids of matching events still going on, not "
                                             "deleted")
    note: str = Field(..., description="the same in one sentence")


class EventMessage(ApiModel):
    """The websocket's message when an event starts and when it ends."""

    type: Literal["event"]
    event: Event


class Deleted(ApiModel):
    deleted: str


class TeachReport(ApiModel):
    """How well a taught classifier does on its own examples, after each change."""

    counts: Dict[str, int] = Field(..., description="examples per class")
    accuracy: Optional[float] = Field(..., description="k-fold cross-validated accuracy; null "
                                                       "with fewer than two examples a class")
    class_accuracy: Dict[str, float] = Field(..., description="held-out recall per class")
    folds: int
    advice: List[str] = Field(..., description="what to add, when it needs more examples")
    needs_more_examples: bool


class Backbone(ApiModel):
    name: str = Field(..., description="the model whose features it reads")
    sha256: str
    path: Optional[str] = None


class Descriptor(ApiModel):
    layer: str = Field(..., description="the backbone's map pooled into the feature vector")
    grid: int = Field(..., description="cells a side the map is averaged over")
    input_size: Optional[List[int]] = Field(..., description="the backbone's input, width "
                                                             "and height; null: its own")


class TaughtClassifier(ApiModel):
    """A taught classifier; a damaged one has only its name and `error`."""

    name: str
    classes: Optional[List[str]] = None
    region: Optional[List[float]] = Field(None, description="x, y, width, height as fractions "
                                                            "of the frame")
    backbone: Optional[Backbone] = None
    features: Optional[Descriptor] = None
    counts: Optional[Dict[str, int]] = None
    report: Optional[TeachReport] = None
    ready: Optional[bool] = Field(None, description="it has a fitted head")
    created: Optional[float] = None
    enabled: Optional[bool] = Field(None, description="not switched off (PATCH {\"active\": "
                                    "false}); it runs when `teach.active` names it too")
    active: bool = Field(..., description="it runs on the camera's frames")
    error: Optional[str] = Field(..., description="why it does not run, when it does not")
    result: Optional[TaughtResult] = Field(..., description="its newest result")


class TaughtExample(ApiModel):
    id: str
    label: str
    added: float
    thumb: str = Field(..., description="URL of the example's small JPEG")


class TaughtClassifierDetail(TaughtClassifier):
    examples: List[TaughtExample]


class ExampleAdded(TaughtClassifier):
    """The classifier after the new example, refitted."""

    example: TaughtExample


class ReviewItem(ApiModel):
    """A recent camera frame the classifier was unsure of."""

    id: str
    frame: int = Field(..., description="the camera frame it was taken from")
    timestamp: float
    label: str = Field(..., description="what it answered: a class, or 'unknown' below the "
                                        "threshold")
    guess: str = Field(..., description="the most probable class")
    probability: float = Field(..., description="the most probable class's probability")
    uncertain: bool
    probabilities: Dict[str, float] = Field(..., description="each class's probability")
    thumb: str = Field(..., description="URL of the region's small JPEG")


class ReviewQueue(ApiModel):
    items: List[ReviewItem] = Field(..., description="newest first; at most 12, at most one "
                                                     "every 3 s, kept in memory")


class TaughtList(ApiModel):
    classifiers: List[TaughtClassifier]
    active: List[str] = Field(..., description="the names of those that run")


class TaughtCreate(ApiModel):
    name: str = Field(..., description="lower-case letters, digits, '_' and '-'",
                      max_length=32)
    classes: List[str] = Field(..., description="2 to 10 class names")
    region: Optional[List[float]] = Field(None, description="x, y, width, height as fractions "
                                          "of the frame (default: the whole frame)")


class TaughtSwitch(ApiModel):
    active: bool = Field(..., description="false: it stops running on the camera's frames "
                                          "(kept across restarts) until switched on again")


class Relabel(ApiModel):
    label: str = Field(..., max_length=32)


def dump(model: BaseModel) -> Dict[str, Any]:
    """The model as plain JSON data, under either pydantic."""
    return model.dict() if PYDANTIC_V1 else model.model_dump()


def parse(model: type, data: Any) -> Any:
    """Validate `data` as `model`, under either pydantic (raises pydantic.ValidationError)."""
    return model.parse_obj(data) if PYDANTIC_V1 else model.model_validate(data)


def schema_of(model: type) -> Dict[str, Any]:
    """The model's JSON schema with references into the OpenAPI document's components; nested
    models come back under the key `$defs`."""
    template = "#/components/schemas/{model}"
    if PYDANTIC_V1:
        schema = model.schema(ref_template=template)
        schema["$defs"] = schema.pop("definitions", {})
        return schema
    return model.model_json_schema(ref_template=template)


# Messages that are no route's answer but belong in /openapi.json (the websocket's).
EXTRA_SCHEMAS = (Hello, Prediction, EventMessage)


def error_answers(*codes: int) -> Dict[int | str, Dict[str, Any]]:
    """A route's documented error answers: each an ErrorAnswer."""
    return {code: {"model": ErrorAnswer} for code in codes}
