"""Teaching a classifier from the page, in headless Chromium against the real service (the dog
classifier's features on llvmpipe, uvicorn on loopback, behind the token): draw the region on
the live picture, create it, capture examples of each class while the camera looks at that
state, upload photos, relabel and delete an example, read the accuracy, see its live result on
the main page follow the camera, then export, delete and import it. Text contrast, visible
keyboard focus, the phone layout and dark mode are checked; screenshots go to test-artifacts/.
"""
from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from photo_sets import WATCHED, jpeg, scene
from serving import engine_up, running_service, wait_for

TOKEN = "teach-page-token-0123456789"
PICTURES = 3  # files the camera loops over

# Every visible text's colour against the first opaque background behind it (WCAG 2 ratio);
# the texts below 4.5:1 come back.
LOW_CONTRAST = """(root) => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c;
    }
    return rgb(getComputedStyle(document.body).backgroundColor);
  };
  const low = [];
  const walker = document.createTreeWalker(document.querySelector(root), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || el.closest(".sr-only,[hidden]")) continue;
    const [a, b] = [lum(rgb(style.color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(node.textContent.trim().slice(0, 40) + ": " + ratio.toFixed(2));
  }
  return low;
}"""

FOCUS_RING = """() => {
  const s = getComputedStyle(document.activeElement);
  return {tag: document.activeElement.tagName, outline: s.outlineStyle, width: s.outlineWidth};
}"""


def show(camera, state: str, rng: np.random.Generator) -> None:
    """Put the camera in front of `state`: each of its pictures replaced at once (renamed)."""
    for number in range(PICTURES):
        temporary = camera / f"{number}.part"
        temporary.write_bytes(jpeg(scene(state, rng)))
        temporary.replace(camera / f"{number}.jpg")


def camera_sees(run, state: str, camera, rng) -> None:
    """Swap the pictures, then wait until a frame read after the swap has been classified: the
    camera's count, as it runs ahead of the classifier; the frame after it may be mid-read."""
    show(camera, state, rng)
    read = run.service.supervisor.frames
    wait_for(lambda: run.service.hub.latest.frame >= read + 2, timeout=60)


def done(page, note: str, timeout: float = 120_000) -> None:
    """Wait until the change under way is over (the gallery reloaded) and the note says `note`."""
    page.wait_for_function(f"!document.getElementById('classifier').hasAttribute('aria-busy') "
                           f"&& document.getElementById('teach-note').textContent"
                           f".startsWith({json.dumps(note)})", timeout=timeout)


def logged_in(page, run, path: str) -> None:
    """Open `path` in a page of its own browser context, logged in by the installer's link."""
    page.goto(f"{run.base}/login?token={TOKEN}")
    page.goto(run.base + path)


def count_of(page, label: str) -> str:
    return page.inner_text(f".class-box[data-class={json.dumps(label)}] .count")


def examples_of(page, label: str) -> int:
    return int(count_of(page, label).split()[0])


def looks_dark(page) -> bool:
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    return sum(int(c) for c in background[4:-1].split(",")) < 120


@pytest.fixture
def camera(tmp_path):
    folder = tmp_path / "camera"
    folder.mkdir()
    show(folder, "cat", np.random.default_rng(1))
    return folder


