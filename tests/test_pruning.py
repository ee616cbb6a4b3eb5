import pytest
import torch

from edgeact.errors import EdgeactError
from edgeact.models import create_model
from edgeact.pruning import apply_masks, filter_norms, keep_pruned, prunable_units, prune_filters, pruning_report


def _model(arch="i3d_r18", width=0.25):
    return create_model(arch, num_classes=5, levels=(2, 3, 4), width=width)


def _alive_norms(model):
    """(unit index, filter index, norm) of alive filters, computed independently of the library."""
    rows = []
    for u, (_, conv, _) in enumerate(prunable_units(model)):
        w = conv.weight.detach().double()
        for i in range(conv.out_channels):
            if conv.filter_mask[i] > 0:
                rows.append((u, i, float(w[i].pow(2).sum().sqrt())))
    return rows


def test_units_cover_every_stack_conv_but_not_stem_or_heads():
    model = _model("i3d_r50", width=0.125)
    names = [n for n, _, _ in prunable_units(model)]
    n_conv = sum(1 for m in model.backbone.stacks.modules() if isinstance(m, torch.nn.Conv3d))
    assert len(names) == n_conv == 3 * 16 + 4  # 16 bottlenecks, 4 downsample convs
    assert "stacks.0.0.downsample.0" in names and not any("stem" in n for n in names)


def test_global_pruning_removes_the_lowest_norms_overall():
    model = _model()
    before = _alive_norms(model)
    report = prune_filters(model, 0.1, scope="global")
    n = round(0.1 * len(before))
    assert report.pruned_now == n
    assert report.alive == len(before) - n
    pruned = {(u, i) for u, i, _ in before} - {(u, i) for u, i, _ in _alive_norms(model)}
    expected = {(u, i) for u, i, _ in sorted(before, key=lambda r: r[2])[:n]}
    assert pruned == expected


def test_layer_pruning_removes_lowest_within_each_layer():
    model = _model()
    before = _alive_norms(model)
    report = prune_filters(model, 0.1, scope="layer")
    for u, layer in enumerate(report.layers):
        rows = [r for r in before if r[0] == u]
        n = int(0.1 * len(rows) + 0.5)
        assert layer.alive == len(rows) - n
        mask = prunable_units(model)[u][1].filter_mask
        lowest = {i for _, i, _ in sorted(rows, key=lambda r: r[2])[:n]}
        assert {i for i in range(len(mask)) if mask[i] == 0} == lowest


def test_iterative_pruning_takes_ratio_of_still_alive_filters():
    model = _model()
    total = pruning_report(model).total
    r1 = prune_filters(model, 0.1)
    r2 = prune_filters(model, 0.1)
    assert r1.alive == total - round(0.1 * total)
    assert r2.pruned_now == round(0.1 * r1.alive)
    assert r2.alive == r1.alive - r2.pruned_now


def test_pruned_channels_output_exactly_zero():
    model = _model().eval()
    prune_filters(model, 0.3, scope="layer")
    _, conv, bn = prunable_units(model)[0]
    seen = {}
    bn.register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    model(torch.randn(2, 3, 2, 32, 32))
    dead = conv.filter_mask == 0
    assert dead.any()
    assert torch.count_nonzero(seen["out"][:, dead]) == 0
    assert torch.count_nonzero(seen["out"][:, ~dead]) > 0


def test_pruned_filters_stay_zero_through_adam_and_checkpoints(tmp_path):
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    # momentum from before pruning is exactly what would move pruned weights again
    for _ in range(2):
        opt.zero_grad()
        sum(o.sum() for o in model(torch.randn(2, 3, 2, 32, 32))).backward()
        opt.step()
    prune_filters(model, 0.2)
    keep_pruned(opt, model)
    for _ in range(3):
        opt.zero_grad()
        sum(o.sum() for o in model(torch.randn(2, 3, 2, 32, 32))).backward()
        opt.step()
    for _, conv, bn in prunable_units(model):
        dead = conv.filter_mask == 0
        assert torch.count_nonzero(conv.weight[dead]) == 0
        assert torch.count_nonzero(bn.weight[dead]) == 0 and torch.count_nonzero(bn.bias[dead]) == 0
    path = tmp_path / "ckpt.pt"
    torch.save(model.state_dict(), path)
    fresh = _model()
    fresh.load_state_dict(torch.load(path, weights_only=True))
    assert pruning_report(fresh) == pruning_report(model)
    assert all(conv.is_pruned == (conv.filter_mask == 0).any() for _, conv, _ in prunable_units(fresh))
    model.eval(), fresh.eval()
    x = torch.randn(1, 3, 2, 32, 32)
    for a, b in zip(model(x), fresh(x)):
        assert torch.equal(a, b)


def test_forward_uses_masks_even_if_storage_is_dirty():
    model = _model().eval()
    prune_filters(model, 0.2)
    x = torch.randn(1, 3, 2, 32, 32)
    ref = model(x)
    with torch.no_grad():
        for _, conv, _ in prunable_units(model):
            conv.weight.add_(1.0)  # perturb alive and pruned filters alike
    apply_masks(model)
    with torch.no_grad():
        for _, conv, _ in prunable_units(model):
            conv.weight.sub_(1.0 * conv.filter_mask.view(-1, 1, 1, 1, 1))
    for a, b in zip(ref, model(x)):
        assert torch.allclose(a, b, atol=1e-5)


def test_never_prunes_a_layer_to_zero():
    model = _model(width=0.125)
    for scope in ("global", "layer"):
        for _ in range(15):
            prune_filters(model, 0.9, scope=scope)
    assert all(layer.alive >= 1 for layer in pruning_report(model).layers)
    model.eval()(torch.randn(1, 3, 1, 32, 32))


def test_norms_ignore_already_pruned_filters():
    model = _model()
    prune_filters(model, 0.5, scope="layer")
    _, conv, _ = prunable_units(model)[0]
    norms = filter_norms(conv)
    assert torch.all(norms[conv.filter_mask == 0] == 0)


@pytest.mark.parametrize("ratio", [0, 1, -0.1, 1.5, float("nan")])
def test_ratio_outside_open_unit_interval_is_an_error(ratio):
    with pytest.raises(EdgeactError, match=r"ratio must be in \(0, 1\)"):
        prune_filters(_model(), ratio)


def test_unknown_scope_and_non_edgeact_model_are_errors():
    with pytest.raises(EdgeactError, match="scope"):
        prune_filters(_model(), 0.1, scope="channel")
    with pytest.raises(EdgeactError, match="no prunable stacks"):
        prune_filters(torch.nn.Linear(3, 3), 0.1)
