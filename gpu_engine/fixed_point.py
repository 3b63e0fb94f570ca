"""16-bit fixed point in two 8-bit channels, the dense layer's number format on ES 2.0 (§4.6).

Everything here is float32 arithmetic, mirroring what the shaders in shaders/dense_*.frag do.
"""
from __future__ import annotations

import numpy as np

F32 = np.float32


def encode_bytes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CPU-side Q8.8 encoding of floats into (lsb, msb) byte arrays."""
    scaled = np.asarray(values, F32) * F32(256)
    q = np.where(scaled <= -32768, -32768,
                 np.where(scaled >= 32767, 32767, np.floor(scaled + F32(0.5)))).astype(np.int64)
    return (q % 256).astype(np.uint8), (q // 256 + 128).astype(np.uint8)


def decode_bytes(lsb: np.ndarray, msb: np.ndarray, frac_bits: int = 8) -> np.ndarray:
    """Exact value of a byte pair with `frac_bits` fractional bits."""
    raw = (msb.astype(np.int64) - 128) * 256 + lsb.astype(np.int64)
    return (raw.astype(np.float64) / (1 << frac_bits)).astype(F32)


def shader_encode(values: np.ndarray, frac_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """What the render target stores for a float the shader encodes (with both saturations)."""
    t = np.asarray(values, F32) * F32(2.0 ** (frac_bits - 8))
    h = np.floor(t)
    r = t - h
    lsb = np.minimum(255, np.floor(r * F32(256) + F32(0.5)))
    msb = np.clip(h + 128, 0, 255)
    return lsb.astype(np.uint8), msb.astype(np.uint8)


def remap(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Spread values over the full 16-bit range: bytes plus the OFF and INV shader literals."""
    values = np.asarray(values, F32)
    lo, hi = values.min(), values.max()
    if hi == lo:
        lsb, msb = encode_bytes(values)
        return lsb, msb, 0.0, 1.0
    scale = F32(255.99609375) / (hi - lo)
    offset = F32(-128) - lo * scale
    lsb, msb = encode_bytes(offset + scale * values)
    return lsb, msb, float(f"{offset:0.8f}"), float(f"{1 / float(scale):0.8f}")


def unmap(decoded: np.ndarray, off: float, inv: float) -> np.ndarray:
    """The shader's undoing of `remap`: (decoded − OFF)·INV in float32."""
    if off == 0.0 and inv == 1.0:
        return np.asarray(decoded, F32)
    return (np.asarray(decoded, F32) - F32(off)) * F32(inv)
