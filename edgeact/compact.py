"""Physical removal of pruned filters: a masked model -> a dense, narrower one (issue #6).

:func:`edgeact.pruning.prune_filters` only *zeroes* filters (keep-masks on each conv and the batch
norm after it), so a pruned model costs as much as the unpruned one. :func:`compact` rebuilds the
model without those channels, so the saving becomes real compute. A channel is dead when its batch
norm's ``channel_mask`` is 0: the masked BN then outputs exactly 0, whatever the conv does.

What may be removed:

- Inner convs (conv1 of a basic block; conv1, conv2 of a bottleneck) feed only the next conv of
  their block: each dead channel goes, with the matching input channels of that next conv.
- A residual stream (stack ``k``'s output: every block's last conv/bn and the first block's
  downsample conv/bn, added together through the identities) loses a channel only when it is dead
  in *every* contributor; otherwise one live branch still writes into it and it stays. A removed
  stream channel also goes from the inputs of every block's conv1, of the next stack's first conv1
  and downsample, and of stack ``k``'s head (columns of its Linear). A stack without a downsample
  (stack 0 of the basic-block nets) adds the stem's output, which is never pruned, so its stream
  keeps every channel.
- A layer keeps at least one channel even when all of its filters are dead.

A dead channel that has to stay is baked in: its conv filter and BN weight and bias are zeroed, so
it still outputs exactly 0 with all-ones masks. The compacted model's masks are all ones, so it
runs without the mask multiplies. Pruning recognizes baked channels by their zero BN affine
(:func:`edgeact.pruning.baked_channels`): the report counts them as pruned, a later pruning pass
masks them again instead of spending itself on their zero-norm filters, and a second compaction
removes them once no branch writes their stream. In eval mode the outputs equal the masked
model's up to float summation order.

The new per-layer widths go into ``ModelConfig.channels`` (and ``extra["compacted"] = True``), so a
compacted model saves and loads through :mod:`edgeact.checkpoint` like any other.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from edgeact.errors import EdgeactError
from edgeact.models.layers import MaskedBatchNorm3d, MaskedConv3d
from edgeact.models.network import HierarchicalI3D
from edgeact.models.registry import model_from_config
from edgeact.models.resnet3d import Bottleneck3d
from edgeact.pruning import baked_channels


def _alive(bn: MaskedBatchNorm3d) -> torch.Tensor:
    """``(C,)`` bool: the channels whose output is not forced to 0: not masked in the BN and not
    baked to 0 by an earlier compaction (BN weight and bias 0). A conv masked without its BN
    still outputs the constant BN(0), so it stays alive."""
    return ((bn.channel_mask != 0) & ~baked_channels(bn)).detach().cpu()


def _indices(alive: torch.Tensor) -> torch.Tensor:
    """Indices of the live channels, or ``[0]`` when none is: a layer never becomes empty."""
    idx = torch.nonzero(alive).flatten()
    return idx if len(idx) else torch.zeros(1, dtype=torch.long)


def _convs(block: nn.Module) -> list[tuple[MaskedConv3d, MaskedBatchNorm3d]]:
    n = 3 if isinstance(block, Bottleneck3d) else 2
    return [(getattr(block, f"conv{j}"), getattr(block, f"bn{j}")) for j in range(1, n + 1)]


def _plan(model: HierarchicalI3D) -> tuple[torch.Tensor, list[torch.Tensor], dict[str, torch.Tensor]]:
    """Kept channel indices: of the stem output, of each stack's stream, of each inner conv."""
    backbone = model.backbone
    stem_keep = torch.arange(backbone.stem.conv1.out_channels)
    streams: list[torch.Tensor] = []
    inner: dict[str, torch.Tensor] = {}
    for k, stack in enumerate(backbone.stacks):
        blocks = list(stack)
        down = blocks[0].downsample
        if down is None:
            if k != 0:  # every later stack strides, so ResNet3d always gives it a downsample
                raise EdgeactError(f"compact: stack {k} has no downsample; only stack 0 may lack one")
            # the identity carries the never-pruned stem output into every channel of the stream
            streams.append(stem_keep)
        else:
            alive = _alive(down[1])
            for blk in blocks:
                alive = alive | _alive(_convs(blk)[-1][1])
            streams.append(_indices(alive))
        for i, blk in enumerate(blocks):
            for j, (_, bn) in enumerate(_convs(blk)[:-1], start=1):
                inner[f"stacks.{k}.{i}.conv{j}"] = _indices(_alive(bn))
    return stem_keep, streams, inner


