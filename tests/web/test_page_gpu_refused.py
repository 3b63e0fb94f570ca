"""The page in headless Chromium when the service refuses the GPU: a software renderer on a
Raspberry Pi is shown as an error, with the reason, not as a slow-but-fine warning."""
from __future__ import annotations

from PIL import Image

from gpu_engine.trust import MODEL_FILE_ENV
from serving import running_service


def test_page_shows_a_refused_software_renderer(browser, colour_model, tmp_path, monkeypatch,
                                                artifacts):
    device_tree_model = tmp_path / "model"
    device_tree_model.write_bytes(b"Raspberry Pi 3 Model B Plus Rev 1.3\0")
    monkeypatch.setenv(MODEL_FILE_ENV, str(device_tree_model))
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    Image.new("RGB", (160, 120), (200, 40, 40)).save(pictures / "red.png")
    with running_service(colour_model, camera_source=f"files:{pictures}") as run:
        page = browser.new_page(viewport={"width": 800, "height": 700})
        page.goto(run.base + "/")
        page.wait_for_function("document.body.dataset.state === 'model-error'", timeout=60000)
        error = page.inner_text("#model-banner")
        assert "software renderer on this Raspberry Pi 3 Model B Plus" in error
        assert page.is_visible("#model-banner")
        page.screenshot(path=str(artifacts / "page-software-gl-refused.png"))
        page.close()
