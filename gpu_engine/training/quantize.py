"""The engine's storage arithmetic as differentiable PyTorch, for quantisation-aware training.

Rounding uses straight-through estimators: the forward pass sees exactly what the GPU stores,
the backward pass treats the rounding as identity so gradients still flow.
"""
from __future__ import annotations

import numpy as np
import torch

from gpu_engine import fixed_point


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


def remapped_parameter(values: np.ndarray) -> np.ndarray:
    """A weight or bias as the gles2 dense shader sees it after its Q8.8 remap (§4.6)."""
    lsb, msb, off, inv = fixed_point.remap(values)
    return fixed_point.unmap(fixed_point.decode_bytes(lsb, msb), off, inv)


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
        products = x.reshape(-1, 1, blocks, 2, 4).float() * w.reshape(1, outputs, blocks, 2, 4)
        partials = products[..., 0, :].sum(-1) + products[..., 1, :].sum(-1)
        partials = encode_fixed(partials, 9)
        while True:
            width = partials.shape[-1]
            next_width = -(-width // 4)
            pad = 4 * next_width - width
            padded = torch.nn.functional.pad(partials, (pad, 0))
            quads = padded.reshape(*padded.shape[:-1], next_width, 4)
            sums = ((quads[..., 0] + quads[..., 1]) + quads[..., 2]) + quads[..., 3]
            if next_width == 1:
                return encode_fixed(sums[..., 0] + b, 8)
            partials = encode_fixed(sums, 9)
