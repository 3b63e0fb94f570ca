"""No Python exception text reaches a person: hostile pictures, damaged models, bad JSON and
wrong types, sent to a real service on loopback and given to the `shadercam` command, are
refused in words (no class names, object reprs, tracebacks or Pillow's own warnings), and every
API refusal has the one error body."""
from __future__ import annotations

import http.server
import io
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

import httpx
from PIL import Image

from colour_model import COLOURS
from openapi_check import OpenAPI
from serving import engine_up, running_service, wait_for

PYTHONISMS = re.compile(
    r"Traceback|<_io\.|object at 0x|\b[A-Z]\w*(Error|Exception|Warning)\b[:(]|decompression bomb"
    r"|\[Errno \d+\]|PngImagePlugin|MAX_TEXT_CHUNK|\bPIL\b|\bNoneType\b|object has no attribute"
    r"|object is not|b'\\x", re.I)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, *chunks: bytes, rows: int = 1) -> bytes:
    """An 8-bit greyscale PNG declaring width x height, with `rows` rows of pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * (width + 1) * rows, 9)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + b"".join(chunks)
            + png_chunk(b"IDAT", pixels) + png_chunk(b"IEND", b""))


def jpeg(size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def hostile_pictures() -> dict[str, bytes]:
    whole = jpeg()
    bomb_text = zlib.compress(b"\x00" * (64 << 20), 9)  # 64 MB of text in a 64 KB chunk
    return {
        "notes.txt": b"shopping list: milk, eggs\n",
        "empty.jpg": b"",
        "huge.png": png(20000, 20000),  # 400 megapixels declared
        "big.png": png(12000, 12000),  # between Pillow's warning and its refusal
        "zeros.png": png(8000, 8000, rows=8000),  # 64 megapixels of zeros in 60 KB
        "text-bomb.png": png(8, 8, png_chunk(b"zTXt", b"comment\x00\x00" + bomb_text)),
        "profile-bomb.png": png(8, 8, png_chunk(b"iCCP", b"icc\x00\x00" + bomb_text)),
        "bad-crc.png": png(8, 8)[:-20] + b"\x00" * 20,
        "cut.jpg": whole[:len(whole) // 2],
        "head-only.jpg": whole[:200],
        "garbage.jpg": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8,
        "wrong-name.png": jpeg()[:-2],
    }


def damaged_models(folder: Path, colour_model: Path) -> list[Path]:
    whole = colour_model.read_bytes()
    files = {"text.chunks": b"hello, a model\n", "empty.chunks": b"",
             "cut.chunks": whole[:len(whole) // 2], "noise.chunks": bytes(range(256)) * 40,
             "huge-record.chunks": b"\xff\xff\xff\x7f" + whole[4:]}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "a-folder.chunks").mkdir()
    return [folder / name for name in (*files, "a-folder.chunks", "missing.chunks")]


def in_words(text: str) -> None:
    found = PYTHONISMS.search(text)
    assert found is None, f"Python's own words {found[0]!r} in: {text}"


def refused(api: OpenAPI, answer: httpx.Response) -> str:
    """A refusal in the one shape and in words; its detail."""
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    body = api.message("ErrorAnswer", answer.json())
    in_words(answer.text)
    return body["detail"]


def test_the_api_refuses_hostile_input_in_words(colour_model, colour_pictures, tmp_path):
    with running_service(colour_model, camera_source=f"files:{colour_pictures}",
                         state_dir=tmp_path / "state", server_uploads_per_minute=600) as run, \
            httpx.Client(base_url=run.base, timeout=60) as http:
        engine_up(run)
        api = OpenAPI(http.get("/openapi.json").json())
        for name, data in hostile_pictures().items():
            detail = refused(api, http.post("/api/classify", files={"file": (name, data)}))
            assert detail, name
        wait_for(lambda: http.get("/api/latest").json()["type"] == "prediction")
        assert http.post("/api/teach", json={"name": "door", "classes": ["a", "b"]}
                         ).status_code == 201
        refused(api, http.post("/api/teach/door/examples", params={"label": "a"},
                               files={"file": ("x.png", png(20000, 20000))}))

        def export(entries: dict[str, bytes]) -> bytes:
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
                for entry, content in entries.items():
                    archive.writestr(entry, content)
            return out.getvalue()

        good = http.get("/api/teach/door/export").content
        with zipfile.ZipFile(io.BytesIO(good)) as archive:
            parts = {name: archive.read(name) for name in archive.namelist()}
        manifest = json.loads(parts["classifier.json"])
        for changed in ({"classifier.json": b"null"}, {"classifier.json": b"[1, 2]"},
                        {"classifier.json": b'{"name": 5}'}, {"classifier.json": b"{"},
                        {"classifier.json": json.dumps({**manifest, "classes": 7}).encode()},
                        {"classifier.json": json.dumps({**manifest, "examples": [None]}).encode()},
                        {"data.npz": b"\x93NUMPY broken"}, {"data.npz": b"PK\x03\x04"},
                        {name: b"\x00" * (64 << 20) for name in parts}):
            entries = {**parts, **changed}
            detail = refused(api, http.post("/api/teach/import",
                                            files={"file": ("x.zip", export(entries))}))
            assert detail.startswith("not an exported taught classifier: "), detail
        refused(api, http.post("/api/teach/import",
                               files={"file": ("x.zip", export({"other.txt": b"x"}))}))
        refused(api, http.post("/api/teach/import", files={"file": ("x.zip", b"PK\x03\x04")}))

        for body in (b"{", b"[]", b"null", b'"text"', b'{"threshold": "high"}',
                     b'{"threshold": [1]}', b'{"smoothing": 1.5}', b'{"smoothing": 1e400}',
                     b'{"threshold": NaN}', b'{"smoothing": true}', b"\xe9\x00\xff",
                     b'{"threshold": 0.5, "threshold": {}}'):
            answer = http.put("/api/settings", content=body,
                              headers={"Content-Type": "application/json"})
            if answer.status_code != 200:  # a few are taken as JSON allows
                refused(api, answer)
        for body in ({"name": 5, "classes": "ab"}, {"name": "x" * 100, "classes": ["a", "b"]},
                     {"name": "porch", "classes": [1, {}]}, {"name": None, "classes": None},
                     {"name": "porch", "classes": ["a", "b"], "region": ["left"]},
                     {"name": "porch", "classes": ["a", "b"], "region": [0, 0, 2, -1]}):
            refused(api, http.post("/api/teach", json=body))
        refused(api, http.patch("/api/teach/door/examples/0123456789ab", json={"label": None}))
        refused(api, http.post("/api/classify", content=b"--x\r\nnonsense",
                               headers={"Content-Type": "multipart/form-data; boundary=x"}))
        for url in ("/api/events?limit=abc", "/api/events?since=yesterday",
                    "/api/events?limit=99999999999999999999999", "/preview/abc.jpg",
                    "/preview/-1.jpg", "/preview/99999999999999999999999.jpg",
                    "/api/teach/%00/export", "/api/events/..%2f..%2fetc"):
            refused(api, http.get(url))


def test_a_damaged_model_and_a_missing_camera_are_explained_in_words(colour_model, tmp_path):
    for model in damaged_models(tmp_path, colour_model)[:2]:
        with running_service(model, camera_source=f"files:{tmp_path / 'no-pictures'}",
                             events_enabled=False) as run, \
                httpx.Client(base_url=run.base, timeout=20) as http:
            health = wait_for(lambda: (h := http.get("/api/health").json())["status"] == "error"
                              and h["camera"]["error"] and h)
            assert health["model"]["error"], health
            in_words(json.dumps(health))
            for answer in (http.get("/api/labels"), http.post(
                    "/api/classify", files={"file": ("x.jpg", jpeg((64, 48)))})):
                assert answer.status_code == 503
                in_words(answer.text)


def shadercam(*args: str, store: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "SHADERCAM_MODEL_STORE": str(store)})


def test_the_command_refuses_hostile_input_in_words(colour_model, tmp_path):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for name, data in hostile_pictures().items():
        (pictures / name).write_bytes(data)
    Image.new("RGB", (64, 48), COLOURS["red"]).save(pictures / "red.png")
    files = sorted(str(path) for path in pictures.iterdir())
    store = tmp_path / "store"
    done = shadercam("classify", "--model", str(colour_model), *files, store=store)
    assert done.returncode == 1, done
    errors = [line for line in done.stderr.splitlines()
              if line.startswith("shadercam classify: error: ")]
    assert len(errors) == len(files) - 1 and "red.png" in done.stdout, done
    in_words(done.stderr)

    models = tmp_path / "models"
    models.mkdir()
    for model in damaged_models(models, colour_model):
        for command in (("classify", "--model", str(model), str(pictures / "red.png")),
                        ("bench", "--model", str(model), "--iterations", "1")):
            done = shadercam(*command, store=store)
            assert done.returncode != 0 and done.stderr.startswith(f"shadercam {command[0]}: "
                                                                   "error: "), done
            in_words(done.stderr + done.stdout)
        done = shadercam("model", "install", str(model), store=store)
        assert done.returncode != 0, done
        in_words(done.stderr + done.stdout)


def test_batch_reports_each_hostile_picture_in_words(colour_model, tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for name, data in hostile_pictures().items():
        (folder / name).write_bytes(data)
    done = shadercam("batch", str(folder), "--model", str(colour_model),
                     store=tmp_path / "store")
    assert done.returncode == 1, done
    records = [json.loads(line) for line in done.stdout.splitlines()]
    pictures = [name for name in hostile_pictures() if not name.endswith(".txt")]
    assert sorted(Path(r["path"]).name for r in records if r["error"]) == sorted(pictures)
    in_words(done.stderr + done.stdout)


class _CutShort(http.server.BaseHTTPRequestHandler):
    """Announces a model of 100 kB, sends 10 bytes of it and resets the connection."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.wfile.flush()
        time.sleep(0.2)  # the head and the bytes are read before the reset arrives
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.connection.close()

    def log_message(self, *args) -> None:
        pass


def test_a_download_cut_short_is_told_in_words(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CutShort)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/model.chunks"
        done = shadercam("model", "install", url, "--sha256", "0" * 64, store=tmp_path)
    finally:
        server.shutdown()
        thread.join(10)
    assert done.returncode == 1 and "download interrupted" in done.stderr, done
    in_words(done.stderr + done.stdout)
