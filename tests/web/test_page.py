"""The live page in headless Chromium: top-k list and preview update, it fits a phone, it
reconnects after a server restart, and it shows a camera failure and the recovery."""
from __future__ import annotations

import pytest
from PIL import Image

import picamera2_standin
from colour_model import COLOURS
from app.config import load_config
from app.server import create_app
from app.service import Service
from serving import engine_up, free_port, running_service, uvicorn_thread, wait_for

CENTRE_PIXEL = """() => {
  const img = document.getElementById('preview');
  if (!img.naturalWidth) return null;
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  return Array.from(ctx.getImageData(canvas.width / 2, canvas.height / 2, 1, 1).data.slice(0, 3));
}"""


def dominant(rgb) -> str:
    return "rgb"[max(range(3), key=lambda i: rgb[i])] if rgb else "?"


@pytest.fixture
def three_colours(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, name in enumerate(("red", "green", "blue")):
        Image.new("RGB", (320, 240), COLOURS[name]).save(folder / f"{i}-{name}.png")
    return folder


def test_page_updates_and_fits_a_phone(browser, colour_model, three_colours,
                                                  artifacts):
    with running_service(colour_model, camera_source=f"files:{three_colours}", camera_fps=2) as run:
        engine_up(run)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(run.base + "/")
        page.wait_for_function("document.querySelectorAll('#topk li').length === 4", timeout=30000)
        labels, colours = set(), set()
        for _ in range(40):
            labels.add(page.inner_text("#best"))
            colours.add(dominant(page.evaluate(CENTRE_PIXEL)))
            if len(labels) >= 2 and len(colours) >= 2:
                break
            page.wait_for_timeout(250)
        assert len(labels & {"red", "green", "blue"}) >= 2, labels  # the list updates live
        assert len(colours & {"r", "g", "b"}) >= 2, colours  # and so does the preview
        first_row = page.inner_text("#topk li:first-child .label")
        assert first_row in {"red", "green", "blue"}
        assert float(page.inner_text("#topk li:first-child .pct").rstrip("%")) > 90
        page.wait_for_function("document.getElementById('status').textContent === 'ok'")
        assert page.inner_text("#renderer") not in ("", "–")
        assert page.inner_text("#model").startswith("colours")
        page.screenshot(path=str(artifacts / "page-desktop.png"))

        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                 is_mobile=True, has_touch=True)
        phone.goto(run.base + "/")
        phone.wait_for_function("document.querySelectorAll('#topk li').length === 4")
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        box = phone.locator("#preview").bounding_box()
        assert box["width"] > 300 and box["x"] >= 0
        phone.screenshot(path=str(artifacts / "page-phone.png"), full_page=True)



def test_page_reconnects_after_a_server_restart(browser, colour_model, three_colours):
    service = Service(load_config(env={}, overrides={
        "camera.source": f"files:{three_colours}", "camera.fps": 2}), colour_model)
    service.start()
    port = free_port()
    try:
        with uvicorn_thread(create_app(service), port, ws_ping_s=1.0):
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("document.getElementById('status').textContent === 'ok'",
                                   timeout=30000)
        page.wait_for_function("document.getElementById('status').textContent !== 'ok'",
                               timeout=15000)
        frame_before = page.inner_text("#frame")
        with uvicorn_thread(create_app(service), port):
            page.wait_for_function("document.getElementById('status').textContent === 'ok'",
                                   timeout=30000)
            page.wait_for_function(f"document.getElementById('frame').textContent !== "
                                   f"'{frame_before}'", timeout=15000)
    finally:
        service.stop()


def test_page_shows_a_camera_failure_and_the_recovery(browser, colour_model, monkeypatch,
                                                      artifacts):
    world = picamera2_standin.install(monkeypatch)
    world.fail_after_frames, world.then_missing = 10, 6
    with running_service(colour_model, camera_source="picamera2", camera_fps=5,
                         camera_width=320, camera_height=240, camera_inference_width=100,
                         camera_inference_height=75, camera_retry_min_s=0.5,
                         camera_retry_max_s=0.5) as run:
        engine_up(run)
        page = browser.new_page(viewport={"width": 800, "height": 700})
        page.goto(run.base + "/")
        page.wait_for_function(
            "!document.getElementById('camera-note').hidden && "
            "document.getElementById('camera-note').textContent.includes('Camera problem')",
            timeout=30000)
        assert page.inner_text("#status") == "degraded"
        assert "retrying" in page.inner_text("#camera")
        page.screenshot(path=str(artifacts / "page-camera-failure.png"))
        page.wait_for_function("document.getElementById('camera-note').hidden", timeout=30000)
        page.wait_for_function("document.getElementById('status').textContent === 'ok'")
        assert wait_for(lambda: run.service.supervisor.failures >= 3)
