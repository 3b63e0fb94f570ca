"""The one image decoder: uploads, the CLI, batch and the files camera all read pictures here.

A picture file declares its own size, and what its decoder holds can be far more than its
pixels: a JPEG whose components come in separate scans (or a progressive one) keeps every DCT
coefficient of the full picture whatever the output scale, and Pillow keeps a pointer for
every row and two or three buffers as long as a row. So the headers are read here first (the
JPEG markers up to the first scan, the PNG IHDR), the decoder's memory is estimated from them,
and a picture over the budget is refused before a single pixel is decoded. JPEGs are decoded
at libjpeg's reduced scales (1/2, 1/4, 1/8) and every picture is reduced to the smallest size
that still serves the caller: the shorter side at least `target` (about twice the model
input), both sides within the GPU's texture limit.
"""
from __future__ import annotations

import io
import math
import os
import re
import warnings
from collections.abc import Collection, Iterator
from dataclasses import dataclass

import numpy as np

from app.config import KEYS
from gpu_engine.profile import VC4_GLES2

TEXTURE_LIMIT = VC4_GLES2.max_texture_size  # the smallest GPU we run on takes this many texels
UPLOAD_FORMATS = ("JPEG", "MPO", "PNG")  # MPO: the multi-picture JPEGs many phones write
DEFAULT_MAX_PIXELS = int(next(key.default for key in KEYS
                              if key.dotted == "server.upload_max_megapixels") * 1_000_000)
PIXEL_BYTES = 4  # Pillow keeps RGB, RGBA, LA and CMYK pictures in 4 bytes a pixel
HEADROOM = 1.25  # a budget of N pixels allows N such pixels and a quarter more for buffers
ROW_POINTER_BYTES = 8  # Pillow's table of row pointers: one per row of the picture
REDUCIBLE_MODES = ("L", "LA", "RGB", "RGBA", "CMYK")  # the modes Image.reduce takes
MB = 1 << 20
# Pillow's words for a PNG chunk that unpacks too far, and what in its messages is Python's
_METADATA_BOMB = re.compile(r"decompressed data too large|too much memory used in text", re.I)
_PYTHON_TEXT = re.compile(r" at 0x|<\w|\b\w+\.[A-Z_]{3,}\b|\b[A-Z]\w*(Error|Exception):")

_SOF_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}
_SOF_UNSUPPORTED = {0xC3, 0xC5, 0xC6, 0xC7, 0xCB, 0xCD, 0xCE, 0xCF}  # lossless, hierarchical
_SOF = {0xC0, 0xC1, 0xC2, 0xC9, 0xCA} | _SOF_UNSUPPORTED
# PNG colour type -> channels, and the bytes a pixel takes in the mode Pillow decodes into
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}

# Pillow warns (on stderr, in Python's words) of any picture over 89 megapixels; the budget
# here has refused such a picture by then, in words of its own
warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit",
                        category=RuntimeWarning)


class ImageError(ValueError):
    """The bytes or file cannot be made into a picture for the engine."""


class ImageUnreadable(ImageError):
    """Not an image, or a damaged one."""


class ImageFormatRefused(ImageError):
    """An image, but in a format this caller does not take."""


class ImageTooLarge(ImageError):
    """Decoding it would hold more memory than the budget allows."""


@dataclass(frozen=True)
class _Header:
    """What the headers say about the memory of decoding: read before any pixel is."""

    format: str
    width: int
    height: int
    pixel_bytes: int          # per pixel in the mode Pillow decodes into
    row_buffer_bytes: int     # the decoder's own buffers, per full-size row (PNG)
    coefficient_bytes: int    # JPEG: whole-picture coefficient buffers, 0 when not needed
    why_full: str = ""        # why the decoder works on the full picture at any scale


def decode(data: bytes, target: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
           formats: Collection[str] | None = None) -> np.ndarray:
    """RGB uint8 H×W×3 of the picture (its first frame), reduced as the module says.

    `target`: the shorter side to keep (None: reduce only to the texture limit);
    `max_pixels`: the budget; `formats`: the Pillow formats taken (None: any).
    """
    return next(frames(data, target, max_pixels, formats))


