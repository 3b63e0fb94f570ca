"""conv2d: grouped convolution + residual + bias + activation (spec §3.3), and its GPU plan."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_engine.ops import activation
from gpu_engine.ops.base import (CODES, IMAGE, MAIN, RESIDUAL, Params, Shape, WeightChunk,
                                 quantize)
from gpu_engine.ops.kernel import coordinate, draw, offset, program
from gpu_engine.ops.window import WindowOp
from gpu_engine.plan import Affine, sampling, vector

IMAGE_CHANNELS = 3


@dataclass
class Conv2D(WindowOp):
    TYPE = "conv2d"
    INPUTS = (MAIN, RESIDUAL)

    kernel: int = 1
    in_channels: int = 4
    out_channels: int = 4
    stride: int = 1
    padding: str = "valid"
    groups: int = 1
    activation: str = "default"
    use_bias: bool = True
    weights: np.ndarray | None = None  # k, k, Cin/G, Cout (HWIO)
    bias: np.ndarray | None = None     # Cout

    @classmethod
    def parse(cls, name: str, params: Params) -> Conv2D:
        op = cls(
            name=name,
            kernel=params.int("kernel_size", maximum=64),
            in_channels=params.int("input_channels", maximum=4096),
            out_channels=params.int("output_channels", maximum=4096),
            stride=params.int("stride", 1, maximum=64),
            padding=params.choice("padding", ("valid", "same"), "valid"),
            groups=params.int("groups", 1, maximum=4096),
            activation=params.choice("activation", activation.NAMES, "default"),
            use_bias=params.bool("use_bias", True),
        )
        op._check_channels()
        return op

    def weight_chunks(self) -> list[WeightChunk]:
        k, cin_g, cout = self.kernel, self.in_channels // self.groups, self.out_channels
        chunks = [WeightChunk("w", (k, k, cin_g, cout), k * k * cin_g)]
        return chunks + [WeightChunk("b", (cout,))] if self.use_bias else chunks

    def set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        self.weights = arrays["w"]
        self.bias = arrays["b"] if self.use_bias else np.zeros(self.out_channels, np.float32)

    def weight_arrays(self) -> dict[str, np.ndarray]:
        return {"w": self.weights, "b": self.bias} if self.use_bias else {"w": self.weights}

    @property
    def image_input(self) -> bool:
        return self.in_channels == IMAGE_CHANNELS

    @property
    def depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels == self.out_channels

    def _check_channels(self) -> None:
        cin, cout, groups = self.in_channels, self.out_channels, self.groups
        if cout % 4:
            raise self.error(f"output_channels = {cout} is not a multiple of 4")
        if self.image_input:
            if groups != 1 or self.padding != "valid":
                raise self.error("a conv2d on the image input (3 channels) needs groups 1 and "
                                 "padding valid")
            return
        if cin % 4:
            raise self.error(f"input_channels = {cin} is not a multiple of 4")
        if cin % groups or cout % groups:
            raise self.error(f"groups = {groups} does not divide {cin} input and {cout} output "
                             "channels")
        if not self.depthwise and ((cin // groups) % 4 or (cout // groups) % 4):
            raise self.error(f"groups = {groups} leaves {cin // groups} input / {cout // groups} "
                             "output channels per group; each must be a multiple of 4 unless the "
                             "convolution is depthwise")

    @property
    def window(self) -> int:
        return self.kernel

    def infer_shape(self, inputs: dict[int, Shape]) -> Shape:
        h, w, c = inputs[MAIN]
        if c != self.in_channels:
            raise self.error(f"input has {c} channels, input_channels says {self.in_channels}")
        ho, wo = self.output_size(h), self.output_size(w)
        if ho < 1 or wo < 1:
            raise self.error(f"a {self.kernel}x{self.kernel} 'valid' kernel does not fit the "
                             f"{h}x{w} input")
        shape = (ho, wo, self.out_channels)
        if RESIDUAL in inputs and inputs[RESIDUAL] != shape:
            raise self.error(f"residual input shape {inputs[RESIDUAL]} differs from the output "
                             f"shape {shape}")
        return shape

    def reference(self, inputs: dict[int, np.ndarray], level: str) -> np.ndarray:
        """z = conv(x) + r + b, y = act(z), in float64; stored as 8-bit codes unless 'float'."""
        windows = self.windows(inputs[MAIN].astype(np.float64))
        ho, wo, cin = windows[0].shape
        k, groups = self.kernel, self.groups
        cin_g, cout_g = cin // groups, self.out_channels // groups
        weights = self.effective_weights().astype(np.float64)
        z = np.zeros((ho, wo, groups, cout_g))
        for tap, window in enumerate(windows):
            dy, dx = divmod(tap, k)
            z += np.einsum("hwgc,cgo->hwgo", window.reshape(ho, wo, groups, cin_g),
                           weights[dy, dx].reshape(cin_g, groups, cout_g))
        z = z.reshape(ho, wo, self.out_channels)
        if RESIDUAL in inputs:
            z += inputs[RESIDUAL]
        z += self.effective_bias().astype(np.float64)
        y = activation.apply(self.activation, z)
        return y if level == "float" else quantize(y)

    def effective_weights(self) -> np.ndarray:
        """Weights as the GPU sees them (image-input kernels carry 6-decimal literals, §4.1)."""
        if self.image_input:
            return np.round(self.weights.astype(np.float64), 6).astype(np.float32)
        return self.weights

    def effective_bias(self) -> np.ndarray:
        if self.image_input:
            return np.round(self.bias.astype(np.float64), 6).astype(np.float32)
        return self.bias

    def multiply_adds(self) -> int:
        ho, wo, cout = self.shape
        return ho * wo * cout * self.kernel ** 2 * (self.in_channels // self.groups)

    def accepts(self, slot: int) -> tuple[str, ...]:
        return (IMAGE,) if self.image_input and slot == MAIN else (CODES,)

    def quads_together(self, slot: int) -> int:
        if slot != MAIN or self.depthwise or self.image_input:
            return 1
        return self.in_channels // self.groups // 4

    def parameters(self) -> int:
        return self.weights.size + (self.bias.size if self.use_bias else 0)

    # ---- GPU plan -------------------------------------------------------------------------

    def plan(self, builder) -> None:
        """One rectangle per output quad, all quads of the output in one texture's tiles.

        A draw reads its group's input quads (tiles of one or more textures, ≤ 8 samplers) and
        the residual quad; its weights and bias are one uniform array, or literals of a program
        of its own where the plan folds weights (large draws on software renderers: llvmpipe
        reads uniforms several times slower than constants)."""
        source, tiles = builder.input(self, MAIN)
        output = builder.output(self)
        k, s = self.kernel, self.stride
        h, w, _ = source.shape
        pad_x, pad_y = self.padding_before(w), self.padding_before(h)
        weights, bias = self.effective_weights(), self.effective_bias()
        group_quads = 1 if self.depthwise or self.image_input else weights.shape[2] // 4
        cout_g = self.out_channels // self.groups
        residual = RESIDUAL in self.inputs
        res_tiles = builder.input(self, RESIDUAL)[1] if residual else []
        h_out, w_out, _ = self.shape
        # Quads grouped by the texture they are drawn into: one framebuffer bind per texture.
        for q in sorted(range(output.quads), key=lambda q: output.tiles[q].texture):
            first = q if self.depthwise else (4 * q // cout_g) * group_quads
            quads = tiles[first:first + group_quads] if not self.image_input else tiles[:1]
            textures = tuple(dict.fromkeys(t.texture for t in quads))
            slots = tuple(textures.index(t.texture) for t in quads)
            bound = textures + ((res_tiles[q].texture,) if residual else ())
            texture = builder.texture(textures[0])
            moved = tuple(i for i, t in enumerate(quads) if (t.x, t.y) != (quads[0].x, quads[0].y))
            coords = [sampling(texture, quads[0].x - pad_x, quads[0].y - pad_y, s)]
            # The other input quads' tiles lie at fixed distances from the first one's (every
            # texture of a tensor has the same size): one varying and a uniform per quad.
            shifts = [((quads[i].x - quads[0].x) / texture.width,
                       (quads[i].y - quads[0].y) / texture.height, 0.0, 0.0) for i in moved]
            if residual:
                tile = res_tiles[q]
                shifts.append(_mapping(coords[0], sampling(builder.texture(tile.texture),
                                                           tile.x, tile.y)))
            params = self._params(weights, bias, q, group_quads)
            if shifts:
                params = np.concatenate([params, np.array(shifts, np.float32)])
            if builder.folds(w_out * h_out):
                key = self._program(builder, slots, moved, residual, texture, (q, params))
                params = None
            else:
                key = self._program(builder, slots, moved, residual, texture)
            builder.add_pass(draw(
                self.name, key, builder.texture(output.tiles[q].texture), [output.rect(q)],
                [coords], bound, params, fetches=k * k * group_quads + int(residual)))

    def _params(self, weights: np.ndarray, bias: np.ndarray, q: int, group_quads: int):
        """Weight vectors in tap, input-quad, input-channel order, then the bias."""
        k = self.kernel
        if self.depthwise:
            columns = weights[:, :, 0, 4 * q:4 * q + 4].reshape(k * k, 4)
        elif self.image_input:
            columns = weights[:, :, :3, 4 * q:4 * q + 4].reshape(k * k * 3, 4)
        else:
            columns = weights[:, :, :, 4 * q:4 * q + 4].reshape(k * k * group_quads * 4, 4)
        return np.concatenate([columns, bias[None, 4 * q:4 * q + 4]]).astype(np.float32)

    def _program(self, builder, slots: tuple[int, ...], moved: tuple[int, ...], residual: bool,
                 texture, folded: tuple[int, np.ndarray] | None = None) -> str:
        """Input quad i is read through sampler slots[i]; those in `moved` lie elsewhere than
        quad 0 in their texture, by an offset the pass's params carry. With `folded` (output
        quad, params) the params are literals of a program for that quad alone."""
        k, quads = self.kernel, len(slots)
        mode = "depthwise" if self.depthwise else "image" if self.image_input else "dense"
        key = (f"conv2d k{k} s{self.stride} {mode} q{quads} r{int(residual)} "
               f"{self.activation} in{texture.width}x{texture.height} slots{slots} "
               f"moved{moved}" + (f" {self.name}#{folded[0]}" if folded else ""))
        if key in builder.programs:
            return key
        def param(i: int) -> str:
            return vector(folded[1][i]) if folded else f"uParams[{i}]"

        shifts = k * k * (1 if self.depthwise else 3 if self.image_input else 4 * quads) + 1
        lines = [f"    highp vec2 c0 = {coordinate(0, 1)};"]
        lines += [f"    highp vec2 c{i} = " + (f"c0 + {param(shifts + moved.index(i))}.xy;"
                                                 if i in moved else "c0;")
                  for i in range(1, quads)]
        index = 0
        for tap in range(k * k):
            dy, dx = divmod(tap, k)
            for i, slot in enumerate(slots):
                position = offset(f"c{i}", dx, dy, texture)
                lines.append(f"    x = texture2D(uInput{slot}, {position});")
                if self.depthwise:
                    lines.append(f"    sum += {param(index)} * x;")
                    index += 1
                else:
                    channels = "rgb" if self.image_input else "xyzw"
                    terms = [f"{param(index + c)} * x.{channel}"
                             for c, channel in enumerate(channels)]
                    lines.append(f"    sum += {' + '.join(terms)};")
                    index += len(channels)
        samplers = tuple(f"uInput{n}" for n in range(max(slots) + 1))
        if residual:  # its position maps from the first tap's (no varying of its own)
            mapping = param(shifts + len(moved))
            lines.append(f"    sum += texture2D(uResidual, c0 * {mapping}.xy + {mapping}.zw);")
            samplers += ("uResidual",)
        return builder.add_program(program(
            key, "conv2d.frag", 1, samplers,
            params=0 if folded else index + 1 + len(moved) + int(residual),
            defines=(("ACTIVATION", activation.SHADER_IDS[self.activation]),),
            taps="\n".join(lines), bias=param(index)))


def _mapping(tap: Affine, target: Affine) -> tuple[float, float, float, float]:
    """(scale.xy, offset.xy) with target = tap · scale + offset over the rectangle: both vary
    linearly along the same axes, so a fetch can derive its position from the first tap's
    instead of a varying of its own (the VideoCore IV compiler schedules one position and a
    multiply-add far better than a second interpolated varying)."""
    scale = (target.along_x[0] / tap.along_x[0], target.along_y[1] / tap.along_y[1])
    return (scale[0], scale[1], target.origin[0] - tap.origin[0] * scale[0],
            target.origin[1] - tap.origin[1] * scale[1])
