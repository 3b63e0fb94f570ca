"""softmax on the CPU after the read-back, as the reference computes it."""
import numpy as np

from engine.images import natural
from engine.op_check import check_ops
from gpu_engine.ops.softmax import softmax


def test_softmax_of_the_read_back_logits(gles2_engine, dog_model, features, feature_images):
    assert check_ops(gles2_engine, dog_model, natural("chelsea"), "softmax") == 1
    model, engine = features
    assert check_ops(engine, model, feature_images[0], "softmax") == 1
    probabilities = engine.classify_rgb(feature_images[0])
    np.testing.assert_allclose(probabilities, softmax(engine.logits()), atol=1e-6)


def test_softmax_never_overflows():
    p = softmax(np.array([1000.0, 999.0, -1000.0]))
    assert np.isfinite(p).all() and abs(p.sum() - 1) < 1e-6 and p[0] > p[1] > p[2]
