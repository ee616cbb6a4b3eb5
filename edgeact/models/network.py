"""The full classifier: :class:`ModelConfig` (what rebuilds a model, stored in every artifact) and
:class:`HierarchicalI3D`, an inflated ResNet backbone with a head after each stack (paper §3.2)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import torch
from torch import nn

from edgeact.errors import EdgeactError
from edgeact.models.heads import StackHeads
from edgeact.models.resnet3d import ResNet3d


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; stored in every artifact.

    ``levels`` are the superclass counts of the heads after stacks 1, 2, 3 (coarse to fine,
    ``None`` for no head), or ``()`` for no superclass heads. ``channels`` is ``None`` for the
    uniform network ``width`` gives, or the non-uniform widths of a compacted model (stream width
    per stack ``"stacks.{k}"`` and inner conv widths ``"stacks.{k}.{i}.conv{j}"``, see
    :class:`~edgeact.models.resnet3d.ResNet3d`); it is written to JSON only when set.
    """

    arch: str
    num_classes: int
    levels: tuple[Optional[int], ...] = ()
    width: float = 1.0
    in_channels: int = 3
    extra: dict = field(default_factory=dict)
    channels: Optional[dict[str, int]] = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["levels"] = list(self.levels)
        if self.channels is None:
            del d["channels"]  # uniform models keep the exact JSON they always had
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        return cls(arch=d["arch"], num_classes=int(d["num_classes"]), levels=tuple(d.get("levels", ())),
                   width=float(d.get("width", 1.0)), in_channels=int(d.get("in_channels", 3)),
                   extra=dict(d.get("extra", {})), channels=_channels_from_json(d.get("channels")))

    @property
    def head_counts(self) -> tuple[Optional[int], ...]:
        """Output size of the head after each of the four stacks (``None`` = no head)."""
        levels = self.levels if self.levels else (None, None, None)
        return (*levels, self.num_classes)


def _channels_from_json(value) -> Optional[dict[str, int]]:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, int) and not isinstance(v, bool)
                                              for v in value.values()):
        raise EdgeactError(f"model config 'channels' must map layer names to integer widths, got {value!r:.80}")
    return {str(k): int(v) for k, v in value.items()}


class HierarchicalI3D(nn.Module):
    """Inflated ResNet with superclass heads after stacks 1-3 and the fine head after stack 4.

    The interface follows timm's models: :meth:`forward_features` runs the backbone,
    :meth:`forward_head` the heads, and ``forward(x) = forward_head(forward_features(x))``.
    ``x`` is ``(B, C, T, H, W)`` with ``T >= 1``, ``H, W >= 32``; ``forward`` returns a tuple of
    logits, one ``(B, M_l)`` tensor per active head, coarse to fine, the fine
    ``(B, num_classes)`` logits last.
    """

    def __init__(self, config: ModelConfig, backbone: ResNet3d):
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.heads = StackHeads(backbone.out_channels, config.head_counts)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, C, T, H, W)`` -> the four stacks' outputs, not pooled: ``(B, C_k, T, H_k, W_k)``
        for stack ``k``, ``H_k = ceil(H / 2^(k+2))`` (each head pools the stack it reads)."""
        if x.dim() != 5:
            raise ValueError(f"expected input of shape (B, C, T, H, W), got {tuple(x.shape)}")
        return self.backbone(x)

    def forward_head(self, features: Sequence[torch.Tensor], pre_logits: bool = False) -> tuple[torch.Tensor, ...]:
        """The four stacks' outputs -> one tensor per active head, coarse to fine, fine last:
        the logits ``(B, M_l)``, or with ``pre_logits`` the pooled features ``(B, C_k)`` that
        head's Linear reads."""
        return self.heads(features, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(B, C, T, H, W)`` -> tuple of logits ``(B, M_l)`` per active head, fine last."""
        return self.forward_head(self.forward_features(x))
