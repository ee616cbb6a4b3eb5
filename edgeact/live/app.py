"""``edgeact live`` as a library call: options -> source, pose backend, runtime, sinks -> run.

The CLI only parses flags into :class:`LiveOptions` and calls :func:`run_live`. The demo
(:mod:`edgeact.live.demo`) and ``edgeact bench live`` drive the same :func:`run_loop`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from edgeact.errors import EdgeactError
from edgeact.live.decide import Interpreter, check_superclass_source
from edgeact.live.pipeline import LiveConfig, LiveLoop, LiveStats
from edgeact.live.window import DEFAULT_MAX_WINDOW_MB, Stride, WindowConfig
from edgeact.runtime.loader import DEMO_MODEL, resolve_model  # noqa: F401  (the one home of `--model demo`)

if TYPE_CHECKING:
    from edgeact.runtime import Runtime

DEFAULT_WINDOW_SECONDS = 2.0      # for artifacts that do not record their training clip length


@dataclass(frozen=True)
class LiveOptions:
    """Every ``edgeact live`` flag (names = flag names)."""

    model: str = "demo"
    camera: Optional[str] = None
    video: Optional[Path] = None
    realsense: bool = False
    bag: Optional[Path] = None
    skeleton: Optional[Path] = None
    pose: str = "auto"                      # auto, yolo, skeleton, depth
    pose_model: str = "yolo11n-pose.pt"
    pose_conf: float = 0.25
    pose_imgsz: int = 640
    calibration: Optional[Path] = None
    device: str = "auto"
    fp16: bool = False
    compile: Optional[str] = None           # torch.compile mode for a .pt checkpoint
    backend: str = "auto"                   # auto (the artifact's own) or openvino for an .onnx
    window_seconds: Optional[float] = None
    max_window_mb: float = DEFAULT_MAX_WINDOW_MB
    stride: str = "0.5s"
    test_sets: int = 1
    smooth: int = 3
    threshold: float = 0.5
    topk: int = 3
    superclasses: str = "fine"              # fine (summed fine probabilities) or heads (their own output)
    realtime: bool = True
    loop: bool = False                      # a --video starts again at its end
    exit_on_disconnect: bool = False
    show: bool = False
    save: Optional[Path] = None
    jsonl: Optional[Path] = None
    quiet: bool = False


def window_seconds_for(meta: dict, override: Optional[float]) -> float:
    """The rolling window: as given, else the median training clip's duration from the artifact."""
    if override is not None:
        return override
    clip = meta.get("clip") or {}
    if clip.get("frames") and clip.get("fps"):
        return float(clip["frames"]) / float(clip["fps"])
    return DEFAULT_WINDOW_SECONDS


def live_config(opts: LiveOptions, meta: dict, *, drop_stale: bool) -> LiveConfig:
    window = WindowConfig(seconds=window_seconds_for(meta, opts.window_seconds), stride=Stride.parse(opts.stride),
                          max_mb=opts.max_window_mb)
    if opts.test_sets < 1 or opts.smooth < 1 or opts.topk < 1:
        raise EdgeactError("--test-sets, --smooth and --topk must be >= 1")
    if not 0.0 <= opts.threshold <= 1.0:
        raise EdgeactError(f"--threshold: {opts.threshold} is outside [0, 1]")
    return LiveConfig(window=window, test_sets=opts.test_sets, topk=opts.topk, threshold=opts.threshold,
                      smooth=opts.smooth, drop_stale=drop_stale)


def open_input(opts: LiveOptions, on_status=None):
    """The source the options name (``--realsense --bag FILE`` and ``--bag FILE`` both play a recording)."""
    from edgeact.live.sources import open_source

    camera = opts.camera
    if camera is not None and str(camera).isdigit():
        camera = int(camera)
    return open_source(camera=camera, video=opts.video, realsense=opts.realsense and opts.bag is None,
                       bag=opts.bag, realtime=opts.realtime, loop=opts.loop,
                       exit_on_disconnect=opts.exit_on_disconnect,
                       on_status=on_status)


