"""/docs in headless Chromium, behind the token as on a Pi: one readable column at 1280 px and
on a 390 px phone, light and dark, never wider than the screen; every route with its curl
example and the websocket's messages are there. Screenshots go to test-artifacts/."""
from __future__ import annotations

import pytest

from serving import running_service

TOKEN = "docs-page-token-0123456789"
SIZES = {"desktop": {"width": 1280, "height": 900},
         "phone": {"width": 390, "height": 844}}

# the widest element that sticks out of the screen, to say what to fix when one does
WIDEST = """() => {
  const width = window.innerWidth;
  const out = [...document.querySelectorAll('body *')]
    .map(e => [e.getBoundingClientRect().right, e.tagName + '.' + e.className + ' '
               + (e.textContent || '').slice(0, 60)])
    .filter(([right]) => right > width + 0.5);
  return {scroll: document.documentElement.scrollWidth, width, out: out.slice(0, 5)};
}"""


@pytest.fixture(scope="module")
def service(colour_model):
    with running_service(colour_model, server_token=TOKEN, model_self_test="off") as run:
        yield run


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", list(SIZES))
def test_docs_fit_the_screen_in_light_and_dark(browser, service, artifacts, size, scheme):
    phone = size == "phone"
    page = browser.new_page(viewport=SIZES[size], color_scheme=scheme,
                            device_scale_factor=2 if phone else 1, is_mobile=phone,
                            has_touch=phone)
    page.goto(f"{service.base}/login?token={TOKEN}")
    page.goto(f"{service.base}/docs")
    fit = page.evaluate(WIDEST)
    assert fit["scroll"] <= fit["width"] and not fit["out"], fit
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(15, 19, 26)") == (scheme == "dark"), background
    routes = page.locator("article.route[data-path]")
    assert routes.count() >= 20
    for i in range(routes.count()):
        curl = routes.nth(i).locator("pre.curl").inner_text()
        assert curl.startswith("curl ") and "Bearer $TOKEN" in curl, curl
    assert page.locator("#websocket [data-type]").count() >= 3
    # the main column is read at a comfortable width, not squeezed into a side column
    column = page.evaluate("document.querySelector('main').getBoundingClientRect().width")
    assert column >= (350 if phone else 900), column
    # the top, an upload's route and the websocket's part (the whole page is very long)
    page.screenshot(path=str(artifacts / f"docs-{size}-{scheme}.png"))
    for part, selector in (("classify", "#post-api-classify"), ("websocket", "#websocket")):
        page.locator(selector).scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / f"docs-{size}-{scheme}-{part}.png"))
    page.close()
