"""Decode image files and uploads into the RGB arrays the engine takes."""
from __future__ import annotations

import io
import os

import numpy as np


class ImageError(ValueError):
    """The bytes or file are not an image we can decode."""


class ImageUnreadable(ImageError):
    """The bytes are no image, or a damaged one."""


class ImageFormatRefused(ImageError):
    """An image, but in a format that is not taken here."""


class ImageTooLarge(ImageError):
    """An image whose file or decoded pixels exceed what may be spent on it."""


def decode_image(data: bytes) -> np.ndarray:
    """RGB uint8 H×W×3 from JPEG/PNG/BMP/... bytes."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except UnidentifiedImageError:
        raise ImageError("not an image (JPEG, PNG, BMP, GIF, WebP, ... expected)") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"a damaged or unreadable image: {exc}") from exc


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return decode_image(data)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc}") from exc
