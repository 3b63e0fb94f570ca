"""Assemble GLSL ES 1.00 sources from shaders/: version line, defines, shared code, kernel."""
from __future__ import annotations

from string import Template

import shaders

VERTEX = "quad.vert"
# Kernels that use the fixed-point helpers get them prepended (GLSL ES 1.00 has no #include).
NEEDS_FIXED_POINT = {"dense_multiply.frag", "dense_sum.frag"}


def vertex_source() -> str:
    return "#version 100\n" + shaders.source(VERTEX)


def fragment_source(name: str, defines: tuple[tuple[str, int], ...]) -> str:
    parts = ["#version 100\n"]
    parts += [f"#define {key} {value}\n" for key, value in defines]
    parts.append(shaders.source("common.glsl"))
    if name in NEEDS_FIXED_POINT:
        parts.append(shaders.source("fixed_point.glsl"))
    kernel = shaders.source(name)
    if name in GENERATED:
        kernel = Template(kernel).substitute(taps=GENERATED[name](dict(defines)))
    parts.append(kernel)
    return "".join(parts)


def _conv2d_taps(defines: dict[str, int]) -> str:
    from gpu_engine.ops.conv2d import tap_code
    return tap_code(defines)


def _pooling2d_taps(defines: dict[str, int]) -> str:
    from gpu_engine.ops.pooling2d import tap_code
    return tap_code(defines)


# Kernels whose taps are written out per variant by their op ($taps in the file).
GENERATED = {"conv2d.frag": _conv2d_taps, "pooling2d.frag": _pooling2d_taps}


def all_kernels() -> list[str]:
    """Every fragment kernel file, for tests that compile them all."""
    from importlib import resources
    return sorted(p.name for p in resources.files("shaders").iterdir() if p.name.endswith(".frag"))
