"""Inflated ResNet (I3D-style) backbone: blocks -> stacks, after the paper's §3.2.

Inflation rules (the paper's §3.2, summarized in ``docs/method.md``): the stem's 7x7 conv stays 2D
(kernel 1x7x7, applied per frame), every 3x3 conv becomes 3x3x3 (temporal padding 1), 1x1 convs
stay 1x1x1, and nothing strides in time, so the clip keeps its T frames through all four stacks
and any ``T >= 1`` works.

Module names follow torchvision's 2D ResNet (``conv1``, ``bn1``, ``layerN.i.conv2``,
``downsample.0`` ...) under ``stem`` and ``stacks.{0..3}``, so 2D weights map onto them by name
(see :mod:`edgeact.models.inflate`).
"""

from __future__ import annotations

from typing import Iterator, Literal, Mapping, Optional, Sequence

import torch
from torch import nn

from edgeact.models.layers import MaskedBatchNorm3d, MaskedConv3d

BlockKind = Literal["basic", "bottleneck"]


def conv3x3x3(in_ch: int, out_ch: int, stride: int = 1) -> MaskedConv3d:
    """3x3x3 conv, spatial stride only: ``(B, in, T, H, W) -> (B, out, T, H/s, W/s)``."""
    return MaskedConv3d(in_ch, out_ch, kernel_size=3, stride=(1, stride, stride), padding=1, bias=False)


def conv1x1x1(in_ch: int, out_ch: int, stride: int = 1) -> MaskedConv3d:
    """1x1x1 conv, spatial stride only."""
    return MaskedConv3d(in_ch, out_ch, kernel_size=1, stride=(1, stride, stride), bias=False)


