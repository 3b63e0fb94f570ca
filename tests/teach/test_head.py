"""The taught classifier's head: what it learns, how it is judged, and how its answers settle."""
import numpy as np
import pytest

from app.teach.head import UNKNOWN, Debouncer, HeadSettings, TeachError, fit, fit_multiply_adds


def clusters(counts: list[int], dimension: int, spread: float, seed: int, draw: int = 0):
    """Gaussian classes around centres chosen by `seed`, examples by `draw`: features (n, D),
    labels 'c0', 'c1', ... and their indices."""
    centres = np.random.default_rng(seed).normal(size=(len(counts), dimension))
    y = np.repeat(np.arange(len(counts)), counts)
    noise = np.random.default_rng([seed, draw]).normal(size=(len(y), dimension))
    return centres[y] + spread * noise, [f"c{v}" for v in y], y


def test_separable_classes_are_learned_and_unseen_examples_classified():
    x, labels, _ = clusters([10, 10, 10, 10, 10], 300, 1.0, seed=1)
    head, report = fit(x, labels)
    test, test_labels, _ = clusters([40] * 5, 300, 1.0, seed=1, draw=1)
    answers = [head.classify(row).label for row in test]
    assert np.mean([a == t for a, t in zip(answers, test_labels)]) >= 0.95
    assert report.counts == {f"c{i}": 10 for i in range(5)}
    assert report.folds == 5 and report.accuracy >= 0.9
    assert not report.needs_more_examples and report.advice == []
    assert head.classes == tuple(f"c{i}" for i in range(5))


def overlapping_pair(counts: list[int], seed: int):
    """Two classes one standard deviation either side of 0 along the first axis."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], counts)
    x = rng.normal(size=(len(y), 4))
    x[:, 0] += np.where(y == 0, -1.0, 1.0)
    return x, [("many", "few")[v] for v in y], y


def test_balancing_keeps_a_rare_class_recognised():
    x, labels, _ = overlapping_pair([100, 8], seed=3)
    head, _ = fit(x, labels, settings=HeadSettings(l2=1e-4, iterations=200))
    test, _, truth = overlapping_pair([2000, 2000], seed=4)
    predicted = np.argmax(head.probabilities(test), axis=1)
    # Unbalanced, the 12:1 prior moves the boundary ~1.2 deviations into the rare class and its
    # recall falls to about 0.4; balanced, both sit near the 0.84 of the midpoint boundary.
    recall = [np.mean(predicted[truth == c] == c) for c in (0, 1)]
    assert min(recall) > 0.7, recall


def test_cross_validation_scores_only_held_out_examples():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 200))                      # noise: nothing to learn
    labels = [("a", "b")[v] for v in rng.permutation(np.repeat([0, 1], 20))]
    head, report = fit(x, labels, settings=HeadSettings(l2=1e-4, iterations=200))
    training = np.mean([head.classify(row).probabilities[label] > 0.5
                        for row, label in zip(x, labels)])
    assert training == 1.0                              # the fit memorises its examples...
    assert report.accuracy < 0.75                       # ...but held out, it is at chance
    assert report.needs_more_examples
    assert "below 0.80" in report.advice[-1]


def test_each_example_is_held_out_once_with_stratified_folds():
    x, labels, _ = clusters([3, 7], 20, 0.5, seed=2)
    _, report = fit(x, labels)
    assert report.folds == 3                            # the smallest class sets k
    assert report.class_accuracy.keys() == {"c0", "c1"}
    assert report.advice == ["class 'c0' has 3 examples; give each class at least 5"]


def test_too_few_examples_give_no_accuracy_and_say_which_class():
    x, labels, _ = clusters([1, 6], 10, 0.5, seed=2)
    head, report = fit(x, labels, classes=["c0", "c1", "c2"])
    assert report.accuracy is None and report.folds == 0
    assert report.counts == {"c0": 1, "c1": 6, "c2": 0}
    assert [a.split(";")[0] for a in report.advice] == ["class 'c0' has 1 example",
                                                        "class 'c2' has 0 examples"]
    # A class without examples is never the answer.
    assert all(head.probabilities(x)[:, 2] == 0.0)


def test_unknown_below_the_threshold():
    x, labels, _ = clusters([10, 10], 50, 0.3, seed=9)
    head, _ = fit(x, labels, settings=HeadSettings(threshold=0.8))
    centre_0 = x[:10].mean(axis=0)
    sure = head.classify(centre_0)
    assert sure.label == "c0" and not sure.uncertain and sure.probability >= 0.8
    between = head.classify((x[:10].mean(axis=0) + x[10:].mean(axis=0)) / 2)
    assert between.label == UNKNOWN and between.uncertain and between.probability < 0.8
    assert set(between.probabilities) == {"c0", "c1"}
    assert abs(sum(between.probabilities.values()) - 1.0) < 1e-9


def test_debouncer_changes_state_only_after_agreeing_results():
    debounce = Debouncer(agree=3)
    changes = [debounce.update(label) for label in
               ["open", "open", "closed", "open", "open", "open", "open", UNKNOWN, "closed",
                "closed", "closed"]]
    assert changes == [False] * 5 + [True, False, False, False, False, True]
    assert debounce.state == "closed"
    with pytest.raises(TeachError):
        Debouncer(agree=0)


@pytest.mark.parametrize("features, labels, message", [
    (np.zeros((3, 4)), ["a", "b"], "3 feature rows but 2 labels"),
    (np.full((2, 4), np.nan), ["a", "b"], "not finite"),
    (np.zeros((2, 4)), ["a", "a"], "at least two classes"),
    (np.zeros((2, 4)), ["a", UNKNOWN], "when no class fits"),
    (np.zeros(4), ["a"], "one row per example"),
])
def test_bad_examples_are_refused_with_the_reason(features, labels, message):
    with pytest.raises(TeachError, match=message):
        fit(features, labels)


def test_a_descriptor_of_another_length_is_refused():
    x, labels, _ = clusters([5, 5], 8, 0.5, seed=1)
    head, _ = fit(x, labels)
    with pytest.raises(TeachError, match="takes 8 features"):
        head.classify(np.zeros(9))


def test_the_counted_cost_grows_with_what_bounds_it():
    small = fit_multiply_adds(250, 192, 5)
    extra = fit_multiply_adds(250, 384, 5) - small
    assert extra == (250 * 251 // 2 + 2 * 250 + 250 * 5) * 192
    assert fit_multiply_adds(250, 192, 5, HeadSettings(iterations=120)) > small
