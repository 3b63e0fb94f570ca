"""The live page in headless Chromium: the picture shown is the frame that was classified; each
state (live, stale, offline, model error, camera error, software GPU) is plain; pause, photo
upload, snapshot, settings and dark mode work; it fits a phone. Screenshots go to test-artifacts/."""
from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from PIL import Image

from colour_model import COLOURS
from app.api import create_app
from app.api.port import ServerSettings
from app.cameras.base import Camera, Frame
from app.config import load_config
from app.service import Service
from serving import engine_up, free_port, running_service, uvicorn_thread, wait_for

# One look at the page, taken in one JavaScript task: the colour in the middle of the picture,
# the picture's frame number and the result beside it.
LOOK = """() => {
  const img = document.getElementById('preview');
  let rgb = null;
  if (img.naturalWidth) {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    rgb = Array.from(ctx.getImageData(canvas.width / 2, canvas.height / 2, 1, 1).data.slice(0, 3));
  }
  return {rgb, pictureFrame: img.dataset.frame || null,
          label: document.getElementById('best').dataset.label || null,
          text: document.getElementById('best').textContent,
          frame: document.getElementById('frame').textContent,
          state: document.body.dataset.state};
}"""


def colour_name(rgb) -> str | None:
    if not rgb:
        return None
    return ("red", "green", "blue")[max(range(3), key=lambda i: rgb[i])]


def state_is(page, state: str, timeout: float = 30000) -> None:
    page.wait_for_function(f"document.body.dataset.state === {json.dumps(state)}",
                           timeout=timeout)


@pytest.fixture
def three_colours(tmp_path):
    """Every frame differs from the one before: red, green, blue, red, ..."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, name in enumerate(("red", "green", "blue")):
        Image.new("RGB", (320, 240), COLOURS[name]).save(folder / f"{i}-{name}.png")
    return folder


def test_the_picture_shown_is_the_frame_classified(browser, colour_model, three_colours,
                                                   artifacts):
    with running_service(colour_model, camera_source=f"files:{three_colours}",
                         camera_fps=6) as run:
        engine_up(run)
        page = browser.new_page(viewport={"width": 1200, "height": 860})
        page.goto(run.base + "/")
        state_is(page, "live")
        looks = []
        for _ in range(60):
            looks.append(page.evaluate(LOOK))
            page.wait_for_timeout(70)
        shown = [look for look in looks if look["label"]]
        assert len(shown) >= 50, looks
        assert {look["label"] for look in shown} == {"red", "green", "blue"}  # it changed
        assert len({look["frame"] for look in shown}) >= 8
        for look in shown:  # and every single look matched picture and result
            assert colour_name(look["rgb"]) == look["label"], look
            assert look["pictureFrame"] == look["frame"], look
        # readable labels on the page, the raw label kept beside them
        assert page.inner_text("#best").split(" · ")[0] in ("Red", "Green", "Blue")
        assert page.get_attribute("#topk li:first-child", "data-label") in ("red", "green", "blue")
        assert page.inner_text("#gpu-banner").startswith("Software GPU: llvmpipe")
        assert page.evaluate("fetch('/favicon.ico').then(r => r.status)") == 200
        assert page.get_attribute("link[rel=icon]", "href") == "/static/favicon.svg"
        page.screenshot(path=str(artifacts / "page-live.png"))

        phone = browser.new_phone_page()
        phone.goto(run.base + "/")
        state_is(phone, "live")
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # "live" comes with the first result; its picture may still be decoding
        phone.wait_for_function("document.getElementById('preview').naturalWidth > 0")
        # measured in one step in the page: each new picture replaces the element, so a
        # locator can find one that is gone by the time it is measured
        box = phone.evaluate("(() => { const r = document.getElementById('preview')"
                             ".getBoundingClientRect(); return {x: r.x, width: r.width}; })()")
        assert box["width"] > 300 and box["x"] >= 0
        phone.screenshot(path=str(artifacts / "page-phone.png"), full_page=True)


def test_pause_upload_snapshot_settings_and_dark_mode(browser, colour_model, three_colours,
                                                      artifacts, tmp_path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (200, 150), COLOURS["blue"]).save(photo)
    purple = tmp_path / "purple.png"
    Image.new("RGB", (200, 150), (230, 20, 230)).save(purple)
    with running_service(colour_model, camera_source=f"files:{three_colours}", camera_fps=4,
                         state_dir=tmp_path / "state") as run:
        engine_up(run)
        page = browser.new_page(viewport={"width": 1200, "height": 1000}, color_scheme="dark")
        page.goto(run.base + "/")
        state_is(page, "live")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert sum(int(c) for c in background[4:-1].split(",")) < 120, background  # dark

        page.click("#pause")
        state_is(page, "paused")
        frozen = page.evaluate(LOOK)
        served = run.service.hub.latest.frame
        wait_for(lambda: run.service.hub.latest.frame >= served + 3)
        assert page.evaluate(LOOK)["frame"] == frozen["frame"]
        assert page.evaluate(LOOK)["pictureFrame"] == frozen["pictureFrame"]
        assert page.is_visible("#paused-badge")
        with page.expect_download() as download:
            page.click("#snapshot")
        saved = Image.open(download.value.path())
        assert saved.format == "JPEG" and colour_name(saved.getpixel((160, 120))) == frozen["label"]
        assert download.value.suggested_filename == f"shadercam-frame-{frozen['frame']}.jpg"
        page.screenshot(path=str(artifacts / "page-paused-dark.png"))
        page.click("#pause")
        page.wait_for_function(f"document.getElementById('frame').textContent !== "
                               f"{json.dumps(frozen['frame'])}")

        page.set_input_files("#upload", str(photo))
        page.wait_for_function("document.getElementById('upload-best').textContent"
                               ".startsWith('Blue')")
        assert page.get_attribute("#upload-topk li:first-child", "data-label") == "blue"
        page.screenshot(path=str(artifacts / "page-upload-dark.png"), full_page=True)

        page.fill("#threshold", "90")
        page.click("#settings button[type=submit]")
        page.wait_for_function("document.getElementById('settings-note').textContent"
                               ".startsWith('Saved')")
        stored = json.loads((tmp_path / "state" / "settings.json").read_text())
        assert stored["models"]["colours"]["threshold"] == 0.9  # this model's own
        page.set_input_files("#upload", str(purple))  # as red as it is blue: about 50 % each
        page.wait_for_function("document.getElementById('upload-best').textContent "
                               "=== 'Uncertain'")
        assert "below the 90 % threshold" in page.inner_text("#upload-guess")
        assert page.inner_text("#upload-guess").split(": ")[1].startswith(("Red", "Blue"))
        page.fill("#smoothing", "0")  # out of range: the form says so and sends nothing
        page.click("#settings button[type=submit]")
        assert not page.evaluate("document.getElementById('smoothing').validity.valid")
        settings = run.service.settings()
        assert (settings["threshold"], settings["smoothing"]) == (0.9, 1)
        page.screenshot(path=str(artifacts / "page-uncertain-dark.png"))


def test_offline_shows_the_last_result_greyed_with_its_age(browser, colour_model, three_colours,
                                                           artifacts):
    service = Service(load_config(env={}, overrides={
        "camera.source": f"files:{three_colours}", "camera.fps": 2}), colour_model)
    service.start()
    port = free_port()
    try:
        with uvicorn_thread(create_app(service, ServerSettings.from_config(service.config)), port, ws_ping_s=1.0):
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.goto(f"http://127.0.0.1:{port}/")
            state_is(page, "live")
        state_is(page, "offline", 15000)
        page.wait_for_function("document.getElementById('age').textContent.includes('ago')")
        assert page.evaluate("document.getElementById('results').classList.contains('old')")
        assert "does not answer" in page.inner_text("#offline-banner")
        assert page.inner_text("#status") == "Offline"
        page.screenshot(path=str(artifacts / "page-offline.png"))
        frame_before = page.inner_text("#frame")
        with uvicorn_thread(create_app(service, ServerSettings.from_config(service.config)), port):
            state_is(page, "live")
            page.wait_for_function(f"document.getElementById('frame').textContent !== "
                                   f"'{frame_before}'", timeout=15000)
    finally:
        service.stop()


class WedgingCamera(Camera):
    """Red frames until `wedged` is set, then read() blocks like a stuck driver (a state no
    real source here can be put into on demand). Frames come slowly, as on a loaded machine,
    where health's rate falls furthest once they stop: the page still turns stale first."""

    def __init__(self, wedged: threading.Event) -> None:
        super().__init__()
        self.wedged = wedged

    def open(self, preview) -> None:
        pass

    def read(self) -> Frame:
        self._pause(0.7)
        while self.wedged.is_set():
            self._pause(0.1)
        now = time.monotonic()
        return Frame(timestamp=time.time(), monotonic=now, capture_s=0.0,
                     rgb=np.full((120, 160, 3), COLOURS["red"], np.uint8))

    def close(self) -> None:
        pass


