"""The live page's states in headless Chromium, each true and explained: a changed token sends
the page to the login page and back, late results are called delayed (judged by their own
timestamps, through a real slow link), a failing output shows as degraded with its cause, old
data is greyed with its age, model and camera errors are told in words with the detail one
click away, and pills, keyboard focus and the login page are accessible. Screenshots of each
state, desktop and phone, light and dark, go to test-artifacts/."""
from __future__ import annotations

import queue
import random
import shutil
import socket
import threading
import time

import pytest
from PIL import Image

from app.api import create_app
from app.api.port import ServerSettings
from app.config import load_config
from app.service import Service
from colour_model import COLOURS
from serving import engine_up, free_port, running_service, uvicorn_thread
from test_page import LOOK, state_is

TOKEN = "first-token-of-this-camera"
NEW_TOKEN = "second-token-of-this-camera"


@pytest.fixture
def pictures(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, name in enumerate(("red", "green", "blue")):
        Image.new("RGB", (320, 240), COLOURS[name]).save(folder / f"{i}-{name}.png")
    return folder


def screenshots(page, artifacts, name: str) -> None:
    """The page as it is now, desktop and phone width, light and dark."""
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            page.screenshot(path=str(artifacts / f"{name}-{width}-{scheme}.png"), full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 900})


def started_service(model, **overrides) -> Service:
    service = Service(load_config(env={}, overrides=overrides), model)
    service.start()
    return service


def test_a_changed_token_sends_the_page_to_login_and_back(browser, colour_model, pictures,
                                                          tmp_path, artifacts):
    service = started_service(colour_model, **{"camera.source": f"files:{pictures}",
                                               "camera.fps": 4, "events.dir": str(tmp_path)})
    port, base = free_port(), None
    try:
        first = ServerSettings.from_config(service.config, token=TOKEN)
        with uvicorn_thread(create_app(service, first), port):
            base = f"http://127.0.0.1:{port}"
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/login?token={TOKEN}")  # the installer's link
            state_is(page, "live")
        # the service comes back with another token: this browser's login no longer counts
        second = ServerSettings.from_config(service.config, token=NEW_TOKEN)
        with uvicorn_thread(create_app(service, second), port):
            state_is(page, "login", 20000)
            assert page.inner_text("#status") == "Log in again"
            assert "access token has changed" in page.inner_text("#login-banner")
            assert not page.is_visible("#offline-banner")
            assert page.get_attribute("#login-link", "href") == "/login?next=%2F"
            page.screenshot(path=str(artifacts / "page-login-again-1280-light.png"))
            page.wait_for_url(f"{base}/login?next=%2F", timeout=15000)
            page.fill("input[name=token]", NEW_TOKEN)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            state_is(page, "live")
    finally:
        service.stop()


