"""dense on the GPU against the reference: Q8.8 fixed point, staged sums with left padding,
bias (or none), logits within 4/256 (spec §4.6, §6)."""
from engine.images import natural, synthetic
from engine.op_check import check_ops


def test_logits_of_the_dog_classifier(gles2_engine, dog_model):
    for image in (synthetic(), natural("chelsea")):
        assert check_ops(gles2_engine, dog_model, image, "dense") == 1


def test_dense_without_bias(features, feature_images):
    model, engine = features
    for image in feature_images:
        assert check_ops(engine, model, image, "dense") == 1


def test_addresses_need_no_division(gles2_engine):
    """Input and weight texels come from the vertex stage: no floor(a / b) in the kernels,
    which a reciprocal-based division (vc4) can land one below an integer."""
    plan = gles2_engine.plan
    kernels = [p for p in plan.programs.values() if p.kernel.startswith("dense")]
    assert len(kernels) == 4
    assert all(" / " not in p.fragment_source.split("void main")[-1] for p in kernels)
