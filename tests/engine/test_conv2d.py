"""conv2d on the GPU against the reference: image input, grouped, depthwise, pointwise,
stride 2, 'same' padding (odd too), residual, shuffled input, every activation, no bias."""
import pytest

from engine.images import natural, synthetic
from engine.op_check import check_ops
from gpu_engine import Engine
from gpu_engine.planner import FOLD_MIN_FRAGMENTS, make_plan


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


@pytest.mark.parametrize("fold", [False, True])
def test_weights_are_one_uniform_array_per_draw_or_literals_of_large_draws(dog_model, fold):
    """One uniform write per draw at most: the per-pass budget of a Pi Zero's ARM core."""
    plan = make_plan(dog_model, fold_weights=fold)
    folded = 0
    for gpu_pass in plan.passes:
        program = plan.programs[gpu_pass.program]
        if program.kernel != "conv2d.frag":
            continue
        assert "for (" not in program.fragment_source  # taps written out for vc4
        if fold and gpu_pass.fragments >= FOLD_MIN_FRAGMENTS:
            assert program.params is None and gpu_pass.params is None
            assert "uniform highp vec4 uParams" not in program.fragment_source
            folded += 1
        else:
            assert program.params == "uParams"
            assert gpu_pass.params.shape == (program.params_count, 4)
    assert folded == (96 if fold else 0)  # the 191×191 and 95×95 layers' draws
