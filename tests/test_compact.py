"""Physical removal of pruned filters (edgeact.compact): same outputs, fewer parameters."""

import json

import pytest
import torch
from torch import nn

from edgeact.checkpoint import build_meta, load_checkpoint, save_checkpoint
from edgeact.compact import compact
from edgeact.data.classes import ClassList
from edgeact.errors import EdgeactError
from edgeact.models import ModelConfig, create_model, model_from_config
from edgeact.models.layers import MaskedBatchNorm3d, MaskedConv3d
from edgeact.pruning import apply_masks, prune_filters, pruning_report
from edgeact.types import InputSpec

X_SHAPE = (2, 3, 4, 32, 32)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def randomize_bn(model: nn.Module) -> None:
    """Non-trivial BN statistics and affine: a dead channel kept with BN(0) != 0 would show."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
                m.weight.copy_(1 + 0.3 * torch.randn(c, generator=g))
                m.bias.copy_(0.3 * torch.randn(c, generator=g))


def spread_filter_norms(model: nn.Module) -> None:
    """Filter norms around 1 in every layer, varied per filter: the fan-out init would otherwise
    give the expanding convs (downsample, bottleneck conv3) the smallest norms, so global pruning
    would hit only residual-stream units and might remove nothing physically."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv3d):
                fan_in = m.weight[0].numel()
                scale = 0.5 + torch.rand(m.out_channels, 1, 1, 1, 1, generator=g)
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * scale / fan_in ** 0.5)


def make(arch: str, width: float = 0.125) -> nn.Module:
    model = create_model(arch, num_classes=5, levels=(2, 3, 4), width=width)
    spread_filter_norms(model)
    randomize_bn(model)
    return model.eval()


@torch.no_grad()
def assert_same_outputs(a: nn.Module, b: nn.Module, x: torch.Tensor) -> None:
    out_a, out_b = a(x), b(x)
    assert len(out_a) == len(out_b) == 4
    for ya, yb in zip(out_a, out_b):
        assert ya.shape == yb.shape
        assert torch.allclose(ya, yb, atol=1e-4, rtol=0), (ya - yb).abs().max()


def is_dead(conv: MaskedConv3d, bn: MaskedBatchNorm3d) -> torch.Tensor:
    """``(C,)`` bool: channels whose eval output is exactly 0 whatever the input (masked, or a BN
    with zero weight and bias)."""
    return (bn.channel_mask == 0) | ((bn.weight == 0) & (bn.bias == 0))


def last_unit(block):
    j = 3 if hasattr(block, "conv3") else 2
    return getattr(block, f"conv{j}"), getattr(block, f"bn{j}")


def assert_nothing_removable_left(model: nn.Module) -> None:
    for k, stack in enumerate(model.backbone.stacks):
        blocks = list(stack)
        for i, blk in enumerate(blocks):
            inner = [(blk.conv1, blk.bn1)] + ([(blk.conv2, blk.bn2)] if hasattr(blk, "conv3") else [])
            for j, (conv, bn) in enumerate(inner, start=1):
                assert not is_dead(conv, bn).any(), f"stacks.{k}.{i}.conv{j} keeps a dead channel"
        if blocks[0].downsample is None:
            continue  # the stem feeds this stream: nothing of it may go
        dead_everywhere = is_dead(*blocks[0].downsample)
        for blk in blocks:
            dead_everywhere &= is_dead(*last_unit(blk))
        assert not dead_everywhere.any(), f"stream of stack {k} keeps a channel dead in every branch"


@pytest.mark.parametrize("arch,width", [("i3d_r18", 0.125), ("i3d_r34", 0.125), ("i3d_r50", 0.125),
                                        ("i3d_r101", 0.125)])
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_compacted_model_matches_masked_model(arch, width, scope):
    model = make(arch, width)
    x = torch.randn(*X_SHAPE)
    for new_passes in (1, 2):  # compact after 1, then after 3 passes in all
        for _ in range(new_passes):
            prune_filters(model, 0.1, scope)
        small = compact(model)
        assert small is not model and small.training is False
        assert_same_outputs(model, small, x)
        assert n_params(small) < n_params(model)
        assert small.config.extra["compacted"] is True
        for _, conv, bn in small.backbone.conv_bn_pairs():
            assert bool((conv.filter_mask == 1).all()) and bool((bn.channel_mask == 1).all())
            assert not conv.is_pruned and not bn.is_pruned
        # the pruning report survives compaction (kept dead channels are baked to 0 and counted
        # as pruned): the same live filters as the masked model
        assert pruning_report(small).alive == pruning_report(model).alive
        assert_nothing_removable_left(small)
        # inner convs shrink to exactly their alive filters (counted from the masks)
        for name, conv, _ in model.backbone.conv_bn_pairs():
            if name in small.config.channels:
                assert small.config.channels[name] == int(conv.filter_mask.sum())


