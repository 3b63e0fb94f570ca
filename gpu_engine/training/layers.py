"""PyTorch modules computing exactly what the engine's ops compute (model format spec §3).

Tensors are PyTorch's N×C×H×W with values in [0, 1] (an image is code/255). Every op that the
engine stores in an 8-bit texture calls `store8` when `fake_quant` is on, so training sees the
GPU's rounding; with it off the modules give the spec's "float" level.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gpu_engine.training.quantize import gles2_dense, store8, straight_through

ACTIVATIONS = ("default", "brelu6", "sigmoid_like")
PADDINGS = ("valid", "same")

Shape = tuple[int, int, int]  # height, width, channels


def sigmoid_like(z: torch.Tensor) -> torch.Tensor:
    """The engine's piecewise-linear sigmoid, evaluated as the shader's three-term sum (§3.4)."""
    y = (0.1 * z).clamp(-0.05, 0.05) + (0.05 * z).clamp(-0.125, 0.125) + 0.05 * z + 0.5
    return y.clamp(0.0, 1.0)


def activate(z: torch.Tensor, name: str) -> torch.Tensor:
    """Apply a conv2d activation by its description name; every one clips to [0, 1]."""
    if name == "sigmoid_like":
        return sigmoid_like(z)
    if name == "brelu6":
        return (0.167 * z).clamp(0.0, 1.0)
    return z.clamp(0.0, 1.0)


def shuffle_permutation(channels: int, step: int) -> list[int]:
    """Storage channel read by each view channel for a `shuffle: step` connection (§3.5)."""
    if step in (0, 1):
        return list(range(channels))
    quads = channels // 4
    if channels % 4 or quads % step:
        raise ValueError(f"shuffle {step} needs a channel count that is a multiple of "
                         f"4*{step}, got {channels}")
    order = []
    for view_quad in range(quads):
        storage_quad = (step * view_quad) % quads + (step * view_quad) // quads
        order.extend(4 * storage_quad + t for t in range(4))
    return order


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Zeros before and after one axis for TensorFlow-style `same` padding (§3.3.2)."""
    out = -(-size // stride)
    total = (out - 1) * stride + kernel - size
    before = max(0, int(total / 2))
    return before, max(0, total - before)


def output_size(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def _flag(value: bool) -> str:
    return "true" if value else "false"


class ImageSampler(nn.Module):
    """Corner-aligned crop-and-resize of an RGB image to the network input (§3.2).

    Images of exactly the output size pass through unchanged (every sample is a texel centre).
    """

    def __init__(self, width: int, height: int, center_crop: bool = True,
                 linear_interp: bool = True) -> None:
        super().__init__()
        if width < 2 or height < 2:
            raise ValueError(f"image_sampler output must be at least 2x2, got {width}x{height}")
        self.width, self.height = width, height
        self.center_crop, self.linear_interp = center_crop, linear_interp

    def output_shape(self) -> Shape:
        return self.height, self.width, 3

    def engine_block(self) -> list[tuple[str, object]]:
        """The engine op's description keys (spec §2), `_name` aside."""
        return [("_type", "image_sampler"), ("output_width", self.width),
                ("output_height", self.height), ("center_crop", _flag(self.center_crop)),
                ("linear_interp", _flag(self.linear_interp))]

    def engine_weights(self) -> dict[str, np.ndarray]:
        """The arrays of the engine op's weight chunks (gpu_engine.ops: Op.weight_chunks)."""
        return {}

    def _positions(self, src: int, out: int, margin: float) -> torch.Tensor:
        first, last = margin, src - 1 - margin
        steps = torch.arange(out, dtype=torch.float64)
        return first + steps * (last - first) / (out - 1)

    def forward(self, images: torch.Tensor, fake_quant: bool = False) -> torch.Tensor:
        _, _, h, w = images.shape
        if (h, w) == (self.height, self.width):
            return images
        mx = my = 0.0
        if self.center_crop and w * self.height > h * self.width:
            mx = (w - h * self.width / self.height) / 2
        elif self.center_crop:
            my = (h - w * self.height / self.width) / 2
        xs, ys = self._positions(w, self.width, mx), self._positions(h, self.height, my)
        if not self.linear_interp:
            cols = torch.floor(xs + 0.5).long().clamp(0, w - 1)
            rows = torch.floor(ys + 0.5).long().clamp(0, h - 1)
            out = images[:, :, rows][:, :, :, cols]
        else:
            x0, y0 = torch.floor(xs), torch.floor(ys)
            fx = (xs - x0).to(images.dtype)
            fy = (ys - y0).to(images.dtype)[:, None]
            c0, r0 = x0.long().clamp(0, w - 1), y0.long().clamp(0, h - 1)
            c1, r1 = (x0.long() + 1).clamp(0, w - 1), (y0.long() + 1).clamp(0, h - 1)
            top, bottom = images[:, :, r0], images[:, :, r1]
            top = top[..., c0] * (1 - fx) + top[..., c1] * fx
            bottom = bottom[..., c0] * (1 - fx) + bottom[..., c1] * fx
            out = top * (1 - fy) + bottom * fy
        return store8(out) if fake_quant else out


class Conv2d(nn.Module):
    """conv2d: grouped convolution, optional batch norm, residual added before the activation.

    Batch norm is folded into the weights and bias on export (§3.3.4), so a conv with
    `batch_norm=True` exports with a bias even when `use_bias` is False.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: str = "valid", groups: int = 1, activation: str = "sigmoid_like",
                 use_bias: bool = True, batch_norm: bool = False) -> None:
        super().__init__()
        self.padding = _check_choice(padding, PADDINGS, "conv2d padding")
        self.activation = _check_choice(activation, ACTIVATIONS, "conv2d activation")
        if out_channels % 4:
            raise ValueError(f"conv2d output_channels must be a multiple of 4, got {out_channels}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"conv2d groups={groups} must divide input ({in_channels}) and "
                             f"output ({out_channels}) channels")
        if in_channels == 3 and (groups != 1 or padding != "valid"):
            raise ValueError("a conv2d reading the image (3 channels) needs groups=1 and "
                             "padding='valid'")
        depthwise = groups == in_channels == out_channels
        if in_channels != 3 and not depthwise and ((in_channels // groups) % 4
                                                   or (out_channels // groups) % 4):
            raise ValueError(f"conv2d channels per group must be multiples of 4 (or the conv "
                             f"depthwise), got {in_channels // groups} in, "
                             f"{out_channels // groups} out")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.groups = kernel_size, stride, groups
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              groups=groups, bias=use_bias)
        self.bn = nn.BatchNorm2d(out_channels) if batch_norm else None

    @property
    def exports_bias(self) -> bool:
        return self.conv.bias is not None or self.bn is not None

    def output_shape(self, shape: Shape) -> Shape:
        h, w, c = shape
        if c != self.in_channels:
            raise ValueError(f"conv2d expects {self.in_channels} input channels, gets {c}")
        k, s = self.kernel_size, self.stride
        if self.padding == "valid" and (h < k or w < k):
            raise ValueError(f"conv2d kernel {k} is larger than its {h}x{w} input")
        return (output_size(h, k, s, self.padding), output_size(w, k, s, self.padding),
                self.out_channels)

    def folded_parameters(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Weight (O×I×k×k) and bias with batch norm (in its running statistics) folded in."""
        weight = self.conv.weight.detach()
        bias = None if self.conv.bias is None else self.conv.bias.detach()
        if self.bn is None:
            return weight, bias
        bn = self.bn
        factor = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        shifted = -bn.running_mean if bias is None else bias - bn.running_mean
        return weight * factor[:, None, None, None], bn.bias.detach() + shifted * factor

    def engine_block(self) -> list[tuple[str, object]]:
        return [("_type", "conv2d"), ("kernel_size", self.kernel_size),
                ("input_channels", self.in_channels), ("output_channels", self.out_channels),
                ("stride", self.stride), ("padding", self.padding), ("groups", self.groups),
                ("activation", self.activation), ("use_bias", _flag(self.exports_bias))]

    def engine_weights(self) -> dict[str, np.ndarray]:
        """The arrays of the engine op's weight chunks: weights HWIO, batch norm folded in."""
        weight, bias = self.folded_parameters()
        arrays = {"w": _numpy(weight.permute(2, 3, 1, 0))}  # OIHW -> HWIO
        return arrays if bias is None else {**arrays, "b": _numpy(bias)}

    def fold_batch_norm(self) -> None:
        """Replace conv + batch norm by the equivalent conv, e.g. before quantised fine-tuning."""
        if self.bn is None:
            return
        weight, bias = self.folded_parameters()
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size,
                         stride=self.stride, groups=self.groups, bias=True)
        with torch.no_grad():
            conv.weight.copy_(weight)
            conv.bias.copy_(bias)
        self.conv, self.bn = conv, None

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None,
                fake_quant: bool = False) -> torch.Tensor:
        if self.padding == "same":
            top, bottom = same_padding(x.shape[2], self.kernel_size, self.stride)
            left, right = same_padding(x.shape[3], self.kernel_size, self.stride)
            x = F.pad(x, (left, right, top, bottom))
        z = self.conv(x)
        if self.bn is not None:
            z = self.bn(z)
        if residual is not None:
            z = z + residual
        y = activate(z, self.activation)
        return store8(y) if fake_quant else y


