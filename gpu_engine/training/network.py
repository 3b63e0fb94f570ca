"""A model as the engine sees it: named ops in execution order and the connections between them.

The graph is built op by op (`add`), checked as it grows (shapes, residual shapes, shuffle
steps, what may feed what), and run in the same order the engine runs it, so the exporter
can write it out unchanged.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gpu_engine.training.layers import (Conv2d, Dense, ImageSampler, Shape,
                                        shuffle_permutation)

INPUT_NAME = "input"
SOFTMAX_NAME = "softmax"
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,100}")


@dataclass(frozen=True)
class Link:
    """Where an op reads from: its main source, an optional shuffle step and residual source."""

    source: str
    shuffle: int = 0
    residual: str | None = None


class Network(nn.Module):
    """A trainable chain of engine ops; `forward` returns the logits of its final dense op.

    `fake_quant` switches every op to the engine's gles2 arithmetic (8-bit activations,
    fixed-point dense) for quantisation-aware training and for comparison with the GPU.
    """

    def __init__(self, sampler: ImageSampler) -> None:
        super().__init__()
        self.ops = nn.ModuleDict({INPUT_NAME: sampler})
        self.links: dict[str, Link] = {}
        self.shapes: dict[str, Shape] = {INPUT_NAME: sampler.output_shape()}
        self.fake_quant = False

    @property
    def sampler(self) -> ImageSampler:
        return self.ops[INPUT_NAME]

    @property
    def last(self) -> str:
        return next(reversed(self.ops.keys()))

    def add(self, name: str, op: nn.Module, source: str | None = None, shuffle: int = 0,
            residual: str | None = None) -> str:
        """Append an op reading `source` (default: the previous op); returns its name."""
        if not _NAME_PATTERN.fullmatch(name) or name in (INPUT_NAME, SOFTMAX_NAME):
            raise ValueError(f"op name {name!r} must be 1-100 letters, digits, '_' or '-' and "
                             f"not {INPUT_NAME!r} or {SOFTMAX_NAME!r}")
        if name in self.ops:
            raise ValueError(f"op name {name!r} is already used")
        if isinstance(self.ops[self.last], Dense):
            raise ValueError(f"nothing can follow the dense op {self.last!r}: its logits are "
                             "the network output")
        source = self.last if source is None else source
        for role, other in (("source", source), ("residual", residual)):
            if other is not None and other not in self.ops:
                raise ValueError(f"{name}: {role} {other!r} is not an earlier op")
        in_shape = self.shapes[source]
        if source == INPUT_NAME and not (isinstance(op, Conv2d) and op.in_channels == 3):
            raise ValueError(f"{name}: only a conv2d with 3 input channels can read the image")
        if isinstance(op, Conv2d) and op.in_channels == 3 and source != INPUT_NAME:
            raise ValueError(f"{name}: a conv2d with 3 input channels must read {INPUT_NAME!r}")
        if shuffle not in (0, 1):
            if source == INPUT_NAME:
                raise ValueError(f"{name}: the image cannot be shuffled")
            shuffle_permutation(in_shape[2], shuffle)
        out_shape = op.output_shape(in_shape)
        if residual is not None:
            if not isinstance(op, Conv2d):
                raise ValueError(f"{name}: only conv2d takes a residual input")
            if residual == INPUT_NAME or self.shapes[residual] != out_shape:
                raise ValueError(f"{name}: residual {residual!r} has shape "
                                 f"{self.shapes[residual]}, the op outputs {out_shape}")
        self.ops[name] = op
        self.links[name] = Link(source, shuffle, residual)
        self.shapes[name] = out_shape
        return name

    def fold_batch_norm(self) -> None:
        """Fold every batch norm into its conv (the exported form), e.g. before QAT fine-tuning."""
        for op in self.ops.values():
            if isinstance(op, Conv2d):
                op.fold_batch_norm()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(self.ops[self.last], Dense):
            raise ValueError("the network must end with a dense op")
        quant = self.fake_quant
        outputs = {INPUT_NAME: self.sampler(images, fake_quant=quant)}
        for name, link in self.links.items():
            x = outputs[link.source]
            if link.shuffle not in (0, 1):
                x = x[:, shuffle_permutation(x.shape[1], link.shuffle)]
            op = self.ops[name]
            if isinstance(op, Conv2d):
                residual = None if link.residual is None else outputs[link.residual]
                outputs[name] = op(x, residual, fake_quant=quant)
            else:
                outputs[name] = op(x, fake_quant=quant)
        return outputs[self.last]


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N×H×W×3, RGB) as the network input: N×3×H×W floats code/255."""
    return torch.from_numpy(np.ascontiguousarray(images[..., :3])).permute(0, 3, 1, 2).float() / 255.0
