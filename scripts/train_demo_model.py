"""Train the built-in demo model (app/assets/demo_model.chunks) on procedurally drawn shapes.

Float training with batch norm, then batch norm folded and a quantisation-aware fine-tune in
the engine's gles2 arithmetic, then export. Needs the `train` extra (PyTorch, CPU is plenty):

    python scripts/train_demo_model.py            # about 5 minutes on 2 CPU threads
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import demo_scene  # noqa: E402
from gpu_engine.training import (Conv2d, Dense, ImageSampler, Network, Pooling2d,  # noqa: E402
                                 check_network, export_model, images_to_tensor)

INPUT_SIZE = 64
LARGE_SIZES = (96, 128, 256)  # some samples are drawn large and resized like camera frames
# brelu6 trains like ReLU6 under batch norm; sigmoid_like and the unit clamp learn far slower here
BLOCK = {"activation": "brelu6", "batch_norm": True}


def build_network() -> Network:
    """64×64 input, five convs (brelu6, batch norm while training), 7.2 M multiply-adds and
    52 conv output quads: about 1/55 of the dog classifier's work."""
    net = Network(ImageSampler(INPUT_SIZE, INPUT_SIZE))
    net.add("conv1", Conv2d(3, 16, 3, **BLOCK))                       # 62×62×16
    net.add("conv2", Conv2d(16, 32, 3, stride=2, **BLOCK))            # 30×30×32
    net.add("conv3", Conv2d(32, 32, 3, stride=2, groups=2, **BLOCK))             # 14×14×32
    net.add("conv4", Conv2d(32, 64, 3, stride=2, groups=2, **BLOCK), shuffle=2)  # 6×6×64
    net.add("conv5", Conv2d(64, 64, 3, groups=4, **BLOCK), shuffle=4)            # 4×4×64
    net.add("pool", Pooling2d("average", 4))
    net.add("logits", Dense(64, len(demo_scene.CLASSES)))
    return net


def make_dataset(rng: np.random.Generator, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples as the engine sees them: a quarter drawn large and resized by the image sampler."""
    sampler = ImageSampler(INPUT_SIZE, INPUT_SIZE)
    images = np.empty((count, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    labels = np.empty(count, np.int64)
    for index in range(count):
        size = int(rng.choice(LARGE_SIZES)) if rng.random() < 0.25 else INPUT_SIZE
        image, labels[index] = demo_scene.random_sample(rng, size)
        if size != INPUT_SIZE:
            resized = sampler(images_to_tensor(image[None]), fake_quant=True)
            image = (resized[0].permute(1, 2, 0) * 255 + 0.5).to(torch.uint8).numpy()
        images[index] = image
    return images_to_tensor(images), torch.from_numpy(labels)


def accuracy(net: Network, images: torch.Tensor, labels: torch.Tensor) -> float:
    net.eval()
    with torch.no_grad():
        predictions = torch.cat([net(batch).argmax(1) for batch in images.split(500)])
    return float((predictions == labels).float().mean())


def train(net: Network, images: torch.Tensor, labels: torch.Tensor, epochs: int, lr: float,
          rng: torch.Generator, batch: int = 64) -> None:
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(images) / batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(images), generator=rng)
        total = 0.0
        for start in range(0, len(images), batch):
            index = order[start:start + batch]
            loss = F.cross_entropy(net(images[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(index)
        print(f"  epoch {epoch + 1}/{epochs}: loss {total / len(images):.4f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "app/assets/demo_model.chunks")
    parser.add_argument("--train-size", type=int, default=12000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--qat-epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    started = time.perf_counter()
    train_x, train_y = make_dataset(np.random.default_rng([args.seed, 0]), args.train_size)
    test_x, test_y = make_dataset(np.random.default_rng([args.seed, 1]), args.test_size)
    print(f"data: {args.train_size} training, {args.test_size} test images "
          f"({time.perf_counter() - started:.0f} s)", flush=True)

    net = build_network()
    check_network(net, demo_scene.CLASSES)  # refuse an architecture the Pi cannot run up front
    print("float training")
    train(net, train_x, train_y, args.epochs, 3e-3, generator)
    float_accuracy = accuracy(net, test_x, test_y)

    net.fold_batch_norm()
    net.fake_quant = True
    folded_accuracy = accuracy(net, test_x, test_y)
    print("quantisation-aware fine-tuning (gles2 arithmetic)")
    train(net, train_x, train_y, args.qat_epochs, 5e-4, generator)
    quant_accuracy = accuracy(net, test_x, test_y)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    export_model(net, args.output, demo_scene.CLASSES, name="demo_model")
    elapsed = time.perf_counter() - started
    print(f"test accuracy: float {float_accuracy:.4f}, quantised before fine-tuning "
          f"{folded_accuracy:.4f}, after {quant_accuracy:.4f}")
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes) in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
