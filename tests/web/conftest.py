"""Browser tests: the service helpers of tests/app, the tiny colour model, the scenes of
tests/teach, headless Chromium."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "teach"))  # photo_sets.py

from colour_model import COLOURS, write_colour_model  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def colour_model(tmp_path_factory) -> Path:
    return write_colour_model(tmp_path_factory.mktemp("model") / "colours.chunks")


@pytest.fixture
def colour_schedule(tmp_path):
    """Red, green and blue pictures, four frames each, in a loop."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, name in enumerate(n for n in ("red", "green", "blue") for _ in range(4)):
        Image.new("RGB", (320, 240), COLOURS[name]).save(folder / f"{i:02d}-{name}.png")
    return folder


@pytest.fixture(scope="module")  # stopped before other test files run: it holds an event loop
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is expected at {CHROMIUM} (Debian package chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield _ScriptableBrowser(browser)
        browser.close()


class _ScriptableBrowser:
    """The browser, its pages free to run the tests' evaluated scripts: the service's
    Content-Security-Policy forbids eval, which Playwright's wait_for_function uses. The policy
    itself is tested, enforced, in test_security_csp.py."""

    def __init__(self, browser) -> None:
        self._browser = browser

    def new_page(self, **options):
        return self._browser.new_page(bypass_csp=True, **options)

    def new_phone_page(self, color_scheme: str = "light"):
        """A page on a 390 px phone (2x pixels, touch), as every phone check uses."""
        return self.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                             is_mobile=True, has_touch=True, color_scheme=color_scheme)

    def __getattr__(self, name: str):
        return getattr(self._browser, name)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