def test_unpruned_model_compacts_to_the_same_size_and_outputs():
    model = make("i3d_r50")
    small = compact(model)
    assert n_params(small) == n_params(model)
    assert small.backbone.out_channels == model.backbone.out_channels
    assert_same_outputs(model, small, torch.randn(*X_SHAPE))
    # and the source model is left untouched
    assert model.config.channels is None and "compacted" not in model.config.extra


def mask_channel(unit: tuple[MaskedConv3d, MaskedBatchNorm3d], channel: int) -> None:
    conv, bn = unit
    keep = conv.filter_mask.clone()
    keep[channel] = 0
    conv.set_mask(keep)
    bn.set_mask(keep)


@pytest.mark.parametrize("arch", ["i3d_r18", "i3d_r50"])
def test_residual_channel_masked_in_one_branch_only_is_kept(arch):
    model = make(arch)
    stack = model.backbone.stacks[1]
    mask_channel(tuple(stack[0].downsample), 3)  # the identity branch of block 0 only
    mask_channel(last_unit(stack[0]), 5)  # the residual branch of block 0 only
    # no apply_masks: the stored weights of the masked filters are stale, only the masks say 0
    small = compact(model)
    assert small.backbone.out_channels == model.backbone.out_channels
    assert small.config.channels["stacks.1"] == model.backbone.out_channels[1]
    x = torch.randn(*X_SHAPE)
    assert_same_outputs(model, small, x)
    with torch.no_grad():
        assert torch.allclose(model.forward_features(x)[1], small.forward_features(x)[1], atol=1e-5)
        # channel 3 is still live: block 0's residual branch and block 1 write into it
        assert small.forward_features(x)[1][:, 3].abs().sum() > 0


@pytest.mark.parametrize("arch", ["i3d_r18", "i3d_r50"])
def test_residual_channel_masked_in_every_branch_is_removed(arch):
    model = make(arch)
    stack = model.backbone.stacks[1]
    c = 3
    mask_channel(tuple(stack[0].downsample), c)
    for blk in stack:
        mask_channel(last_unit(blk), c)
    apply_masks(model)
    full = model.backbone.out_channels[1]
    small = compact(model)
    assert small.backbone.out_channels[1] == full - 1
    assert small.config.channels["stacks.1"] == full - 1
    # every consumer of the stream lost that input channel: the blocks, stack 2's entry, the head
    assert stack[1].conv1.in_channels == full and small.backbone.stacks[1][1].conv1.in_channels == full - 1
    assert small.backbone.stacks[2][0].conv1.in_channels == full - 1
    assert small.backbone.stacks[2][0].downsample[0].in_channels == full - 1
    assert small.heads.heads["1"].fc.in_features == full - 1
    assert n_params(small) < n_params(model)
    x = torch.randn(*X_SHAPE)
    assert_same_outputs(model, small, x)
    with torch.no_grad():
        feats = model.forward_features(x)[1]
        assert feats[:, c].abs().max() == 0
        keep = [i for i in range(full) if i != c]
        assert torch.allclose(feats[:, keep], small.forward_features(x)[1], atol=1e-5)


def test_stream_fed_by_the_stem_is_never_narrowed():
    # basic-block stack 0 has no downsample: its identity is the stem output, which is never pruned
    model = make("i3d_r18")
    for blk in model.backbone.stacks[0]:
        mask_channel(last_unit(blk), 2)
    apply_masks(model)
    small = compact(model)
    assert small.backbone.out_channels[0] == model.backbone.out_channels[0]
    assert_same_outputs(model, small, torch.randn(*X_SHAPE))


def test_conv_masked_without_its_bn_keeps_the_bn_constant():
    # not what prune_filters does, but a valid masked model: the channel outputs BN(0), not 0
    model = make("i3d_r18")
    conv = model.backbone.stacks[2][0].conv1
    keep = conv.filter_mask.clone()
    keep[:3] = 0
    conv.set_mask(keep)
    small = compact(model)
    assert small.config.channels["stacks.2.0.conv1"] == conv.out_channels
    assert_same_outputs(model, small, torch.randn(*X_SHAPE))


def test_fully_masked_layers_keep_one_channel():
    model = make("i3d_r50")
    blk = model.backbone.stacks[2][1]
    for conv, bn in ((blk.conv1, blk.bn1),):
        conv.set_mask(torch.zeros(conv.out_channels))
        bn.set_mask(torch.zeros(bn.num_features))
    stack = model.backbone.stacks[3]
    units = [tuple(stack[0].downsample)] + [last_unit(b) for b in stack]
    for conv, bn in units:  # every contributor of stack 3's stream fully dead
        conv.set_mask(torch.zeros(conv.out_channels))
        bn.set_mask(torch.zeros(bn.num_features))
    apply_masks(model)
    small = compact(model)
    assert small.config.channels["stacks.2.1.conv1"] == 1
    assert small.config.channels["stacks.3"] == 1
    assert_same_outputs(model, small, torch.randn(*X_SHAPE))