class BasicBlock3d(nn.Module):
    """Two 3x3x3 convs with a residual connection (ResNet-18/34).

    ``widths`` overrides the output widths ``(conv1, conv2)`` (a compacted model, see
    :mod:`edgeact.compact`); by default both are ``planes``.
    """

    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 *, widths: Optional[Sequence[int]] = None):
        super().__init__()
        c1, c2 = widths if widths is not None else (planes, planes)
        self.conv1 = conv3x3x3(in_ch, c1, stride)
        self.bn1 = MaskedBatchNorm3d(c1)
        self.conv2 = conv3x3x3(c1, c2)
        self.bn2 = MaskedBatchNorm3d(c2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck3d(nn.Module):
    """1x1x1 -> 3x3x3 (strided, as torchvision's ResNet v1.5) -> 1x1x1 x4 (ResNet-50/101).

    ``widths`` overrides the output widths ``(conv1, conv2, conv3)`` (a compacted model); by
    default they are ``(planes, planes, 4 * planes)``.
    """

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 *, widths: Optional[Sequence[int]] = None):
        super().__init__()
        c1, c2, c3 = widths if widths is not None else (planes, planes, planes * self.expansion)
        self.conv1 = conv1x1x1(in_ch, c1)
        self.bn1 = MaskedBatchNorm3d(c1)
        self.conv2 = conv3x3x3(c1, c2, stride)
        self.bn2 = MaskedBatchNorm3d(c2)
        self.conv3 = conv1x1x1(c2, c3)
        self.bn3 = MaskedBatchNorm3d(c3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


BLOCKS: dict[str, type[nn.Module]] = {"basic": BasicBlock3d, "bottleneck": Bottleneck3d}


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


def channel_keys(block: BlockKind, layers: Sequence[int]) -> list[str]:
    """The keys a ``channels`` mapping may hold for this architecture: each stack's residual
    stream ``"stacks.{k}"`` and each inner conv ``"stacks.{k}.{i}.conv{j}"`` (the convs whose
    outputs do not join a residual sum)."""
    n_inner = 2 if block == "bottleneck" else 1
    keys = []
    for k, n_blocks in enumerate(layers):
        keys.append(f"stacks.{k}")
        keys += [f"stacks.{k}.{i}.conv{j}" for i in range(n_blocks) for j in range(1, n_inner + 1)]
    return keys


class Stem(nn.Module):
    """Per-frame 1x7x7 conv (stride 2) + BN + ReLU + 1x3x3 max pool (stride 2).

    ``(B, 3, T, H, W) -> (B, C, T, H/4, W/4)`` (ceil-rounded as in torchvision).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = MaskedConv3d(in_channels, out_channels, kernel_size=(1, 7, 7),
                                  stride=(1, 2, 2), padding=(0, 3, 3), bias=False)
        self.bn1 = MaskedBatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))


class ResNet3d(nn.Module):
    """The four-stack inflated backbone. ``forward`` returns each stack's output.

    Input ``(B, in_channels, T, H, W)`` with ``T >= 1``, ``H, W >= 32``; stack ``k`` (0-based)
    outputs ``(B, out_channels[k], T, H/2^(k+2), W/2^(k+2))`` (ceil-rounded).

    ``channels`` (optional) gives non-uniform widths, as a compacted model has them (see
    :func:`channel_keys`): ``"stacks.{k}"`` is the width of stack ``k``'s residual stream (its
    output, every block's last conv and the downsample conv), ``"stacks.{k}.{i}.conv{j}"`` the
    output width of an inner conv (conv1 of a basic block, conv1/conv2 of a bottleneck). Missing
    keys keep the width that ``width`` gives. Which blocks have a downsample is decided by the
    nominal widths, so narrowing never changes the topology.
    """

    def __init__(self, block: BlockKind, layers: tuple[int, int, int, int], *,
                 width: float = 1.0, in_channels: int = 3, channels: Optional[Mapping[str, int]] = None):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"unknown block kind {block!r}")
        block_cls = BLOCKS[block]
        self.block = block
        self.layers = tuple(layers)
        channels = dict(channels or {})
        unknown = set(channels) - set(channel_keys(block, self.layers))
        if unknown:
            raise ValueError(f"unknown channel key(s) for this architecture: {sorted(unknown)}")
        stem_ch = _scaled(64, width)
        self.stem = Stem(in_channels, stem_ch)
        stacks = []
        in_ch, nominal_in = stem_ch, stem_ch
        self.out_channels: list[int] = []
        for k, (planes, n_blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            planes = _scaled(planes, width)
            stride = 1 if k == 0 else 2
            nominal_out = planes * block_cls.expansion
            out_ch = channels.get(f"stacks.{k}", nominal_out)
            blocks = []
            for i in range(n_blocks):
                s = stride if i == 0 else 1
                downsample = None
                if i == 0 and (s != 1 or nominal_in != nominal_out):
                    downsample = nn.Sequential(conv1x1x1(in_ch, out_ch, s), MaskedBatchNorm3d(out_ch))
                elif i == 0 and in_ch != out_ch:
                    raise ValueError(f"stack {k} has no downsample, so its stream width must equal its "
                                     f"input width {in_ch}, got {out_ch}")
                inner = [channels.get(f"stacks.{k}.{i}.conv{j}", planes)
                         for j in range(1, (3 if block == "bottleneck" else 2))]
                blocks.append(block_cls(in_ch, planes, s, downsample, widths=(*inner, out_ch)))
                in_ch = out_ch
            nominal_in = nominal_out
            stacks.append(nn.Sequential(*blocks))
            self.out_channels.append(in_ch)
        self.stacks = nn.ModuleList(stacks)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, C, T, H, W)`` -> list of the four stacks' feature maps."""
        x = self.stem(x)
        feats = []
        for stack in self.stacks:
            x = stack(x)
            feats.append(x)
        return feats

    def conv_bn_pairs(self) -> Iterator[tuple[str, MaskedConv3d, MaskedBatchNorm3d]]:
        """Every conv of the four stacks with the batch norm that follows it, as
        ``(qualified conv name, conv, bn)``: the units that pruning switches off together."""
        for k, stack in enumerate(self.stacks):
            for i, blk in enumerate(stack):
                prefix = f"stacks.{k}.{i}"
                n_convs = 3 if isinstance(blk, Bottleneck3d) else 2
                for j in range(1, n_convs + 1):
                    yield f"{prefix}.conv{j}", getattr(blk, f"conv{j}"), getattr(blk, f"bn{j}")
                if blk.downsample is not None:
                    yield f"{prefix}.downsample.0", blk.downsample[0], blk.downsample[1]
