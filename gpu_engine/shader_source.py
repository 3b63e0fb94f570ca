"""Assemble GLSL ES 1.00 sources from shaders/: version line, defines, shared code, kernel."""
from __future__ import annotations

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
    parts.append(shaders.source(name))
    return "".join(parts)


def all_kernels() -> list[str]:
    """Every fragment kernel file, for tests that compile them all."""
    from importlib import resources
    return sorted(p.name for p in resources.files("shaders").iterdir() if p.name.endswith(".frag"))
