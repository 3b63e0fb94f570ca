"""GL objects made once at start-up: programs, textures, framebuffers, with ES 2.0 calls only.

Each function leaves the texture unit 0 / framebuffer / program bindings changed; the
engine makes them before it records any command list, which assumes nothing is bound.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from gpu_engine import gles2 as g
from gpu_engine.errors import ProfileError

POSITION = 0  # the vertex attribute location every program binds aPosition to

# Float uniform types: the call that writes them (a whole array at once), floats per element.
UNIFORM_SETTERS = {0x1406: ("glUniform1fv", 1), 0x8B50: ("glUniform2fv", 2),
                   0x8B51: ("glUniform3fv", 3), 0x8B52: ("glUniform4fv", 4)}
SAMPLER_2D = 0x8B5E


@dataclass
class Program:
    id: int
    label: str
    active: dict[str, tuple[int, int]]  # uniform name without [..] -> (type, array size)
    locations: dict[str, int]


@dataclass
class Texture:
    id: int
    width: int
    height: int
    format: int  # GL_RGBA, GL_RGB or GL_LUMINANCE

    @property
    def bytes(self) -> int:
        return self.width * self.height * {g.GL_RGBA: 4, g.GL_RGB: 3}.get(self.format, 1)


def _new_name(gl: g.GLES2, generator: str) -> int:
    name = ctypes.c_uint(0)
    gl.checked(generator, 1, ctypes.addressof(name))
    return name.value


def _info_log(gl: g.GLES2, getter: str, object_id: int, log_getter: str) -> str:
    length = ctypes.c_int(0)
    gl.checked(getter, object_id, g.GL_INFO_LOG_LENGTH, ctypes.addressof(length))
    buffer = ctypes.create_string_buffer(max(1, length.value))
    gl.checked(log_getter, object_id, len(buffer), None, buffer)
    return buffer.value.decode(errors="replace").strip()


def _shader(gl: g.GLES2, kind: int, source: str, label: str) -> int:
    shader = gl.checked("glCreateShader", kind)
    text = ctypes.c_char_p(source.encode())
    gl.checked("glShaderSource", shader, 1, ctypes.addressof(text), None)
    gl.checked("glCompileShader", shader)
    status = ctypes.c_int(0)
    gl.checked("glGetShaderiv", shader, g.GL_COMPILE_STATUS, ctypes.addressof(status))
    if not status.value:
        log = _info_log(gl, "glGetShaderiv", shader, "glGetShaderInfoLog")
        raise ProfileError(f"shader {label} does not compile: {log}")
    return shader


def compile_program(gl: g.GLES2, vertex: str, fragment: str, label: str,
                    attributes: tuple[str, ...] = ("aPosition",)) -> Program:
    """Compile and link, attribute i at location i; a driver that refuses the source raises
    ProfileError with its log."""
    shaders = [_shader(gl, g.GL_VERTEX_SHADER, vertex, label),
               _shader(gl, g.GL_FRAGMENT_SHADER, fragment, label)]
    program = gl.checked("glCreateProgram")
    for shader in shaders:
        gl.checked("glAttachShader", program, shader)
    for index, attribute in enumerate(attributes):
        gl.checked("glBindAttribLocation", program, POSITION + index, attribute.encode())
    gl.checked("glLinkProgram", program)
    for shader in shaders:
        gl.checked("glDeleteShader", shader)  # freed with the program
    status = ctypes.c_int(0)
    gl.checked("glGetProgramiv", program, g.GL_LINK_STATUS, ctypes.addressof(status))
    if not status.value:
        log = _info_log(gl, "glGetProgramiv", program, "glGetProgramInfoLog")
        raise ProfileError(f"shader {label} does not link: {log}")
    return Program(program, label, _active_uniforms(gl, program), {})


def _active_uniforms(gl: g.GLES2, program: int) -> dict[str, tuple[int, int]]:
    count = ctypes.c_int(0)
    gl.checked("glGetProgramiv", program, g.GL_ACTIVE_UNIFORMS, ctypes.addressof(count))
    active = {}
    name = ctypes.create_string_buffer(256)
    size, kind = ctypes.c_int(0), ctypes.c_uint(0)
    for index in range(count.value):
        gl.checked("glGetActiveUniform", program, index, len(name), None,
                   ctypes.addressof(size), ctypes.addressof(kind), name)
        active[name.value.decode().split("[")[0]] = (kind.value, size.value)
    return active


def location(gl: g.GLES2, program: Program, name: str) -> int:
    """Where a uniform (or one element, `name[i]`) lives; -1 when the compiler dropped it."""
    if name not in program.locations:
        program.locations[name] = gl.checked("glGetUniformLocation", program.id, name.encode())
    return program.locations[name]


def new_texture(gl: g.GLES2, width: int, height: int, format: int,
                data: np.ndarray | None = None) -> Texture:
    """A nearest-sampled, edge-clamped texture bound to unit 0; zero-filled without data."""
    texture = Texture(_new_name(gl, "glGenTextures"), width, height, format)
    gl.checked("glActiveTexture", g.GL_TEXTURE0)
    gl.checked("glBindTexture", g.GL_TEXTURE_2D, texture.id)
    for parameter, value in ((g.GL_TEXTURE_MIN_FILTER, g.GL_NEAREST),
                             (g.GL_TEXTURE_MAG_FILTER, g.GL_NEAREST),
                             (g.GL_TEXTURE_WRAP_S, g.GL_CLAMP_TO_EDGE),
                             (g.GL_TEXTURE_WRAP_T, g.GL_CLAMP_TO_EDGE)):
        gl.checked("glTexParameteri", g.GL_TEXTURE_2D, parameter, value)
    if data is None:
        data = np.zeros(texture.bytes, np.uint8)
    specify(gl.checked, texture, data)
    return texture


def specify(call, texture: Texture, data: np.ndarray) -> None:
    """(Re)define a bound texture's storage and contents: `call(name, *args)` makes the call."""
    data = np.ascontiguousarray(data, np.uint8)
    call("glTexImage2D", g.GL_TEXTURE_2D, 0, texture.format, texture.width, texture.height, 0,
         texture.format, g.GL_UNSIGNED_BYTE, data.ctypes.data)


