"""End to end, the GPU against the NumPy gles2 reference (spec §6: max |Δp| ≤ 0.08, same
top-1 where the reference's margin exceeds 0.05, confident images within ~1e-3)."""
import numpy as np
import pytest

from engine.images import natural, synthetic
from gpu_engine import Engine, reference, top_k

IMAGES = {"synthetic": synthetic, "chelsea": lambda: natural("chelsea"),
          "coffee": lambda: natural("coffee"), "astronaut": lambda: natural("astronaut"),
          "rocket": lambda: natural("rocket")}


def compare(engine, model, image):
    gpu = engine.classify_rgb(image)
    ref = reference.classify(model, image, "gles2")
    assert gpu.shape == (120,) and abs(float(gpu.sum()) - 1) < 1e-4
    assert np.max(np.abs(gpu - ref)) <= 0.08
    first, second = np.sort(ref)[::-1][:2]
    if first - second > 0.05:
        assert int(np.argmax(gpu)) == int(np.argmax(ref))
    return gpu, ref


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_gles2_context_matches_reference(gles2_engine, dog_model, name):
    compare(gles2_engine, dog_model, IMAGES[name]())


def test_chelsea_is_confidently_a_tiger_cat(gles2_engine, dog_model):
    gpu, ref = compare(gles2_engine, dog_model, natural("chelsea"))
    assert np.max(np.abs(gpu - ref)) < 1e-3
    assert top_k(gpu, dog_model.labels, 1)[0][:2] == (119, "tiger_cat")
    assert gpu[119] > 0.99


def test_rgba_and_grey_inputs(gles2_engine, dog_model):
    image = natural("chelsea")
    rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), 7, np.uint8)], axis=2)
    np.testing.assert_allclose(gles2_engine.classify_rgb(rgba), gles2_engine.classify_rgb(image),
                               atol=1e-6)


def test_engine_reports_its_renderer_and_timings(gles2_engine):
    info = gles2_engine.gl_info
    assert info.api == "gles2" and "OpenGL ES 2.0" in info.version
    assert info.software is True  # llvmpipe here; on a Pi this must be False
    gles2_engine.classify_rgb(synthetic())
    assert set(gles2_engine.last_timings) == {"upload", "gpu", "readback"}
    assert all(t >= 0 for t in gles2_engine.last_timings.values())
