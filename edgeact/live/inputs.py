"""What a live run opens, in its start-up order, and what does not fit between them: the source
the options name (:func:`open_input`, :func:`open_stream`), the pose backend (:func:`check_pose_options`
loads the calibration before anything slow; :func:`open_pose`, :func:`stream_poses`), the
classifier (:func:`open_classifier`), and the warnings about a skeleton replay that does not match
its video (:func:`replay_warnings`, :func:`end_warnings`). Run by :mod:`edgeact.live.app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from edgeact.errors import EdgeactError, keywords
from edgeact.live.options import LiveOptions
from edgeact.runtime.loader import resolve_model

if TYPE_CHECKING:
    from edgeact.calibration import Calibration
    from edgeact.live.pose import SkeletonReplay
    from edgeact.live.sources_file import StreamSpec
    from edgeact.runtime import Runtime

# a skeleton whose pixels reach this far past the frame was recorded for a larger one: Kinect maps
# joints outside the colour view a few per cent past its edge, never a quarter
SKELETON_OVERSHOOT = 1.25


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

    with keywords(kind="pose"):
        kind = check_pose_kind(pose_kind(opts))
    if kind == "skeleton" and opts.skeleton is None:
        raise EdgeactError("the skeleton pose replays the recording's .skeleton file: give it", param="skeleton")
    if opts.skeleton is not None and kind != "skeleton":
        raise EdgeactError(f"{opts.skeleton} is not read by the {kind} pose; drop one of them", param=("skeleton", "pose"))
    if kind == "depth" and not (opts.realsense or opts.bag is not None):
        raise EdgeactError("depth lifts keypoints with RealSense depth: it needs the RealSense camera or a recording "
                           "(realsense or bag)", param="pose")
    if opts.calibration is None:
        return kind, None
    if kind != "depth":
        uses = ("the recording's own skeleton pixels" if kind == "skeleton" else "the keypoints as YOLO finds them")
        raise EdgeactError(f"{opts.calibration}: only the depth pose projects with it (a RealSense camera or "
                           f"recording with the pose auto or depth); the {kind} pose uses {uses}", param="calibration")
    # the one loader: it refuses degenerate coefficients, and a FIFO or device before reading it
    from edgeact.calibration import load_calibration

    return kind, load_calibration(opts.calibration)


def open_pose(opts: LiveOptions, kind: str, calibration: Optional["Calibration"] = None):
    """The pose backend of ``kind`` (see :func:`check_pose_options`)."""
    from edgeact.live.pose import open_pose as make_pose

    with keywords(model="pose_model", conf="pose_conf", imgsz="pose_imgsz", half="fp16"):
        return make_pose(kind, model=opts.pose_model, device=opts.device, conf=opts.pose_conf,
                         imgsz=opts.pose_imgsz, half=opts.fp16, skeleton=opts.skeleton, calibration=calibration)


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


def open_stream(spec: Optional["StreamSpec"], one: LiveOptions, on_status):
    if spec is None:
        return open_input(one, on_status=on_status)
    from edgeact.live.sources import make_source

    return make_source(spec.kind, spec.value, realtime=one.realtime, loop=one.loop,
                       exit_on_disconnect=one.exit_on_disconnect, on_status=on_status)


def stream_poses(opts: LiveOptions, kinds: dict, replays: dict) -> dict:
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
