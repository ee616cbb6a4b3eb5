"""Parameter and FLOP accounting per stage (stem, stacks 1-4, each head).

FLOPs are counted analytically from layer shapes with forward hooks on a ``meta``-device copy of
the model, so summarising ``i3d_r101`` at 8x224x224 costs no real compute or memory. One
multiply-add counts as one MAC; GFLOPs are reported as 2 x MACs, the usual convention.
Pruned (masked) filters are not subtracted: they still cost time until they are removed physically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn

from edgeact.models.inflate import inflate_2d_weights, load_2d_state_dict
from edgeact.models.network import HierarchicalI3D
from edgeact.models.registry import create_model


@dataclass(frozen=True)
class StageRow:
    name: str
    params: int
    macs: int
    out_shape: tuple[int, ...]


@dataclass(frozen=True)
class ModelSummary:
    arch: str
    input_shape: tuple[int, ...]
    rows: tuple[StageRow, ...]
    pretrained: Optional[str] = None

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)


def _layer_macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(module, nn.Conv3d):
        k = module.weight.shape[1] * module.weight[0, 0].numel()  # C_in/groups * kT*kH*kW
        return out.numel() * k
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    return 0


def run_counting_macs(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``module(x)`` and the MACs of the convs and linears inside ``module`` for that call."""
    total = 0

    def hook(m, args, out):
        nonlocal total
        total += _layer_macs(m, args[0], out)

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv3d, nn.Linear))]
    try:
        out = module(x)
    finally:
        for h in handles:
            h.remove()
    return out, total


def stage_table(model: HierarchicalI3D, input_shape: Sequence[int]) -> tuple[StageRow, ...]:
    """Rows for the stem, each stack and each head, for an input ``(B, C, T, H, W)``.

    The model is copied to the ``meta`` device; the original is untouched.
    """
    import copy

    meta = copy.deepcopy(model).to("meta").eval()
    rows: list[StageRow] = []

    def row(name: str, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out, macs = run_counting_macs(module, x)
        rows.append(StageRow(name, sum(p.numel() for p in module.parameters()), macs, tuple(out.shape)))
        return out

    with torch.no_grad():
        h = row("stem", meta.backbone.stem, torch.empty(*input_shape, device="meta"))
        feats = []
        for k, stack in enumerate(meta.backbone.stacks):
            h = row(f"stack {k + 1}", stack, h)
            feats.append(h)
        for key, head in meta.heads.heads.items():
            k = int(key)
            row("fine head" if k == 3 else f"head {k + 1} (superclasses)", head, feats[k])
    return tuple(rows)


def model_summary(arch: str, *, num_classes: int, levels: Sequence[Optional[int]] = (), width: float = 1.0,
                  frames: int = 8, size: int = 224, batch: int = 1,
                  pretrained_2d: Optional[Path] = None) -> ModelSummary:
    """Build ``arch`` (optionally inflating 2D weights) and account its cost at ``frames x size²``."""
    from edgeact.errors import EdgeactError

    if frames < 1:
        raise EdgeactError(f"must be >= 1, got {frames}", param="frames")
    if size < 32:
        raise EdgeactError(f"must be >= 32 (the network downsamples by 32), got {size}", param="size")
    model = create_model(arch, num_classes=num_classes, levels=levels, width=width)
    if pretrained_2d is not None:
        inflate_2d_weights(model, load_2d_state_dict(pretrained_2d), source=str(pretrained_2d))
    shape = (batch, model.config.in_channels, frames, size, size)
    return ModelSummary(arch=arch, input_shape=shape, rows=stage_table(model, shape),
                        pretrained=str(pretrained_2d) if pretrained_2d else None)


def render_summary(summary: ModelSummary, console) -> None:
    """Print ``summary`` as a Rich table."""
    from rich.table import Table

    shape = "x".join(str(s) for s in summary.input_shape)
    table = Table(title=f"{summary.arch}  input {shape} (B, C, T, H, W)", title_justify="left")
    for col in ("stage", "output shape", "params", "GMACs", "GFLOPs"):
        table.add_column(col, justify="left" if col in ("stage", "output shape") else "right")
    for r in summary.rows:
        table.add_row(r.name, "x".join(str(s) for s in r.out_shape), f"{r.params / 1e6:.3f}M",
                      f"{r.macs / 1e9:.3f}", f"{2 * r.macs / 1e9:.3f}")
    table.add_section()
    table.add_row("total", "", f"{summary.total_params / 1e6:.3f}M", f"{summary.total_macs / 1e9:.3f}",
                  f"{2 * summary.total_macs / 1e9:.3f}", style="bold")
    console.print(table)
    if summary.pretrained:
        console.print(f"backbone inflated from 2D weights: {summary.pretrained}", markup=False, soft_wrap=True)
