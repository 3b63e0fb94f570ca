"""conv2d on the GPU against the reference: image input, grouped, depthwise, pointwise,
stride 2, 'same' padding (odd too), residual, shuffled input, every activation, no bias."""
import pytest

from engine.images import natural, synthetic
from engine.op_check import check_ops
from gpu_engine import Engine


@pytest.mark.parametrize("image", [synthetic, lambda: natural("chelsea")],
                         ids=["synthetic", "chelsea"])
def test_every_conv_of_the_dog_classifier(gles2_engine, dog_model, image):
    assert check_ops(gles2_engine, dog_model, image(), "conv2d", unrounded="float") == 41


def test_every_conv_option(features, feature_images):
    model, engine = features
    for image in feature_images:
        assert check_ops(engine, model, image, "conv2d", unrounded="float") == 5


def test_every_conv_with_weights_as_uniforms(dog_model):
    """The GPU's way (vc4): weights in a uniform array per draw, no program folds them."""
    engine = Engine(dog_model, fold_weights=False)
    try:
        assert check_ops(engine, dog_model, natural("chelsea"), "conv2d", unrounded="float") == 41
    finally:
        engine.release()

