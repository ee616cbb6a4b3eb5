"""Data commands: ``edgeact calibrate``, ``edgeact prep`` and ``edgeact synth``.

Thin Typer commands (registered by :mod:`edgeact.cli`) that validate options and call
:mod:`edgeact.calibration`, :mod:`edgeact.data.prep` and :mod:`edgeact.data.synth`; the results go
to :mod:`edgeact.report`. Nothing heavy is imported until a command runs. Bad input raises
:class:`edgeact.errors.EdgeactError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

from rich.console import Console

from edgeact.cli_options import opt
from edgeact.errors import EdgeactError

console = Console()


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
