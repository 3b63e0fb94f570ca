"""Taught classifiers on disk: one folder each under the state directory's `taught/`.

A folder holds `classifier.json` (name, classes, region, backbone, descriptor, whether it is
switched on, the examples' ids and labels, the last fit's report), `data-GEN.npz` (the
examples' feature vectors and the fitted head) and `thumbs/ID.jpg` (each example's small
picture). A save writes the new thumbnails and a new generation of the data first, then
replaces `classifier.json` in one rename, then removes what the old generation alone used: a
crash leaves the old classifier or the new one, never a mixture. Every size is bounded
(classifiers, classes, examples per class, thumbnail side, an imported file), names are checked
before they touch a path, and a damaged folder is reported as such while the others load.

Export is the folder's files in one zip; import checks every part before anything is written.
"""
from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.atomic import fsync_dir, write_atomically
from app.errors import in_words
from app.teach.head import UNKNOWN, Answer, FitReport, Head, TeachError, fit

FOLDER = "taught"
MANIFEST = "classifier.json"
THUMBS = "thumbs"
FORMAT = 1
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
CLASS_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,31}")
EXAMPLE_ID = re.compile(r"[0-9a-f]{12}")
MAX_CLASSIFIERS = 16
MAX_CLASSES = 10
MAX_EXAMPLES_PER_CLASS = 100
THUMB_SIDE = 128          # thumbnails' longer side, pixels
THUMB_QUALITY = 75
MAX_THUMB_BYTES = 64 * 1024
MAX_DIMENSION = 16384     # feature values per example
MAX_IMPORT_BYTES = 64 * 1024 * 1024
WHOLE_FRAME = (0.0, 0.0, 1.0, 1.0)
# The descriptor chosen by docs/TEACH.md's study: the dog classifier's b3-scale map on a 3x3 grid,
# the region fed to it at 193x193 (a quarter of the fragments of its own input, as accurate).
DEFAULT_FEATURES = {"layer": "b3-scale", "grid": 3, "input_size": [193, 193]}

Region = tuple[float, float, float, float]


class TeachStoreError(TeachError):
    """A taught classifier that cannot be stored, found or read; the message says which and why."""


class NoSuchClassifier(TeachStoreError):
    """No taught classifier of that name (or example of that id)."""


class TeachConflict(TeachStoreError):
    """The name is taken, or the store is full."""


class TeachStorageError(TeachStoreError):
    """The files cannot be written, or what is on disk is damaged."""


@dataclass(frozen=True)
class Example:
    id: str
    label: str
    added: float  # Unix time


