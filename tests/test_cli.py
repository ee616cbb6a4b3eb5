import subprocess
import sys

import pytest
from typer.testing import CliRunner

from edgeact.cli import app
from edgeact.types import parse_levels

runner = CliRunner()


def test_help_lists_the_mission_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("live", "calibrate", "eval", "train", "export", "info"):
        assert cmd in result.output


@pytest.mark.parametrize("args", [["export", "--help"], ["bench", "--help"], ["bench", "live", "--help"],
                                  ["live", "--help"]])
def test_every_command_is_built_and_teaches(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "not built yet" not in result.output and "--" in result.output


def test_info_prints_stage_table():
    result = runner.invoke(app, ["info", "--arch", "i3d_r18", "--num-classes", "10", "--levels", "none,2,5",
                                 "--width", "0.25", "--frames", "4", "--size", "64"])
    assert result.exit_code == 0, result.output
    for row in ("stem", "stack 4", "head 2", "head 3", "fine head", "total"):
        assert row in result.output
    assert "head 1" not in result.output


def test_info_pretrained_2d_option(tmp_path):
    import torch
    import torchvision

    p = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), p)
    result = runner.invoke(app, ["info", "--arch", "i3d_r18", "--pretrained-2d", str(p), "--size", "32", "--frames", "1"])
    assert result.exit_code == 0, result.output
    assert "inflated from 2D weights" in result.output


def testparse_levels():
    assert parse_levels("2,6,20") == (2, 6, 20)
    assert parse_levels("none, 2, 5") == (None, 2, 5)
    assert parse_levels("") == ()


def test_user_errors_are_one_line_exit_2():
    proc = subprocess.run([sys.executable, "-m", "edgeact", "info", "--arch", "i3d_r5"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown architecture 'i3d_r5'" in lines[0]
    proc = subprocess.run([sys.executable, "-m", "edgeact", "info", "--pretrained-2d", "/nope.pth"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "/nope.pth: no such file" in proc.stderr