def test_teach_a_classifier_from_the_page(browser, dog_model_path, camera, tmp_path, artifacts):
    rng = np.random.default_rng(7)
    with running_service(dog_model_path, state_dir=tmp_path / "state",
                         camera_source=f"files:{camera}", camera_fps=4,
                         model_self_test="off", server_token=TOKEN,
                         server_uploads_per_minute=6000, teach_interval_s=0.0) as run:
        engine_up(run)
        wait_for(lambda: run.service.hub.latest is not None, timeout=60)
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        logged_in(page, run, "/")
        page.click(".head-nav a[href='/teach']")
        page.wait_for_url(run.base + "/teach")
        page.wait_for_function("document.getElementById('teach-preview').naturalWidth > 0")
        assert page.is_visible("#list-empty")

        # the region, drawn with the mouse on the live picture
        box = page.locator("#draw").bounding_box()
        x, y, w, h = WATCHED
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        page.mouse.move(box["x"] + (x + w / 2) * box["width"], box["y"] + box["height"] / 2)
        page.mouse.move(box["x"] + (x + w) * box["width"], box["y"] + (y + h) * box["height"])
        page.mouse.up()
        drawn = [int(page.input_value(f"#region-{k}")) for k in "xywh"]
        assert all(abs(a - b * 100) <= 1 for a, b in zip(drawn, WATCHED)), drawn
        assert page.is_visible("#region")

        page.fill("#new-name", "flap")
        names = page.locator("#create input[name=class]")
        names.nth(0).fill("cat")
        names.nth(1).fill("coffee")
        page.click("#create button[type=submit]")
        page.wait_for_selector("#classifier:not([hidden])")
        assert page.inner_text("#classifier-title") == "flap"
        assert page.inner_text("#accuracy") == "not yet"
        assert page.is_visible("#advice-box")  # needs more examples, and says of which class
        assert "at least two classes" in page.inner_text("#advice")
        stored = run.service.teaching.get("flap")
        assert stored["classes"] == ["cat", "coffee"]
        assert np.allclose(stored["region"], WATCHED, atol=0.011), stored["region"]

        # a burst of the camera's frames of the cat
        page.fill("#burst-n", "5")
        page.fill("#burst-t", "2")
        page.click(".class-box[data-class=cat] .burst-button")
        done(page, "Added 5 frames of cat")
        assert examples_of(page, "cat") == 5
        assert page.locator(".class-box[data-class=cat] .gallery img").count() == 5
        assert "at least two classes" in page.inner_text("#advice")

        # the coffee: a burst of three frames from the camera, and two photos of it uploaded
        camera_sees(run, "coffee", camera, rng)
        photos = [tmp_path / f"coffee-{number}.jpg" for number in range(2)]
        for number, photo in enumerate(photos):
            photo.write_bytes((camera / f"{number}.jpg").read_bytes())
        page.fill("#burst-n", "3")
        page.click(".class-box[data-class=coffee] .burst-button")
        done(page, "Added 3 frames of coffee")
        page.set_input_files(".class-box[data-class=coffee] input[type=file]",
                             [str(p) for p in photos])
        done(page, "Added 2 photos to coffee")
        assert examples_of(page, "coffee") == 5
        accuracy = float(page.get_attribute("#accuracy", "data-value"))
        assert accuracy == run.service.teaching.get("flap")["report"]["accuracy"]
        assert accuracy >= 0.8, run.service.teaching.get("flap")["report"]
        assert page.inner_text("#accuracy") == f"{math.floor(accuracy * 100 + 0.5)} %"
        assert "cross-validation" in page.inner_text("#accuracy-how")
        assert page.is_hidden("#advice-box")
        wait_for(lambda: page.get_attribute("#live", "data-label") == "coffee", timeout=60,
                 seen=lambda: (page.inner_text("#live"), run.service.worker.taught_results))
        assert "10 examples" in page.inner_text("#classifiers li[data-name=flap]")

        # a wrong example moved to its class, then deleted: counts and advice follow
        first = page.locator(".class-box[data-class=cat] .gallery li").first
        moved = first.get_attribute("data-id")
        first.locator("select").select_option("coffee")
        done(page, "Moved an example to coffee")
        assert examples_of(page, "coffee") == 6 and examples_of(page, "cat") == 4
        assert "'cat' has 4 examples" in page.inner_text("#advice")
        page.screenshot(path=str(artifacts / "teach-needs-more.png"), full_page=True)
        page.click(f".gallery li[data-id='{moved}'] .remove")
        done(page, "Deleted an example of coffee")
        assert examples_of(page, "coffee") == 5
        assert page.locator(f".gallery li[data-id='{moved}']").count() == 0
        assert run.service.teaching.get("flap")["counts"] == {"cat": 4, "coffee": 5}
        camera_sees(run, "cat", camera, rng)
        page.click(".class-box[data-class=cat] .capture")
        done(page, "Added 1 frame of cat")
        assert examples_of(page, "cat") == 5 and page.is_hidden("#advice-box")
        assert float(page.get_attribute("#accuracy", "data-value")) >= 0.8
        wait_for(lambda: page.get_attribute("#live", "data-label") == "cat", timeout=60)
        assert page.evaluate(LOW_CONTRAST, "body") == []
        page.screenshot(path=str(artifacts / "teach-desktop.png"), full_page=True)

        # keyboard: every stop in the page shows where the focus is
        page.focus("#new-name")
        for _ in range(12):
            page.keyboard.press("Tab")
            ring = page.evaluate(FOCUS_RING)
            assert ring["outline"] != "none" and ring["width"] != "0px", ring

        # the live result on the main page follows the camera
        main = browser.new_page(viewport={"width": 1200, "height": 1000})
        logged_in(main, run, "/")
        main.wait_for_selector("#taught li[data-name=flap]", timeout=60_000)
        main.wait_for_function("document.querySelector('#taught li[data-name=flap]')"
                               ".dataset.label === 'cat'", timeout=60_000)
        assert main.inner_text("#taught li[data-name=flap] .answer").startswith("cat · ")
        camera_sees(run, "coffee", camera, rng)
        main.wait_for_function("document.querySelector('#taught li[data-name=flap]')"
                               ".dataset.label === 'coffee'", timeout=60_000)
        main.wait_for_function("document.querySelector('#taught li[data-name=flap] .state')"
                               ".textContent === 'state: coffee'", timeout=60_000)
        assert main.evaluate(LOW_CONTRAST, "#taught-panel") == []
        main.screenshot(path=str(artifacts / "teach-main-page.png"), full_page=True)
        main.close()

        # dark mode and the phone, on both pages
        for scheme in ("light", "dark"):
            phone = browser.new_phone_page(scheme)
            logged_in(phone, run, "/teach")
            phone.click("#classifiers li[data-name=flap] button")
            phone.wait_for_selector(".class-box[data-class=coffee] .gallery img")
            phone.wait_for_function("document.getElementById('teach-preview').naturalWidth > 0")
            assert looks_dark(phone) == (scheme == "dark")
            assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert phone.evaluate(LOW_CONTRAST, "body") == []
            phone.screenshot(path=str(artifacts / f"teach-phone-{scheme}.png"), full_page=True)
            phone.goto(run.base + "/")
            phone.wait_for_selector("#taught li[data-name=flap]", timeout=60_000)
            assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert phone.evaluate(LOW_CONTRAST, "#taught-panel") == []
            phone.screenshot(path=str(artifacts / f"teach-main-phone-{scheme}.png"),
                             full_page=True)
            phone.close()
        dark = browser.new_page(viewport={"width": 1200, "height": 1000}, color_scheme="dark")
        logged_in(dark, run, "/teach")
        dark.click("#classifiers li[data-name=flap] button")
        dark.wait_for_selector(".class-box[data-class=coffee] .gallery img")
        dark.wait_for_function("document.getElementById('teach-preview').naturalWidth > 0")
        assert looks_dark(dark) and dark.evaluate(LOW_CONTRAST, "body") == []
        dark.screenshot(path=str(artifacts / "teach-desktop-dark.png"), full_page=True)

        # exported, deleted, imported again: all from the page
        with page.expect_download() as download:
            page.click("#export")
        assert download.value.suggested_filename == "flap.shadercam-taught.zip"
        exported = tmp_path / "flap.zip"
        download.value.save_as(exported)
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#delete-classifier")
        page.wait_for_selector("#list-empty:not([hidden])")
        assert page.is_hidden("#classifier")
        assert run.service.teaching.list()["classifiers"] == []
        page.set_input_files("#import", str(exported))
        page.wait_for_selector("#classifiers li[data-name=flap]")
        page.wait_for_selector(".class-box[data-class=coffee] .gallery img")
        assert examples_of(page, "cat") == 5 and examples_of(page, "coffee") == 5
        assert run.service.teaching.get("flap")["counts"] == {"cat": 5, "coffee": 5}