@dataclass
class TaughtClassifier:
    """One taught classifier in memory: its examples' features and its fitted head.

    Changes go through the methods, which refit the head; `Store.save` writes the result.
    """

    name: str
    classes: list[str]
    region: Region
    backbone: dict[str, str]            # the model it reads: name, sha256 (and its path)
    features: dict[str, Any]            # the descriptor: layer, grid, input_size
    examples: list[Example] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    head: Head | None = None
    report: dict[str, Any] | None = None
    created: float = field(default_factory=time.time)
    enabled: bool = True                # switched off from the page or the API: it does not run
    pending_thumbs: dict[str, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.name = check_name(self.name)
        self.classes = check_classes(self.classes)
        self.region = check_region(self.region)
        self.features = check_features(self.features)
        if not {"name", "sha256"} <= set(self.backbone):
            raise TeachStoreError(f"backbone {self.backbone!r}: a name and a sha256 are needed")

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.classes, 0)
        for example in self.examples:
            counts[example.label] += 1
        return counts

    @property
    def inputs(self) -> tuple:
        """What its feature vectors depend on: vectors of equal inputs can be compared."""
        return (self.region, json.dumps(self.features, sort_keys=True), self.backbone["sha256"])

    @property
    def revision(self) -> tuple:
        """What its answers depend on: equal revisions answer alike."""
        return (tuple(self.classes), self.region, json.dumps(self.features, sort_keys=True),
                self.backbone["sha256"], tuple((e.id, e.label) for e in self.examples))

    def add(self, label: str, vectors: np.ndarray, thumbs: list[bytes]) -> list[Example]:
        """Add examples of `label` (one feature row and one JPEG thumbnail each) and refit."""
        vectors = np.asarray(vectors, np.float32)
        if label not in self.classes:
            raise TeachStoreError(f"{label!r} is not a class of {self.name!r} "
                                  f"(its classes: {', '.join(self.classes)})")
        if vectors.ndim != 2 or len(vectors) != len(thumbs) or len(thumbs) == 0:
            raise TeachStoreError("each example needs one feature vector and one thumbnail")
        if self.examples and vectors.shape[1] != self.vectors.shape[1]:
            raise TeachStoreError(f"feature vectors of {vectors.shape[1]} values: "
                                  f"{self.name!r} takes {self.vectors.shape[1]}")
        if not 0 < vectors.shape[1] <= MAX_DIMENSION or not np.all(np.isfinite(vectors)):
            raise TeachStoreError("feature vectors must be finite, of at most "
                                  f"{MAX_DIMENSION} values")
        if self.counts[label] + len(thumbs) > MAX_EXAMPLES_PER_CLASS:
            raise TeachStoreError(f"class {label!r} would have more than "
                                  f"{MAX_EXAMPLES_PER_CLASS} examples; delete some first")
        added = [Example(secrets.token_hex(6), label, round(time.time(), 3)) for _ in thumbs]
        for example, thumb in zip(added, thumbs):
            self.pending_thumbs[example.id] = check_thumb(thumb)
        self.vectors = vectors if not self.examples else np.concatenate([self.vectors, vectors])
        self.examples = self.examples + added
        self.refit()
        return added

    def remove(self, example_id: str) -> None:
        index = self._index(example_id)
        self.examples = self.examples[:index] + self.examples[index + 1:]
        self.vectors = np.delete(self.vectors, index, axis=0)
        self.pending_thumbs.pop(example_id, None)
        self.refit()

    def relabel(self, example_id: str, label: str) -> None:
        if label not in self.classes:
            raise TeachStoreError(f"{label!r} is not a class of {self.name!r}")
        index = self._index(example_id)
        self.examples[index] = replace(self.examples[index], label=label)
        self.refit()

    def refit(self) -> None:
        """Fit the head on the examples; without two classes that have examples there is none."""
        counts = self.counts
        if sum(1 for n in counts.values() if n) < 2:
            self.head = None
            self.report = {"counts": counts, "accuracy": None, "class_accuracy": {},
                           "folds": 0, "advice": ["add examples of at least two classes"],
                           "needs_more_examples": True}
            return
        self.head, fitted = fit(self.vectors, [e.label for e in self.examples], self.classes)
        self.report = report_dict(fitted)

    def classify(self, vector: np.ndarray) -> Answer:
        if self.head is None:
            raise TeachStoreError(f"{self.name!r} has no examples of two classes yet")
        return self.head.classify(vector)

    def summary(self) -> dict[str, Any]:
        """What lists and answers show of it (no feature vectors)."""
        return {"name": self.name, "classes": list(self.classes), "region": list(self.region),
                "backbone": dict(self.backbone), "features": dict(self.features),
                "counts": self.counts, "report": self.report, "ready": self.head is not None,
                "created": self.created, "enabled": self.enabled}

    def _index(self, example_id: str) -> int:
        for index, example in enumerate(self.examples):
            if example.id == example_id:
                return index
        raise NoSuchClassifier(f"{self.name!r} has no example {example_id!r}")


def report_dict(report: FitReport) -> dict[str, Any]:
    return {"counts": report.counts, "accuracy": report.accuracy,
            "class_accuracy": report.class_accuracy, "folds": report.folds,
            "advice": list(report.advice), "needs_more_examples": report.needs_more_examples}


def answer_dict(answer: Answer) -> dict[str, Any]:
    """A taught classifier's result, as /api/latest and the websocket carry it under `taught`."""
    return {"label": answer.label, "probability": round(answer.probability, 6),
            "uncertain": answer.uncertain,
            "probabilities": {k: round(v, 6) for k, v in answer.probabilities.items()}}


# ---- checks -----------------------------------------------------------------------------------

def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise TeachStoreError(f"bad classifier name {name!r}: use lower-case letters, digits, "
                              "'_' and '-' (at most 32, starting with a letter or digit)")
    return name


