"""Deployment commands: ``edgeact export`` and ``edgeact bench model|pose``.

Thin Typer commands (registered by :mod:`edgeact.cli`) that validate options and call
:func:`edgeact.export.export_model`, :func:`edgeact.bench.bench_model` and
:func:`edgeact.bench.bench_pose`. Nothing heavy (torch, onnx, tensorrt, ultralytics) is imported
until a command runs. Bad input raises :class:`edgeact.errors.EdgeactError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.text import Text

from edgeact.cli_options import BackendOpt, DeviceOpt, Group, ItersOpt, JsonOpt, MdOpt, WarmupOpt, opt, renamed
from edgeact.errors import EdgeactError
from edgeact.live.defaults import LIVE
from edgeact.live.pose import DEFAULT_POSE_YAML

console = Console()


def say(line: str) -> None:
    """Print ``line`` as written: paths and model names (``run[v2]/best.pt``) are not Rich markup."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _dim(line: str) -> None:
    console.print(Text(line, style="dim"), highlight=False, soft_wrap=True)


def export(
    model: Annotated[str, opt("--model", "The checkpoint to export (`best.pt` from `edgeact train`; `demo` is "
                              "written to ./demo.onnx etc.); for --format engine also an exported .onnx, built in "
                              "its precision.")],
    fmt: Annotated[str, opt("--format")] = "onnx",
    out: Annotated[Optional[Path], opt("--out", "The artifact (default: beside --model with .onnx / .engine / "
                                       ".ts).")] = None,
    fp16: Annotated[bool, opt("--fp16", "ONNX with float16 inside (float32 in and out; written as "
                              "NAME.fp16.onnx), engine, TorchScript on CUDA.")] = False,
    int8: Annotated[bool, opt("--int8", "ONNX with Q/DQ on every Conv (NAME.int8.onnx; OpenVINO, onnxruntime "
                              "and TensorRT read it), or an engine.")] = False,
    int8_data: Annotated[Optional[Path], opt("--int8-data", "Needed by --int8.")] = None,
    int8_clips: Annotated[Optional[int], opt("--int8-clips")] = None,
    int8_method: Annotated[Optional[str], opt("--int8-method")] = None,
    batch_size: Annotated[int, opt("--batch-size", "The batch traced, and the engine's optimal batch.")] = 1,
    max_batch: Annotated[Optional[int], opt("--max-batch", "Default --batch-size; ONNX and TorchScript take any "
                                            "batch.")] = None,
    frames: Annotated[Optional[int], opt("--frames", "Default: the checkpoint's.")] = None,
    size: Annotated[Optional[int], opt("--size", "Default: the checkpoint's.")] = None,
    opset: Annotated[int, opt("--opset")] = 17,
    tolerance: Annotated[float, opt("--tolerance")] = 1e-3,
    compact: Annotated[bool, opt("--compact")] = False,
    via: Annotated[str, opt("--via")] = "onnx",
    device: Annotated[str, opt("--device", "TorchScript is traced and engines are built there (engines need "
                               "CUDA).")] = "auto",
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
      `edgeact export --model best.pt --format engine --fp16 --batch-size 1 --max-batch 8`
    * FP16 and INT8 (Q/DQ) ONNX, one file per precision (`best.fp16.onnx`, `best.int8.onnx`; run them
      with onnxruntime or `--backend openvino`):
      `edgeact export --model best.pt --format onnx --fp16`,
      `edgeact export --model best.pt --format onnx --int8 --int8-data cache/ntu60`
    * INT8 engine, built (strongly typed) from the Q/DQ ONNX calibrated on prepared clips:
      `edgeact export --model best.pt --format engine --int8 --int8-data cache/ntu60`, or from an
      exported ONNX in its own precision: `edgeact export --model best.fp16.onnx --format engine`
    * Pruned model with its zeroed filters physically removed (fewer FLOPs):
      `edgeact export --model best.pt --format onnx --compact`
    """
    from edgeact.export import export_model

    result = export_model(model, fmt, out, fp16=fp16, int8=int8, calib_data=int8_data, calib_clips=int8_clips,
                          calib_method=int8_method, batch=batch_size,
                          max_batch=max_batch, frames=frames, size=size, opset=opset, tolerance=tolerance,
                          compact=compact, device=device, via=via, log=say)
    spec = result.meta["input"]
    say(f"wrote {result.path} ({result.format}, {result.precision}, input (B, 3, {spec['frames']}, "
        f"{spec['size']}, {spec['size']}), max abs diff {result.max_abs_diff:.3g}, {result.seconds:.1f} s)")
    if result.sidecar is not None:
        say(f"wrote {result.sidecar} (engine metadata; keep it beside the engine)")


bench_app = typer.Typer(
    name="bench",
    cls=Group,
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
        refuse_output_over_input(path, inputs, param=option.lstrip("-").replace("-", "_"))
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


@bench_app.command("model", cls=renamed("bench model"))
def bench_model_cmd(
    model: Annotated[Optional[str], opt("--model", "A .pt runs on every backend, an export (.onnx / .ts / .engine) "
                                        "on its own.")] = None,
    arch: Annotated[Optional[str], opt("--arch", "An untrained model of it instead of --model.")] = None,
    num_classes: Annotated[int, opt("--num-classes", "Of the --arch model.")] = 60,
    levels: Annotated[str, opt("--levels", "Of the --arch model.")] = "2,6,20",
    width: Annotated[float, opt("--width", "Of the --arch model.")] = 1.0,
    backends: Annotated[Optional[str], opt("--backends", "Default: torch,onnx.")] = None,
    batch_size: Annotated[str, opt("--batch-size", "A comma list: each is timed.")] = "1,8",
    frames: Annotated[Optional[int], opt("--frames", "Default: the model's, or 8.")] = None,
    size: Annotated[Optional[int], opt("--size", "Default: the model's, or 224.")] = None,
    device: Annotated[str, opt("--device", "fp16 rows on CUDA only.")] = "auto",
    warmup: Annotated[int, opt("--warmup", "Per runtime and batch.")] = 3,
    iters: Annotated[int, opt("--iters", "Per runtime and batch (interleaved).")] = 20,
    threads: Annotated[Optional[int], opt("--threads", "For torch and ONNX Runtime.")] = None,
    precisions: Annotated[Optional[str], opt(
        "--precision", "Default: fp32, plus fp16 on CUDA. Each backend times those it has: fp16/int8 ONNX files "
        "for onnx and openvino, bf16 on openvino; torch/torchscript/tensorrt fp16 on CUDA. Others are skipped.",
        "--precisions")] = None,
    int8_data: Annotated[Optional[Path], opt("--int8-data", "For the int8 rows (default: random clips: same speed, "
                                             "no accuracy).")] = None,
    json_out: JsonOpt = None,
    md_out: MdOpt = None,
) -> None:
    """Classifier latency (p50/p95 ms) and throughput (clips/s) per backend, precision and batch.

    All runtimes are timed side by side in one run (calls interleaved), so the printed
    **torch / onnxruntime** ratio is fair even on a busy machine. A `.pt` is exported to ONNX in a
    temporary folder on the fly.

    * `edgeact bench model --arch i3d_r18 --frames 8 --size 112 --batch-size 1 --device cpu --threads 2`
    * OpenVINO on a CPU, fp32 / bf16 / INT8 (Q/DQ) beside torch eager:
      `edgeact bench model --arch i3d_r50 --batch-size 1 --device cpu --threads 2 --backends torch,onnx,openvino
      --precision fp32,bf16,int8`
    * `edgeact bench model --model best.pt --backends torch,onnx,tensorrt --batch-size 1,8 --device cuda --json b.json`
    """
    from edgeact.bench import bench_model, parse_backends, parse_int_list, parse_precisions
    from edgeact.report import bench_model_table, bench_ratios
    from edgeact.types import parse_levels

    if model is not None and arch is not None:
        raise EdgeactError("give either --model or --arch, not both")
    check_outputs({"--json": json_out, "--md": md_out}, [model])
    report = bench_model(model, arch=arch if model is None else None, num_classes=num_classes,
                         levels=parse_levels(levels), width=width, backends=parse_backends(backends),
                         batches=parse_int_list(batch_size, "--batch-size"), frames=frames, size=size, device=device,
                         warmup=warmup, iters=iters, threads=threads,
                         precisions=parse_precisions(precisions), calib_data=int8_data, log=_dim)
    console.print(bench_model_table(report))
    for line in bench_ratios(report):
        say(line)
    _write(report, json_out, md_out)


@bench_app.command("pose", cls=renamed("bench pose"))
def bench_pose_cmd(
    pose_model: Annotated[str, opt("--pose-model", "Default: the YAML (speed does not depend on the "
                                   "weights).")] = DEFAULT_POSE_YAML,
    pose_imgsz: Annotated[int, opt("--pose-imgsz")] = LIVE.pose_imgsz,
    device: DeviceOpt = "auto",
    fp16: Annotated[bool, opt("--fp16", "On CUDA.")] = False,
    warmup: WarmupOpt = 3,
    iters: ItersOpt = 20,
    threads: Annotated[Optional[int], opt("--threads", "For torch.")] = None,
    json_out: JsonOpt = None,
    md_out: MdOpt = None,
) -> None:
    """Pose-model speed on random images: p50/p95 ms per image and FPS.

    The default, a model YAML, builds an untrained network offline (speed does not depend on the
    weights); pass real weights or an exported `.onnx` / `.engine` to time those.

    * `edgeact bench pose --pose-imgsz 640 --device cpu --threads 2`
    """
    from edgeact.bench import bench_pose
    from edgeact.report import bench_pose_table

    check_outputs({"--json": json_out, "--md": md_out}, [pose_model])
    report = bench_pose(pose_model, imgsz=pose_imgsz, device=device, half=fp16, warmup=warmup, iters=iters,
                        threads=threads, log=_dim)
    console.print(bench_pose_table(report))
    _write(report, json_out, md_out)


@bench_app.command("live", cls=renamed("bench live"))
def bench_live_cmd(
    model: Annotated[str, opt("--model", "The classifier.")] = "demo",
    pose: Annotated[str, opt("--pose", "skeleton costs ~0 (the recording's own) or yolo.")] = "skeleton",
    pose_model: Annotated[str, opt("--pose-model", "With --pose yolo.")] = DEFAULT_POSE_YAML,
    seconds: Annotated[float, opt("--seconds")] = 10.0,
    video_width: Annotated[int, opt("--video-width")] = 640,
    video_height: Annotated[int, opt("--video-height")] = 480,
    stride: Annotated[str, opt("--stride")] = LIVE.stride,
    device: DeviceOpt = "auto",
    backend: BackendOpt = "auto",
    streams: Annotated[Optional[str], opt("--streams")] = None,
    arch: Annotated[Optional[str], opt("--arch", "With --streams: a random-weight classifier instead of "
                                               "--model.")] = None,
    size: Annotated[int, opt("--size", "With --arch.")] = 112,
    json_out: JsonOpt = None,
) -> None:
    """The live pipeline's cost beyond its models, on a synthetic recording.

    Runs `edgeact live --no-realtime` over a rendered video (once to warm up, once timed) and
    reports the time per frame of each stage and **overhead = wall time / (pose-model calls +
    classifier calls)**: the end-to-end time per decision divided by the model time it needed.

    * `edgeact bench live --model demo --pose skeleton`
    * `edgeact bench live --streams 1,2,4,8`: N real-time streams in one process (pose and classifier
      batched across them) against N one-stream processes (up to 4): decisions/s, latency, drops,
      classifier batch, memory
    * `edgeact bench live --model model.onnx --pose yolo --pose-model pose.engine`
    * CPU box, all OpenVINO: `edgeact bench live --model best.int8.onnx --backend openvino --pose yolo
      --pose-model pose_int8_openvino_model --device cpu` (an ultralytics OpenVINO export folder)
    """
    from edgeact.fileio import atomic_write_json
    from edgeact.live.bench import run_live_bench
    from edgeact.report import bench_live_lines

    check_outputs({"--json": json_out}, [model, pose_model])
    if streams is not None:
        from edgeact.bench import parse_int_list
        from edgeact.live.bench import run_streams_bench, streams_markdown

        report = run_streams_bench(streams=parse_int_list(streams, "--streams"), model=model, arch=arch, size=size,
                                   pose=pose, pose_model=pose_model, seconds=seconds, width=video_width,
                                   height=video_height, stride=stride, device=device, backend=backend)
        say(streams_markdown(report))
        if json_out is not None:
            atomic_write_json(json_out, report)
            say(f"wrote {json_out}")
        return
    if arch is not None:
        raise EdgeactError("--arch measures a random-weight classifier with --streams; without it use --model")
    row = run_live_bench(model=model, pose=pose, pose_model=pose_model, seconds=seconds, width=video_width,
                         height=video_height, stride=stride, device=device, backend=backend)
    for line in bench_live_lines(row):
        say(line)
    if json_out is not None:
        atomic_write_json(json_out, row)
        say(f"wrote {json_out}")