def read(path: str | os.PathLike[str], target: int | None = None,
         max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """`decode` of a file; errors name the file."""
    return next(read_frames(path, target, max_pixels))


def read_frames(path: str | os.PathLike[str], target: int | None = None,
                max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[np.ndarray]:
    """Every frame of an animated picture file (one for a still), each reduced."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ImageUnreadable(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        yield from frames(data, target, max_pixels)
    except ImageError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def frames(data: bytes, target: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
           formats: Collection[str] | None = None) -> Iterator[np.ndarray]:
    """Every frame of the picture in `data`, each reduced; refused before decoding when over
    the budget (the check is made once: all frames of a file have the picture's size)."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    taken = " or ".join(sorted(set(formats) - {"MPO"})) if formats is not None else ""
    header = _header(data)
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageUnreadable(f"not a readable {taken} image" if taken else
                              "not an image (JPEG, PNG, BMP, GIF, WebP, ... expected)") from None
    except Image.DecompressionBombError:
        raise ImageTooLarge("the image declares more pixels than any picture we decode") from None
    except Exception as exc:  # Pillow's header parsers raise many kinds; each means damage
        raise ImageUnreadable(f"not a readable image: its headers are damaged{_words(exc)}") \
            from None
    with image:
        if formats is not None and image.format not in formats:
            raise ImageFormatRefused(f"expected a {taken} image, got {image.format}")
        if header is None:
            header = _other_header(image)
        elif image.size != (header.width, header.height):
            raise ImageUnreadable(f"a damaged {header.format}: its headers disagree on its size")
        factor = reduction(header.width, header.height, target)
        if header.format == "JPEG" and factor >= 2:
            image.draft("RGB", (-(-header.width // factor), -(-header.height // factor)))
        _check_budget(header, image.size, max_pixels)
        still = header.format == "JPEG"  # an MPO's further pictures are not frames to play
        try:
            for frame in ([image] if still else ImageSequence.Iterator(image)):
                frame.load()
                yield _shrink(frame, target)
        except Exception as exc:  # Pillow's decoders raise many kinds; each means damage
            raise ImageUnreadable(f"not a readable {header.format} image: the data is damaged "
                                  f"or cut short{_words(exc)}") from None


def reduction(width: int, height: int, target: int | None = None) -> int:
    """The whole factor to reduce a picture by: within the texture limit, and the shorter
    side still at least `target` when the limit allows."""
    factor = -(-max(width, height) // TEXTURE_LIMIT)
    if target:
        factor = max(factor, min(width, height) // target)
    return max(1, factor)


def shrink(rgb: np.ndarray, target: int | None = None) -> np.ndarray:
    """An RGB array (e.g. a video frame) reduced as a decoded picture would be."""
    from PIL import Image
    if reduction(rgb.shape[1], rgb.shape[0], target) == 1 and \
            (not target or min(rgb.shape[:2]) <= target):
        return rgb
    return _shrink(Image.fromarray(rgb), target)


def _shrink(image, target: int | None) -> np.ndarray:
    """Reduce first (box filter) and convert after, so the full-size picture is never copied;
    what is left above `target` is resized to it."""
    from PIL import Image

    if image.mode not in REDUCIBLE_MODES:
        image = image.convert("RGB")
    factor = reduction(*image.size, target)
    if factor >= 2:
        image = image.reduce(factor)
    if image.mode != "RGB":
        image = image.convert("RGB")
    width, height = image.size
    if target and min(width, height) > target:
        scale = target / min(width, height)
        image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                             Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def _check_budget(header: _Header, decoded_size: tuple[int, int], max_pixels: int) -> None:
    """Refuse what the decoder would work on or hold beyond `max_pixels` (and its bytes)."""
    size = f"the image is {header.width}x{header.height} pixels"
    width, height = decoded_size
    pixels = header.width * header.height if header.why_full else width * height
    if pixels > max_pixels:
        because = f" ({header.why_full})" if header.why_full else ""
        raise ImageTooLarge(f"{size}; decoding it needs {pixels / 1e6:.1f} megapixels{because}, "
                            f"more than the {max_pixels / 1e6:g} allowed")
    parts = {"the decoded picture": width * height * header.pixel_bytes,
             "a pointer per row": height * ROW_POINTER_BYTES,
             "row buffers": header.row_buffer_bytes,
             "every DCT coefficient": header.coefficient_bytes}
    held, budget = sum(parts.values()), int(max_pixels * PIXEL_BYTES * HEADROOM)
    if held > budget:
        named = ", ".join(f"{what} {amount / MB:.0f} MB" for what, amount in parts.items()
                          if amount >= MB)
        raise ImageTooLarge(f"{size}; its decoder would hold about {held / MB:.0f} MB "
                            f"({named}), more than the {budget / MB:.0f} MB that "
                            f"{max_pixels / 1e6:g} megapixels allow")


def _header(data: bytes) -> _Header | None:
    """The header of a JPEG or PNG (None for other formats); ImageError when it is damaged."""
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg_header(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png_header(data)
    return None


def _jpeg_header(data: bytes) -> _Header:
    """The frame header and the first scan's components: libjpeg keeps the whole picture's
    coefficients when the first scan lacks a component or the file is progressive."""
    frame = None
    pos, end = 2, len(data)
    while True:
        pos = data.find(b"\xff", pos)  # libjpeg skips stray bytes between markers too
        if pos < 0 or pos + 1 >= end:
            raise ImageUnreadable("not a readable JPEG image: it ends before its first scan")
        marker = data[pos + 1]
        if marker == 0xFF or marker == 0x00 or marker == 0x01 or 0xD0 <= marker <= 0xD8:
            pos += 1 if marker == 0xFF else 2  # fill byte, or a marker without a segment
            continue
        if marker == 0xD9:
            raise ImageUnreadable("not a readable JPEG image: it ends before its first scan")
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        body = data[pos + 4:pos + 2 + length]
        if length < 2 or len(body) != length - 2:
            raise ImageUnreadable("not a readable JPEG image: its headers are cut short")
        if marker in _SOF and frame is None:
            frame = _jpeg_frame(marker, body)
        elif marker == 0xDA:
            if frame is None or not body:
                raise ImageUnreadable("not a readable JPEG image: a scan comes before the "
                                      "frame header")
            return _jpeg_memory(marker=frame[0], width=frame[1], height=frame[2],
                                components=frame[3], first_scan=body[0])
        pos += 2 + length


def _jpeg_frame(marker: int, body: bytes) -> tuple[int, int, int, list[tuple[int, int]]]:
    if marker in _SOF_UNSUPPORTED:
        raise ImageFormatRefused("a lossless or hierarchical JPEG, which is not supported")
    count = body[5] if len(body) >= 6 else 0
    if count not in (1, 3, 4) or len(body) < 6 + 3 * count:
        raise ImageUnreadable("not a readable JPEG image: its frame header is damaged")
    height, width = int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big")
    sampling = [(body[7 + 3 * i] >> 4, body[7 + 3 * i] & 15) for i in range(count)]
    if width == 0 or height == 0 or not all(1 <= h <= 4 and 1 <= v <= 4 for h, v in sampling):
        raise ImageUnreadable("not a readable JPEG image: its frame header is damaged")
    return marker, width, height, sampling


def _jpeg_memory(marker: int, width: int, height: int, components: list[tuple[int, int]],
                 first_scan: int) -> _Header:
    progressive = marker in _SOF_PROGRESSIVE
    why = ("a progressive JPEG keeps every coefficient of the full picture" if progressive
           else "its colour components come in separate scans, so every coefficient of the "
                "full picture is kept" if first_scan < len(components) else "")
    coefficients = 0
    if why:
        most_h = max(h for h, _ in components)
        most_v = max(v for _, v in components)
        for h, v in components:  # blocks of 64 two-byte coefficients, whole MCUs
            columns = _round_up(math.ceil(width * h / (most_h * 8)), h)
            rows = _round_up(math.ceil(height * v / (most_v * 8)), v)
            coefficients += columns * rows * 64 * 2
    return _Header("JPEG", width, height, 1 if len(components) == 1 else PIXEL_BYTES,
                   row_buffer_bytes=0, coefficient_bytes=coefficients, why_full=why)


def _png_header(data: bytes) -> _Header:
    """IHDR: Pillow decodes into a picture of the full size and keeps two rows of raw data."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ImageUnreadable("not a readable PNG image: its header is damaged")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    depth, colour = data[24], data[25]
    if width == 0 or height == 0 or depth not in _PNG_DEPTHS.get(colour, ()):
        raise ImageUnreadable("not a readable PNG image: its header is damaged")
    row = 1 + math.ceil(width * _PNG_CHANNELS[colour] * depth / 8)  # the filter byte first
    pixel = 1 if colour == 3 or (colour == 0 and depth <= 8) else PIXEL_BYTES
    return _Header("PNG", width, height, pixel, row_buffer_bytes=2 * row, coefficient_bytes=0)


def _other_header(image) -> _Header:
    """Formats whose headers we do not read ourselves: assume a full-size picture and as
    much again for the decoder's own copy."""
    width, height = image.size
    return _Header(image.format or "image", width, height, PIXEL_BYTES,
                   row_buffer_bytes=width * height * PIXEL_BYTES, coefficient_bytes=0)


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def _words(exc: Exception) -> str:
    """Pillow's own explanation, when it is words for a person: not a Python object's repr,
    nor one of its module's names (a PNG's text chunk that unpacks too far is said plainly)."""
    text = str(exc).strip()
    if _METADATA_BOMB.search(text):
        return " (its text or colour profile unpacks to more than a picture may hold)"
    if not text or _PYTHON_TEXT.search(text) or len(text) > 200:
        return ""
    return f" ({text})"