def open_pose(opts: LiveOptions):
    """The skeleton backend; ``auto`` picks the recording's own skeleton when one is given, YOLO
    lifted with depth for RealSense with a calibration file, else YOLO."""
    from edgeact.live.pose import open_pose as make_pose

    kind = opts.pose
    if kind == "auto":
        kind = "skeleton" if opts.skeleton else ("depth" if (opts.realsense or opts.bag) and opts.calibration
                                                 else "yolo")
    return make_pose(kind, model=opts.pose_model, device=opts.device, conf=opts.pose_conf, imgsz=opts.pose_imgsz,
                     half=opts.fp16, skeleton=opts.skeleton, calibration=opts.calibration)


def build_sinks(opts: LiveOptions, runtime, console, *, fps: Optional[float], title: str) -> list:
    from edgeact.live.output import JsonlSink, OverlaySink, RichView

    sinks: list = []
    if opts.jsonl is not None:
        sinks.append(JsonlSink(opts.jsonl))
    if opts.show or opts.save is not None:
        sinks.append(OverlaySink(show=opts.show, save=opts.save, fps=fps or 30.0))
    if not opts.quiet and console is not None:
        levels = len((runtime.hierarchy or {}).get("assignments") or [])
        sinks.append(RichView(console, title=title, level_count=levels))
    return sinks


def run_loop(source, pose, runtime, opts: LiveOptions, sinks: Sequence, on_note=None) -> LiveStats:
    """Run one source to its end, a sink's stop request or Ctrl-C. The caller closes the sinks;
    ``on_note(text)`` gets one-line notes (e.g. the window's frames kept downscaled)."""
    drop = bool(getattr(source, "live", False)) or opts.realtime
    cfg = live_config(opts, runtime.meta, drop_stale=drop)
    interp = Interpreter(runtime.classes, runtime.hierarchy, topk=cfg.topk, threshold=cfg.threshold,
                         smooth=cfg.smooth, forget_after=2 * cfg.window.seconds, superclasses=opts.superclasses)
    return LiveLoop(source, pose, runtime, interp, cfg, sinks, on_note=on_note).run()


def check_options(opts: LiveOptions) -> None:
    """The option checks that need no file or device, made before anything slow is loaded."""
    if opts.loop and opts.video is None:
        raise EdgeactError("--loop replays a --video file; a camera or RealSense stream has no end to loop from")
    check_superclass_source(opts.superclasses)


def open_classifier(opts: LiveOptions, console=None) -> "Runtime":
    """The classifier ``opts.model`` names, warmed up for batches of 1 and 2 people so the first
    decisions are not the slow ones (with ``--compile`` this is where compiling happens)."""
    from edgeact.runtime import load_runtime

    runtime = load_runtime(resolve_model(opts.model), device=opts.device, fp16=opts.fp16, compile=opts.compile,
                           backend=opts.backend)
    if opts.compile and console is not None:
        console.log(f"compiling the classifier (torch.compile mode {opts.compile}); once per start, "
                    "can take a minute")
    runtime.warmup(1, 2)
    return runtime


def note(message: str, console=None) -> None:
    """A one-line note: on the console, or on stderr when there is none (``--quiet``)."""
    if console is not None:
        console.log(f"note: {message}")
    else:
        print(f"note: {message}", file=sys.stderr)


def run_live(opts: LiveOptions, console=None) -> LiveStats:
    """Open everything the options name and run until the source ends or Ctrl-C."""
    check_options(opts)
    runtime = open_classifier(opts, console)
    pose = open_pose(opts)

    def status(message: str) -> None:   # camera unplugged / reconnected
        if console is not None:
            console.log(message)

    source = open_input(opts, on_status=status)
    sinks: list = []
    stats = None
    try:
        sinks = build_sinks(opts, runtime, console, fps=getattr(source, "fps", None),
                            title=f"edgeact live: {getattr(source, 'name', 'source')}")
        stats = run_loop(source, pose, runtime, opts, sinks, on_note=lambda m: note(m, console))
        return stats
    finally:
        for s in sinks:      # also on Ctrl-C: JSON lines flushed, the overlay video finished
            s.close(stats)
        source.close()
        close = getattr(pose, "close", None)
        if close:
            close()
