"""The one image decoder: what its headers say a picture costs, what it refuses unread, and
the size it decodes at."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app.images import (TEXTURE_LIMIT, UPLOAD_FORMATS, ImageFormatRefused, ImageTooLarge,
                        ImageUnreadable, decode, read, read_frames)
from crafted_images import MB, black_png, multi_scan_jpeg


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def gradient(width: int, height: int) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    y = np.linspace(0, 255, height, dtype=np.uint8)
    return Image.fromarray(np.stack([np.add.outer(y, x) // 2, np.tile(x, (height, 1)),
                                     np.tile(y[:, None], (1, width))], axis=-1))


def test_a_crafted_multi_scan_jpeg_is_a_real_jpeg_and_decodes_within_the_budget():
    data = multi_scan_jpeg(1000, 600)
    with Image.open(io.BytesIO(data)) as image:  # libjpeg itself reads it
        assert image.size == (1000, 600) and not image.info.get("progressive")
    rgb = decode(data, target=128)
    assert rgb.shape == (128, 213, 3) and np.all(np.abs(rgb.astype(int) - 128) <= 1)


def test_a_multi_scan_jpeg_is_refused_by_its_coefficients_not_its_output_size():
    data = multi_scan_jpeg(12000, 12000)  # 5 MB; libjpeg would keep 864 MB of coefficients
    assert len(data) < 6 * MB
    with pytest.raises(ImageTooLarge, match="12000x12000") as refused:
        decode(data, target=128, formats=UPLOAD_FORMATS)
    assert "separate scans" in str(refused.value)
    # the same pixels in one interleaved scan are decoded at 1/8 scale, well within the budget
    assert decode(encoded(Image.new("RGB", (4000, 4000), "grey"), "JPEG"), 128,
                  max_pixels=1_000_000).shape == (128, 128, 3)
    # within the pixel budget, its coefficients (3 x 128 x 128 blocks of 128 bytes) are not
    with pytest.raises(ImageTooLarge, match="every DCT coefficient 6 MB"):
        decode(multi_scan_jpeg(1024, 1024), 128, max_pixels=1_100_000)


@pytest.mark.parametrize("width, height, held", [(1, 16_000_000, "a pointer per row 122 MB"),
                                                 (16_000_000, 1, "row buffers 92 MB")])
def test_pngs_of_one_row_or_one_column_are_refused_by_what_the_decoder_holds(width, height,
                                                                            held):
    data = black_png(width, height)
    assert len(data) < 100_000  # 16 megapixels: within the default pixel budget
    with pytest.raises(ImageTooLarge, match=f"{width}x{height}") as refused:
        decode(data, 128, formats=UPLOAD_FORMATS)
    assert held in str(refused.value)


def test_an_ordinary_png_is_decoded_up_to_its_pixel_budget():
    assert decode(black_png(400, 400), max_pixels=160_000).shape == (400, 400, 3)
    with pytest.raises(ImageTooLarge, match="400x400 pixels; decoding it needs 0.2 megapixels"):
        decode(black_png(400, 400), max_pixels=159_999)


def test_progressive_jpegs_count_every_pixel_whatever_the_scale():
    data = encoded(gradient(2000, 1000), "JPEG", quality=80, progressive=True)
    with pytest.raises(ImageTooLarge, match="2000x1000.*2.0 megapixels.*progressive"):
        decode(data, 64, max_pixels=1_900_000)
    assert decode(data, 64, max_pixels=2_000_000).shape == (64, 128, 3)


def test_sizes_served_to_each_caller():
    big = encoded(gradient(4096, 3072), "JPEG", quality=85)
    assert decode(big).shape == (1536, 2048, 3)  # libjpeg's 1/2: just within the texture limit
    assert decode(big, target=448).shape == (448, 597, 3)
    wide = black_png(20000, 60)  # beyond any GL texture: a box filter of 10
    assert decode(wide, target=448).shape == (6, 2000, 3)
    small = gradient(300, 200)
    assert np.array_equal(decode(encoded(small, "PNG")), np.asarray(small))  # untouched
    assert max(decode(black_png(TEXTURE_LIMIT + 1, 8)).shape) <= TEXTURE_LIMIT


def test_refusals_say_what_happened_in_words(tmp_path):
    gif = encoded(gradient(32, 32), "GIF")
    with pytest.raises(ImageFormatRefused, match="expected a JPEG or PNG image, got GIF"):
        decode(gif, formats=UPLOAD_FORMATS)
    assert decode(gif).shape == (32, 32, 3)  # any format where the caller takes any
    jpeg = encoded(gradient(64, 64), "JPEG")
    for damaged, expected in ((b"hello", "not a readable JPEG or PNG image"),
                              (jpeg[:300], "not a readable JPEG image"),
                              (jpeg[:2] + b"\xff\xc0\x00\x08" + bytes(6), "JPEG"),
                              (black_png(8, 8)[:20], "not a readable PNG image")):
        with pytest.raises(ImageUnreadable, match=expected) as refused:
            decode(damaged, formats=UPLOAD_FORMATS)
        assert " at 0x" not in str(refused.value) and "BytesIO" not in str(refused.value)
    with pytest.raises(ImageUnreadable, match="not an image"):
        decode(b"hello")
    with pytest.raises(ImageUnreadable, match="nowhere.png: cannot read it"):
        read(tmp_path / "nowhere.png")
    (tmp_path / "tall.png").write_bytes(black_png(1, 16_000_000))
    with pytest.raises(ImageTooLarge, match="tall.png: the image is 1x16000000"):
        read(tmp_path / "tall.png")


def test_animated_pictures_give_every_frame(tmp_path):
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    reds = [int(rgb[0, 0, 0]) for rgb in read_frames(tmp_path / "anim.gif")]
    assert len(reds) == 2 and reds[0] > 200 and reds[1] < 50
