"""The engine's own OpenGL ES 2.0 function table, loaded through EGL.

A Pi's driver answers ES 3 / desktop-only calls (uniform-block queries, glDrawBuffers, vertex
array objects) with GL errors; so every GL call of the engine goes through this table: ES 2.0
core entry points only, each error drained and raised with the call that caused it.
"""
from __future__ import annotations

import ctypes
from collections import Counter
from collections.abc import Callable

GL_NO_ERROR = 0
GL_TEXTURE_2D = 0x0DE1
GL_TEXTURE0 = 0x84C0
GL_UNSIGNED_BYTE = 0x1401
GL_FLOAT = 0x1406
GL_RGB = 0x1907
GL_RGBA = 0x1908
GL_LUMINANCE = 0x1909
GL_NEAREST = 0x2600
GL_CLAMP_TO_EDGE = 0x812F
GL_TEXTURE_MAG_FILTER = 0x2800
GL_TEXTURE_MIN_FILTER = 0x2801
GL_TEXTURE_WRAP_S = 0x2802
GL_TEXTURE_WRAP_T = 0x2803
GL_UNPACK_ALIGNMENT = 0x0CF5
GL_PACK_ALIGNMENT = 0x0D05
GL_FRAMEBUFFER = 0x8D40
GL_COLOR_ATTACHMENT0 = 0x8CE0
GL_FRAMEBUFFER_COMPLETE = 0x8CD5
GL_ARRAY_BUFFER = 0x8892
GL_STATIC_DRAW = 0x88E4
GL_TRIANGLES = 0x0004
GL_VERTEX_SHADER = 0x8B31
GL_FRAGMENT_SHADER = 0x8B30
GL_COMPILE_STATUS = 0x8B81
GL_LINK_STATUS = 0x8B82
GL_INFO_LOG_LENGTH = 0x8B84
GL_ACTIVE_UNIFORMS = 0x8B86
GL_COLOR_BUFFER_BIT = 0x4000
GL_SCISSOR_TEST = 0x0C11
GL_DITHER = 0x0BD0
GL_BLEND = 0x0BE2
GL_DEPTH_TEST = 0x0B71
GL_VENDOR = 0x1F00
GL_RENDERER = 0x1F01
GL_VERSION = 0x1F02
GL_EXTENSIONS = 0x1F03
GL_MAX_TEXTURE_SIZE = 0x0D33
GL_MAX_TEXTURE_IMAGE_UNITS = 0x8872

ERROR_NAMES = {0x0500: "GL_INVALID_ENUM", 0x0501: "GL_INVALID_VALUE",
               0x0502: "GL_INVALID_OPERATION", 0x0505: "GL_OUT_OF_MEMORY",
               0x0506: "GL_INVALID_FRAMEBUFFER_OPERATION"}

