"""Taught classifiers on the GPU: their descriptors, computed on the engine of their backbone.

One `Embedders` belongs to one engine and its thread (the CLI's, or the inference worker's):
it makes one gpu_engine embedder per descriptor the first time a classifier needs it, so
several taught classifiers with the same descriptor share it, and releases them all with it.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from app.teach.store import DEFAULT_FEATURES, Region, TaughtClassifier, TeachStoreError

REGION_WHOLE = (0.0, 0.0, 1.0, 1.0)


def file_sha256(path: str | Path) -> str:
    """The backbone's identity: a taught classifier runs only on the very model it was taught on."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            hasher.update(block)
    return hasher.hexdigest()


def find_backbone(classifier: TaughtClassifier) -> Path | None:
    """The model file a classifier was taught on: the installed model of its name, else the
    file it was taught from, whichever has its sha256; None when neither has."""
    from app.models.store import resolve_model_path
    for path in (resolve_model_path(classifier.backbone["name"]),
                 Path(classifier.backbone.get("path", ""))):
        if path.is_file() and file_sha256(path) == classifier.backbone["sha256"]:
            return path
    return None


def descriptor_for(model: Any) -> dict[str, Any]:
    """The descriptor a new taught classifier of `model` uses: DEFAULT_FEATURES where the model
    has that map (the dog classifier), else its last 8-bit map on a 1x1 grid."""
    from gpu_engine.ops.base import CODES
    maps = [op.name for op in model.ops[1:] if op.OUTPUT == CODES and op.ON_GPU]
    if not maps:
        raise TeachStoreError(f"model {model.name!r} has no map to teach on")
    if DEFAULT_FEATURES["layer"] in maps:
        return dict(DEFAULT_FEATURES)
    return {"layer": maps[-1], "grid": 1, "input_size": None}


class Embedders:
    """Feature vectors of frames for taught classifiers, on one engine (call from its thread)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._made: dict[tuple, Any] = {}

    def get(self, features: dict[str, Any]) -> Any:
        """The embedder of a descriptor (layer, grid, input_size), made once."""
        from gpu_engine import FeatureSpec, ModelError
        size = features.get("input_size")
        key = (features["layer"], int(features["grid"]), None if size is None else tuple(size))
        if key not in self._made:
            try:
                self._made[key] = self.engine.embedder(FeatureSpec(*key))
            except ModelError as exc:
                raise TeachStoreError(f"descriptor {key[0]} grid {key[1]}: {exc}") from None
        return self._made[key]

    def embed_rgb(self, features: dict[str, Any], rgb: np.ndarray,
                  region: Region = REGION_WHOLE) -> np.ndarray:
        return np.asarray(self.get(features).embed_rgb(rgb, _region(region)), np.float32)

    def embed_yuv420(self, features: dict[str, Any], planes: tuple[np.ndarray, ...],
                     region: Region = REGION_WHOLE) -> np.ndarray:
        return np.asarray(self.get(features).embed_yuv420(*planes, _region(region)), np.float32)

    def release(self) -> None:
        for embedder in self._made.values():
            embedder.release()
        self._made.clear()


def _region(region: Region) -> Region | None:
    return None if tuple(region) == REGION_WHOLE else tuple(region)


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A half-size RGB picture of a YUV420 frame (BT.601, full range): enough for a thumbnail."""
    height, width = u.shape[:2]
    luma = y[: 2 * height: 2, : 2 * width: 2].astype(np.float32)
    cb, cr = u.astype(np.float32) - 128.0, v.astype(np.float32) - 128.0
    rgb = np.stack([luma + 1.402 * cr, luma - 0.344136 * cb - 0.714136 * cr,
                    luma + 1.772 * cb], axis=-1)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
