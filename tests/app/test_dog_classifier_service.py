"""The real dog classifier behind the real server: known photos give the right top-1 on the
websocket and in /api/latest, and the preview stream carries valid JPEG frames."""
from __future__ import annotations

import asyncio
import io
import json

import httpx
import pytest
import websockets
from PIL import Image

from serving import engine_up, running_service, wait_for

skimage_data = pytest.importorskip("skimage.data", reason="needs scikit-image for test photos")


@pytest.fixture
def cat_photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(skimage_data.chelsea()).save(folder / "chelsea.jpg", quality=95)
    return folder


def test_dog_classifier_over_websocket_latest_and_mjpeg(dog_model_path, cat_photos):
    with running_service(dog_model_path, camera_source=f"files:{cat_photos}", camera_fps=1,
                         model_top_k=5) as run, httpx.Client(base_url=run.base, timeout=30) as http:
        engine_up(run)

        async def two_predictions():
            async with websockets.connect(run.ws) as ws:
                hello = json.loads(await ws.recv())
                got = []
                while len(got) < 2:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if message["type"] == "prediction":
                        got.append(message)
                return hello, got

        hello, predictions = asyncio.run(two_predictions())
        assert hello["model"]["name"] == "dog_classifier" and hello["model"]["classes"] == 120
        for prediction in predictions:
            best = prediction["top_k"][0]
            assert (best["index"], best["label"]) == (119, "tiger_cat")
            assert best["probability"] > 0.95 and prediction["label"] == "tiger_cat"
        latest = wait_for(lambda: (body := http.get("/api/latest").json())["frame"] >=
                          predictions[-1]["frame"] and body)
        assert latest["top_k"][0]["label"] == "tiger_cat"
        assert latest["top_k"][0]["probability"] == pytest.approx(
            predictions[-1]["top_k"][0]["probability"], abs=1e-3)
        assert latest["timings_ms"]["gpu"] > 0 and latest["timings_ms"]["total"] > 0

        with httpx.stream("GET", f"{run.base}/stream.mjpg", timeout=30) as response:
            data = b""
            for chunk in response.iter_bytes():
                data += chunk
                if data.count(b"--frame") >= 2:
                    break
        part = data.split(b"--frame\r\n")[1]
        jpeg = part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
        picture = Image.open(io.BytesIO(jpeg))
        assert picture.format == "JPEG" and picture.size == (451, 300)  # chelsea shrunk to fit
