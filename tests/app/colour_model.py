"""A tiny but real chunkfile model for fast service tests: it tells red, green, blue and dark
pictures apart (4x4 input, 1x1 conv, average pool, dense). One inference takes milliseconds on
llvmpipe, where the dog classifier takes most of a second."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gpu_engine.chunkfile import write_chunks
from gpu_engine.listing import format_listing

LABELS = ["red", "green", "blue", "dark"]
COLOURS = {"red": (230, 20, 20), "green": (20, 230, 20), "blue": (20, 20, 230), "dark": (10, 10, 10)}


def write_colour_model(path: Path) -> Path:
    ops = [
        {"_name": "input", "_type": "image_sampler", "output_width": "4", "output_height": "4"},
        {"_name": "rgb", "_type": "conv2d", "kernel_size": "1", "input_channels": "3",
         "output_channels": "8"},
        {"_name": "pool", "_type": "pooling2d", "operator": "average", "size": "4", "stride": "4"},
        {"_name": "classes", "_type": "dense", "output_dims": "4", "use_bias": "true"},
        {"_name": "prob", "_type": "softmax"},
    ]
    names = [op["_name"] for op in ops]
    connections = [{"from": a, "to": b} for a, b in zip(names, names[1:])]
    conv_w = np.zeros((1, 1, 3, 8), np.float32)  # channels 0-2 copy R, G, B; 3-7 stay zero
    conv_w[0, 0, [0, 1, 2], [0, 1, 2]] = 1.0
    dense_w = np.zeros((4, 8), np.float32)
    dense_w[:3, :3] = 12.0 * (np.eye(3) - 0.5 * (1 - np.eye(3)))  # a colour beats the other two
    dense_w[3, :3] = -8.0  # dark: none of them
    dense_b = np.array([0, 0, 0, 4.0], np.float32)
    description = format_listing({"ops": ops, "connections": connections})
    write_chunks(path, [("", description.encode()),
                        ("rgb/w", conv_w.astype("<f4").tobytes()),
                        ("rgb/b", np.zeros(8, "<f4").tobytes()),
                        ("classes/w", dense_w.astype("<f4").tobytes()),
                        ("classes/b", dense_b.astype("<f4").tobytes()),
                        ("labels", "".join(f"{name}\n" for name in LABELS).encode())])
    return path
