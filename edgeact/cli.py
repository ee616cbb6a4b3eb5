"""The ``edgeact`` command line: thin Typer commands that parse options and call the library.

Every command validates its options, calls one library function and prints the result. Bad input
raises :class:`edgeact.errors.EdgeactError`, which :func:`main` prints as one line (exit status 2);
an ``OSError`` (full disk, read-only folder) is one line naming the path (exit status 74).
Heavy imports (torch, cv2, ultralytics) happen inside the commands so ``edgeact --help`` is fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.text import Text

from edgeact.cli_deploy import bench_app, export
from edgeact.errors import EXIT_IO, EdgeactError, os_error_message
from edgeact.types import parse_levels

app = typer.Typer(
    name="edgeact",
    help="Real-time human action recognition for edge devices: train, prune, export and run a "
    "hierarchical Inflated ResNet on skeleton-cropped clips.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
console = Console()
err_console = Console(stderr=True)

BACKEND_HELP = ("auto (the artifact's own runtime) or openvino for an .onnx (fp32, fp16 or INT8 Q/DQ from "
                "`edgeact export --format onnx`; Intel CPUs/GPUs, --device cpu or gpu; pip install 'edgeact[openvino]').")
RESTART_HELP = ("Delete the run's own files (recipe.yaml, state.json, log.csv, hierarchy, phase checkpoints, "
                "best.pt; nothing else in the folder) and train from the start. Without it a rerun resumes, and "
                "refuses another recipe or cache (only --workers may change).")
COMPILE_HELP = ("torch.compile a .pt checkpoint: default, reduce-overhead (adds CUDA graphs; CUDA only) or "
                "max-autotune. Compiles once at start (a minute or more); pays off on GPUs, measure with "
                "`edgeact bench model --backends torch,torch-compile`.")

@app.command()
def info(
    arch: str = typer.Option("i3d_r50", "--arch", help="Architecture: i3d_r18, i3d_r34, i3d_r50, i3d_r101."),
    num_classes: int = typer.Option(60, "--num-classes", help="Number of fine action classes."),
    levels: str = typer.Option(
        "2,6,20", "--levels",
        help="Superclass counts of the heads after stacks 1-3, coarse to fine; 'none' for a stack "
        "without a head (N-UCLA: none,2,5); empty for no superclass heads.",
    ),
    frames: int = typer.Option(8, "--frames", help="Input frames T."),
    size: int = typer.Option(224, "--size", help="Input height and width."),
    width: float = typer.Option(1.0, "--width", help="Channel width multiplier (1.0 = the paper)."),
    pretrained_2d: Optional[Path] = typer.Option(
        None, "--pretrained-2d",
        help="A torchvision 2D ResNet state dict (.pth) of the same depth to inflate into the model.",
    ),
) -> None:
    """Show a model's parameters and FLOPs per stack and head for an input size."""
    from edgeact.models.summary import model_summary, render_summary

    summary = model_summary(
        arch, num_classes=num_classes, levels=parse_levels(levels), width=width,
        frames=frames, size=size, pretrained_2d=pretrained_2d,
    )
    render_summary(summary, console)