def test_stale_then_stalled_camera(browser, colour_model, artifacts):
    wedged = threading.Event()
    service = Service(load_config(env={}, overrides={"camera.fps": 5}), colour_model)
    service.supervisor.make_camera = lambda: WedgingCamera(wedged)
    service.supervisor.stall_after_s = 6.0
    service.start()
    port = free_port()
    try:
        with uvicorn_thread(create_app(service, ServerSettings.from_config(service.config)), port):
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.goto(f"http://127.0.0.1:{port}/")
            state_is(page, "live")
            wedged.set()
            state_is(page, "stale", 10000)
            assert page.inner_text("#status") == "Stale"
            assert "result from" in page.text_content("#age")
            page.screenshot(path=str(artifacts / "page-stale.png"))
            state_is(page, "camera-error", 15000)
            assert "no frame for" in page.inner_text("#camera-what")
            assert "Waiting for the camera driver" in page.inner_text("#camera-trying")
            wedged.clear()
            state_is(page, "live", 15000)
    finally:
        wedged.clear()
        service.stop()


def test_camera_error_overlay_says_what_is_wrong_and_what_is_tried(browser, colour_model,
                                                                   tmp_path, artifacts):
    folder = tmp_path / "later"
    with running_service(colour_model, camera_source=f"files:{folder}", camera_fps=5,
                         camera_retry_min_s=1.0, camera_retry_max_s=2.0) as run:
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.goto(run.base + "/", wait_until="load")  # the load event fires without a camera
        state_is(page, "camera-error")
        assert page.is_visible("#camera-overlay")
        assert "does not exist" in page.inner_text("#camera-what")
        assert page.inner_text("#camera-trying").startswith(f"Opening files:{folder} again")
        page.screenshot(path=str(artifacts / "page-camera-error.png"))
        folder.mkdir()
        Image.new("RGB", (64, 48), COLOURS["green"]).save(folder / "g.png")
        state_is(page, "live")
        assert not page.is_visible("#camera-overlay")
