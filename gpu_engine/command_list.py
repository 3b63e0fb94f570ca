"""Draws turned into the flat list of GL calls they need, with no redundant state changes.

A frame is recorded once at start-up and replayed per frame as `function(*args)` pairs: a
program, framebuffer, viewport, texture or uniform value is set only where it differs from
what the calls before it left. On a Pi Zero every call costs the ARM core, so this is the
per-frame budget that matters besides the shaders themselves.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from gpu_engine import gles2 as g
from gpu_engine.gl_objects import Texture


@dataclass(frozen=True)
class UniformWrite:
    """One uniform (or array) of one program and the values it must hold for a draw."""

    program: int
    location: int
    setter: str
    count: int
    matrix: bool
    data: np.ndarray  # float32, kept alive here: the call gets its address

    def args(self) -> tuple:
        address = self.data.ctypes.data
        if self.setter == "glUniform1i":
            return (self.location, int(self.data[0]))
        if self.matrix:
            return (self.location, self.count, 0, address)
        return (self.location, self.count, address)


@dataclass
class Draw:
    """A pass resolved to GL names."""

    label: str
    program: int
    framebuffer: int
    viewport: tuple[int, int, int, int]
    textures: list[tuple[int, Texture]]  # (unit, texture)
    uniforms: list[UniformWrite]


@dataclass
class Bindings:
    """What is bound: None where unknown."""

    program: int | None = None
    framebuffer: int | None = None
    viewport: tuple[int, int, int, int] | None = None
    active_unit: int | None = None
    units: dict[int, int] = field(default_factory=dict)  # unit -> texture id

    def copy(self) -> Bindings:
        return replace(self, units=dict(self.units))


class Recorder:
    """Records the calls a sequence of draws needs, given what is bound when they run.

    `uniforms` maps (program, location) to the values that program holds; programs keep their
    uniforms while others are in use, so a recorder handed the values a previous frame left
    records no write that repeats them.
    """

    def __init__(self, gl: g.GLES2, bindings: Bindings | None = None,
                 uniforms: dict[tuple[int, int], bytes] | None = None):
        self.gl = gl
        self.calls: list[tuple[Callable, tuple]] = []
        self.names: list[tuple[str, str]] = []  # (GL function, what it was for)
        self.bound = Bindings() if bindings is None else bindings.copy()
        self.uniforms = {} if uniforms is None else uniforms
        self.arrays: list[np.ndarray] = []  # whose addresses the calls hold: alive as long

    def call(self, name: str, *args, label: str = "") -> None:
        self.calls.append((getattr(self.gl, name), args))
        self.names.append((name, label))

    def bind_framebuffer(self, framebuffer: int, label: str = "") -> None:
        if framebuffer != self.bound.framebuffer:
            self.call("glBindFramebuffer", g.GL_FRAMEBUFFER, framebuffer, label=label)
            self.bound.framebuffer = framebuffer

    def set_viewport(self, viewport: tuple[int, int, int, int], label: str = "") -> None:
        if viewport != self.bound.viewport:  # the viewport is context state, kept across binds
            self.call("glViewport", *viewport, label=label)
            self.bound.viewport = viewport

    def activate(self, unit: int, label: str = "") -> None:
        if self.bound.active_unit != unit:
            self.call("glActiveTexture", g.GL_TEXTURE0 + unit, label=label)
            self.bound.active_unit = unit

    def bind_texture(self, unit: int, texture: Texture, label: str = "") -> None:
        if self.bound.units.get(unit) != texture.id:
            self.activate(unit, label)
            self.call("glBindTexture", g.GL_TEXTURE_2D, texture.id, label=label)
            self.bound.units[unit] = texture.id

    def use_program(self, program: int, label: str = "") -> None:
        if program != self.bound.program:
            self.call("glUseProgram", program, label=label)
            self.bound.program = program

    def set_uniform(self, write: UniformWrite, label: str = "") -> None:
        key, value = (write.program, write.location), write.data.tobytes()
        if self.uniforms.get(key) != value:
            self.use_program(write.program, label)
            self.call(write.setter, *write.args(), label=label)
            self.arrays.append(write.data)
            self.uniforms[key] = value

    def draw(self, draw: Draw) -> None:
        label = draw.label
        self.bind_framebuffer(draw.framebuffer, label)
        self.set_viewport(draw.viewport, label)
        # The unit already active first: its bind needs no glActiveTexture.
        for unit, texture in sorted(draw.textures, key=lambda t: t[0] != self.bound.active_unit):
            self.bind_texture(unit, texture, label)
        for write in draw.uniforms:
            self.set_uniform(write, label)
        self.use_program(draw.program, label)
        self.call("glDrawArrays", g.GL_TRIANGLES, 0, 3, label=label)

    def run(self) -> None:
        for function, args in self.calls:
            function(*args)

    def run_checked(self) -> None:
        """Run call by call, raising with the first call that sets a GL error."""
        gl = self.gl
        for (function, args), (name, label) in zip(self.calls, self.names):
            function(*args)
            if errors := gl.errors():
                raise g.GLError(f"OpenGL error {g.error_names(errors)} from "
                                f"{g.describe(name, args)}" + (f" in {label}" if label else ""))


def record(gl: g.GLES2, draws: list[Draw], bindings: Bindings | None = None,
           uniforms: dict[tuple[int, int], bytes] | None = None) -> Recorder:
    recorder = Recorder(gl, bindings, uniforms)
    for draw in draws:
        recorder.draw(draw)
    return recorder
