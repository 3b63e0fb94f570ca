"""Op by op, the GPU against the NumPy reference, each op fed the reference's input codes
(spec §6: ≥ 99.99 % of codes equal, none off by more than 1; dense logits within 4/256)."""
import numpy as np
import pytest

from engine.images import natural, synthetic
from gpu_engine import reference
from gpu_engine.ops import Conv2D, Dense, ImageSampler, Softmax
from gpu_engine.ops.base import to_codes


def assert_codes_match(gpu: np.ndarray, values: np.ndarray, what: str) -> None:
    """Codes equal but for ±1 at ≤ 0.01 % of them. `values` are the reference's unrounded
    outputs: those on an exact rounding tie (k + 0.5 codes, e.g. bilinear halfway between two
    texels) may round either way, as the reference rounds half up and GPUs round ties to even."""
    expected = to_codes(values)
    assert gpu.shape == expected.shape, what
    diff = np.abs(gpu.astype(int) - expected.astype(int))
    assert diff.max() <= 1, f"{what}: a code differs by {diff.max()}"
    scaled = np.clip(values, 0, 1) * 255
    tie = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    equal = float(np.mean(diff[~tie] == 0))
    assert equal >= 0.9999, f"{what}: only {equal:.6f} of the codes are equal"


def check_every_op(engine, model, image):
    outputs = reference.run(model, image, "gles2")
    engine.upload_rgb(image)
    sampler = model.sampler.name
    assert_codes_match(engine.read_tensor(sampler), model.sampler.reference(image, "float"),
                       sampler)
    for op in model.ops:
        if isinstance(op, (ImageSampler, Softmax)):
            continue
        for connection in op.inputs.values():
            engine.write_tensor(connection.source, outputs[connection.source])
        engine.run_op(op.name)
        if isinstance(op, Dense):
            np.testing.assert_allclose(engine.logits(), outputs[op.name], atol=4 / 256,
                                       err_msg="dense logits")
        else:
            unrounded = op.reference(reference.op_inputs(model, model.ops.index(op), outputs),
                                     "float") if isinstance(op, Conv2D) else outputs[op.name]
            assert_codes_match(engine.read_tensor(op.name), unrounded, op.name)


@pytest.mark.parametrize("image", [synthetic, lambda: natural("chelsea")], ids=["synthetic", "chelsea"])
def test_every_op_of_the_dog_classifier(gles2_engine, dog_model, image):
    check_every_op(gles2_engine, dog_model, image())


def test_yuv420_frames_are_converted_and_resampled_like_the_reference(gles2_engine, dog_model):
    rgb = np.tile(natural("astronaut"), (1, 2, 1)).astype(np.float64) / 255
    height, width = 480, 640  # the lores size the appliance uses, different aspect than 1:1
    y = np.round(255 * (0.299 * rgb[:height, :width, 0] + 0.587 * rgb[:height, :width, 1]
                        + 0.114 * rgb[:height, :width, 2])).astype(np.uint8)
    rng = np.random.default_rng(1)
    u = rng.integers(60, 200, (height // 2, width // 2), dtype=np.uint8)
    v = rng.integers(60, 200, (height // 2, width // 2), dtype=np.uint8)
    # A picamera2 lores buffer is strided: hand the engine non-contiguous plane views.
    padded = np.zeros((height, width + 64), np.uint8)
    padded[:, :width] = y
    gles2_engine.upload_yuv420(padded[:, :width], u, v)
    expected = dog_model.sampler.reference_yuv420(y, u, v, "float")
    assert_codes_match(gles2_engine.read_tensor("input"), expected, "yuv input")


def test_bad_frames_are_refused_clearly(gles2_engine):
    with pytest.raises(ValueError, match="uint8"):
        gles2_engine.classify_rgb(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="planes"):
        gles2_engine.classify_yuv420(np.zeros((10, 10), np.uint8), np.zeros((4, 4), np.uint8),
                                     np.zeros((5, 5), np.uint8))
