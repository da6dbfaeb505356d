"""Classification metrics with honest uncertainty: accuracy always comes with an interval."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion; well-behaved at 0, 1 and small n."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def own_match_ranks(similarities: np.ndarray) -> np.ndarray:
    """Per row i, how many columns score above column i (0: its own match ranks first).

    Rows are queries (e.g. product names), columns their candidates (the same products'
    images, in the same order); recall@k is the share of ranks below k."""
    sims = np.asarray(similarities)
    return (sims > np.diag(sims)[:, None]).sum(axis=1)


def recall_at_k(similarities: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """recall@k of finding each row's own column (see own_match_ranks), for every k."""
    ranks = own_match_ranks(similarities)
    return {f"recall@{k}": float(np.mean(ranks < k)) for k in ks}


@dataclass
class ClassMetrics:
    label: str
    support: int
    correct: int
    accuracy: float | None  # recall of the class; None without support
    precision: float | None
    f1: float | None
    ci: tuple[float, float]


@dataclass
class ClassificationReport:
    labels: list[str]
    n: int
    correct: int
    accuracy: float
    ci: tuple[float, float]
    balanced_accuracy: float
    majority_baseline: float  # accuracy of always answering the most frequent true class
    chance: float  # 1 / number of classes
    per_class: list[ClassMetrics] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)  # rows true, columns predicted

    @property
    def primary_metric(self) -> float:
        return self.accuracy

    def per_class_accuracy(self) -> dict[str, float | None]:
        return {c.label: c.accuracy for c in self.per_class}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassificationReport:
        per_class = [ClassMetrics(**{**c, "ci": tuple(c["ci"])}) for c in data["per_class"]]
        return cls(**{**data, "ci": tuple(data["ci"]), "per_class": per_class})


def classification_report(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]
) -> ClassificationReport:
    """Accuracy (Wilson CI), per-class accuracy/precision/F1 and the confusion matrix."""
    from sklearn.metrics import confusion_matrix

    labels = list(labels)
    n = len(y_true)
    if n == 0:
        raise ValueError("no examples to score")
    matrix = confusion_matrix(list(y_true), list(y_pred), labels=labels)
    correct = int(np.trace(matrix))
    per_class: list[ClassMetrics] = []
    recalls = []
    for i, label in enumerate(labels):
        support = int(matrix[i].sum())
        hits = int(matrix[i, i])
        predicted = int(matrix[:, i].sum())
        recall = hits / support if support else None
        precision = hits / predicted if predicted else None
        if recall is None:
            f1 = None
        elif not precision or not recall:
            f1 = 0.0
        else:
            f1 = 2 * precision * recall / (precision + recall)
        if recall is not None:
            recalls.append(recall)
        ci = wilson_interval(hits, support)
        per_class.append(ClassMetrics(label, support, hits, recall, precision, f1, ci))
    supports = matrix.sum(axis=1)
    return ClassificationReport(
        labels=labels,
        n=n,
        correct=correct,
        accuracy=correct / n,
        ci=wilson_interval(correct, n),
        balanced_accuracy=float(np.mean(recalls)) if recalls else 0.0,
        majority_baseline=float(supports.max() / n),
        chance=1.0 / len(labels),
        per_class=per_class,
        confusion=matrix.astype(int).tolist(),
    )