def new_framebuffer(gl: g.GLES2, texture: Texture) -> int:
    """A framebuffer drawing into the texture (left bound)."""
    framebuffer = _new_name(gl, "glGenFramebuffers")
    gl.checked("glBindFramebuffer", g.GL_FRAMEBUFFER, framebuffer)
    gl.checked("glFramebufferTexture2D", g.GL_FRAMEBUFFER, g.GL_COLOR_ATTACHMENT0,
               g.GL_TEXTURE_2D, texture.id, 0)
    status = gl.checked("glCheckFramebufferStatus", g.GL_FRAMEBUFFER)
    if status != g.GL_FRAMEBUFFER_COMPLETE:
        raise ProfileError(f"a {texture.width}x{texture.height} texture cannot be drawn into "
                           f"(framebuffer status 0x{status:04x})")
    return framebuffer


def new_vertex_buffer(gl: g.GLES2, vertices: np.ndarray) -> int:
    """Every pass's vertices in one buffer, bound once: location 0 the vec2 position, location
    k ≥ 1 the vec4 at float 2 + 4(k − 1) of a row (a program reads the attributes it has).
    Returns the buffer's name."""
    vertices = np.ascontiguousarray(vertices, np.float32)
    buffer = _new_name(gl, "glGenBuffers")
    gl.checked("glBindBuffer", g.GL_ARRAY_BUFFER, buffer)
    gl.checked("glBufferData", g.GL_ARRAY_BUFFER, vertices.nbytes, vertices.ctypes.data,
               g.GL_STATIC_DRAW)
    point_attributes(gl, buffer, vertices.shape[1])
    return buffer


def point_attributes(gl: g.GLES2, buffer: int, floats: int, others: int = 0) -> None:
    """Bind `buffer` (rows of `floats` floats) and point the attributes into it, as
    new_vertex_buffer lays them out: attribute arrays are context state, so an engine sharing
    its context with another one points them back before it draws again, disabling the arrays
    beyond its own up to `others` (the most the other one enabled)."""
    gl.checked("glBindBuffer", g.GL_ARRAY_BUFFER, buffer)
    stride = 4 * floats
    gl.checked("glVertexAttribPointer", POSITION, 2, g.GL_FLOAT, 0, stride, None)
    gl.checked("glEnableVertexAttribArray", POSITION)
    count = (floats - 2) // 4 + 1
    for index in range(1, count):
        gl.checked("glVertexAttribPointer", POSITION + index, 4, g.GL_FLOAT, 0, stride,
                   ctypes.c_void_p(4 * (2 + 4 * (index - 1))))
        gl.checked("glEnableVertexAttribArray", POSITION + index)
    for index in range(count, others):
        gl.checked("glDisableVertexAttribArray", POSITION + index)


def delete(gl: g.GLES2, deleter: str, names: list[int]) -> None:
    """Free GL objects by name (glDeleteTextures, glDeleteFramebuffers, glDeleteBuffers)."""
    if names:
        array = (ctypes.c_uint * len(names))(*names)
        gl.checked(deleter, len(names), ctypes.addressof(array))
