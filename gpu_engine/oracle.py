"""The one rule by which a GPU's result agrees with the NumPy reference (spec §6), shared by the
self-test on the device and the op tests.

8-bit codes: equal, or one code apart where the exact value lies within `TIE` of a rounding tie
(k + ½ codes). The reference rounds half up in float64; a GPU rounds its float32 value, which
may land on either side of a tie (ties to even, or float32 sums that differ from float64 in the
last bits), and nowhere else. Logits (the Q8.8 dense layer): within `LOGIT_TOLERANCE`.
"""
from __future__ import annotations

import numpy as np

from gpu_engine.ops.base import to_codes

TIE = 0.02  # codes: how close to k + ½ the exact value must lie for a ±1 to be a rounding tie
LOGIT_TOLERANCE = 4 / 256  # the Q8.8 dense layer's bound in the format (spec §6)


def wrong_codes(gpu: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Where the GPU's codes break the rule, given the reference's unrounded values."""
    expected = to_codes(exact)
    if gpu.shape != expected.shape:
        raise ValueError(f"the GPU gave shape {gpu.shape}, the reference {expected.shape}")
    diff = np.abs(gpu.astype(int) - expected.astype(int))
    scaled = np.clip(exact, 0, 1) * 255
    tie = np.abs(scaled - np.floor(scaled) - 0.5) < TIE
    return (diff > 1) | ((diff == 1) & ~tie)


def codes_problem(gpu: np.ndarray, exact: np.ndarray) -> str | None:
    """What breaks the rule, or None when the GPU's codes agree with the reference."""
    wrong = wrong_codes(gpu, exact)
    if not wrong.any():
        return None
    diff = np.abs(gpu.astype(int) - to_codes(exact).astype(int))
    return (f"{int(wrong.sum())} of {wrong.size} codes differ from the reference, by up to "
            f"{int(diff.max())}")


def logits_problem(gpu: np.ndarray, exact: np.ndarray) -> str | None:
    """What breaks the logits' tolerance, or None when they agree with the reference."""
    error = np.abs(gpu - exact.reshape(gpu.shape))
    if error.max() <= LOGIT_TOLERANCE:
        return None
    return (f"{int((error > LOGIT_TOLERANCE).sum())} of {error.size} logits differ from the "
            f"reference, by up to {error.max():.4f}")
