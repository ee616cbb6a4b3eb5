"""``edgeact bench`` and ``edgeact export`` as commands, and the benchmark's arithmetic."""

import json

import pytest
import typer
from typer.testing import CliRunner

from edgeact.bench import (
    bench_markdown,
    bench_model,
    bench_pose,
    latency_stats,
    parse_backends,
    parse_int_list,
    time_interleaved,
)
from edgeact.cli_deploy import bench_app, export
from edgeact.errors import EdgeactError

runner = CliRunner()
TINY = ["--arch", "i3d_r18", "--num-classes", "4", "--levels", "2,none,none", "--width", "0.125", "--frames", "4",
        "--size", "32", "--device", "cpu", "--threads", "1", "--warmup", "1", "--iters", "3"]


def _app():
    """A small app registering the commands the way edgeact.cli does."""
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(export)
    app.add_typer(bench_app, name="bench")
    return app


def test_latency_stats_by_hand():
    s = latency_stats([0.004, 0.001, 0.003, 0.002], batch=2)
    assert s["p50_ms"] == pytest.approx(2.5)
    assert s["p95_ms"] == pytest.approx(3.85)          # linear interpolation: 3 + 0.85 * (4 - 3)
    assert s["mean_ms"] == pytest.approx(2.5) and s["iters"] == 4
    assert s["clips_per_s"] == pytest.approx(800.0)    # 2 clips / 2.5 ms


def test_time_interleaved_alternates_after_warmup():
    order = []
    times = time_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, warmup=2, iters=3)
    assert order == ["a", "a", "b", "b"] + ["a", "b"] * 3
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3} and min(times["a"]) >= 0
    with pytest.raises(EdgeactError, match="^iters: must be >= 1"):
        time_interleaved({"a": lambda: None}, warmup=0, iters=0)


def test_option_parsers():
    assert parse_int_list("1, 8,8", "--batch-size") == (1, 8)
    assert parse_backends("torch,onnxruntime,trt") == ("torch", "onnx", "tensorrt") and parse_backends(None) is None
    with pytest.raises(EdgeactError, match="--batch-size: 'x' is not an integer"):
        parse_int_list("1,x", "--batch-size")
    with pytest.raises(EdgeactError, match="--batch-size: 0 must be >= 1"):
        parse_int_list("0", "--batch-size")
    assert parse_backends("ov,onnx") == ("openvino", "onnx")
    with pytest.raises(EdgeactError, match="^backends: unknown backend 'tflite'"):
        parse_backends("torch,tflite")


def test_bench_model_side_by_side_report():
    import torch

    torch.set_num_threads(2)
    report = bench_model(arch="i3d_r18", num_classes=4, levels=(2, None, None), width=0.125, batches=(1, 2),
                         frames=4, size=32, device="cpu", warmup=1, iters=3, threads=1)
    assert torch.get_num_threads() == 2     # --threads binds the benchmark only, not the process after it
    assert report["kind"] == "model" and report["device"] == "cpu" and report["threads"] == 1
    assert report["input"] == {"frames": 4, "size": 32} and report["model"]["arch"] == "i3d_r18"
    keys = [(r["backend"], r["precision"], r["batch"]) for r in report["rows"]]
    assert keys == [("torch", "fp32", 1), ("onnx", "fp32", 1), ("torch", "fp32", 2), ("onnx", "fp32", 2)]
    rows = {k: r for k, r in zip(keys, report["rows"])}
    for (_, _, b), r in rows.items():
        assert r["iters"] == 3 and 0 < r["p50_ms"] <= r["p95_ms"]
        assert r["clips_per_s"] == pytest.approx(b * 1e3 / r["p50_ms"])
        assert r["vs_torch"] == pytest.approx(rows[("torch", "fp32", b)]["p50_ms"] / r["p50_ms"])
    assert [(q["batch"], q["precision"]) for q in report["ratios"]] == [(1, "fp32"), (2, "fp32")]
    for q in report["ratios"]:
        t, o = rows[("torch", "fp32", q["batch"])], rows[("onnx", "fp32", q["batch"])]
        assert q["p50_ratio"] == pytest.approx(t["p50_ms"] / o["p50_ms"])
    md = bench_markdown(report)
    assert md.count("\n| torch | fp32 |") == 2 and "torch / onnxruntime p50 (fp32, batch 2)" in md


def test_bench_torch_compile_rows_beside_eager():
    logs = []
    report = bench_model(arch="i3d_r18", num_classes=4, levels=(None, None, None), width=0.125, batches=(1,),
                         frames=4, size=32, device="cpu", warmup=0, iters=2, threads=1,
                         backends=("torch", "torch-compile"), log=logs.append)
    assert [(r["backend"], r["batch"]) for r in report["rows"]] == [("torch", 1), ("torch-compile", 1)]
    eager, compiled = report["rows"]
    assert compiled["first_call_s"] > 10 * compiled["p50_ms"] / 1e3        # compiling happened untimed
    assert [q["name"] for q in report["ratios"]] == ["torch / torch-compile"]
    assert any("torch-compile fp32: compiling for batch 1" in line for line in logs)
    with pytest.raises(EdgeactError, match="^backends: torch-cudagraphs needs a CUDA device"):
        bench_model(arch="i3d_r18", num_classes=4, levels=(None, None, None), width=0.125, batches=(1,), frames=4,
                    size=32, device="cpu", backends=parse_backends("torch-cudagraphs"))


