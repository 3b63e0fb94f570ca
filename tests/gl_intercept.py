"""A recorder between an engine and the GL driver, for reports and fault injection (the
tests and benchmarks/vc4_shaderdb.py; not part of the engine).

Every GL function an engine calls is loaded through `EGLContext.get_proc_address`, so
wrapping that one method puts this recorder in front of the driver without changing either
side. It follows which program each shader source belongs to, the current program and every
draw; a listener sees each link and draw before and after the driver runs it (the vc4 report
attributes the driver's compile output to programs that way), and the draws of chosen
programs can be dropped, as vc4 drops those of a program that failed to compile.
"""
from __future__ import annotations

import contextlib
import ctypes
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from gpu_engine import egl

GL_FRAGMENT_SHADER = 0x8B30

_u, _i, _p = ctypes.c_uint, ctypes.c_int, ctypes.c_void_p
_DRAWS = {  # name -> argument types; every draw call a GL engine may make
    "glDrawArrays": (_u, _i, _i),
    "glDrawArraysInstanced": (_u, _i, _i, _i),
    "glDrawArraysInstancedEXT": (_u, _i, _i, _i),
    "glDrawArraysInstancedARB": (_u, _i, _i, _i),
    "glDrawElements": (_u, _i, _u, _p),
    "glDrawElementsInstanced": (_u, _i, _u, _p, _i),
    "glDrawElementsInstancedEXT": (_u, _i, _u, _p, _i),
    "glDrawElementsInstancedARB": (_u, _i, _u, _p, _i),
}
_KEEP: list = []  # engines keep the wrapped pointers as long as they live: never free them


@dataclass
class Draw:
    program: int


class _EveryProgram:
    def __contains__(self, program: object) -> bool:
        return True


EVERY_PROGRAM = _EveryProgram()  # GLRecorder(drop=EVERY_PROGRAM): a GPU that draws nothing

Listener = Callable[[str, str, int], None]  # (phase 'before'/'after', 'link'/'draw', program)


@dataclass
class GLRecorder:
    drop: set[int] | _EveryProgram = field(default_factory=set)  # their draws never run
    listener: Listener | None = None
    draws: list[Draw] = field(default_factory=list)
    linked: list[int] = field(default_factory=list)  # programs in the order they were linked
    _shaders: dict[int, tuple[int, str]] = field(default_factory=dict)  # id -> (type, source)
    _attached: dict[int, list[int]] = field(default_factory=dict)
    _program: int = 0

    def fragment_source(self, program: int) -> str:
        for shader in self._attached.get(program, []):
            kind, source = self._shaders.get(shader, (0, ""))
            if kind == GL_FRAGMENT_SHADER:
                return source
        return ""

    @contextlib.contextmanager
    def installed(self) -> Iterator[GLRecorder]:
        """Engines (GL contexts) created inside this block are recorded for their whole life."""
        original = egl.EGLContext.get_proc_address

        def get_proc_address(context: egl.EGLContext, name: str) -> int:
            return self._wrap(name, original(context, name))

        egl.EGLContext.get_proc_address = get_proc_address
        try:
            yield self
        finally:
            egl.EGLContext.get_proc_address = original

    # ---- wrappers -----------------------------------------------------------------------

    def _wrap(self, name: str, address: int) -> int:
        make = self._makers().get(name)
        if not address or make is None:
            return address
        wrapper = make(address)
        _KEEP.append(wrapper)
        return ctypes.cast(wrapper, ctypes.c_void_p).value

    def _makers(self) -> dict[str, Callable[[int], object]]:
        makers = {
            "glCreateShader": self._typed(_u, (_u,), self._create_shader),
            "glShaderSource": self._typed(None, (_u, _i, ctypes.POINTER(_p), ctypes.POINTER(_i)),
                                          self._shader_source),
            "glAttachShader": self._typed(None, (_u, _u), self._attach),
            "glLinkProgram": self._typed(None, (_u,), self._link),
            "glUseProgram": self._typed(None, (_u,), self._use),
        }
        for name, argtypes in _DRAWS.items():
            makers[name] = self._typed(None, argtypes, self._draw)
        return makers

    @staticmethod
    def _typed(restype, argtypes, handler) -> Callable[[int], object]:
        prototype = ctypes.CFUNCTYPE(restype, *argtypes)

        def make(address: int):
            real = prototype(address)
            return prototype(lambda *args: handler(real, *args))
        return make

    def _create_shader(self, real, kind):
        shader = real(kind)
        self._shaders[shader] = (kind, "")
        return shader

    def _shader_source(self, real, shader, count, strings, lengths):
        parts = []
        for i in range(count):
            if lengths and lengths[i] >= 0:
                parts.append(ctypes.string_at(strings[i], lengths[i]))
            else:
                parts.append(ctypes.string_at(strings[i]))
        kind = self._shaders.get(shader, (0, ""))[0]
        self._shaders[shader] = (kind, b"".join(parts).decode("utf-8", "replace"))
        real(shader, count, strings, lengths)

    def _attach(self, real, program, shader):
        self._attached.setdefault(program, []).append(shader)
        real(program, shader)

    def _link(self, real, program):
        self._notify("before", "link", program)
        real(program)
        self.linked.append(program)
        self._notify("after", "link", program)

    def _use(self, real, program):
        self._program = program
        real(program)

    def _draw(self, real, *args):
        program = self._program
        self.draws.append(Draw(program))
        if program in self.drop:
            return
        self._notify("before", "draw", program)
        real(*args)
        self._notify("after", "draw", program)

    def _notify(self, phase: str, what: str, program: int) -> None:
        if self.listener is not None:
            self.listener(phase, what, program)


def defines(source: str) -> dict[str, str]:
    """The `#define NAME value` lines of a shader source: the variant of its kernel."""
    return dict(re.findall(r"^#define\s+(\w+)\s+(\S+)", source, re.MULTILINE))
