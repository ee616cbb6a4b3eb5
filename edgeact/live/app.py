"""``edgeact live`` as a library call: options -> source, pose backend, runtime, sinks -> run.

The CLI only parses flags into :class:`LiveOptions` and calls :func:`run_live`. The demo
(:mod:`edgeact.live.demo`) and ``edgeact bench live`` drive the same :func:`run_loop`.

Start-up order: the checks that need no device (:func:`check_options`, :func:`check_pose_options`),
then the source, then the classifier, then the pose model. A missing file or camera is reported
before anything slow loads or anything downloads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from edgeact.errors import EdgeactError
from edgeact.live.decide import Interpreter, check_superclass_source
from edgeact.live.defaults import LIVE
from edgeact.live.pipeline import LiveConfig, LiveLoop, LiveStats, Stream
from edgeact.live.stats import DEFAULT_SOURCE
from edgeact.live.window import Stride, WindowConfig
from edgeact.runtime.loader import DEMO_MODEL, resolve_model  # noqa: F401  (the one home of `--model demo`)

if TYPE_CHECKING:
    from edgeact.calibration import Calibration
    from edgeact.live.pose import SkeletonReplay
    from edgeact.live.sources_file import StreamSpec
    from edgeact.runtime import Runtime

# a skeleton whose pixels reach this far past the frame was recorded for a larger one: Kinect maps
# joints outside the colour view a few per cent past its edge, never a quarter
SKELETON_OVERSHOOT = 1.25


@dataclass(frozen=True)
class LiveOptions:
    """Every ``edgeact live`` flag (names = flag names); defaults from :data:`edgeact.live.defaults.LIVE`."""

    model: str = "demo"
    camera: Optional[str] = None
    video: Optional[Path] = None
    realsense: bool = False
    bag: Optional[Path] = None
    skeleton: Optional[Path] = None
    pose: str = "auto"                      # auto, yolo, skeleton, depth
    pose_model: str = LIVE.pose_model
    pose_conf: float = LIVE.pose_conf
    pose_imgsz: int = LIVE.pose_imgsz
    calibration: Optional[Path] = None
    device: str = "auto"
    fp16: bool = False
    compile: Optional[str] = None           # torch.compile mode for a .pt checkpoint
    backend: str = "auto"                   # auto (the artifact's own) or openvino for an .onnx
    window_seconds: Optional[float] = None
    max_window_mb: float = LIVE.max_window_mb
    stride: str = LIVE.stride
    test_sets: int = LIVE.test_sets
    smooth: int = LIVE.smooth
    threshold: float = LIVE.threshold
    topk: int = LIVE.topk
    superclasses: str = LIVE.superclasses  # fine (summed fine probabilities) or heads (their own output)
    realtime: bool = True
    loop: bool = False                      # a --video starts again at its end
    exit_on_disconnect: bool = False
    show: bool = False
    save: Optional[Path] = None
    jsonl: Optional[Path] = None
    quiet: bool = False
    mqtt: Optional[str] = None              # mqtt[s]://[user:pass@]host[:port][/prefix]
    mqtt_every: bool = False                # also publish every decision
    mqtt_level: str = "fine"                # the action of MQTT events: fine, or a superclass level 1..L
    serve: Optional[str] = None             # HOST:PORT of the remote view and /metrics
    serve_token: Optional[str] = None       # bearer token (required off loopback)
    streams: tuple = ()                     # several sources (StreamSpec each: --sources FILE, repeated --camera/--video)


def window_seconds_for(meta: dict, override: Optional[float]) -> float:
    """The rolling window: as given, else the median training clip's duration from the artifact."""
    if override is not None:
        return override
    clip = meta.get("clip") or {}
    if clip.get("frames") and clip.get("fps"):
        return float(clip["frames"]) / float(clip["fps"])
    return LIVE.fallback_window_seconds


def live_config(opts: LiveOptions, meta: dict, *, drop_stale: bool) -> LiveConfig:
    window = WindowConfig(seconds=window_seconds_for(meta, opts.window_seconds), stride=Stride.parse(opts.stride),
                          max_mb=opts.max_window_mb)
    if opts.test_sets < 1 or opts.smooth < 1 or opts.topk < 1:
        raise EdgeactError("must be >= 1", param=("test_sets", "smooth", "topk"))
    if not 0.0 <= opts.threshold <= 1.0:
        raise EdgeactError(f"{opts.threshold} is outside [0, 1]", param="threshold")
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