@torch.no_grad()
def _copy_unit(src: tuple[MaskedConv3d, MaskedBatchNorm3d], dst: tuple[MaskedConv3d, MaskedBatchNorm3d],
               out_idx: torch.Tensor, in_idx: torch.Tensor) -> None:
    """Copy the kept ``(out, in)`` slice of a conv and its BN, baking both masks into the values."""
    (sconv, sbn), (dconv, dbn) = src, dst
    dev = sconv.weight.device
    o, i = out_idx.to(dev), in_idx.to(dev)
    fmask = sconv.filter_mask[o].view(-1, 1, 1, 1, 1)
    dconv.weight.copy_(sconv.weight[o][:, i] * fmask)
    if sconv.bias is not None:
        dconv.bias.copy_(sconv.bias[o])
    cmask = sbn.channel_mask[o]
    dead = cmask == 0
    dbn.weight.copy_(sbn.weight[o] * cmask)
    dbn.bias.copy_(sbn.bias[o] * cmask)
    # running stats of a dead channel are irrelevant once its affine is 0; neutral values keep
    # them finite and obviously unused
    dbn.running_mean.copy_(torch.where(dead, torch.zeros_like(cmask), sbn.running_mean[o]))
    dbn.running_var.copy_(torch.where(dead, torch.ones_like(cmask), sbn.running_var[o]))
    dbn.num_batches_tracked.copy_(sbn.num_batches_tracked)


def compact(model: HierarchicalI3D) -> HierarchicalI3D:
    """A dense copy of ``model`` without its pruned channels (see the module docstring).

    Args:
        model: an edgeact model, pruned by :func:`edgeact.pruning.prune_filters` or not.

    Returns:
        A new :class:`HierarchicalI3D` on the same device and dtype, in the same train/eval mode,
        mapping ``(B, C, T, H, W)`` to the same tuple of logits as ``model`` (exactly up to float
        rounding in eval mode), with all-ones masks and narrower layers recorded in
        ``config.channels``. ``model`` is not changed.
    """
    if not isinstance(model, HierarchicalI3D):
        raise EdgeactError(f"compact needs an edgeact model (HierarchicalI3D), got {type(model).__name__}")
    stem_keep, streams, inner = _plan(model)
    channels = {f"stacks.{k}": len(s) for k, s in enumerate(streams)}
    channels.update({key: len(idx) for key, idx in inner.items()})
    config = dataclasses.replace(model.config, channels=channels,
                                 extra={**model.config.extra, "compacted": True})
    ref = next(model.parameters())
    new = model_from_config(config).to(device=ref.device, dtype=ref.dtype)

    src, dst = model.backbone, new.backbone
    _copy_unit((src.stem.conv1, src.stem.bn1), (dst.stem.conv1, dst.stem.bn1), stem_keep,
               torch.arange(src.stem.conv1.in_channels))
    prev = stem_keep
    for k, (sstack, dstack) in enumerate(zip(src.stacks, dst.stacks)):
        stream = streams[k]
        for i, (sblk, dblk) in enumerate(zip(sstack, dstack)):
            block_in = prev if i == 0 else stream
            if sblk.downsample is not None:
                _copy_unit((sblk.downsample[0], sblk.downsample[1]), (dblk.downsample[0], dblk.downsample[1]),
                           stream, block_in)
            s_units, d_units = _convs(sblk), _convs(dblk)
            in_idx = block_in
            for j, (su, du) in enumerate(zip(s_units, d_units), start=1):
                out_idx = stream if j == len(s_units) else inner[f"stacks.{k}.{i}.conv{j}"]
                _copy_unit(su, du, out_idx, in_idx)
                in_idx = out_idx
        prev = stream
    with torch.no_grad():
        for key, shead in model.heads.heads.items():
            dhead = new.heads.heads[key]
            cols = streams[int(key)].to(shead.fc.weight.device)
            dhead.fc.weight.copy_(shead.fc.weight[:, cols])
            dhead.fc.bias.copy_(shead.fc.bias)
    return new.train(model.training)
