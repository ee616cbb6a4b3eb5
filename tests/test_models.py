"""The model zoo: every architecture of ``list_models()`` at a tiny size (forward, compaction,
ONNX), after torchvision's ``test_video_model`` and timm's ``tests/test_models.py``; then the
paper's parameter counts, shapes, heads and argument errors."""

import numpy as np
import pytest
import torch
from torch import nn

from edgeact.checkpoint import build_meta, save_checkpoint
from edgeact.compact import compact
from edgeact.data.classes import ClassList
from edgeact.errors import EdgeactError
from edgeact.export import export_model
from edgeact.models import ModelConfig, create_model, list_models, model_from_config
from edgeact.pruning import prune_filters
from edgeact.types import InputSpec

# tiny: 8 stem channels, 4 frames of 32², batch 2; the fine head has 5 classes, superclass heads 2/3/4
TINY_SPEC = InputSpec(frames=4, size=32, resize=40)
TINY_X = (2, 3, TINY_SPEC.frames, TINY_SPEC.size, TINY_SPEC.size)
HEADS = [(2, 2), (2, 3), (2, 4), (2, 5)]


def tiny_model(arch: str) -> nn.Module:
    """``arch`` at width 1/8 in eval mode, with a BN affine that is not the identity (a dead
    channel kept as BN(0) != 0 would show in the compaction parity) and running statistics
    measured on random clips, as a trained model has them (they keep deep nets' activations
    near 1, so an absolute tolerance means the same for every depth)."""
    torch.manual_seed(0)
    model = create_model(arch, num_classes=5, levels=(2, 3, 4), width=0.125)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in bns:
            m.weight.copy_(1 + 0.3 * torch.randn(m.num_features, generator=g))
            m.bias.copy_(0.3 * torch.randn(m.num_features, generator=g))
            m.momentum = None            # a cumulative average: one batch sets the statistics
            m.reset_running_stats()
        model.train()(torch.randn(4, *TINY_X[1:], generator=g))
    for m in bns:
        m.momentum = 0.1
    return model.eval()


@pytest.mark.parametrize("arch", list_models())
def test_every_model_forward_features_head_and_output_shapes(arch):
    model = tiny_model(arch)
    x = torch.randn(TINY_X)
    with torch.no_grad():
        out = model(x)
        feats = model.forward_features(x)
        pooled = model.forward_head(feats, pre_logits=True)
        logits = model.forward_head(feats)
    assert isinstance(out, tuple) and [tuple(o.shape) for o in out] == HEADS
    channels = model.backbone.out_channels
    assert [tuple(f.shape) for f in feats] == [(2, c, 4, 8 >> k, 8 >> k) for k, c in enumerate(channels)]
    assert [tuple(p.shape) for p in pooled] == [(2, c) for c in channels]
    for a, b in zip(logits, out):
        assert torch.equal(a, b)


@pytest.mark.parametrize("arch", list_models())
def test_every_model_compacts_and_exports_to_onnx_with_the_same_outputs(arch, tmp_path):
    import onnxruntime as ort

    model = tiny_model(arch)
    prune_filters(model, 0.25, scope="layer")     # every unit loses filters, so inner convs narrow
    small = compact(model)
    n_params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n_params(small) < n_params(model) and small.config.extra["compacted"]
    x = torch.randn(TINY_X)
    with torch.no_grad():
        want = [o.numpy() for o in model(x)]
        got = [o.numpy() for o in small(x)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=0)

    meta = build_meta(model, ClassList(tuple("abcde")), TINY_SPEC, benchmark="toy")
    pt = save_checkpoint(tmp_path / "pruned.pt", model, meta)
    res = export_model(pt, "onnx", tmp_path / "m.onnx", compact=True)
    assert res.meta["model"]["channels"] == small.config.channels
    sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    onnx_out = sess.run(None, {"clips": x.numpy()})
    assert [o.shape for o in onnx_out] == HEADS
    for g, w in zip(onnx_out, want):
        np.testing.assert_allclose(g, w, atol=1e-4, rtol=0)

PAPER_PARAMS = {"i3d_r18": 33.7e6, "i3d_r34": 64.0e6, "i3d_r50": 46.8e6, "i3d_r101": 85.8e6}


@pytest.mark.parametrize("arch", sorted(PAPER_PARAMS))
def test_parameter_counts_match_paper_table3(arch):
    with torch.device("meta"):  # shapes only: no memory, no init cost
        model = create_model(arch, num_classes=60, levels=(2, 6, 20))
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - PAPER_PARAMS[arch]) / PAPER_PARAMS[arch] < 0.02, n


def test_registry_lists_the_four_depths():
    assert list_models() == ["i3d_r101", "i3d_r18", "i3d_r34", "i3d_r50"]


