"""The PyTorch layers compute what the engine computes: checked against the spec's own numbers
and against the engine's NumPy reference (gpu_engine.reference) at the float and gles2 levels."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed: bash scripts/setup-dev.sh --train")

from gpu_engine import load_model_bytes, reference  # noqa: E402
from gpu_engine.training import (Conv2d, Dense, ImageSampler, Network, Pooling2d,  # noqa: E402
                                 images_to_tensor, model_chunks, sigmoid_like)
from gpu_engine.chunkfile import encode_chunks  # noqa: E402
from gpu_engine.training.layers import same_padding, shuffle_permutation  # noqa: E402
from gpu_engine.training.quantize import store8  # noqa: E402

torch.set_num_threads(1)


def test_sigmoid_like_follows_the_piecewise_table():
    z = torch.tensor([-9.0, -6.5, -4.0, -2.5, -1.0, -0.5, 0.0, 0.3, 0.5, 1.5, 2.5, 5.0, 6.5, 8.0],
                     dtype=torch.float64)
    pieces = [(-6.5, 0.0, 0.0), (-2.5, 0.05, 0.325), (-0.5, 0.1, 0.45), (0.5, 0.2, 0.5),
              (2.5, 0.1, 0.55), (6.5, 0.05, 0.675)]
    expected = []
    for value in z.tolist():
        slope, offset = 0.0, 1.0
        for upper, piece_slope, piece_offset in pieces:
            if value <= upper:
                slope, offset = piece_slope, piece_offset
                break
        expected.append(slope * value + offset)
    np.testing.assert_allclose(sigmoid_like(z).numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(sigmoid_like(-z).numpy(), 1 - sigmoid_like(z).numpy(), atol=1e-12)


def test_shuffle_uses_the_quad_permutation_of_the_spec():
    assert shuffle_permutation(32, 8) == list(range(32))
    quads = [shuffle_permutation(64, 8)[4 * v] // 4 for v in range(16)]
    assert quads == [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15]
    assert shuffle_permutation(128, 8)[:16:4] == [0, 32, 64, 96]
    with pytest.raises(ValueError, match="shuffle 8"):
        shuffle_permutation(48, 8)


def test_same_padding_puts_the_odd_row_at_the_bottom():
    assert same_padding(7, 3, 1) == (1, 1)
    assert same_padding(8, 3, 2) == (0, 1)   # T = 3*2 + 3 - 8 = 1
    assert same_padding(9, 4, 2) == (1, 2)   # T = 4*2 + 4 - 9 = 3


def test_store8_rounds_to_codes_and_passes_gradients_straight_through():
    y = torch.tensor([-0.2, 0.0, 0.5 / 255, 0.3, 0.99, 1.4], requires_grad=True)
    stored = store8(y)
    np.testing.assert_allclose(stored.detach().numpy() * 255, [0, 0, 1, 77, 252, 255], atol=1e-4)
    stored.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), np.ones(6))


def every_feature_network(size=(20, 18)):
    """Every op and option the exporter writes: resize, groups, depthwise, shuffle, residual,
    stride-2 'same', both poolings, batch norm and all activations."""
    torch.manual_seed(3)
    net = Network(ImageSampler(*size))
    net.add("c1", Conv2d(3, 16, 3, activation="default", batch_norm=True))
    net.add("pw", Conv2d(16, 16, 1, padding="same", groups=2), shuffle=2)
    net.add("dw", Conv2d(16, 16, 3, padding="same", groups=16, activation="brelu6"),
            residual="c1")
    net.add("mp", Pooling2d("max", 3, stride=2, padding="same"))
    net.add("c2", Conv2d(16, 32, 3, stride=2, padding="same", groups=4), shuffle=4)
    net.add("ap", Pooling2d("average", 2))
    net.add("fc", Dense(3 * 4 * 32, 12))
    with torch.no_grad():
        for param in net.parameters():
            param.mul_(3.0)
        net.ops["c1"].bn.running_mean.uniform_(-0.5, 0.5)
        net.ops["c1"].bn.running_var.uniform_(0.5, 2.0)
    return net.eval()


@pytest.mark.parametrize("level", ["float", "gles2"])
@pytest.mark.parametrize("image_size", [(20, 18), (37, 25)])
def test_network_matches_the_engine_reference(level, image_size):
    net = every_feature_network()
    net.fake_quant = level == "gles2"
    model = load_model_bytes(encode_chunks(model_chunks(net, [f"c{i}" for i in range(12)])))
    rng = np.random.default_rng(5)
    for _ in range(3):
        image = rng.integers(0, 256, (image_size[1], image_size[0], 3), dtype=np.uint8)
        with torch.no_grad():
            ours = net(images_to_tensor(image[None]))[0].double().numpy()
        theirs = reference.run(model, image, level)["fc"]
        # float: float32 against float64 maths; gles2: identical up to a rare ±1-code tie,
        # which a 3x-scaled net can amplify to a few Q8.8 steps
        np.testing.assert_allclose(ours, theirs, atol=1e-5 if level == "float" else 0.05)
        if level == "gles2":
            assert np.mean(np.abs(ours - theirs) < 1e-6) >= 0.9
