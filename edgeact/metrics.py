"""Accuracy metrics over averaged softmax scores, shared by training's validation, ``edgeact eval``
and the benchmarks.

Scores are numpy arrays: ``probs (N, C)`` per head (one row per clip, already averaged over the
clip's frame sets), ``labels (N,)`` int fine-class indices. A superclass level's labels are the
fine labels mapped through that level's assignment (:func:`edgeact.hierarchy.level_labels`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeact.hierarchy import level_labels


def topk_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the ``k`` highest scores. ``probs (N, C)``."""
    k = min(k, probs.shape[1])
    top = np.argpartition(-probs, k - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def level_accuracies(probs: Sequence[np.ndarray], labels: np.ndarray,
                     assignments: Sequence[Sequence[int]]) -> list[float]:
    """Top-1 accuracy of each superclass level: ``probs`` one ``(N, M_l)`` array per level
    (coarse to fine, without the fine head), scored against the fine labels ``(N,)`` mapped
    through that level's assignment."""
    targets = level_labels(labels, assignments)[:-1]
    return [float((p.argmax(1) == t).mean()) for p, t in zip(probs, targets)]


def confusion_matrix(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``C[i, j]`` = clips of true class ``i`` predicted as ``j``, ``(C, C)`` int64."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, pred), 1)
    return cm


def per_class_accuracy(cm: np.ndarray) -> list[float | None]:
    """Each class's accuracy from a confusion matrix ``(C, C)``; ``None`` for a class with no clip."""
    counts = cm.sum(1)
    return [float(cm[i, i] / counts[i]) if counts[i] else None for i in range(cm.shape[0])]


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the labels ``(N,)`` under averaged scores ``(N, C)``."""
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())


def hierarchical_nll(probs: Sequence[np.ndarray], labels: np.ndarray, assignments: Sequence[Sequence[int]],
                     weights: Sequence[float]) -> float:
    """``sum_l weights[l] * nll(probs[l], labels at level l)`` over every head, coarse to fine,
    fine last: the validation counterpart of :func:`edgeact.hierarchy.hierarchical_loss`."""
    targets = level_labels(labels, assignments)
    return float(sum(w * nll(p, t) for w, p, t in zip(weights, probs, targets)))
