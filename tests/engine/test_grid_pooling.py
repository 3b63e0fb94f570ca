"""grid_pooling on the GPU against the reference, and the feature extractors it ends: cells of
unequal sizes (maps that the grid does not divide), non-square maps, the read-back vector in
the order the few-shot descriptor is defined in (cell by cell, the layer's channels)."""
import numpy as np
import pytest

from engine.builder import feature_model as small_model
from engine.images import natural, yuv420
from engine.op_check import assert_codes_match, check_ops
from gpu_engine import Embedder, Engine, FeatureSpec, ModelError, load_model_bytes, reference
from gpu_engine.features import feature_model
from gpu_engine.ops.grid_pooling import GridPooling
from gpu_engine.oracle import codes_problem


def descriptor(layer: np.ndarray, grid: int) -> np.ndarray:
    """The descriptor as the few-shot study defines it: the map split as numpy.array_split
    splits, each cell's mean, stored as an 8-bit code."""
    rows = np.array_split(np.arange(layer.shape[0]), grid)
    columns = np.array_split(np.arange(layer.shape[1]), grid)
    return np.concatenate([layer[r[0]:r[-1] + 1, c[0]:c[-1] + 1].mean(axis=(0, 1))
                           for r in rows for c in columns])


@pytest.fixture(scope="module")
def dog_features(dog_model):
    """The dog classifier's b3-scale (23x23: cells of 8, 8 and 7) over a 3x3 grid."""
    model = feature_model(dog_model, FeatureSpec("b3-scale", 3))
    engine = Engine(model)
    yield model, engine
    engine.release()


def test_cells_split_as_array_split():
    op = GridPooling(name="g", grid=3)
    assert op.cells(23) == [(0, 8), (8, 8), (16, 7)]
    assert op.cells(11) == [(0, 4), (4, 4), (8, 3)]
    assert op.cells(9) == [(0, 3), (3, 3), (6, 3)]
    assert [len(op.bands(n)) for n in (23, 9)] == [2, 1]


def test_grid_pooling_of_the_dog_classifier(dog_features):
    model, engine = dog_features
    assert model.ops[-1].shape == (3, 3, 128)
    assert check_ops(engine, model, natural("chelsea"), "grid_pooling", "float") == 1
    passes = [p for p in engine.plan.passes if p.op == model.ops[-1].name]
    assert len(passes) == 4  # long and short rows by long and short columns of cells
    assert sum(p.fragments for p in passes) == 9 * 32


@pytest.mark.parametrize("layer,grid", [("c1", 3), ("pw", 2), ("c2", 3)])
def test_grid_pooling_of_non_square_maps(layer, grid, feature_images):
    base = load_model_bytes(small_model())
    model = feature_model(base, FeatureSpec(layer, grid))
    engine = Engine(model)
    try:
        for image in feature_images:
            assert check_ops(engine, model, image, "grid_pooling", "float") == 1
    finally:
        engine.release()


def test_the_vector_is_the_pooled_layer_cell_by_cell(dog_features):
    """The read-back vector is the descriptor of the layer's codes as the GPU left them, and
    the whole path agrees with the reference of the region cropped on the CPU."""
    model, engine = dog_features
    frame = natural("coffee")  # 400 x 600
    region = (0.25, 0.2, 0.5, 0.6)
    vector = engine.classify_rgb(frame, region)
    assert vector.dtype == np.float32 and vector.shape == (9 * 128,)
    assert np.all((vector >= 0) & (vector <= 1))
    codes = np.round(vector * 255)
    np.testing.assert_allclose(vector * 255, codes, atol=1e-4)  # codes / 255
    layer = engine.read_tensor("b3-scale").astype(np.float64) / 255
    problem = codes_problem(codes.astype(np.uint8), descriptor(layer, 3))
    assert problem is None, problem
    exact = np.round(255 * reference.run(model, frame, "gles2", region)[model.ops[-1].name])
    # ties the GPU rounds otherwise, carried on through 20 layers, move a few cells by a code
    difference = np.abs(exact.reshape(-1) - codes)
    assert difference.max() <= 3 and difference.mean() < 0.25


def test_embedder_of_an_engine(gles2_engine):
    frame = natural("astronaut")
    probabilities = gles2_engine.classify_rgb(frame)
    embedder = gles2_engine.embedder(FeatureSpec("b4-scale", 3, (193, 193)))
    try:
        assert isinstance(embedder, Embedder)
        assert embedder.dimension == 9 * 192
        assert embedder.model.input_size == (193, 193)
        assert embedder.model.ops[-2].name == "b4-scale"
        whole = embedder.embed_rgb(frame)
        left = embedder.embed_rgb(frame, (0.0, 0.0, 0.5, 1.0))
        again = embedder.embed_rgb(frame, (0.0, 0.0, 0.5, 1.0))
        assert whole.shape == left.shape == (embedder.dimension,)
        np.testing.assert_array_equal(left, again)
        assert np.mean(whole != left) > 0.5  # another part of the picture, other features
        from_yuv = embedder.embed_yuv420(*yuv420(frame), (0.0, 0.0, 0.5, 1.0))
        assert np.abs(from_yuv - left).mean() < 2 / 255  # the same picture, rounded otherwise
        with pytest.raises(ValueError, match="within the frame"):
            embedder.embed_rgb(frame, (0.6, 0.0, 0.5, 1.0))
        report = embedder.self_test()
        assert report.ok, report.error
        # the classifier and the embedder take turns in one context, each as if alone
        for _ in range(2):
            np.testing.assert_array_equal(gles2_engine.classify_rgb(frame), probabilities)
            np.testing.assert_array_equal(embedder.embed_rgb(frame, (0.0, 0.0, 0.5, 1.0)), left)
    finally:
        embedder.release()
    embedder.release()  # twice is harmless
    with pytest.raises(RuntimeError, match="released"):
        embedder.embed_rgb(frame)


def test_a_feature_spec_that_cannot_be_made_is_refused_clearly(dog_model):
    with pytest.raises(ModelError, match="no 8-bit map named 'nope'"):
        feature_model(dog_model, FeatureSpec("nope", 3))
    with pytest.raises(ModelError, match="no 8-bit map named 'input'"):
        feature_model(dog_model, FeatureSpec("input", 3))
    with pytest.raises(ModelError, match="does not fit the 5x5 map"):
        feature_model(dog_model, FeatureSpec("b5-scale", 6))
    with pytest.raises(ModelError, match="more than 256"):
        feature_model(dog_model, FeatureSpec("b2-scale", 2))
    with pytest.raises(ModelError, match="grid"):
        feature_model(dog_model, FeatureSpec("b3-scale", 0))
