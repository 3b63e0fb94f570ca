"""The service's taught classifiers: the store, which of them run, and their examples.

`Teaching` is what the web layer asks (app.api.port.TeachingPort): every answer is plain data,
every refusal one of app.teach.store's errors (app/api/errors.py maps them). Feature vectors
are computed by the inference worker, on its engine; the store is changed here, one change at
a time, and each change is handed to the worker at once.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from app.errors import Unavailable
from app.teach.store import (WHOLE_FRAME, NoSuchClassifier, Region, Store, TaughtClassifier,
                             TeachStoreError)
from app.worker import InferenceWorker

log = logging.getLogger(__name__)


class Teaching:
    def __init__(self, store: Store, worker: InferenceWorker, active: tuple[str, ...]) -> None:
        """`active`: the names of the classifiers to run (teach.active), "*" for all."""
        self.store, self.worker, self.active_names = store, worker, active
        self._lock = threading.Lock()  # one change at a time: load, change, save, activate
        # every classifier that loads, running or not: name -> {"classes": [...], "region":
        # (x, y, w, h)}; replaced (never changed in place) on each change, so outputs read it
        # from any thread without a disk access (app.outputs.base.ServiceView.taught_stored)
        self.stored: dict[str, dict[str, Any]] = {}

    def activate(self) -> None:
        """Hand the classifiers that run, as stored now, to the worker: those `teach.active`
        names that are not switched off; and note every stored one for the outputs."""
        running, stored = {}, {}
        for name in self.store.names():
            try:
                classifier = self.store.load(name)
            except TeachStoreError as exc:
                log.error("taught classifier %s is left out: %s", name, exc)
                continue
            stored[name] = {"classes": list(classifier.classes),
                            "region": tuple(classifier.region)}
            if classifier.enabled and self._configured(name):
                running[name] = classifier
        self.worker.set_taught(running)
        self.stored = stored

    def list(self) -> dict[str, Any]:
        classifiers = [self._status(entry) for entry in self.store.list()]
        return {"classifiers": classifiers, "active": [c["name"] for c in classifiers
                                                       if c["active"]]}

    def get(self, name: str) -> dict[str, Any]:
        classifier = self.store.load(name)
        return {**self._status(classifier.summary()),
                "examples": [{"id": e.id, "label": e.label, "added": e.added,
                              "thumb": f"/api/teach/{name}/examples/{e.id}.jpg"}
                             for e in classifier.examples]}

    def create(self, name: str, classes: list[str],
               region: Region | None = None) -> dict[str, Any]:
        """A new classifier on the service's model, without examples yet."""
        if self.worker.model_sha256 is None or self.worker.teach_features is None:
            raise Unavailable("the model is not loaded yet: a taught classifier is made on it")
        classifier = TaughtClassifier(
            name=name, classes=classes, region=WHOLE_FRAME if region is None else region,
            backbone={"name": self.worker.model_info["name"], "sha256": self.worker.model_sha256,
                      "path": str(self.worker.model_path)},
            features=self.worker.teach_features)
        classifier.refit()
        with self._lock:
            self.store.save(classifier, new=True)
            self.activate()
        return self.get(name)

    def switch(self, name: str, active: bool) -> dict[str, Any]:
        """Switch a classifier on or off: kept in its stored state (a restart keeps it), taken
        up by the worker before its next frame."""
        def change(classifier: TaughtClassifier) -> None:
            classifier.enabled = active
        return self._change(name, change)

    def delete(self, name: str) -> dict[str, Any]:
        with self._lock:
            self.store.delete(name)
            self.activate()
        return {"deleted": name}

    def embed(self, name: str, label: str,
              rgb: np.ndarray | None = None) -> concurrent.futures.Future:
        """Queue the feature vector and thumbnail of a new example of `label` (of `rgb`, or of
        the newest camera frame) on the worker; checked first, so a bad request costs no GPU."""
        classifier = self.store.load(name)
        if label not in classifier.classes:
            raise TeachStoreError(f"{label!r} is not a class of {name!r} "
                                  f"(its classes: {', '.join(classifier.classes)})")
        return self.worker.embed_example(classifier.features, classifier.region, rgb)

    def add_example(self, name: str, label: str, vector: np.ndarray,
                    thumb: bytes) -> dict[str, Any]:
        """Store an embedded example, refit, and report the accuracy. Blocking (disk)."""
        with self._lock:
            return self._add(self.store.load(name), label, vector, thumb)

    def delete_example(self, name: str, example_id: str) -> dict[str, Any]:
        return self._change(name, lambda c: c.remove(example_id))

    def relabel_example(self, name: str, example_id: str, label: str) -> dict[str, Any]:
        return self._change(name, lambda c: c.relabel(example_id, label))

    def review(self, name: str) -> dict[str, Any]:
        """The frames it was recently unsure of, newest first (empty while it does not run)."""
        self._known(name)
        return {"items": [item.to_dict(name) for item in self.worker.review.items(name)]}

    def review_thumb(self, name: str, item_id: str) -> bytes:
        self._known(name)
        return self.worker.review.get(name, item_id).thumb

    def label_review(self, name: str, item_id: str, label: str) -> dict[str, Any]:
        """A reviewed frame becomes an example of `label`, with the feature vector it was
        classified with (no second GPU pass); answers as adding an example does. Blocking."""
        with self._lock:  # a frame is labelled once, and not while it is dismissed
            classifier = self.store.load(name)
            if label not in classifier.classes:
                raise TeachStoreError(f"{label!r} is not a class of {name!r} "
                                      f"(its classes: {', '.join(classifier.classes)})")
            item = self.worker.review.get(name, item_id)
            added = self._add(classifier, label, item.vector, item.thumb)
            self.worker.review.remove(name, item_id)
        return added

    def dismiss_review(self, name: str, item_id: str) -> dict[str, Any]:
        self._known(name)
        with self._lock:
            self.worker.review.remove(name, item_id)
        return {"deleted": item_id}

    def thumb(self, name: str, example_id: str) -> bytes:
        return self.store.thumb(name, example_id)

    def export(self, name: str) -> bytes:
        return self.store.export(name)

    def import_(self, data: bytes, name: str | None = None,
                replace: bool = False) -> dict[str, Any]:
        with self._lock:
            classifier = self.store.import_(data, name, replace)
            self.activate()
        return self.get(classifier.name)

    def _add(self, classifier: TaughtClassifier, label: str, vector: np.ndarray,
             thumb: bytes) -> dict[str, Any]:
        """Add one example, store, run the result; with self._lock held."""
        (example,) = classifier.add(label, vector[None, :], [thumb])
        self.store.save(classifier)
        self.activate()
        return {"example": {"id": example.id, "label": label, "added": example.added,
                            "thumb": f"/api/teach/{classifier.name}/examples/{example.id}.jpg"},
                **self._status(classifier.summary())}

    def _change(self, name: str, change: Callable[[TaughtClassifier], None]) -> dict[str, Any]:
        with self._lock:
            classifier = self.store.load(name)
            change(classifier)
            self.store.save(classifier)
            self.activate()
        return self._status(classifier.summary())

    def _status(self, summary: dict[str, Any]) -> dict[str, Any]:
        """A summary with whether it runs, why not, and its newest result."""
        name = summary["name"]
        active = self._configured(name) and summary.get("enabled", False)
        error = summary.get("error") or self.worker.taught_errors.get(name)
        return {**summary, "active": active and error is None, "error": error,
                "result": self.worker.taught_results.get(name)}

    def _known(self, name: str) -> None:
        if not self.store.exists(name):
            raise NoSuchClassifier(f"no taught classifier {name!r}")

    def _configured(self, name: str) -> bool:
        """Whether `teach.active` names it."""
        return "*" in self.active_names or name in self.active_names

