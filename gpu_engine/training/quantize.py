"""The engine's storage arithmetic as differentiable PyTorch, for quantisation-aware training.

Rounding uses straight-through estimators: the forward pass sees exactly what the GPU stores,
the backward pass treats the rounding as identity so gradients still flow.
"""
from __future__ import annotations

import numpy as np
import torch

Q88_RANGE = 255.99609375  # span of the signed 16-bit Q8.8 range, (32767 - (-32768)) / 256


def straight_through(exact: torch.Tensor, rounded: torch.Tensor) -> torch.Tensor:
    """`rounded` in the forward pass, the gradient of `exact` in the backward pass."""
    return exact + (rounded - exact).detach()


def store8(y: torch.Tensor) -> torch.Tensor:
    """An activation written to an RGBA8 texture and read back: round(clamp(y,0,1)*255)/255."""
    codes = torch.floor(y.clamp(0.0, 1.0) * 255.0 + 0.5)
    return straight_through(y, codes / 255.0)


def encode_fixed(v: torch.Tensor, frac_bits: int) -> torch.Tensor:
    """A value after the shader's byte-pair encoding with `frac_bits` fractional bits (§4.6).

    Mirrors the render target exactly: the fraction saturates at 255/256 without carrying into
    the high byte, and the high byte clips to [-128, 127].
    """
    step = 2.0 ** (8 - frac_bits)
    t = v / step
    high = torch.floor(t)
    low = torch.clamp(torch.floor((t - high) * 256.0 + 0.5), max=255.0)
    return (high.clamp(-128.0, 127.0) + low / 256.0) * step


def q88_bytes_value(v: np.ndarray) -> np.ndarray:
    """A float32 array after the CPU-side Q8.8 encoding and decoding (multiples of 1/256)."""
    q = np.floor(v.astype(np.float32) * np.float32(256) + np.float32(0.5))
    return (np.clip(q, -32768, 32767) / 256.0).astype(np.float32)


def remapped_parameter(values: np.ndarray) -> np.ndarray:
    """What the gles2 dense shader computes for a weight or bias after its Q8.8 remap (§4.6).

    The tensor is stretched over the whole 16-bit range, stored as Q8.8 and undone in the
    shader with the offset and inverse scale printed as 8-decimal literals.
    """
    values = values.astype(np.float32)
    lo, hi = np.float32(values.min()), np.float32(values.max())
    if hi == lo:  # constant tensor: stored as is
        return q88_bytes_value(values)
    scale = np.float32(Q88_RANGE) / (hi - lo)
    offset = np.float32(-128.0) - lo * scale
    stored = q88_bytes_value(offset + scale * values)
    off_literal = np.float32(float(f"{float(offset):0.8f}"))
    inv_literal = np.float32(float(f"{1.0 / float(scale):0.8f}"))
    return ((stored - off_literal) * inv_literal).astype(np.float32)


def gles2_dense(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Logits as the OpenGL ES 2.0 engine computes them (no gradient; see `Dense`).

    `x` is the flat 8-bit input (batch × N, N a multiple of 8), `weight` is outputs × N.
    Partial sums over blocks of 8 inputs are stored with 9 fractional bits, summed four at a
    time (zero-padded on the left) until one remains, the bias is added in the last stage and
    the logit is stored as Q8.8.
    """
    with torch.no_grad():
        w = torch.from_numpy(remapped_parameter(weight.detach().cpu().numpy())).to(x.device)
        outputs, n_in = w.shape
        if bias is None:
            b = torch.zeros(outputs, device=x.device)
        else:
            b = torch.from_numpy(remapped_parameter(bias.detach().cpu().numpy())).to(x.device)
        blocks = n_in // 8
        partials = torch.einsum("bjn,ojn->boj", x.reshape(-1, blocks, 8).float(),
                                w.reshape(outputs, blocks, 8))
        partials = encode_fixed(partials, 9)
        while True:
            width = partials.shape[-1]
            next_width = -(-width // 4)
            pad = 4 * next_width - width
            padded = torch.nn.functional.pad(partials, (pad, 0))
            sums = padded.reshape(*padded.shape[:-1], next_width, 4).sum(-1)
            if next_width == 1:
                return encode_fixed(sums[..., 0] + b, 8)
            partials = encode_fixed(sums, 9)