# Every entry point of the OpenGL ES 2.0 core specification (the trace tests check against it).
ES2_CORE = frozenset("""
glActiveTexture glAttachShader glBindAttribLocation glBindBuffer glBindFramebuffer
glBindRenderbuffer glBindTexture glBlendColor glBlendEquation glBlendEquationSeparate
glBlendFunc glBlendFuncSeparate glBufferData glBufferSubData glCheckFramebufferStatus glClear
glClearColor glClearDepthf glClearStencil glColorMask glCompileShader glCompressedTexImage2D
glCompressedTexSubImage2D glCopyTexImage2D glCopyTexSubImage2D glCreateProgram glCreateShader
glCullFace glDeleteBuffers glDeleteFramebuffers glDeleteProgram glDeleteRenderbuffers
glDeleteShader glDeleteTextures glDepthFunc glDepthMask glDepthRangef glDetachShader glDisable
glDisableVertexAttribArray glDrawArrays glDrawElements glEnable glEnableVertexAttribArray
glFinish glFlush glFramebufferRenderbuffer glFramebufferTexture2D glFrontFace glGenBuffers
glGenerateMipmap glGenFramebuffers glGenRenderbuffers glGenTextures glGetActiveAttrib
glGetActiveUniform glGetAttachedShaders glGetAttribLocation glGetBooleanv
glGetBufferParameteriv glGetError glGetFloatv glGetFramebufferAttachmentParameteriv
glGetIntegerv glGetProgramiv glGetProgramInfoLog glGetRenderbufferParameteriv glGetShaderiv
glGetShaderInfoLog glGetShaderPrecisionFormat glGetShaderSource glGetString
glGetTexParameterfv glGetTexParameteriv glGetUniformfv glGetUniformiv glGetUniformLocation
glGetVertexAttribfv glGetVertexAttribiv glGetVertexAttribPointerv glHint glIsBuffer
glIsEnabled glIsFramebuffer glIsProgram glIsRenderbuffer glIsShader glIsTexture glLineWidth
glLinkProgram glPixelStorei glPolygonOffset glReadPixels glReleaseShaderCompiler
glRenderbufferStorage glSampleCoverage glScissor glShaderBinary glShaderSource glStencilFunc
glStencilFuncSeparate glStencilMask glStencilMaskSeparate glStencilOp glStencilOpSeparate
glTexImage2D glTexParameterf glTexParameterfv glTexParameteri glTexParameteriv glTexSubImage2D
glUniform1f glUniform1fv glUniform1i glUniform1iv glUniform2f glUniform2fv glUniform2i
glUniform2iv glUniform3f glUniform3fv glUniform3i glUniform3iv glUniform4f glUniform4fv
glUniform4i glUniform4iv glUniformMatrix2fv glUniformMatrix3fv glUniformMatrix4fv
glUseProgram glValidateProgram glVertexAttrib1f glVertexAttrib1fv glVertexAttrib2f
glVertexAttrib2fv glVertexAttrib3f glVertexAttrib3fv glVertexAttrib4f glVertexAttrib4fv
glVertexAttribPointer glViewport
""".split())

_u, _i, _f, _p = ctypes.c_uint, ctypes.c_int, ctypes.c_float, ctypes.c_void_p
_SIGNATURES: dict[str, tuple] = {  # name: (return type, argument types)
    "glGetError": (_u,),
    "glGetString": (ctypes.c_char_p, _u),
    "glGetIntegerv": (None, _u, _p),
    "glPixelStorei": (None, _u, _i),
    "glEnable": (None, _u),
    "glDisable": (None, _u),
    "glGenTextures": (None, _i, _p),
    "glBindTexture": (None, _u, _u),
    "glActiveTexture": (None, _u),
    "glTexImage2D": (None, _u, _i, _i, _i, _i, _i, _u, _u, _p),
    "glTexSubImage2D": (None, _u, _i, _i, _i, _i, _i, _u, _u, _p),
    "glTexParameteri": (None, _u, _u, _i),
    "glGenFramebuffers": (None, _i, _p),
    "glBindFramebuffer": (None, _u, _u),
    "glFramebufferTexture2D": (None, _u, _u, _u, _u, _i),
    "glCheckFramebufferStatus": (_u, _u),
    "glGenBuffers": (None, _i, _p),
    "glBindBuffer": (None, _u, _u),
    "glBufferData": (None, _u, ctypes.c_ssize_t, _p, _u),
    "glVertexAttribPointer": (None, _u, _i, _u, ctypes.c_ubyte, _i, _p),
    "glEnableVertexAttribArray": (None, _u),
    "glDisableVertexAttribArray": (None, _u),
    "glCreateShader": (_u, _u),
    "glShaderSource": (None, _u, _i, _p, _p),
    "glCompileShader": (None, _u),
    "glGetShaderiv": (None, _u, _u, _p),
    "glGetShaderInfoLog": (None, _u, _i, _p, _p),
    "glDeleteShader": (None, _u),
    "glDeleteProgram": (None, _u),
    "glDeleteTextures": (None, _i, _p),
    "glDeleteFramebuffers": (None, _i, _p),
    "glDeleteBuffers": (None, _i, _p),
    "glCreateProgram": (_u,),
    "glAttachShader": (None, _u, _u),
    "glBindAttribLocation": (None, _u, _u, ctypes.c_char_p),
    "glLinkProgram": (None, _u),
    "glGetProgramiv": (None, _u, _u, _p),
    "glGetProgramInfoLog": (None, _u, _i, _p, _p),
    "glUseProgram": (None, _u),
    "glGetUniformLocation": (_i, _u, ctypes.c_char_p),
    "glGetActiveUniform": (None, _u, _u, _i, _p, _p, _p, _p),
    "glUniform1i": (None, _i, _i),
    "glUniform1fv": (None, _i, _i, _p),
    "glUniform2fv": (None, _i, _i, _p),
    "glUniform3fv": (None, _i, _i, _p),
    "glUniform4fv": (None, _i, _i, _p),
    "glViewport": (None, _i, _i, _i, _i),
    "glScissor": (None, _i, _i, _i, _i),
    "glClearColor": (None, _f, _f, _f, _f),
    "glClear": (None, _u),
    "glDrawArrays": (None, _u, _i, _i),
    "glReadPixels": (None, _i, _i, _i, _i, _u, _u, _p),
    "glFinish": (None,),
}


