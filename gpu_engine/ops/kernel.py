"""What the ops' GPU plans share: texture positions handed to kernels as vertex attributes,
and the Program/Pass records for a kernel file filled in per variant."""
from __future__ import annotations

import numpy as np

from gpu_engine import shader_source
from gpu_engine.plan import Affine, Pass, Program, Texture, literal, rectangle_vertices


def coordinate_attributes(count: int) -> tuple[tuple[str, int], ...]:
    """`count` vec2 positions packed two to a vec4 attribute (vc4 has 8 attributes, 8 varyings)."""
    attributes = [("aPosition", 2)]
    for index in range(0, count, 2):
        attributes.append((f"aCoord{index // 2}", 4 if index + 1 < count else 2))
    return tuple(attributes)


def coordinate(index: int, count: int) -> str:
    """The GLSL expression of position `index` of `count` packed by coordinate_attributes."""
    name = f"vCoord{index // 2}"
    if index % 2:
        return f"{name}.zw"
    return f"{name}.xy" if index + 1 < count else name


def offset(base: str, dx: int, dy: int, texture: Texture) -> str:
    """`base` moved by (dx, dy) texels of `texture`, the step folded into a literal."""
    if dx == 0 and dy == 0:
        return base
    return f"{base} + vec2({literal(dx / texture.width)}, {literal(dy / texture.height)})"


def program(key: str, kernel: str, coordinates: int, samplers: tuple[str, ...],
            params: int = 0, defines: tuple = (), **values: str) -> Program:
    """A program of `kernel` with `coordinates` vec2 positions and a `uParams[params]` array."""
    attributes = coordinate_attributes(coordinates)
    declarations = [shader_source.varyings(attributes)]
    declarations += [f"uniform highp sampler2D {name};" for name in samplers]
    if params:
        declarations.append(f"uniform highp vec4 uParams[{params}];")
    return Program(key=key, vertex_source=shader_source.vertex_source(attributes),
                   fragment_source=shader_source.fragment_source(
                       kernel, defines, declarations="\n".join(declarations), **values),
                   attributes=attributes, samplers=samplers,
                   params="uParams" if params else None, params_count=params, kernel=kernel)


def draw(op: str, key: str, target: Texture, rects: list[tuple[int, int, int, int]],
         coordinates: list[list[Affine]], textures: tuple[str, ...],
         params: np.ndarray | None = None, fetches: int = 0) -> Pass:
    """A pass drawing `rects` of `target`, rectangle k with the positions `coordinates[k]`."""
    vertices = np.concatenate([rectangle_vertices(target, rect, coords)
                               for rect, coords in zip(rects, coordinates)])
    return Pass(op=op, program=key, target=target.name, rects=list(rects), textures=textures,
                vertices=vertices,
                params=None if params is None else np.ascontiguousarray(params, np.float32),
                fetches_per_fragment=fetches)
