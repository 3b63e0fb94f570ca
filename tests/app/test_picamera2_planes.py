"""picamera2's YUV420 arrays as a Pi delivers them: every height (heights % 4 == 2 put the
chroma planes mid-row of picamera2's (height*3/2, stride) array), padded strides, and the
full-range colour space the engine's conversion assumes."""
import numpy as np
import pytest

import picamera2_standin
from app.cameras.base import CameraError
from app.cameras.picam import PiCamera, yuv420_planes
from app.cameras.preview import Preview

SIZES = [(384, 288, 64), (480, 270, 64), (100, 74, 32), (320, 242, 128), (64, 48, 16),
         (98, 50, 64)]


@pytest.fixture
def world(monkeypatch):
    return picamera2_standin.install(monkeypatch)


@pytest.mark.parametrize("width, height, align", SIZES)
def test_planes_of_every_height_and_stride(world, width, height, align):
    from picamera2 import Picamera2
    world.stride_align = align
    camera = Picamera2()
    camera.configure(camera.create_video_configuration(
        main={"size": (640, 480), "format": "YUV420"},
        lores={"size": (width, height), "format": "YUV420"},
        controls={"FrameDurationLimits": (1000, 1000)}))
    camera.start()
    try:
        array = camera.capture_array("lores")
    finally:
        camera.stop()
    stride = camera.stream_configuration("lores")["stride"]
    assert array.shape == (height * 3 // 2, stride)
    y, u, v = yuv420_planes(array, width, height)
    expected_y, expected_u, expected_v = picamera2_standin.frame_content(1, width, height)
    np.testing.assert_array_equal(y, expected_y)
    assert u.shape == v.shape == (height // 2, width // 2)
    assert (u == expected_u).all() and (v == expected_v).all()  # no padding, no V in U
    assert np.shares_memory(y, array) and np.shares_memory(v, array)


def test_odd_sizes_lose_their_last_row_and_column():
    width, height, stride = 5, 3, 8
    buffer = np.arange(stride * height + 2 * (stride // 2) * 2, dtype=np.uint8)
    y, u, v = yuv420_planes(buffer.reshape(-1, stride), width, height)
    assert y.shape == (2, 4) and u.shape == v.shape == (1, 2)
    np.testing.assert_array_equal(y, [[0, 1, 2, 3], [8, 9, 10, 11]])
    np.testing.assert_array_equal(u, [[24, 25]])
    np.testing.assert_array_equal(v, [[32, 33]])


def test_a_short_buffer_is_refused():
    with pytest.raises(CameraError, match="unexpected YUV420 array"):
        yuv420_planes(np.zeros((404, 512), np.uint8), 480, 270)
    with pytest.raises(CameraError, match="unexpected YUV420 array"):
        yuv420_planes(np.zeros((405, 400), np.uint8), 480, 270)


def test_the_camera_asks_for_full_range_colour(world):
    from libcamera import ColorSpace
    camera = PiCamera(fps=50, size=(640, 480), inference_size=(480, 270))
    camera.open(Preview())
    try:
        config = world.instances[0].camera_config
        assert config["colour_space"] == ColorSpace.Sycc()
        assert config["colour_space"].range == "Full"
        assert config["lores"]["format"] == "YUV420"
        frame = camera.read()
        y, u, v = frame.yuv
        assert y.shape == (270, 480) and u.shape == v.shape == (135, 240)
        assert (u == picamera2_standin.frame_content(1, 480, 270)[1]).all()
    finally:
        camera.close()


def test_without_a_colour_space_picamera2_would_pick_limited_range(world):
    from picamera2 import Picamera2
    config = Picamera2().create_video_configuration(main={"size": (640, 480)})
    assert config["colour_space"].range == "Limited"
