"""The exporter writes the format to the letter: description grammar, HWIO conv weights,
row-major dense weights, folded batch norm, a labels chunk; and refuses what the Pi cannot run."""
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed: bash scripts/setup-dev.sh --train")

from gpu_engine import ProfileError, load_model  # noqa: E402
from gpu_engine.chunkfile import read_chunks  # noqa: E402
from gpu_engine.listing import parse_listing  # noqa: E402
from gpu_engine.training import (Conv2d, Dense, ImageSampler, Network, Pooling2d,  # noqa: E402
                                 describe, export_model, images_to_tensor)

torch.set_num_threads(1)
LABELS = ["alpha", "beta", "gamma", "delta"]


def small_network(batch_norm=True):
    torch.manual_seed(0)
    net = Network(ImageSampler(12, 10, center_crop=False, linear_interp=False))
    net.add("first", Conv2d(3, 8, 3, stride=2, batch_norm=batch_norm))
    net.add("second", Conv2d(8, 8, 3, padding="same", groups=2, activation="brelu6"),
            shuffle=2)
    net.add("pool", Pooling2d("average", 2))
    net.add("fc", Dense(3 * 4 * 8, 4, use_bias=False))
    if batch_norm:
        with torch.no_grad():
            bn = net.ops["first"].bn
            bn.weight.uniform_(0.5, 2.0)
            bn.bias.uniform_(-1.0, 1.0)
            bn.running_mean.uniform_(-1.0, 1.0)
            bn.running_var.uniform_(0.2, 3.0)
    return net.eval()


def test_description_follows_the_line_grammar():
    text = describe(small_network())
    lines = text.split("\n")
    assert lines[0] == "ops:" and text.endswith("\n")
    assert all(line in ("ops:", "connections:", "") or line.startswith((" - ", "   "))
               for line in lines)
    chapters = parse_listing(text)
    ops = chapters["ops"]
    assert [op["_name"] for op in ops] == ["input", "first", "second", "pool", "fc", "softmax"]
    assert ops[0] == {"_name": "input", "_type": "image_sampler", "output_width": "12",
                      "output_height": "10", "center_crop": "false", "linear_interp": "false"}
    assert ops[2]["groups"] == "2" and ops[2]["activation"] == "brelu6"
    assert ops[2]["padding"] == "same" and ops[2]["use_bias"] == "true"
    assert ops[4] == {"_name": "fc", "_type": "dense", "output_dims": "4", "use_bias": "false"}
    shuffled = [c for c in chapters["connections"] if c["to"] == "second"]
    assert shuffled == [{"from": "first", "to": "second", "from_output": "0", "to_input": "0",
                         "shuffle": "2"}]


def test_residual_connection_uses_input_one():
    net = Network(ImageSampler(8, 8))
    net.add("a", Conv2d(3, 4, 3))
    net.add("b", Conv2d(4, 4, 3, padding="same", groups=4), residual="a")
    net.add("fc", Dense(6 * 6 * 4, 4))
    into_b = [c for c in parse_listing(describe(net))["connections"] if c["to"] == "b"]
    assert {(c["from"], c["to_input"]) for c in into_b} == {("a", "0"), ("a", "1")}


def test_chunks_hold_hwio_conv_weights_with_folded_batch_norm(tmp_path):
    net = small_network()
    path = tmp_path / "small.chunks"
    export_model(net, path, LABELS, name="small")
    chunks = read_chunks(path)
    raw = path.read_bytes()
    assert struct.unpack_from("<I", raw, 0)[0] == 0  # sorted by id: the description first
    assert list(chunks) == ["", "fc/w", "first/b", "first/w", "labels", "second/b", "second/w"]
    assert chunks["labels"] == b"alpha\nbeta\ngamma\ndelta\n"

    conv = net.ops["first"]
    w = np.frombuffer(chunks["first/w"], "<f4").reshape(3, 3, 3, 8)  # k, k, Cin/G, Cout
    b = np.frombuffer(chunks["first/b"], "<f4")
    # Element w[dy][dx][ci][co] of the file is the torch kernel (co, ci, dy, dx) times the
    # batch norm factor; the conv's own bias is folded into the batch norm shift.
    bn = conv.bn
    factor = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    torch_w = conv.conv.weight.detach().numpy()
    assert w[2, 1, 0, 5] == pytest.approx(torch_w[5, 0, 2, 1] * factor[5], rel=1e-6)
    np.testing.assert_allclose(w, torch_w.transpose(2, 3, 1, 0) * factor, rtol=1e-6)
    shift = (conv.conv.bias - bn.running_mean).detach().numpy()
    np.testing.assert_allclose(b, bn.bias.detach().numpy() + shift * factor, rtol=1e-5,
                               atol=1e-6)

    fc = np.frombuffer(chunks["fc/w"], "<f4").reshape(4, 96)  # one row per output
    np.testing.assert_array_equal(fc, net.ops["fc"].linear.weight.detach().numpy())

    model = load_model(path)
    assert model.labels == LABELS and model.input_size == (12, 10)


def test_folded_network_computes_the_same_as_with_batch_norm():
    net = small_network()
    images = images_to_tensor(np.random.default_rng(1).integers(0, 256, (4, 10, 12, 3),
                                                                dtype=np.uint8))
    with torch.no_grad():
        before = net(images)
        net.fold_batch_norm()
        after = net(images)
    np.testing.assert_allclose(after.numpy(), before.numpy(), atol=1e-5)
    assert net.ops["first"].bn is None


def test_labels_must_match_the_outputs(tmp_path):
    with pytest.raises(ValueError, match="3 labels for a dense output of 4"):
        export_model(small_network(), tmp_path / "x.chunks", LABELS[:3])
    with pytest.raises(ValueError, match="one line"):
        export_model(small_network(), tmp_path / "x.chunks", ["a", "b\nc", "d", "e"])
    assert not (tmp_path / "x.chunks").exists()


def test_model_beyond_the_pi_profile_is_refused_and_not_written(tmp_path):
    net = Network(ImageSampler(8, 8))
    net.add("wide", Conv2d(3, 64, 3))
    net.add("full", Conv2d(64, 8, 3))  # 64 input channels in one group: 16 samplers > 8
    net.add("fc", Dense(4 * 4 * 8, 4))
    path = tmp_path / "wide.chunks"
    with pytest.raises(ProfileError, match="full"):
        export_model(net, path, LABELS)
    assert not path.exists()


@pytest.mark.parametrize("build, message", [
    (lambda net: net.add("c", Conv2d(3, 6, 3)), "multiple of 4"),
    (lambda net: net.add("c", Conv2d(3, 8, 3, padding="same")), "valid"),
    (lambda net: net.add("input", Conv2d(3, 8, 3)), "op name"),
    (lambda net: net.add("p", Pooling2d("average", 2)), "only a conv2d"),
    (lambda net: net.add("c", Conv2d(3, 8, 3), residual="input"), "residual"),
])
def test_graph_mistakes_are_caught_when_building(build, message):
    with pytest.raises(ValueError, match=message):
        build(Network(ImageSampler(8, 8)))
