"""Deployment commands: ``edgeact export`` and ``edgeact bench model|pose``.

Thin Typer commands (registered by :mod:`edgeact.cli`) that validate options and call
:func:`edgeact.export.export_model`, :func:`edgeact.bench.bench_model` and
:func:`edgeact.bench.bench_pose`. Nothing heavy (torch, onnx, tensorrt, ultralytics) is imported
until a command runs. Bad input raises :class:`edgeact.errors.EdgeactError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from edgeact.errors import EdgeactError

console = Console()


def say(line: str) -> None:
    """Print ``line`` as written: paths and model names (``run[v2]/best.pt``) are not Rich markup."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _dim(line: str) -> None:
    console.print(Text(line, style="dim"), highlight=False, soft_wrap=True)


def export(
    model: str = typer.Option(..., "--model", help="Checkpoint to export (`best.pt` from `edgeact train`), or "
                              "`demo` for the bundled model (written to ./demo.onnx etc.); for --format engine also "
                              "an exported .onnx, built in its precision."),
    fmt: str = typer.Option("onnx", "--format", help="onnx, engine (TensorRT) or torchscript."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output file (default: beside --model with .onnx / "
                                       ".engine / .ts)."),
    fp16: bool = typer.Option(False, "--fp16", help="Half precision: ONNX with float16 inside (float32 in and out; "
                              "written as NAME.fp16.onnx), engine, TorchScript on CUDA."),
    int8: bool = typer.Option(False, "--int8", help="INT8, calibrated on --calib-data: ONNX with Q/DQ on every Conv "
                              "(NAME.int8.onnx; OpenVINO, onnxruntime and TensorRT read it), or an engine."),
    calib_data: Optional[Path] = typer.Option(None, "--calib-data", help="Cache from `edgeact prep` whose clips "
                                              "calibrate --int8 (train split, test preprocessing)."),
    calib_clips: Optional[int] = typer.Option(None, "--calib-clips", help="Clips of the train split that calibrate "
                                              "an --int8 ONNX (default 64), spread over the split."),
    calib_method: Optional[str] = typer.Option(None, "--calib-method", help="INT8 ONNX ranges: minmax (default), "
                                               "entropy or percentile (99.999)."),
    batch: int = typer.Option(1, "--batch", help="Batch to trace with; the engine's optimal batch."),
    max_batch: Optional[int] = typer.Option(None, "--max-batch", help="Largest batch of the engine (default --batch); "
                                            "ONNX and TorchScript take any batch."),
    frames: Optional[int] = typer.Option(None, "--frames", help="Input frames T (default: the checkpoint's)."),
    size: Optional[int] = typer.Option(None, "--size", help="Input crop size S (default: the checkpoint's)."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset (>= 17)."),
    tolerance: float = typer.Option(1e-3, "--tolerance", help="Largest allowed absolute logit difference to "
                                    "PyTorch (fp32); beyond it nothing is written and the command fails."),
    compact: bool = typer.Option(False, "--compact", help="Physically remove pruned filters before exporting."),
    via: str = typer.Option("onnx", "--via", help="Engine route: onnx (alias tensorrt: the TensorRT Python API parses the ONNX; "
                     "writes .engine + .engine.json) or torch-tensorrt (writes a TorchScript holding TensorRT engines)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda: where TorchScript is traced and engines "
                               "are built (engines need CUDA)."),
) -> None:
    """Export a trained checkpoint to **ONNX**, a **TensorRT engine** or **TorchScript**, checked against PyTorch.

    Every artifact carries the checkpoint's metadata (architecture, classes, superclass groups,
    input spec), so `edgeact eval` and `edgeact live` load a `.onnx`, `.engine` or `.ts` exactly
    like the `.pt`. Before anything is written the export runs a random batch through both the
    artifact and PyTorch and prints the largest logit difference; beyond `--tolerance` the
    command fails.

    * ONNX (runs anywhere with onnxruntime; dynamic batch):
      `edgeact export --model runs/ntu/best.pt --format onnx`
    * TensorRT FP16 engine for batches 1-8 (on the target GPU or Jetson; writes `best.engine` and
      its metadata `best.engine.json`):
      `edgeact export --model best.pt --format engine --fp16 --batch 1 --max-batch 8`
    * FP16 and INT8 (Q/DQ) ONNX, one file per precision (`best.fp16.onnx`, `best.int8.onnx`; run them
      with onnxruntime or `--backend openvino`):
      `edgeact export --model best.pt --format onnx --fp16`,
      `edgeact export --model best.pt --format onnx --int8 --calib-data cache/ntu60`
    * INT8 engine, built (strongly typed) from the Q/DQ ONNX calibrated on prepared clips:
      `edgeact export --model best.pt --format engine --int8 --calib-data cache/ntu60`, or from an
      exported ONNX in its own precision: `edgeact export --model best.fp16.onnx --format engine`
    * Pruned model with its zeroed filters physically removed (fewer FLOPs):
      `edgeact export --model best.pt --format onnx --compact`
    """
    from edgeact.export import export_model

    result = export_model(model, fmt, out, fp16=fp16, int8=int8, calib_data=calib_data, calib_clips=calib_clips,
                          calib_method=calib_method, batch=batch,
                          max_batch=max_batch, frames=frames, size=size, opset=opset, tolerance=tolerance,
                          compact=compact, device=device, via=via, log=say)
    spec = result.meta["input"]
    say(f"wrote {result.path} ({result.format}, {result.precision}, input (B, 3, {spec['frames']}, "
        f"{spec['size']}, {spec['size']}), max abs diff {result.max_abs_diff:.3g}, {result.seconds:.1f} s)")
    if result.sidecar is not None:
        say(f"wrote {result.sidecar} (engine metadata; keep it beside the engine)")


bench_app = typer.Typer(
    name="bench",
    help="Measure speed: the classifier per backend x precision x batch (`bench model`), the pose model "
    "(`bench pose`).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)


def check_outputs(outputs: dict[str, Optional[Path]], inputs: list) -> None:
    """Before any measuring: no output (``{option: path}``) lands on an input (a model file or
    ``demo``, the bundled one), and no two outputs name one file (the second would replace the first)."""
    from edgeact.fileio import refuse_output_over_input, same_file
    from edgeact.runtime.loader import DEMO_MODEL, DEMO_NAME

    inputs = [DEMO_MODEL if src is not None and str(src) == DEMO_NAME else src for src in inputs]
    given = [(option, path) for option, path in outputs.items() if path is not None]
    for i, (option, path) in enumerate(given):
        refuse_output_over_input(path, inputs, option=option)
        for other, other_path in given[i + 1:]:
            if same_file(path, other_path):
                raise EdgeactError(f"{option} {path} and {other} {other_path}: name the same file; give each its own")


def _write(report: dict, json_out: Optional[Path], md_out: Optional[Path]) -> None:
    from edgeact.bench import bench_markdown
    from edgeact.fileio import atomic_write_json, atomic_write_text

    if json_out is not None:
        atomic_write_json(json_out, report)
        say(f"wrote {json_out}")
    if md_out is not None:
        atomic_write_text(md_out, bench_markdown(report))
        say(f"wrote {md_out}")


@bench_app.command("model")
def bench_model_cmd(
    model: Optional[str] = typer.Option(None, "--model", help="Artifact: .pt (all backends), .onnx / .ts / "
                                        ".engine (its own backend), or `demo` (the bundled model)."),
    arch: Optional[str] = typer.Option(None, "--arch", help="Untrained model instead of --model: i3d_r18, i3d_r34, "
                                       "i3d_r50, i3d_r101."),
    num_classes: int = typer.Option(60, "--num-classes", help="Fine classes of the --arch model."),
    levels: str = typer.Option("2,6,20", "--levels", help="Superclass heads of the --arch model (none,2,5; empty: none)."),
    width: float = typer.Option(1.0, "--width", help="Channel width multiplier of the --arch model."),
    backends: Optional[str] = typer.Option(None, "--backends", help="Comma list of torch, torch-compile, "
                                           "torch-cudagraphs (CUDA), onnx, openvino, torchscript, tensorrt "
                                           "(default: torch,onnx)."),
    batch: str = typer.Option("1,8", "--batch", help="Comma list of batch sizes."),
    frames: Optional[int] = typer.Option(None, "--frames", help="Input frames T (default: the model's, or 8)."),
    size: Optional[int] = typer.Option(None, "--size", help="Input size S (default: the model's, or 224)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda (fp16 rows on CUDA only)."),
    warmup: int = typer.Option(3, "--warmup", help="Untimed calls per runtime and batch."),
    iters: int = typer.Option(20, "--iters", help="Timed calls per runtime and batch (interleaved)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch and ONNX Runtime."),
    precisions: Optional[str] = typer.Option(None, "--precision", "--precisions", help="Comma list of fp32, fp16, "
                                             "bf16, int8 (default: fp32, plus fp16 on CUDA). Each backend times those "
                                             "it has: fp16/int8 ONNX files for onnx and openvino, bf16 on openvino; "
                                             "torch/torchscript/tensorrt fp16 on CUDA. Others are skipped."),
    calib_data: Optional[Path] = typer.Option(None, "--calib-data", help="Cache whose train clips calibrate the int8 "
                                              "rows (default: random clips: same speed, no accuracy)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the report as JSON."),
    md_out: Optional[Path] = typer.Option(None, "--md", help="Write the report as a Markdown table."),
) -> None:
    """Classifier latency (p50/p95 ms) and throughput (clips/s) per backend, precision and batch.

    All runtimes are timed side by side in one run (calls interleaved), so the printed
    **torch / onnxruntime** ratio is fair even on a busy machine. A `.pt` is exported to ONNX in a
    temporary folder on the fly.

    * `edgeact bench model --arch i3d_r18 --frames 8 --size 112 --batch 1 --device cpu --threads 2`
    * OpenVINO on a CPU, fp32 / bf16 / INT8 (Q/DQ) beside torch eager:
      `edgeact bench model --arch i3d_r50 --batch 1 --device cpu --threads 2 --backends torch,onnx,openvino
      --precision fp32,bf16,int8`
    * `edgeact bench model --model best.pt --backends torch,onnx,tensorrt --batch 1,8 --device cuda --json b.json`
    """
    from edgeact.bench import bench_model, parse_backends, parse_int_list, parse_precisions, precision_label
    from edgeact.types import parse_levels

    if model is not None and arch is not None:
        raise EdgeactError("give either --model or --arch, not both")
    check_outputs({"--json": json_out, "--md": md_out}, [model])
    report = bench_model(model, arch=arch if model is None else None, num_classes=num_classes,
                         levels=parse_levels(levels), width=width, backends=parse_backends(backends),
                         batches=parse_int_list(batch, "--batch"), frames=frames, size=size, device=device,
                         warmup=warmup, iters=iters, threads=threads,
                         precisions=parse_precisions(precisions), calib_data=calib_data, log=_dim)
    from rich.table import Table

    inp = report["input"]
    table = Table(title=f"{escape(report['model']['source'])} at {inp['frames']}x{inp['size']}x{inp['size']} on "
                  f"{report['device']} ({report['threads']} threads)", title_justify="left")
    for col, just in (("backend", "left"), ("precision", "left"), ("batch", "right"), ("p50 ms", "right"),
                      ("p95 ms", "right"), ("clips/s", "right"), ("vs torch fp32", "right"),
                      ("first call s", "right")):
        table.add_column(col, justify=just)
    for r in report["rows"]:
        table.add_row(r["backend"], precision_label(r), str(r["batch"]), f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}",
                      f"{r['clips_per_s']:.2f}", f"{r['vs_torch']:.2f}x" if r.get("vs_torch") else "-",
                      f"{r['first_call_s']:.2f}")
    console.print(table)
    for q in report["ratios"]:
        say(f"{q['name']} p50 ({q['precision']}, batch {q['batch']}): {q['p50_ratio']:.2f}")
    _write(report, json_out, md_out)


@bench_app.command("pose")
def bench_pose_cmd(
    pose_model: str = typer.Option("yolo11n-pose.yaml", "--pose-model", help="ultralytics pose model: a YAML "
                                   "(built untrained, offline) or a .pt / .onnx / .engine path."),
    imgsz: int = typer.Option(640, "--imgsz", help="Square input size (multiple of 32)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda."),
    fp16: bool = typer.Option(False, "--fp16", help="Half precision (CUDA)."),
    warmup: int = typer.Option(3, "--warmup", help="Untimed calls."),
    iters: int = typer.Option(20, "--iters", help="Timed calls."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the report as JSON."),
    md_out: Optional[Path] = typer.Option(None, "--md", help="Write the report as a Markdown table."),
) -> None:
    """Pose-model speed on random images: p50/p95 ms per image and FPS.

    The default `yolo11n-pose.yaml` builds an untrained network offline (speed does not depend on
    the weights); pass real weights or an exported `.onnx` / `.engine` to time those.

    * `edgeact bench pose --imgsz 640 --device cpu --threads 2`
    """
    from edgeact.bench import bench_pose

    check_outputs({"--json": json_out, "--md": md_out}, [pose_model])
    report = bench_pose(pose_model, imgsz=imgsz, device=device, half=fp16, warmup=warmup, iters=iters,
                        threads=threads, log=_dim)
    from rich.table import Table

    table = Table(title=f"pose model on {report['device']} ({report['threads']} threads)", title_justify="left")
    for col in ("model", "imgsz", "precision", "p50 ms", "p95 ms", "FPS", "inference ms"):
        table.add_column(col, justify="left" if col in ("model", "precision") else "right")
    for r in report["rows"]:
        table.add_row(escape(r["model"]), str(r["imgsz"]), r["precision"], f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}",
                      f"{r['fps']:.1f}", f"{r['inference_ms']:.1f}" if "inference_ms" in r else "-")
    console.print(table)
    _write(report, json_out, md_out)


@bench_app.command("live")
def bench_live_cmd(
    model: str = typer.Option("demo", "--model", help="Classifier artifact, or `demo`."),
    pose: str = typer.Option("skeleton", "--pose", help="skeleton (the recording's own: pose costs ~0) or yolo."),
    pose_model: str = typer.Option("yolo11n-pose.yaml", "--pose-model", help="With --pose yolo: the ultralytics model."),
    seconds: float = typer.Option(10.0, "--seconds", help="Length of the synthetic recording."),
    width: int = typer.Option(640, "--width"),
    height: int = typer.Option(480, "--height"),
    stride: str = typer.Option("0.5s", "--stride", help="Decision period (frames, or seconds like 0.5s)."),
    device: str = typer.Option("auto", "--device"),
    backend: str = typer.Option("auto", "--backend", help="Classifier runtime: auto (the artifact's own) or openvino "
                                "for an .onnx."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the result as JSON."),
) -> None:
    """The live pipeline's cost beyond its models, on a synthetic recording.

    Runs `edgeact live --no-realtime` over a rendered video (once to warm up, once timed) and
    reports the time per frame of each stage and **overhead = wall time / (pose-model calls +
    classifier calls)**: the end-to-end time per decision divided by the model time it needed.

    * `edgeact bench live --model demo --pose skeleton`
    * `edgeact bench live --model model.onnx --pose yolo --pose-model yolo11n-pose.pt`
    * CPU box, all OpenVINO: `edgeact bench live --model best.int8.onnx --backend openvino --pose yolo
      --pose-model yolo11n-pose_int8_openvino_model --device cpu`
    """
    from edgeact.fileio import atomic_write_json
    from edgeact.live.bench import run_live_bench

    check_outputs({"--json": json_out}, [model, pose_model])
    row = run_live_bench(model=model, pose=pose, pose_model=pose_model, seconds=seconds, width=width, height=height,
                         stride=stride, device=device, backend=backend)
    for k, v in row.items():
        say(f"{k:>28}: {v}")
    verdict = "met" if row["overhead"] <= 1.10 else "NOT met"
    say(f"{'overhead target':>28}: <= 1.10 -> {verdict}")
    if json_out is not None:
        atomic_write_json(json_out, row)
        say(f"wrote {json_out}")
