"""The OpenVINO runtime (classifier ONNX files and ultralytics pose exports), its bench rows, and
its bad inputs: one line each, nothing written."""

import json
import sys

import numpy as np
import pytest
import torch

from cli_ok import cli_ok, runner
from edgeact.checkpoint import build_meta, save_checkpoint
from edgeact.cli import app
from edgeact.cli_options import name_option
from edgeact.errors import EdgeactError
from edgeact.export import export_model
from edgeact.models import create_model
from edgeact.runtime import load_runtime
from edgeact.runtime.openvino_backend import hint_for, ov_device
from test_precision import CLASSES, SPEC, toy_cache

TINY = ["--arch", "i3d_r18", "--num-classes", "4", "--levels", "2,none,none", "--width", "0.125", "--frames", "4",
        "--size", "32", "--device", "cpu", "--threads", "1", "--warmup", "0", "--iters", "2"]


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("ov")
    cache = toy_cache(root / "cache")
    torch.manual_seed(0)
    model = create_model("i3d_r18", num_classes=4, levels=(2, None, None), width=0.125).eval()
    g = torch.Generator().manual_seed(1)
    for m in model.modules():                      # trained-like batch-norm statistics: logits vary per clip
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
    pt = save_checkpoint(root / "m.pt", model, build_meta(model, CLASSES, SPEC, benchmark="toy"))
    return {"pt": pt, "model": model, "cache": cache, "fp32": export_model(pt, "onnx").path,
            "int8": export_model(pt, "onnx", int8=True, calib_data=cache, calib_clips=8).path}


def _clips(b, seed=0):
    return np.random.default_rng(seed).standard_normal((b, 3, SPEC.frames, SPEC.size, SPEC.size), dtype=np.float32)


def test_openvino_fp32_gives_the_models_logits_for_any_batch(onnx_files):
    rt = load_runtime(onnx_files["fp32"], "cpu", backend="openvino", threads=1)
    assert (rt.backend, rt.precision, rt.device, rt.max_batch) == ("openvino", "fp32", "cpu", None)
    assert rt.classes == CLASSES
    for b in (1, 3):
        x = _clips(b, seed=b)
        with torch.no_grad():
            want = [o.numpy() for o in onnx_files["model"](torch.from_numpy(x))]
        got = rt(x)
        assert [g.shape for g in got] == [(b, 2), (b, 4)]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, atol=1e-4, rtol=0)
    first = rt(_clips(2))
    rt(_clips(2, seed=9))
    np.testing.assert_array_equal(first[-1], rt(_clips(2))[-1])    # outputs are copies, not the request's buffers


def test_bf16_hint_is_what_the_cpu_computes_in(onnx_files):
    """bf16 is asked for explicitly and read back from the compiled model (OpenVINO's own CPU
    default would have picked it silently)."""
    import openvino as ov

    caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    rt = load_runtime(onnx_files["fp32"], "cpu", backend="openvino", precision="bf16")
    x = _clips(2)
    ref = load_runtime(onnx_files["fp32"], "cpu", backend="openvino")(x)
    if "BF16" not in caps:
        assert rt.precision == "fp32"
        return
    assert rt.precision == "bf16"
    err = max(float(np.abs(a - b).max()) for a, b in zip(rt(x), ref))
    assert 0 < err < 0.05 * max(float(np.abs(r).max()) for r in ref)


def test_precision_rules():
    caps_fp16, caps = ["FP32", "FP16", "INT8"], ["FP32", "BF16", "INT8"]
    assert hint_for("fp32", None, caps, "m") == "f32" and hint_for("fp32", "bf16", caps, "m") == "bf16"
    assert hint_for("fp16", None, caps_fp16, "m") == "f16"
    assert hint_for("fp16", None, caps, "m") == "f32"           # float16 weights, float32 arithmetic: not less exact
    assert hint_for("int8", None, caps, "m") is None and hint_for("int8", "int8", caps, "m") is None
    for artifact, precision, message in (("fp32", "int8", "has no Q/DQ nodes"), ("fp32", "fp16", "--fp16"),
                                         ("int8", "bf16", "runs as int8"), ("fp32", "fp8", "choose one of")):
        with pytest.raises(EdgeactError, match=message):
            hint_for(artifact, precision, caps, "m")


def test_device_names():
    assert ov_device("auto", ["CPU"], "m") == "CPU" and ov_device("cpu", ["CPU"], "m") == "CPU"
    assert ov_device("gpu", ["CPU", "GPU.0", "GPU.1"], "m") == "GPU" and ov_device("GPU.1", ["CPU", "GPU.1"], "m") == "GPU.1"
    assert ov_device("AUTO:GPU,CPU", ["CPU"], "m") == "AUTO:GPU,CPU"
    with pytest.raises(EdgeactError, match=r"m: OpenVINO device 'NPU' does not exist on this machine \(available: CPU\)"):
        ov_device("npu", ["CPU"], "m")
    with pytest.raises(EdgeactError, match="^device: cuda:0: OpenVINO runs m on Intel CPUs, GPUs and NPUs"):
        ov_device("cuda:0", ["CPU"], "m")


