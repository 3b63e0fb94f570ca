"""Feature vectors for few-shot use: one layer of a model's maps, averaged over a grid of
cells on the GPU, read back as a short vector.

A feature extractor is the model truncated after the layer (only the ops the layer depends
on), at an input size of its own, ending in a grid_pooling op: the pooled texture is the only
read-back, and nothing reuses the layer's texture before the pooling reads it (the pooling is
the plan's last op). The sampler takes a region of the frame per call, as uniforms.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_engine.context import GLContext
from gpu_engine.errors import ModelError
from gpu_engine.listing import format_listing, parse_listing
from gpu_engine.model import Model, build_model
from gpu_engine.ops.base import CODES
from gpu_engine.ops.grid_pooling import GridPooling
from gpu_engine.ops.image_sampler import Region
from gpu_engine.selftest import SelfTestReport, run_self_test


@dataclass(frozen=True)
class FeatureSpec:
    """Which descriptor: the 8-bit map of op `layer`, averaged over a `grid`×`grid` split, with
    the model's input at `input_size` (width, height; None: the model's own)."""

    layer: str
    grid: int
    input_size: tuple[int, int] | None = None


def feature_model(model: Model, spec: FeatureSpec) -> Model:
    """The feature extractor of `model` for `spec`; a ModelError says why there is none."""
    ops = {op.name: op for op in model.ops}
    layer = ops.get(spec.layer)
    maps = [op.name for op in model.ops[1:] if op.OUTPUT == CODES and op.ON_GPU]
    if layer is None or layer.name not in maps:
        raise ModelError(f"model {model.name!r} has no 8-bit map named {spec.layer!r} to pool "
                         f"(its maps: {', '.join(maps)})")
    keep = {layer.name}
    for op in reversed(model.ops):
        if op.name in keep:
            keep.update(c.source for c in op.inputs.values())
    chapters = parse_listing(model.description)
    pooling = f"{layer.name}-grid{spec.grid}"
    while pooling in ops:
        pooling += "-features"
    blocks = [block for block in chapters["ops"] if block["_name"] in keep]
    blocks.append({"_name": pooling, "_type": GridPooling.TYPE, "grid": str(spec.grid)})
    if spec.input_size is not None:
        width, height = spec.input_size
        sampler = next(block for block in blocks if block["_name"] == model.sampler.name)
        sampler["output_width"], sampler["output_height"] = str(int(width)), str(int(height))
    chapters["ops"] = blocks
    chapters["connections"] = [c for c in chapters["connections"]
                               if c.get("from") in keep and c.get("to") in keep]
    chapters["connections"].append({"from": layer.name, "to": pooling})
    chunks = {key: data for key, data in model.chunks().items()
              if key.rpartition("/")[0] in keep}
    chunks[""] = format_listing(chapters).encode("ascii")
    size = "x".join(map(str, spec.input_size or model.input_size))
    return build_model(chunks, f"{model.name} {layer.name} grid {spec.grid} at {size}")


class Embedder:
    """Runs a feature extractor in the context of the engine that made it (Engine.embedder),
    so call it from that engine's thread."""

    def __init__(self, model: Model, spec: FeatureSpec, context: GLContext):
        from gpu_engine.runtime import Engine
        self.spec = spec
        self.model = feature_model(model, spec)
        self._context = context
        self._engine: Engine | None = Engine(self.model, context=context)

    @property
    def dimension(self) -> int:
        """Values per vector: grid × grid cells of the layer's channels."""
        return int(np.prod(self.model.ops[-1].shape))

    def _live(self):
        if self._engine is None:
            raise RuntimeError("this embedder has been released")
        return self._engine

    def embed_rgb(self, rgb: np.ndarray, region: Region | None = None) -> np.ndarray:
        """The feature vector of an RGB(A) uint8 frame, or of `region` of it (x, y, width,
        height as fractions of the frame): float32 codes/255, cell by cell, channels in the
        layer's order."""
        return self._live().classify_rgb(rgb, region)

    def embed_yuv420(self, y: np.ndarray, u: np.ndarray, v: np.ndarray,
                     region: Region | None = None) -> np.ndarray:
        """As embed_rgb, for a YUV420 frame (three planes)."""
        return self._live().classify_yuv420(y, u, v, region)

    def self_test(self) -> SelfTestReport:
        """The GPU self-test of the feature extractor (its probe runs in the same context)."""
        self._live()
        return run_self_test(self.model, self._context)

    def release(self) -> None:
        """Free the extractor's GL objects (the context stays its engine's); idempotent."""
        if self._engine is not None:
            self._engine.release()
            self._engine = None
