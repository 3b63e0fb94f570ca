"""image_sampler on the GPU against the reference: crop and resize of RGB and YUV420 frames,
centre crop or a region of the frame."""
import numpy as np
import pytest

from engine.images import natural, synthetic, yuv420
from engine.op_check import assert_codes_match, check_ops
from gpu_engine.ops.image_sampler import ImageSampler


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


@pytest.mark.parametrize("region", [(0.25, 0.2, 0.5, 0.6), (0.0, 0.5, 1.0, 0.5),
                                    (0.7, 0.1, 0.3, 0.05)])
def test_a_region_of_the_frame_is_stretched_to_the_input(gles2_engine, dog_model, region):
    """RGB and YUV420 frames: a region (fractions of the frame) in place of the centre crop,
    the same program with other uniforms, against the reference."""
    sampler = dog_model.sampler
    programs = len(gles2_engine.plan.programs)
    frame = synthetic()
    gles2_engine.upload_rgb(frame, region)
    assert_codes_match(gles2_engine.read_tensor("input"),
                       sampler.reference(frame, "float", region), f"rgb {region}")
    planes = yuv420(natural("astronaut"))
    gles2_engine.upload_yuv420(*planes, region)
    assert_codes_match(gles2_engine.read_tensor("input"),
                       sampler.reference_yuv420(*planes, "float", region), f"yuv {region}")
    assert len(gles2_engine.plan.programs) == programs


def test_a_region_reads_what_cropping_the_frame_to_it_reads(dog_model):
    """The reference: a region snapped to whole pixels equals the crop resampled without the
    centre crop, corner to corner."""
    frame = natural("coffee")  # 600 x 400
    stretch = ImageSampler(name="s", width=385, height=385, center_crop=False)
    np.testing.assert_allclose(  # positions from other origins: the last bits differ
        dog_model.sampler.reference(frame, "float", (0.25, 0.2, 0.5, 0.6)),
        stretch.reference(frame[80:320, 150:450], "float"), atol=1e-9)
    whole = dog_model.sampler.reference(frame, "float", (0.0, 0.0, 1.0, 1.0))
    np.testing.assert_array_equal(whole, stretch.reference(frame, "float"))
    assert not np.array_equal(whole, dog_model.sampler.reference(frame, "float"))


@pytest.mark.parametrize("region,problem", [
    ((0.5, 0.5, 0.6, 0.2), "within the frame"), ((0.1, 0.1, 0.0, 0.5), "within the frame"),
    ((-0.1, 0.0, 0.5, 0.5), "within the frame"), ((0.1, 0.1, 0.5), "four numbers"),
    (("a", 0, 1, 1), "four numbers"), ((0.0, float("nan"), 0.5, 0.5), "finite")])
def test_bad_regions_are_refused_clearly(gles2_engine, region, problem):
    with pytest.raises(ValueError, match=problem):
        gles2_engine.classify_rgb(np.zeros((10, 10, 3), np.uint8), region)
    with pytest.raises(ValueError, match=problem):
        gles2_engine.upload_yuv420(np.zeros((10, 10), np.uint8), np.zeros((5, 5), np.uint8),
                                   np.zeros((5, 5), np.uint8), region)
