"""Train tiny models for a few steps, export them and run them on the GPU engine in an OpenGL
ES 2.0 context: the probabilities must match PyTorch's forward pass with fake quantisation.

Bounds. For images already at the input size the engine and PyTorch compute the same 8-bit
codes but for float32 ties, so the probabilities agree to 2e-3 and the centred logits to 0.1.
Images the engine resizes go through the GPU's bilinear filter, whose weights are quantised
(spec §4.2) where PyTorch interpolates exactly: a few codes off at the input, bounded here by
0.05 in probability, and the same top-1 class where PyTorch's margin exceeds 0.1.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed: bash scripts/setup-dev.sh --train")

import torch.nn.functional as F  # noqa: E402

from app import demo_scene  # noqa: E402
from gpu_engine import Engine, load_model  # noqa: E402
from gpu_engine.training import (Conv2d, Dense, ImageSampler, Network, Pooling2d,  # noqa: E402
                                 export_model, images_to_tensor)

torch.set_num_threads(1)
CLASSES = demo_scene.CLASSES


def residual_network():
    net = Network(ImageSampler(32, 32))
    net.add("c1", Conv2d(3, 16, 3, stride=2, activation="brelu6", batch_norm=True))
    net.add("pw", Conv2d(16, 16, 1, padding="same", groups=2, activation="brelu6",
                         batch_norm=True), shuffle=2)
    net.add("dw", Conv2d(16, 16, 3, padding="same", groups=4, batch_norm=True), residual="c1")
    net.add("c2", Conv2d(16, 32, 3, stride=2, groups=2, activation="brelu6", batch_norm=True),
            shuffle=2)
    net.add("pool", Pooling2d("average", 3, stride=2))
    net.add("fc", Dense(3 * 3 * 32, 8))
    return net


def plain_network():
    net = Network(ImageSampler(24, 20))
    net.add("c1", Conv2d(3, 8, 5, stride=2, activation="default"))
    net.add("c2", Conv2d(8, 8, 3, padding="same", groups=8, activation="brelu6"))
    net.add("pool", Pooling2d("max", 2, stride=2, padding="same"))
    net.add("fc", Dense(4 * 5 * 8, 8))
    return net


def samples(seed, count, width, height):
    rng = np.random.default_rng(seed)
    pairs = [demo_scene.random_sample(rng, max(width, height)) for _ in range(count)]
    images = np.stack([image[:height, :width] for image, _ in pairs])
    return images, torch.tensor([label for _, label in pairs])


def training_loss(net, x, labels):
    net.eval()
    with torch.no_grad():
        loss = float(F.cross_entropy(net(x), labels))
    net.train()
    return loss


def train_briefly(net, steps=25):
    """A float phase with batch norm, then quantisation-aware steps on the folded network;
    returns the network and its loss on the training images before and after."""
    torch.manual_seed(0)
    width, height = net.sampler.width, net.sampler.height
    images, labels = samples(1, 128, width, height)
    x = images_to_tensor(images)
    before = training_loss(net, x, labels)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for step in range(2 * steps):
        if step == steps:
            net.fold_batch_norm()
            net.fake_quant = True
            optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
        batch = torch.randint(0, len(x), (32,))
        loss = F.cross_entropy(net(x[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net.eval(), before, training_loss(net, x, labels)


@pytest.fixture(scope="module", params=[residual_network, plain_network])
def exported(request, tmp_path_factory):
    net, before, after = train_briefly(request.param())
    path = tmp_path_factory.mktemp("roundtrip") / f"{request.param.__name__}.chunks"
    export_model(net, path, CLASSES, name=request.param.__name__)
    model = load_model(path)
    engine = Engine(model)
    yield net, model, engine, (before, after)
    engine.release()


def torch_probabilities(net, images):
    with torch.no_grad():
        return torch.softmax(net(images_to_tensor(images)).double(), 1).numpy()


def centred_logits(p):
    logits = np.log(np.maximum(p, 1e-30))
    return logits - logits.mean(-1, keepdims=True)


def test_engine_runs_in_opengl_es_2(exported):
    _, model, engine, _ = exported
    assert "OpenGL ES 2.0" in engine.gl_info.version
    assert model.labels == CLASSES


def test_input_sized_images_match_pytorch(exported):
    net, model, engine, _ = exported
    images, _ = samples(7, 12, *model.input_size)
    expected = torch_probabilities(net, images)
    assert net.fake_quant
    for image, want in zip(images, expected):
        got = engine.classify_rgb(image).astype(np.float64)
        assert np.max(np.abs(got - want)) <= 2e-3
        assert np.max(np.abs(centred_logits(got) - centred_logits(want))) <= 0.1
        assert int(np.argmax(got)) == int(np.argmax(want)) or \
            np.sort(want)[-1] - np.sort(want)[-2] < 2e-3


def test_resized_camera_frames_match_pytorch(exported):
    net, _, engine, _ = exported
    frames = np.stack([demo_scene.render_scene(t, 160, 120) for t in np.arange(0.5, 24, 3.0)])
    expected = torch_probabilities(net, frames)
    for frame, want in zip(frames, expected):
        got = engine.classify_rgb(frame).astype(np.float64)
        assert np.max(np.abs(got - want)) <= 0.05
        top, second = np.sort(want)[::-1][:2]
        if top - second > 0.1:
            assert int(np.argmax(got)) == int(np.argmax(want))


def test_training_steps_changed_the_model(exported):
    """A guard on the test itself: the compared models are trained, not their initial state."""
    before, after = exported[3]
    assert after < before - 0.02, (before, after)
