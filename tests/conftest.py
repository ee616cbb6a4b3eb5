"""Shared pytest setup: deterministic, CPU-only, small thread count (CI has 2 cores), and the
fixtures several test modules share: a small synthetic NTU dataset (``synth_root``) and a tiny
untrained checkpoint over its first four classes (``tiny_model``), made once per module that
uses them."""

import pytest
import torch

from cli_ok import cli_ok


def pytest_configure(config):
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def has_cuda() -> bool:
    return torch.cuda.is_available()


gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU with CUDA")


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    """``edgeact synth`` output: actions 1-4 (wave / raise, left / right) by one performer, one
    camera, one setup and replication: four 24-frame 160x120 videos with their ``.skeleton`` files."""
    root = tmp_path_factory.mktemp("synth") / "synth"
    cli_ok(["synth", "--out", root, "--seed", "5", "--num-classes", "4", "--performers", "1", "--cameras", "1",
            "--setups", "1", "--replications", "1", "--video-frames", "24", "--video-width", "160",
            "--video-height", "120"])
    return root


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """An untrained i3d_r18 checkpoint (width 0.125, 4 frames of 32², one 2-superclass head after
    stack 2) over ``synth_root``'s four classes and their mirror pairs; its path."""
    from edgeact.checkpoint import build_meta, save_checkpoint
    from edgeact.data.classes import ClassList
    from edgeact.models import create_model
    from edgeact.types import InputSpec

    torch.manual_seed(0)
    model = create_model("i3d_r18", num_classes=4, levels=(None, 2, None), width=0.125).eval()
    classes = ClassList(names=("wave left hand", "wave right hand", "raise left arm", "raise right arm"),
                        mirror=((0, 1), (2, 3)))
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    meta = build_meta(model, classes, InputSpec(frames=4, size=32, resize=40),
                      hierarchy={"num_classes": 4, "assignments": [[0, 1, 0, 1]]}, clip={"frames": 24, "fps": 30.0})
    save_checkpoint(path, model, meta)
    return path
