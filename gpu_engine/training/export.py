"""Write a trained `Network` as a Beatmup chunkfile the engine (and Beatmup itself) can run.

The description follows the format's line grammar (§2) with each layer's block
(`engine_block`), its parameters go out as the engine op of its name declares its weight
chunks (`engine_weights`, `Op.encode_weights`: conv weights HWIO, dense weights one row per
output, §3; batch norm folded in), and the class names in a `labels` chunk. The bytes are loaded back by the engine and checked
against the device profile before anything touches the disk.
"""
from __future__ import annotations

import os


from gpu_engine import load_model_bytes, profile
from gpu_engine.chunkfile import encode_chunks, write_chunks
from gpu_engine.model import parse_graph
from gpu_engine.training.layers import Dense
from gpu_engine.training.network import SOFTMAX_NAME, Network

ENTRY, KEY = " - ", "   "  # the block prefix and the continuation indent of the description


def _block(pairs: list[tuple[str, object]]) -> list[str]:
    first, *rest = pairs
    return [f"{ENTRY}{first[0]}: {first[1]}"] + [f"{KEY}{key}: {value}" for key, value in rest]


def describe(net: Network) -> str:
    """The model description text: `ops` in execution order, then `connections`."""
    lines = ["ops:"]
    for name, op in net.ops.items():
        lines += _block([("_name", name)] + op.engine_block())
    lines += _block([("_name", SOFTMAX_NAME), ("_type", "softmax")])
    lines.append("connections:")
    for name, link in net.links.items():
        main = [("from", link.source), ("to", name), ("from_output", 0), ("to_input", 0)]
        if link.shuffle not in (0, 1):
            main.append(("shuffle", link.shuffle))
        lines += _block(main)
        if link.residual is not None:
            lines += _block([("from", link.residual), ("to", name), ("from_output", 0),
                             ("to_input", 1)])
    lines += _block([("from", net.last), ("to", SOFTMAX_NAME), ("from_output", 0),
                     ("to_input", 0)])
    return "\n".join(lines) + "\n"


def _parameter_chunks(net: Network, description: str) -> list[tuple[str, bytes]]:
    """Each layer's arrays as the engine op of its name declares its weight chunks."""
    ops = {op.name: op for op in parse_graph(description)}
    return [record for name, layer in net.ops.items()
            for record in ops[name].encode_weights(layer.engine_weights())]


def _labels_chunk(labels: list[str], classes: int) -> bytes:
    if len(labels) != classes:
        raise ValueError(f"{len(labels)} labels for a dense output of {classes} classes")
    for label in labels:
        if not label.strip() or "\n" in label or "\r" in label:
            raise ValueError(f"label {label!r} must be non-empty and on one line")
    return "".join(f"{label}\n" for label in labels).encode("utf-8")


def model_chunks(net: Network, labels: list[str]) -> list[tuple[str, bytes]]:
    """The chunkfile records for `net`, sorted by id as Beatmup's own tools write them."""
    if not isinstance(net.ops[net.last], Dense):
        raise ValueError("the network must end with a dense op")
    description = describe(net)
    chunks = [("", description.encode("ascii"))] + _parameter_chunks(net, description)
    chunks.append(("labels", _labels_chunk(labels, net.ops[net.last].linear.out_features)))
    return sorted(chunks, key=lambda chunk: chunk[0].encode("ascii"))


def export_model(net: Network, path: str | os.PathLike[str], labels: list[str],
                 name: str = "model") -> None:
    """Write `net` to `path` once the engine loads it and it fits the device profile.

    Raises `gpu_engine.ModelError` (or its `ProfileError`) naming the op at fault; the file
    is then left as it was.
    """
    chunks = check_network(net, labels, name)
    write_chunks(path, chunks)


def check_network(net: Network, labels: list[str], name: str = "model") -> list[tuple[str, bytes]]:
    """Load `net` as the engine would and check it against the Pi profile (e.g. before
    training); returns the chunkfile records."""
    chunks = model_chunks(net, labels)
    profile.check_model(load_model_bytes(encode_chunks(chunks), name))
    return chunks
