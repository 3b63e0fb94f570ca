"""The GPU plan of a model: textures, where every tensor lives in them, programs and draws.

Pure data, no GL: the profile check, the vc4 cost report and the benchmark figures read it
without a context; the runtime turns it into GL objects once and replays `passes` per frame.

The contract with the runtime:
- `textures`: every RGBA8 texture to allocate, zero-filled unless `data` is given (constant
  weights). A texture some pass draws into (`Texture.target`) gets one framebuffer, whose
  viewport is the whole texture.
- `programs`: compiled once. A program's vertex attributes are float vec2/vec4 read from
  per-pass vertex data in declaration order (`Program.attributes`); its samplers are bound to
  texture units 0, 1, ... in `Program.samplers` order; `Program.params` names a `vec4` array
  uniform written once per pass (or None: the program has no per-pass uniform).
- `passes`: drawn in order, each `glDrawArrays(GL_TRIANGLES, …, 6·k)` of its own vertices
  (k rectangles in clip space of the target texture, fragments exactly the rectangles' texels).
  `Pass.textures` lists the textures bound to units 0, 1, …; `Pass.params` the values of the
  program's params array. Textures named `frame:N` are the frame's planes (per frame).
- `frame_passes`: the image sampler's pass per frame format ("rgb", "yuv420"); its params
  come from `frame_params(width, height, region=None)` per frame (`region`: x, y, width,
  height as fractions of the frame, in place of the sampler's own crop).
- `readback`: texture and rectangle holding the logits; `decode(texels)` turns the read
  RGBA bytes (rows × columns × 4) into logits; `finish(logits)` runs the ops left to the CPU.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gpu_engine.ops.base import Shape

FRAME = "frame"


@dataclass(frozen=True)
class Tile:
    """Where one quad (4 channels) of a tensor lives: texture and texel origin of pixel (0, 0)."""

    texture: str
    x: int
    y: int


@dataclass
class Texture:
    name: str
    width: int
    height: int
    components: int = 4
    data: np.ndarray | None = None  # rows × columns × 4 uint8, filled once
    target: bool = False            # drawn into: it gets a framebuffer
    key: tuple = ()                 # the planner's reuse key: size and tile places

    @property
    def bytes(self) -> int:
        return self.width * self.height * self.components


@dataclass
class TensorLayout:
    """An 8-bit tensor H×W×C as C/4 tiles, each surrounded by at least `border` zero texels
    (shared between neighbouring tiles) that consumers' padding reads; never drawn."""

    name: str
    shape: Shape
    border: int
    tiles: list[Tile]

    @property
    def quads(self) -> int:
        return len(self.tiles)

    def rect(self, q: int) -> tuple[int, int, int, int]:
        tile = self.tiles[q]
        return tile.x, tile.y, self.shape[1], self.shape[0]


@dataclass
class Program:
    key: str
    vertex_source: str
    fragment_source: str
    attributes: tuple[tuple[str, int], ...]  # (name, components), in vertex-data order
    samplers: tuple[str, ...]
    params: str | None = None
    params_count: int = 0
    kernel: str = ""  # the shaders/ file it was made from

    @property
    def vertex_floats(self) -> int:
        return sum(size for _, size in self.attributes)


@dataclass
class Pass:
    """One draw call: rectangles of one target texture, computed by one program."""

    op: str
    program: str
    target: str
    rects: list[tuple[int, int, int, int]]
    textures: tuple[str, ...]
    vertices: np.ndarray  # (6·len(rects)) × program.vertex_floats, float32
    params: np.ndarray | None = None  # program.params_count × 4, float32
    fetches_per_fragment: int = 0

    @property
    def program_key(self) -> str:
        return self.program

    @property
    def fragments(self) -> int:
        return sum(w * h for _, _, w, h in self.rects)

    @property
    def vertex_count(self) -> int:
        return 6 * len(self.rects)


@dataclass
class Plan:
    textures: dict[str, Texture]
    tensors: dict[str, TensorLayout]
    programs: dict[str, Program]
    passes: list[Pass]
    frame_passes: dict[str, Pass]
    frame_params: Callable[..., np.ndarray]
    readback: tuple[str, tuple[int, int, int, int]]
    decode: Callable[[np.ndarray], np.ndarray]
    finish: Callable[[np.ndarray], np.ndarray]
    notes: dict[str, int] = field(default_factory=dict)

    def texel_fetches(self) -> int:
        return sum(p.fragments * p.fetches_per_fragment for p in self.passes)

    def texture_bytes(self) -> int:
        return sum(t.bytes for t in self.textures.values())

    def framebuffer_binds(self) -> int:
        """Target changes along the pass list (the first pass binds too)."""
        binds, current = 0, None
        for gpu_pass in self.passes:
            if gpu_pass.target != current:
                binds, current = binds + 1, gpu_pass.target
        return binds


def vec(*values: float) -> np.ndarray:
    return np.array(values, np.float32)


@dataclass(frozen=True)
class Affine:
    """A vec2 attribute that varies linearly over a rectangle: its value at the centre of the
    rectangle's texel (i, j) is origin + i·along_x + j·along_y."""

    origin: tuple[float, float]
    along_x: tuple[float, float] = (0.0, 0.0)
    along_y: tuple[float, float] = (0.0, 0.0)

    def at(self, u: float, v: float) -> tuple[float, float]:
        """Value at a rectangle corner (u, v in texels from the rectangle's origin)."""
        i, j = u - 0.5, v - 0.5
        return (self.origin[0] + i * self.along_x[0] + j * self.along_y[0],
                self.origin[1] + i * self.along_x[1] + j * self.along_y[1])


def sampling(texture: Texture, x: float, y: float, step: int = 1) -> Affine:
    """Texture coordinates of texel (x, y) for the rectangle's texel (0, 0), moving `step`
    texels per output texel."""
    return Affine(((x + 0.5) / texture.width, (y + 0.5) / texture.height),
                  (step / texture.width, 0.0), (0.0, step / texture.height))


# Corner order of the two triangles of a rectangle.
_CORNERS = ((0, 0), (1, 0), (0, 1), (1, 0), (1, 1), (0, 1))


def rectangle_vertices(target: Texture, rect: tuple[int, int, int, int],
                       attributes: list[Affine]) -> np.ndarray:
    """Six vertices covering `rect` of `target` in clip space, each followed by the vec2 values
    of `attributes` (packed two to a vec4 by the order the program declares them)."""
    x, y, w, h = rect
    rows = []
    for cu, cv in _CORNERS:
        u, v = cu * w, cv * h
        row = [2.0 * (x + u) / target.width - 1.0, 2.0 * (y + v) / target.height - 1.0]
        for attribute in attributes:
            row.extend(attribute.at(u, v))
        rows.append(row)
    return np.array(rows, np.float32)


def vector(values) -> str:
    """A GLSL vec4 literal of four float32 values."""
    return f"vec4({', '.join(literal(v) for v in values)})"


def literal(value: float) -> str:
    """A GLSL float literal that reads back as the same float32."""
    text = repr(float(np.float32(value)))
    return text if ("." in text or "e" in text) else text + ".0"
