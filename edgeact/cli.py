"""The ``edgeact`` command line: thin Typer commands that parse options and call the library.

Every command validates its options, calls one library function and hands the result to
:mod:`edgeact.report`. Options are declared through :mod:`edgeact.cli_options`, so an option name
means one thing in every command (the README's "Command-line options" table lists them all).
Bad input raises :class:`edgeact.errors.EdgeactError`, which :func:`main` prints as one line
(exit status 2); an ``OSError`` (full disk, read-only folder) is one line naming the path (exit
status 74). Heavy imports (torch, cv2, ultralytics) happen inside the commands so
``edgeact --help`` is fast.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.text import Text

from edgeact.cli_deploy import bench_app, export
from edgeact.cli_options import (
    ArchOpt,
    BackendOpt,
    CompileOpt,
    DataOpt,
    DeviceOpt,
    Group,
    LevelsOpt,
    NumClassesOpt,
    QuietOpt,
    RecipeOpt,
    RestartOpt,
    WidthOpt,
    opt,
    renamed,
)
from edgeact.errors import EXIT_IO, EdgeactError, os_error_message
from edgeact.live.defaults import LIVE
from edgeact.recipe import recipe_keys
from edgeact.types import parse_levels

app = typer.Typer(
    name="edgeact",
    cls=Group,
    help="Real-time human action recognition for edge devices: train, prune, export and run a "
    "hierarchical Inflated ResNet on skeleton-cropped clips.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
console = Console()
err_console = Console(stderr=True)


@app.command()
def info(
    arch: ArchOpt = "i3d_r50",
    num_classes: NumClassesOpt = 60,
    levels: LevelsOpt = "2,6,20",
    frames: Annotated[int, opt("--frames")] = 8,
    size: Annotated[int, opt("--size")] = 224,
    width: WidthOpt = 1.0,
    pretrained_2d: Annotated[Optional[Path], opt("--pretrained-2d")] = None,
) -> None:
    """Show a model's parameters and FLOPs per stack and head for an input size."""
    from edgeact.models.summary import model_summary, render_summary

    summary = model_summary(
        arch, num_classes=num_classes, levels=parse_levels(levels), width=width,
        frames=frames, size=size, pretrained_2d=pretrained_2d,
    )
    render_summary(summary, console)


# live's options, one per LiveOptions field (same names; --no-realtime is realtime=False, --compile
# is compile): a new option is one parameter here and one field there
SOURCE, MODEL, SKELETON, DECISIONS, OUTPUT, REMOTE = "Source", "Model", "Skeleton", "Decisions", "Output", "Remote"


