"""The NumPy reference against the spec's own figures (§5, §6)."""
import numpy as np
import pytest

from engine.images import natural, synthetic
from gpu_engine import reference
from gpu_engine.ops.shuffle import channel_permutation, quad_permutation

# §6: sums of all codes per op output, gles2 level, ideal precision, exact bilinear.
CODE_SUMS = {"input": 56557567, "b0-conv": 159165800, "b1-stage1-pw": 149353573,
             "b1-stage1-dw": 165133401, "b1-scale": 40657500, "b2-scale": 18763018,
             "b3-scale": 9600619, "b4-scale": 3137426, "b5-scale": 622903, "b6-conv": 3936,
             "b7-pool": 435}
FIRST_LOGITS = [-19.25, -22.51171875, -20.59375, -20.125, -20.23828125, -21.28125,
                -20.69921875, -21.04296875]
TOP5 = {
    "float": [(114, 0.03862), (118, 0.03805), (13, 0.03720), (11, 0.03403), (112, 0.03263)],
    "gl": [(118, 0.04111), (13, 0.04075), (114, 0.03806), (112, 0.03114), (11, 0.03018)],
    "gles2": [(118, 0.04108), (13, 0.04076), (114, 0.03799), (112, 0.03113), (11, 0.03005)],
}


def test_model_matches_the_published_architecture(dog_model):
    assert len(dog_model.ops) == 45
    assert dog_model.parameters() == 211_672
    assert dog_model.multiply_adds() == 398_405_856
    assert dog_model.input_size == (385, 385)
    assert dog_model.labels[119] == "tiger_cat" and len(dog_model.labels) == 120


def test_synthetic_image_code_sums_and_logits(dog_model):
    outputs = reference.run(dog_model, synthetic(), "gles2")
    sums = {name: int(np.round(outputs[name] * 255).sum()) for name in CODE_SUMS}
    assert sums == CODE_SUMS
    assert list(outputs["Dense"][:8]) == FIRST_LOGITS


@pytest.mark.parametrize("level", sorted(TOP5))
def test_synthetic_image_top5_per_level(dog_model, level):
    p = reference.classify(dog_model, synthetic(), level)
    top = np.argsort(-p)[:5]
    assert [int(i) for i in top] == [i for i, _ in TOP5[level]]
    np.testing.assert_allclose(p[top], [q for _, q in TOP5[level]], atol=6e-6)


def test_chelsea_is_a_tiger_cat(dog_model):
    p = reference.classify(dog_model, natural("chelsea"), "gles2")
    assert int(np.argmax(p)) == 119
    assert p[119] == pytest.approx(0.99854, abs=2e-5)


def test_shuffle_permutations_follow_the_worked_examples():
    assert quad_permutation(8, 8) == list(range(8))
    assert quad_permutation(16, 8) == [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15]
    assert quad_permutation(48, 8)[:8] == [0, 8, 16, 24, 32, 40, 1, 9]
    channels = channel_permutation(128, 8)
    assert list(channels[:16]) == [0, 1, 2, 3, 32, 33, 34, 35, 64, 65, 66, 67, 96, 97, 98, 99]
