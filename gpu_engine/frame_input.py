"""Camera frames checked and, when larger than the GPU's textures, reduced on the CPU first.

A Pi's VideoCore IV takes textures up to 2048 texels a side. A larger frame is averaged over
f×f blocks (f the smallest integer that makes it fit) and the GPU then resamples the reduced
frame exactly as it would the original; the remainder rows and columns that do not fill a
block are dropped evenly from both edges.
"""
from __future__ import annotations

import numpy as np


def check_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4) \
            or min(image.shape[:2]) < 1:
        raise ValueError(f"expected an H×W×3 or H×W×4 uint8 image, got {image.dtype} "
                         f"{image.shape}")
    return image


def check_yuv420(y, u, v) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, u, v = (np.asarray(p) for p in (y, u, v))
    height, width = y.shape if y.ndim == 2 else (0, 0)
    half = (height // 2, width // 2)
    if y.dtype != np.uint8 or height < 2 or width < 2 or u.shape != half or v.shape != half \
            or u.dtype != np.uint8 or v.dtype != np.uint8:
        raise ValueError(f"expected uint8 planes Y H×W and U, V (H/2)×(W/2); got "
                         f"{y.shape}, {u.shape}, {v.shape}")
    return y, u, v


def factor(width: int, height: int, limit: int) -> int:
    """The smallest integer reduction that brings both sides within `limit`."""
    return max(1, -(-max(width, height) // limit))


def reduce_rgb(image: np.ndarray, limit: int) -> np.ndarray:
    height, width = image.shape[:2]
    f = factor(width, height, limit)
    if f == 1:
        return image
    rows, cols = _reduced(height, f), _reduced(width, f)
    return _area_mean(image, f, (height - rows * f) // 2, (width - cols * f) // 2, rows, cols)


def reduce_yuv420(y: np.ndarray, u: np.ndarray, v: np.ndarray, limit: int):
    """Chroma blocks stay aligned with the luma blocks they cover (2f luma rows per f rows)."""
    height, width = y.shape
    f = factor(width, height, limit)
    if f == 1:
        return y, u, v
    rows, cols = _reduced(u.shape[0], f), _reduced(u.shape[1], f)
    top, left = (u.shape[0] - rows * f) // 2, (u.shape[1] - cols * f) // 2
    return (_area_mean(y, f, 2 * top, 2 * left, 2 * rows, 2 * cols),
            _area_mean(u, f, top, left, rows, cols), _area_mean(v, f, top, left, rows, cols))


def _reduced(size: int, f: int) -> int:
    if size < f:
        raise ValueError(f"a frame side of {size} pixels cannot be reduced {f}x to fit the "
                         "GPU's largest texture; the frame is too narrow for its length")
    return size // f


def _area_mean(plane: np.ndarray, f: int, top: int, left: int, rows: int,
               cols: int) -> np.ndarray:
    block = plane[top:top + rows * f, left:left + cols * f]
    sums = block.reshape((rows, f, cols, f) + plane.shape[2:]).sum(axis=(1, 3), dtype=np.uint32)
    return ((sums + f * f // 2) // (f * f)).astype(np.uint8)