class SlowLink:
    """A slow link on loopback between the browser and the service: each piece the service
    sends reaches the browser a random `delay_s` later (in order); requests go through at
    once."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.delay_s = (0.0, 0.0)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> SlowLink:
        return self

    def __exit__(self, *exc) -> None:
        self.listener.close()
        for sock in self.sockets:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:  # the service has stopped
                client.close()
                continue
            self.sockets += [client, upstream]
            later: queue.Queue = queue.Queue()
            for target, args in ((self._copy, (client, upstream)),
                                 (self._hold, (upstream, later)),
                                 (self._release, (later, client))):
                threading.Thread(target=target, args=args, daemon=True).start()

    def _copy(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _hold(self, source: socket.socket, later: queue.Queue) -> None:
        due = 0.0
        try:
            while True:
                data = source.recv(65536)
                due = max(due, time.monotonic() + random.uniform(*self.delay_s))
                later.put((due, data))
                if not data:
                    return
        except OSError:
            later.put((due, b""))

    def _release(self, later: queue.Queue, target: socket.socket) -> None:
        try:
            while True:
                due, data = later.get()
                time.sleep(max(0.0, due - time.monotonic()))
                if not data:
                    target.shutdown(socket.SHUT_WR)
                    return
                target.sendall(data)
        except OSError:
            pass


def test_late_results_are_called_delayed_by_their_timestamps(browser, colour_model, pictures,
                                                             artifacts):
    with running_service(colour_model, camera_source=f"files:{pictures}", camera_fps=4) as run, \
            SlowLink(int(run.base.rsplit(":", 1)[1])) as link:
        engine_up(run)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"http://127.0.0.1:{link.port}/")
        state_is(page, "live")
        link.delay_s = (2.0, 8.0)
        state_is(page, "delayed", 30000)
        assert page.inner_text("#status") == "Delayed"
        assert page.text_content("#result-state").startswith("Delayed: results reach this page")
        # the pictures of late results are no longer kept: the newest stands in, named by its
        # own frame number beside the result's
        page.wait_for_function("!document.getElementById('picture-note').hidden",
                               timeout=45000)
        look, note = page.evaluate(f"() => [({LOOK})(), "
                                   f"document.getElementById('picture-note').innerText]")
        assert f"Picture of frame {look['pictureFrame']}" in note
        assert f"(frame {look['frame']})" in note
        assert int(look["pictureFrame"]) > int(look["frame"])
        assert page.evaluate("document.getElementById('results').classList.contains('old')")
        assert page.evaluate("document.getElementById('picture').classList.contains('old')")
        screenshots(page, artifacts, "page-delayed")
        link.delay_s = (0.0, 0.0)
        state_is(page, "live", 40000)


def test_a_failing_output_shows_degraded_with_its_cause(browser, colour_model, pictures,
                                                        artifacts):
    broker = free_port()  # nothing listens there
    with running_service(colour_model, camera_source=f"files:{pictures}", camera_fps=4,
                         mqtt_host="127.0.0.1", mqtt_port=broker) as run:
        engine_up(run)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(run.base + "/")
        state_is(page, "degraded")
        assert page.inner_text("#status") == "Degraded: MQTT"
        assert f"cannot reach the broker at 127.0.0.1:{broker}" in page.get_attribute(
            "#status", "title")
        assert f"MQTT: cannot reach the broker at 127.0.0.1:{broker}" in page.inner_text(
            "#degraded-banner")
        screenshots(page, artifacts, "page-degraded")


def test_old_data_is_greyed_with_its_age(browser, colour_model, pictures, tmp_path, artifacts):
    service = started_service(colour_model, **{"camera.source": f"files:{pictures}",
                                               "camera.fps": 4, "camera.retry_min_s": 1.0,
                                               "events.dir": str(tmp_path)})
    port = free_port()
    try:
        with uvicorn_thread(create_app(service, ServerSettings.from_config(service.config)),
                            port):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            state_is(page, "live")
            assert not page.evaluate("document.getElementById('picture').classList"
                                     ".contains('old')")
            shutil.rmtree(pictures)
            state_is(page, "camera-error", 20000)
            for element in ("results", "picture", "fps-figure"):
                assert page.evaluate(f"document.getElementById('{element}').classList"
                                     ".contains('old')"), element
            page.wait_for_function("document.getElementById('age').textContent.includes('ago')")
            what = page.inner_text("#camera-what")
            assert what.startswith("The pictures cannot be read: ") and "CameraError" not in what
            assert "change camera.source" in page.inner_text("#camera-todo")
            assert not page.is_visible("#camera-detail")  # one click away
            page.click("#camera-overlay summary")
            assert "does not exist" in page.inner_text("#camera-detail")  # the service's words
            screenshots(page, artifacts, "page-camera-problem")
        state_is(page, "offline", 15000)
        page.wait_for_function("document.getElementById('uptime-age').textContent"
                               ".startsWith('as of ')")
        for element in ("results", "picture", "fps-figure", "uptime-figure"):
            assert page.evaluate(f"document.getElementById('{element}').classList"
                                 ".contains('old')"), element
        assert page.inner_text("#fps-age").endswith(" ago")
        screenshots(page, artifacts, "page-offline-old")
    finally:
        service.stop()


def test_a_model_error_says_what_happened_and_what_to_do(browser, tmp_path, pictures,
                                                         artifacts):
    model = tmp_path / "dogs.chunks"
    model.write_bytes(b"\x05\x00\x00\x00abc")
    with running_service(model, camera_source=f"files:{pictures}", camera_fps=4) as run:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(run.base + "/")
        state_is(page, "model-error")
        assert page.inner_text("#status") == "Model error"
        assert "is damaged or truncated" in page.inner_text("#model-what")
        assert str(model) in page.inner_text("#model-what")
        assert "shadercam model install dogs" in page.inner_text("#model-todo")
        assert page.inner_text("#best").startswith("No results: the model is not running")
        assert not page.is_visible("#model-detail")
        page.click("#model-banner summary")
        detail = page.inner_text("#model-detail")  # the service's own sentence
        assert detail == run.service.worker.error and "truncated" in detail
        # the camera still shows what it sees
        page.wait_for_function("document.getElementById('preview').naturalWidth > 0")
        screenshots(page, artifacts, "page-model-error-words")


def _luminance(css: str) -> float:
    """WCAG relative luminance of a computed `rgb(r, g, b)` colour."""
    channels = [int(c) / 255 for c in css[css.index("(") + 1:css.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(ink: str, background: str) -> float:
    high, low = sorted((_luminance(ink), _luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


PILL_COLOURS = """(kinds) => {
  const pill = document.getElementById('status');
  const before = pill.className, colours = {};
  for (const kind of kinds) {
    pill.className = 'pill pill-' + kind;
    const style = getComputedStyle(pill);
    colours[kind] = [style.color, style.backgroundColor];
  }
  pill.className = before;
  return colours;
}"""


def test_pills_contrast_and_keyboard_focus_on_the_photo_button(browser, colour_model, pictures,
                                                               artifacts):
    with running_service(colour_model, camera_source=f"files:{pictures}", camera_fps=4) as run:
        engine_up(run)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(run.base + "/")
        state_is(page, "live")
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            colours = page.evaluate(PILL_COLOURS, ["ok", "wait", "warn", "bad"])
            for kind, (ink, background) in colours.items():
                assert background.startswith("rgb("), (scheme, kind, background)  # opaque
                assert contrast(ink, background) >= 4.5, (scheme, kind, ink, background)
        page.emulate_media(color_scheme="light")
        label = "label[for=upload]"
        assert page.eval_on_selector(label, "e => getComputedStyle(e).outlineStyle") == "none"
        for _ in range(30):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "upload":
                break
        assert page.evaluate("document.activeElement.id") == "upload"
        outline = page.eval_on_selector(label, "e => { const s = getComputedStyle(e); "
                                               "return [s.outlineStyle, s.outlineWidth]; }")
        assert outline[0] == "solid" and float(outline[1].rstrip("px")) >= 2, outline
        page.screenshot(path=str(artifacts / "page-photo-focus.png"))


def test_the_login_page_is_styled_and_names_where_the_token_comes_from(browser, colour_model,
                                                                       tmp_path, artifacts):
    service = Service(load_config(env={"SHADERCAM_SERVER_TOKEN": TOKEN}, overrides={
        "camera.source": "demo", "events.dir": str(tmp_path / "events")}), colour_model)
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'[server]\ntoken = "{NEW_TOKEN}"\n')
    from_file = ServerSettings.from_config(load_config(config_file, env={}))
    service.start()
    try:
        with uvicorn_thread(create_app(service, ServerSettings.from_config(service.config)),
                            free_port()) as server, \
                uvicorn_thread(create_app(service, from_file), free_port()) as file_server:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{server.config.port}/login")
            assert "environment variable SHADERCAM_SERVER_TOKEN" in page.inner_text(
                "#token-where")
            assert page.evaluate("getComputedStyle(document.querySelector('.login-card'))"
                                 ".borderRadius") != "0px"  # style.css reached it
            page.emulate_media(color_scheme="dark")
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert _luminance(background) < 0.05, background
            page.fill("input[name=token]", "not-the-token-at-all")
            page.click("button[type=submit]")
            assert page.inner_text("[role=alert]") == "That is not the token."
            screenshots(page, artifacts, "login-page")
            page.goto(f"http://127.0.0.1:{file_server.config.port}/login")
            assert f"server.token in {config_file}" in page.inner_text("#token-where")
    finally:
        service.stop()


def test_the_viewer_limit_is_said_and_the_page_gets_in_when_there_is_room(
        browser, colour_model, pictures, artifacts):
    with running_service(colour_model, camera_source=f"files:{pictures}", camera_fps=4,
                         server_max_websocket_clients=1) as run:
        engine_up(run)
        first = browser.new_page(viewport={"width": 1280, "height": 900})
        first.goto(run.base + "/")
        state_is(first, "live")
        second = browser.new_page(viewport={"width": 1280, "height": 900})
        second.goto(run.base + "/")
        state_is(second, "full")
        assert second.inner_text("#status") == "Viewer limit reached"
        banner = second.inner_text("#full-banner")
        assert "server.max_websocket_clients" in banner and "tries again every 10 s" in banner
        assert not second.is_visible("#offline-banner")
        screenshots(second, artifacts, "page-viewer-limit")
        first.close()  # room for one: the waiting page gets in at its next try
        state_is(second, "live", 25000)
        assert not second.is_visible("#full-banner")
