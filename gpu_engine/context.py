"""A GL context of our own (EGL, OpenGL ES 2.0) with the engine's GL function table."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from gpu_engine import egl
from gpu_engine import gles2 as g

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


def on_raspberry_pi() -> bool:
    try:
        return "Raspberry Pi" in Path("/proc/device-tree/model").read_text(errors="replace")
    except OSError:
        return False


class GLContext:
    """Our EGL context, current in this thread, and `gl`: its functions (calls counted into
    `calls` when one is given)."""

    def __init__(self, calls: g.CallLog | None = None):
        # The engine whose calls ran last here: engines sharing the context (a feature
        # extractor and its engine) forget what they left bound when another one ran.
        self.user: object | None = None
        self._egl = egl.create_context()
        try:
            self.gl = g.GLES2(self._egl.get_proc_address, log=calls)
            self.gl.check("after creating the context")
            renderer = self.gl.string(g.GL_RENDERER)
            self.info = GLInfo(vendor=self.gl.string(g.GL_VENDOR), renderer=renderer,
                               version=self.gl.string(g.GL_VERSION), api=egl.API_GLES2,
                               software=any(s in renderer.lower() for s in SOFTWARE_RENDERERS))
        except BaseException:
            self._egl.release()
            raise
        if self.info.software and on_raspberry_pi():
            log.warning("GL renderer is %s, a SOFTWARE renderer: the Pi's GPU could not be "
                        "opened. Is the service user in the 'render' and 'video' groups?",
                        renderer)
        else:
            log.info("GL: %s (%s)", renderer, self.info.version)

    def make_current(self) -> None:
        """Several engines may share a thread; each call re-binds its own context first."""
        self._egl.make_current()

    def limit(self, name: int) -> int:
        """A GL limit as the driver reports it."""
        return self.gl.integer(name)

    def release(self) -> None:
        """Destroying the context frees every object made in it."""
        self._egl.release()
