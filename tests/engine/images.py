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
