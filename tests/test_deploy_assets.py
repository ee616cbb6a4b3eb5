"""Checks of the deployment assets in deploy/: shell syntax, what build_engines.sh and docker-run.sh
actually run, the systemd unit and its settings file, the Dockerfile, and that every `edgeact ...`
command line the assets show uses an existing command (a guard against the docs drifting from the CLI).

The GPU-side tools (TensorRT, ultralytics' engine export, docker) cannot run here, so the scripts run
against small stand-in executables that record their arguments: the tests check what the scripts
would run and which files they expect, not the engines themselves.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
BASH = shutil.which("bash")
SCRIPTS = sorted(DEPLOY.glob("*.sh"))

# The commands and options of the real edgeact CLI; a doc naming any other has drifted.
def _cli_options() -> dict[str, set[str]]:
    """Every option of every ``edgeact`` command, read from the real CLI (a command group such as
    ``bench`` gets the union of its subcommands' options)."""
    import typer

    from edgeact.cli import app

    def opts(cmd) -> set[str]:
        if hasattr(cmd, "commands"):           # a command group
            return set().union(*(opts(c) for c in cmd.commands.values()), {"--help"})
        return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")} | {"--help"}

    group = typer.main.get_command(app)
    return {name: opts(cmd) for name, cmd in group.commands.items()}


OPTIONS = _cli_options()
COMMANDS = set(OPTIONS)


# ---------------------------------------------------------------------------------------------
# helpers


def run_script(script: Path, *args: str, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run([BASH, str(script), *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=60, stdin=subprocess.DEVNULL)


def write_stub(folder: Path, name: str, body: str, log: bool = True) -> Path:
    """An executable Python stand-in for ``name`` that logs its argv to $STUB_LOG, then runs ``body``."""
    path = folder / name
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "from pathlib import Path\n"
        "args = sys.argv[1:]\n"
        f"if {log}:\n"
        "    with open(os.environ['STUB_LOG'], 'a') as log:\n"
        f"        log.write(json.dumps([{name!r}, *args]) + '\\n')\n"
        + body
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


EDGEACT_STUB = """
def value(flag):
    return args[args.index(flag) + 1]
if args[0] == 'export':
    Path(value('--out')).write_bytes(b'artifact')
    if value('--format') == 'engine':
        Path(value('--out') + '.json').write_text('{}')
elif args[0] == 'bench':
    Path(value('--json')).write_text('{}')
"""

YOLO_STUB = """
if args[0] == 'cfg':
    print('quantize: null' if os.environ.get('STUB_QUANTIZE') == '1' else 'half: false')
elif args[0] == 'export':
    model = Path(next(a for a in args if a.startswith('model='))[len('model='):])
    model.with_suffix('.engine').write_bytes(b'engine')
"""


def read_log(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def stubs(tmp_path):
    """A folder with stand-ins for edgeact, yolo and nvidia-smi, and the env that puts it first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_stub(bin_dir, "edgeact", EDGEACT_STUB)
    write_stub(bin_dir, "yolo", YOLO_STUB)
    write_stub(bin_dir, "nvidia-smi", "print('GPU 0: Stub GPU (UUID: GPU-0)')\n", log=False)
    log = tmp_path / "calls.jsonl"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", STUB_LOG=str(log))
    return bin_dir, env, log


@pytest.fixture
def inputs(tmp_path):
    ckpt = tmp_path / "best.pt"
    pose = tmp_path / "yolo11n-pose.pt"
    ckpt.write_bytes(b"ckpt")
    pose.write_bytes(b"pose")
    return ckpt, pose, tmp_path / "engines"


# ---------------------------------------------------------------------------------------------
# train/ scripts: they write into their work folder; shipped files change only when asked

TRAIN_STUB = """
def value(flag):
    return Path(args[args.index(flag) + 1])
if args[0] == 'train':
    value('--out').mkdir(parents=True, exist_ok=True)
    (value('--out') / 'best.pt').write_bytes(b'new model')
elif args[0] == 'eval':
    value('--out').write_text('{}')
elif args[0] == 'ablate':
    value('--out').mkdir(parents=True, exist_ok=True)
    (value('--out') / 'ablation.md').write_text('new table')
    (value('--out') / 'ablation.json').write_text('{"new": 1}')
"""


@pytest.fixture
def fake_repo(tmp_path):
    """A copy of train/*.sh in a repository layout whose shipped files are markers, and an edgeact
    stand-in that writes what each training step would; returns (repo, env, log)."""
    repo = tmp_path / "repo"
    (repo / "train").mkdir(parents=True)
    for script in (REPO / "train").glob("*.sh"):
        shutil.copy2(script, repo / "train" / script.name)
    (repo / "edgeact" / "assets").mkdir(parents=True)
    (repo / "edgeact" / "assets" / "demo.pt").write_bytes(b"shipped model")
    (repo / "bench" / "results").mkdir(parents=True)
    (repo / "bench" / "results" / "ablation_synth.md").write_text("shipped table")
    (repo / "bench" / "results" / "ablation_synth.json").write_text("{}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_stub(bin_dir, "edgeact", TRAIN_STUB)
    log = tmp_path / "calls.jsonl"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", STUB_LOG=str(log))
    return repo, env, log


def test_train_script_syntax():
    scripts = sorted((REPO / "train").glob("*.sh"))
    assert {p.name for p in scripts} >= {"demo.sh", "synth-ablation.sh", "launch_torchrun.sh"}
    for script in scripts:
        proc = subprocess.run([BASH, "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "set -euo pipefail" in script.read_text()


def test_demo_sh_replaces_the_bundled_model_only_with_install(fake_repo, tmp_path):
    repo, env, log = fake_repo
    shipped = repo / "edgeact" / "assets" / "demo.pt"
    proc = run_script(repo / "train" / "demo.sh", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert shipped.read_bytes() == b"shipped model"
    assert (tmp_path / "runs" / "demo" / "run" / "best.pt").read_bytes() == b"new model"
    assert "the bundled demo model is unchanged" in proc.stdout
    calls = read_log(log)
    assert [c[1] for c in calls] == ["synth", "prep", "train", "eval"]
    assert calls[2][calls[2].index("--recipe") + 1] == str(repo / "train" / "demo.yaml")
    proc = run_script(repo / "train" / "demo.sh", "--install", "work", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert shipped.read_bytes() == b"new model" and f"replaced {shipped}" in proc.stdout
    assert sorted(p.name for p in shipped.parent.iterdir()) == ["demo.pt"]      # no temporary copy left
    proc = run_script(repo / "train" / "demo.sh", "--instal", env=env, cwd=tmp_path)
    assert proc.returncode == 2 and "unknown option --instal" in proc.stderr


def test_synth_ablation_sh_replaces_bench_results_only_with_publish(fake_repo, tmp_path):
    repo, env, log = fake_repo
    results = repo / "bench" / "results"
    proc = run_script(repo / "train" / "synth-ablation.sh", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (results / "ablation_synth.md").read_text() == "shipped table"
    assert (tmp_path / "runs" / "synth-ablation" / "ablation" / "ablation.md").read_text() == "new table"
    assert "bench/results is unchanged" in proc.stdout
    proc = run_script(repo / "train" / "synth-ablation.sh", "--publish", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (results / "ablation_synth.md").read_text() == "new table"
    assert json.loads((results / "ablation_synth.json").read_text()) == {"new": 1}
    assert sorted(p.name for p in results.iterdir()) == ["ablation_synth.json", "ablation_synth.md"]


def test_launch_torchrun_says_why_it_stops_without_nvidia_smi(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_stub(bin_dir, "torchrun", "")
    log = tmp_path / "calls.jsonl"
    script = REPO / "train" / "launch_torchrun.sh"
    # only the stand-in torchrun on PATH: no nvidia-smi
    proc = run_script(script, "ntu60-xsub", "/data/cache", env={"PATH": str(bin_dir), "STUB_LOG": str(log)})
    assert proc.returncode == 1 and read_log(log) == []
    assert "nvidia-smi not found" in proc.stderr and "GPUS=N" in proc.stderr
    assert "edgeact train --recipe train/ntu60-xsub.yaml --data /data/cache" in proc.stderr
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "STUB_LOG": str(log)}
    write_stub(bin_dir, "nvidia-smi", "sys.exit(9)\n", log=False)               # a broken driver
    proc = run_script(script, "ntu60-xsub", "/data/cache", env=env)
    assert proc.returncode == 1 and "nvidia-smi failed" in proc.stderr and read_log(log) == []
    write_stub(bin_dir, "nvidia-smi", "print('GPU 0: A (UUID: 0)'); print('GPU 1: B (UUID: 1)')\n", log=False)
    proc = run_script(script, "ntu60-xsub", "/data/cache", env=env)
    assert proc.returncode == 0, proc.stderr
    assert read_log(log)[-1][:4] == ["torchrun", "--standalone", "--nproc-per-node", "2"]
    proc = run_script(script, "ntu60-xsub", "/data/cache", env={**env, "GPUS": "3"})
    assert read_log(log)[-1][:4] == ["torchrun", "--standalone", "--nproc-per-node", "3"]


# ---------------------------------------------------------------------------------------------
# shell scripts


def test_there_are_scripts_to_check():
    assert {p.name for p in SCRIPTS} >= {"build_engines.sh", "docker-run.sh"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shell_script_syntax(script):
    proc = subprocess.run([BASH, "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert os.access(script, os.X_OK), f"{script.name} is not executable (the README runs it directly)"


def test_build_engines_help():
    proc = run_script(DEPLOY / "build_engines.sh", "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: build_engines.sh [options] CHECKPOINT POSE_MODEL OUT_DIR")
    assert proc.stderr == ""


def _script_options(text: str) -> tuple[set[str], set[str]]:
    """(options in the usage text, options the argument parser handles) of build_engines.sh."""
    usage = text[text.index("usage() {"):text.index("\n}\n", text.index("usage() {"))]
    listed = set(re.findall(r"^\s+(?:-h, )?(--[a-z][a-z0-9-]*)", usage, re.M))
    parser = text[text.index("while (( $# )); do"):text.index("\ndone\n")]
    handled = set(re.findall(r"^\s+(?:-h\|)?(--[a-z][a-z0-9-]*)\)", parser, re.M))
    return listed, handled


def test_build_engines_usage_lists_exactly_the_parsed_options():
    listed, handled = _script_options((DEPLOY / "build_engines.sh").read_text())
    assert {"--fp16", "--int8", "--int8-data", "--max-batch", "--help"} <= handled
    assert listed == handled - {"--calib-data"}       # the old spelling of --int8-data, not listed


@pytest.mark.parametrize("args, message", [
    ([], "expected CHECKPOINT POSE_MODEL OUT_DIR, got 0 argument(s)"),
    (["{ckpt}", "{pose}"], "got 2 argument(s)"),
    (["--bogus", "{ckpt}", "{pose}", "{out}"], "unknown option --bogus"),
    (["{tmp}/nope.pt", "{pose}", "{out}"], "checkpoint {tmp}/nope.pt: no such file"),
    (["{ckpt}", "{tmp}/pose.onnx", "{out}"], "pose model {tmp}/pose.onnx: no such file"),
    (["{ckpt}", "{ckpt_onnx}", "{out}"], "yolo export needs the .pt weights"),
    (["--int8", "{ckpt}", "{pose}", "{out}"], "--int8 needs --int8-data CACHE"),
    (["--int8", "--int8-data", "{tmp}/nocache", "{ckpt}", "{pose}", "{out}"], "--int8-data {tmp}/nocache: no such"),
    (["--int8-data", "{tmp}", "{ckpt}", "{pose}", "{out}"], "--int8-data is only used with --int8"),
    (["--max-batch", "0", "{ckpt}", "{pose}", "{out}"], "--max-batch 0: not a positive integer"),
    (["--max-batch", "{ckpt}", "{pose}", "{out}"], "not a positive integer"),
    (["{ckpt}", "{pose}", "{out}", "--frames"], "--frames needs a value"),
    (["--pose-workspace", "lots", "{ckpt}", "{pose}", "{out}"], "--pose-workspace lots: not a number of GiB"),
])
def test_build_engines_rejects_bad_arguments(stubs, inputs, tmp_path, args, message):
    _, env, log = stubs
    ckpt, pose, out = inputs
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"onnx")
    fill = dict(ckpt=ckpt, pose=pose, out=out, tmp=tmp_path, ckpt_onnx=onnx)
    proc = run_script(DEPLOY / "build_engines.sh", *[a.format(**fill) for a in args], env=env)
    assert proc.returncode == 2
    assert message.format(**fill) in proc.stderr.splitlines()[0]
    assert "--help" in proc.stderr
    assert read_log(log) == [] and not out.exists()


@pytest.mark.skipif(Path("/etc/nv_tegra_release").exists(), reason="this machine is a Jetson")
def test_build_engines_refuses_to_run_without_an_nvidia_gpu(tmp_path, inputs):
    # Only edgeact and yolo on PATH: no nvidia-smi, no python3 with torch.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_stub(bin_dir, "edgeact", EDGEACT_STUB)
    write_stub(bin_dir, "yolo", YOLO_STUB)
    log = tmp_path / "calls.jsonl"
    ckpt, pose, out = inputs
    proc = run_script(DEPLOY / "build_engines.sh", str(ckpt), str(pose), str(out),
                      env={"PATH": str(bin_dir), "STUB_LOG": str(log)})
    assert proc.returncode == 1
    assert "no NVIDIA GPU found" in proc.stderr
    assert "run this script on the Jetson" in proc.stderr
    assert read_log(log) == [] and not out.exists()


def test_build_engines_needs_edgeact_on_path(tmp_path, inputs):
    ckpt, pose, out = inputs
    proc = run_script(DEPLOY / "build_engines.sh", str(ckpt), str(pose), str(out), env={"PATH": str(tmp_path)})
    assert proc.returncode == 1
    assert "no 'edgeact' on PATH" in proc.stderr


def test_build_engines_default_run(stubs, inputs):
    _, env, log = stubs
    ckpt, pose, out = inputs
    proc = run_script(DEPLOY / "build_engines.sh", str(ckpt), str(pose), str(out), env=dict(env, STUB_QUANTIZE="1"))
    assert proc.returncode == 0, proc.stderr
    engine, pose_engine = out / "best.engine", out / "yolo11n-pose.engine"
    onnx = out / "best.fp16.onnx"
    assert read_log(log) == [
        # FP16 lives in the ONNX graph; the strongly typed engine is built from that file
        ["edgeact", "export", "--model", str(ckpt), "--format", "onnx", "--out", str(onnx), "--fp16"],
        ["edgeact", "export", "--model", str(onnx), "--format", "engine", "--out", str(engine), "--max-batch", "8"],
        ["yolo", "cfg"],
        ["yolo", "export", f"model={out / 'yolo11n-pose.pt'}", "format=engine", "quantize=16", "imgsz=640",
         "device=0"],
        ["edgeact", "bench", "model", "--model", str(engine), "--batch-size", "1,8",
         "--json", str(out / "bench-model.json")],
        ["edgeact", "bench", "pose", "--pose-model", str(pose_engine), "--json", str(out / "bench-pose.json")],
    ]
    # The pose weights are copied, not moved: the user's file stays where it was.
    assert pose.read_bytes() == b"pose" and (out / "yolo11n-pose.pt").read_bytes() == b"pose"
    if not Path("/etc/nv_tegra_release").exists():  # a Jetson names itself before nvidia-smi is asked
        assert "building on: GPU 0: Stub GPU" in proc.stdout
    for path in (engine, Path(f"{engine}.json"), pose_engine, out / "bench-model.json", out / "bench-pose.json"):
        assert str(path) in proc.stdout
    assert f"edgeact live --camera 0 --model {engine} --pose-model {pose_engine} --device cuda" in proc.stdout


def test_build_engines_int8_fp32_and_old_ultralytics(stubs, inputs, tmp_path):
    _, env, log = stubs
    ckpt, pose, out = inputs
    cache = tmp_path / "cache"
    cache.mkdir()
    proc = run_script(DEPLOY / "build_engines.sh", "--int8", "--int8-data", str(cache), "--max-batch", "1",
                      "--frames", "8", "--size", "160", "--compact", "--pose-imgsz", "320", "--pose-workspace", "1.5",
                      str(ckpt), str(pose), str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    calls = read_log(log)
    qdq = out / "best.int8.onnx"
    assert calls[0] == ["edgeact", "export", "--model", str(ckpt), "--format", "onnx", "--out", str(qdq),
                        "--int8", "--int8-data", str(cache), "--frames", "8", "--size", "160", "--compact"]
    assert calls[1] == ["edgeact", "export", "--model", str(qdq), "--format", "engine", "--out",
                        str(out / "best.engine"), "--max-batch", "1"]
    # ultralytics without `quantize` (8.3 and older) gets half=True; INT8 applies to the classifier only.
    assert calls[3] == ["yolo", "export", f"model={out / 'yolo11n-pose.pt'}", "format=engine", "half=True",
                        "imgsz=320", "device=0", "workspace=1.5"]
    assert calls[4][:6] == ["edgeact", "bench", "model", "--model", str(out / "best.engine"), "--batch-size"]
    assert calls[4][6] == "1"

    log.unlink()
    proc = run_script(DEPLOY / "build_engines.sh", "--no-fp16", "--no-bench", str(ckpt), str(pose), str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    calls = read_log(log)
    assert calls[0] == ["edgeact", "export", "--model", str(ckpt), "--format", "onnx", "--out",
                        str(out / "best.fp32.onnx")]  # neither --fp16 nor --int8: the fp32 ONNX and engine
    assert calls[1][-2:] == ["--max-batch", "8"]
    assert [c[:2] for c in calls] == [["edgeact", "export"], ["edgeact", "export"], ["yolo", "cfg"], ["yolo", "export"]]


def test_build_engines_takes_the_old_calib_data_with_a_note(stubs, inputs, tmp_path):
    _, env, log = stubs
    ckpt, pose, out = inputs
    cache = tmp_path / "cache"
    cache.mkdir()
    proc = run_script(DEPLOY / "build_engines.sh", "--int8", "--calib-data", str(cache), "--no-bench",
                      str(ckpt), str(pose), str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "note: --calib-data is now --int8-data" in proc.stderr.splitlines()[0]
    assert read_log(log)[0][-3:] == ["--int8", "--int8-data", str(cache)]


def test_build_engines_fails_when_export_writes_nothing(stubs, inputs):
    bin_dir, env, log = stubs
    write_stub(bin_dir, "edgeact", "")  # exits 0 without writing the ONNX
    ckpt, pose, out = inputs
    proc = run_script(DEPLOY / "build_engines.sh", str(ckpt), str(pose), str(out), env=env)
    assert proc.returncode == 1
    assert f"edgeact export did not write {out / 'best.fp16.onnx'}" in proc.stderr
    assert [c[0] for c in read_log(log)] == ["edgeact"]  # stopped before the engine and the pose build
    # an export that writes the ONNX but no engine stops there too
    write_stub(bin_dir, "edgeact", "if '--format' in args and args[args.index('--format') + 1] == 'onnx':\n"
                                   "    Path(args[args.index('--out') + 1]).write_bytes(b'onnx')\n")
    log.unlink()
    proc = run_script(DEPLOY / "build_engines.sh", str(ckpt), str(pose), str(out), env=env)
    assert proc.returncode == 1
    assert f"edgeact export did not write {out / 'best.engine'} and its metadata" in proc.stderr
    assert [c[:2] for c in read_log(log)] == [["edgeact", "export"], ["edgeact", "export"]]


def test_docker_run_script(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_stub(bin_dir, "docker", "")
    log = tmp_path / "calls.jsonl"
    camera = tmp_path / "video0"
    camera.touch()
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", STUB_LOG=str(log),
               EDGEACT_VIDEO_DEVICES=f"{camera} {tmp_path / 'video9'}", EDGEACT_IMAGE="edgeact:test")
    proc = run_script(DEPLOY / "docker-run.sh", "live", "--camera", "0", "--quiet", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [call] = read_log(log)
    assert call[:4] == ["docker", "run", "--rm", "--runtime"] and call[4] == "nvidia"
    assert call[call.index("--device") + 1] == str(camera) and call.count("--device") == 1
    assert f"{tmp_path / 'video9'} not found" in proc.stderr
    assert f"{tmp_path / 'engines'}:/models" in call and f"{tmp_path / 'edgeact-data'}:/data" in call
    assert (tmp_path / "engines").is_dir() and (tmp_path / "edgeact-data").is_dir()
    assert call[-5:] == ["edgeact:test", "live", "--camera", "0", "--quiet"]
    assert "--entrypoint" not in call and "--tty" not in call  # stdin is not a terminal here

    log.unlink()
    proc = run_script(DEPLOY / "docker-run.sh", "/models/best.pt",
                      env=dict(env, EDGEACT_ENTRYPOINT="edgeact-build-engines"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [call] = read_log(log)
    assert call[call.index("--entrypoint") + 1] == "edgeact-build-engines"
    assert call[-2:] == ["edgeact:test", "/models/best.pt"]


# ---------------------------------------------------------------------------------------------
# systemd unit and settings


def read_unit(path: Path) -> configparser.ConfigParser:
    # strict: a repeated key or section is an error; systemd would concatenate or override silently.
    unit = configparser.ConfigParser(strict=True, interpolation=None)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read_string(path.read_text(), source=str(path))
    return unit


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"{path.name}:{n}: not KEY=VALUE: {line!r}"
        assert key not in env, f"{path.name}:{n}: {key} set twice"
        env[key] = value
    return env


def exec_start(unit: configparser.ConfigParser) -> list[str]:
    return shlex.split(unit["Service"]["ExecStart"].replace("\\\n", " "))


def test_service_unit_keys():
    unit = read_unit(DEPLOY / "edgeact-live.service")
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    assert "network.target" in unit["Unit"]["After"].split()
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
    assert int(service["RestartSec"]) > 0
    assert service["User"] == "edgeact"
    assert "video" in service["SupplementaryGroups"].split()
    assert service["EnvironmentFile"] == "/etc/edgeact/edgeact.env"
    assert service["WorkingDirectory"] == "/var/lib/edgeact"
    assert unit["Install"]["WantedBy"] == "multi-user.target"

    environment = dict(item.split("=", 1) for item in shlex.split(service["Environment"]))
    venv = environment["VIRTUAL_ENV"]
    assert environment["PATH"].split(":")[0] == f"{venv}/bin"
    argv = exec_start(unit)
    assert argv[0] == f"{venv}/bin/edgeact", "ExecStart must run the venv's edgeact"


def test_service_runs_edgeact_live_with_jsonl_and_quiet():
    argv = exec_start(read_unit(DEPLOY / "edgeact-live.service"))
    assert Path(argv[0]).name == "edgeact" and argv[1] == "live"
    assert argv[argv.index("--jsonl") + 1] == "/var/lib/edgeact/actions.jsonl"
    assert "--quiet" in argv and "--exit-on-disconnect" in argv
    for option in ("--model", "--pose-model", "--device"):
        assert argv[argv.index(option) + 1].startswith("${EDGEACT_")


def test_service_variables_are_all_set_in_the_env_file():
    unit = read_unit(DEPLOY / "edgeact-live.service")
    env = read_env(DEPLOY / "edgeact.env")
    used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", unit["Service"]["ExecStart"]))
    assert used == {"EDGEACT_SOURCE", "EDGEACT_MODEL", "EDGEACT_POSE_MODEL", "EDGEACT_DEVICE", "EDGEACT_EXTRA_ARGS"}
    assert used <= env.keys()
    assert env["EDGEACT_SOURCE"].split()[0] in {"--camera", "--video", "--realsense"}
    assert env["EDGEACT_DEVICE"] in {"cuda", "cpu", "auto"}
    assert env["EDGEACT_MODEL"].endswith(".engine") and env["EDGEACT_POSE_MODEL"].endswith(".engine")
    assert env["YOLO_AUTOINSTALL"] == "false"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path):
    # verify refuses a missing executable, so the venv's edgeact is swapped for one that exists.
    text = (DEPLOY / "edgeact-live.service").read_text()
    text = text.replace("/opt/edgeact/venv/bin/edgeact", shutil.which("true"))
    text = text.replace("/etc/edgeact/edgeact.env", str(DEPLOY / "edgeact.env"))
    unit = tmp_path / "edgeact-live.service"
    unit.write_text(text)
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # Unknown keys and bad values are only warnings; any line about our unit is a defect.
    assert [line for line in proc.stderr.splitlines() if unit.name in line] == []


# ---------------------------------------------------------------------------------------------
# Dockerfile


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in path.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        word, _, rest = current.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out


def test_dockerfile_base_entrypoint_and_cmd():
    instr = dockerfile_instructions(DEPLOY / "Dockerfile")
    args = {}
    for word, rest in instr:
        if word == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            args[name] = value
        if word == "FROM":
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], rest.split()[0])
            break
    else:
        pytest.fail("no FROM")
    image, _, tag = base.rpartition(":")
    assert "l4t" in image and tag.startswith("r36"), base  # JetPack 6 = L4T r36
    assert ("ENTRYPOINT", '["edgeact"]') in instr
    assert json.loads(dict(instr)["CMD"]) == ["live", "--demo"]


def test_dockerfile_copies_existing_files_that_the_dockerignore_lets_through():
    instr = dockerfile_instructions(DEPLOY / "Dockerfile")
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[[line.startswith("#") for line in ignore].index(False)] == "*"  # deny by default
    sources = [src for word, rest in instr if word == "COPY" for src in rest.split()[:-1]]
    assert "edgeact" in sources and "pyproject.toml" in sources
    for src in sources:
        assert (REPO / src).exists(), f"COPY {src}: not in the repository"
        assert f"!{src}" in ignore, f"COPY {src}: excluded by Dockerfile.dockerignore"


def test_dockerfile_run_steps_are_valid_sh():
    runs = [rest for word, rest in dockerfile_instructions(DEPLOY / "Dockerfile") if word == "RUN"]
    assert runs
    for script in runs:  # RUN's shell form runs /bin/sh -c (dash on Ubuntu-based L4T images)
        proc = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def test_dockerfile_keeps_the_base_torch():
    runs = " ".join(rest for word, rest in dockerfile_instructions(DEPLOY / "Dockerfile") if word == "RUN")
    assert "--constraint" in runs and "pip list --format=freeze" in runs
    assert "torch.version.cuda" in runs


# ---------------------------------------------------------------------------------------------
# every `edgeact <command> --option` the assets show


_INVOCATION = re.compile(r"(?:^|(?<=[\s/(\"'=`]))edgeact\s+([a-z][a-z0-9-]*)")
_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def invocations(text: str, where: str) -> list[tuple[str, set[str], str]]:
    """``(command, options, where)`` for each ``edgeact <command> ...`` in shell-like ``text``.

    Backslash continuations are joined; options are read up to the end of that command
    (a pipe, ``;``, ``&&``, a comment, or the next ``edgeact`` call).
    """
    found = []
    for n, line in enumerate(re.sub(r"\\\n", " ", text).splitlines(), 1):
        line = re.split(r"(?:^|\s)#", line)[0]  # a shell comment
        matches = list(_INVOCATION.finditer(line))
        for i, m in enumerate(matches):
            end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
            rest = re.split(r"\||;|&&", line[m.end():end])[0]
            found.append((m.group(1), set(_OPTION.findall(rest)), f"{where}:{n}"))
    return found


def code_of(path: Path) -> str:
    """The part of a deploy file that is commands: code blocks and spans of Markdown, non-comment lines else."""
    text = path.read_text()
    if path.suffix == ".md":
        blocks = re.findall(r"^\s*```[^\n]*\n(.*?)^\s*```", text, re.S | re.M)
        prose = re.sub(r"^\s*```[^\n]*\n.*?^\s*```", "", text, flags=re.S | re.M)
        spans = [s.replace("\n", " ") for s in re.findall(r"`([^`]+)`", prose)]
        return "\n".join(blocks + spans)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


DOC_FILES = sorted(p for p in DEPLOY.iterdir()
                   if p.suffix in {".md", ".sh", ".service", ".env"} or p.name == "Dockerfile")
# the user-facing guides outside deploy/ drift the same way
GUIDES = [REPO / "README.md", REPO / "train" / "README.md"]


def test_invocation_parser():
    text = ("x=1; /opt/v/bin/edgeact live --camera 0 \\\n    --quiet | tee out  # edgeact frob --x\n"
            "the edgeact/venv path and edgeact-live.service are not commands\n"
            "edgeact export --format onnx && edgeact bench model --json b.json\n")
    assert invocations(text, "t") == [
        ("live", {"--camera", "--quiet"}, "t:1"),
        ("export", {"--format"}, "t:3"),
        ("bench", {"--json"}, "t:3"),
    ]
    md = DEPLOY / "README.md"
    assert "edgeact train" in code_of(md) and "| file | what it is |" not in code_of(md)


def test_assets_only_use_existing_commands_and_options():
    seen = []
    for path in DOC_FILES + GUIDES:
        seen += invocations(code_of(path), str(path.relative_to(REPO)))
    assert {cmd for cmd, _, _ in seen} >= {"export", "live", "bench"}, "the parser found no commands"
    bad = [f"{where}: edgeact {cmd}" for cmd, _, where in seen if cmd not in COMMANDS]
    bad += [f"{where}: edgeact {cmd} {opt}" for cmd, opts, where in seen if cmd in OPTIONS
            for opt in sorted(opts - OPTIONS[cmd])]
    assert bad == []


def test_readme_uses_only_options_build_engines_has():
    _, handled = _script_options((DEPLOY / "build_engines.sh").read_text())
    code = re.sub(r"\\\n", " ", code_of(DEPLOY / "README.md"))
    calls = [line.split("build_engines.sh ", 1)[1] for line in code.splitlines() if "build_engines.sh " in line]
    assert calls, "the README shows no build_engines.sh call"
    used = set().union(*(set(_OPTION.findall(call)) for call in calls))
    assert used - handled == set()


def test_readme_install_paths_match_the_unit():
    readme = (DEPLOY / "README.md").read_text()
    unit = read_unit(DEPLOY / "edgeact-live.service")
    assert f"install -D -m 0644 deploy/edgeact.env {unit['Service']['EnvironmentFile']}" in readme
    assert "/etc/systemd/system/edgeact-live.service" in readme
    venv = dict(item.split("=", 1) for item in shlex.split(unit["Service"]["Environment"]))["VIRTUAL_ENV"]
    assert f"python3 -m venv --system-site-packages {venv}" in readme


# ---------------------------------------------------------------------------------------------
# TensorRT 10/11 routes: the Dockerfile's package index, ModelOpt for TensorRT 11 pose engines


def _pip_index_seen_by_run_steps(path: Path, base_env: dict[str, str]) -> list[str]:
    """The index each ``RUN ... pip install`` of the Dockerfile uses, as the classic Docker builder
    resolves it (the strictest case): the base image's ``ENV`` (``base_env``) takes precedence over
    an ``ARG`` of the same name, in RUN steps and in ``${...}`` expansion alike, until an ``ENV`` of
    this Dockerfile sets it from something else; pip's ``--index-url`` beats both."""
    args, env, seen = {}, dict(base_env), []

    def expand(value: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), args.get(m.group(1), "")), value)

    for word, rest in dockerfile_instructions(path):
        if word == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
        elif word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = expand(value)
        elif word == "RUN" and "pip install" in rest:
            explicit = re.search(r"--index-url[= ]+(\S+)", rest)
            seen.append(expand(explicit.group(1)) if explicit else env.get("PIP_INDEX_URL", args.get("PIP_INDEX_URL", "")))
    return seen


def test_dockerfile_pip_reaches_its_own_index_not_the_base_images():
    dead = "https://pypi.jetson-ai-lab.dev/jp6/cu126"       # what an older base image sets with ENV
    seen = _pip_index_seen_by_run_steps(DEPLOY / "Dockerfile", {"PIP_INDEX_URL": dead})
    assert seen and set(seen) == {"https://pypi.org/simple"}, seen


def test_build_engines_needs_modelopt_for_tensorrt_11_pose_engines(stubs, inputs):
    """ultralytics builds FP16 engines on TensorRT 11 through nvidia-modelopt; the script stops
    before building anything when it is missing, and goes ahead when it is there (or on 10.x)."""
    bin_dir, env, log = stubs
    ckpt, pose, out = inputs
    write_stub(bin_dir, "python3", """
code = args[args.index('-c') + 1]
if 'tensorrt' in code:
    print(os.environ['STUB_TRT'])
elif 'modelopt' in code:
    sys.exit(0 if os.environ.get('STUB_MODELOPT') == '1' else 1)
""", log=False)
    proc = run_script(DEPLOY / "build_engines.sh", str(ckpt), str(pose), str(out), env=dict(env, STUB_TRT="11.4.0"))
    assert proc.returncode == 1
    assert "TensorRT 11.4.0: the FP16 pose engine needs NVIDIA ModelOpt" in proc.stderr
    assert "pip install 'nvidia-modelopt[onnx]'" in proc.stderr
    assert read_log(log) == [] and not out.exists()
    for trt, modelopt in (("11.4.0", "1"), ("10.3.0", "0")):
        proc = run_script(DEPLOY / "build_engines.sh", "--no-bench", str(ckpt), str(pose), str(out),
                          env=dict(env, STUB_TRT=trt, STUB_MODELOPT=modelopt))
        assert proc.returncode == 0, proc.stderr
        assert f"with TensorRT {trt}" in proc.stdout


def test_deploy_readme_covers_the_supported_tensorrt_routes():
    readme = (DEPLOY / "README.md").read_text()
    rows = {row.split("|")[1].strip(): [c.strip() for c in row.split("|")[2:-1]]
            for row in readme.splitlines() if row.startswith("| JetPack") or row.startswith("| desktop")}
    jp62 = next(v for k, v in rows.items() if k.startswith("JetPack 6.2"))
    jp72 = next(v for k, v in rows.items() if k.startswith("JetPack 7.2"))
    assert jp62[1:4] == ["12.6", "10.3", "3.10"] and jp62[-1] == "**supported**"
    assert jp72[1:4] == ["13.2", "10.16", "3.12"] and "Ubuntu 24.04" in next(k for k in rows if k.startswith("JetPack 7.2"))
    assert any(k.startswith("desktop") and "11.x" in v[2] for k, v in rows.items())
    text = " ".join(readme.split())
    assert "pip install \"nvidia-modelopt[onnx]\"" in text and "**strongly typed**" in text
