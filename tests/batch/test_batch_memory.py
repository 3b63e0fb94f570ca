"""`shadercam batch` on pictures larger than a Pi can hold decoded: the memory of a real
process, and a refusal as an error record."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PIL import Image

from app.cli import main
from batch_helpers import DEMO_MODEL, REPO, read_records
from crafted_images import black_png

MB = 1024 * 1024
RSS_BOUND = 150 * MB


def batch_peak_rss(picture, out) -> int:
    """Peak resident memory (bytes) of a `shadercam batch` process classifying `picture`."""
    child = subprocess.Popen([sys.executable, "-m", "app.cli", "batch", "--model",
                              str(DEMO_MODEL), "--output", str(out), str(picture)], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0, child.stderr.read().decode(errors="replace")
    child.stderr.close()
    return usage.ru_maxrss * 1024


def test_a_48_megapixel_photo_is_classified_within_150_mb(tmp_path):
    skimage_data = pytest.importorskip("skimage.data", reason="needs scikit-image's photos")
    photo = Image.fromarray(skimage_data.astronaut())
    photo.resize((8000, 6000), Image.BICUBIC).save(tmp_path / "phone.jpg", quality=90)
    photo.resize((800, 600), Image.BICUBIC).save(tmp_path / "small.jpg", quality=90)
    small = batch_peak_rss(tmp_path / "small.jpg", tmp_path / "small.jsonl")
    large = batch_peak_rss(tmp_path / "phone.jpg", tmp_path / "phone.jsonl")
    [record] = read_records(tmp_path / "phone.jsonl")
    print(f"\nbatch peak RSS: 800x600 {small / MB:.0f} MB, 8000x6000 {large / MB:.0f} MB "
          f"(+{(large - small) / MB:.0f} MB)")
    assert "top_k" in record, record
    assert large - small <= RSS_BOUND


def test_a_picture_too_large_even_when_reduced_is_an_error_record(tmp_path):
    (tmp_path / "column.png").write_bytes(black_png(1, 16_000_000))
    Image.new("RGB", (64, 64), "red").save(tmp_path / "fine.png")
    out = tmp_path / "out.jsonl"
    assert main(["batch", "--model", str(DEMO_MODEL), "--output", str(out),
                 str(tmp_path)]) == 1
    records = {os.path.basename(r["path"]): r for r in read_records(out)}
    assert "top_k" in records["fine.png"]
    assert records["column.png"]["error"].startswith("the image is 1x16000000 pixels")