@app.command()
def live(
    camera: Optional[str] = typer.Option(None, "--camera", help="Camera index (0, 1, ...) or stream URL (rtsp://...).",
                                         rich_help_panel="Source"),
    video: Optional[Path] = typer.Option(None, "--video", help="Video file, paced at its frame rate.",
                                         rich_help_panel="Source"),
    realsense: bool = typer.Option(False, "--realsense", help="Intel RealSense: colour + depth aligned to colour.",
                                   rich_help_panel="Source"),
    bag: Optional[Path] = typer.Option(None, "--bag", help="Play a RealSense recording (.bag, or .db3 from SDK 2.59+).",
                                       rich_help_panel="Source"),
    demo: bool = typer.Option(False, "--demo", help="No camera, no download: synthetic clips through the whole "
                              "pipeline with the bundled demo model.", rich_help_panel="Source"),
    no_realtime: bool = typer.Option(False, "--no-realtime", help="Process files as fast as possible, every frame, "
                                     "nothing dropped (default: pace at the file's frame rate).",
                                     rich_help_panel="Source"),
    loop: bool = typer.Option(False, "--loop", help="Play --video again from the start at its end (kiosks, "
                              "demos); a --skeleton replay restarts with it.", rich_help_panel="Source"),
    exit_on_disconnect: bool = typer.Option(False, "--exit-on-disconnect", help="Exit when the camera is lost "
                                            "instead of retrying with back-off (let systemd restart us).",
                                            rich_help_panel="Source"),
    model: str = typer.Option("demo", "--model", help="Any artifact edgeact wrote (.pt checkpoint, .onnx, .engine, "
                              ".ts), or `demo` for the bundled synthetic-trained model.", rich_help_panel="Model"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N.", rich_help_panel="Model"),
    fp16: bool = typer.Option(False, "--fp16", help="Half precision on CUDA (classifier and pose model).",
                              rich_help_panel="Model"),
    compile_mode: Optional[str] = typer.Option(None, "--compile", help=COMPILE_HELP, rich_help_panel="Model"),
    backend: str = typer.Option("auto", "--backend", help=BACKEND_HELP, rich_help_panel="Model"),
    skeleton: Optional[Path] = typer.Option(None, "--skeleton", help="Replay a dataset recording with its own "
                                            "skeleton file (NTU .skeleton, row t = video frame t).",
                                            rich_help_panel="Skeleton"),
    pose: str = typer.Option("auto", "--pose", help="auto, yolo, skeleton (needs --skeleton) or depth (YOLO "
                             "keypoints lifted with RealSense depth, projected with --calibration). auto picks "
                             "skeleton with --skeleton, depth for RealSense with --calibration, else yolo.",
                             rich_help_panel="Skeleton"),
    pose_model: str = typer.Option("yolo11n-pose.pt", "--pose-model", help="Ultralytics pose model: a name "
                                   "ultralytics fetches on a connected machine, or a local .pt, .onnx or TensorRT "
                                   ".engine.", rich_help_panel="Skeleton"),
    pose_conf: float = typer.Option(0.25, "--pose-conf", help="Minimum person confidence.", rich_help_panel="Skeleton"),
    pose_imgsz: int = typer.Option(640, "--pose-imgsz", help="Pose model input size.", rich_help_panel="Skeleton"),
    calibration: Optional[Path] = typer.Option(None, "--calibration", help="Projection file from `edgeact "
                                               "calibrate` (Eq. 1) for the depth path.", rich_help_panel="Skeleton"),
    window_seconds: Optional[float] = typer.Option(None, "--window-seconds", help="Seconds of video per decision. "
                                                   "Default: the median length of the clips the model was trained "
                                                   "on (stored in the artifact), because the model learned actions "
                                                   "at that time scale: its 8 frames span the whole window.",
                                                   rich_help_panel="Decisions"),
    stride: str = typer.Option("0.5s", "--stride", help="A new decision every N frames (`8`) or seconds (`0.5s`).",
                               rich_help_panel="Decisions"),
    max_window_mb: float = typer.Option(1024.0, "--max-window-mb", help="Cap on the frames the window holds, "
                                        "in MB (10^6 bytes). A window over it keeps its frames downscaled to fit "
                                        "(noted); one that would need them below the model's crop size is refused.",
                                        rich_help_panel="Decisions"),
    test_sets: int = typer.Option(1, "--test-sets", help="Frame sets averaged per decision (the paper's test "
                                  "protocol uses 5; each costs one more model call).", rich_help_panel="Decisions"),
    smooth: int = typer.Option(3, "--smooth", help="Average each person's last N decisions (1 = off).",
                               rich_help_panel="Decisions"),
    threshold: float = typer.Option(0.5, "--threshold", help="Below this top-1 probability a decision is shown as "
                                    "uncertain, not as a label.", rich_help_panel="Decisions"),
    topk: int = typer.Option(3, "--topk", help="Labels per head in the JSON lines.", rich_help_panel="Decisions"),
    superclasses: str = typer.Option("fine", "--superclasses", help="How superclasses are scored: fine (the fine "
                                     "head's probabilities summed per superclass, so they always agree with the "
                                     "action shown) or heads (each superclass head's own output, as in the paper).",
                                     rich_help_panel="Decisions"),
    show: bool = typer.Option(False, "--show", help="OpenCV window with skeletons, boxes and labels (q quits).",
                              rich_help_panel="Output"),
    save: Optional[Path] = typer.Option(None, "--save", help="Write that overlay to a video (out.mp4).",
                                        rich_help_panel="Output"),
    jsonl: Optional[Path] = typer.Option(None, "--jsonl", help="Append one JSON line per decision: t, track, box, "
                                         "fine, levels, latency_ms, uncertain; each run starts with a line "
                                         "{\"event\": \"start\", \"time\", \"model\", \"source\", ...}.",
                                         rich_help_panel="Output"),
    quiet: bool = typer.Option(False, "--quiet", help="No live view (services); errors still go to stderr.",
                               rich_help_panel="Output"),
) -> None:
    """Recognize actions live: the fine action and its superclasses for every person, as they happen.

    Capture, pose and classification run in separate stages: a slow classifier never stalls the
    camera, and windows that went stale while it was busy are dropped, not queued.

    Examples:

    * `edgeact live --demo` (no camera, nothing to download)
    * `edgeact live --camera 0 --model runs/ntu60-xsub/best.pt --show`
    * `edgeact live --video clip.mp4 --model model.onnx --jsonl actions.jsonl --no-realtime`
    * `edgeact live --video S001C001P001R001A001_rgb.avi --skeleton S001C001P001R001A001.skeleton --model best.pt`
    * `edgeact live --realsense --calibration calib.json --model model.engine --device cuda`
    """
    from edgeact.live.app import LiveOptions, run_live

    opts = LiveOptions(model=model, camera=camera, video=video, realsense=realsense, bag=bag, skeleton=skeleton,
                       pose=pose, pose_model=pose_model, pose_conf=pose_conf, pose_imgsz=pose_imgsz,
                       calibration=calibration, device=device, fp16=fp16, compile=compile_mode, backend=backend,
                       window_seconds=window_seconds, max_window_mb=max_window_mb, stride=stride,
                       test_sets=test_sets, smooth=smooth,
                       threshold=threshold, topk=topk, superclasses=superclasses, realtime=not no_realtime,
                       loop=loop, exit_on_disconnect=exit_on_disconnect, show=show, save=save, jsonl=jsonl,
                       quiet=quiet)
    if demo:
        _live_demo(opts)
        return
    try:
        stats = run_live(opts, console=None if quiet else console)
    except KeyboardInterrupt:
        err_console.print("stopped (Ctrl-C); outputs flushed")
        raise typer.Exit(130)
    s = stats.summary()
    if not quiet:
        console.print(f"end of source: {s['frames']} frames, {s['decisions']} decisions in {s['wall_seconds']:.1f} s; "
                      f"{s['frames_without_person']} frames without a person, {s['frames_dropped']} frames and "
                      f"{s['windows_dropped']} windows dropped; latency p50 "
                      f"{_ms(s['latency_ms']['p50'])}, p95 {_ms(s['latency_ms']['p95'])}")
        if jsonl is not None:
            console.print(f"appended {s['decisions']} decisions to {jsonl}", markup=False, highlight=False)


def _ms(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.0f} ms"


def _live_demo(opts) -> None:
    from rich.table import Table

    from edgeact.live.demo import run_demo

    console.print("[bold]edgeact live --demo[/]: one synthetic clip per action, performed by P003 (never seen in "
                  "training), each played through video decode -> its skeleton -> rolling window -> classifier.")
    try:
        results = run_demo(opts, console=None if opts.quiet else console)
    except KeyboardInterrupt:
        err_console.print("stopped (Ctrl-C)")
        raise typer.Exit(130)
    table = Table(title="demo summary: the decision on each whole clip", title_justify="left")
    for col in ("clip", "performed", "recognized", "p", ""):
        table.add_column(col)
    for r in results:
        mark = "[green]ok[/]" if r.correct and not r.uncertain else ("[yellow]uncertain[/]" if r.uncertain
                                                                     else "[red]wrong[/]")
        table.add_row(Text(r.clip.name), Text(r.clip.action), Text(r.decided or "-"), f"{r.p:.2f}", mark)
    console.print(table)
    right = sum(r.correct for r in results)
    console.print(f"{right}/{len(results)} clips recognized" + (f"; appended to {opts.jsonl}" if opts.jsonl else ""),
                  markup=False, highlight=False)


@app.command()
def calibrate(
    pairs: Optional[Path] = typer.Option(
        None, "--pairs", help="CSV of correspondences with a header naming the columns X,Y,Z,u,v "
        "(camera-space 3D point, its pixel); needs --bx and --by or --fit-center.", metavar="FILE.csv"),
    ntu_skeletons: Optional[Path] = typer.Option(
        None, "--ntu-skeletons", help="An NTU RGB+D .skeleton file or a folder of them: tracked joints' "
        "x y z against their colorX colorY.", metavar="PATH"),
    realsense: bool = typer.Option(
        False, "--realsense", help="Read the exact coefficients from the connected RealSense's colour "
        "intrinsics (cx=fx, cy=fy, bx=ppx, by=ppy)."),
    bag: Optional[Path] = typer.Option(
        None, "--bag", help="Same as --realsense, from a RealSense recording (.bag, or .db3 from SDK 2.59+).",
        metavar="FILE"),
    bx: Optional[float] = typer.Option(
        None, "--bx", help="Principal point u (px), fixed unless --fit-center. Default for --ntu-skeletons: "
        "the centre of the colour frames (synth_meta.json, else the video beside the skeletons, else NTU's "
        "1920x1080: 960); --pairs needs it (N-UCLA 640x480: 320)."),
    by: Optional[float] = typer.Option(
        None, "--by", help="Principal point v (px), fixed unless --fit-center; defaults like --bx (NTU 540, "
        "N-UCLA 240)."),
    fit_center: bool = typer.Option(False, "--fit-center", help="Fit bx, by too instead of fixing them."),
    model: str = typer.Option(
        "eq1", "--model", help="eq1: u = cx·X/Z + bx. offset: u = cx·(X - tx)/Z + bx, for a colour camera "
        "beside the 3D sensor (Kinect v2 / NTU); needs points at several depths.", metavar="eq1|offset"),
    max_files: Optional[int] = typer.Option(
        None, "--max-files", help="With --ntu-skeletons on a folder: read only the first N files (name order; "
        "per camera with --camera / --per-camera).", min=1),
    camera: Optional[str] = typer.Option(
        None, "--camera", help="With --ntu-skeletons: fit only this camera's files (C001, C002, C003: "
        "different Kinects).", metavar="CNNN"),
    per_camera: bool = typer.Option(
        False, "--per-camera", help="With --ntu-skeletons: fit each camera alone, one file each "
        "(OUT-C001.json, ...)."),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Output JSON (default ./SOURCE-STEM.json in the current folder).", metavar="FILE.json"),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing --out that `edgeact calibrate` did not write (e.g. a "
        "shipped calibration file); its own earlier output is replaced without it."),
) -> None:
    """Fit the 3D-to-2D projection coefficients (paper Eq. 1) from correspondences.

    Eq. 1 maps a camera-space joint (X, Y, Z) to pixels: u = cx·X/Z + bx, v = cy·Y/Z + by. cx, cy
    (and bx, by with --fit-center) are fitted by least squares; points whose reprojection error
    exceeds max(3.5 × 1.4826 × MAD of the residuals, 2 px) are dropped as outliers and the fit
    repeated. Use --model offset when the pixels come from a camera beside the 3D sensor, such as
    NTU's colorX/colorY (Kinect v2's colour camera sits a few cm from its depth camera): it adds a
    camera translation, u = cx·(X - tx)/Z + bx, v = cy·(Y - ty)/Z + by. A RealSense colour stream
    is an exact pinhole: --realsense / --bag read its intrinsics instead of fitting. Prints the
    coefficients, the RMS reprojection error of the inliers and of every point, the points and
    outliers, and notes on implausible results (offset over 0.2 m, inlier error over 0.01 rad of
    the focal length), and writes the JSON (the same figures: rmse_px, rmse_all_px,
    outlier_fraction, n_points).
    """
    from edgeact.calibration import calibrate as run_calibration
    from edgeact.calibration import (calibrate_per_camera, camera_output, check_output, default_output,
                                     parse_camera, write_result)
    from edgeact.geometry import MODELS

    if model not in MODELS:
        raise EdgeactError(f"--model: {model!r} is not one of {', '.join(MODELS)}")
    if (camera is not None or per_camera) and ntu_skeletons is None:
        raise EdgeactError(f"{'--camera' if camera is not None else '--per-camera'} needs --ntu-skeletons")
    if camera is not None and per_camera:
        raise EdgeactError("give --camera CNNN or --per-camera, not both")
    options = dict(bx=bx, by=by, fit_center=fit_center, model=model, max_files=max_files)
    sources = dict(pairs=pairs, ntu_skeletons=ntu_skeletons, realsense=realsense, bag=bag)
    if per_camera:
        results = list(calibrate_per_camera(ntu_skeletons, **options).values())
    else:
        cam = parse_camera(camera) if camera is not None else None
        results = [run_calibration(**sources, **options, camera=cam)]
    inputs = (pairs, bag, ntu_skeletons)
    targets = [(camera_output(out, r.camera) if per_camera else out) if out is not None
               else default_output(**sources, camera=r.camera) for r in results]
    for target in targets:  # every check before the first write
        check_output(target, force=force, inputs=inputs)
    for result, target in zip(results, targets):
        _print_calibration(result, exact=realsense or bag is not None)
        write_result(target, result)
        console.print(f"wrote {target}", markup=False, highlight=False, soft_wrap=True)


