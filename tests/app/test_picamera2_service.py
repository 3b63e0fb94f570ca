"""The service on the picamera2 source (its stand-in): YUV lores planes classified on the GPU,
hardware JPEG preview, a camera failure mid-stream reported in /api/health, then recovery."""
from __future__ import annotations

import io

import httpx
from PIL import Image

import picamera2_standin
from serving import engine_up, running_service, wait_for


def test_picamera2_failure_and_recovery_through_the_api(monkeypatch, colour_model):
    world = picamera2_standin.install(monkeypatch)
    with running_service(colour_model, camera_source="picamera2", camera_fps=10,
                         camera_width=320, camera_height=240, camera_inference_width=100,
                         camera_inference_height=75, camera_retry_min_s=0.2,
                         camera_retry_max_s=0.4) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        engine_up(run)
        first = wait_for(lambda: (body := http.get("/api/latest").json()).get("frame") and body)
        assert first["origin"] == "camera" and first["timings_ms"]["upload"] >= 0

        # the next frames fail and the camera stays missing until health has said so
        with world.lock:
            world.fail_after_frames, world.then_missing = world.frames + 2, 1000
        health = wait_for(lambda: (h := http.get("/api/health").json())["status"] == "degraded"
                          and h, timeout=20)
        assert health["camera"]["source"] == "picamera2"
        assert "Camera frontend has timed out" in health["camera"]["error"] or \
            "no camera 0" in health["camera"]["error"]
        failed_at = health["camera"]["frames"]
        assert wait_for(lambda: http.get("/api/health").json()["camera"]["failures"] >= 3)
        with world.lock:
            world.missing_opens = 0  # plugged back in

        recovered = wait_for(lambda: (h := http.get("/api/health").json())["status"] == "ok"
                             and h, timeout=20)
        assert recovered["camera"]["error"] is None and len(world.instances) == 2
        later = wait_for(lambda: (body := http.get("/api/latest").json())["frame"] > failed_at
                         and body)
        assert later["type"] == "prediction"

        snapshot = http.get("/snapshot.jpg")
        assert Image.open(io.BytesIO(snapshot.content)).size == (320, 240)
        stats = http.get("/api/stats").json()
        assert stats["preview"]["cpu_jpeg_encodes"] == 0  # the camera's own JPEGs are served
        assert stats["frames"]["processed"] >= 2 and stats["frames"]["failed"] == 0


def test_a_lores_height_of_270_classifies_every_frame(monkeypatch, colour_model):
    """270 % 4 == 2: the chroma planes start mid-row of picamera2's array."""
    world = picamera2_standin.install(monkeypatch)
    world.stride_align = 128
    with running_service(colour_model, camera_source="picamera2", camera_fps=20,
                         camera_inference_width=480, camera_inference_height=270) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        engine_up(run)
        assert wait_for(lambda: http.get("/api/stats").json()["frames"]["processed"] >= 3)
        stats = http.get("/api/stats").json()
        assert stats["frames"]["failed"] == 0
        assert world.instances[0].camera_config["lores"]["size"] == (480, 270)
