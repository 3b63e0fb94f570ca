"""conv2d on the GPU against the reference: image input, grouped, depthwise, pointwise,
stride 2, 'same' padding (odd too), residual, shuffled input, every activation, no bias."""
import pytest

from engine.images import natural, synthetic
from engine.op_check import check_ops


@pytest.mark.parametrize("image", [synthetic, lambda: natural("chelsea")],
                         ids=["synthetic", "chelsea"])
def test_every_conv_of_the_dog_classifier(gles2_engine, dog_model, image):
    assert check_ops(gles2_engine, dog_model, image(), "conv2d", unrounded="float") == 41


def test_every_conv_option(features, feature_images):
    model, engine = features
    for image in feature_images:
        assert check_ops(engine, model, image, "conv2d", unrounded="float") == 5


def test_weights_bias_and_tile_offsets_share_one_uniform_array_per_draw(gles2_engine):
    """One uniform write per draw: the per-pass budget of a Pi Zero's ARM core."""
    plan = gles2_engine.plan
    for gpu_pass in plan.passes:
        program = plan.programs[gpu_pass.program]
        if program.kernel == "conv2d.frag":
            assert program.params == "uParams"
            assert gpu_pass.params.shape == (program.params_count, 4)
            assert "for (" not in program.fragment_source  # taps written out for vc4