class Pooling2d(nn.Module):
    """pooling2d: per-channel `average` (valid padding only) or `max` pooling (§3.6)."""

    def __init__(self, operator: str, size: int, stride: int = 1, padding: str = "valid") -> None:
        super().__init__()
        self.operator = _check_choice(operator, ("average", "max"), "pooling2d operator")
        self.padding = _check_choice(padding, PADDINGS, "pooling2d padding")
        if size < 2:
            raise ValueError(f"pooling2d size must be at least 2, got {size}")
        if operator == "average" and padding != "valid":
            raise ValueError("average pooling supports only padding='valid'")
        self.size, self.stride = size, stride

    def output_shape(self, shape: Shape) -> Shape:
        h, w, c = shape
        if self.padding == "valid" and (h < self.size or w < self.size):
            raise ValueError(f"pooling2d window {self.size} is larger than its {h}x{w} input")
        return (output_size(h, self.size, self.stride, self.padding),
                output_size(w, self.size, self.stride, self.padding), c)

    def engine_block(self) -> list[tuple[str, object]]:
        return [("_type", "pooling2d"), ("operator", self.operator), ("size", self.size),
                ("stride", self.stride), ("padding", self.padding)]

    def engine_weights(self) -> dict[str, np.ndarray]:
        return {}

    def forward(self, x: torch.Tensor, fake_quant: bool = False) -> torch.Tensor:
        if self.operator == "average" and fake_quant:  # the shader's sum times a literal 1/k²
            literal = float(np.float32(float(f"{1.0 / self.size ** 2:.10f}")))
            y = F.avg_pool2d(x, self.size, self.stride, divisor_override=1) * literal
        elif self.operator == "average":
            y = F.avg_pool2d(x, self.size, self.stride)
        else:
            if self.padding == "same":  # padded positions read 0, never above an activation
                top, bottom = same_padding(x.shape[2], self.size, self.stride)
                left, right = same_padding(x.shape[3], self.size, self.stride)
                x = F.pad(x, (left, right, top, bottom))
            y = F.max_pool2d(x, self.size, self.stride)
        return store8(y) if fake_quant else y


