"""Build small chunkfile models for tests: a description plus random weights."""
from __future__ import annotations

import numpy as np

from gpu_engine.chunkfile import encode_chunks
from gpu_engine.listing import format_listing
from gpu_engine.model import parse_graph


def conv(name, cin, cout, k, **keys):
    block = {"_name": name, "_type": "conv2d", "kernel_size": k, "input_channels": cin,
             "output_channels": cout}
    block.update(keys)
    return block


def build(ops: list[dict], connections: list[dict], seed: int = 0, labels: list[str] | None = None,
          weight_scale: float = 1.0) -> bytes:
    """Chunkfile bytes with weights drawn at random to the chunks each op declares
    (`Op.weight_chunks`): weights of spread `weight_scale`·2/√fan-in, biases of spread 0.5."""
    rng = np.random.default_rng(seed)
    description = describe(ops, connections)
    records = [("", description.encode())]
    for op in parse_graph(description):
        arrays = {chunk.key: rng.normal(0, weight_scale * 2.0 / np.sqrt(chunk.fan_in)
                                        if chunk.fan_in else 0.5, chunk.shape)
                  for chunk in op.weight_chunks()}
        records += op.encode_weights(arrays)
    if labels is not None:
        records.append(("labels", "".join(f"{label}\n" for label in labels).encode()))
    return encode_chunks(records)


def describe(ops: list[dict], connections: list[dict]) -> str:
    """The model description text of these op blocks and connections."""
    return format_listing({"ops": [{k: str(v) for k, v in op.items()} for op in ops],
                           "connections": [{k: str(v) for k, v in c.items()}
                                           for c in connections]})


def chain(*names: str) -> list[dict]:
    return [{"from": a, "to": b} for a, b in zip(names, names[1:])]


def feature_model() -> bytes:
    """Every kernel option on a small model: non-square input, nearest sampling, stride 2 with
    odd 'same' padding, depthwise, shuffle, residual, all activations, max pooling with padding,
    average pooling, dense without bias, softmax."""
    ops = [
        {"_name": "in", "_type": "image_sampler", "output_width": 40, "output_height": 30,
         "linear_interp": "false", "center_crop": "false"},
        conv("c0", 3, 16, 3, stride=2, activation="brelu6"),
        conv("c1", 16, 16, 3, stride=2, padding="same", groups=2, activation="default"),
        conv("dw", 16, 16, 3, padding="same", groups=16, activation="sigmoid_like"),
        conv("pw", 16, 16, 1, padding="same", groups=2, activation="sigmoid_like"),
        {"_name": "mp", "_type": "pooling2d", "operator": "max", "size": 2, "stride": 2,
         "padding": "same"},
        conv("c2", 16, 32, 2, use_bias="false", activation="sigmoid_like"),
        {"_name": "avg", "_type": "pooling2d", "operator": "average", "size": 3},
        {"_name": "fc", "_type": "dense", "output_dims": 12, "use_bias": "false"},
        {"_name": "sm", "_type": "softmax"},
    ]
    connections = [{"from": "in", "to": "c0"}, {"from": "c0", "to": "c1"},
                   {"from": "c1", "to": "dw"}, {"from": "dw", "to": "pw", "shuffle": 2},
                   {"from": "c1", "to": "pw", "to_input": 1}, {"from": "pw", "to": "mp"},
                   {"from": "mp", "to": "c2", "shuffle": 4}, {"from": "c2", "to": "avg"},
                   {"from": "avg", "to": "fc"}, {"from": "fc", "to": "sm"}]
    return build(ops, connections, seed=7)