def pose_kind(opts: LiveOptions) -> str:
    """The pose backend the options ask for; ``auto`` picks the recording's own skeleton when one
    is given, YOLO lifted with depth for RealSense with a calibration file, else YOLO."""
    if opts.pose != "auto":
        return opts.pose
    if opts.skeleton is not None:
        return "skeleton"
    return "depth" if (opts.realsense or opts.bag is not None) and opts.calibration is not None else "yolo"


def check_pose_options(opts: LiveOptions) -> tuple[str, Optional["Calibration"]]:
    """``(pose kind, calibration)``: the files a pose backend reads must be the ones it uses, so
    ``--skeleton`` or ``--calibration`` given to a backend that ignores them is an error; the
    calibration is loaded (and checked) here, before anything slow."""
    from edgeact.live.pose import check_pose_kind

    kind = check_pose_kind(pose_kind(opts))
    if kind == "skeleton" and opts.skeleton is None:
        raise EdgeactError("--pose skeleton needs the recording's .skeleton file (--skeleton FILE)")
    if opts.skeleton is not None and kind != "skeleton":
        raise EdgeactError(f"--skeleton {opts.skeleton}: --pose {kind} does not read it; drop one of them")
    if kind == "depth" and not (opts.realsense or opts.bag is not None):
        raise EdgeactError("--pose depth lifts keypoints with RealSense depth: it needs --realsense or --bag FILE")
    if opts.calibration is None:
        return kind, None
    if kind != "depth":
        uses = ("the recording's own skeleton pixels" if kind == "skeleton" else "the keypoints as YOLO finds them")
        raise EdgeactError(f"--calibration {opts.calibration}: only the depth pose projects with it (--realsense "
                           f"or --bag with --pose auto or depth); --pose {kind} uses {uses}")
    # the one loader: it refuses degenerate coefficients, and a FIFO or device before reading it
    from edgeact.calibration import load_calibration

    return kind, load_calibration(opts.calibration)


def open_pose(opts: LiveOptions, kind: str, calibration: Optional["Calibration"] = None):
    """The pose backend of ``kind`` (see :func:`check_pose_options`)."""
    from edgeact.live.pose import open_pose as make_pose

    return make_pose(kind, model=opts.pose_model, device=opts.device, conf=opts.pose_conf, imgsz=opts.pose_imgsz,
                     half=opts.fp16, skeleton=opts.skeleton, calibration=calibration)


def replay_warnings(source, replay: "SkeletonReplay") -> list[str]:
    """What does not fit when ``replay`` (a ``.skeleton`` file) is played over ``source``: a
    different frame count is a warning (row t is read for frame t, so the two drift apart or one
    runs out); pixels reaching far past the frame are an :class:`EdgeactError`, because then the
    skeleton was recorded for another resolution and every crop would miss the person."""
    name = getattr(source, "name", "the source")
    out = []
    width, height = getattr(source, "size", (0, 0))
    extent = replay.pixel_extent()
    if extent is not None and width > 0 and height > 0:
        x, y = extent
        if x > SKELETON_OVERSHOOT * width or y > SKELETON_OVERSHOOT * height:
            raise EdgeactError(f"{replay.path}: skeleton pixels span up to {x:.0f}x{y:.0f} but the video is "
                               f"{width}x{height} ({name}): they belong to a recording of another size")
    report = replay.skeleton.report
    if report.damaged:
        out.append(f"{replay.path}: {report.damaged}")
    if not replay.skeleton.usable:
        out.append(f"{replay.path}: no frame holds a usable body: nothing to recognize")
    count = getattr(source, "frame_count", None)
    if count is not None and count != replay.num_frames:
        out.append(f"{name} has {count} frames but {replay.path} has {replay.num_frames} rows (row t is read for "
                   "frame t): the replay is cut short or out of step")
    return out


def end_warnings(source, replay: Optional["SkeletonReplay"]) -> list[str]:
    """What the run found wrong with its input once the file was read: frames that did not
    decode, an end before the header's frame count, a frame count that differs from the skeleton's
    (when the header's count, warned about at the start, did not already account for it)."""
    out = []
    damage = source.damage() if hasattr(source, "damage") else None
    if damage:
        out.append(damage)
    played = getattr(source, "frames_in_file", None)
    announced = getattr(source, "frame_count", None)
    if replay is not None and played is not None and played != replay.num_frames \
            and (announced is None or played > announced):
        out.append(f"{source.name} gave {played} frames but {replay.path} has {replay.num_frames} rows: "
                   "the replay was cut short or out of step")
    return out