def check_classes(classes: list[str]) -> list[str]:
    classes = list(classes)
    if not 2 <= len(classes) <= MAX_CLASSES:
        raise TeachStoreError(f"a taught classifier has 2 to {MAX_CLASSES} classes, "
                              f"not {len(classes)}")
    for name in classes:
        if not isinstance(name, str) or not CLASS_PATTERN.fullmatch(name) or name == UNKNOWN:
            raise TeachStoreError(f"bad class name {name!r}: letters, digits, spaces, '.', '_' "
                                  f"and '-' (at most 32), and not {UNKNOWN!r}")
    if len(set(classes)) != len(classes):
        raise TeachStoreError(f"class names repeat: {classes}")
    return classes


def check_region(region: Any) -> Region:
    """(x, y, width, height) as fractions of the frame, inside it."""
    try:
        x, y, w, h = (float(v) for v in region)
    except (TypeError, ValueError):
        raise TeachStoreError(f"a region is four numbers x, y, width, height, not {region!r}") \
            from None
    if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 and 0 < h <= 1
            and x + w <= 1 + 1e-9 and y + h <= 1 + 1e-9):
        raise TeachStoreError(f"region {x:g},{y:g},{w:g},{h:g} is not inside the frame "
                              "(fractions: x, y >= 0, width, height > 0, x + width <= 1, "
                              "y + height <= 1)")
    return (x, y, min(w, 1 - x), min(h, 1 - y))


def check_features(features: Any) -> dict[str, Any]:
    try:
        layer, grid = str(features["layer"]), int(features["grid"])
        size = features.get("input_size")
        size = None if size is None else [int(size[0]), int(size[1])]
    except (KeyError, TypeError, ValueError, IndexError):
        raise TeachStoreError(f"a descriptor is a layer, a grid and an input size, not "
                              f"{features!r}") from None
    if not 1 <= grid <= 8 or (size is not None and not all(16 <= s <= 4096 for s in size)):
        raise TeachStoreError(f"descriptor out of range: grid {grid}, input size {size}")
    return {"layer": layer, "grid": grid, "input_size": size}


def check_thumb(data: bytes) -> bytes:
    if not (isinstance(data, bytes) and data.startswith(b"\xff\xd8")
            and len(data) <= MAX_THUMB_BYTES):
        raise TeachStoreError(f"a thumbnail is a JPEG of at most {MAX_THUMB_BYTES} bytes")
    return data


def thumbnail(rgb: np.ndarray, region: Region = WHOLE_FRAME) -> bytes:
    """The small JPEG of an example: the region of an RGB(A) frame, longer side THUMB_SIDE."""
    from PIL import Image
    height, width = rgb.shape[:2]
    x, y, w, h = region
    left, top = int(round(x * width)), int(round(y * height))
    right = max(left + 1, int(round((x + w) * width)))
    bottom = max(top + 1, int(round((y + h) * height)))
    image = Image.fromarray(np.ascontiguousarray(rgb[top:bottom, left:right, :3]))
    image.thumbnail((THUMB_SIDE, THUMB_SIDE))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=THUMB_QUALITY)
    return out.getvalue()


# ---- the store --------------------------------------------------------------------------------