def test_backend_choice_errors(onnx_files):
    with pytest.raises(EdgeactError, match=r"^backend: openvino runs ONNX files; .*\.pt is a checkpoint"):
        load_runtime(onnx_files["pt"], "cpu", backend="openvino")
    with pytest.raises(EdgeactError, match=r"^backend: tensorrt: .*\.onnx is a onnx, which runs on onnx or openvino"):
        load_runtime(onnx_files["fp32"], "cpu", backend="tensorrt")
    with pytest.raises(EdgeactError, match="^precision: applies to the openvino backend only") as info:
        load_runtime(onnx_files["fp32"], "cpu", precision="bf16")
    name_option(info.value, "bench model")          # the CLI names its options
    assert str(info.value).startswith("--precision: applies to the openvino backend only")
    with pytest.raises(EdgeactError, match="an fp32 ONNX; fp16 comes from"):
        load_runtime(onnx_files["fp32"], "cpu", backend="openvino", fp16=True)
    assert load_runtime(onnx_files["fp32"], "cpu", backend="onnxruntime").backend == "onnx"


# ----------------------------------------------------------------------------- bad input (case 6)

def test_a_device_that_does_not_exist_is_one_line(onnx_files, tmp_path):
    import openvino as ov

    if "GPU" in " ".join(ov.Core().available_devices):
        pytest.skip("this machine has an Intel GPU")
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["eval", "--model", str(onnx_files["int8"]), "--data", str(onnx_files["cache"]),
                                 "--backend", "openvino", "--device", "gpu", "--workers", "0", "--out", str(out)])
    assert isinstance(result.exception, EdgeactError)
    assert str(result.exception) == (f"{onnx_files['int8']}: OpenVINO device 'GPU' does not exist on this machine "
                                     "(available: CPU)")
    assert not out.exists() and not list(tmp_path.iterdir())


def test_openvino_not_installed_names_the_extra(onnx_files, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)       # what an environment without the package gives
    needs = r"the OpenVINO backend needs the openvino package \(pip install 'edgeact\[openvino\]'\)"
    with pytest.raises(EdgeactError, match=needs):
        load_runtime(onnx_files["fp32"], "cpu", backend="openvino")
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["eval", "--model", str(onnx_files["fp32"]), "--data", str(onnx_files["cache"]),
                                 "--backend", "openvino", "--device", "cpu", "--workers", "0", "--out", str(out)])
    assert isinstance(result.exception, EdgeactError) and "pip install 'edgeact[openvino]'" in str(result.exception)
    assert not out.exists()


# ----------------------------------------------------------------------------- live

def test_live_on_openvino_decides_as_the_checkpoint(tmp_path):
    from edgeact.runtime.loader import DEMO_MODEL

    onnx = export_model(DEMO_MODEL, "onnx", tmp_path / "demo.onnx", device="cpu").path
    labels = {}
    for name, extra in (("pt", ["--model", "demo"]), ("ov", ["--model", onnx, "--backend", "openvino"])):
        out = tmp_path / f"{name}.jsonl"
        cli_ok(["live", "--demo", *extra, "--no-realtime", "--quiet", "--jsonl", out, "--device", "cpu"])
        rows = [r for r in map(json.loads, out.read_text().splitlines()) if "event" not in r]   # decisions only
        labels[name] = [(r["clip"], r["fine"][0]["label"], r["fine"][0]["p"]) for r in rows]
    assert labels["pt"] and [r[:2] for r in labels["ov"]] == [r[:2] for r in labels["pt"]]
    assert [r[2] for r in labels["ov"]] == pytest.approx([r[2] for r in labels["pt"]], abs=1e-3)


def test_bench_live_runs_the_classifier_on_openvino(tmp_path):
    from edgeact.live.bench import run_live_bench
    from edgeact.runtime.loader import DEMO_MODEL

    onnx = export_model(DEMO_MODEL, "onnx", tmp_path / "demo.onnx", device="cpu").path
    row = run_live_bench(model=str(onnx), backend="openvino", pose="skeleton", seconds=1.0, width=160, height=120,
                         device="cpu")
    assert (row["backend"], row["precision"]) == ("openvino", "fp32") and row["decisions"] > 0


# ----------------------------------------------------------------------------- bench model rows

