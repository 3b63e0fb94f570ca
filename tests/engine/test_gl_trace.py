"""The GL calls the engine makes, traced through its counting GL table in a real OpenGL ES 2.0
context: only ES 2.0 core and what the Pi's vc4 driver offers, and no state set twice."""
import ctypes

import numpy as np
import pytest

from engine.images import natural, yuv420
from gpu_engine import Engine
from gpu_engine import gles2 as g

# Entry points of the extensions a VideoCore IV offers that an engine could use.
EXTENSION_FUNCTIONS = {
    "GL_OES_vertex_array_object": {"glBindVertexArrayOES", "glDeleteVertexArraysOES",
                                   "glGenVertexArraysOES", "glIsVertexArrayOES"},
    "GL_EXT_discard_framebuffer": {"glDiscardFramebufferEXT"},
    "GL_EXT_draw_buffers": {"glDrawBuffersEXT"},
    "GL_NV_read_buffer": {"glReadBufferNV"},
    "GL_OES_mapbuffer": {"glMapBufferOES", "glUnmapBufferOES", "glGetBufferPointervOES"},
    "GL_EXT_map_buffer_range": {"glMapBufferRangeEXT", "glFlushMappedBufferRangeEXT"},
    "GL_EXT_texture_storage": {"glTexStorage2DEXT"},
    "GL_EXT_multi_draw_arrays": {"glMultiDrawArraysEXT", "glMultiDrawElementsEXT"},
}


@pytest.fixture(scope="module")
def vc4_functions(vc4_tool) -> frozenset[str]:
    extensions = vc4_tool / "vc4-extensions.txt"
    if not extensions.exists():
        pytest.fail(f"vc4's extension list is expected at {extensions}")
    names = set(extensions.read_text().split())
    return g.ES2_CORE | set().union(*(f for e, f in EXTENSION_FUNCTIONS.items() if e in names))


@pytest.fixture(scope="module")
def traced(dog_model):
    log = g.CallLog(keep_calls=True)
    engine = Engine(dog_model, gl_calls=log)
    setup = list(log.calls)
    yield engine, log, setup
    engine.release()


def test_set_up_and_frames_use_only_es2_core_and_vc4_extensions(traced, vc4_functions):
    engine, log, setup = traced
    assert "OpenGL ES 2.0" in engine.gl_info.version
    outside = {name for name, _ in setup} - vc4_functions
    assert not outside, f"set-up calls outside ES 2.0 + vc4: {sorted(outside)}"
    assert len(setup) > 1000  # the trace saw the set-up: programs, textures, framebuffers
    image = natural("chelsea")
    for classify in (lambda: engine.classify_rgb(image),
                     lambda: engine.classify_yuv420(*yuv420(image))):
        log.reset()
        assert np.argmax(classify()) == 119  # tiger cat
        names = {name for name, _ in log.calls}
        assert {"glDrawArrays", "glReadPixels", "glGetError"} <= names
        outside = names - vc4_functions
        assert not outside, f"frame calls outside ES 2.0 + vc4: {outside}"


def test_draws_and_framebuffer_binds_follow_the_plan(traced):
    engine, log, _ = traced
    image = natural("chelsea")
    engine.classify_rgb(image)
    log.reset()
    engine.classify_rgb(image)
    passes = engine.plan.passes
    assert log.counts["glDrawArrays"] == len(passes) + 1  # and the sampler pass
    # A framebuffer is bound where the target changes, never again for the same one.
    changes = 1 + sum(a.target != b.target for a, b in zip(passes, passes[1:]))
    assert log.counts["glBindFramebuffer"] == 1 + changes  # the sampler's, then the plan's
    assert log.counts["glGetError"] <= 16  # checked uploads and one drain per frame


def test_a_steady_frame_sets_no_state_that_is_already_set(traced):
    """Replays two frames' calls against a model of GL state: in the second no bind, program
    or uniform write repeats what is already in place (programs keep uniforms across frames)."""
    engine, log, _ = traced
    image = natural("chelsea")
    engine.classify_rgb(image)
    log.reset()
    engine.classify_rgb(image)
    first = len(log.calls)
    engine.classify_rgb(image)
    state, repeats = {}, []
    for index, (name, args) in enumerate(log.calls):
        if name in ("glBindFramebuffer", "glViewport", "glActiveTexture", "glUseProgram"):
            key, value = name, args
        elif name == "glBindTexture":
            key, value = ("unit", state.get("glActiveTexture")), args
        elif name.startswith("glUniform"):
            floats = {"1i": 0, "1f": 1, "2f": 2, "3f": 3, "4f": 4}[name[9:11]]
            size = 4 * floats * args[1]
            data = ctypes.string_at(args[-1], size) if size else args[-1]
            key, value = ("uniform", state.get("glUseProgram"), args[0]), data
        else:
            continue
        if index >= first and state.get(key) == value:
            repeats.append((name, args))
        state[key] = value
    assert not repeats, f"{len(repeats)} redundant calls, first {repeats[:5]}"


def test_a_gl_error_in_a_frame_names_the_call(dog_model):
    """A program deleted behind the engine's back: the frame's error is found and replayed
    call by call to the glUseProgram that fails, in the op that uses it."""
    engine = Engine(dog_model)
    try:
        image = natural("chelsea")
        engine.classify_rgb(image)
        key = engine.plan.passes[-1].program_key
        program = engine._programs[key].id
        delete = ctypes.CFUNCTYPE(None, ctypes.c_uint)(
            engine._context._egl.get_proc_address("glDeleteProgram"))
        delete(program)
        with pytest.raises(g.GLError, match=rf"GL_INVALID_VALUE.*glUseProgram\({program}\).*"
                                            rf"op {engine.plan.passes[-1].op}"):
            engine.classify_rgb(image)
    finally:
        engine.release()


def test_each_framebuffer_bind_draws_within_the_box_of_its_rectangles(traced):
    """A tiler (vc4) loads and stores every tile inside viewport ∩ scissor of a framebuffer's
    draws: the scissor box is exactly the bounding box of the rectangles drawn before the next
    bind, so no untouched tile is loaded or stored and no drawn texel is cut."""
    engine, log, _ = traced
    engine.classify_rgb(natural("chelsea"))
    log.reset()
    engine.classify_rgb(natural("chelsea"))
    passes = iter([engine.plan.frame_passes["rgb"], *engine.plan.passes])
    spans, scissor = [], None  # per framebuffer bind: (scissor box at each draw, rectangles)
    for name, args in log.calls:
        if name == "glBindFramebuffer":
            spans.append(([], []))
        elif name == "glScissor":
            scissor = args
        elif name == "glDrawArrays":
            spans[-1][0].append(scissor)
            spans[-1][1].extend(next(passes).rects)
    assert next(passes, None) is None
    for boxes, rects in spans:
        if not rects:
            continue  # the readback's bind
        x0, y0 = min(r[0] for r in rects), min(r[1] for r in rects)
        x1, y1 = max(r[0] + r[2] for r in rects), max(r[1] + r[3] for r in rects)
        assert set(boxes) == {(x0, y0, x1 - x0, y1 - y0)}
