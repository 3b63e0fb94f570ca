"""conv2d: grouped convolution + residual + bias + activation (spec §3.3), and its GPU plan."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_engine.ops import activation
from gpu_engine.ops.base import MAIN, RESIDUAL, Params, Shape, float_array, quantize
from gpu_engine.ops.shuffle import quad_permutation
from gpu_engine.ops.window import WindowOp
from gpu_engine.plan import Layout, Pass, vec

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

    def load_weights(self, chunks: dict[str, bytes], where: str) -> None:
        k, cin_g, cout = self.kernel, self.in_channels // self.groups, self.out_channels
        self.weights = float_array(chunks, f"{self.name}/w", k * k * cin_g * cout,
                                   where).reshape(k, k, cin_g, cout)
        self.bias = (float_array(chunks, f"{self.name}/b", cout, where) if self.use_bias
                     else np.zeros(cout, np.float32))

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

    # ---- GPU plan -------------------------------------------------------------------------

    def gpu_passes(self, inputs: dict[int, tuple[Layout, int]], output: Layout) -> list[Pass]:
        """One pass per output quad: its group's input quads (≤ 8 samplers), residual, bias."""
        source, shuffle = inputs[MAIN]
        perm = quad_permutation(source.quads, shuffle)
        k, cout = self.kernel, self.out_channels
        weights = self.effective_weights()
        group_quads = 1 if self.depthwise or self.image_input else weights.shape[2] // 4
        cout_g = cout // self.groups
        defines = (("NQ", group_quads), ("K", k), ("STRIDE", self.stride),
                   ("DEPTHWISE", int(self.depthwise)), ("IMAGE", int(self.image_input)),
                   ("RESIDUAL", int(RESIDUAL in inputs)),
                   ("ACTIVATION", activation.SHADER_IDS[self.activation]))
        bias = self.effective_bias()
        passes = []
        for q in range(output.quads):
            target, origin = output.quad(q)
            if self.depthwise:
                first = q
                taps = weights[:, :, 0, 4 * q:4 * q + 4]  # k, k, 4
            elif self.image_input:
                first = 0
                taps = weights[:, :, :3, 4 * q:4 * q + 4]  # k, k, 3 channels, 4 outputs
            else:
                first = (4 * q // cout_g) * group_quads
                block = weights[:, :, :, 4 * q:4 * q + 4].reshape(k, k, group_quads, 4, 4)
                taps = block  # column c of each mat4 = weights from input channel c
            samplers = [(f"uInput[{t}]", source.quad(perm[first + t])[0])
                        for t in range(group_quads)]
            uniforms = {
                "uWeights": np.ascontiguousarray(taps, np.float32),
                "uBias": bias[4 * q:4 * q + 4].astype(np.float32),
                "uOutputOrigin": vec(*origin),
                **self.input_uniforms(source),
            }
            fetches = k * k * group_quads
            if RESIDUAL in inputs:
                residual = inputs[RESIDUAL][0]
                ref, res_origin = residual.quad(q)
                samplers.append(("uResidual", ref))
                res_w, res_h = residual.texture_size
                uniforms["uResidualStep"] = vec(1.0 / res_w, 1.0 / res_h)
                uniforms["uResidualOrigin"] = vec(res_origin[0] + 0.5, res_origin[1] + 0.5)
                fetches += 1
            passes.append(Pass(
                op=self.name, shader="conv2d.frag", defines=defines, target=target,
                viewport=(origin[0], origin[1], output.shape[1], output.shape[0]),
                samplers=samplers, uniforms=uniforms, fetches_per_fragment=fetches,
                uniform_vectors=k * k * (1 if self.depthwise else 3 if self.image_input else
                                         4 * group_quads) + 6))
        return passes


def tap_code(defines: dict[str, int]) -> str:
    """The multiply-adds of every tap and input quad written out, constant indices only."""
    k, quads = defines["K"], defines["NQ"]
    lines = []
    for tap in range(k * k):
        dy, dx = divmod(tap, k)
        position = f"corner + vec2({dx}.0, {dy}.0) * uInputStep" if tap else "corner"
        for q in range(quads):
            lines.append(f"    x = texture2D(uInput[{q}], {position});")
            if defines["DEPTHWISE"]:
                lines.append(f"    sum += uWeights[{tap}] * x;")
            elif defines["IMAGE"]:
                lines.append(f"    sum += uWeights[{3 * tap}] * x.r + uWeights[{3 * tap + 1}] * x.g"
                             f" + uWeights[{3 * tap + 2}] * x.b;")
            else:
                lines.append(f"    sum += uWeights[{tap * quads + q}] * x;")
    return "\n".join(lines)