def build_sinks(opts: LiveOptions, runtime, console, *, fps, title: str, start=None,
                sections: Optional[dict] = None) -> list:
    """The outputs the options ask for; ``start`` is what the JSONL start line records of the run
    (model, source, pose), or one such dict per stream; with several streams ``fps`` is their
    rates by id and ``sections`` their titles in the view, by id."""
    from edgeact.live.output import JsonlSink, OverlaySink, RichView

    sinks: list = []
    if opts.jsonl is not None:
        sinks.append(JsonlSink(opts.jsonl, start=start))
    if opts.show or opts.save is not None:
        sinks.append(OverlaySink(show=opts.show, save=opts.save, fps=fps or 30.0, several=sections is not None))
    if not opts.quiet and console is not None:
        levels = len((runtime.hierarchy or {}).get("assignments") or [])
        sinks.append(RichView(console, title=title, level_count=levels, sections=sections))
    if opts.mqtt is not None or opts.serve is not None:
        from edgeact.live.remote import remote_sinks

        end_after = 2 * window_seconds_for(runtime.meta, opts.window_seconds)   # when the loop forgets a person
        try:
            sinks += remote_sinks(opts, runtime, end_after=end_after, title=title or "edgeact live",
                                  sources=tuple(sections) if sections else (DEFAULT_SOURCE,),
                                  on_note=lambda m: note(m, console))
        except BaseException:
            for s in sinks:
                s.close(None)
            raise
    return sinks


def run_loop(source, pose, runtime, opts: LiveOptions, sinks: Sequence, on_note=None) -> LiveStats:
    """Run one source (stream ``cam0``) to its end, a sink's stop request or Ctrl-C. The caller
    closes the sinks; ``on_note(text)`` gets one-line notes (e.g. the window's frames kept downscaled)."""
    return run_streams([Stream(DEFAULT_SOURCE, source, pose)], runtime, opts, sinks, on_note=on_note)


def run_streams(streams: Sequence[Stream], runtime, opts: LiveOptions, sinks: Sequence, on_note=None) -> LiveStats:
    """Run several streams in one loop (one batched pose call and one classifier for all) until
    every one has ended, a sink's stop request or Ctrl-C; see :func:`run_loop`."""
    drop = any(getattr(s.source, "live", False) for s in streams) or opts.realtime
    cfg = live_config(opts, runtime.meta, drop_stale=drop)
    interp = Interpreter(runtime.classes, runtime.hierarchy, topk=cfg.topk, threshold=cfg.threshold,
                         smooth=cfg.smooth, forget_after=2 * cfg.window.seconds, superclasses=opts.superclasses)
    return LiveLoop(streams, runtime, interp, cfg, sinks, on_note=on_note).run()


def check_options(opts: LiveOptions) -> None:
    """The checks made before any source or model is opened: option combinations, the model file,
    outputs that would land on an input, and a display for ``--show``."""
    if opts.loop and opts.video is None:
        raise EdgeactError("--loop replays a --video file; a camera or RealSense stream has no end to loop from")
    check_superclass_source(opts.superclasses)
    check_outputs(opts)
    from edgeact.live.remote import check_remote_options

    check_remote_options(opts)
    if opts.show:
        check_display()


def _inputs(opts: LiveOptions) -> list:
    camera = opts.camera if opts.camera is not None and not str(opts.camera).isdigit() else None  # a file as URL
    return [resolve_model(opts.model), opts.video, opts.bag, opts.skeleton, opts.calibration, camera,
            opts.pose_model]


def check_outputs(opts: LiveOptions) -> None:
    """``--jsonl`` and ``--save`` must not be the model, an input or each other (either would be
    destroyed), and ``--save`` must have an extension OpenCV writes (found out at the end, the
    whole run's overlay would be lost)."""
    from edgeact.fileio import refuse_output_over_input, same_file
    from edgeact.live.output import check_video_output

    inputs = _inputs(opts)
    refuse_output_over_input(opts.jsonl, inputs, option="--jsonl")
    refuse_output_over_input(opts.save, inputs, option="--save")
    if opts.jsonl is not None and opts.save is not None and same_file(opts.jsonl, opts.save):
        raise EdgeactError(f"--jsonl {opts.jsonl} and --save {opts.save} name the same file; give each its own")
    if opts.save is not None:
        check_video_output(opts.save)


