"""The service over real HTTP and websockets (uvicorn on loopback), with the tiny colour model
on the GPU (llvmpipe) and the files source."""
from __future__ import annotations

import asyncio
import io
import json

import httpx
import websockets
from PIL import Image

from colour_model import COLOURS, LABELS
from serving import engine_up, running_service, wait_for


def png(colour, fmt="PNG", size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def read_mjpeg_frames(base: str, count: int) -> list[bytes]:
    """Parse `count` parts of the multipart stream by its boundaries. Each part's headers come
    right after the picture before it, so a part is complete once the next headers are read."""
    frames = []
    with httpx.stream("GET", f"{base}/stream.mjpg", timeout=20) as response:
        assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
        buffer = b""
        for chunk in response.iter_bytes():
            buffer += chunk
            parts = buffer.split(b"\r\n--frame\r\n")
            for part in parts[:-1]:
                head, _, body = part.partition(b"\r\n\r\n")
                assert b"Content-Type: image/jpeg" in head
                frames.append(body)
                if len(frames) == count:
                    return frames
            buffer = parts[-1]
    raise AssertionError("stream ended early")


def test_files_source_end_to_end(colour_model, colour_pictures):
    with running_service(colour_model, camera_source=f"files:{colour_pictures}", camera_fps=8,
                         model_top_k=3) as run, httpx.Client(base_url=run.base, timeout=20) as http:
        engine_up(run)
        latest = wait_for(lambda: http.get("/api/latest").json().get("label"))
        assert latest == "red"
        body = http.get("/api/latest").json()
        assert body["type"] == "prediction" and body["model_name"] == "colours"
        assert [r["label"] for r in body["top_k"]][0] == "red" and len(body["top_k"]) == 3
        assert body["top_k"][0]["probability"] > 0.99
        assert set(body["timings_ms"]) >= {"capture", "upload", "gpu", "readback", "total"}

        async def listen():
            async with websockets.connect(run.ws) as ws:
                hello = json.loads(await ws.recv())
                messages = [json.loads(await ws.recv()) for _ in range(3)]
            return hello, messages

        hello, messages = asyncio.run(listen())
        assert hello["type"] == "hello" and hello["model"]["name"] == "colours"
        assert hello["gl"]["api"] == "gles2" and hello["model"]["classes"] == 4
        assert all(m["type"] == "prediction" and m["label"] == "red" for m in messages)
        frames = [m["frame"] for m in messages]
        assert frames == sorted(frames) and len(set(frames)) == 3

        health = http.get("/api/health").json()
        assert health["status"] == "ok" and health["camera"]["state"] == "running"
        assert health["gl"]["renderer"] and health["fps"] > 0 and health["uptime_s"] > 0
        stats = http.get("/api/stats").json()
        # frame numbers count captured frames; the newest-frame policy may skip some of them
        assert stats["frames"]["captured"] >= frames[-1] and stats["frames"]["failed"] == 0
        assert stats["frames"]["processed"] >= len(set(frames))
        assert stats["frames"]["captured"] >= stats["frames"]["processed"]
        assert http.get("/api/labels").json()["labels"] == LABELS

        for jpeg in read_mjpeg_frames(run.base, 2):
            picture = Image.open(io.BytesIO(jpeg))
            assert picture.format == "JPEG" and picture.size == (160, 120)
            assert picture.getpixel((80, 60))[0] > 200
        snapshot = http.get("/snapshot.jpg")
        assert snapshot.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(snapshot.content)).format == "JPEG"

        page = http.get("/")
        assert page.status_code == 200 and "colours" in page.text and "/static/app.js" in page.text
        assert "renderPrediction" in http.get("/static/app.js").text
        assert http.get("/openapi.json").json()["paths"].keys() >= {"/api/latest", "/api/classify"}
        assert http.get("/docs").status_code == 200


def test_classify_uploads_and_bad_uploads(colour_model, colour_pictures):
    with running_service(colour_model, camera_source=f"files:{colour_pictures}",
                         camera_fps=2) as run, httpx.Client(base_url=run.base, timeout=30) as http:
        engine_up(run)
        for name in ("blue", "green"):
            fmt = "JPEG" if name == "blue" else "PNG"
            answer = http.post("/api/classify",
                               files={"file": (f"{name}.img", png(COLOURS[name], fmt), "image/x")})
            assert answer.status_code == 200, answer.text
            assert answer.json()["label"] == name and answer.json()["origin"] == "upload"
        not_image = http.post("/api/classify", files={"file": ("x.jpg", b"hello", "image/jpeg")})
        assert not_image.status_code == 400 and "not a readable JPEG or PNG" in not_image.text
        gif = http.post("/api/classify", files={"file": ("x.gif", png("red", "GIF"), "image/gif")})
        assert gif.status_code == 415 and "got GIF" in gif.text
        empty = http.post("/api/classify", files={"file": ("x.png", b"", "image/png")})
        assert empty.status_code == 400 and "empty" in empty.text
        assert http.post("/api/classify").status_code == 422
        # the camera path carried on through all of that
        assert http.get("/api/health").json()["status"] == "ok"


def test_missing_camera_is_reported_and_recovers(colour_model, tmp_path):
    folder = tmp_path / "later"
    with running_service(colour_model, camera_source=f"files:{folder}", camera_fps=5,
                         camera_retry_min_s=0.05, camera_retry_max_s=0.2) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        health = wait_for(lambda: (h := http.get("/api/health").json())["camera"]["failures"] >= 2
                          and h["model"]["state"] == "running" and h)
        assert health["status"] == "degraded" and health["camera"]["state"] == "retrying"
        assert "does not exist" in health["camera"]["error"]
        latest = http.get("/api/latest").json()
        assert latest["type"] == "waiting" and "does not exist" in latest["detail"]
        assert http.get("/snapshot.jpg").status_code == 503
        folder.mkdir()
        Image.new("RGB", (32, 32), COLOURS["green"]).save(folder / "g.png")
        assert wait_for(lambda: http.get("/api/latest").json().get("label")) == "green"
        assert http.get("/api/health").json()["status"] == "ok"


def test_corrupt_model_keeps_the_service_up_and_says_why(tmp_path, colour_pictures):
    model = tmp_path / "broken.chunks"
    model.write_bytes(b"\x05\x00\x00\x00abc")
    with running_service(model, camera_source=f"files:{colour_pictures}", camera_fps=5) as run, \
            httpx.Client(base_url=run.base, timeout=20) as http:
        health = wait_for(lambda: (h := http.get("/api/health").json())["status"] == "error" and h)
        assert "truncated" in health["model"]["error"]
        assert "failed to load" in http.get("/api/latest").json()["detail"]
        assert http.get("/api/labels").status_code == 503
        answer = http.post("/api/classify", files={"file": ("a.png", png("red"), "image/png")})
        assert answer.status_code == 503 and "unavailable" in answer.text
        assert http.get("/").status_code == 200
