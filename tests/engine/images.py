"""Test images: the spec's synthetic image (§6) and scikit-image's natural photos."""
import numpy as np


def synthetic() -> np.ndarray:
    """451×300, fractional crop margin: R ramps across, G down, B a 16-pixel checkerboard."""
    x, y = np.meshgrid(np.arange(451), np.arange(300))
    image = np.zeros((300, 451, 3), np.uint8)
    image[..., 0] = np.floor(255 * x / 450)
    image[..., 1] = np.floor(255 * y / 299)
    image[..., 2] = np.where((x // 16 + y // 16) % 2 == 1, 255, 0)
    return image


def natural(name: str) -> np.ndarray:
    import skimage.data
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-range BT.601 Y, U, V planes of an RGB image (chroma averaged over 2×2 blocks)."""
    r, g, b = (rgb[..., c].astype(np.float64) for c in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    v = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    h, w = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2

    def half(plane):
        return plane[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    return tuple(np.clip(np.round(p), 0, 255).astype(np.uint8) for p in (y, half(u), half(v)))