class GLError(RuntimeError):
    """A GL call failed; the message names the call and its arguments."""


class CallLog:
    """Counts every GL call made through a table, and with `keep_calls` keeps each name and
    its arguments in order (benchmarks and tests only: it costs time)."""

    def __init__(self, keep_calls: bool = False) -> None:
        self.counts: Counter[str] = Counter()
        self.calls: list[tuple[str, tuple]] | None = [] if keep_calls else None

    def reset(self) -> None:
        self.counts.clear()
        if self.calls is not None:
            self.calls.clear()

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _counted(name: str, function: Callable, log: CallLog) -> Callable:
    counts, calls = log.counts, log.calls

    def call(*args):
        counts[name] += 1
        if calls is not None:
            calls.append((name, plain(args)))
        return function(*args)
    return call


class GLES2:
    """GL entry points as attributes (`gl.glDrawArrays(...)`); `checked` calls raise at once."""

    def __init__(self, get_proc_address: Callable[[str], int], log: CallLog | None = None):
        self.log = log
        self.argtypes = {name: argtypes for name, (_, *argtypes) in _SIGNATURES.items()}
        for name, (restype, *argtypes) in _SIGNATURES.items():
            address = get_proc_address(name)
            if not address:
                raise GLError(f"the GL library has no {name}")
            function = ctypes.CFUNCTYPE(restype, *argtypes)(address)
            setattr(self, name, _counted(name, function, log) if log else function)

    def prepared(self, name: str, args: tuple) -> tuple:
        """Arguments converted to their C types once, for calls replayed frame after frame
        (ctypes passes a value of the declared type about twice as fast as a Python int)."""
        return tuple(kind(value) for kind, value in zip(self.argtypes[name], args))

    def errors(self) -> list[int]:
        """Every pending error flag (GL may hold several), leaving none behind."""
        found = []
        while (error := self.glGetError()) != GL_NO_ERROR:
            found.append(error)
            if len(found) > 16:  # a lost context can report errors forever
                break
        return found

    def check(self, when: str) -> None:
        if found := self.errors():
            raise GLError(f"OpenGL error {error_names(found)} {when}")

    def checked(self, name: str, *args):
        """Make one call and raise with its name and arguments if it set an error."""
        result = getattr(self, name)(*args)
        self.check(f"from {describe(name, args)}")
        return result

    def string(self, name: int) -> str:
        value = self.checked("glGetString", name)
        return value.decode(errors="replace") if value else ""

    def integer(self, name: int) -> int:
        value = ctypes.c_int(0)
        self.checked("glGetIntegerv", name, ctypes.addressof(value))
        return value.value


def error_names(errors: list[int]) -> str:
    return ", ".join(ERROR_NAMES.get(e, f"0x{e:04x}") for e in errors)


def plain(args: tuple) -> tuple:
    """Arguments as Python values (prepared ones are ctypes objects)."""
    return tuple(a.value if isinstance(a, ctypes._SimpleCData) else a for a in args)


def describe(name: str, args: tuple) -> str:
    return f"{name}({', '.join(_short(a) for a in plain(args))})"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
