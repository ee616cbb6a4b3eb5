import pytest
import torch
import torchvision

from edgeact.errors import EdgeactError
from edgeact.models import create_model, inflate_2d_weights, load_2d_state_dict


def _random_2d(name: str) -> torch.nn.Module:
    net = getattr(torchvision.models, name)(weights=None)
    # Non-trivial batch-norm statistics, so a wrong BN mapping cannot pass by accident.
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return net.eval()


def _stacks_2d(net, image):
    x = net.maxpool(net.relu(net.bn1(net.conv1(image))))
    outs = []
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        x = layer(x)
        outs.append(x)
    return outs


@pytest.mark.parametrize("arch,tv", [("i3d_r18", "resnet18"), ("i3d_r50", "resnet50")])
def test_center_inflation_reproduces_2d_on_every_frame(arch, tv):
    net = _random_2d(tv)
    model = create_model(arch, num_classes=5, levels=(2, 3, 4)).eval()
    inflate_2d_weights(model, net.state_dict())
    image = torch.randn(1, 3, 64, 64)
    t = 3
    clip = image.unsqueeze(2).expand(1, 3, t, 64, 64).contiguous()
    with torch.no_grad():
        want = _stacks_2d(net, image)
        got = model.forward_features(clip)
    for k, (w, g) in enumerate(zip(want, got)):
        for ti in range(t):
            err = (g[:, :, ti] - w).abs().max() / w.abs().max()
            assert err < 1e-5, (k, ti, err)  # float32 summation-order noise only


def test_mean_inflation_matches_2d_away_from_temporal_borders():
    net = _random_2d("resnet18")
    model = create_model("i3d_r18", num_classes=5).eval()
    inflate_2d_weights(model, net.state_dict(), mode="mean")
    image = torch.randn(1, 3, 32, 32)
    clip = image.unsqueeze(2).expand(1, 3, 9, 32, 32).contiguous()
    with torch.no_grad():
        want = _stacks_2d(net, image)[0]
        got = model.forward_features(clip)[0]
    # stack 1 of r18 has four 3x3x3 convs: frames 4 steps from a border see no padding
    assert torch.allclose(got[:, :, 4], want, atol=1e-4)
    # ...while the border frame does, so mean inflation differs there
    assert not torch.allclose(got[:, :, 0], want, atol=1e-3)


def test_inflation_leaves_heads_and_masks_alone():
    net = _random_2d("resnet18")
    model = create_model("i3d_r18", num_classes=5)
    head_before = model.heads.heads["3"].fc.weight.clone()
    inflate_2d_weights(model, net.state_dict())
    assert torch.equal(model.heads.heads["3"].fc.weight, head_before)
    assert all(bool((c.filter_mask == 1).all()) for _, c, _ in model.backbone.conv_bn_pairs())


def test_depth_mismatch_names_the_source_and_the_guess():
    sd = torchvision.models.resnet18(weights=None).state_dict()
    model = create_model("i3d_r50", num_classes=5)
    with pytest.raises(EdgeactError, match=r"my\.pth.*resnet18.*i3d_r50"):
        inflate_2d_weights(model, sd, source="my.pth")


def test_width_mismatch_is_an_error():
    sd = torchvision.models.resnet18(weights=None).state_dict()
    with pytest.raises(EdgeactError, match="shape"):
        inflate_2d_weights(create_model("i3d_r18", num_classes=5, width=0.5), sd)


def test_load_2d_state_dict_unwraps_and_rejects(tmp_path):
    sd = torchvision.models.resnet18(weights=None).state_dict()
    p = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}}, p)
    loaded = load_2d_state_dict(p)
    assert set(loaded) == set(sd)
    with pytest.raises(EdgeactError, match="no such file"):
        load_2d_state_dict(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(EdgeactError, match="bad.pth"):
        load_2d_state_dict(bad)