def check_stream_outputs(opts: LiveOptions, streams: Sequence[LiveOptions], ids: Sequence[str]) -> None:
    """With several streams: ``--jsonl`` and every stream's overlay video (``--save``, placed by
    :func:`edgeact.live.output.overlay_path`) must not be the model or any stream's input."""
    from edgeact.fileio import refuse_output_over_input
    from edgeact.live.output import overlay_path

    inputs = [p for one in streams for p in _inputs(one)]
    refuse_output_over_input(opts.jsonl, inputs, option="--jsonl")
    if opts.save is not None:
        for sid in ids:
            refuse_output_over_input(overlay_path(opts.save, sid, True), inputs, option="--save")


# Opens and closes a window in a child process: OpenCV's Qt backend calls abort() when it cannot
# reach a display, which no exception handler survives
_WINDOW_PROBE = """
import sys, cv2
try:
    cv2.namedWindow("edgeact"); cv2.waitKey(1); cv2.destroyAllWindows()
except cv2.error as exc:
    text = str(exc)
    sys.exit("this OpenCV is built without a GUI (opencv-python-headless?)" if "not implemented" in text
             else text.strip().splitlines()[-1])
"""


def check_display(timeout: float = 30.0) -> None:
    """``--show`` needs a display and an OpenCV that can open a window on it; without them OpenCV
    fails at the first frame (on Linux with Qt: the whole process aborts). Checked by opening a
    test window in a child process, so whatever the build and the display, it is one line here."""
    on_linux = sys.platform.startswith("linux")
    if on_linux and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise EdgeactError("no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset); "
                           "use --save FILE.mp4 for the overlay", param="show")
    try:
        probe = subprocess.run([sys.executable, "-c", _WINDOW_PROBE], capture_output=True, text=True,
                               timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EdgeactError(f"a test window did not open within {timeout:g} s; use --save FILE.mp4 "
                           "for the overlay", param="show") from None
    if probe.returncode == 0:
        return
    lines = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
    # our own exit message is the last line; a crash (abort) says why in its first
    why = (lines[0] if probe.returncode < 0 else lines[-1]) if lines else f"exit status {probe.returncode}"
    raise EdgeactError(f"OpenCV cannot open a window here ({why}); use --save FILE.mp4 for the overlay", param="show")


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


def note(message: str, console=None, *, kind: str = "note") -> None:
    """A one-line note (``kind`` ``"warning"`` for damaged or mismatched input): on the console,
    or on stderr when there is none (``--quiet``)."""
    if console is not None:
        console.log(f"{kind}: {message}", markup=False, highlight=False)   # paths such as run[2]/x are not markup
    else:
        print(f"{kind}: {message}", file=sys.stderr)


def stream_options(opts: LiveOptions) -> list[tuple[str, Optional["StreamSpec"], LiveOptions]]:
    """``(id, spec, options)`` per stream: for a one-source run ``("cam0", None, opts)``; for
    ``opts.streams`` each stream's spec and ``opts`` with that stream's source, skeleton and
    calibration (``--loop`` applies to its video streams)."""
    if not opts.streams:
        return [(DEFAULT_SOURCE, None, opts)]
    given = [flag for flag, on in (("--camera", opts.camera is not None), ("--video", opts.video is not None),
                                   ("--realsense", opts.realsense), ("--bag", opts.bag is not None)) if on]
    if given:
        raise EdgeactError(f"several sources (--sources or repeated --camera/--video) name every stream: drop "
                           f"{', '.join(given)}")
    for flag, value in (("--skeleton", opts.skeleton), ("--calibration", opts.calibration)):
        if value is not None:
            raise EdgeactError(f"{flag} {value}: with several sources give each stream its own {flag[2:]} "
                               "in a --sources file")
    out = []
    for spec in opts.streams:
        kind, value = spec.kind, spec.value
        one = replace(opts, streams=(), skeleton=spec.skeleton, calibration=spec.calibration,
                      loop=opts.loop and kind == "video", camera=str(value) if kind == "camera" else None,
                      video=value if kind == "video" else None, bag=value if kind == "bag" else None,
                      realsense=kind == "realsense")
        out.append((spec.id, spec, one))
    return out


def _open_stream(spec: Optional["StreamSpec"], one: LiveOptions, on_status):
    if spec is None:
        return open_input(one, on_status=on_status)
    from edgeact.live.sources import make_source

    return make_source(spec.kind, spec.value, realtime=one.realtime, loop=one.loop,
                       exit_on_disconnect=one.exit_on_disconnect, on_status=on_status)


def _stream_poses(opts: LiveOptions, kinds: dict, replays: dict) -> dict:
    """The pose backend of each stream: its replay, or one YOLO model shared by every stream that
    needs one (so its frames are posed in one batched call), lifted with depth per stream."""
    from edgeact.live.pose import DepthLiftPose

    yolo, poses = None, {}
    for sid, (kind, calibration) in kinds.items():
        if kind == "skeleton":
            poses[sid] = replays[sid]
            continue
        if yolo is None:
            yolo = open_pose(opts, "yolo")
        poses[sid] = DepthLiftPose(yolo, calibration) if kind == "depth" else yolo
    return poses


def run_live(opts: LiveOptions, console=None) -> LiveStats:
    """Check the options, open the sources, the classifier and the pose backend (in that order),
    and run until every source ends or Ctrl-C. Damaged or mismatched input is a warning line.
    With several streams every check is made (naming the stream) before any source opens."""
    from edgeact.live.pose import SkeletonReplay

    streams = stream_options(opts)
    several = len(streams) > 1
    named = (lambda sid, m: f"{sid}: {m}") if several else (lambda sid, m: m)
    kinds = {}
    for sid, _, one in streams:
        try:
            check_options(one)
            kinds[sid] = check_pose_options(one)
        except EdgeactError as exc:
            raise EdgeactError(named(sid, exc.reason), param=exc.params) from None
    if several:
        check_stream_outputs(opts, [one for _, _, one in streams], [sid for sid, _, _ in streams])

    def status_for(sid: str):
        def status(message: str) -> None:   # camera unplugged / reconnected
            if console is not None:
                console.log(named(sid, message), markup=False, highlight=False)   # it names the camera URL or file
        return status

    def warn(message: str) -> None:
        note(message, console, kind="warning")

    sources: dict = {}
    replays: dict = {}
    poses: dict = {}
    sinks: list = []
    stats = None
    try:
        for sid, spec, one in streams:
            sources[sid] = _open_stream(spec, one, status_for(sid))
        for sid, _, one in streams:
            if kinds[sid][0] == "skeleton":    # read before the classifier: a mismatch is reported before anything slow
                replays[sid] = SkeletonReplay(one.skeleton)
                for message in replay_warnings(sources[sid], replays[sid]):
                    warn(named(sid, message))
        runtime = open_classifier(opts, console)
        poses = _stream_poses(opts, kinds, replays)
        model = str(resolve_model(opts.model))
        start = [{"source": sid, "input": getattr(sources[sid], "name", ""), "model": model,
                  "pose": getattr(poses[sid], "name", kinds[sid][0])} for sid, _, _ in streams]
        if several:
            sinks = build_sinks(opts, runtime, console, fps={k: getattr(v, "fps", None) for k, v in sources.items()},
                                title=f"edgeact live: {len(streams)} streams", start=start,
                                sections={sid: f"{sid}: {getattr(sources[sid], 'name', '')}" for sid, _, _ in streams})
        else:
            source = sources[DEFAULT_SOURCE]
            sinks = build_sinks(opts, runtime, console, fps=getattr(source, "fps", None),
                                title=f"edgeact live: {getattr(source, 'name', 'source')}", start=start)
        stats = run_streams([Stream(sid, sources[sid], poses[sid]) for sid, _, _ in streams], runtime, opts, sinks,
                            on_note=lambda m: note(m, console))
    finally:
        for s in sinks:      # also on Ctrl-C: JSON lines flushed, the overlay video finished
            s.close(stats)
        for source in sources.values():
            source.close()
        for pose in {id(p): p for p in poses.values()}.values():
            close = getattr(pose, "close", None)
            if close:
                close()
    for sid, source in sources.items():
        for message in end_warnings(source, replays.get(sid)):
            warn(named(sid, message))
    return stats
