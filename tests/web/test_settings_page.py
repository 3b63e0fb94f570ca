"""The settings page in real Chromium against the real service on loopback, behind the token:
top-k changed there shows as that many rows on the live page at once; a refused value is shown
beside its field and nothing is changed; the test-message buttons show what happened. Phone and
desktop, light and dark, with screenshots in test-artifacts/."""
from __future__ import annotations

import json
import threading

from PIL import Image

from colour_model import COLOURS
from serving import engine_up, running_service

TOKEN = "settings-page-token-0123456789"


def note_starts(page, element: str, text: str) -> None:
    page.wait_for_function(f"document.getElementById({json.dumps(element)}).textContent"
                           f".startsWith({json.dumps(text)})")


def test_top_k_from_the_settings_page_changes_the_live_page(browser, colour_model, tmp_path,
                                                           artifacts):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    Image.new("RGB", (160, 120), COLOURS["red"]).save(pictures / "red.png")
    state = tmp_path / "state"
    with running_service(colour_model, camera_source=f"files:{pictures}", camera_fps=6,
                         state_dir=state, server_token=TOKEN, model_self_test="off") as run:
        engine_up(run)
        context = browser.new_context(viewport={"width": 1200, "height": 900},
                                      bypass_csp=True)
        try:
            live = context.new_page()
            live.goto(f"{run.base}/login?token={TOKEN}")
            live.goto(run.base + "/")
            live.wait_for_function("document.querySelectorAll('#topk li').length === 4")
            live.click("a[href='/settings']")
            live.wait_for_url(run.base + "/settings")
            settings = live
            settings.wait_for_function("document.getElementById('set-top_k').value === '5'")
            assert settings.inner_text("#model-name") == "colours"
            assert settings.get_attribute("#set-top_k", "max") == "1000"  # from model.top_k

            settings.fill("#set-top_k", "2")
            settings.fill("#set-event_labels", "red, blue")
            settings.click("#settings-form button[type=submit]")
            note_starts(settings, "settings-note", "Saved: top_k, event_labels")
            assert run.service.settings()["event_labels"] == ["red", "blue"]
            assert json.loads((state / "settings.json").read_text())["top_k"] == 2
            settings.screenshot(path=str(artifacts / "settings-saved-light.png"), full_page=True)

            # out of range: said beside the field, nothing stored or applied
            settings.fill("#set-camera_fps", "500")
            settings.fill("#set-event_thresholds", "red=1.5")
            settings.click("#settings-form button[type=submit]")
            note_starts(settings, "settings-note", "Not saved: settings refused")
            assert "between 0.1 and 120" in settings.inner_text("#error-camera_fps")
            assert "red: must be between 0 and 1" in settings.inner_text(
                "#error-event_thresholds")
            assert settings.get_attribute("#set-camera_fps", "aria-invalid") == "true"
            assert run.service.settings()["camera_fps"] == 6.0
            settings.screenshot(path=str(artifacts / "settings-refused-light.png"),
                                full_page=True)

            # the outputs are off: the buttons say so
            settings.click("#test-mqtt")
            note_starts(settings, "result-mqtt", "Not sent: MQTT is turned off")

            live.goto(run.base + "/")
            live.wait_for_function("document.querySelectorAll('#topk li').length === 2")
            assert live.get_attribute("#topk li:first-child", "data-label") == "red"
        finally:
            context.close()


def test_settings_page_on_a_phone_in_the_dark_sends_a_webhook_test(browser, colour_model,
                                                                   tmp_path, artifacts):
    received: list[bytes] = []
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        with running_service(colour_model, camera_source="demo", camera_fps=4,
                             server_token=TOKEN, model_self_test="off", events_enabled=False,
                             webhooks_urls=[url]) as run:
            phone = browser.new_phone_page("dark")
            phone.goto(f"{run.base}/settings")
            # the token first, like every page; then back to the settings
            assert phone.url == f"{run.base}/login?next=%2Fsettings"
            phone.fill("input[name=token]", TOKEN)
            phone.click("button[type=submit]")
            phone.wait_for_url(f"{run.base}/settings")
            phone.wait_for_function("document.getElementById('set-top_k').value === '5'")
            background = phone.evaluate("getComputedStyle(document.body).backgroundColor")
            assert sum(int(c) for c in background[4:-1].split(",")) < 120, background  # dark
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways
            phone.click("#test-webhooks")
            note_starts(phone, "result-webhooks", "Delivered")
            assert phone.inner_text("#result-webhooks").endswith(f"{url}: delivered")
            assert json.loads(received[0])["type"] == "test"
            phone.screenshot(path=str(artifacts / "settings-phone-dark.png"), full_page=True)
    finally:
        server.shutdown()
        server.server_close()