def test_compacted_model_can_be_pruned_and_compacted_again():
    model = make("i3d_r34")
    prune_filters(model, 0.1, "layer")
    small = compact(model)
    prune_filters(small, 0.1, "layer")
    assert any(conv.is_pruned for _, conv, _ in small.backbone.conv_bn_pairs())
    smaller = compact(small)
    assert n_params(smaller) < n_params(small) < n_params(model)
    assert_same_outputs(small, smaller, torch.randn(*X_SHAPE))


def test_checkpoint_round_trip_of_a_compacted_model(tmp_path):
    model = make("i3d_r50")
    for _ in range(3):
        prune_filters(model, 0.1, "layer")
    small = compact(model)
    meta = build_meta(small, ClassList(("a", "b", "c", "d", "e")), InputSpec(frames=4, size=32, resize=36))
    path = save_checkpoint(tmp_path / "small.pt", small, meta)
    raw = torch.load(path, weights_only=True)
    assert json.loads(raw["meta"])["model"]["channels"] == small.config.channels
    ck = load_checkpoint(path)
    assert ck.config == small.config
    assert ck.config.extra["compacted"] is True
    loaded = ck.model.eval()
    assert n_params(loaded) == n_params(small)
    x = torch.randn(*X_SHAPE)
    with torch.no_grad():
        for a, b in zip(small(x), loaded(x)):
            assert torch.equal(a, b)


def test_uniform_config_json_is_unchanged_and_channels_round_trip():
    plain = create_model("i3d_r18", num_classes=3, width=0.125).config
    assert "channels" not in plain.to_dict()
    assert ModelConfig.from_dict(plain.to_dict()).channels is None
    cfg = ModelConfig(arch="i3d_r18", num_classes=3, width=0.125,
                      channels={"stacks.1": 12, "stacks.1.0.conv1": 5})
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    model = model_from_config(again)
    assert model.backbone.out_channels == [8, 12, 32, 64]
    assert model.backbone.stacks[1][0].conv1.out_channels == 5 and model.backbone.stacks[1][1].conv1.out_channels == 16
    assert model.heads.heads["3"].fc.in_features == 64


@pytest.mark.parametrize("channels,needle", [
    ({"stacks.9": 4}, "'stacks.9' is not a stream"),
    ({"stacks.1.0.conv2": 4}, "'stacks.1.0.conv2' is not a stream"),  # basic conv2 is a stream unit
    ({"stacks.1": 0}, "width of 'stacks.1' must be a positive integer"),
    ({"stacks.0": 6}, "stack 0 has no downsample"),  # r18 stack 0 adds the stem output
])
def test_bad_channels_are_clear_errors(channels, needle):
    with pytest.raises(EdgeactError, match=needle):
        create_model("i3d_r18", num_classes=3, width=0.125, channels=channels)


def test_bad_inputs_to_compact_and_from_dict():
    with pytest.raises(EdgeactError, match="compact needs an edgeact model.*Linear"):
        compact(nn.Linear(2, 2))
    with pytest.raises(EdgeactError, match="'channels' must map layer names"):
        ModelConfig.from_dict({"arch": "i3d_r18", "num_classes": 3, "channels": [1, 2]})


def test_pruning_a_compacted_model_prunes_live_filters_only():
    """Kept dead channels are baked to 0 with masks of 1; a new pass must not spend itself on
    their zero-norm filters (global ranking would pick them first) but mask them as pruned."""
    model = make("i3d_r18")
    for _ in range(3):
        prune_filters(model, 0.1, "global")
    small = compact(model)
    baked = sum(int(((bn.weight == 0) & (bn.bias == 0)).sum()) for _, _, bn in small.backbone.conv_bn_pairs())
    assert baked > 0                   # global pruning of random init leaves some on residual streams
    live = pruning_report(small).alive
    assert live == pruning_report(model).alive == pruning_report(small).total - baked
    norms = {name: conv.weight.detach().flatten(1).norm(dim=1) for name, conv, _ in small.backbone.conv_bn_pairs()}
    report = prune_filters(small, 0.1, "global")
    assert report.pruned_now == int(0.1 * live + 0.5) and report.alive == live - report.pruned_now
    for name, conv, bn in small.backbone.conv_bn_pairs():
        assert bool((bn.channel_mask == conv.filter_mask).all())
        was_baked = (bn.weight == 0) & (bn.bias == 0) & (norms[name] == 0)
        assert bool((conv.filter_mask[was_baked] == 0).all())      # masked as pruned, not ranked
    # every filter this pass removed had a non-zero norm
    assert sum(int(((conv.filter_mask == 0) & (norms[n] > 0)).sum())
               for n, conv, _ in small.backbone.conv_bn_pairs()) == report.pruned_now