def _print_calibration(result, *, exact: bool) -> None:
    from rich.table import Table

    c = result.calibration
    table = Table(title=Text(f"calibration ({c.model}) from {result.source}", style="table.title"), show_header=True)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name in ("cx", "cy", "bx", "by") + (("tx", "ty") if c.model == "offset" else ()):
        table.add_row(name, f"{getattr(c, name):.4f}")
    if exact:
        table.add_row("RMS reprojection error", "exact (camera intrinsics)")
    else:
        table.add_row("RMS error, inliers (px)", f"{c.rmse_px:.3f}")
        table.add_row("RMS error, all points (px)", f"{c.rmse_all_px:.3f}")
        table.add_row("points", str(result.n_front))
        table.add_row("inliers (points used)", str(c.n_points))
        table.add_row("outliers rejected", f"{result.n_outliers} ({c.outlier_fraction:.1%})")
        if result.n_behind:
            table.add_row("dropped, Z <= 0", str(result.n_behind))
    console.print(table)
    for note in result.notes:
        console.print(Text.assemble(("note:", "yellow"), " ", note), highlight=False, soft_wrap=True)


@app.command()
def prep(
    dataset: str = typer.Option(..., "--dataset", help="ntu (NTU RGB+D 60/120, or `edgeact synth` output) or nucla."),
    root: Path = typer.Option(..., "--root", help="Dataset root: NTU holds nturgb+d_rgb/ and nturgb+d_skeletons/; "
                              "N-UCLA holds view_1..view_3 (or multiview_action/)."),
    out: Path = typer.Option(..., "--out", help="Cache folder to create or resume."),
    workers: int = typer.Option(0, "--workers", help="Processes (0 = all cores)."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Projection coefficients for datasets with only 3D "
                                         "joints (N-UCLA; default calibration/nucla.json), from `edgeact calibrate`."),
    size: int = typer.Option(256, "--size", help="Side of the cached square frames (the paper: 256)."),
    margin: float = typer.Option(0.10, "--margin", help="Crop margin on each side, as a fraction of the box (paper: 0.10)."),
    no_crop: bool = typer.Option(False, "--no-crop", help="Cache whole frames (the ablation's uncropped baseline)."),
    fallback_uncropped: bool = typer.Option(False, "--fallback-uncropped",
                                            help="Keep samples without a usable skeleton, uncropped, instead of leaving them out."),
    keep_damaged: bool = typer.Option(False, "--keep-damaged",
                                      help="Cache damaged samples too (frames that do not decode or are all black, video "
                                      "and skeleton frame counts that differ); they are listed either way."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N samples (a quick look)."),
) -> None:
    """Decode, skeleton-crop and cache a dataset for fast training.

    Each video is decoded once; every frame is cropped to the union box of all the sample's 2D
    joints (+10 % per side, clamped to the frame), resized to 256x256 and stored as JPEG in a
    frame pack with an offset table, so training reads 8 frames of a clip without decoding the
    rest. Interrupt it at any time: a rerun skips finished samples whose input files are unchanged.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from edgeact.data.prep import PrepConfig, prepare

    cfg = PrepConfig(dataset=dataset, root=root, out=out, size=size, margin=margin, workers=workers,
                     calib=calib, fallback_uncropped=fallback_uncropped, limit=limit, crop=not no_crop,
                     keep_damaged=keep_damaged)
    bar = Progress(TextColumn("[cyan]prep"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[last]}", markup=False), TimeRemainingColumn(), console=console)
    task = bar.add_task("prep", total=None, last="")

    started = False

    def show(done: int, total: int, rec: dict) -> None:
        nonlocal started
        if not started:   # from the first sample on: a bad option or input is one line, no bar above it
            bar.start()
            started = True
        bar.update(task, completed=done, total=total, last=f"{rec['name']} {rec['status']}")

    try:
        report = prepare(cfg, progress=show)
    finally:
        if started:
            bar.stop()
    console.print(f"prepared {report.done} samples ({report.resumed} already done), {report.frames} frames in "
                  f"{report.seconds:.1f} s: {report.frames_per_second:.1f} frames/s "
                  f"({report.frames_per_second / max(report.workers, 1):.1f} per worker) -> {out}",
                  markup=False, highlight=False, soft_wrap=True)
    problems = report.excluded_before + report.problems
    rows = problems + [{"name": d["name"], "status": "damaged, kept", "reason": d["reason"]}
                       for d in report.damaged_kept]
    if rows:
        title = [f"{len(problems)} sample(s) left out"] if problems else []
        if report.damaged_kept:
            title.append(f"{len(report.damaged_kept)} damaged sample(s) kept (--keep-damaged)")
        table = Table(title=", ".join(title), title_justify="left")
        for col in ("sample", "status", "reason"):
            table.add_column(col)
        for p in rows[:50]:
            table.add_row(Text(p["name"]), Text(p.get("status", "")), Text(p.get("reason", "")))
        console.print(table)
        if len(rows) > 50:
            console.print(f"... and {len(rows) - 50} more (all listed in {out / 'index.json'} under meta.excluded "
                          "and meta.damaged_kept)", markup=False, highlight=False, soft_wrap=True)
    if report.notes:
        console.print(f"{len(report.notes)} prepared sample(s) with notes (all in {out / 'index.json'} under "
                      "meta.notes):", markup=False, highlight=False, soft_wrap=True)
        for n in report.notes[:10]:
            console.print(f"  {n['name']}: {n['reason']}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Dataset folder to create (NTU RGB+D layout)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed writes the same files."),
    classes: Optional[int] = typer.Option(
        None, "--classes", help="Number of classes: the first N of the synthetic list (default: all 9)."),
    performers: int = typer.Option(5, "--performers", help="Performers P001..PNNN."),
    cameras: int = typer.Option(3, "--cameras", help="Views C001..C00N (at -45, 0, +45 degrees), 1-3."),
    setups: int = typer.Option(2, "--setups", help="Setups S001..SNNN."),
    replications: int = typer.Option(2, "--replications", help="Replications R001..R00N, 1-2."),
    frames: int = typer.Option(48, "--frames", help="Nominal clip length; each clip varies by about 10 %."),
    width: int = typer.Option(320, "--width", help="Video width in pixels."),
    height: int = typer.Option(240, "--height", help="Video height in pixels."),
    fps: float = typer.Option(30.0, "--fps", help="Video frame rate."),
    color_offset: float = typer.Option(
        0.052, "--color-offset", help="Colour camera offset along X from the depth camera in metres "
        "(Kinect v2: 0.052; 0 for a pure Eq. 1 pinhole)."),
    empty_start: int = typer.Option(0, "--empty-start", help="Up to this many leading frames without a body."),
    spurious_rate: float = typer.Option(0.0, "--spurious-rate", help="Probability of a ghost second body per clip."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Regenerate into a non-empty folder."),
    resume: bool = typer.Option(False, "--resume", help="Finish an interrupted run with the same settings."),
    workers: int = typer.Option(1, "--workers", help="Processes rendering samples (output does not depend on it)."),
) -> None:
    """Generate a synthetic dataset in the exact NTU RGB+D layout."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from edgeact.data.synth import SynthConfig, generate

    config = SynthConfig(seed=seed, performers=performers, cameras=cameras, setups=setups,
                         replications=replications, frames=frames, width=width, height=height, fps=fps,
                         color_offset=color_offset, empty_start=empty_start, spurious_rate=spurious_rate,
                         **({} if classes is None else {"classes": classes}))
    with Progress(TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  TextColumn("{task.description}"), console=console, transient=True) as bar:
        task = bar.add_task("", total=None)

        def tick(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=name)

        summary = generate(out, config, overwrite=overwrite, resume=resume, workers=workers, progress=tick)
    console.print(
        f"wrote {summary.written} clips ({summary.frames} frames), kept {summary.skipped} complete ones, "
        f"into {summary.out_dir} in {summary.seconds:.1f} s ({summary.seconds_per_clip:.3f} s per clip); "
        f"{len(summary.classes)} classes, truth in {summary.meta_path.name}", markup=False, highlight=False)


@app.command()
def train(
    recipe: Path = typer.Option(..., "--recipe", help="YAML recipe, e.g. train/ntu60-xsub.yaml (paper defaults)."),
    data: Path = typer.Option(..., "--data", help="Cache made by `edgeact prep`."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/<benchmark>); rerun to resume."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N (torchrun sets it per process)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs per pass (recipe: 20)."),
    prune_epochs: Optional[int] = typer.Option(None, "--prune-epochs", help="Epochs per pruning pass (default: --epochs)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Clips per step and process."),
    workers: Optional[int] = typer.Option(None, "--workers", help="DataLoader worker processes."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Adam learning rate (paper: 1e-4)."),
    arch: Optional[str] = typer.Option(None, "--arch", help="i3d_r18/34/50/101."),
    width: Optional[float] = typer.Option(None, "--width", help="Channel width multiplier (1.0 = the paper)."),
    frames: Optional[int] = typer.Option(None, "--frames", help="Frames per clip (paper: 8)."),
    size: Optional[int] = typer.Option(None, "--size", help="Crop side (paper: 224)."),
    prune_scope: Optional[str] = typer.Option(None, "--prune-scope", help="global (altogether) or layer."),
    max_prune_passes: Optional[int] = typer.Option(None, "--max-prune-passes", help="Upper bound on pruning passes."),
    val_source: Optional[str] = typer.Option(None, "--val-source", help="test (the paper: a tenth of the test split) "
                                             "or train (held out of the training split; no test clip steers training)."),
    pass2_init: Optional[str] = typer.Option(None, "--pass2-init", help="pass1 (inherit weights) or scratch."),
    pretrained_2d: Optional[str] = typer.Option(None, "--pretrained-2d", help="torchvision 2D ResNet weights to inflate."),
    init_from: Optional[str] = typer.Option(None, "--init-from", help="Checkpoint whose backbone starts training "
                                            "(N-UCLA starts from the NTU60 cross-subject model)."),
    superclass_restarts: Optional[int] = typer.Option(None, "--superclass-restarts", help="Greedy restarts (paper: 1000)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
    restart: bool = typer.Option(False, "--restart", help=RESTART_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Two-pass hierarchical training and iterative pruning from a recipe.

    Pass 1 trains with the fine-class loss; its confusion matrix on the validation set gives
    the superclasses of each level; pass 2 trains with the weighted hierarchical loss; then
    pruning passes zero 10 % of the alive filters and retrain until two passes in a row fail
    to beat the best validation top-1. Every epoch is checkpointed: rerun the same command to
    resume. A run folder belongs to one recipe and cache: a rerun with others is refused, naming
    what changed (only --workers may), and --restart starts it over. Multi-GPU:
    `torchrun --nproc-per-node 8 -m edgeact train ...`.
    """
    from edgeact.recipe import load_recipe
    from edgeact.training import Trainer

    r = load_recipe(recipe, epochs=epochs, prune_epochs=prune_epochs, batch_size=batch_size, workers=workers,
                    lr=lr, arch=arch, width=width, frames=frames, size=size, prune_scope=prune_scope,
                    max_prune_passes=max_prune_passes, val_source=val_source, pass2_init=pass2_init,
                    pretrained_2d=pretrained_2d, init_from=init_from, superclass_restarts=superclass_restarts,
                    seed=seed)
    out = out or Path("runs") / r.benchmark
    trainer = Trainer(r, data, out, device=device, console=console, progress=not quiet, restart=restart)
    summary = trainer.run()
    if trainer.dist.main:
        _print_summary(summary, out)


def _print_summary(summary: dict, out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"run {out}", title_justify="left")
    for col in ("phase", "val top-1", "val loss", "superclass acc", "alive filters"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for name, p in summary["phases"].items():
        mark = " *" if name == summary["best"] else ""
        table.add_row(name + mark, f"{p['val_top1']:.4f}", f"{p['val_loss']:.4f}",
                      " / ".join(f"{a:.3f}" for a in p.get("levels", [])) or "-",
                      f"{p['alive_filters']}/{p['total_filters']}")
    console.print(table)
    test = summary.get("test", {})
    if test:
        console.print(f"best ({summary['best']}) on the test split: top-1 {test['test_top1']:.4f}, "
                      f"top-5 {test['test_top5']:.4f} -> {out / 'best.pt'}")


@app.command(name="eval")
def eval_(
    model: str = typer.Option(..., "--model", help="An artifact edgeact wrote: best.pt (any phase's final.pt), "
                               "or its export (.onnx, .ts, .engine)."),
    data: Path = typer.Option(..., "--data", help="Cache made by `edgeact prep`."),
    benchmark: Optional[str] = typer.Option(None, "--benchmark", help="e.g. ntu60-xsub (default: the artifact's)."),
    split: str = typer.Option("test", "--split", help="train or test."),
    out: Optional[Path] = typer.Option(None, "--out", help="JSON report (holds top1, top5, levels, per-class)."),
    plots: Optional[Path] = typer.Option(None, "--plots", help="Folder for confusion.png and superclasses.png "
                                         "(default: beside --out)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda."),
    batch_size: int = typer.Option(4, "--batch-size", help="Clips per batch (each is scored on --test-sets frame sets)."),
    workers: int = typer.Option(2, "--workers", help="DataLoader worker processes."),
    test_sets: int = typer.Option(5, "--test-sets", help="Frame sets averaged per clip (paper: 5)."),
    fp16: bool = typer.Option(False, "--fp16", help="Half precision for a .pt checkpoint on CUDA (exported "
                              "artifacts keep their export precision)."),
    compile_mode: Optional[str] = typer.Option(None, "--compile", help=COMPILE_HELP),
    backend: str = typer.Option("auto", "--backend", help=BACKEND_HELP),
) -> None:
    """Evaluate a trained artifact on a benchmark split: top-1/top-5, superclass levels, per class."""
    from rich.table import Table

    from edgeact.evaluate import EvalOptions, evaluate_artifact, refuse_report_over_inputs, save_report
    from edgeact.runtime import read_meta

    if benchmark is None:       # any artifact: checkpoint, ONNX, TorchScript, engine sidecar
        benchmark = read_meta(model).get("benchmark")
        if not benchmark:
            raise EdgeactError(f"{model}: names no benchmark; pass --benchmark")
    if plots is None and out is not None:
        plots = out.parent
    refuse_report_over_inputs(model, data, out, plots)     # before minutes of scoring, not after
    report = evaluate_artifact(model, data, EvalOptions(benchmark=benchmark, split=split, device=device,
                                                        batch_size=batch_size, workers=workers, test_sets=test_sets,
                                                        fp16=fp16, compile=compile_mode, backend=backend))
    for note in report.get("notes", []):
        console.print(note, markup=False, highlight=False, soft_wrap=True)
    written = save_report(report, out, plots)
    table = Table(title=f"{model} on {benchmark} ({split}, {report['clips']} clips)", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("top-1", f"{report['top1']:.4f}")
    table.add_row("top-5", f"{report['top5']:.4f}")
    for lv in report["levels"]:
        table.add_row(f"level {lv['level']} ({lv['superclasses']} superclasses): its head", f"{lv['accuracy']:.4f}")
        table.add_row(f"level {lv['level']}: fine head summed per superclass", f"{lv['accuracy_from_fine']:.4f}")
    console.print(table)
    worst = sorted((c for c in report["per_class"] if c["accuracy"] is not None), key=lambda c: c["accuracy"])[:5]
    if worst:
        console.print("weakest classes: " + ", ".join(f"{c['name']} {c['accuracy']:.2f}" for c in worst))
    for path in written:
        console.print(f"wrote {path}")


@app.command()
def ablate(
    recipe: Path = typer.Option(..., "--recipe", help="YAML recipe of the benchmark."),
    data: Path = typer.Option(..., "--data", help="Skeleton-cropped cache (`edgeact prep`)."),
    uncropped: Optional[Path] = typer.Option(None, "--uncropped", help="Whole-frame cache (`edgeact prep --no-crop`) "
                                             "for the baseline row; without it the baseline row is left out."),
    out: Path = typer.Option(Path("runs/ablation"), "--out", help="Folder for the runs and ablation.md/.json."),
    device: str = typer.Option("auto", "--device"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs per pass (recipe: 20)."),
    max_prune_passes: Optional[int] = typer.Option(None, "--max-prune-passes"),
    restart: bool = typer.Option(False, "--restart", help=RESTART_HELP),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Produce the paper's ablation table (Table 8): baseline, + cropping, + hierarchical loss, + each pruning pass."""
    from edgeact.ablation import ablation_markdown, run_ablation
    from edgeact.recipe import load_recipe

    r = load_recipe(recipe, epochs=epochs, max_prune_passes=max_prune_passes)
    table = run_ablation(r, data, uncropped, out, device=device, console=console, progress=not quiet,
                         restart=restart)
    console.print(ablation_markdown(table))
    console.print(f"wrote {out / 'ablation.md'} and {out / 'ablation.json'}", markup=False)


app.command(name="export")(export)
app.add_typer(bench_app, name="bench")


def main() -> None:
    """Console entry point: run the app. Bad input is one red line (exit status 2); a failed file
    operation (full disk, read-only folder) is one red line naming the path (exit status 74)."""
    try:
        app()
    except EdgeactError as exc:
        _fail(str(exc), exc.exit_code)
    except OSError as exc:
        _fail(os_error_message(exc), EXIT_IO)


def _fail(message: str, status: int) -> None:
    # the message holds user text (paths such as run[v2]/best.pt, pip extras): never parse it as markup
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    sys.exit(status)
