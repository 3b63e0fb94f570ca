"""Assemble GLSL ES 1.00 sources from the kernel files of shaders/.

A kernel file is a template: `$name` placeholders are filled with code its op generates per
variant (taps written out, constants folded), and a line `//!include FILE` pulls in a shared
file (GLSL ES 1.00 has no #include). Every source starts with `#version 100` and the shared
precision and helper code of common.glsl.
"""
from __future__ import annotations

from string import Template

import shaders

VERTEX = "quad.vert"


def _expand(name: str, values: dict[str, str]) -> str:
    lines = []
    for line in shaders.source(name).splitlines(keepends=True):
        if line.startswith("//!include "):
            lines.append(shaders.source(line.split()[1]))
        else:
            lines.append(line)
    return Template("".join(lines)).substitute(values)


def vertex_source(attributes: tuple[tuple[str, int], ...]) -> str:
    """The pass's vertex shader: position, then each `aX` attribute handed on as varying `vX`."""
    declarations, assignments = [], []
    for name, size in attributes[1:]:
        kind = f"vec{size}"
        declarations.append(f"attribute highp {kind} {name};\nvarying highp {kind} v{name[1:]};")
        assignments.append(f"    v{name[1:]} = {name};")
    return "#version 100\n" + _expand(VERTEX, {"declarations": "\n".join(declarations),
                                              "assignments": "\n".join(assignments)})


def varyings(attributes: tuple[tuple[str, int], ...]) -> str:
    """The fragment shader's declarations of the varyings `vertex_source` writes."""
    return "\n".join(f"varying highp vec{size} v{name[1:]};" for name, size in attributes[1:])


def fragment_source(name: str, defines: tuple[tuple[str, int | str], ...] = (),
                    **values: str) -> str:
    parts = ["#version 100\n"]
    parts += [f"#define {key} {value}\n" for key, value in defines]
    parts.append(shaders.source("common.glsl"))
    parts.append(_expand(name, values))
    return "".join(parts)


def all_kernels() -> list[str]:
    """Every fragment kernel file, for tests that check each one is used."""
    from importlib import resources
    return sorted(p.name for p in resources.files("shaders").iterdir() if p.name.endswith(".frag"))