@app.command()
def live(
    ctx: typer.Context,
    camera: Annotated[Optional[list[str]], opt("--camera", "Repeat for several cameras (ids cam0, cam1, ...).",
                                                rich_help_panel=SOURCE)] = None,
    video: Annotated[Optional[list[Path]], opt("--video", "Repeat for several videos (ids after the cameras').",
                                               rich_help_panel=SOURCE)] = None,
    sources: Annotated[Optional[Path], opt("--sources", rich_help_panel=SOURCE)] = None,
    realsense: Annotated[bool, opt("--realsense", "Colour + depth aligned to colour.", rich_help_panel=SOURCE)] = False,
    bag: Annotated[Optional[Path], opt("--bag", "Played as the source.", rich_help_panel=SOURCE)] = None,
    demo: Annotated[bool, opt("--demo", rich_help_panel=SOURCE)] = False,
    no_realtime: Annotated[bool, opt("--no-realtime", rich_help_panel=SOURCE)] = False,
    loop: Annotated[bool, opt("--loop", rich_help_panel=SOURCE)] = False,
    exit_on_disconnect: Annotated[bool, opt("--exit-on-disconnect", rich_help_panel=SOURCE)] = False,
    model: Annotated[str, opt("--model", rich_help_panel=MODEL)] = "demo",
    device: Annotated[str, opt("--device", "For the classifier and the pose model.", rich_help_panel=MODEL)] = "auto",
    fp16: Annotated[bool, opt("--fp16", "On CUDA, for the classifier and the pose model.",
                              rich_help_panel=MODEL)] = False,
    compile_mode: Annotated[Optional[str], opt("--compile", rich_help_panel=MODEL)] = None,
    backend: Annotated[str, opt("--backend", rich_help_panel=MODEL)] = "auto",
    skeleton: Annotated[Optional[Path], opt("--skeleton", rich_help_panel=SKELETON)] = None,
    pose: Annotated[str, opt("--pose", "auto picks skeleton with --skeleton, depth for RealSense with "
                             "--calibration, else yolo.", rich_help_panel=SKELETON)] = "auto",
    pose_model: Annotated[str, opt("--pose-model", rich_help_panel=SKELETON)] = LIVE.pose_model,
    pose_conf: Annotated[float, opt("--pose-conf", rich_help_panel=SKELETON)] = LIVE.pose_conf,
    pose_imgsz: Annotated[int, opt("--pose-imgsz", rich_help_panel=SKELETON)] = LIVE.pose_imgsz,
    calibration: Annotated[Optional[Path], opt("--calibration", "For the depth pose.",
                                               rich_help_panel=SKELETON)] = None,
    window_seconds: Annotated[Optional[float], opt(
        "--window-seconds", "Default: the median length of the clips the model was trained on (stored in the "
        "artifact), because the model learned actions at that time scale: its frames span the whole window.",
        rich_help_panel=DECISIONS)] = None,
    stride: Annotated[str, opt("--stride", rich_help_panel=DECISIONS)] = LIVE.stride,
    max_window_mb: Annotated[float, opt("--max-window-mb", rich_help_panel=DECISIONS)] = LIVE.max_window_mb,
    test_sets: Annotated[int, opt("--test-sets", rich_help_panel=DECISIONS)] = LIVE.test_sets,
    smooth: Annotated[int, opt("--smooth", rich_help_panel=DECISIONS)] = LIVE.smooth,
    threshold: Annotated[float, opt("--threshold", rich_help_panel=DECISIONS)] = LIVE.threshold,
    topk: Annotated[int, opt("--topk", rich_help_panel=DECISIONS)] = LIVE.topk,
    superclasses: Annotated[str, opt("--superclasses", rich_help_panel=DECISIONS)] = LIVE.superclasses,
    show: Annotated[bool, opt("--show", rich_help_panel=OUTPUT)] = False,
    save: Annotated[Optional[Path], opt("--save", rich_help_panel=OUTPUT)] = None,
    jsonl: Annotated[Optional[Path], opt("--jsonl", rich_help_panel=OUTPUT)] = None,
    quiet: Annotated[bool, opt("--quiet", rich_help_panel=OUTPUT)] = False,
    mqtt: Annotated[Optional[str], opt("--mqtt", rich_help_panel=REMOTE)] = None,
    mqtt_every: Annotated[bool, opt("--mqtt-every", rich_help_panel=REMOTE)] = False,
    mqtt_level: Annotated[str, opt("--mqtt-level", rich_help_panel=REMOTE)] = "fine",
    serve: Annotated[Optional[str], opt("--serve", rich_help_panel=REMOTE)] = None,
    serve_token: Annotated[Optional[str], opt("--serve-token", "Also read from EDGEACT_SERVE_TOKEN (not shown "
                                              "by ps).", envvar="EDGEACT_SERVE_TOKEN", show_envvar=False,
                                              rich_help_panel=REMOTE)] = None,
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
    * `edgeact live --sources cameras.yaml --model best.pt --jsonl actions.jsonl` (several streams, one process)
    * `edgeact live --camera 0 --model best.engine --quiet --mqtt mqtt://broker.lan --serve 8080` (headless boxes)
    """
    from edgeact.live.app import LiveOptions, run_live
    from edgeact.live.sources_file import source_flags
    from edgeact.report import live_summary, say

    given = {**ctx.params, "realtime": not no_realtime, "compile": compile_mode,
             **source_flags(sources, camera, video)}
    opts = LiveOptions(**{f.name: given[f.name] for f in fields(LiveOptions) if f.name in given})
    if demo:
        _live_demo(opts)
        return
    try:
        stats = run_live(opts, console=None if quiet else console)
    except KeyboardInterrupt:
        err_console.print("stopped (Ctrl-C); outputs flushed")
        raise typer.Exit(130) from None
    if not quiet:
        console.print(live_summary(stats.summary()))
        if jsonl is not None:
            say(console, f"appended {stats.summary()['decisions']} decisions to {jsonl}")


def _live_demo(opts) -> None:
    from edgeact.live.demo import run_demo
    from edgeact.report import demo_table, say

    console.print("[bold]edgeact live --demo[/]: one synthetic clip per action, performed by P003 (never seen in "
                  "training), each played through video decode -> its skeleton -> rolling window -> classifier.")
    try:
        results = run_demo(opts, console=None if opts.quiet else console)
    except KeyboardInterrupt:
        err_console.print("stopped (Ctrl-C)")
        raise typer.Exit(130) from None
    console.print(demo_table(results))
    right = sum(r.correct for r in results)
    say(console, f"{right}/{len(results)} clips recognized" + (f"; appended to {opts.jsonl}" if opts.jsonl else ""))


@app.command(cls=renamed("calibrate"))
def calibrate(
    pairs: Annotated[Optional[Path], opt("--pairs", "Needs --bx and --by or --fit-center.", metavar="FILE.csv")] = None,
    ntu_skeletons: Annotated[Optional[Path], opt("--ntu-skeletons", metavar="PATH")] = None,
    realsense: Annotated[bool, opt("--realsense", "Its colour intrinsics give the exact coefficients (cx=fx, "
                                   "cy=fy, bx=ppx, by=ppy).")] = False,
    bag: Annotated[Optional[Path], opt("--bag", "Its colour intrinsics are read like --realsense's.",
                                       metavar="FILE")] = None,
    bx: Annotated[Optional[float], opt(
        "--bx", "Default for --ntu-skeletons: the centre of the colour frames (synth_meta.json, else the video "
        "beside the skeletons, else NTU's 1920x1080: 960); --pairs needs it (N-UCLA 640x480: 320).")] = None,
    by: Annotated[Optional[float], opt("--by", "Defaults like --bx (NTU 540, N-UCLA 240).")] = None,
    fit_center: Annotated[bool, opt("--fit-center")] = False,
    projection: Annotated[str, opt("--projection", metavar="eq1|offset")] = "eq1",
    max_files: Annotated[Optional[int], opt("--max-files", "With --ntu-skeletons on a folder (per camera with "
                                            "--ntu-camera / --per-camera).", min=1)] = None,
    ntu_camera: Annotated[Optional[str], opt("--ntu-camera", "With --ntu-skeletons.", metavar="CNNN")] = None,
    per_camera: Annotated[bool, opt("--per-camera", "With --ntu-skeletons.")] = False,
    out: Annotated[Optional[Path], opt("--out", "A JSON file (default ./SOURCE-STEM.json in the current folder).",
                                       metavar="FILE.json")] = None,
    force: Annotated[bool, opt("--force")] = False,
) -> None:
    """Fit the 3D-to-2D projection coefficients (paper Eq. 1) from correspondences.

    Eq. 1 maps a camera-space joint (X, Y, Z) to pixels: u = cx·X/Z + bx, v = cy·Y/Z + by. cx, cy
    (and bx, by with --fit-center) are fitted by least squares; points whose reprojection error
    exceeds max(3.5 × 1.4826 × MAD of the residuals, 2 px) are dropped as outliers and the fit
    repeated. Use --projection offset when the pixels come from a camera beside the 3D sensor, such
    as NTU's colorX/colorY (Kinect v2's colour camera sits a few cm from its depth camera): it adds
    a camera translation, u = cx·(X - tx)/Z + bx, v = cy·(Y - ty)/Z + by. A RealSense colour stream
    is an exact pinhole: --realsense / --bag read its intrinsics instead of fitting. Prints the
    coefficients, the RMS reprojection error of the inliers and of every point, the points and
    outliers, and notes on implausible results (offset over 0.2 m, inlier error over 0.01 rad of
    the focal length), and writes the JSON (the same figures: rmse_px, rmse_all_px,
    outlier_fraction, n_points).
    """
    from edgeact.calibration import (
        MODELS,
        calibrate_per_camera,
        camera_output,
        check_output,
        default_output,
        parse_camera,
        write_result,
    )
    from edgeact.calibration import calibrate as run_calibration
    from edgeact.report import print_calibration, say

    if projection not in MODELS:
        raise EdgeactError(f"--projection: {projection!r} is not one of {', '.join(MODELS)}")
    if (ntu_camera is not None or per_camera) and ntu_skeletons is None:
        raise EdgeactError(f"{'--ntu-camera' if ntu_camera is not None else '--per-camera'} needs --ntu-skeletons")
    if ntu_camera is not None and per_camera:
        raise EdgeactError("give --ntu-camera CNNN or --per-camera, not both")
    options = dict(bx=bx, by=by, fit_center=fit_center, model=projection, max_files=max_files)
    sources = dict(pairs=pairs, ntu_skeletons=ntu_skeletons, realsense=realsense, bag=bag)
    if per_camera:
        results = list(calibrate_per_camera(ntu_skeletons, **options).values())
    else:
        cam = parse_camera(ntu_camera) if ntu_camera is not None else None
        results = [run_calibration(**sources, **options, camera=cam)]
    inputs = (pairs, bag, ntu_skeletons)
    targets = [(camera_output(out, r.camera) if per_camera else out) if out is not None
               else default_output(**sources, camera=r.camera) for r in results]
    for target in targets:  # every check before the first write
        check_output(target, force=force, inputs=inputs)
    for result, target in zip(results, targets):
        print_calibration(console, result, exact=realsense or bag is not None)
        write_result(target, result)
        say(console, f"wrote {target}")


@app.command(cls=renamed("prep"))
def prep(
    dataset: Annotated[str, opt("--dataset")],
    root: Annotated[Path, opt("--root", "NTU holds nturgb+d_rgb/ and nturgb+d_skeletons/; N-UCLA holds "
                              "view_1..view_3 (or multiview_action/).")],
    out: Annotated[Path, opt("--out", "The cache folder to create or resume.")],
    workers: Annotated[int, opt("--workers", "0 = all cores.")] = 0,
    calibration: Annotated[Optional[Path], opt("--calibration", "For datasets with only 3D joints (N-UCLA; "
                                               "default calibration/nucla.json).")] = None,
    resize: Annotated[int, opt("--resize", "Match the recipe's resize: a larger cache is resized on load "
                               "(noted), a smaller one refused.")] = 256,
    margin: Annotated[float, opt("--margin")] = 0.10,
    no_crop: Annotated[bool, opt("--no-crop")] = False,
    fallback_uncropped: Annotated[bool, opt("--fallback-uncropped")] = False,
    keep_damaged: Annotated[bool, opt("--keep-damaged")] = False,
    limit: Annotated[Optional[int], opt("--limit")] = None,
) -> None:
    """Decode, skeleton-crop and cache a dataset for fast training.

    Each video is decoded once; every frame is cropped to the union box of all the sample's 2D
    joints (+10 % per side, clamped to the frame), resized to 256x256 and stored as JPEG in a
    frame pack with an offset table, so training reads 8 frames of a clip without decoding the
    rest. Interrupt it at any time: a rerun skips finished samples whose input files are unchanged.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from edgeact.data.prep import PrepConfig, prepare
    from edgeact.report import print_prep_report

    cfg = PrepConfig(dataset=dataset, root=root, out=out, size=resize, margin=margin, workers=workers,
                     calib=calibration, fallback_uncropped=fallback_uncropped, limit=limit, crop=not no_crop,
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
    print_prep_report(console, report, out)


@app.command(cls=renamed("synth"))
def synth(
    out: Annotated[Path, opt("--out", "The dataset folder to create (NTU RGB+D layout).")],
    seed: Annotated[int, opt("--seed", "The same seed writes the same files.")] = 0,
    num_classes: Annotated[Optional[int], opt("--num-classes", "The first N of the synthetic list (default: "
                                              "all 9).")] = None,
    performers: Annotated[int, opt("--performers")] = 5,
    cameras: Annotated[int, opt("--cameras")] = 3,
    setups: Annotated[int, opt("--setups")] = 2,
    replications: Annotated[int, opt("--replications")] = 2,
    video_frames: Annotated[int, opt("--video-frames", "Nominal: each video varies by about 10 %.")] = 48,
    video_width: Annotated[int, opt("--video-width")] = 320,
    video_height: Annotated[int, opt("--video-height")] = 240,
    fps: Annotated[float, opt("--fps")] = 30.0,
    color_offset: Annotated[float, opt("--color-offset")] = 0.052,
    empty_start: Annotated[int, opt("--empty-start")] = 0,
    spurious_rate: Annotated[float, opt("--spurious-rate")] = 0.0,
    overwrite: Annotated[bool, opt("--overwrite")] = False,
    resume: Annotated[bool, opt("--resume")] = False,
    workers: Annotated[int, opt("--workers", "They render samples; the output does not depend on their "
                                "number.")] = 1,
) -> None:
    """Generate a synthetic dataset in the exact NTU RGB+D layout."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from edgeact.data.synth import SynthConfig, generate
    from edgeact.report import say

    config = SynthConfig(seed=seed, performers=performers, cameras=cameras, setups=setups,
                         replications=replications, frames=video_frames, width=video_width, height=video_height,
                         fps=fps, color_offset=color_offset, empty_start=empty_start, spurious_rate=spurious_rate,
                         **({} if num_classes is None else {"classes": num_classes}))
    with Progress(TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  TextColumn("{task.description}"), console=console, transient=True) as bar:
        task = bar.add_task("", total=None)

        def tick(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=name)

        summary = generate(out, config, overwrite=overwrite, resume=resume, workers=workers, progress=tick)
    say(console, f"wrote {summary.written} clips ({summary.frames} frames), kept {summary.skipped} complete ones, "
                 f"into {summary.out_dir} in {summary.seconds:.1f} s ({summary.seconds_per_clip:.3f} s per clip); "
                 f"{len(summary.classes)} classes, truth in {summary.meta_path.name}")


def _key(key: str, detail: str = "") -> str:
    """A train flag's detail: the recipe key it sets."""
    return f"{detail} Sets the recipe key {key}.".strip()


@app.command()
def train(
    recipe: RecipeOpt,
    data: DataOpt,
    out: Annotated[Optional[Path], opt("--out", "The run folder (default runs/BENCHMARK); rerun to resume.")] = None,
    set_: Annotated[Optional[list[str]], opt("--set", f"Keys: {', '.join(recipe_keys())}.",
                                             metavar="KEY=VALUE")] = None,
    device: Annotated[str, opt("--device", "torchrun sets it per process.")] = "auto",
    epochs: Annotated[Optional[int], opt("--epochs", _key("epochs"))] = None,
    prune_epochs: Annotated[Optional[int], opt("--prune-epochs", _key("prune_epochs"))] = None,
    batch_size: Annotated[Optional[int], opt("--batch-size", _key("batch_size", "Per step and process."))] = None,
    workers: Annotated[Optional[int], opt("--workers", _key("workers", "They load clips (DataLoader)."))] = None,
    lr: Annotated[Optional[float], opt("--lr", _key("lr"))] = None,
    arch: Annotated[Optional[str], opt("--arch", _key("arch"))] = None,
    width: Annotated[Optional[float], opt("--width", _key("width"))] = None,
    frames: Annotated[Optional[int], opt("--frames", _key("frames"))] = None,
    size: Annotated[Optional[int], opt("--size", _key("size"))] = None,
    prune_scope: Annotated[Optional[str], opt("--prune-scope", _key("prune_scope"))] = None,
    max_prune_passes: Annotated[Optional[int], opt("--max-prune-passes", _key("max_prune_passes"))] = None,
    val_source: Annotated[Optional[str], opt("--val-source", _key("val_source"))] = None,
    pass2_init: Annotated[Optional[str], opt("--pass2-init", _key("pass2_init"))] = None,
    pretrained_2d: Annotated[Optional[str], opt("--pretrained-2d", _key("pretrained_2d"))] = None,
    init_from: Annotated[Optional[str], opt("--init-from", _key("init_from"))] = None,
    superclass_restarts: Annotated[Optional[int], opt("--superclass-restarts", _key("superclass_restarts"))] = None,
    seed: Annotated[Optional[int], opt("--seed", _key("seed"))] = None,
    restart: RestartOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Two-pass hierarchical training and iterative pruning from a recipe.

    Pass 1 trains with the fine-class loss; its confusion matrix on the validation set gives
    the superclasses of each level; pass 2 trains with the weighted hierarchical loss; then
    pruning passes zero 10 % of the alive filters and retrain until two passes in a row fail
    to beat the best validation top-1. Every epoch is checkpointed: rerun the same command to
    resume. A run folder belongs to one recipe and cache: a rerun with others is refused, naming
    what changed (only --workers may), and --restart starts it over. Multi-GPU:
    `torchrun --nproc-per-node 8 -m edgeact train ...`.

    Every recipe key can be overridden: `--set KEY=VALUE` (repeatable; VALUE read as YAML and
    checked against the key's type), or the flag where the key has one (`--epochs 3` is
    `--set epochs=3`; giving both is refused):
    `edgeact train --recipe train/ntu60-xsub.yaml --data cache/ntu60 --set lr_patience=3 --set amp=false`
    """
    from edgeact.recipe import load_recipe, parse_overrides
    from edgeact.report import print_train_summary
    from edgeact.training import Trainer

    flags = dict(epochs=epochs, prune_epochs=prune_epochs, batch_size=batch_size, workers=workers, lr=lr,
                 arch=arch, width=width, frames=frames, size=size, prune_scope=prune_scope,
                 max_prune_passes=max_prune_passes, val_source=val_source, pass2_init=pass2_init,
                 pretrained_2d=pretrained_2d, init_from=init_from, superclass_restarts=superclass_restarts,
                 seed=seed)
    flags = {k: v for k, v in flags.items() if v is not None}
    overrides = parse_overrides(set_ or [])
    for key in overrides:
        if key in flags:
            raise EdgeactError(f"--set {key}=... and --{key.replace('_', '-')}: the same recipe key twice; give one")
    r = load_recipe(recipe, **flags, **overrides)
    out = out or Path("runs") / r.benchmark
    trainer = Trainer(r, data, out, device=device, console=console, progress=not quiet, restart=restart)
    summary = trainer.run()
    if trainer.dist.main:
        print_train_summary(console, summary, out)


@app.command(name="eval")
def eval_(
    model: Annotated[str, opt("--model", "best.pt, any phase's final.pt, or its export.")],
    data: DataOpt,
    benchmark: Annotated[Optional[str], opt("--benchmark", "Default: the artifact's.")] = None,
    split: Annotated[str, opt("--split")] = "test",
    out: Annotated[Optional[Path], opt("--out", "A JSON report (holds top1, top5, levels, per-class).")] = None,
    plots: Annotated[Optional[Path], opt("--plots", "Default: beside --out.")] = None,
    device: DeviceOpt = "auto",
    batch_size: Annotated[int, opt("--batch-size", "Each clip is scored on --test-sets frame sets.")] = 4,
    workers: Annotated[int, opt("--workers", "They load clips (DataLoader).")] = 2,
    test_sets: Annotated[int, opt("--test-sets")] = 5,
    fp16: Annotated[bool, opt("--fp16", "For a .pt checkpoint on CUDA (exported artifacts keep their export "
                              "precision).")] = False,
    compile_mode: CompileOpt = None,
    backend: BackendOpt = "auto",
) -> None:
    """Evaluate a trained artifact on a benchmark split: top-1/top-5, superclass levels, per class."""
    from edgeact.evaluate import EvalOptions, evaluate_artifact, refuse_report_over_inputs, save_report
    from edgeact.report import eval_table, say, weakest_classes
    from edgeact.runtime import read_meta

    if benchmark is None:       # any artifact: checkpoint, ONNX, TorchScript, engine sidecar
        benchmark = read_meta(model).get("benchmark")
        if not benchmark:
            raise EdgeactError(f"{model}: names no benchmark; pass --benchmark")
    if plots is None and out is not None:
        plots = out.parent
    refuse_report_over_inputs(model, data, out, plots)     # before minutes of scoring, not after
    # notes (a cache resized on load) come before the minutes of scoring, not after them
    report = evaluate_artifact(model, data, EvalOptions(benchmark=benchmark, split=split, device=device,
                                                        batch_size=batch_size, workers=workers, test_sets=test_sets,
                                                        fp16=fp16, compile=compile_mode, backend=backend),
                               log=lambda note: say(console, note))
    written = save_report(report, out, plots)
    console.print(eval_table(report, model, benchmark, split))
    worst = weakest_classes(report)
    if worst:
        console.print(worst)
    for path in written:
        console.print(f"wrote {path}")


@app.command()
def ablate(
    recipe: RecipeOpt,
    data: Annotated[Path, opt("--data", "Skeleton-cropped (prep's default).")],
    uncropped: Annotated[Optional[Path], opt("--uncropped", "Without it the baseline row is left out.")] = None,
    out: Annotated[Path, opt("--out", "A folder for the runs and ablation.md/.json.")] = Path("runs/ablation"),
    device: DeviceOpt = "auto",
    epochs: Annotated[Optional[int], opt("--epochs", _key("epochs"))] = None,
    max_prune_passes: Annotated[Optional[int], opt("--max-prune-passes", _key("max_prune_passes"))] = None,
    restart: RestartOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Produce the paper's ablation table (Table 8): baseline, + cropping, + hierarchical loss, + each pruning pass."""
    from edgeact.ablation import ablation_markdown, run_ablation
    from edgeact.recipe import load_recipe

    r = load_recipe(recipe, epochs=epochs, max_prune_passes=max_prune_passes)
    table = run_ablation(r, data, uncropped, out, device=device, console=console, progress=not quiet,
                         restart=restart)
    console.print(ablation_markdown(table))
    console.print(f"wrote {out / 'ablation.md'} and {out / 'ablation.json'}", markup=False)


app.command(name="export", cls=renamed("export"))(export)
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
