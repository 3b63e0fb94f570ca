"""POST /api/classify against broken, huge and unusual files (real uvicorn on loopback, demo
model on llvmpipe): every one is answered, never with a 5xx."""
from __future__ import annotations

import collections
import io
import random
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from attack_server import DEMO_MODEL
from serving import engine_up, running_service

MUTATIONS_PER_FILE = 300


def picture(size=(160, 120)) -> Image.Image:
    x = np.linspace(0, 255, size[0], dtype=np.uint8)
    y = np.linspace(0, 255, size[1], dtype=np.uint8)
    rgb = np.stack([np.add.outer(y, x) // 2, np.tile(x, (size[1], 1)),
                    np.tile(y[:, None], (1, size[0]))], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def mutations(data: bytes, seed: int, count: int) -> list[bytes]:
    """Deterministic damage of every kind a decoder meets: flipped and overwritten bytes,
    cuts, inserted and repeated runs, headers with absurd numbers."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        damaged = bytearray(data)
        kind = i % 6
        if kind == 0:  # a few flipped bits anywhere
            for _ in range(rng.randint(1, 8)):
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        elif kind == 1:  # truncated
            damaged = damaged[:rng.randrange(1, len(damaged))]
        elif kind == 2:  # random bytes inserted
            at = rng.randrange(len(damaged))
            damaged[at:at] = rng.randbytes(rng.randint(1, 64))
        elif kind == 3:  # a run overwritten near the start, where the headers are
            at = rng.randrange(min(len(damaged), 200))
            damaged[at:at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                                             b"\x7f\xff\xff\xff", rng.randbytes(4)])
        elif kind == 4:  # a slice repeated
            at = rng.randrange(len(damaged))
            damaged[at:at] = damaged[at:at + rng.randint(1, 512)] * rng.randint(2, 8)
        else:  # a run deleted
            at = rng.randrange(len(damaged))
            del damaged[at:at + rng.randint(1, 256)]
        out.append(bytes(damaged))
    return out


@pytest.fixture(scope="module")
def service():
    with running_service(DEMO_MODEL, server_uploads_per_minute=6000) as run:
        engine_up(run)
        yield run


def classify(http: httpx.Client, data: bytes, name: str, kind: str) -> httpx.Response:
    return http.post("/api/classify", files={"file": (name, data, kind)})


def test_mutated_jpeg_and_png_corpus_gives_4xx_only(service):
    jpeg, png = encoded(picture(), "JPEG", quality=85), encoded(picture(), "PNG")
    corpus = [(m, "x.jpg", "image/jpeg") for m in mutations(jpeg, 1, MUTATIONS_PER_FILE)]
    corpus += [(m, "x.png", "image/png") for m in mutations(png, 2, MUTATIONS_PER_FILE)]
    codes = collections.Counter()
    with httpx.Client(base_url=service.base, timeout=60) as http:
        for data, name, kind in corpus:
            answer = classify(http, data, name, kind)
            while answer.status_code == 429:  # faster than even 6000 a minute: every file
                time.sleep(0.05)              # is to reach the decoder
                answer = classify(http, data, name, kind)
            codes[answer.status_code] += 1
            assert answer.status_code in (200, 400, 413, 415), \
                (answer.status_code, answer.text, data[:64])
            if answer.status_code != 200:
                assert answer.json()["detail"]
        assert http.get("/api/health").json()["status"] == "ok"
    print(f"\n{len(corpus)} mutated files: {dict(sorted(codes.items()))}")
    assert len(corpus) == 600 and codes[400] > 50 and codes[200] > 50


def test_phone_pictures_and_extreme_shapes_are_classified(service):
    mpo = encoded(picture(), "MPO", save_all=True, append_images=[picture((120, 90))])
    wide = encoded(Image.new("RGB", (20000, 60), (200, 30, 30)), "PNG")  # beyond any GL texture
    tall = encoded(Image.new("L", (3, 17000), 90), "PNG")
    big_jpeg = encoded(picture((6000, 4500)), "JPEG", quality=80)  # 27 MP, decoded at 1/8
    palette = encoded(picture().convert("P"), "PNG")
    with httpx.Client(base_url=service.base, timeout=60) as http:
        for data, name in ((mpo, "phone.jpg"), (wide, "wide.png"), (tall, "tall.png"),
                           (big_jpeg, "camera.jpg"), (palette, "palette.png")):
            answer = classify(http, data, name, "application/octet-stream")
            assert answer.status_code == 200, (name, answer.text)
            assert answer.json()["origin"] == "upload"


def test_progressive_jpeg_over_the_pixel_budget_is_refused_unread(service):
    progressive = encoded(picture((5000, 4000)), "JPEG", quality=80, progressive=True)
    with httpx.Client(base_url=service.base, timeout=60) as http:
        answer = classify(http, progressive, "p.jpg", "image/jpeg")
    assert answer.status_code == 413
    assert "5000x4000" in answer.json()["detail"] and "16" in answer.json()["detail"]


def test_fast_client_is_told_when_to_come_back(colour_model):
    small = encoded(picture(), "PNG")
    with running_service(colour_model) as run, httpx.Client(base_url=run.base,
                                                            timeout=60) as http:
        engine_up(run)
        answers = [classify(http, small, "a.png", "image/png") for _ in range(8)]
    codes = [a.status_code for a in answers]
    assert codes[:5] == [200] * 5 and 429 in codes  # bursts of 5 at the default 30 a minute
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert "too many uploads" in refused.json()["detail"]
