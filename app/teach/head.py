"""The taught classifier's head: a few-shot classifier fitted on the device in NumPy.

Multinomial logistic regression on standardized descriptors, with class balancing and L2,
fitted by a fixed number of accelerated gradient steps so a refit costs a known, bounded number
of multiply-adds (`fit_multiply_adds`): a Pi Zero refits 5 classes x 50 examples, with its
cross-validation, in well under a second (benchmarks/teach_head_bench.py).

With fewer examples than descriptor dimensions the fit runs on the examples' Gram matrix: the
weights stay a combination of the examples (w = Xᵀa), so one n x n matrix serves the fit and
every cross-validation fold, whatever the descriptor's length.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

UNKNOWN = "unknown"


class TeachError(ValueError):
    """Examples or features a head cannot be fitted on, or used with; the message says why."""


@dataclass(frozen=True)
class HeadSettings:
    """How a head is fitted and judged (the defaults were chosen by docs/TEACH.md's study)."""

    l2: float = 1e-4             # weight decay, relative to the mean squared example length
    iterations: int = 30         # accelerated gradient steps per fit (bounds the cost)
    folds: int = 5               # k of the stratified k-fold cross-validation
    min_examples: int = 5        # fewer examples in a class: "needs more examples"
    min_accuracy: float = 0.8    # cross-validated accuracy below this: "needs more examples"
    threshold: float = 0.7       # best probability below this: the answer is `unknown`
    scale_floor: float = 1 / 255  # one 8-bit code: flatter features are not blown up into noise

    def __post_init__(self) -> None:
        if not (self.l2 > 0 and self.iterations >= 1 and self.folds >= 2
                and self.min_examples >= 2 and 0 <= self.min_accuracy <= 1
                and 0 <= self.threshold <= 1 and self.scale_floor > 0):
            raise TeachError(f"head settings out of range: {self}")


@dataclass(frozen=True)
class Answer:
    """One classified descriptor: `label` is UNKNOWN when no class is probable enough."""

    label: str
    probability: float
    uncertain: bool
    probabilities: dict[str, float]


@dataclass(frozen=True)
class Head:
    """A fitted head: what is stored with a taught classifier and applied to every frame."""

    classes: tuple[str, ...]
    mean: np.ndarray      # (D,) standardization
    scale: np.ndarray     # (D,)
    weights: np.ndarray   # (D, C)
    bias: np.ndarray      # (C,)
    threshold: float

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities (m, C) of m descriptors (m, D), or (C,) of one (D,)."""
        x = np.asarray(features, np.float64)
        if x.shape[-1:] != self.mean.shape or x.ndim not in (1, 2):
            raise TeachError(f"descriptor of shape {x.shape}: this head takes "
                             f"{self.mean.shape[0]} features")
        if not np.all(np.isfinite(x)):
            raise TeachError("the descriptor has values that are not finite")
        return _softmax(((x - self.mean) / self.scale) @ self.weights + self.bias)

    def classify(self, features: np.ndarray) -> Answer:
        """The answer for one descriptor, `unknown` below the threshold."""
        p = self.probabilities(features)
        if p.ndim != 1:
            raise TeachError("classify takes one descriptor; use probabilities() for several")
        best = int(np.argmax(p))
        uncertain = bool(p[best] < self.threshold)
        return Answer(UNKNOWN if uncertain else self.classes[best], float(p[best]), uncertain,
                      {name: float(v) for name, v in zip(self.classes, p)})


@dataclass(frozen=True)
class FitReport:
    """What the user sees after each fit: counts, held-out accuracy, and what to add."""

    counts: dict[str, int]
    accuracy: float | None               # k-fold accuracy on held-out examples; None: too few
    class_accuracy: dict[str, float]     # held-out recall per class
    folds: int
    advice: list[str] = field(default_factory=list)

    @property
    def needs_more_examples(self) -> bool:
        return bool(self.advice)


def fit(features: np.ndarray, labels: list[str], classes: list[str] | None = None,
        settings: HeadSettings = HeadSettings()) -> tuple[Head, FitReport]:
    """Fit the head on every example and cross-validate it; raises TeachError on bad input.

    `classes` fixes the order (and may name classes that have no example yet, which the report
    then asks for); by default the classes are the labels in order of first appearance.
    """
    x, y, names = _examples(features, labels, classes)
    counts = np.bincount(y, minlength=len(names))
    if np.count_nonzero(counts) < 2:
        raise TeachError("a head needs examples of at least two classes")
    mean = x.mean(axis=0)
    scale = np.maximum(x.std(axis=0), settings.scale_floor)
    xs = (x - mean) / scale
    # The standardization uses every example's features (never a label), once for all folds.
    gram = xs @ xs.T
    constant = float(np.sqrt(np.mean(np.diag(gram)))) or 1.0   # the bias as one more feature
    gram += constant * constant
    present = counts > 0
    coef = _fit_dual(gram, y, len(names), settings)
    weights = xs.T @ coef
    bias = constant * coef.sum(axis=0)
    weights[:, ~present] = 0.0
    bias[~present] = -np.inf   # a class without examples is never the answer
    head = Head(tuple(names), mean, scale, weights, bias, settings.threshold)
    return head, _cross_validate(gram, y, names, counts, settings)


def fit_multiply_adds(examples: int, dimension: int, classes: int,
                      settings: HeadSettings = HeadSettings()) -> int:
    """The multiply-adds of one `fit` (refit plus cross-validation): what bounds its time.

    Counted from the steps above: standardization and the Gram matrix (symmetric: numpy's
    `x @ x.T` computes one triangle), the power iterations that bound the step, the accelerated
    steps (one n x n by n x C product each), the weights, and the same per fold on its training
    part plus the held-out logits. Classes are taken as equally large.
    """
    n, d, c = examples, dimension, classes
    total = 2 * n * d + n * (n + 1) // 2 * d + n * d * c
    folds = min(settings.folds, max(2, n // max(c, 1)))
    train = n - n // folds
    total += _fit_cost(n, c, settings) + folds * (_fit_cost(train, c, settings)
                                                  + (n - train) * train * c)
    return total


class Debouncer:
    """A state that changes only after `agree` results in a row say the same label."""

    def __init__(self, agree: int = 3):
        if agree < 1:
            raise TeachError(f"agree = {agree}: a state needs at least one result")
        self.agree = agree
        self.state: str | None = None
        self._candidate: str | None = None
        self._run = 0

    def update(self, label: str) -> bool:
        """Feed one result; True when the state changed with it."""
        if label == self._candidate:
            self._run += 1
        else:
            self._candidate, self._run = label, 1
        if self._run >= self.agree and label != self.state:
            self.state = label
            return True
        return False


# ---- fitting ----------------------------------------------------------------------------------

POWER_STEPS = 12


def _fit_cost(n: int, c: int, settings: HeadSettings) -> int:
    return (POWER_STEPS + 1) * n * n + settings.iterations * n * n * c


def _examples(features: np.ndarray, labels: list[str],
              classes: list[str] | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise TeachError(f"features must be one row per example, not of shape {x.shape}")
    if len(labels) != x.shape[0]:
        raise TeachError(f"{x.shape[0]} feature rows but {len(labels)} labels")
    if not np.all(np.isfinite(x)):
        raise TeachError("some features are not finite")
    names = list(classes) if classes is not None else list(dict.fromkeys(labels))
    if len(set(names)) != len(names):
        raise TeachError(f"class names repeat: {names}")
    if UNKNOWN in names:
        raise TeachError(f"{UNKNOWN!r} is the answer when no class fits; name the class otherwise")
    index = {name: i for i, name in enumerate(names)}
    strangers = sorted(set(labels) - index.keys())
    if strangers:
        raise TeachError(f"labels {strangers} are not among the classes {names}")
    return x, np.array([index[label] for label in labels], np.intp), names


def _fit_dual(gram: np.ndarray, y: np.ndarray, classes: int,
              settings: HeadSettings) -> np.ndarray:
    """Coefficients a (n, C) of w = Xᵀa minimising the class-balanced cross-entropy + L2.

    Gradient steps on w map onto a exactly (the gradient is Xᵀ(g + λa)), so the fit never
    touches the descriptor's dimension. Nesterov's momentum with the step 1/L, L from the
    largest eigenvalue of the weighted Gram matrix, converges without a line search.
    """
    n = len(y)
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    present = counts > 0
    weight = 1.0 / (counts[y] * np.count_nonzero(present))    # each class weighs the same
    target = np.zeros((n, classes))
    target[np.arange(n), y] = 1.0
    lam = settings.l2 * float(np.mean(np.diag(gram)))
    root = np.sqrt(weight)
    step = 1.0 / (0.5 * _largest_eigenvalue(root[:, None] * gram * root[None, :]) + lam)
    a = np.zeros((n, classes))
    z = a.copy()
    t = 1.0
    for _ in range(settings.iterations):
        logits = gram @ z
        logits[:, ~present] = -np.inf
        p = _softmax(logits)
        g = weight[:, None] * (p - target) + lam * z
        g[:, ~present] = 0.0
        a_next = z - step * g
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        z = a_next + ((t - 1.0) / t_next) * (a_next - a)
        a, t = a_next, t_next
    return a


def _largest_eigenvalue(matrix: np.ndarray) -> float:
    """An upper estimate of a symmetric PSD matrix's largest eigenvalue, by power iteration."""
    v = np.ones(matrix.shape[0])
    value = 0.0
    for _ in range(POWER_STEPS):
        w = matrix @ v
        value = float(np.linalg.norm(w))
        if value == 0.0:
            return 1.0
        v = w / value
    return value * 1.05  # power iteration approaches from below


def _cross_validate(gram: np.ndarray, y: np.ndarray, names: list[str], counts: np.ndarray,
                    settings: HeadSettings) -> FitReport:
    """Stratified k-fold: each example is scored by a head fitted without it."""
    count_by_name = {name: int(c) for name, c in zip(names, counts)}
    advice = [f"class {name!r} has {c} example{'s' * (c != 1)}; give each class at least "
              f"{settings.min_examples}" for name, c in count_by_name.items()
              if c < settings.min_examples]
    smallest = int(counts.min())
    if smallest < 2:
        return FitReport(count_by_name, None, {}, 0, advice)
    folds = min(settings.folds, smallest)
    fold = np.empty(len(y), np.intp)
    for c in range(len(names)):
        members = np.flatnonzero(y == c)
        fold[members] = np.arange(len(members)) % folds   # examples in the order given
    predicted = np.empty(len(y), np.intp)
    for f in range(folds):
        train, test = fold != f, fold == f
        coef = _fit_dual(gram[np.ix_(train, train)], y[train], len(names), settings)
        predicted[test] = np.argmax(gram[np.ix_(test, train)] @ coef, axis=1)
    right = predicted == y
    accuracy = float(np.mean(right))
    per_class = {name: float(np.mean(right[y == c])) for c, name in enumerate(names)}
    if accuracy < settings.min_accuracy:
        weakest = sorted(per_class, key=per_class.get)[:2]
        advice.append(f"cross-validated accuracy {accuracy:.2f} is below "
                      f"{settings.min_accuracy:.2f}: add examples of "
                      + " and ".join(f"{n!r} ({per_class[n]:.2f})" for n in weakest))
    return FitReport(count_by_name, accuracy, per_class, folds, advice)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - np.max(logits, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)
