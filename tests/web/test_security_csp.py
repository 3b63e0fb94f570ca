"""The page in real Chromium under the service's own Content-Security-Policy, behind the access
token: log in through /login, then the live page (websocket, preview pictures), the Teach page
and the event history work and the browser reports no policy violation."""
from __future__ import annotations

import re

from serving import engine_up, running_service

TOKEN = "a-token-for-the-browser-test-1234"


def test_login_then_live_page_under_the_policy(browser, colour_model, tmp_path):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    from PIL import Image

    Image.new("RGB", (160, 120), (220, 20, 20)).save(pictures / "red.png")
    with running_service(colour_model, camera_source=f"files:{pictures}", camera_fps=5,
                         server_token=TOKEN) as run:
        engine_up(run)
        page = browser._browser.new_page()  # the policy enforced, unlike the other page tests
        violations: list[str] = []
        page.on("console", lambda message: violations.append(message.text)
                if "Content Security Policy" in message.text else None)
        try:
            page.goto(run.base + "/")
            assert page.url == run.base + "/login"  # sent to log in first
            page.fill("input[name=token]", "not-the-token-at-all")
            page.click("button[type=submit]")
            assert "That is not the token." in page.inner_text("body")
            page.fill("input[name=token]", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_url(run.base + "/")
            best = page.locator("#best")
            best.filter(has_text=re.compile("red", re.I)).wait_for(timeout=30_000)
            page.locator("#preview[src]").wait_for(state="attached", timeout=30_000)
            cookies = {c["name"]: c for c in page.context.cookies()}
            assert cookies["shadercam_session"]["httpOnly"] and TOKEN not in str(cookies)
            page.click(".head-nav a[href='/teach']")  # the Teach page, its script running
            page.wait_for_url(run.base + "/teach")
            page.locator("#list-empty:not([hidden])").wait_for(timeout=10_000)
            page.locator("#teach-preview[src^='blob:']").wait_for(state="attached",
                                                                 timeout=10_000)
            page.goto(run.base + "/events")  # the history: its list, pictures and websocket
            page.locator("#history li.active img").wait_for(timeout=30_000)
            page.locator("#live.ok").wait_for(timeout=10_000)
            page.click("#history li.active a")
            page.locator("#detail[open]").wait_for(timeout=10_000)
        finally:
            page.close()
    assert violations == []