def test_cli_export_then_bench_the_artifact(tmp_path):
    """export and bench model through the commands; an exported artifact runs as its own backend only."""
    from edgeact.checkpoint import build_meta, save_checkpoint
    from edgeact.data.classes import ClassList
    from edgeact.models import create_model
    from edgeact.types import InputSpec

    model = create_model("i3d_r18", num_classes=3, width=0.125)
    pt = save_checkpoint(tmp_path / "m.pt", model, build_meta(model, ClassList(("a", "b", "c")), InputSpec(4, 32, 40)))
    app = _app()
    result = runner.invoke(app, ["export", "--model", str(pt), "--format", "onnx", "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0, result.output
    assert "max abs difference" in result.output and "wrote" in result.output and (tmp_path / "m.onnx").is_file()
    out = tmp_path / "b" / "onnx.json"
    result = runner.invoke(app, ["bench", "model", "--model", str(tmp_path / "m.onnx"), "--batch-size", "2", "--device", "cpu",
                                 "--threads", "1", "--warmup", "0", "--iters", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert [(r["backend"], r["batch"]) for r in report["rows"]] == [("onnx", 2)] and report["ratios"] == []
    result = runner.invoke(app, ["bench", "model", "--model", str(tmp_path / "m.onnx"), "--backends", "torch,onnx"])
    assert isinstance(result.exception, EdgeactError) and "m.onnx is an exported onnx artifact" in str(result.exception)
    result = runner.invoke(app, ["export", "--model", str(pt), "--format", "onnx", "--out", str(tmp_path / "x.onnx"),
                                 "--tolerance", "1e-30"])
    assert result.exit_code != 0 and "differs from PyTorch" in str(result.exception)
    assert not (tmp_path / "x.onnx").exists()


def test_cli_bench_model_writes_json_and_markdown(tmp_path):
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    result = runner.invoke(_app(), ["bench", "model", *TINY, "--batch-size", "1", "--backends", "torch,onnx",
                                    "--json", str(out), "--md", str(md)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert {"kind", "model", "input", "device", "threads", "rows", "ratios", "host", "versions"} <= set(report)
    assert {"backend", "precision", "batch", "p50_ms", "p95_ms", "clips_per_s"} <= set(report["rows"][0])
    assert "torch / onnxruntime p50 (fp32, batch 1)" in result.output
    assert md.read_text() == bench_markdown(report)


def test_cli_bench_user_errors():
    app = _app()
    result = runner.invoke(app, ["bench", "model", "--model", "x.pt", "--arch", "i3d_r18"])
    assert isinstance(result.exception, EdgeactError) and "either --model or --arch" in str(result.exception)
    result = runner.invoke(app, ["bench", "model", "--arch", "i3d_r18", "--batch-size", "0"])
    assert isinstance(result.exception, EdgeactError) and "--batch-size: 0 must be >= 1" in str(result.exception)
    result = runner.invoke(app, ["bench", "model", *TINY, "--backends", "tensorrt"])
    assert isinstance(result.exception, EdgeactError) and "tensorrt needs a CUDA device" in str(result.exception)
    result = runner.invoke(app, ["bench", "model", *TINY, "--iters", "0"])
    assert isinstance(result.exception, EdgeactError) and str(result.exception) == "--iters: must be >= 1, got 0"
    result = runner.invoke(app, ["bench", "pose", "--pose-imgsz", "100"])
    assert isinstance(result.exception, EdgeactError)
    assert str(result.exception) == "--pose-imgsz: must be a multiple of 32 and >= 32, got 100"
    result = runner.invoke(app, ["bench", "pose", "--pose-model", "missing.pt"])
    assert isinstance(result.exception, EdgeactError)
    assert str(result.exception).startswith("--pose-model: missing.pt: no such file")
    with pytest.raises(EdgeactError, match="^imgsz: must be a multiple of 32"):     # from Python: the keyword
        bench_pose(imgsz=100)


def test_bench_pose_untrained_yaml_offline():
    report = bench_pose("yolo11n-pose.yaml", imgsz=64, device="cpu", warmup=1, iters=2, threads=1)
    (row,) = report["rows"]
    assert report["kind"] == "pose" and row["imgsz"] == 64 and row["iters"] == 2
    assert 0 < row["p50_ms"] <= row["p95_ms"] and row["fps"] == pytest.approx(1e3 / row["p50_ms"])
    assert 0 < row["inference_ms"] < row["p95_ms"] * 1.5
    assert "| yolo11n-pose.yaml | 64 | fp32 |" in bench_markdown(report)


def test_cli_module_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, edgeact.cli_deploy; "
            "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime', 'tensorrt', 'ultralytics', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