class Dense(nn.Module):
    """dense: logits from the flattened input in H, W, C order (§3.7).

    With `fake_quant` the forward pass gives the OpenGL ES 2.0 engine's fixed-point logits
    (§4.6) and the backward pass the float layer's gradient.
    """

    def __init__(self, in_features: int, out_features: int, use_bias: bool = True) -> None:
        super().__init__()
        if in_features % 8 or in_features < 8:
            raise ValueError(f"dense input size must be a positive multiple of 8, "
                             f"got {in_features}")
        if out_features % 4:
            raise ValueError(f"dense output_dims must be a multiple of 4, got {out_features}")
        self.linear = nn.Linear(in_features, out_features, bias=use_bias)

    def output_shape(self, shape: Shape) -> Shape:
        if math.prod(shape) != self.linear.in_features:
            raise ValueError(f"dense expects {self.linear.in_features} inputs, gets "
                             f"{'x'.join(map(str, shape))}")
        return 1, 1, self.linear.out_features

    def engine_block(self) -> list[tuple[str, object]]:
        return [("_type", "dense"), ("output_dims", self.linear.out_features),
                ("use_bias", _flag(self.linear.bias is not None))]

    def engine_weights(self) -> dict[str, np.ndarray]:
        """The arrays of the engine op's weight chunks: one row of weights per output."""
        arrays = {"w": _numpy(self.linear.weight)}
        return arrays if self.linear.bias is None else {**arrays, "b": _numpy(self.linear.bias)}

    def forward(self, x: torch.Tensor, fake_quant: bool = False) -> torch.Tensor:
        flat = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        logits = self.linear(flat)
        if not fake_quant:
            return logits
        return straight_through(logits, gles2_dense(flat, self.linear.weight, self.linear.bias))
