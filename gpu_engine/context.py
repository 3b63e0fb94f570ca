"""A moderngl context on top of our own EGL context, for moderngl 5.7 (bookworm) and newer."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import moderngl

from gpu_engine import egl

log = logging.getLogger(__name__)

SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "software")


@dataclass(frozen=True)
class GLInfo:
    vendor: str
    renderer: str
    version: str
    api: str
    software: bool

    def as_dict(self) -> dict:
        return {"vendor": self.vendor, "renderer": self.renderer, "version": self.version,
                "api": self.api, "software": self.software}


class _Loader:
    """Hands moderngl the GL entry points of the current EGL context."""

    def __init__(self, context: egl.EGLContext):
        self._context = context

    def load_opengl_function(self, name: str) -> int:  # moderngl >= 5.8
        return self._context.get_proc_address(name)

    def load(self, name: str) -> int:  # moderngl 5.7 (glcontext backend protocol)
        return self._context.get_proc_address(name)

    def release(self) -> None:
        """The EGL context is released by GLContext, not by moderngl."""

    def __call__(self, *args, **kwargs) -> _Loader:  # 5.7 calls the backend to get the context
        return self

    def __enter__(self) -> None:  # 5.7 enters/exits the backend context around some calls
        """The EGL context stays current in this thread; nothing to switch."""

    def __exit__(self, *exc_info) -> None:
        """Nothing to restore."""


def _attach(loader: _Loader) -> moderngl.Context:
    version = tuple(int(part) for part in moderngl.__version__.split(".")[:2])
    if version >= (5, 8):
        return moderngl.create_context(require=0, context=loader)
    import glcontext  # moderngl 5.7 asks glcontext for a backend by name; lend it ours
    original = glcontext.get_backend_by_name
    glcontext.get_backend_by_name = lambda name: loader
    try:
        return moderngl.create_context(require=0, backend="shadercam-egl")
    finally:
        glcontext.get_backend_by_name = original


def on_raspberry_pi() -> bool:
    try:
        return "Raspberry Pi" in Path("/proc/device-tree/model").read_text(errors="replace")
    except OSError:
        return False


class GLContext:
    """Our EGL context (OpenGL ES 2.0 by default) wrapped by moderngl, current in this thread."""

    def __init__(self, api: str = egl.API_GLES2):
        self._egl = egl.create_context(api)
        self.ctx = _attach(_Loader(self._egl))
        self.ctx.error  # drop the error left by moderngl's desktop-only version queries
        info = self.ctx.info
        renderer = str(info.get("GL_RENDERER", ""))
        self.info = GLInfo(vendor=str(info.get("GL_VENDOR", "")), renderer=renderer,
                           version=str(info.get("GL_VERSION", "")), api=api,
                           software=any(s in renderer.lower() for s in SOFTWARE_RENDERERS))
        self.ctx.error
        if self.info.software and on_raspberry_pi():
            log.warning("GL renderer is %s, a SOFTWARE renderer: the Pi's GPU could not be "
                        "opened. Is the service user in the 'render' and 'video' groups?",
                        renderer)
        else:
            log.info("GL %s: %s (%s)", api, renderer, self.info.version)

    def make_current(self) -> None:
        """Several engines may share a thread; each call re-binds its own context first."""
        self._egl.make_current()

    def limit(self, name: str, default: int) -> int:
        """A GL limit as the driver reports it (0 or errors fall back to the default)."""
        value = self.ctx.info.get(name)
        self.ctx.error
        try:
            return int(value) or default
        except (TypeError, ValueError):
            return default

    def release(self) -> None:
        self.ctx.release()
        self._egl.release()
