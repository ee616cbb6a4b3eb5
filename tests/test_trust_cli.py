"""What the command line promises whatever goes wrong: one red line, never a traceback (bad input:
exit 2; a refused read or write: exit 74, naming the path), error text printed as written (not as
Rich markup), outputs with the umask's permissions that never land on an input, and ``--model demo``
on every command that takes a model.

The read-only folder and the full disk are real: a read-only bind mount and a tiny tmpfs, each in a
private mount namespace (``unshare -m``) so nothing outlives the command. Tests run as root, where
``chmod`` does not stop a write, so a mode bit would prove nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeact.cli import app, main
from edgeact.errors import EXIT_IO, EdgeactError, os_error_message
from edgeact.fileio import atomic_write_json
from edgeact.runtime.loader import DEMO_MODEL, read_meta, resolve_model

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
TINY_SYNTH = ["--num-classes", "1", "--performers", "1", "--cameras", "1", "--setups", "1", "--replications", "1",
              "--video-frames", "8", "--video-width", "64", "--video-height", "48"]
TINY_BENCH = ["--arch", "i3d_r18", "--num-classes", "3", "--levels", "", "--width", "0.25", "--frames", "2",
              "--size", "32", "--batch-size", "1", "--iters", "1", "--warmup", "0", "--backends", "torch", "--device", "cpu"]


def run_main(args, capsys) -> tuple[int, str, str]:
    """``edgeact <args>`` through the real entry point :func:`main` (its error handling included):
    exit status, stdout, stderr."""
    old = sys.argv
    sys.argv = ["edgeact", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- file modes


def test_outputs_get_the_umask_mode_and_replaced_files_keep_theirs(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "new.json", {"a": 1})
        kept = tmp_path / "kept.json"
        kept.write_text("{}")
        kept.chmod(0o640)
        atomic_write_json(kept, {"b": 2})
        res = runner.invoke(app, ["synth", "--out", str(tmp_path / "ds"), *TINY_SYNTH])
        assert res.exit_code == 0, res.output
    finally:
        os.umask(old)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o644
    assert kept.stat().st_mode & 0o777 == 0o640 and json.loads(kept.read_text()) == {"b": 2}
    written = [p for p in (tmp_path / "ds").rglob("*") if p.is_file()]
    assert len(written) == 3                    # meta, one video, one skeleton
    assert {p.stat().st_mode & 0o777 for p in written} == {0o644}


def test_nothing_in_the_package_writes_through_a_private_temporary_file():
    """``mkstemp`` and friends create files with mode 0600; only :mod:`edgeact.fileio`, which
    resets the mode, may use them for an output."""
    private = re.compile(r"\b(mkstemp|NamedTemporaryFile|os\.open)\s*\(")
    hits = [f"{p.relative_to(REPO)}:{n}" for p in sorted((REPO / "edgeact").rglob("*.py")) if p.name != "fileio.py"
            for n, line in enumerate(p.read_text().splitlines(), 1) if private.search(line)]
    assert hits == []


# --------------------------------------------------------------------------- one red line


def test_os_error_message_names_the_path():
    assert os_error_message(OSError(30, "Read-only file system", "/ro/x.json")) == \
        "cannot write /ro/x.json: Read-only file system"
    assert os_error_message(OSError(28, "No space left on device", "/d/x")) == "cannot write /d/x: No space left on device"
    assert os_error_message(OSError(13, "Permission denied", "a", None, "b")) == "a -> b: Permission denied"
    assert os_error_message(OSError("Caught OSError in worker 0.\nTraceback ...\nOSError: disk gone")) == \
        "OSError: disk gone"


def test_a_file_where_a_folder_should_be_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("mine")
    code, _, err = run_main(["synth", "--out", blocker / "ds", *TINY_SYNTH], capsys)
    line = one_line(err)
    assert code == EXIT_IO and line == f"error: {blocker / 'ds'}: {blocker} is a file, not a folder"
    # an atomic write into it: named by the file asked for, not by a temporary name
    code, _, err = run_main(["bench", "model", *TINY_BENCH, "--json", blocker / "r.json"], capsys)
    assert code == EXIT_IO
    assert one_line(err) == f"error: {blocker / 'r.json'}: {blocker} is a file, not a folder"
    assert blocker.read_text() == "mine"


def _in_private_mount(setup: str, args: list) -> subprocess.CompletedProcess:
    """Run ``python -m edgeact <args>`` after the shell ``setup`` (mounts), inside a private mount
    namespace; skip where namespaces or mounts are not allowed."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    probe = subprocess.run([unshare, "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare -m is not permitted here: {probe.stderr.decode().strip()}")
    cmd = " ".join(f"'{a}'" for a in [sys.executable, "-m", "edgeact", *map(str, args)])
    proc = subprocess.run([unshare, "-m", "sh", "-c", f"{setup} || exit 99; exec {cmd}"],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode == 99:
        pytest.skip(f"mount refused: {proc.stderr.strip()}")
    return proc


def test_read_only_folder_is_one_red_line_naming_the_file(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "keep.txt").write_text("kept")
    setup = f"mount -o bind,ro '{ro}' '{ro}'"
    proc = _in_private_mount(setup, ["export", "--model", "demo", "--format", "onnx", "--out", ro / "d.onnx"])
    assert proc.returncode == EXIT_IO, proc.stderr
    assert one_line(proc.stderr) == f"error: cannot write {ro / 'd.onnx'}: Read-only file system"
    proc = _in_private_mount(setup, ["synth", "--out", ro / "ds", *TINY_SYNTH])
    assert proc.returncode == EXIT_IO
    assert one_line(proc.stderr) == f"error: cannot write {ro / 'ds'}: Read-only file system"
    assert sorted(p.name for p in ro.iterdir()) == ["keep.txt"]


def test_full_disk_is_one_red_line_naming_the_file(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    # 16 KiB: the dataset's meta fits, its first video does not
    proc = _in_private_mount(f"mount -t tmpfs -o size=16k tmpfs '{full}'",
                             ["synth", "--out", full / "ds", *TINY_SYNTH,
                              "--video-width", "320", "--video-height", "240"])
    video = full / "ds" / "nturgb+d_rgb" / "S001C001P001R001A001_rgb.avi"
    assert proc.returncode == EXIT_IO, proc.stderr
    assert one_line(proc.stderr) == f"error: cannot write {video}: No space left on device"


# --------------------------------------------------------------------------- text as written


def test_error_text_keeps_its_square_brackets(tmp_path, capsys):
    code, _, err = run_main(["info", "--pretrained-2d", "run[v2]/best.pt"], capsys)
    assert code == 2 and one_line(err).startswith("error: run[v2]/best.pt: no such file")
    code, _, err = run_main(["bench", "model", "--model", tmp_path / "run[bold]" / "best.pt"], capsys)
    assert code == 2 and f"{tmp_path / 'run[bold]' / 'best.pt'}: no such file" in one_line(err)


def test_tensorrt_hint_keeps_the_pip_extra(tmp_path, capsys):
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401
        pytest.skip("tensorrt is installed: the export would go on to build an engine")
    except ImportError:
        pass
    code, _, err = run_main(["export", "--model", "demo", "--format", "engine", "--out", tmp_path / "d.engine"],
                            capsys)
    assert code == 2 and "pip install 'edgeact[tensorrt]'" in one_line(err)


def test_written_paths_print_as_written(tmp_path):
    out = tmp_path / "r[v2].json"
    res = runner.invoke(app, ["bench", "model", *TINY_BENCH, "--json", str(out), "--md", str(tmp_path / "[b]r.md")])
    assert res.exit_code == 0, res.output
    assert f"wrote {out}" in res.output and f"wrote {tmp_path / '[b]r.md'}" in res.output
    assert out.is_file()


def test_info_prints_the_weights_path_as_written(tmp_path):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    weights = tmp_path / "run[v2]" / "r18.pth"
    weights.parent.mkdir()
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    res = runner.invoke(app, ["info", "--arch", "i3d_r18", "--pretrained-2d", str(weights), "--size", "32",
                              "--frames", "1"])
    assert res.exit_code == 0, res.output
    assert f"inflated from 2D weights: {weights}" in res.output


# --------------------------------------------------------------------------- no output over an input


def test_bench_outputs_never_replace_an_input_or_each_other(tmp_path):
    model = tmp_path / "m.pt"
    shutil.copy(DEMO_MODEL, model)
    before = model.read_bytes()
    cases = [
        (["bench", "model", "--model", model, "--backends", "torch", "--device", "cpu", "--json", model],
         f"--json: {model}: is an input"),
        (["bench", "model", "--model", model, "--md", tmp_path / ".." / tmp_path.name / "m.pt"], "--md: .*: is an input"),
        (["bench", "model", *TINY_BENCH, "--json", tmp_path / "r", "--md", tmp_path / "r"], "name the same file"),
        (["bench", "pose", "--pose-model", model, "--json", model], f"--json: {model}: is an input"),
        (["bench", "live", "--model", model, "--json", model], f"--json: {model}: is an input"),
        (["bench", "live", "--model", "demo", "--json", DEMO_MODEL], f"--json: {DEMO_MODEL}: is an input"),
    ]
    for args, message in cases:
        res = runner.invoke(app, [str(a) for a in args])
        assert isinstance(res.exception, EdgeactError) and re.search(message, str(res.exception)), (args, res.output)
    assert model.read_bytes() == before and not (tmp_path / "r").exists()


def test_export_never_writes_over_the_checkpoint(tmp_path):
    model = tmp_path / "best.pt"
    shutil.copy(DEMO_MODEL, model)
    (tmp_path / "sub").mkdir()
    named = tmp_path / "best.engine.json"        # a checkpoint that happens to carry the sidecar's name
    shutil.copy(DEMO_MODEL, named)
    for args, message in [
        (["--model", model, "--out", tmp_path / "sub" / ".." / "best.pt"], "--out: .*best.pt: is an input"),
        (["--model", named, "--format", "engine", "--out", tmp_path / "best.engine"],
         "--out: .*best.engine.json: is an input"),
    ]:
        res = runner.invoke(app, ["export", *map(str, args)])
        assert isinstance(res.exception, EdgeactError) and re.search(message, str(res.exception)), res.output
    assert model.read_bytes() == named.read_bytes() == DEMO_MODEL.read_bytes()


# --------------------------------------------------------------------------- --model demo


def test_resolve_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_model("demo") == DEMO_MODEL and read_meta("demo") == read_meta(DEMO_MODEL)
    with pytest.raises(EdgeactError, match=r"nope\.pt: no such file .*'demo'"):
        resolve_model("nope.pt")
    with pytest.raises(EdgeactError, match="is a folder, not a model file"):
        resolve_model(str(tmp_path))
    shutil.copy(DEMO_MODEL, tmp_path / "demo")   # a file that is called demo: never guessed
    with pytest.raises(EdgeactError, match=r"^demo: names the bundled demo model, but \./demo is a file"):
        resolve_model("demo")
    assert resolve_model("./demo") == Path("./demo")


def test_export_and_bench_take_model_demo(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["export", "--model", "demo", "--format", "onnx"])
    assert res.exit_code == 0, res.output
    # written here, not into the installed package
    assert (tmp_path / "demo.onnx").is_file() and not DEMO_MODEL.with_suffix(".onnx").exists()
    assert read_meta(tmp_path / "demo.onnx")["classes"] == read_meta(DEMO_MODEL)["classes"]
    res = runner.invoke(app, ["bench", "model", "--model", "demo", "--backends", "torch", "--batch-size", "1",
                              "--iters", "1", "--warmup", "0", "--device", "cpu", "--json", "b.json"])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["model"]["source"] == "demo"
    assert report["model"]["arch"] == read_meta(DEMO_MODEL)["model"]["arch"]
    assert (report["input"]["frames"], report["input"]["size"]) == (8, 64)


def _demo_cache(root: Path) -> Path:
    """A prepared cache of the demo model's 9 classes (one random 72x72 clip each, all test split)."""
    from edgeact.data.cache import encode_pack, pack_path
    from edgeact.fileio import atomic_write_bytes

    classes = read_meta(DEMO_MODEL)["classes"]
    rng = np.random.default_rng(0)
    samples = []
    for label in range(len(classes["names"])):
        name = f"S001C001P003R001A{label + 1:03d}"
        atomic_write_bytes(pack_path(root, name), encode_pack(rng.integers(0, 255, (10, 72, 72, 3), dtype=np.uint8)))
        samples.append({"name": name, "label": label, "num_frames": 10, "splits": {"bench": "test"}})
    atomic_write_json(root / "index.json", {"meta": {"classes": classes, "benchmarks": ["bench"]}, "samples": samples})
    return root


def test_eval_takes_model_demo(tmp_path, monkeypatch):
    cache = _demo_cache(tmp_path / "cache")
    common = ["--data", str(cache), "--benchmark", "bench", "--workers", "0", "--test-sets", "1", "--device", "cpu"]
    reports = []
    for model in ("demo", str(DEMO_MODEL)):
        out = tmp_path / f"{Path(model).name}.json"
        res = runner.invoke(app, ["eval", "--model", model, *common, "--out", str(out)])
        assert res.exit_code == 0, res.output
        reports.append(json.loads(out.read_text()))
    demo, by_path = reports
    assert demo["clips"] == 9 and demo["confusion"] == by_path["confusion"] and demo["top1"] == by_path["top1"]
