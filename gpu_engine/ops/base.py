"""What every operation shares: typed reads of description values and the op record."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from gpu_engine.errors import ModelError

Shape = tuple[int, int, int]  # rows, columns, channels

MAIN, RESIDUAL = 0, 1
LEVELS = ("float", "gl", "gles2")


@dataclass(frozen=True)
class Connection:
    """Where one input of an op comes from, and the quad shuffle applied on the way."""

    source: str
    shuffle: int = 0


@dataclass(frozen=True)
class WeightChunk:
    """One parameter chunk an op reads: float32 little-endian values (spec §3), its id
    `<op name>/<key>`."""

    key: str
    shape: tuple[int, ...]
    fan_in: int = 0  # inputs each value multiplies (0: a bias), the scale of random weights

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


# What an op's output is, for the graph checks: which op may read which.
IMAGE, CODES, LOGITS, PROBABILITIES = "image", "codes", "logits", "probabilities"
FEATURES = "features"  # 8-bit codes read back as a feature vector (a feature extractor's end)
FINAL_OUTPUTS = (LOGITS, PROBABILITIES, FEATURES)  # what a model's last op may produce


@dataclass
class Op:
    """An operation of the graph: parsed parameters, inputs and (once known) its output shape.

    The one interface every op implements (one module per op, nothing else knows op types):
    `parse` (description block -> op), `infer_shape`, `weight_chunks` (the parameter chunks
    it reads, which `load_weights` and `encode_weights` follow), `reference` (the NumPy
    oracle), what it reads (`accepts`) and writes (`OUTPUT`), the zero border it reads around
    an input (`border_needed`), and `plan`, which adds its programs and passes to the GPU plan.
    """

    TYPE: ClassVar[str] = ""
    INPUTS: ClassVar[tuple[int, ...]] = (MAIN,)
    OUTPUT: ClassVar[str] = CODES
    ON_GPU: ClassVar[bool] = True        # False: runs on the CPU after the read-back
    STORES_CODES: ClassVar[bool] = True  # its output is an 8-bit tensor in tiles

    name: str
    inputs: dict[int, Connection] = field(default_factory=dict)
    shape: Shape = (0, 0, 0)

    @classmethod
    def parse(cls, name: str, params: Params) -> Op:
        raise NotImplementedError

    def error(self, problem: str) -> ModelError:
        return ModelError(f"op {self.name!r} ({self.TYPE}): {problem}")

    def infer_shape(self, inputs: dict[int, Shape]) -> Shape:
        raise NotImplementedError

    def weight_chunks(self) -> list[WeightChunk]:
        """The parameter chunks the op reads, once its input shape is known (`infer_shape`):
        loading, the self-test's probe, the test builder and the training export all go by
        this one declaration. Ops without parameters have none."""
        return []

    def set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        """Take the arrays of `weight_chunks` by key, shaped as declared."""

    def weight_arrays(self) -> dict[str, np.ndarray]:
        """The arrays the op holds, by the keys of `weight_chunks`."""
        return {}

    def load_weights(self, chunks: dict[str, bytes], where: str) -> None:
        """Read the op's parameter chunks as `weight_chunks` declares them."""
        self.set_weights({c.key: float_array(chunks, f"{self.name}/{c.key}", c.size,
                                             where).reshape(c.shape)
                          for c in self.weight_chunks()})

    def encode_weights(self, arrays: dict[str, np.ndarray]) -> list[tuple[str, bytes]]:
        """The chunkfile records of `arrays` (by key) as `weight_chunks` declares them; a
        missing, extra or wrongly shaped array is a ValueError."""
        declared = self.weight_chunks()
        extra = set(arrays) - {c.key for c in declared}
        if extra:
            raise ValueError(f"op {self.name!r} ({self.TYPE}) has no parameter chunk "
                             f"{', '.join(sorted(extra))}")
        records = []
        for chunk in declared:
            if chunk.key not in arrays:
                raise ValueError(f"op {self.name!r} ({self.TYPE}): {chunk.key!r} is missing")
            array = np.asarray(arrays[chunk.key])
            if array.shape != chunk.shape:
                raise ValueError(f"op {self.name!r} ({self.TYPE}): {chunk.key!r} has shape "
                                 f"{array.shape}, expected {chunk.shape}")
            records.append((f"{self.name}/{chunk.key}",
                            np.ascontiguousarray(array, "<f4").tobytes()))
        return records

    def reference(self, inputs: dict[int, np.ndarray], level: str) -> np.ndarray:
        raise NotImplementedError

    def accepts(self, slot: int) -> tuple[str, ...]:
        """Output kinds this input slot can read."""
        return (CODES,)

    def border_needed(self, slot: int, shape: Shape) -> int:
        """Zero texels this op reads beyond the edges of the input in `slot` (of `shape`)."""
        return 0

    def quads_together(self, slot: int) -> int:
        """How many consecutive quads of this input (in the order it sees them) one fragment
        reads: the planner puts them at one position of as many textures."""
        return 1

    def needs_row(self, slot: int) -> bool:
        """Whether this input's tiles must lie in one row of one texture (flat readers)."""
        return False

    def plan(self, builder) -> None:
        """Add this op's textures, programs and passes to the plan (planner.PlanBuilder)."""
        raise NotImplementedError

    def multiply_adds(self) -> int:
        return 0

    def parameters(self) -> int:
        return 0


