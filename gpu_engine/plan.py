"""The GPU plan of a model: where every tensor lives and the list of draw passes.

Pure data, no GL: the profile check and the benchmark figures read it without a context,
and the runtime turns it into textures, framebuffers and draw calls once.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gpu_engine.ops.base import Shape

QUADS, FLAT = "quads", "flat"


@dataclass
class Layout:
    """Storage of one 8-bit tensor.

    'quads': one RGBA texture per 4 channels, each with a zero border of `border` texels that
    the consumers' padding reads (cleared once, never drawn). 'flat': one texture of W × (H·Q)
    texels, quad q in rows q·H … q·H+H−1, the input format of the dense layer.
    """

    name: str
    shape: Shape
    kind: str = QUADS
    border: int = 0

    @property
    def quads(self) -> int:
        return -(-self.shape[2] // 4)

    @property
    def texture_count(self) -> int:
        return self.quads if self.kind == QUADS else 1

    @property
    def texture_size(self) -> tuple[int, int]:
        h, w, _ = self.shape
        if self.kind == QUADS:
            return w + 2 * self.border, h + 2 * self.border
        return w, h * self.quads

    def quad(self, q: int) -> tuple[TextureRef, tuple[int, int]]:
        """Texture holding quad q and the texel origin of its row 0, column 0."""
        if self.kind == QUADS:
            return TextureRef(self.name, q), (self.border, self.border)
        return TextureRef(self.name, 0), (0, q * self.shape[0])


@dataclass(frozen=True)
class TextureRef:
    tensor: str
    index: int = 0


@dataclass
class Constant:
    """A texture filled once at start-up (the dense layer's fixed-point weights)."""

    name: str
    data: np.ndarray  # rows × columns × 4, uint8


@dataclass
class Pass:
    """One draw: a shader variant writing a viewport of one texture from bound textures."""

    op: str
    shader: str
    defines: tuple[tuple[str, int], ...]
    target: TextureRef
    viewport: tuple[int, int, int, int]
    samplers: list[tuple[str, TextureRef]]
    uniforms: dict[str, np.ndarray] = field(default_factory=dict)
    fetches_per_fragment: int = 0
    uniform_vectors: int = 0

    @property
    def program_key(self) -> tuple:
        return (self.shader, self.defines)

    @property
    def fragments(self) -> int:
        return self.viewport[2] * self.viewport[3]


@dataclass
class Plan:
    layouts: dict[str, Layout]
    passes: list[Pass]
    constants: dict[str, Constant]
    logits: TextureRef
    logits_count: int

    def texel_fetches(self) -> int:
        return sum(p.fragments * p.fetches_per_fragment for p in self.passes)

    def texture_bytes(self) -> int:
        total = sum(c.data.size for c in self.constants.values())
        for layout in self.layouts.values():
            w, h = layout.texture_size
            total += 4 * w * h * layout.texture_count
        return total


def vec(*values: float) -> np.ndarray:
    return np.array(values, np.float32)
