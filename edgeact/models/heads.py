"""Per-stack classification heads: mean over T, H, W, then a linear layer (paper §3.2)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn


class PooledLinear(nn.Module):
    """``(B, C, T, H, W)`` -> mean over T, H, W -> ``(B, C)`` -> Linear -> ``(B, num_classes)``."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``(B, C, T, H, W)`` -> logits ``(B, num_classes)``, or the pooled ``(B, C)`` with
        ``pre_logits``."""
        pooled = x.mean(dim=(2, 3, 4))
        return pooled if pre_logits else self.fc(pooled)


class StackHeads(nn.Module):
    """One optional head per stack: superclass heads after stacks 1-3, the fine head after 4.

    ``counts[k]`` is the number of outputs of the head after stack ``k`` (0-based), or ``None``
    where that stack has no head. The fine head (stack 4) always exists.
    """

    def __init__(self, in_channels: Sequence[int], counts: Sequence[Optional[int]]):
        super().__init__()
        if len(in_channels) != len(counts):
            raise ValueError("one head count per stack is needed")
        self.heads = nn.ModuleDict({
            str(k): PooledLinear(c, n) for k, (c, n) in enumerate(zip(in_channels, counts)) if n is not None
        })

    @property
    def active(self) -> tuple[int, ...]:
        """0-based indices of the stacks that carry a head, coarse to fine."""
        return tuple(int(k) for k in self.heads.keys())

    def forward(self, feats: Sequence[torch.Tensor], pre_logits: bool = False) -> tuple[torch.Tensor, ...]:
        """Stack outputs ``(B, C_k, T, H_k, W_k)`` -> tuple of logits ``(B, counts[k])`` per active
        head, fine last (the pooled ``(B, C_k)`` with ``pre_logits``)."""
        return tuple(head(feats[int(k)], pre_logits=pre_logits) for k, head in self.heads.items())
