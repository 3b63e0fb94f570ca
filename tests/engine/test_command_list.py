"""The command list on its own, in a real OpenGL ES 2.0 context: draws become the GL calls they
need and no more (nothing set that the calls before left set, also across frames), and the
replayed list draws what the draws ask; a failing call is named with its draw."""
import numpy as np
import pytest

from gpu_engine import gles2 as g
from gpu_engine.command_list import Bindings, Draw, UniformWrite, record
from gpu_engine.context import GLContext
from gpu_engine.gl_objects import (compile_program, location, new_framebuffer, new_texture,
                                   new_vertex_buffer)

VERTEX = """attribute vec2 aPosition;
varying vec2 vUV;
void main() { vUV = aPosition * 0.5 + 0.5; gl_Position = vec4(aPosition, 0.0, 1.0); }
"""
FILL = """precision mediump float;
uniform vec4 uColor;
void main() { gl_FragColor = uColor; }
"""
COPY = """precision mediump float;
uniform sampler2D uSource;
varying vec2 vUV;
void main() { gl_FragColor = texture2D(uSource, vUV); }
"""
BOX = (0, 0, 4, 4)
RED, GREEN = (1.0, 0.0, 0.0, 1.0), (0.0, 1.0, 0.0, 1.0)


class Scene:
    """Two 4×4 targets, a program that fills with a uniform colour and one that copies."""

    def __init__(self) -> None:
        self.context = GLContext()
        gl = self.gl = self.context.gl
        self.fill = compile_program(gl, VERTEX, FILL, "fill")
        self.copy = compile_program(gl, VERTEX, COPY, "copy")
        self.colour = location(gl, self.fill, "uColor")
        self.a, self.b = (new_texture(gl, 4, 4, g.GL_RGBA) for _ in range(2))
        self.fb = {self.a.id: new_framebuffer(gl, self.a), self.b.id: new_framebuffer(gl, self.b)}
        quad = np.array([(-1, -1), (1, -1), (-1, 1), (1, -1), (1, 1), (-1, 1)], np.float32)
        new_vertex_buffer(gl, quad)

    def filling(self, target, colour, label="fill") -> Draw:
        write = UniformWrite(self.fill.id, self.colour, "glUniform4fv", 1,
                             np.array(colour, np.float32))
        return Draw(label, self.fill.id, self.fb[target.id], BOX, BOX, [], [write])

    def copying(self, source, target) -> Draw:
        return Draw("copy", self.copy.id, self.fb[target.id], BOX, BOX, [(0, source)], [])

    def pixels(self, target) -> set[tuple[int, ...]]:
        out = np.zeros((4, 4, 4), np.uint8)
        self.gl.checked("glBindFramebuffer", g.GL_FRAMEBUFFER, self.fb[target.id])
        self.gl.checked("glReadPixels", 0, 0, 4, 4, g.GL_RGBA, g.GL_UNSIGNED_BYTE,
                        out.ctypes.data)
        return {tuple(int(v) for v in texel) for texel in out.reshape(-1, 4)}


@pytest.fixture(scope="module")
def module_scene():
    scene = Scene()
    yield scene
    scene.context.release()


@pytest.fixture
def scene(module_scene):
    module_scene.context.make_current()  # other tests' engines share this thread
    return module_scene


def names(recorder) -> list[str]:
    return [name for name, _ in recorder.names]


def test_the_replayed_list_draws_what_was_asked_setting_nothing_twice(scene):
    draws = [scene.filling(scene.a, RED), scene.copying(scene.a, scene.b),
             scene.filling(scene.a, GREEN)]
    recorder = record(scene.gl, draws)
    assert names(recorder) == [
        "glBindFramebuffer", "glViewport", "glScissor", "glUseProgram", "glUniform4fv",
        "glDrawArrays",  # red into a
        "glBindFramebuffer", "glActiveTexture", "glBindTexture", "glUseProgram",
        "glDrawArrays",  # a copied into b: same viewport and scissor box
        "glBindFramebuffer", "glUseProgram", "glUniform4fv", "glDrawArrays"]  # green into a
    recorder.run_checked()
    assert scene.pixels(scene.a) == {(0, 255, 0, 255)}
    assert scene.pixels(scene.b) == {(255, 0, 0, 255)}


def test_a_frame_recorded_after_another_repeats_nothing_that_one_left(scene):
    draws = [scene.filling(scene.a, GREEN), scene.copying(scene.a, scene.b)]
    first = record(scene.gl, draws)
    second = record(scene.gl, draws, first.bound, first.uniforms)
    assert names(second) == ["glBindFramebuffer", "glUseProgram", "glDrawArrays",
                             "glBindFramebuffer", "glUseProgram", "glDrawArrays"]
    first.run_checked()
    scene.gl.checked("glClearColor", 0.0, 0.0, 1.0, 1.0)  # b blue: the second frame redraws it
    scene.gl.checked("glClear", g.GL_COLOR_BUFFER_BIT)
    assert scene.pixels(scene.b) == {(0, 0, 255, 255)}  # (b bound again, as `first` left it)
    second.run_checked()
    assert scene.pixels(scene.b) == {(0, 255, 0, 255)}
    # a changed value is written again, and only it
    third = record(scene.gl, [scene.filling(scene.a, RED)], second.bound, second.uniforms)
    assert names(third) == ["glBindFramebuffer", "glUseProgram", "glUniform4fv", "glDrawArrays"]


def test_the_unit_already_active_is_bound_first(scene):
    draw = Draw("two", scene.copy.id, scene.fb[scene.b.id], BOX, BOX,
                [(0, scene.a), (1, scene.b)], [])
    recorder = record(scene.gl, [draw], Bindings(program=scene.copy.id,
                                                 framebuffer=scene.fb[scene.b.id],
                                                 viewport=BOX, scissor=BOX, active_unit=1))
    calls = [(name, g.plain(args)) for (name, _), (_, args) in zip(recorder.names, recorder.calls)]
    assert calls[:3] == [("glBindTexture", (g.GL_TEXTURE_2D, scene.b.id)),
                         ("glActiveTexture", (g.GL_TEXTURE0,)),
                         ("glBindTexture", (g.GL_TEXTURE_2D, scene.a.id))]
    assert [name for name, _ in calls[3:]] == ["glDrawArrays"]


def test_a_failing_call_is_named_with_its_arguments_and_draw(scene):
    broken = Draw("op 'broken'", 987654, scene.fb[scene.a.id], BOX, BOX, [], [])
    recorder = record(scene.gl, [scene.filling(scene.a, RED), broken])
    with pytest.raises(g.GLError, match=r"GL_INVALID_VALUE from glUseProgram\(987654\) "
                                        r"in op 'broken'$"):
        recorder.run_checked()
    assert scene.gl.errors() == []  # nothing left behind for the next call to take
