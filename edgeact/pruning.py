"""Filter pruning by L2 norm (paper §3.4): masks that zero whole filters.

A *unit* is one conv of the four stacks together with the batch norm that follows it
(:meth:`edgeact.models.resnet3d.ResNet3d.conv_bn_pairs`). Pruning a filter sets its entry in both
layers' keep-masks (``filter_mask`` / ``channel_mask`` buffers, see :mod:`edgeact.models.layers`)
to 0, so the channel's output is exactly zero. Masks are buffers: they live in every
``state_dict`` and survive save/load and resume. The forward pass always uses the masked weights;
:func:`apply_masks` also zeroes the *stored* weights, and :func:`keep_pruned` does that after
every optimizer step, so a checkpoint never holds stale values. :func:`edgeact.compact.compact`
removes pruned channels physically (a smaller dense model).

Ranking: ``scope="global"`` ranks all alive filters of all units by L2 norm together (the paper's
"altogether"); ``scope="layer"`` ranks within each unit ("by layers"). Each call removes
``round(ratio * alive)`` filters (globally, or per unit), and never a unit's last alive filter.
A channel that a compaction baked to zero (:meth:`~edgeact.models.layers.MaskedBatchNorm3d.baked_channels`)
counts as pruned and is masked again before ranking, so a pass never spends itself on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from edgeact.errors import EdgeactError
from edgeact.models.layers import MaskedBatchNorm3d, MaskedConv3d

Scope = Literal["global", "layer"]


@dataclass(frozen=True)
class LayerReport:
    name: str
    alive: int
    total: int


@dataclass(frozen=True)
class PruneReport:
    """Per-unit alive/total filters after a pruning call, and how many this call removed."""

    layers: tuple[LayerReport, ...]
    pruned_now: int = 0
    scope: str = ""
    ratio: float = 0.0

    @property
    def alive(self) -> int:
        return sum(r.alive for r in self.layers)

    @property
    def total(self) -> int:
        return sum(r.total for r in self.layers)

    @property
    def sparsity(self) -> float:
        """Fraction of the stacks' filters that are pruned."""
        return 1.0 - self.alive / self.total if self.total else 0.0

    def to_dict(self) -> dict:
        return {"scope": self.scope, "ratio": self.ratio, "pruned_now": self.pruned_now,
                "alive": self.alive, "total": self.total,
                "layers": [{"name": r.name, "alive": r.alive, "total": r.total} for r in self.layers]}


def prunable_units(model: nn.Module) -> list[tuple[str, MaskedConv3d, MaskedBatchNorm3d]]:
    """``(name, conv, bn)`` for every conv of the four stacks (not the stem, not the heads)."""
    backbone = getattr(model, "backbone", model)
    if not hasattr(backbone, "conv_bn_pairs"):
        raise EdgeactError(f"{type(model).__name__} has no prunable stacks (expected an edgeact model)")
    return list(backbone.conv_bn_pairs())


def filter_norms(conv: MaskedConv3d) -> torch.Tensor:
    """L2 norm of each output filter of ``conv``'s (masked) weight, ``(C_out,)`` float64."""
    w = conv.masked_weight().detach().double()
    return w.flatten(1).norm(dim=1)


def _alive(conv: MaskedConv3d, bn: MaskedBatchNorm3d) -> torch.Tensor:
    """``(C_out,)`` bool: filters neither masked nor baked to 0 by a compaction."""
    return (conv.filter_mask.detach() > 0) & ~bn.baked_channels().to(conv.filter_mask.device)


def mask_baked(model: nn.Module) -> int:
    """Mask (conv and BN) every channel a compaction baked to 0, so it counts as pruned and stays
    0 through training (:func:`keep_pruned`); returns how many were newly masked."""
    n = 0
    for _, conv, bn in prunable_units(model):
        baked = bn.baked_channels().to(conv.filter_mask.device) & (conv.filter_mask > 0)
        if baked.any():
            conv.set_mask(conv.filter_mask * ~baked)
            bn.set_mask(bn.channel_mask * ~baked.to(bn.channel_mask.device))
            n += int(baked.sum())
    return n


