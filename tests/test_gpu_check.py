"""``bench/gpu_check.sh``: the one prepared GPU measurement, run here as its ``--device cpu`` dry run,
and the pieces it relies on (``bench model --precisions``, the summary's arithmetic, the runner's
time boxes).

The dry run hides the packages the GPU machine lacks (ultralytics, lap, TensorRT, RealSense), so
it also pins that nothing on the measured path imports them.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch

from edgeact.bench import bench_model, parse_precisions
from edgeact.errors import EdgeactError

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "bench" / "gpu_check.sh"


def _load(name: str):
    """A script under bench/ as a module (bench/ is no package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_summary = _load("gpu_summary")
gpu_variants = _load("gpu_variants")

STEPS = ["nvidia_smi", "install", "facts", "model_r50", "variants_r50", "train_r50", "model_r18", "variants_r18",
         "live_demo", "live_r50", "cudagraphs_r50_b1", "gpu_tests", "compile_r50_b1", "cudagraphs_r18", "compile_r18",
         "compile_r50_b32", "compile_r50_fp32", "nvidia_smi_after"]
NEEDS_CUDA = {"nvidia_smi", "nvidia_smi_after", "cudagraphs_r50_b1", "cudagraphs_r18"}
ABSENT_ON_THE_GPU_MACHINE = "ultralytics,lap,tensorrt,torch_tensorrt,pyrealsense2"

# Put first on PYTHONPATH, it makes the modules named in HIDE_MODULES unimportable (as on a machine
# without them) while importlib.util.find_spec still answers, as it does for any installed package.
HIDER = '''import importlib.abc, importlib.machinery, os, sys
HIDDEN = set(filter(None, os.environ.get("HIDE_MODULES", "").split(",")))
class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r}", name=spec.name)
    def exec_module(self, module):
        pass
class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            return importlib.machinery.ModuleSpec(name, _Loader())
        return None
sys.meta_path.insert(0, _Finder())
'''


def _env(tmp_path: Path, hide: str, **extra) -> dict:
    hider = tmp_path / "hider"
    hider.mkdir(exist_ok=True)
    (hider / "sitecustomize.py").write_text(HIDER)
    env = dict(os.environ, GPU_CHECK_PYTHON=sys.executable, PYTHONPATH=str(hider), HIDE_MODULES=hide,
               GPU_CHECK_WHEELS=str(tmp_path / "no_wheels"), GPU_CHECK_SITE=str(tmp_path / "site"))
    env.update(extra)
    return env


def _run(args, env, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def _wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel (one module), as a carried ``.whl/`` folder would hold."""
    folder.mkdir()
    name, info = "gpucheckprobe", "gpucheckprobe-0.1.dist-info"
    files = {f"{name}.py": "VALUE = 42\n", f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{k},,\n" for k in [*files, f"{info}/RECORD"])
    path = folder / f"{name}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for k, text in files.items():
            zf.writestr(k, text)
    return path


def _steps(summary: dict) -> dict:
    return {s["name"]: s for s in summary["steps"]}


# ----------------------------------------------------------------------------- the dry run

@pytest.mark.slow
def test_dry_run_runs_every_step_and_writes_the_summary(tmp_path):
    """The whole script on tiny models: every step that does not need CUDA is ok, the CUDA ones
    are skipped with their reason, carried wheels are installed, nothing imports ultralytics."""
    out = tmp_path / "out"
    _wheel(tmp_path / "wheels")
    env = _env(tmp_path, ABSENT_ON_THE_GPU_MACHINE, GPU_CHECK_WHEELS=str(tmp_path / "wheels"))
    proc = _run(["--device", "cpu", out], env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["raw.tar.gz", "summary.json", "summary.md"]

    s = json.loads((out / "summary.json").read_text())
    assert s["kind"] == "gpu_check" and s["dry_run"] and s["device"] == "cpu" and s["gpu"] is None
    steps = _steps(s)
    assert list(steps) == STEPS
    for name, st in steps.items():
        if name in NEEDS_CUDA:
            assert st["status"] == "skipped" and ("CUDA" in st["note"] or "NVIDIA" in st["note"]), st
        else:
            assert st["status"] == "ok", st
    assert all("TORCHDYNAMO_DISABLE=1" in steps[n]["note"] for n in STEPS if n.startswith("compile_"))
    assert "installed 1 carried wheel(s)" in steps["install"]["note"]
    assert (tmp_path / "site" / "gpucheckprobe.py").is_file()
    assert s["eager_optional_imports"] == [] and s["edgeact_path"] == str(REPO / "edgeact")

    rows = s["bench_rows"]
    got = {(r["step"], r["backend"], r["precision"], r["batch"]) for r in rows}
    variants = [v[0] for v in gpu_variants.VARIANTS]
    for arch in ("r50", "r18"):
        assert {(f"model_{arch}", "torch", "fp32", b) for b in (1, 2)} <= got
        assert {(f"variants_{arch}", "torch", v, b) for v in variants for b in (1, 2)} <= got
    assert {("compile_r50_b1", "torch-compile", "fp32", 1), ("compile_r18", "torch-compile", "fp32", 2),
            ("compile_r50_b32", "torch-compile", "fp32", 2), ("compile_r50_fp32", "torch-compile", "fp32", 1)} <= got
    for r in rows:
        assert r["p50_ms"] > 0 and r["clips_per_s"] > 0 and r["vs_eager_fp32"] > 0 and r["tflops"] > 0, r
        assert r["device"] == "cpu" and (r["width"], r["frames"], r["size"]) == (0.25, 4, 32)
        if r["step"].startswith("variants_"):
            assert r["rel_err"] < 0.05, r              # autocast rows within bf16 rounding of full fp32
    assert {r["arch"] for r in rows} == {"i3d_r50", "i3d_r18"}
    assert "reason" in s["bound"]                      # no GPU: no bound against a GPU's peak

    (train,) = s["train"]
    assert train["arch"] == "i3d_r50" and train["batch"] == 2 and train["clips_per_s"] > 0 and train["amp"] == "off"
    assert {row["step"] for row in s["live"]} == {"live_demo", "live_r50"}
    assert all(row["frames"] > 0 and row["decisions"] > 0 and row["overhead"] > 0 for row in s["live"])
    tests = s["gpu_tests"]
    assert tests["cases"] and tests["skipped"] == len(tests["cases"]) and tests["failed"] == tests["error"] == 0
    assert all(c["message"] for c in tests["cases"])

    md = (out / "summary.md").read_text()
    assert md.startswith("# edgeact GPU check: dry run on cpu (no GPU")
    for part in ("## Steps", "## Classifier latency", "## Training step", "## Live overhead", "## GPU tests",
                 "not computed: no GPU", "| variants_r50 | i3d_r50 w0.25 | 4x32² | torch | bf16-amp | 1 |"):
        assert part in md, part
    assert all(f"| {name} |" in md for name in STEPS)
    with tarfile.open(out / "raw.tar.gz") as tar:
        names = set(tar.getnames())
    assert {f"./logs/{n}.log" for n in STEPS if n not in NEEDS_CUDA} <= names
    assert {"./facts.json", "./gpu_tests.xml", "./steps.tsv", "./model_r50.md"} <= names


# ----------------------------------------------------------------------------- failures stay contained

def test_a_failing_step_is_recorded_and_the_next_one_runs(tmp_path):
    """Without torch every step fails: each is recorded with its error tail, the run goes on, and
    the summary (which needs no torch) is still written."""
    out = tmp_path / "out"
    proc = _run(["--device", "cpu", out], _env(tmp_path, "torch", GPU_CHECK_STEPS="live_demo,facts,model_r18"))
    assert proc.returncode == 0, proc.stderr
    s = json.loads((out / "summary.json").read_text())
    steps = _steps(s)
    assert list(steps) == ["facts", "model_r18", "live_demo"]        # the script's order, not the list's
    for st in steps.values():
        assert st["status"] == "failed" and st["rc"] != 0
        assert "No module named 'torch'" in st["error_tail"], st
    md = (out / "summary.md").read_text()
    assert "## Errors" in md and "### model_r18 (failed, rc 1)" in md
    assert s["bench_rows"] == [] and s["train"] == [] and s["live"] == []


def test_a_step_over_its_time_box_is_killed_and_the_budget_skips_the_rest(tmp_path):
    """A step that runs past what is left of the budget is killed at that cap (status timeout, with
    its log's tail); the next step, with no budget left, is skipped with the reason."""
    real = sys.executable
    slow = tmp_path / "slowpython"
    # a python that takes 30 s to start anything but the summary
    slow.write_text(f'#!/bin/sh\ncase "$*" in *gpu_summary.py*) exec {real} "$@" ;; esac\n'
                    f'echo "starting slowly" >&2\nsleep 30\nexec {real} "$@"\n')
    slow.chmod(0o755)
    out = tmp_path / "out"
    env = _env(tmp_path, "", GPU_CHECK_PYTHON=str(slow), GPU_CHECK_STEPS="facts,model_r18",
               GPU_CHECK_BUDGET_S="4", GPU_CHECK_MIN_STEP_S="3")
    proc = _run(["--device", "cpu", out], env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    steps = _steps(json.loads((out / "summary.json").read_text()))
    facts, model = steps["facts"], steps["model_r18"]
    assert facts["status"] == "timeout" and facts["rc"] == 124 and facts["cap_s"] <= 4
    assert facts["seconds"] < 20 and "starting slowly" in facts["error_tail"]
    assert f"killed at its {facts['cap_s']} s cap" in facts["note"]
    assert model["status"] == "skipped" and "of the 4s budget left" in model["note"]


@pytest.mark.parametrize("args, env, message", [
    (["--device", "tpu", "OUT"], {}, "--device tpu: use cuda or cpu"),
    (["--fast", "OUT"], {}, "unknown option --fast"),
    (["OUT", "OUT2"], {}, "one OUT_DIR only"),
    (["--device", "cpu", "OUT"], {"GPU_CHECK_STEPS": "facts,modle_r50"}, "GPU_CHECK_STEPS: unknown step 'modle_r50'"),
    (["--device", "cpu", "OUT"], {"GPU_CHECK_BUDGET_S": "8m"}, "must be whole seconds"),
    (["--device", "cpu", "OUT"], {"GPU_CHECK_PYTHON": "/no/such/python"},
     "GPU_CHECK_PYTHON=/no/such/python: no such program"),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, args, env, message):
    proc = _run([str(tmp_path / a) if a.startswith("OUT") else a for a in args], _env(tmp_path, "", **env), timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


def test_an_earlier_run_is_never_written_over(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.md").write_text("an earlier run\n")
    proc = _run(["--device", "cpu", out], _env(tmp_path, ""), timeout=60)
    assert proc.returncode == 2 and "not an empty folder" in proc.stderr and proc.stderr.count("\n") == 1
    assert (out / "summary.md").read_text() == "an earlier run\n" and len(list(out.iterdir())) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_cuda_run_without_a_gpu_measures_nothing(tmp_path):
    proc = _run([tmp_path / "out"], _env(tmp_path, ""), timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "no CUDA GPU visible" in proc.stderr and "nothing measured" in proc.stderr
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- bench model --precisions

TINY = dict(arch="i3d_r18", num_classes=4, levels=(2, None, None), width=0.125, frames=4, size=32, batches=(1,),
            device="cpu", warmup=0, iters=1, threads=1)


def test_bench_model_precisions_choose_the_rows():
    report = bench_model(precisions=("fp32",), backends=("torch",), **TINY)
    assert [(r["backend"], r["precision"]) for r in report["rows"]] == [("torch", "fp32")]
    assert parse_precisions(" FP32, fp16,fp32 ") == ("fp32", "fp16") and parse_precisions("") is None
    with pytest.raises(EdgeactError, match=r"fp16 needs a CUDA device \(--device cuda\)"):
        bench_model(precisions=("fp16",), backends=("torch",), **TINY)
    with pytest.raises(EdgeactError, match=r"'fp8' is not one of fp32, fp16"):
        bench_model(precisions=("fp32", "fp8"), backends=("torch",), **TINY)


def test_bench_model_precisions_on_the_command_line(monkeypatch, capsys):
    from edgeact.cli import main

    monkeypatch.setattr(sys, "argv", ["edgeact", "bench", "model", "--arch", "i3d_r18", "--width", "0.125", "--frames",
                                      "4", "--size", "32", "--device", "cpu", "--backends", "torch",
                                      "--precisions", "fp16"])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "fp16 needs a CUDA device" in err


# ----------------------------------------------------------------------------- summary arithmetic

def _report(arch, rows, frames=8, size=224):
    return {"kind": "model", "model": {"arch": arch, "width": 1.0}, "input": {"frames": frames, "size": size},
            "rows": [{"backend": b, "precision": p, "batch": n, "p50_ms": ms, "p95_ms": ms, "clips_per_s": n * 1e3 / ms}
                     for b, p, n, ms in rows]}


def test_summary_ratios_and_the_flop_bound(tmp_path):
    """vs_eager_fp32 comes from the same run when it has the eager fp32 row, else from the first
    run that does; the bound is GFLOP / peak, against the fastest batch-1 row with and without the copy."""
    work = tmp_path / "work"
    (work / "logs").mkdir(parents=True)
    reports = {"model_r50": _report("i3d_r50", [("torch", "fp32", 1, 8.0), ("torch", "fp16", 1, 4.0)]),
               "variants_r50": _report("i3d_r50", [("torch", "fp32", 1, 10.0), ("torch", "bf16-amp-dev", 1, 1.6)]),
               "compile_r50_b1": _report("i3d_r50", [("torch", "fp16", 1, 4.0), ("torch-compile", "fp16", 1, 2.0)])}
    for name, rep in reports.items():
        (work / f"{name}.json").write_text(json.dumps(rep))
    (work / "facts.json").write_text(json.dumps({"flops": [{"arch": "i3d_r50", "width": 1.0, "frames": 8, "size": 224,
                                                            "gflop": 124.6}]}))
    plan = ["facts", *reports, "train_r50"]
    (work / "steps.tsv").write_text("".join(f"{n}\tok\t0\t1.0\t60\t\tcmd\n" for n in plan))
    s = gpu_summary.build_summary(work, device="cuda", tiny=False, budget=480, started=0, peak_tflops=790, plan=plan)
    rows = {(r["step"], r["backend"], r["precision"]): r for r in s["bench_rows"]}
    assert rows[("variants_r50", "torch", "bf16-amp-dev")]["vs_eager_fp32"] == pytest.approx(10.0 / 1.6)
    compiled = rows[("compile_r50_b1", "torch-compile", "fp16")]
    assert compiled["vs_eager_fp32"] == pytest.approx(4.0) and compiled["vs_eager_fp32_from"] == "model_r50"
    assert compiled["vs_eager_same"] == pytest.approx(2.0)
    assert compiled["tflops"] == pytest.approx(124.6 / 2.0)               # GFLOP per ms = TFLOP/s
    b = s["bound"]
    assert b["bound_ms"] == pytest.approx(124.6 / 790) and b["best"]["p50_ms"] == 1.6
    assert b["best_with_copy"]["row"] == "torch-compile fp16 (compile_r50_b1)"
    assert b["best_with_copy"]["times_bound"] == pytest.approx(2.0 / (124.6 / 790))
    # a step that exited 0 without its report is not ok
    assert _steps(s)["train_r50"]["status"] == "failed" and "wrote no train_r50.json" in _steps(s)["train_r50"]["note"]
    assert "0.158 ms" in gpu_summary.markdown(s)


def test_tf32_switch_restores_torch_flags():
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    with gpu_variants.tf32(False):
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (False, False)
    with gpu_variants.tf32(True):
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (True, True)
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before


def test_the_script_is_executable_bash_that_stops_on_errors():
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text and os.access(SCRIPT, os.X_OK)
    proc = subprocess.run([shutil.which("bash") or "bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