@pytest.mark.parametrize("arch", ["i3d_r18", "i3d_r50"])
@pytest.mark.parametrize("t,h,w", [(1, 32, 32), (3, 33, 47), (8, 64, 48)])
def test_outputs_one_logit_tensor_per_head_fine_last(arch, t, h, w):
    model = create_model(arch, num_classes=7, levels=(2, 3, 5), width=0.125).eval()
    out = model(torch.randn(2, 3, t, h, w))
    assert isinstance(out, tuple)
    assert [o.shape for o in out] == [(2, 2), (2, 3), (2, 5), (2, 7)]


def test_levels_with_missing_head_and_no_levels():
    nucla = create_model("i3d_r18", num_classes=10, levels=(None, 2, 5), width=0.125).eval()
    assert [o.shape[1] for o in nucla(torch.randn(1, 3, 2, 32, 32))] == [2, 5, 10]
    flat = create_model("i3d_r18", num_classes=10, width=0.125).eval()
    out = flat(torch.randn(1, 3, 2, 32, 32))
    assert len(out) == 1 and out[0].shape == (1, 10)


def test_stem_is_2d_inner_convs_3d_and_no_temporal_stride():
    model = create_model("i3d_r50", num_classes=4, width=0.125)
    assert model.backbone.stem.conv1.kernel_size == (1, 7, 7)
    for name, conv, _ in model.backbone.conv_bn_pairs():
        assert conv.stride[0] == 1, name
        assert conv.kernel_size in ((3, 3, 3), (1, 1, 1)), name
    feats = model.forward_features(torch.randn(1, 3, 5, 64, 64))
    assert [f.shape[2] for f in feats] == [5, 5, 5, 5]
    assert [tuple(f.shape[3:]) for f in feats] == [(16, 16), (8, 8), (4, 4), (2, 2)]


def test_width_scales_channels():
    small = create_model("i3d_r18", num_classes=3, width=0.25)
    assert small.backbone.out_channels == [16, 32, 64, 128]
    big = create_model("i3d_r50", num_classes=3, width=0.25)
    assert big.backbone.out_channels == [64, 128, 256, 512]


def test_heads_are_mean_pool_then_linear():
    model = create_model("i3d_r18", num_classes=3, levels=(2, None, None), width=0.125).eval()
    x = torch.randn(2, 3, 2, 32, 32)
    feats = model.forward_features(x)
    expected = model.heads.heads["0"].fc(feats[0].mean(dim=(2, 3, 4)))
    assert torch.allclose(model(x)[0], expected)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(name="i3d_r5", num_classes=3), "unknown architecture 'i3d_r5'"),
    (dict(name="i3d_r18", num_classes=0), "num_classes"),
    (dict(name="i3d_r18", num_classes=10, levels=(2, 5)), "levels"),
    (dict(name="i3d_r18", num_classes=10, levels=(2, 5, 20)), "exceeds"),
    (dict(name="i3d_r18", num_classes=10, levels=(0, 2, 5)), "positive"),
    (dict(name="i3d_r18", num_classes=10, width=0), "width"),
])
def test_bad_arguments_are_clear_errors(kwargs, needle):
    name = kwargs.pop("name")
    with pytest.raises(EdgeactError, match=needle):
        create_model(name, **kwargs)


def test_config_round_trip_rebuilds_same_shapes():
    model = create_model("i3d_r34", num_classes=10, levels=(None, 2, 5), width=0.125)
    cfg = ModelConfig.from_dict(model.config.to_dict())
    assert cfg == model.config
    rebuilt = model_from_config(cfg)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_wrong_input_rank_is_an_error():
    model = create_model("i3d_r18", num_classes=3, width=0.125)
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
        model(torch.randn(3, 32, 32))


def test_stage_table_macs_match_hand_computation():
    from edgeact.models.summary import stage_table

    model = create_model("i3d_r18", num_classes=10, levels=(2, None, 5), width=0.25)
    rows = {r.name: r for r in stage_table(model, (1, 3, 4, 64, 64))}
    # stem: 16 filters of 3x1x7x7 evaluated at 4 x 32 x 32 output positions
    assert rows["stem"].macs == 4 * 32 * 32 * 16 * 3 * 49 and rows["stem"].out_shape == (1, 16, 4, 16, 16)
    # fine head: mean-pool then Linear(128 -> 10); superclass head after stack 1: Linear(16 -> 2)
    assert rows["fine head"].macs == 128 * 10 and rows["head 1 (superclasses)"].macs == 16 * 2
    assert "head 2 (superclasses)" not in rows
    assert sum(r.params for r in rows.values()) == sum(p.numel() for p in model.parameters())
