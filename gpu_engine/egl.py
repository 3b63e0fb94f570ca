"""Headless EGL contexts made by hand (surfaceless platform, render node chosen by Mesa).

A Pi Zero's vc4 driver offers OpenGL ES 2.0 and desktop GL 2.1 only; the engine asks for
exactly ES 2.0 (which Mesa, NVIDIA's EGL and a Pi all give) and loads its GL entry points
from here.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

EGL_NONE = 0x3038
EGL_RENDERABLE_TYPE = 0x3040
EGL_SURFACE_TYPE = 0x3033
EGL_OPENGL_ES2_BIT = 0x0004
EGL_OPENGL_ES_API = 0x30A0
EGL_CONTEXT_MAJOR_VERSION = 0x3098  # same value as EGL_CONTEXT_CLIENT_VERSION
EGL_PLATFORM_SURFACELESS_MESA = 0x31DD
EGL_PLATFORM_DEVICE_EXT = 0x313F

API_GLES2 = "gles2"  # the only GL API ShaderCam uses (GLInfo.api)


class EGLError(RuntimeError):
    """No usable EGL display or context could be made."""


@dataclass
class EGLContext:
    """A current EGL context; keep it referenced for as long as GL is used."""

    platform: str
    _lib: ctypes.CDLL
    _display: ctypes.c_void_p
    _context: ctypes.c_void_p

    def get_proc_address(self, name: str) -> int:
        return self._lib.eglGetProcAddress(name.encode()) or 0

    def make_current(self) -> None:
        if not self._lib.eglMakeCurrent(self._display, None, None, self._context):
            raise EGLError(f"eglMakeCurrent failed (0x{self._lib.eglGetError():x})")

    def release(self) -> None:
        if self._context:
            self._lib.eglMakeCurrent(self._display, None, None, None)
            self._lib.eglDestroyContext(self._display, self._context)
            self._context = None


def _load_egl() -> ctypes.CDLL:
    name = ctypes.util.find_library("EGL") or "libEGL.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise EGLError(
            f"cannot load libEGL ({exc}); install libegl1 and libegl-mesa0"
        ) from exc
    vp = ctypes.c_void_p
    lib.eglGetProcAddress.restype = vp
    lib.eglGetProcAddress.argtypes = [ctypes.c_char_p]
    lib.eglGetError.restype = ctypes.c_int
    lib.eglInitialize.argtypes = [vp, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]
    lib.eglBindAPI.argtypes = [ctypes.c_uint]
    lib.eglChooseConfig.argtypes = [vp, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(vp),
                                    ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.eglCreateContext.restype = vp
    lib.eglCreateContext.argtypes = [vp, vp, vp, ctypes.POINTER(ctypes.c_int)]
    lib.eglMakeCurrent.argtypes = [vp, vp, vp, vp]
    lib.eglDestroyContext.argtypes = [vp, vp]
    return lib


def _platform_display(lib: ctypes.CDLL) -> tuple[ctypes.c_void_p, str]:
    """The surfaceless platform picks the GPU's render node, or swrast when there is none."""
    proto = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p)
    address = lib.eglGetProcAddress(b"eglGetPlatformDisplayEXT") or lib.eglGetProcAddress(
        b"eglGetPlatformDisplay")
    if not address:
        raise EGLError("EGL lacks eglGetPlatformDisplay; Mesa's libegl-mesa0 is required")
    get_display = proto(address)
    for platform, name in ((EGL_PLATFORM_SURFACELESS_MESA, "surfaceless"),
                           (EGL_PLATFORM_DEVICE_EXT, "device")):
        if platform == EGL_PLATFORM_DEVICE_EXT:
            display = _first_device_display(lib, get_display)
        else:
            display = get_display(platform, None, None)
        if display and lib.eglInitialize(display, None, None):
            return display, name
    raise EGLError(f"no EGL display could be initialised (0x{lib.eglGetError():x})")


def _first_device_display(lib: ctypes.CDLL, get_display) -> int | None:
    address = lib.eglGetProcAddress(b"eglQueryDevicesEXT")
    if not address:
        return None
    query = ctypes.CFUNCTYPE(ctypes.c_uint, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                             ctypes.POINTER(ctypes.c_int))(address)
    devices = (ctypes.c_void_p * 8)()
    count = ctypes.c_int(0)
    if not query(8, devices, ctypes.byref(count)) or count.value == 0:
        return None
    return get_display(EGL_PLATFORM_DEVICE_EXT, devices[0], None)


def create_context() -> EGLContext:
    """Create and make current a headless OpenGL ES 2.0 context."""
    lib = _load_egl()
    display, platform = _platform_display(lib)
    if not lib.eglBindAPI(EGL_OPENGL_ES_API):
        raise EGLError("EGL cannot bind the OpenGL ES API")
    config_attribs = (ctypes.c_int * 5)(EGL_RENDERABLE_TYPE, EGL_OPENGL_ES2_BIT,
                                        EGL_SURFACE_TYPE, 0, EGL_NONE)
    config = ctypes.c_void_p()
    count = ctypes.c_int(0)
    if not lib.eglChooseConfig(display, config_attribs, ctypes.byref(config), 1,
                               ctypes.byref(count)) or count.value < 1:
        raise EGLError(f"no EGL config renders OpenGL ES 2.0 on the {platform} platform")
    attribs = (ctypes.c_int * 3)(EGL_CONTEXT_MAJOR_VERSION, 2, EGL_NONE)
    context = lib.eglCreateContext(display, config, None, attribs)
    if not context:
        raise EGLError(f"eglCreateContext for OpenGL ES 2.0 failed (0x{lib.eglGetError():x})")
    egl = EGLContext(platform, lib, display, context)
    egl.make_current()
    return egl
