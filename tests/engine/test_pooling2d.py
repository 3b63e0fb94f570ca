"""pooling2d on the GPU against the reference: average (the format's 1/K² literal) and max with
'same' padding, several quads drawn by one pass."""
from engine.images import natural
from engine.op_check import check_ops


def test_average_pool_of_the_dog_classifier(gles2_engine, dog_model):
    assert check_ops(gles2_engine, dog_model, natural("chelsea"), "pooling2d") == 1
    pool = [p for p in gles2_engine.plan.passes if p.op == "b7-pool"]
    assert len(pool) == 1 and len(pool[0].rects) == 48  # every quad in one draw


def test_max_and_average_pooling(features, feature_images):
    model, engine = features
    for image in feature_images:
        assert check_ops(engine, model, image, "pooling2d") == 2
