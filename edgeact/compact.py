"""Physical removal of pruned filters: a masked model -> a dense, narrower one.

:func:`edgeact.pruning.prune_filters` only *zeroes* filters (keep-masks on each conv and the batch
norm after it), so a pruned model costs as much as the unpruned one. :func:`compact` rebuilds the
model without those channels, so the saving becomes real compute. A channel is dead when its batch
norm's ``channel_mask`` is 0: the masked BN then outputs exactly 0, whatever the conv does.

The plan walks :meth:`ResNet3d.conv_bn_pairs <edgeact.models.resnet3d.ResNet3d.conv_bn_pairs>`
and keys every unit by its conv's name, the same names ``ModelConfig.channels`` uses. What may be
removed:

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
runs without the mask multiplies. Baked channels are recognized by their zero BN affine
(:meth:`MaskedBatchNorm3d.baked_channels <edgeact.models.layers.MaskedBatchNorm3d.baked_channels>`):
pruning counts them as pruned, a later pruning pass masks them again instead of spending itself on
their zero-norm filters, and a second compaction removes them once no branch writes their stream.
In eval mode the outputs equal the masked model's up to float summation order.

The new per-layer widths go into ``ModelConfig.channels`` (and ``extra["compacted"] = True``), so a
compacted model saves and loads through :mod:`edgeact.checkpoint` like any other.
"""

from __future__ import annotations

import dataclasses

import torch

from edgeact.errors import EdgeactError
from edgeact.models.layers import MaskedBatchNorm3d, MaskedConv3d
from edgeact.models.network import HierarchicalI3D
from edgeact.models.registry import model_from_config
from edgeact.models.resnet3d import ResNet3d, channel_keys

Unit = tuple[MaskedConv3d, MaskedBatchNorm3d]


def _indices(alive: torch.Tensor) -> torch.Tensor:
    """Indices of the live channels, or ``[0]`` when none is: a layer never becomes empty."""
    idx = torch.nonzero(alive.detach().cpu()).flatten()
    return idx if len(idx) else torch.zeros(1, dtype=torch.long)


def _split(name: str) -> tuple[int, int, str]:
    """``"stacks.{k}.{i}.{conv}"`` -> ``(k, i, conv)``, e.g. ``(1, 0, "downsample.0")``."""
    _, k, i, conv = name.split(".", 3)
    return int(k), int(i), conv


def _plan(backbone: ResNet3d) -> tuple[torch.Tensor, list[torch.Tensor], dict[str, torch.Tensor]]:
    """Kept channel indices: of the stem output, of each stack's stream, and of every unit's
    output (keyed by conv name; a stream unit gets its stream's indices)."""
    stem_keep = torch.arange(backbone.stem.conv1.out_channels)
    inner_names = set(channel_keys(backbone.block, backbone.layers))
    units = list(backbone.conv_bn_pairs())
    stream_alive: dict[int, torch.Tensor] = {}
    keep: dict[str, torch.Tensor] = {}
    for name, _, bn in units:
        if name in inner_names:
            keep[name] = _indices(bn.alive_channels())
        else:  # a block's last conv or a downsample: it writes into stack k's residual stream
            k = _split(name)[0]
            alive = bn.alive_channels().cpu()
            stream_alive[k] = alive if k not in stream_alive else stream_alive[k] | alive
    names = {name for name, _, _ in units}
    streams: list[torch.Tensor] = []
    for k in range(len(backbone.stacks)):
        if f"stacks.{k}.0.downsample.0" in names:
            streams.append(_indices(stream_alive[k]))
        elif k == 0:
            # the identity carries the never-pruned stem output into every channel of the stream
            streams.append(stem_keep)
        else:  # every later stack strides, so ResNet3d always gives it a downsample
            raise EdgeactError(f"compact: stack {k} has no downsample; only stack 0 may lack one")
    for name, _, _ in units:
        keep.setdefault(name, streams[_split(name)[0]])
    return stem_keep, streams, keep


def _input_indices(name: str, stem_keep: torch.Tensor, streams: list[torch.Tensor],
                   keep: dict[str, torch.Tensor]) -> torch.Tensor:
    """Kept input channels of unit ``name``: its block's input for conv1 and the downsample, the
    previous conv's kept outputs otherwise."""
    k, i, conv = _split(name)
    if conv == "conv1" or conv.startswith("downsample"):
        if i > 0:
            return streams[k]
        return streams[k - 1] if k > 0 else stem_keep
    return keep[f"stacks.{k}.{i}.conv{int(conv.removeprefix('conv')) - 1}"]


@torch.no_grad()
def _copy_unit(src: Unit, dst: Unit, out_idx: torch.Tensor, in_idx: torch.Tensor) -> None:
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
    src = model.backbone
    stem_keep, streams, keep = _plan(src)
    inner = set(channel_keys(src.block, src.layers))
    channels = {f"stacks.{k}": len(s) for k, s in enumerate(streams)}
    channels.update({name: len(idx) for name, idx in keep.items() if name in inner})
    config = dataclasses.replace(model.config, channels=channels,
                                 extra={**model.config.extra, "compacted": True})
    ref = next(model.parameters())
    new = model_from_config(config).to(device=ref.device, dtype=ref.dtype)

    dst = new.backbone
    _copy_unit((src.stem.conv1, src.stem.bn1), (dst.stem.conv1, dst.stem.bn1), stem_keep,
               torch.arange(src.stem.conv1.in_channels))
    for (name, sconv, sbn), (dname, dconv, dbn) in zip(src.conv_bn_pairs(), dst.conv_bn_pairs()):
        assert name == dname, (name, dname)  # same architecture, so the same units in the same order
        _copy_unit((sconv, sbn), (dconv, dbn), keep[name], _input_indices(name, stem_keep, streams, keep))
    with torch.no_grad():
        for key, shead in model.heads.heads.items():
            dhead = new.heads.heads[key]
            cols = streams[int(key)].to(shead.fc.weight.device)
            dhead.fc.weight.copy_(shead.fc.weight[:, cols])
            dhead.fc.bias.copy_(shead.fc.bias)
    return new.train(model.training)