class Params:
    """Typed access to one description block, with the format's own reading rules (§2.1)."""

    def __init__(self, block: dict[str, str], where: str):
        self.block = block
        self.where = where

    def _raw(self, key: str, default: str | None) -> str:
        if key in self.block:
            return self.block[key]
        if default is None:
            raise ModelError(f"{self.where}: required key {key!r} is missing")
        return default

    def int(self, key: str, default: int | None = None, minimum: int = 1,
            maximum: int = 1 << 16) -> int:
        raw = self._raw(key, None if default is None else str(default))
        match = re.match(r"\s*[+-]?\d+", raw)  # C atoi: leading integer, garbage reads as 0
        value = int(match.group()) if match else 0
        if not minimum <= value <= maximum:
            raise ModelError(f"{self.where}: {key} = {raw!r} is out of range "
                             f"[{minimum}, {maximum}]")
        return value

    def bool(self, key: str, default: bool | None = None) -> bool:
        raw = self._raw(key, None if default is None else ("true" if default else "false"))
        return raw == "true"

    def choice(self, key: str, options: tuple[str, ...], default: str | None = None) -> str:
        raw = self._raw(key, default).lower()
        if raw not in options:
            raise ModelError(f"{self.where}: {key} = {raw!r} is not one of {', '.join(options)}")
        return raw


def float_array(chunks: dict[str, bytes], chunk_id: str, count: int, where: str) -> np.ndarray:
    """A float32 little-endian array chunk of exactly `count` values, checked for NaN/inf."""
    if chunk_id not in chunks:
        raise ModelError(f"{where}: chunk {chunk_id!r} is missing")
    data = chunks[chunk_id]
    if len(data) != 4 * count:
        raise ModelError(f"{where}: chunk {chunk_id!r} holds {len(data)} bytes, expected "
                         f"{4 * count} ({count} float32 values)")
    array = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise ModelError(f"{where}: chunk {chunk_id!r} contains NaN or infinite values")
    return array


def quantize(values: np.ndarray) -> np.ndarray:
    """The RGBA8 render target: clamp to [0, 1], round to the nearest code; a later read of it
    sees the float32 value code/255, as a highp sampler returns it."""
    codes = np.floor(np.clip(values, 0.0, 1.0) * 255.0 + 0.5)
    return (codes.astype(np.float32) / np.float32(255)).astype(np.float64)


def to_codes(values: np.ndarray) -> np.ndarray:
    """8-bit codes of stored activation values."""
    return np.floor(np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