def test_switch_a_classifier_and_label_its_unsure_frames_from_the_page(browser, colour_model,
                                                                        tmp_path, artifacts):
    """The colour model's features; "torn" is taught the same red pictures as both classes, so
    every red camera frame is a toss-up and lands in its review queue; "sure" is not."""
    import httpx

    from colour_model import COLOURS
    camera = tmp_path / "camera"
    camera.mkdir()
    Image.new("RGB", (160, 120), COLOURS["red"]).save(camera / "red.png")

    def upload(colour: str) -> dict:
        out = io.BytesIO()
        Image.new("RGB", (40, 30), COLOURS[colour]).save(out, "PNG")
        return {"file": ("x.png", out.getvalue(), "image/png")}

    with running_service(colour_model, state_dir=tmp_path / "state",
                         camera_source=f"files:{camera}", camera_fps=10,
                         model_self_test="off", server_token=TOKEN,
                         server_uploads_per_minute=6000, teach_interval_s=0.0) as run, \
            httpx.Client(base_url=run.base, timeout=60,
                         headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        engine_up(run)
        for name, examples in (("sure", {"red": "red", "blue": "blue"}),
                               ("torn", {"left": "red", "right": "red"})):
            assert http.post("/api/teach", json={"name": name, "classes": list(examples)}
                             ).status_code == 201
            for label, colour in [*examples.items()] * 2:
                assert http.post(f"/api/teach/{name}/examples", params={"label": label},
                                 files=upload(colour)).status_code == 201

        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        logged_in(page, run, "/teach")
        page.click("#classifiers li[data-name=torn] .open-classifier")
        page.wait_for_selector("#review-list li img", timeout=60_000)
        page.wait_for_function("[...document.querySelectorAll('#review-list img')]"
                               ".every((img) => img.complete && img.naturalWidth > 0)")
        assert page.is_hidden("#review-empty")
        first = page.locator("#review-list li").first
        assert first.inner_text().startswith("Guess: ")
        assert page.evaluate(LOW_CONTRAST, "body") == []
        page.screenshot(path=str(artifacts / "teach-review-desktop.png"), full_page=True)
        for scheme in ("light", "dark"):
            phone = browser.new_phone_page(scheme)
            logged_in(phone, run, "/teach")
            phone.click("#classifiers li[data-name=torn] .open-classifier")
            phone.wait_for_selector("#review-list li button[data-class=left]", timeout=60_000)
            assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert phone.evaluate(LOW_CONTRAST, "body") == []
            phone.locator("#review-list").scroll_into_view_if_needed()
            phone.screenshot(path=str(artifacts / f"teach-review-phone-{scheme}.png"),
                             full_page=True)
            phone.close()

        # one tap on a class: the frame becomes an example of it, with its thumbnail
        labelled = first.get_attribute("data-id")
        thumb = http.get(f"/api/teach/torn/review/{labelled}.jpg").content
        first.locator("button[data-class=left]").click()
        done(page, "Labelled a frame as left")
        assert examples_of(page, "left") == 3 and examples_of(page, "right") == 2
        assert page.locator(f"#review-list li[data-id='{labelled}']").count() == 0
        example = run.service.teaching.get("torn")["examples"][-1]
        assert example["label"] == "left"
        assert http.get(example["thumb"]).content == thumb
        other = page.wait_for_selector("#review-list li", timeout=60_000).get_attribute("data-id")
        page.click(f"#review-list li[data-id='{other}'] .dismiss")
        done(page, "Dismissed a frame")
        assert page.locator(f"#review-list li[data-id='{other}']").count() == 0
        assert run.service.teaching.get("torn")["counts"] == {"left": 3, "right": 2}

        # switched off from the list: the main page's panel shows only what runs
        main = browser.new_page(viewport={"width": 1200, "height": 1000})
        logged_in(main, run, "/")
        main.wait_for_selector("#taught li[data-name=torn]", timeout=60_000)
        assert page.is_checked("#classifiers li[data-name=torn] input[role=switch]")
        page.uncheck("#classifiers li[data-name=torn] input[role=switch]")
        page.wait_for_function("document.getElementById('classifier-run').textContent"
                               " === 'Switched off'")
        assert run.service.teaching.get("torn")["enabled"] is False
        main.wait_for_function("!document.querySelector('#taught li[data-name=torn]')",
                               timeout=60_000)
        assert main.is_visible("#taught li[data-name=sure]")
        assert "switched off" in page.inner_text("#classifiers li[data-name=torn]")
        page.wait_for_selector("#review-empty:not([hidden])", timeout=60_000)
        page.screenshot(path=str(artifacts / "teach-switched-off.png"), full_page=True)
        page.reload()
        page.wait_for_selector("#classifiers li[data-name=torn] input[role=switch]")
        assert not page.is_checked("#classifiers li[data-name=torn] input[role=switch]")
        page.check("#classifiers li[data-name=torn] input[role=switch]")
        main.wait_for_selector("#taught li[data-name=torn]", timeout=60_000)
        main.close()
