"""The superclass levels of a model: :class:`Hierarchy` (one assignment per superclass head),
:func:`build_hierarchy` (one search per level), and the label maps: :func:`level_labels` maps fine
labels to each level's superclass labels (the one such map), :func:`level_probs` fine
probabilities to superclass probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import torch

from edgeact.errors import EdgeactError
from edgeact.hierarchy.search import _check_assignment, _edge_costs, assign_superclasses


@dataclass(frozen=True)
class Hierarchy:
    """Superclass maps, coarse to fine: ``assignments[l][c]`` is the superclass of fine class c
    at level l (one level per superclass head)."""

    assignments: tuple[tuple[int, ...], ...]
    num_classes: int

    def __post_init__(self) -> None:
        n = self.num_classes
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise EdgeactError(f"hierarchy num_classes must be a positive integer, got {n!r}")
        fixed = []
        for level, a in enumerate(self.assignments):
            arr = _check_assignment(a, self.num_classes, f"hierarchy level {level} assignment")
            used = np.unique(arr)
            if len(used) != used[-1] + 1:
                raise EdgeactError(
                    f"hierarchy level {level} assignment must use every superclass id 0..{used[-1]}, "
                    f"missing {sorted(set(range(used[-1] + 1)) - set(used.tolist()))}")
            fixed.append(tuple(int(x) for x in arr))
        object.__setattr__(self, "assignments", tuple(fixed))

    @property
    def level_sizes(self) -> tuple[int, ...]:
        """Number of superclasses per level, coarse to fine, e.g. ``(2, 6, 20)``."""
        return tuple(max(a) + 1 for a in self.assignments)

    def to_dict(self) -> dict:
        """JSON-safe form for checkpoints."""
        return {"num_classes": self.num_classes, "assignments": [list(a) for a in self.assignments]}

    @classmethod
    def from_dict(cls, d: Any) -> "Hierarchy":
        if not isinstance(d, dict) or "num_classes" not in d or "assignments" not in d:
            raise EdgeactError("hierarchy must be a dict with 'num_classes' and 'assignments'")
        if not isinstance(d["assignments"], (list, tuple)):
            raise EdgeactError("hierarchy 'assignments' must be a list of lists of superclass ids")
        return cls(assignments=tuple(tuple(a) for a in d["assignments"]), num_classes=d["num_classes"])


def build_hierarchy(confusion: Any, levels: Sequence[Optional[int]] = (2, 6, 20), *,
                    restarts: int = 1000, seed: int = 0) -> Hierarchy:
    """Solve one superclass level per head; ``None`` entries (stacks without a head) are skipped.

    ``confusion`` is ``(N, N)``; e.g. ``levels=(None, 2, 5)`` for N-UCLA gives two levels.
    """
    e = _edge_costs(confusion)
    assignments = tuple(
        tuple(int(x) for x in assign_superclasses(confusion, m, restarts=restarts, seed=seed))
        for m in levels if m is not None)
    return Hierarchy(assignments=assignments, num_classes=e.shape[0])



def level_labels(fine_labels: torch.Tensor | np.ndarray,
                 assignments: Sequence[Sequence[int]]) -> tuple[torch.Tensor, ...] | tuple[np.ndarray, ...]:
    """The one map from fine labels to superclass labels: fine labels ``(B,)`` -> one ``(B,)``
    int64 array per superclass level (coarse to fine), then the fine labels themselves: the
    targets for :func:`hierarchical_loss` (torch in, torch out, on the labels' device) and for
    :mod:`edgeact.metrics` (numpy in, numpy out)."""
    if not isinstance(fine_labels, torch.Tensor):
        return tuple(t.numpy() for t in level_labels(torch.as_tensor(np.asarray(fine_labels)), assignments))
    fine = fine_labels
    if fine.ndim != 1:
        raise EdgeactError(f"fine labels must be a 1-D batch (B,), got shape {tuple(fine.shape)}")
    if fine.dtype.is_floating_point or fine.dtype == torch.bool:
        raise EdgeactError(f"fine labels must be integer class indices, got dtype {fine.dtype}")
    fine = fine.long()
    out = []
    for level, a in enumerate(assignments):
        a = np.asarray(a)
        if a.ndim != 1:
            raise EdgeactError(f"assignment of level {level} must be 1-D (N,), got shape {a.shape}")
        n = a.shape[0]
        if fine.numel() and (int(fine.min()) < 0 or int(fine.max()) >= n):
            raise EdgeactError(
                f"fine labels must lie in [0, {n}) for the level {level} assignment, got "
                f"[{int(fine.min())}, {int(fine.max())}]")
        table = torch.as_tensor(a.astype(np.int64), device=fine.device)
        out.append(table[fine])
    return (*out, fine)


def level_probs(fine: np.ndarray, assignments: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Fine-class probabilities ``(N, C)`` -> each level's superclass probabilities ``(N, M_l)``,
    coarse to fine: a superclass's probability is the sum of its members'. Unlike a superclass
    head's own output, this always agrees with the fine distribution (the group of a confident
    fine action gets at least that confidence)."""
    fine = np.asarray(fine, np.float64)
    out = []
    for a in assignments:
        a = np.asarray(a, np.int64)
        out.append(fine @ np.eye(int(a.max()) + 1)[a])
    return out