class Store:
    """The taught classifiers under `state_dir/taught`; safe to use from several threads."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = Path(state_dir) / FOLDER
        self._lock = threading.RLock()

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir()
                      if NAME_PATTERN.fullmatch(p.name) and (p / MANIFEST).is_file())

    def exists(self, name: str) -> bool:
        return (self.directory / check_name(name) / MANIFEST).is_file()

    def list(self) -> list[dict[str, Any]]:
        """Each classifier's summary; a damaged one appears with its `error` instead."""
        found = []
        for name in self.names():
            try:
                found.append(self.load(name).summary())
            except TeachStoreError as exc:
                found.append({"name": name, "error": str(exc)})
        return found

    def load(self, name: str) -> TaughtClassifier:
        folder = self.directory / check_name(name)
        with self._lock:
            try:
                manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise NoSuchClassifier(f"no taught classifier {name!r}") from None
            except (OSError, ValueError) as exc:
                raise TeachStorageError(f"taught classifier {name!r} is damaged "
                                        f"({folder / MANIFEST}: {_manifest_problem(exc)})") \
                    from None
            try:
                with np.load(folder / manifest["data"], allow_pickle=False) as data:
                    arrays = {key: data[key] for key in data.files}
                return _from_parts(manifest, arrays, name)
            except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
                raise TeachStorageError(f"taught classifier {name!r} is damaged ({folder}: "
                                        f"{_manifest_problem(exc)})") from None

    def save(self, classifier: TaughtClassifier, *, new: bool = False) -> None:
        """Write atomically (see the module docstring). `new`: refuse when the name is taken
        and when the store is full; otherwise an existing classifier is replaced."""
        with self._lock:
            folder = self.directory / classifier.name
            exists = (folder / MANIFEST).is_file()
            if new and exists:
                raise TeachConflict(f"a taught classifier named {classifier.name!r} exists")
            if not exists and len(self.names()) >= MAX_CLASSIFIERS:
                raise TeachConflict(f"there are {MAX_CLASSIFIERS} taught classifiers already; "
                                    "delete one first")
            try:
                self._write(folder, classifier)
            except OSError as exc:
                raise TeachStorageError(f"cannot store taught classifier {classifier.name!r} "
                                        f"in {folder}: {exc.strerror or exc}") from None

    def delete(self, name: str) -> None:
        folder = self.directory / check_name(name)
        with self._lock:
            if not (folder / MANIFEST).is_file():
                raise NoSuchClassifier(f"no taught classifier {name!r}")
            trash = self.directory / f".{name}.deleted-{secrets.token_hex(4)}"
            os.replace(folder, trash)   # gone in one step; the files follow
            shutil.rmtree(trash, ignore_errors=True)

    def thumb(self, name: str, example_id: str) -> bytes:
        if not EXAMPLE_ID.fullmatch(example_id):
            raise NoSuchClassifier(f"no example {example_id!r}")
        try:
            return (self.directory / check_name(name) / THUMBS / f"{example_id}.jpg").read_bytes()
        except FileNotFoundError:
            raise NoSuchClassifier(f"{name!r} has no example {example_id!r}") from None

    def export(self, name: str) -> bytes:
        """The classifier as one zip: its manifest, data and thumbnails."""
        classifier = self.load(name)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            manifest, arrays = _to_parts(classifier, "data.npz")
            archive.writestr(MANIFEST, json.dumps(manifest, indent=1))
            archive.writestr("data.npz", _npz(arrays))
            for example in classifier.examples:
                archive.writestr(f"{THUMBS}/{example.id}.jpg", self.thumb(name, example.id))
        return out.getvalue()

    def import_(self, data: bytes, name: str | None = None,
                replace: bool = False) -> TaughtClassifier:
        """Read an export (checking every part), store it under `name` (default: its own)."""
        if len(data) > MAX_IMPORT_BYTES:
            raise TeachStoreError(f"an exported classifier is at most {MAX_IMPORT_BYTES >> 20} MiB")
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if sum(i.file_size for i in archive.infolist()) > MAX_IMPORT_BYTES:
                    raise TeachStoreError("the export unpacks to more than "
                                          f"{MAX_IMPORT_BYTES >> 20} MiB")
                manifest = json.loads(archive.read(MANIFEST))
                with np.load(io.BytesIO(archive.read("data.npz")), allow_pickle=False) as npz:
                    arrays = {key: npz[key] for key in npz.files}
                classifier = _from_parts(manifest, arrays, manifest.get("name"))
                for example in classifier.examples:
                    classifier.pending_thumbs[example.id] = check_thumb(
                        archive.read(f"{THUMBS}/{example.id}.jpg"))
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError) as exc:
            raise TeachStoreError(f"not an exported taught classifier: {_manifest_problem(exc)}") \
                from None
        if name is not None:
            classifier.name = check_name(name)
        self.save(classifier, new=not replace)
        return classifier

    def _write(self, folder: Path, classifier: TaughtClassifier) -> None:
        thumbs = folder / THUMBS
        thumbs.mkdir(parents=True, exist_ok=True)
        for example_id, data in classifier.pending_thumbs.items():
            write_atomically(thumbs / f"{example_id}.jpg", data)
        generation = f"data-{secrets.token_hex(4)}.npz"
        manifest, arrays = _to_parts(classifier, generation)
        write_atomically(folder / generation, _npz(arrays))
        write_atomically(folder / MANIFEST, json.dumps(manifest, indent=1).encode())
        fsync_dir(folder)
        classifier.pending_thumbs.clear()
        keep = {f"{e.id}.jpg" for e in classifier.examples}
        for path in thumbs.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)
        for path in folder.glob("data-*.npz"):
            if path.name != generation:
                path.unlink(missing_ok=True)


