"""image_sampler on the GPU against the reference: crop and resize of RGB and YUV420 frames."""
import numpy as np
import pytest

from engine.images import natural, synthetic
from engine.op_check import assert_codes_match, check_ops


@pytest.mark.parametrize("image", [synthetic, lambda: natural("chelsea")],
                         ids=["synthetic", "chelsea"])
def test_bilinear_centre_crop_of_the_dog_classifier(gles2_engine, dog_model, image):
    assert check_ops(gles2_engine, dog_model, image(), "image_sampler") == 1


def test_nearest_sampling_without_crop(features, feature_images):
    model, engine = features
    for image in feature_images:
        assert check_ops(engine, model, image, "image_sampler") == 1


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
