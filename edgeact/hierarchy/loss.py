"""The hierarchical loss (paper §3.3): a weighted sum of cross-entropies, one per active head,
coarse to fine, fine last."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from edgeact.errors import EdgeactError


def hierarchical_loss(logits: Sequence[torch.Tensor], targets: Sequence[torch.Tensor],
                      weights: Sequence[float]) -> torch.Tensor:
    """``sum_l weights[l] * cross_entropy(logits[l], targets[l])``, levels coarse to fine.

    ``logits[l]`` is ``(B, M_l)`` (the model's tuple, fine last), ``targets[l]`` ``(B,)``.
    """
    logits, targets, weights = tuple(logits), tuple(targets), tuple(weights)
    if not logits:
        raise EdgeactError("hierarchical loss needs at least one head's logits")
    if not len(logits) == len(targets) == len(weights):
        raise EdgeactError(
            f"hierarchical loss needs one target and one weight per head: got {len(logits)} logits, "
            f"{len(targets)} targets, {len(weights)} weights")
    total = logits[0].new_zeros(())
    for x, y, w in zip(logits, targets, weights):
        total = total + float(w) * F.cross_entropy(x, y)
    return total