def _to_parts(classifier: TaughtClassifier, data_name: str) -> tuple[dict, dict]:
    manifest = {
        "format": FORMAT, "name": classifier.name, "classes": classifier.classes,
        "region": list(classifier.region), "backbone": classifier.backbone,
        "features": classifier.features, "created": classifier.created, "data": data_name,
        "enabled": classifier.enabled,
        "examples": [{"id": e.id, "label": e.label, "added": e.added}
                     for e in classifier.examples],
        "report": classifier.report}
    arrays = {"vectors": np.asarray(classifier.vectors, np.float32)}
    head = classifier.head
    if head is not None:
        arrays.update(mean=head.mean, scale=head.scale, weights=head.weights, bias=head.bias,
                      threshold=np.float64(head.threshold))
    return manifest, arrays


def _from_parts(manifest: dict, arrays: dict, name: Any) -> TaughtClassifier:
    if manifest.get("format") != FORMAT:
        raise ValueError(f"format {manifest.get('format')!r}, expected {FORMAT}")
    examples = [Example(str(e["id"]), str(e["label"]), float(e["added"]))
                for e in manifest["examples"]]
    classifier = TaughtClassifier(
        name=name, classes=manifest["classes"], region=tuple(manifest["region"]),
        backbone={key: str(value) for key, value in manifest["backbone"].items()
                  if key in ("name", "sha256", "path")},
        features=manifest["features"], created=float(manifest["created"]))
    enabled = manifest.get("enabled", True)  # written since switching off came
    if not isinstance(enabled, bool):
        raise ValueError(f"enabled is {enabled!r}, not true or false")
    classifier.enabled = enabled
    vectors = np.asarray(arrays["vectors"], np.float32)
    ids = [e.id for e in examples]
    if (any(not EXAMPLE_ID.fullmatch(i) for i in ids) or len(set(ids)) != len(ids)
            or any(e.label not in classifier.classes for e in examples)):
        raise ValueError("the examples' ids or labels are not valid")
    if vectors.ndim != 2 or len(vectors) != len(examples) or not np.all(np.isfinite(vectors)) \
            or vectors.shape[1] > MAX_DIMENSION:
        raise ValueError(f"feature vectors of shape {vectors.shape} for {len(examples)} examples")
    if any(n > MAX_EXAMPLES_PER_CLASS for n in
           (sum(e.label == c for e in examples) for c in classifier.classes)):
        raise ValueError(f"more than {MAX_EXAMPLES_PER_CLASS} examples in a class")
    classifier.examples, classifier.vectors = examples, vectors
    classifier.report = manifest.get("report")
    if "weights" in arrays:
        head = Head(tuple(classifier.classes), arrays["mean"], arrays["scale"], arrays["weights"],
                    arrays["bias"], float(arrays["threshold"]))
        d, c = vectors.shape[1], len(classifier.classes)
        if (head.mean.shape != (d,) or head.scale.shape != (d,) or head.weights.shape != (d, c)
                or head.bias.shape != (c,)):
            raise ValueError("the head does not fit the examples")
        classifier.head = head
    return classifier


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _manifest_problem(exc: Exception) -> str:
    """What is wrong with an export or a stored classifier, in words: Python's own messages
    for a manifest of the wrong shape ("'NoneType' object has no attribute ...") are no help
    to a person."""
    if isinstance(exc, OSError):
        return in_words(exc)
    if isinstance(exc, zipfile.BadZipFile):  # the export's own zip, or the arrays' inside it
        return "not a zip file, or a part of it is damaged"
    if isinstance(exc, json.JSONDecodeError):
        return f"its {MANIFEST} is not JSON ({exc.msg} at line {exc.lineno})"
    if isinstance(exc, KeyError):  # zipfile says which part is missing; a dict only the key
        missing = str(exc.args[0]) if exc.args else ""
        return missing if " " in missing else f"its {MANIFEST} lacks {missing!r}"
    if isinstance(exc, (TypeError, AttributeError)):
        return f"its {MANIFEST} does not have the fields of an export"
    return str(exc)
