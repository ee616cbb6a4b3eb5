"""Maskable layers: a 3D convolution and a batch norm that carry a per-filter keep-mask.

Pruning (``edgeact.pruning``) zeroes whole filters. The mask lives *in the layer* as a buffer so
that it travels with every ``state_dict`` (checkpoints, resumes) and the forward pass always uses
the masked weights, whatever an optimizer did to the stored values in between. Each conv filter is
paired with the channel of the batch norm that follows it; masking both makes a pruned channel
exactly zero (not the BN's constant bias), which is what lets ``edgeact.compact`` remove it.

A channel can also be *baked* to zero: its BN weight and bias are both exactly 0, so it outputs 0
with an all-ones mask. That is how compaction leaves a dead channel it has to keep;
:meth:`MaskedBatchNorm3d.baked_channels` and :meth:`MaskedBatchNorm3d.alive_channels` read that
state for pruning and compaction alike.

Shapes: ``filter_mask`` / ``channel_mask`` are ``(C_out,)`` float tensors of 0s and 1s.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _Maskable:
    """Keeps a Python flag in step with the mask buffer so an unpruned layer skips the multiply
    (a full-activation multiply per batch norm is not free on a CPU)."""

    mask_name: str

    def _init_mask(self, channels: int) -> None:
        self.register_buffer(self.mask_name, torch.ones(channels))
        self.is_pruned = False
        self.register_load_state_dict_post_hook(lambda module, _keys: module.refresh_mask())

    @property
    def mask(self) -> torch.Tensor:
        return getattr(self, self.mask_name)

    def set_mask(self, mask: torch.Tensor) -> None:
        """Replace the keep-mask (``(C,)`` of 0/1) in place, keeping device and dtype."""
        with torch.no_grad():
            self.mask.copy_(mask.to(self.mask))
        self.refresh_mask()

    def refresh_mask(self) -> None:
        self.is_pruned = bool((self.mask == 0).any())


class MaskedConv3d(_Maskable, nn.Conv3d):
    """``nn.Conv3d`` whose output filters can be switched off by ``filter_mask``.

    Input ``(B, C_in, T, H, W)`` -> output ``(B, C_out, T', H', W')``.
    """

    mask_name = "filter_mask"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_mask(self.out_channels)

    def masked_weight(self) -> torch.Tensor:
        """The weight with pruned filters zeroed, ``(C_out, C_in, kT, kH, kW)``; gradients of
        pruned filters are zero through the multiplication."""
        if not self.is_pruned:
            return self.weight
        return self.weight * self.filter_mask.view(-1, 1, 1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv3d(x, self.masked_weight(), self.bias, self.stride, self.padding,
                        self.dilation, self.groups)


class MaskedBatchNorm3d(_Maskable, nn.BatchNorm3d):
    """``nn.BatchNorm3d`` whose output channels can be switched off by ``channel_mask``.

    Input and output ``(B, C, T, H, W)``.
    """

    mask_name = "channel_mask"

    def __init__(self, num_features: int, **kwargs) -> None:
        super().__init__(num_features, **kwargs)
        self._init_mask(num_features)

    def baked_channels(self) -> torch.Tensor:
        """``(C,)`` bool: channels whose weight and bias are both exactly 0, so they output 0
        whatever comes in (a trained live channel is never exactly 0 in both)."""
        return (self.weight.detach() == 0) & (self.bias.detach() == 0)

    def alive_channels(self) -> torch.Tensor:
        """``(C,)`` bool: channels whose output is not forced to 0, neither masked nor baked."""
        return (self.channel_mask.detach() != 0) & ~self.baked_channels()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        if not self.is_pruned:
            return out
        return out * self.channel_mask.view(1, -1, 1, 1, 1)