def test_bench_rows_per_backend_and_precision_side_by_side():
    from edgeact.bench import bench_markdown, bench_model

    logs = []
    report = bench_model(arch="i3d_r18", num_classes=4, levels=(2, None, None), width=0.125, batches=(1, 2), frames=4,
                         size=32, device="cpu", warmup=0, iters=2, threads=1, backends=("torch", "onnx", "openvino"),
                         precisions=("fp32", "fp16", "bf16", "int8"), log=logs.append)
    keys = [(r["backend"], r["precision"], r["batch"]) for r in report["rows"]]
    per_batch = [("torch", "fp32"), ("onnx", "fp32"), ("onnx", "fp16"), ("onnx", "int8"), ("openvino", "fp32"),
                 ("openvino", "fp16"), ("openvino", "bf16"), ("openvino", "int8")]
    assert keys == [(b, p, n) for n in (1, 2) for b, p in per_batch]
    assert all({"backend", "precision", "batch", "p50_ms", "computes_in"} <= set(r) and r["p50_ms"] > 0
               for r in report["rows"])
    rows = {k: r for k, r in zip(keys, report["rows"])}
    assert rows[("openvino", "int8", 1)]["computes_in"].startswith("int8+")
    assert rows[("openvino", "fp32", 1)]["computes_in"] == "fp32"
    assert any("skipped torch fp16: torch fp16 needs a CUDA device" in line for line in logs)
    assert any("skipped onnx bf16: onnx has no bf16 rows" in line for line in logs)
    assert any("int8: calibrated on random clips" in line for line in logs)
    assert "torch / OpenVINO p50 (fp32, batch 2)" in bench_markdown(report)


def test_cli_bench_an_onnx_file_on_both_runtimes(onnx_files, tmp_path):
    out = tmp_path / "b.json"
    cli_ok(["bench", "model", "--model", onnx_files["int8"], "--backends", "onnx,openvino", "--batch-size", "1",
            "--device", "cpu", "--threads", "1", "--warmup", "0", "--iters", "2", "--json", out])
    report = json.loads(out.read_text())
    assert [(r["backend"], r["precision"]) for r in report["rows"]] == [("onnx", "int8"), ("openvino", "int8")]
    result = runner.invoke(app, ["bench", "model", "--model", str(onnx_files["int8"]), "--backends", "openvino",
                                 "--precision", "bf16", "--device", "cpu"])
    assert isinstance(result.exception, EdgeactError) and "runs none of them" in str(result.exception)


def test_bench_precision_errors(onnx_files, monkeypatch, tmp_path):
    from edgeact.bench import bench_model

    tiny = dict(arch="i3d_r18", num_classes=4, levels=(None, None, None), width=0.125, batches=(1,), frames=4, size=32,
                device="cpu", warmup=0, iters=1)
    with pytest.raises(EdgeactError, match="^precisions: int8: none of the backends torch runs it here"):
        bench_model(backends=("torch",), precisions=("int8",), **tiny)
    with pytest.raises(EdgeactError, match="^precisions: 'fp8' is not one of fp32, fp16, bf16, int8"):
        bench_model(backends=("torch",), precisions=("fp8",), **tiny)
    monkeypatch.setitem(sys.modules, "openvino", None)
    out = tmp_path / "b.json"
    result = runner.invoke(app, ["bench", "model", "--model", str(onnx_files["fp32"]), "--backends", "openvino",
                                 "--device", "cpu", "--iters", "1", "--json", str(out)])
    assert isinstance(result.exception, EdgeactError) and "pip install 'edgeact[openvino]'" in str(result.exception)
    assert not out.exists()


# ----------------------------------------------------------------------------- the pose stage

@pytest.fixture(scope="module")
def ov_pose(tmp_path_factory):
    """ultralytics' own OpenVINO export folder of the untrained yolo11n-pose (built offline from its YAML)."""
    import os
    from pathlib import Path

    from ultralytics import YOLO

    here, where = os.getcwd(), tmp_path_factory.mktemp("pose")
    os.chdir(where)                                     # the export lands in the current folder
    try:
        folder = Path(YOLO("yolo11n-pose.yaml").export(format="openvino", imgsz=64, verbose=False))
    finally:
        os.chdir(here)
    return folder if folder.is_absolute() else where / folder


def test_bench_pose_and_live_pose_take_an_openvino_export(ov_pose):
    from edgeact.bench import bench_markdown, bench_pose
    from edgeact.live.frames import Frame
    from edgeact.live.pose import UltralyticsPose

    folder = ov_pose
    report = bench_pose(str(folder), imgsz=64, device="cpu", warmup=1, iters=2)
    (row,) = report["rows"]
    assert row["model"] == str(folder) and row["p50_ms"] > 0
    assert row["precision"] in ("fp32", "bf16")                  # read back from the compiled model
    assert f"| {row['precision']} |" in bench_markdown(report)
    pose = UltralyticsPose(folder, device="cpu", imgsz=64, tracker="iou")
    people = pose(Frame(index=0, t=0.0, image=np.zeros((64, 64, 3), np.uint8)))
    assert isinstance(people, list) and pose.num_joints == 17


def test_pose_openvino_errors(ov_pose, tmp_path, monkeypatch):
    from edgeact.bench import bench_pose

    empty = tmp_path / "empty_openvino_model"
    empty.mkdir()
    with pytest.raises(EdgeactError, match="a folder without an OpenVINO model"):
        bench_pose(str(empty), imgsz=64, device="cpu")
    monkeypatch.setitem(sys.modules, "openvino", None)
    needs = r"an OpenVINO pose model needs the openvino package \(pip install 'edgeact\[openvino\]'\)"
    with pytest.raises(EdgeactError, match=needs):
        bench_pose(str(ov_pose), imgsz=64, device="cpu")
