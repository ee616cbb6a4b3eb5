"""``edgeact live``: the live command and its ``--demo`` run.

A thin Typer command (registered by :mod:`edgeact.cli`) that gathers its options into
:class:`edgeact.live.app.LiveOptions` and calls :func:`edgeact.live.app.run_live`, or
:func:`edgeact.live.demo.run_demo` for ``--demo``. Nothing heavy is imported until it runs.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from edgeact.cli_options import opt
from edgeact.live.defaults import LIVE

console = Console()
err_console = Console(stderr=True)


# live's options, one per LiveOptions field (same names; --no-realtime is realtime=False, --compile
# is compile): a new option is one parameter here and one field there
SOURCE, MODEL, SKELETON, DECISIONS, OUTPUT, REMOTE = "Source", "Model", "Skeleton", "Decisions", "Output", "Remote"


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
