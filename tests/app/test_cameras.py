"""Camera sources, the newest-frame slot, the preview, and the retrying supervisor."""
from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

import picamera2_standin
from app.cameras import CameraError, CameraSupervisor, FrameSlot, Preview, make_camera
from app.cameras.base import Camera, Frame
from app.cameras.files import FilesCamera
from app.cameras.picam import yuv420_planes
from crafted_images import black_png
from serving import wait_for


def write_images(folder, colours, size=(64, 48)):
    for i, colour in enumerate(colours):
        Image.new("RGB", size, colour).save(folder / f"{i:02d}.png")


def test_yuv420_planes_cut_padding_and_split_chroma():
    width, height, stride = 6, 4, 16
    array = np.full((height * 3 // 2, stride), 0xEE, np.uint8)
    array[:height, :width] = np.arange(24).reshape(4, 6)
    array[4, :3], array[4, 8:11] = [1, 2, 3], [4, 5, 6]  # U rows 0 and 1
    array[5, :3], array[5, 8:11] = [7, 8, 9], [10, 11, 12]  # V rows 0 and 1
    y, u, v = yuv420_planes(array, width, height)
    assert y.shape == (4, 6) and u.shape == v.shape == (2, 3)
    np.testing.assert_array_equal(y, np.arange(24).reshape(4, 6))
    np.testing.assert_array_equal(u, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(v, [[7, 8, 9], [10, 11, 12]])
    assert np.shares_memory(y, array) and np.shares_memory(u, array)  # views, not copies
    with pytest.raises(CameraError, match="unexpected YUV420 array"):
        yuv420_planes(array[:5], width, height)


def test_frame_slot_keeps_only_the_newest():
    slot = FrameSlot()
    assert slot.take(timeout=0.01) is None
    for n in range(1, 4):
        slot.put(n)  # the slot does not look inside what it holds
    assert slot.take(0.01) == 3 and slot.overwritten == 2
    threading.Timer(0.05, slot.put, args=(4,)).start()
    assert slot.take(timeout=5) == 4


def test_files_source_loops_a_folder_and_shrinks_large_pictures(tmp_path):
    write_images(tmp_path, ["red", "lime", "blue"], size=(1280, 960))
    (tmp_path / "notes.txt").write_text("not an image")
    camera = FilesCamera(str(tmp_path), fps=50, max_size=(320, 240))
    camera.open(Preview())
    colours = [tuple(camera.read().rgb[10, 10]) for _ in range(4)]
    assert colours == [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 0, 0)]
    assert camera.read().rgb.shape == (240, 320, 3)
    camera.close()


def test_files_source_names_a_picture_too_large_to_decode(tmp_path):
    (tmp_path / "column.png").write_bytes(black_png(1, 16_000_000))  # 60 KB, 192 MB decoded
    camera = FilesCamera(str(tmp_path), fps=50)
    camera.open(Preview())
    with pytest.raises(CameraError, match="cannot decode .*column.png: the image is 1x16000000"):
        camera.read()


def test_files_source_plays_an_animated_image(tmp_path):
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    camera = FilesCamera(str(tmp_path / "anim.gif"), fps=50)
    camera.open(Preview())
    reds = [int(camera.read().rgb[0, 0, 0]) for _ in range(3)]
    assert reds[0] > 200 and reds[1] < 50 and reds[2] > 200


def test_files_source_plays_and_loops_a_video(tmp_path):
    av = pytest.importorskip("av", reason="PyAV plays video files")
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for colour in ("red", "lime", "blue"):
            for _ in range(2):
                picture = av.VideoFrame.from_image(Image.new("RGB", (64, 48), colour))
                container.mux(stream.encode(picture))
        container.mux(stream.encode())
    camera = FilesCamera(str(path), fps=100)
    camera.open(Preview())
    centres = [camera.read().rgb[24, 32].astype(int) for _ in range(8)]
    camera.close()
    dominant = [int(np.argmax(rgb)) for rgb in centres]
    assert dominant == [0, 0, 1, 1, 2, 2, 0, 0]  # red, green, blue, then the video loops
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    camera = FilesCamera(str(broken), fps=50)
    camera.open(Preview())
    with pytest.raises(CameraError, match="cannot decode video"):
        camera.read()


def test_files_source_errors_are_clear(tmp_path):
    with pytest.raises(CameraError, match="does not exist"):
        FilesCamera(str(tmp_path / "nope"), fps=5).open(Preview())
    with pytest.raises(CameraError, match="no images or videos"):
        FilesCamera(str(tmp_path), fps=5).open(Preview())
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    camera = FilesCamera(str(tmp_path), fps=50)
    camera.open(Preview())
    with pytest.raises(CameraError, match="cannot decode .*broken.jpg"):
        camera.read()


def test_preview_encodes_only_when_asked_and_once_per_frame():
    preview = Preview(quality=70)
    assert preview.jpeg() is None
    for frame, shade in ((1, 10), (2, 200)):
        preview.put_rgb(np.full((24, 32, 3), shade, np.uint8), frame)
    assert preview.encoded == 0
    frame, data = preview.jpeg()
    assert frame == 2 and preview.jpeg() == (2, data) and preview.encoded == 1
    assert np.asarray(Image.open(io.BytesIO(data)))[5, 5, 0] > 150
    preview.camera_frame = 3
    preview.put_jpeg(b"\xff\xd8hardware")  # numbered as the newest captured frame
    assert preview.jpeg() == (3, b"\xff\xd8hardware") and preview.encoded == 1


def test_preview_keeps_classified_pictures_by_frame_number():
    preview = Preview(quality=70)
    preview.classified(5, np.full((24, 32, 3), 200, np.uint8))
    assert preview.classified_jpeg(4) is None and preview.classified_jpeg()[0] == 5
    for frame in (7, 9):  # hardware JPEGs: a classified frame takes its own or the one before
        preview.camera_frame = frame
        preview.put_jpeg(b"\xff\xd8frame%d" % frame)
    preview.classified(8)
    assert preview.classified_jpeg(8) == (8, b"\xff\xd8frame7")
    for frame in range(10, 20):
        preview.classified(frame)
    assert preview.classified_jpeg(8) is None and preview.classified_jpeg()[0] == 19


def test_supervisor_retries_a_missing_source_with_back_off_then_recovers(tmp_path):
    folder = tmp_path / "pictures"
    slot, preview = FrameSlot(), Preview()
    supervisor = CameraSupervisor(lambda: FilesCamera(str(folder), fps=20), slot, preview,
                                  retry_min_s=0.05, retry_max_s=0.2, source="files")
    supervisor.start()
    try:
        assert wait_for(lambda: supervisor.failures >= 3)
        status = supervisor.status()
        assert status["state"] == "retrying" and "does not exist" in status["error"]
        folder.mkdir()
        write_images(folder, ["red"])
        assert wait_for(lambda: supervisor.status()["state"] == "running" and supervisor.frames > 2)
        frame = slot.take(timeout=2)
        assert frame.rgb[0, 0].tolist() == [255, 0, 0] and frame.number >= 1
        assert preview.seq >= 1 and supervisor.status()["error"] is None
    finally:
        supervisor.stop()
    assert supervisor.state == "stopped" and not supervisor.is_alive()


def test_picamera2_start_frames_failure_and_recovery(monkeypatch, caplog):
    world = picamera2_standin.install(monkeypatch)
    slot, preview = FrameSlot(), Preview()
    supervisor = CameraSupervisor(
        lambda: make_camera("picamera2", fps=50, size=(320, 240), inference_size=(100, 75),
                            buffer_count=3),
        slot, preview, retry_min_s=0.05, retry_max_s=0.2, source="picamera2")
    supervisor.start()
    try:
        first = slot.take(timeout=5)
        camera = world.instances[0]
        lores = camera.camera_config["lores"]
        assert camera.camera_config["main"]["format"] == "YUV420"
        assert camera.camera_config["buffer_count"] == 3
        assert camera.camera_config["controls"]["FrameDurationLimits"] == (20000, 20000)
        assert lores["stride"] > lores["size"][0]  # the padded layout is really exercised
        y, u, v = first.yuv
        width, height = lores["size"]
        assert y.shape == (height, width) and u.shape == v.shape == (height // 2, width // 2)
        expected_y, expected_u, expected_v = picamera2_standin.frame_content(first.number,
                                                                             width, height)
        np.testing.assert_array_equal(y, expected_y)
        assert (u == expected_u).all() and (v == expected_v).all()
        assert first.rgb is None
        # the hardware JPEG preview arrives without any CPU encode on our side
        assert wait_for(lambda: preview.seq > 0)
        seq, data = preview.jpeg()
        assert Image.open(io.BytesIO(data)).size == (320, 240) and preview.encoded == 0

        # the next frame fails, then the camera is missing twice, then it comes back; each
        # failure is read from the log, as the retries replace supervisor.error faster than a
        # busy test polls
        with world.lock:
            world.fail_after_frames, world.then_missing = world.frames + 1, 2
        def logged_failures():
            return [record.getMessage() for record in caplog.records
                    if record.name == "app.cameras.supervisor"]
        assert wait_for(lambda: len(logged_failures()) >= 3, timeout=5)
        first_three = logged_failures()[:3]
        assert supervisor.failures >= 3
        assert "Camera frontend has timed out" in first_three[0]
        assert all("no camera 0" in failure for failure in first_three[1:])
        assert wait_for(lambda: supervisor.state == "running" and len(world.instances) == 2)
        frames_before = supervisor.frames
        assert wait_for(lambda: supervisor.frames > frames_before + 3)
        assert world.instances[0].closed and not world.instances[0].started
    finally:
        supervisor.stop()
    assert world.instances[-1].closed


def test_demo_source_moves():
    camera = make_camera("demo", fps=20, size=(96, 64))
    camera.open(Preview())
    first, later = camera.read(), [camera.read() for _ in range(10)][-1]
    assert first.rgb.shape == (64, 96, 3) and first.rgb.dtype == np.uint8
    assert later.timestamp > first.timestamp and not np.array_equal(first.rgb, later.rgb)
    camera.close()


def test_a_camera_that_hangs_shows_as_stalled_until_frames_return():
    release = threading.Event()

    class HangingCamera(Camera):
        """Delivers two frames, then blocks inside read() like a wedged driver."""

        def __init__(self):
            super().__init__()
            self.count = 0

        def open(self, preview):
            pass

        def read(self):
            self.count += 1
            if self.count > 2:
                release.wait(30)
            now = time.monotonic()
            return Frame(timestamp=time.time(), monotonic=now, capture_s=0.0,
                         rgb=np.zeros((4, 4, 3), np.uint8))

        def close(self):
            pass

    supervisor = CameraSupervisor(HangingCamera, FrameSlot(), Preview(), source="test",
                                  stall_after_s=0.3)
    supervisor.start()
    try:
        assert wait_for(lambda: supervisor.status()["state"] == "stalled")
        assert "no frame for" in supervisor.status()["error"]
        release.set()
        assert wait_for(lambda: supervisor.status()["state"] == "running")
        assert supervisor.status()["error"] is None
    finally:
        release.set()
        supervisor.stop()
