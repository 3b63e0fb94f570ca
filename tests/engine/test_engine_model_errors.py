"""Malformed models: every problem is a clear ModelError, never a crash, hang or wrong model."""
import numpy as np
import pytest

from engine.builder import build, chain, conv, describe
from gpu_engine import ModelError, load_model, load_model_bytes
from gpu_engine.chunkfile import encode_chunks, parse_chunks
from gpu_engine.planner import make_plan


def small_model_ops():
    return [
        {"_name": "in", "_type": "image_sampler", "output_width": 16, "output_height": 16},
        conv("c0", 3, 8, 3, activation="sigmoid_like"),
        conv("c1", 8, 8, 3, padding="same", groups=2),
        {"_name": "pool", "_type": "pooling2d", "operator": "average", "size": 14},
        {"_name": "fc", "_type": "dense", "output_dims": 4, "use_bias": "true"},
        {"_name": "sm", "_type": "softmax"},
    ]


CHAIN = chain("in", "c0", "c1", "pool", "fc", "sm")


def small_model(**changes) -> bytes:
    """The small model; `changes` edit its op blocks, the weights staying the valid model's
    (the builder sizes weights by a description that loads)."""
    valid = build(small_model_ops(), CHAIN, labels=list("abcd"))
    ops = small_model_ops()
    for op in ops:
        op.update(changes.get(op["_name"], {}))
    return with_description(valid, lambda _: describe(ops, CHAIN)) if changes else valid


def with_description(data: bytes, edit) -> bytes:
    chunks = parse_chunks(data)
    chunks[""] = edit(chunks[""].decode()).encode()
    return encode_chunks(chunks.items())


def test_the_small_model_is_valid():
    model = load_model_bytes(small_model())
    assert [op.shape for op in model.ops][-1] == (1, 1, 4)
    assert model.labels == list("abcd")


@pytest.mark.parametrize("data, message", [
    (b"", "no model description"),
    (b"\x05\x00\x00", "trailing bytes"),  # the container's own problems: test_chunkfile.py
    (encode_chunks([("", b"ops:\n - _name: a\n")]), "connections"),
    (encode_chunks([("", b"\xff\xfe")]), "not ASCII"),
])
def test_container_problems(data, message):
    with pytest.raises(ModelError, match=message):
        load_model_bytes(data)


@pytest.mark.parametrize("change, message", [
    ({"c1": {"_type": "conv3d"}}, "unknown op type 'conv3d'"),
    ({"c1": {"kernel_size": "0"}}, "kernel_size"),
    ({"c1": {"input_channels": "16"}}, "input has 8 channels"),
    ({"c1": {"groups": "3"}}, "groups = 3"),
    ({"c1": {"output_channels": "6"}}, "multiple of 4"),
    ({"c1": {"padding": "reflect"}}, "padding"),
    ({"c1": {"activation": "tanh"}}, "activation"),
    ({"pool": {"size": "40"}}, "does not fit"),
    ({"pool": {"operator": "average", "padding": "same"}}, "only 'valid'"),
    ({"in": {"output_width": "99999"}}, "out of range"),
    ({"fc": {"output_dims": "6"}}, "multiple of 4"),
])
def test_description_problems_name_the_op(change, message):
    with pytest.raises(ModelError, match=message) as error:
        load_model_bytes(small_model(**change))
    op_name = next(iter(change))
    if "unknown" not in message:
        assert repr(op_name) in str(error.value)


def test_missing_and_wrong_sized_weights_name_the_chunk():
    chunks = parse_chunks(small_model())
    del chunks["c1/w"]
    with pytest.raises(ModelError, match="'c1/w' is missing"):
        load_model_bytes(encode_chunks(chunks.items()))
    chunks = parse_chunks(small_model())
    chunks["fc/b"] = chunks["fc/b"][:-4]
    with pytest.raises(ModelError, match="'fc/b' holds 12 bytes, expected 16"):
        load_model_bytes(encode_chunks(chunks.items()))
    chunks = parse_chunks(small_model())
    chunks["c0/b"] = np.array([np.nan] * 8, "<f4").tobytes()
    with pytest.raises(ModelError, match="NaN"):
        load_model_bytes(encode_chunks(chunks.items()))


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("to: c1", "to: nowhere"), "no op named 'nowhere'"),
    (lambda t: t.replace(" - from: c1\n   to: pool\n", ""), "main input .* is not connected"),
    (lambda t: t.replace("to: sm", "to: fc").replace("from: fc", "from: c1"), "connected twice|feeds nothing"),
    (lambda t: t.replace("from: c0\n   to: c1", "from: c1\n   to: c0"), "does not come before"),
    (lambda t: t + "connections:\n - from: c0\n   to: c1\n", "connected twice"),
    (lambda t: t + "connections:\n - from: c0\n   to: pool\n   to_input: 1\n", "no input 1"),
    (lambda t: t.replace("from: c0\n   to: c1", "from: c0\n   to: c1\n   shuffle: 3"),
     "shuffle 3 does not divide"),
    (lambda t: t.replace("   kernel_size", "      kernel_size", 1), "unexpected indent"),
    (lambda t: t.replace("_name: c1", "_name: c0"), "used twice"),
])
def test_graph_problems(edit, message):
    with pytest.raises(ModelError, match=message):
        load_model_bytes(with_description(small_model(), edit))


def test_unreadable_file(tmp_path):
    with pytest.raises(ModelError, match="cannot read model file"):
        load_model(tmp_path / "missing.chunks")


def _load_and_plan(data: bytes) -> None:
    make_plan(load_model_bytes(data))


def test_hundreds_of_corruptions_give_only_model_errors(dog_model_path):
    """Truncations, bit flips, random bytes and resized chunks of the real model and a small
    one: each either still loads (a flipped weight is a valid model) or raises ModelError."""
    rng = np.random.default_rng(2024)
    originals = [dog_model_path.read_bytes(), small_model()]
    cases = []
    for data in originals:
        size = len(data)
        cases += [data[:int(n)] for n in rng.integers(0, size, 60)]
        for _ in range(80):
            flipped = bytearray(data)
            position = int(rng.integers(0, min(size, 12000)))  # header + description
            flipped[position] ^= 1 << int(rng.integers(0, 8))
            cases.append(bytes(flipped))
        for _ in range(20):
            cases.append(bytes(rng.integers(0, 256, int(rng.integers(1, 4000)), dtype=np.uint8)))
        chunks = parse_chunks(data)
        for chunk_id in rng.choice(sorted(chunks), 15):
            resized = dict(chunks)
            resized[chunk_id] = chunks[chunk_id][: max(0, len(chunks[chunk_id]) - 4 * int(rng.integers(1, 5)))]
            cases.append(encode_chunks(resized.items()))
    outcomes = {"loaded": 0, "refused": 0}
    for data in cases:
        try:
            _load_and_plan(data)
            outcomes["loaded"] += 1
        except ModelError as error:
            assert str(error), "a ModelError must say what is wrong"
            outcomes["refused"] += 1
    assert len(cases) >= 300
    assert outcomes["refused"] > len(cases) // 2
