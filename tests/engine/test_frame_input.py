"""Frames a Pi's GPU accepts: Y/U/V planes as luminance textures, and frames larger than its
2048-texel textures reduced on the CPU before the GPU resamples them."""
import numpy as np
import pytest

from engine.images import natural, yuv420
from gpu_engine import frame_input


def test_area_reduction_averages_whole_blocks_and_drops_the_remainder_evenly():
    image = np.arange(7 * 10 * 3, dtype=np.uint8).reshape(7, 10, 3)
    reduced = frame_input.reduce_rgb(image, limit=4)  # 10 > 4: factor 3
    assert reduced.shape == (2, 3, 3)
    # Rows 0..5 (one spare row dropped at the bottom), columns 0..8 (one dropped at the right).
    expected = image[0:6, 0:9].astype(float).reshape(2, 3, 3, 3, 3).mean(axis=(1, 3))
    np.testing.assert_array_equal(reduced, np.floor(expected + 0.5).astype(np.uint8))
    assert frame_input.reduce_rgb(image, limit=10) is image  # fits: untouched


def test_yuv_reduction_keeps_chroma_on_the_luma_blocks_it_covers():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 256, (2 * 301, 2 * 500), dtype=np.uint8)
    u = y[::2, ::2].copy()  # chroma sampled from the luma it covers
    v = 255 - u
    ry, ru, rv = frame_input.reduce_yuv420(y, u, v, limit=400)  # 1000 wide: factor 3
    assert ry.shape == (2 * 100, 2 * 166) and ru.shape == rv.shape == (100, 166)
    # Chroma has 301 rows: 100 blocks of 3, one spare row split 0 above / 1 below; luma keeps
    # the 600 rows those chroma rows cover.
    np.testing.assert_array_equal(ru, frame_input._area_mean(u, 3, 0, 1, 100, 166))
    np.testing.assert_array_equal(ry, frame_input._area_mean(y, 3, 0, 2, 200, 332))


def test_a_frame_too_narrow_to_reduce_is_refused_clearly():
    with pytest.raises(ValueError, match="too narrow"):
        frame_input.reduce_rgb(np.zeros((2, 9000, 3), np.uint8), limit=2048)


def _large(image: np.ndarray, factor: int) -> np.ndarray:
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def test_frames_beyond_2048_classify_as_their_reduced_copy(gles2_engine):
    """chelsea at 2255×1500: reduced 2x on the CPU, the same probabilities as the CPU-reduced
    frame and the top class of the original picture (vc4 refuses textures over 2048)."""
    image = natural("chelsea")
    big = _large(image, 5)
    assert max(big.shape) > 2048
    original = gles2_engine.classify_rgb(image)
    probabilities = gles2_engine.classify_rgb(big)
    np.testing.assert_array_equal(probabilities,
                                  gles2_engine.classify_rgb(frame_input.reduce_rgb(big, 2048)))
    assert np.argmax(probabilities) == np.argmax(original) == 119
    y, u, v = yuv420(big)
    yuv = gles2_engine.classify_yuv420(y, u, v)
    np.testing.assert_array_equal(yuv, gles2_engine.classify_yuv420(
        *frame_input.reduce_yuv420(y, u, v, 2048)))
    assert np.argmax(yuv) == 119


@pytest.mark.parametrize("height", [270, 271, 482])
def test_yuv_frames_of_any_even_or_odd_height(gles2_engine, height):
    """Heights % 4 == 2 (picamera2 lores 270) and odd ones: the planes the frame has."""
    image = natural("chelsea")[:height] if height <= 300 else _large(natural("chelsea"), 2)[:height]
    rgb = gles2_engine.classify_rgb(image)
    yuv = gles2_engine.classify_yuv420(*yuv420(image))
    assert np.argmax(yuv) == np.argmax(rgb)
