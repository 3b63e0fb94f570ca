"""The engine's checked GL table on its own, against a real OpenGL ES 2.0 context: a call that
sets an error raises with the call's name and arguments and leaves no error behind; every call
is counted; a library without an entry point is refused at once."""
import ctypes

import pytest

from gpu_engine import gles2 as g
from gpu_engine.context import GLContext

BAD_ENUM = 0x1234


@pytest.fixture(scope="module")
def module_context():
    context = GLContext(calls=g.CallLog(keep_calls=True))
    yield context
    context.release()


@pytest.fixture
def gl(module_context) -> g.GLES2:
    module_context.make_current()  # other tests' engines share this thread
    module_context.gl.log.reset()
    return module_context.gl


def test_the_context_is_exactly_es2(gl):
    assert gl.string(g.GL_VERSION).startswith("OpenGL ES 2.0")
    assert gl.integer(g.GL_MAX_TEXTURE_SIZE) >= 2048


def test_an_error_is_raised_with_the_calls_name_and_arguments(gl):
    with pytest.raises(g.GLError, match=r"^OpenGL error GL_INVALID_ENUM from "
                                        rf"glBindTexture\({BAD_ENUM}, 0\)$"):
        gl.checked("glBindTexture", BAD_ENUM, 0)
    assert gl.errors() == []
    gl.checked("glBindTexture", g.GL_TEXTURE_2D, 0)  # the next call is not blamed for it


def test_an_unchecked_error_waits_for_the_next_check_and_is_drained_by_it(gl):
    gl.glActiveTexture(g.GL_TEXTURE0 + 4096)  # beyond every unit: GL_INVALID_ENUM
    gl.glBindTexture(BAD_ENUM, 0)
    with pytest.raises(g.GLError, match=r"GL_INVALID_ENUM.* after the two calls"):
        gl.check("after the two calls")
    assert gl.errors() == []


def test_a_value_returned_by_a_call_comes_back_through_checked(gl):
    program = gl.checked("glCreateProgram")
    assert program > 0
    status = ctypes.c_int(-1)
    gl.checked("glGetProgramiv", program, g.GL_LINK_STATUS, ctypes.addressof(status))
    assert status.value == 0  # never linked
    with pytest.raises(g.GLError, match=r"GL_INVALID_ENUM from glGetProgramiv\("):
        gl.checked("glGetProgramiv", program, BAD_ENUM, ctypes.addressof(status))


def test_every_call_is_counted_and_kept_with_plain_arguments(gl):
    log = gl.log
    gl.glViewport(*gl.prepared("glViewport", (1, 2, 3, 4)))
    gl.checked("glScissor", 0, 0, 8, 8)
    assert log.calls == [("glViewport", (1, 2, 3, 4)), ("glScissor", (0, 0, 8, 8)),
                         ("glGetError", ())]
    assert log.counts["glViewport"] == 1 and log.total == 3
    log.reset()
    assert log.total == 0 and log.calls == []


def test_prepared_arguments_take_the_declared_c_types(gl):
    prepared = gl.prepared("glUniform4fv", (3, 1, 4096))
    assert [type(a) for a in prepared] == [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    assert g.plain(prepared) == (3, 1, 4096)


def test_a_library_without_an_entry_point_is_refused(module_context):
    real = module_context._egl.get_proc_address
    with pytest.raises(g.GLError, match="^the GL library has no glReadPixels$"):
        g.GLES2(lambda name: 0 if name == "glReadPixels" else real(name))


def test_messages_stay_short_and_name_unknown_errors():
    assert g.describe("glShaderSource", (7, "x" * 100)) == \
        f"glShaderSource(7, '{'x' * 36}...)"
    assert g.error_names([0x0501, 0x0505, 0x9999]) == \
        "GL_INVALID_VALUE, GL_OUT_OF_MEMORY, 0x9999"
