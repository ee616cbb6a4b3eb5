"""``edgeact live``'s options and the checks made before anything opens: :class:`LiveOptions`
(every flag), the loop configuration they give (:func:`live_config`), option combinations, outputs
that would land on an input, a display for ``--show`` (:func:`check_options`), and one option set
per stream of a several-source run (:func:`stream_options`). Run by :mod:`edgeact.live.app`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from edgeact.errors import EdgeactError, keywords
from edgeact.live.decide import check_superclass_source
from edgeact.live.defaults import LIVE
from edgeact.live.pipeline import LiveConfig
from edgeact.live.stats import DEFAULT_SOURCE
from edgeact.live.window import Stride, WindowConfig
from edgeact.runtime.loader import resolve_model

if TYPE_CHECKING:
    from edgeact.live.sources_file import StreamSpec


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
    with keywords(seconds="window_seconds", max_mb="max_window_mb"):
        window = WindowConfig(seconds=window_seconds_for(meta, opts.window_seconds), stride=Stride.parse(opts.stride),
                              max_mb=opts.max_window_mb)
    if opts.test_sets < 1 or opts.smooth < 1 or opts.topk < 1:
        raise EdgeactError("must be >= 1", param=("test_sets", "smooth", "topk"))
    if not 0.0 <= opts.threshold <= 1.0:
        raise EdgeactError(f"{opts.threshold} is outside [0, 1]", param="threshold")
    return LiveConfig(window=window, test_sets=opts.test_sets, topk=opts.topk, threshold=opts.threshold,
                      smooth=opts.smooth, drop_stale=drop_stale)


def check_options(opts: LiveOptions) -> None:
    """The checks made before any source or model is opened: option combinations, the model file,
    outputs that would land on an input, and a display for ``--show``."""
    if opts.loop and opts.video is None:
        raise EdgeactError("replays a video file; a camera or RealSense stream has no end to loop from", param="loop")
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
    refuse_output_over_input(opts.jsonl, inputs, param="jsonl")
    refuse_output_over_input(opts.save, inputs, param="save")
    if opts.jsonl is not None and opts.save is not None and same_file(opts.jsonl, opts.save):
        raise EdgeactError(f"{opts.jsonl} and {opts.save} name the same file; give each its own",
                           param=("jsonl", "save"))
    if opts.save is not None:
        with keywords(path="save"):
            check_video_output(opts.save)


def check_stream_outputs(opts: LiveOptions, streams: Sequence[LiveOptions], ids: Sequence[str]) -> None:
    """With several streams: ``--jsonl`` and every stream's overlay video (``--save``, placed by
    :func:`edgeact.live.output.overlay_path`) must not be the model or any stream's input."""
    from edgeact.fileio import refuse_output_over_input
    from edgeact.live.output import overlay_path

    inputs = [p for one in streams for p in _inputs(one)]
    refuse_output_over_input(opts.jsonl, inputs, param="jsonl")
    if opts.save is not None:
        for sid in ids:
            refuse_output_over_input(overlay_path(opts.save, sid, True), inputs, param="save")


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
                           "use {save} (a .mp4 file) for the overlay", param="show", mention="save")
    try:
        probe = subprocess.run([sys.executable, "-c", _WINDOW_PROBE], capture_output=True, text=True,
                               timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EdgeactError(f"a test window did not open within {timeout:g} s; use {{save}} (a .mp4 file) "
                           "for the overlay", param="show", mention="save") from None
    if probe.returncode == 0:
        return
    lines = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
    # our own exit message is the last line; a crash (abort) says why in its first
    why = (lines[0] if probe.returncode < 0 else lines[-1]) if lines else f"exit status {probe.returncode}"
    raise EdgeactError(f"OpenCV cannot open a window here ({why}); use {{save}} (a .mp4 file) for the overlay",
                       param="show", mention="save")


def stream_options(opts: LiveOptions) -> list[tuple[str, Optional["StreamSpec"], LiveOptions]]:
    """``(id, spec, options)`` per stream: for a one-source run ``("cam0", None, opts)``; for
    ``opts.streams`` each stream's spec and ``opts`` with that stream's source, skeleton and
    calibration (``loop`` applies to its video streams). A source, skeleton or calibration beside
    ``streams`` is an error naming the fields."""
    if not opts.streams:
        return [(DEFAULT_SOURCE, None, opts)]
    given = [name for name, on in (("camera", opts.camera is not None), ("video", opts.video is not None),
                                   ("realsense", opts.realsense), ("bag", opts.bag is not None)) if on]
    if given:
        raise EdgeactError("several sources ({streams} or repeated {camera}/{video}) name every stream: drop "
                           + ", ".join("{" + name + "}" for name in given),
                           mention=tuple(dict.fromkeys(("streams", "camera", "video", *given))))
    for name, value in (("skeleton", opts.skeleton), ("calibration", opts.calibration)):
        if value is not None:
            raise EdgeactError(f"{value}: with several sources give each stream its own {name} (in its entry "
                               "of a sources file)", param=name)
    out = []
    for spec in opts.streams:
        kind, value = spec.kind, spec.value
        one = replace(opts, streams=(), skeleton=spec.skeleton, calibration=spec.calibration,
                      loop=opts.loop and kind == "video", camera=str(value) if kind == "camera" else None,
                      video=value if kind == "video" else None, bag=value if kind == "bag" else None,
                      realsense=kind == "realsense")
        out.append((spec.id, spec, one))
    return out