def pruning_report(model: nn.Module) -> PruneReport:
    """Alive/total filters per unit, without changing anything (baked channels count as pruned)."""
    return PruneReport(tuple(LayerReport(name, int(_alive(conv, bn).sum().item()), conv.out_channels)
                             for name, conv, bn in prunable_units(model)))


def _n_to_prune(ratio: float, alive: int) -> int:
    return int(ratio * alive + 0.5)


def prune_filters(model: nn.Module, ratio: float = 0.1, scope: Scope = "global") -> PruneReport:
    """Zero the ``ratio`` fraction of still-alive filters with the lowest L2 norm.

    Args:
        model: an edgeact model (its four stacks' conv units are pruned).
        ratio: fraction in (0, 1) of the currently alive filters to remove.
        scope: ``"global"`` ranks all units' filters together; ``"layer"`` ranks within each unit.

    Returns:
        The per-unit report after pruning. Ties in norm are broken by unit order, then filter
        index, so the result is deterministic.
    """
    if not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) < 1.0:
        raise EdgeactError(f"prune ratio must be in (0, 1), got {ratio!r}")
    if scope not in ("global", "layer"):
        raise EdgeactError(f"prune scope must be 'global' or 'layer', got {scope!r}")
    mask_baked(model)       # a compacted model's kept-dead channels are pruned already, not candidates
    units = prunable_units(model)
    norms = [filter_norms(conv) for _, conv, _ in units]
    masks = [conv.filter_mask.detach().clone() for _, conv, _ in units]
    pruned_now = 0
    if scope == "layer":
        for mask, norm in zip(masks, norms):
            alive_idx = torch.nonzero(mask > 0).flatten()
            n = min(_n_to_prune(ratio, len(alive_idx)), len(alive_idx) - 1)
            if n <= 0:
                continue
            order = alive_idx[torch.argsort(norm[alive_idx], stable=True)]
            mask[order[:n]] = 0
            pruned_now += n
    else:
        cand_norm, cand_unit, cand_idx = [], [], []
        for u, (mask, norm) in enumerate(zip(masks, norms)):
            alive_idx = torch.nonzero(mask > 0).flatten()
            cand_norm.append(norm[alive_idx])
            cand_unit.append(torch.full_like(alive_idx, u))
            cand_idx.append(alive_idx)
        all_norm, all_unit, all_idx = torch.cat(cand_norm), torch.cat(cand_unit), torch.cat(cand_idx)
        target = _n_to_prune(ratio, len(all_norm))
        alive_left = [int(m.sum().item()) for m in masks]
        # argsort over the concatenation is stable, so ties go to the earlier unit, lower index.
        for j in torch.argsort(all_norm, stable=True).tolist():
            if pruned_now >= target:
                break
            u, i = int(all_unit[j]), int(all_idx[j])
            if alive_left[u] <= 1:
                continue  # never empty a layer: its last filter survives
            masks[u][i] = 0
            alive_left[u] -= 1
            pruned_now += 1
    for (_, conv, bn), mask in zip(units, masks):
        conv.set_mask(mask)
        bn.set_mask(mask)
    apply_masks(model)
    report = pruning_report(model)
    return PruneReport(report.layers, pruned_now=pruned_now, scope=scope, ratio=float(ratio))


@torch.no_grad()
def apply_masks(model: nn.Module) -> None:
    """Zero the stored weights of pruned filters (conv weight, BN weight and bias)."""
    for _, conv, bn in prunable_units(model):
        if not conv.is_pruned:
            continue
        keep = conv.filter_mask
        conv.weight.mul_(keep.view(-1, 1, 1, 1, 1))
        if conv.bias is not None:
            conv.bias.mul_(keep)
        bn.weight.mul_(keep)
        bn.bias.mul_(keep)


def keep_pruned(optimizer: torch.optim.Optimizer, model: nn.Module):
    """Re-zero pruned weights after every ``optimizer.step()`` (momentum in Adam would otherwise
    move them in storage even though their gradient is zero). Returns the hook handle."""
    return optimizer.register_step_post_hook(lambda *_: apply_masks(model))

