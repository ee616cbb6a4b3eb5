import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from edgeact.cli import app
from edgeact.cli_options import (
    MEANINGS,
    PARAMETERS,
    README_BEGIN,
    README_END,
    RENAMED,
    command_options,
    name_option,
    option_for,
    option_table,
    rename_args,
)
from edgeact.errors import EdgeactError, SourceLost, keywords
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
    with pytest.raises(EdgeactError, match=r"^levels: 'x' is not an integer or 'none'"):
        parse_levels("2,x")


def test_user_errors_are_one_line_exit_2():
    proc = subprocess.run([sys.executable, "-m", "edgeact", "info", "--arch", "i3d_r5"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown architecture 'i3d_r5'" in lines[0]
    proc = subprocess.run([sys.executable, "-m", "edgeact", "info", "--pretrained-2d", "/nope.pth"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "/nope.pth: no such file" in proc.stderr


# --------------------------------------------------------------------------- one option vocabulary

REPO = Path(__file__).resolve().parents[1]


def _command(path: str):
    """The click command of ``path`` (``"prep"``, ``"bench model"``)."""
    cmd = typer.main.get_command(app)
    for name in path.split():
        cmd = cmd.commands[name]
    return cmd


def test_every_option_name_has_one_meaning():
    # a command's help for an option is the option's one meaning, then what it does in that command
    rows = command_options(app)
    for command, names, text in rows:
        assert names[0] in MEANINGS, f"{command} {names[0]}: no meaning in edgeact.cli_options.MEANINGS"
        assert text.startswith(MEANINGS[names[0]]), f"{command} {names[0]}: help does not start with its meaning"
    assert {names[0] for _, names, _ in rows} == set(MEANINGS), "a meaning no command uses"


def test_readme_option_table_is_current():
    text = (REPO / "README.md").read_text()
    begin = text.index(README_BEGIN) + len(README_BEGIN) + 1
    assert text[begin:text.index(README_END)] == option_table(app), (
        "README's option table is stale: python -c \"from edgeact.cli import app; "
        "from edgeact.cli_options import update_readme; update_readme(app)\"")


RENAMES = [(command, old, new) for command, table in RENAMED.items() for old, new in table.items()]
REQUIRED = {"prep": ["--dataset", "ntu", "--root", "r", "--out", "o"], "synth": ["--out", "o"],
            "export": ["--model", "m.pt"]}


@pytest.mark.parametrize("command, old, new", RENAMES, ids=[f"{c} {o}" for c, o, _ in RENAMES])
def test_old_spelling_sets_the_new_option_with_a_note(command, old, new, capsys):
    cmd = _command(command)
    (param,) = [p for p in cmd.params if new in p.opts]
    assert not [p for p in cmd.params if old in p.opts + p.secondary_opts], f"{old} is still declared"
    value = "offset" if new == "--projection" else "C002" if new == "--ntu-camera" else "7"
    ctx = cmd.make_context(command, [*REQUIRED.get(command, []), f"{old}={value}" if new == "--resize" else old,
                                     *([] if new == "--resize" else [value])])
    assert str(ctx.params[param.name]) == value
    assert f"note: {old} is now {new} (the old spelling is accepted for this release)" in capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(PARAMETERS))
def test_every_mapped_parameter_names_an_option_of_its_command(command):
    options = {n for p in _command(command).params for n in p.opts}
    for param, option in PARAMETERS[command].items():
        assert option in options, f"{command}: {param} -> {option}, which {command} does not take"


def test_a_library_error_names_the_keyword_and_the_cli_its_option():
    exc = EdgeactError("must be >= 1, got 0", param="batch")
    assert str(exc) == "batch: must be >= 1, got 0" and exc.reason == "must be >= 1, got 0"
    name_option(exc, "export")
    assert str(exc) == "--batch-size: must be >= 1, got 0" and exc.params == ()
    name_option(exc, "export")                                   # reworded once
    assert str(exc) == "--batch-size: must be >= 1, got 0"
    both = EdgeactError("choose one", param=("fp16", "int8"))
    name_option(both, "export")
    assert str(both) == "--fp16, --int8: choose one"
    assert option_for("prep", "size") == "--resize" and option_for("export", "size") == "--size"
    assert option_for("live", "window_seconds") == "--window-seconds"
    plain = EdgeactError("x.pt: no such file")
    name_option(plain, "export")
    assert str(plain) == "x.pt: no such file"


def test_a_mentioned_keyword_reads_as_the_keyword_and_on_the_cli_as_its_option():
    exc = EdgeactError("needs {mqtt} (the broker); {x} and runs/{y} stay", param="mqtt_every", mention="mqtt")
    assert str(exc) == "mqtt_every: needs mqtt (the broker); {x} and runs/{y} stay"
    assert exc.reason == "needs mqtt (the broker); {x} and runs/{y} stay"
    with pytest.raises(EdgeactError) as info, keywords(mqtt="broker", mqtt_every="every"):
        raise exc
    assert str(info.value) == "every: needs broker (the broker); {x} and runs/{y} stay"
    name_option(info.value, "live")
    assert str(info.value) == "--every: needs --broker (the broker); {x} and runs/{y} stay"
    served = EdgeactError("cannot listen", param=("host", "port"))
    served.rename({"host": "serve", "port": "serve"})                  # one keyword, said once
    assert str(served) == "serve: cannot listen" and served.params == ("serve",)


def test_a_prefixed_error_keeps_its_type_keywords_and_mentions():
    exc = SourceLost("no frames from {camera}", param="timeout", mention="camera")
    named = exc.prefixed("cam1")
    assert type(named) is SourceLost and named.exit_code == exc.exit_code
    assert str(named) == "timeout: cam1: no frames from camera"
    name_option(named, "live")
    assert str(named) == "--timeout: cam1: no frames from --camera"
    assert str(exc) == "timeout: no frames from camera"                    # the original is unchanged


def test_the_cli_prints_the_option_in_its_one_error_line(tmp_path):
    # through the console entry point (python -m edgeact): the group rewords the library's error
    proc = subprocess.run([sys.executable, "-m", "edgeact", "bench", "pose", "--pose-imgsz", "33"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --pose-imgsz: must be a multiple of 32 and >= 32, got 33"


def test_live_errors_name_the_python_keyword_and_the_cli_the_flag(tmp_path):
    from edgeact.live.inputs import open_pose
    from edgeact.live.options import LiveOptions
    from edgeact.live.sources import CameraSource

    with pytest.raises(EdgeactError) as info:          # LiveOptions(pose_conf=...) reaches the pose backend's conf
        open_pose(LiveOptions(pose_conf=2.0), "yolo")
    assert str(info.value) == "pose_conf: must be in (0, 1], got 2.0"
    name_option(info.value, "live")
    assert str(info.value) == "--pose-conf: must be in (0, 1], got 2.0"
    with pytest.raises(EdgeactError) as info:
        CameraSource(-1)
    assert str(info.value) == "index_or_url: index must be >= 0, got -1"
    name_option(info.value, "live")
    assert str(info.value) == "--camera: index must be >= 0, got -1"
    proc = subprocess.run([sys.executable, "-m", "edgeact", "live", "--demo", "--window-seconds", "-1", "--quiet",
                           "--device", "cpu"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "error: --window-seconds: -1.0 must be > 0"


def test_the_keywords_live_errors_point_at_are_options_of_live():
    """Every param and mention a live error names (LiveOptions fields, source_flags' keywords) is an
    option of the command once the CLI names it."""
    options = {n for p in _command("live").params for n in p.opts}
    for keyword in ("streams", "cameras", "videos", "camera", "video", "realsense", "bag", "skeleton", "calibration",
                    "pose", "save", "show", "jsonl", "mqtt", "mqtt_every", "mqtt_level", "serve", "serve_token",
                    "window_seconds", "max_window_mb", "exit_on_disconnect", "sources"):
        assert option_for("live", keyword) in options, keyword
    assert option_for("live", "streams") == option_for("live", "sources") == "--sources"


def test_old_spelling_runs_the_command_and_refuses_both_spellings():
    result = runner.invoke(app, ["bench", "pose", "--imgsz", "100"])     # the library's own check of the value
    assert isinstance(result.exception, EdgeactError) and "multiple of 32" in str(result.exception)
    assert "note: --imgsz is now --pose-imgsz" in result.output
    result = runner.invoke(app, ["bench", "pose", "--imgsz", "64", "--pose-imgsz", "64"])
    assert isinstance(result.exception, EdgeactError)
    assert "--imgsz is the old spelling of --pose-imgsz: give --pose-imgsz only" in str(result.exception)
    assert rename_args(["--x", "--", "--size"], {"--size": "--resize"}) == ["--x", "--", "--size"]


def test_help_never_lists_an_old_spelling():
    for command, table in RENAMED.items():
        result = runner.invoke(app, [*command.split(), "--help"])
        assert result.exit_code == 0, result.output
        declared = {n for p in _command(command).params for n in (*p.opts, *p.secondary_opts)}
        assert not set(table) & declared and set(table.values()) <= declared


def test_cli_imports_nothing_heavy():
    code = ("import sys, edgeact.cli; "
            "print(sorted(m for m in ('torch', 'cv2', 'ultralytics', 'onnx', 'onnxruntime', 'yaml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_live_defaults_are_one_dataclass():
    from edgeact.live.app import LiveOptions
    from edgeact.live.decide import Interpreter
    from edgeact.live.defaults import LIVE
    from edgeact.live.pipeline import LiveConfig

    opts, cfg = LiveOptions(), LiveConfig()
    for key in ("test_sets", "topk", "threshold", "smooth"):
        assert getattr(opts, key) == getattr(cfg, key) == getattr(LIVE, key)
    assert (opts.superclasses, opts.stride, opts.pose_model) == (LIVE.superclasses, LIVE.stride, LIVE.pose_model)
    defaults = {k: p.default for k, p in inspect.signature(Interpreter).parameters.items()}
    assert (defaults["topk"], defaults["threshold"], defaults["smooth"]) == (LIVE.topk, LIVE.threshold, LIVE.smooth)
    live = {p.name: p.default for p in _command("live").params}
    assert {k: live[k] for k in ("topk", "threshold", "smooth", "test_sets", "stride", "pose_model")} == {
        k: getattr(LIVE, k) for k in ("topk", "threshold", "smooth", "test_sets", "stride", "pose_model")}


# --------------------------------------------------------------------------- train --set

def test_parse_overrides_reads_yaml_values_of_the_recipe_types():
    from edgeact.recipe import parse_overrides

    assert parse_overrides(["lr=1e-3", "levels=[null, 2, 5]", "amp=false", "init_from=null", "epochs=3"]) == {
        "lr": 1e-3, "levels": (None, 2, 5), "amp": False, "init_from": None, "epochs": 3}
    for items, message in [
        (["lr"], "--set 'lr': expected KEY=VALUE"),
        (["lrr=1"], "--set lrr=1: 'lrr' is not a recipe key (did you mean lr?)"),
        (["epochs=2.5"], "--set epochs=2.5: epochs must be an integer, got 2.5"),
        (["amp=maybe"], "--set amp=maybe: amp must be true or false, got 'maybe'"),
        (["levels=[1,"], "is not a YAML value"),
        (["seed=1", "seed=2"], "--set seed: given twice"),
    ]:
        with pytest.raises(EdgeactError, match=re.escape(message)):
            parse_overrides(items)


def test_train_set_overrides_any_key_through_the_recipe(tmp_path, monkeypatch):
    import edgeact.training

    seen = {}

    class Stop(Exception):
        pass

    class FakeTrainer:
        def __init__(self, recipe, data, out, **kw):
            seen.update(recipe=recipe, out=out)
            raise Stop

    monkeypatch.setattr(edgeact.training, "Trainer", FakeTrainer)
    recipe = REPO / "train" / "demo.yaml"
    result = runner.invoke(app, ["train", "--recipe", str(recipe), "--data", str(tmp_path), "--set", "lr_patience=5",
                                 "--set", "flip_p=0", "--epochs", "2", "--set", "levels=[null, 2, 4]"])
    assert isinstance(result.exception, Stop), result.output
    r = seen["recipe"]
    assert (r.lr_patience, r.flip_p, r.epochs, r.levels) == (5, 0.0, 2, (None, 2, 4))
    result = runner.invoke(app, ["train", "--recipe", str(recipe), "--data", str(tmp_path), "--epochs", "2",
                                 "--set", "epochs=3"])
    assert isinstance(result.exception, EdgeactError) and "the same recipe key twice" in str(result.exception)
    result = runner.invoke(app, ["train", "--recipe", str(recipe), "--data", str(tmp_path), "--set", "size=100"])
    assert isinstance(result.exception, EdgeactError)
    assert "demo.yaml with size=100: need frames >= 1, size >= 32 and resize >= size" in str(result.exception)


def test_train_set_bad_value_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edgeact", "train", "--recipe", str(REPO / "train" / "demo.yaml"),
                           "--data", str(tmp_path), "--set", "epochs=many"], capture_output=True, text=True)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "--set epochs=many: epochs must be an integer, got 'many'" in lines[0]


def test_recipe_of_an_earlier_run_with_empty_extra_still_loads(tmp_path):
    from edgeact.recipe import load_recipe

    (tmp_path / "recipe.yaml").write_text("benchmark: ntu60-xsub\nepochs: 3\nextra: {}\n")
    assert load_recipe(tmp_path / "recipe.yaml").epochs == 3
    (tmp_path / "recipe.yaml").write_text("benchmark: ntu60-xsub\nextra: {a: 1}\n")
    with pytest.raises(EdgeactError, match="unknown key"):
        load_recipe(tmp_path / "recipe.yaml")
