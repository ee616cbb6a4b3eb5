"""Pose backends of ``edgeact live``: find the people in a :class:`Frame` and give each a stable
track id, 2D keypoints and, where depth or a 3D skeleton is known, camera-space joints.

* :class:`UltralyticsPose`: an ultralytics YOLO pose model (17 COCO keypoints; YOLO26n-pose by
  default, NMS-free; YOLO11 and other ultralytics pose models by name or file) with a tracker per
  stream (ultralytics' ByteTrack / BoT-SORT, or the small built-in :class:`IouTracker`).
* :class:`DepthLiftPose`: wraps a 2D backend and lifts its keypoints to 3D with the frame's aligned
  depth (:func:`lift_keypoints`); with a calibration the keypoints are re-projected with paper
  Eq. 1 (:func:`edgeact.calibration.project`), as the dataset path projects 3D joints.
* :class:`SkeletonReplay`: the ``.skeleton`` file of a replayed NTU recording (25 Kinect joints).

Every backend is called as ``backend(frame) -> list[Person]`` (empty when nobody is found), or as
``backend.pose_batch(frames, keys)`` for the newest frame of several streams at once: YOLO runs
them in one batched call, and tracker state is kept per key (the stream id).
ultralytics and torch are imported inside :class:`UltralyticsPose`. Trackers without extra
packages are in :mod:`edgeact.live.tracking`. The module is over 400 lines because it holds the
three backends behind one interface and the chooser that opens them, each small.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Hashable, Optional, Sequence, Union

import numpy as np

from edgeact.calibration import Calibration, load_calibration, project
from edgeact.errors import EdgeactError
from edgeact.live.frames import Frame, Intrinsics, Person
from edgeact.live.tracking import IouTracker, box_iou

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)
# Kinect v2 order of NTU .skeleton files
KINECT_JOINTS: tuple[str, ...] = (
    "SpineBase", "SpineMid", "Neck", "Head", "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight", "HipLeft", "KneeLeft", "AnkleLeft",
    "FootLeft", "HipRight", "KneeRight", "AnkleRight", "FootRight", "SpineShoulder", "HandTipLeft",
    "ThumbLeft", "HandTipRight", "ThumbRight",
)
POSE_KINDS = ("yolo", "skeleton", "depth")
# The pose model every command and function defaults to: ultralytics downloads the named weights on
# first use; the YAML builds the same network untrained and offline (benchmarks: speed does not
# depend on the weights).
DEFAULT_POSE_MODEL = "yolo26n-pose.pt"
DEFAULT_POSE_YAML = "yolo26n-pose.yaml"


class PoseBackend:
    """Interface of the pose backends: ``backend(frame) -> list[Person]``,
    ``pose_batch(frames, keys)``, ``name``, ``joint_names`` (one per keypoint row), ``num_joints``
    and ``close()``; a context manager."""

    name: str = ""
    joint_names: tuple[str, ...] = ()

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def __call__(self, frame: Frame) -> list[Person]:
        raise NotImplementedError

    def pose_batch(self, frames: Sequence[Frame], keys: Sequence[Hashable]) -> list[list[Person]]:
        """The people of each of ``frames``, frame ``i`` belonging to stream ``keys[i]`` (each key
        at most once: one frame per stream). Here one call per frame; backends that batch or
        track override it."""
        return [self(f) for f in frames]

    def close(self) -> None:
        """Release what the backend holds; idempotent."""

    def __enter__(self) -> "PoseBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def pose_many(backend, frames: Sequence[Frame], keys: Sequence[Hashable]) -> list[list[Person]]:
    """``backend.pose_batch(frames, keys)``, or one call per frame for a plain callable."""
    batch = getattr(backend, "pose_batch", None)
    return [backend(f) for f in frames] if batch is None else batch(frames, keys)


# --------------------------------------------------------------------------- ultralytics


def _known_ultralytics_name(name: str) -> bool:
    try:
        from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES
    except ImportError:
        return False
    return name in GITHUB_ASSETS_NAMES


def _check_openvino_folder(path: Path) -> None:
    """ultralytics' OpenVINO export is a folder (``yolo11n-pose_openvino_model/``: ``.xml``, ``.bin``,
    ``metadata.yaml``). Checked here because ultralytics would otherwise try to pip-install
    openvino at run time."""
    if not any(path.glob("*.xml")):
        raise EdgeactError(f"{path}: a folder without an OpenVINO model (.xml); give a .pt/.onnx/.engine "
                           "file or the folder `yolo export format=openvino` wrote", param="model")
    try:
        import openvino  # noqa: F401
    except ImportError:
        raise EdgeactError(f"{path}: an OpenVINO pose model needs the openvino package "
                           "(pip install 'edgeact[openvino]')", param="model") from None


def _load_yolo(model: Union[str, Path]):
    """``YOLO(model)`` with one-line errors: a local file, an OpenVINO export folder, a ``.yaml``
    architecture (untrained) or a known ultralytics name (downloaded by ultralytics on a connected
    machine)."""
    from ultralytics import YOLO

    text = str(model)
    path = Path(text)
    if path.is_dir():
        _check_openvino_folder(path)
    if path.suffix.lower() in (".yaml", ".yml") and not path.exists():
        try:
            yolo = YOLO(text)   # an architecture from ultralytics' own cfg folder: builds offline
        except (FileNotFoundError, OSError, KeyError, ValueError) as exc:
            raise EdgeactError(f"{text}: not a model file nor an ultralytics architecture ({exc})",
                               param="model") from None
        _select_end2end(yolo)
        return yolo
    if not path.exists():
        if path.parent != Path(".") or not _known_ultralytics_name(path.name):
            raise EdgeactError(f"{text}: no such pose model file (give a .pt, .onnx or .engine path, "
                               "or an ultralytics name such as yolo11n-pose.pt)", param="model")
        try:
            return YOLO(text)
        except Exception as exc:   # ultralytics raises ConnectionError, AssertionError, ... offline
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EdgeactError(f"{text} is not on this machine and could not be downloaded ({first}); "
                               "pass a local file", param="model") from None
    try:
        return YOLO(text)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgeactError(f"{text}: cannot load this model ({first})", param="model") from None


def _half_args() -> dict:
    from ultralytics.cfg import DEFAULT_CFG_DICT

    # ultralytics 8.4 renamed `half` to `quantize` and warns on every call given `half`
    return {"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True}


def _select_end2end(yolo) -> None:
    """A network built from a YAML that asks for end-to-end (NMS-free) inference, YOLO26's, keeps
    ultralytics' training default of the one-to-many head with NMS; its trained weights infer with
    the one-to-one head. Select that head, so an untrained network (tests, benchmarks) runs the
    path the weights deploy."""
    net = getattr(yolo, "model", None)
    yaml = getattr(net, "yaml", None)
    if isinstance(yaml, dict) and yaml.get("end2end") and hasattr(net, "end2end") and not net.end2end:
        net.end2end = True


def _tracker_factory(tracker: str, device: str):
    """A function making one fresh ultralytics tracker of the config ``tracker`` per stream
    (``model.track`` keeps one per predictor, which would mix the streams of a batched call).
    Trackers that need ultralytics' predictor (ReID features, TrackTrack) are refused."""
    from ultralytics.trackers.track import TRACKER_MAP
    from ultralytics.utils import YAML, IterableSimpleNamespace
    from ultralytics.utils.checks import check_yaml

    try:
        cfg = IterableSimpleNamespace(**YAML.load(check_yaml(tracker)))
    except (FileNotFoundError, OSError, TypeError, ValueError) as exc:
        raise EdgeactError(f"{tracker}: not a tracker config ({exc})", param="tracker") from None
    cls = TRACKER_MAP.get(getattr(cfg, "tracker_type", None))
    if cls is None:
        raise EdgeactError(f"{tracker}: tracker_type {getattr(cfg, 'tracker_type', None)!r} is not one of "
                           f"{', '.join(sorted(TRACKER_MAP))}", param="tracker")
    if getattr(cfg, "with_reid", False) or hasattr(cls, "setup_predictor") or hasattr(cls, "compute_frame_extras"):
        raise EdgeactError(f"{tracker}: {cfg.tracker_type} with the predictor's features (ReID) is not "
                           "supported here; use bytetrack.yaml, botsort.yaml (with_reid: False) or iou", param="tracker")
    cfg.device = device

    def make():
        return cls(args=cfg)

    make()          # a config the tracker cannot take fails here, before the first frame
    return make


class _StreamTrack:
    """Tracker state of one stream: its tracker and its next transient id."""

    def __init__(self, tracker) -> None:
        self.tracker = tracker
        self.next_transient = -1


class UltralyticsPose(PoseBackend):
    """An ultralytics YOLO pose model (``.pt``, ``.onnx``, ``.engine``, or a ``.yaml`` architecture
    for an untrained model) with a tracker per stream.

    ``tracker``: an ultralytics tracker config (``"bytetrack.yaml"``, ``"botsort.yaml"`` or a path),
    which needs the ``lap`` package; or ``"iou"`` for :class:`IouTracker` (no extra package). Ids
    from the tracker are >= 1. When the ultralytics tracker holds no track yet (its first frames)
    the detections come back without ids: they get transient negative ids (-1, -2, ... never
    reused), so a consumer can show them but should not build a history on them.

    :meth:`pose_batch` runs the frames of several streams through the network in one call
    (``model.predict`` of the list of images) and tracks each stream's detections with that
    stream's own tracker, as ``model.track`` does for one stream; ``backend(frame)`` is a batch of
    one. End-to-end models (YOLO26) come out of ultralytics NMS-free; others after its NMS: the
    results read the same.

    Keypoints ``(17, 2)`` in source pixels; a keypoint whose confidence is below ``kpt_conf``
    (ultralytics' own drawing threshold, 0.5) is NaN, its score kept. ``conf`` is the box
    confidence threshold, ``imgsz`` the inference size, ``device`` ``"auto"`` (CUDA when
    available), ``"cpu"`` or ``"cuda:N"``; ``half`` applies on CUDA only. Trackers keep state
    between calls: call one instance from one thread, each stream's frames in order.
    """

    def __init__(self, model: Union[str, Path] = DEFAULT_POSE_MODEL, *, device: str = "auto", conf: float = 0.25,
                 imgsz: int = 640, tracker: str = "bytetrack.yaml", half: bool = False, kpt_conf: float = 0.5,
                 iou: float = 0.7, classes: Optional[Sequence[int]] = None):
        if not (0 < conf <= 1):
            raise EdgeactError(f"must be in (0, 1], got {conf!r}", param="conf")
        if not (0 <= kpt_conf <= 1):
            raise EdgeactError(f"kpt_conf: must be in [0, 1], got {kpt_conf!r}")
        if isinstance(imgsz, bool) or not isinstance(imgsz, int) or imgsz < 32:
            raise EdgeactError(f"must be an integer >= 32, got {imgsz!r}", param="imgsz")
        tracker = str(tracker)
        if tracker != "iou":
            if not (tracker.endswith((".yaml", ".yml"))):
                raise EdgeactError(f"{tracker!r} is neither 'iou' nor a tracker .yaml "
                                   "(bytetrack.yaml, botsort.yaml)", param="tracker")
            if importlib.util.find_spec("lap") is None:
                raise EdgeactError(f"{tracker} needs the Python package lap (pip install 'lap>=0.5.12'); "
                                   "or use the tracker iou", param="tracker")
        self.tracker = tracker
        from edgeact.device import resolve_device  # imports torch

        self.device = str(resolve_device(device))
        self.half = bool(half) and self.device.startswith("cuda")
        self._precision = _half_args() if self.half else {}
        self.conf, self.imgsz, self.kpt_conf, self.iou = float(conf), int(imgsz), float(kpt_conf), float(iou)
        self.classes = list(classes) if classes is not None else None
        self.model_path = str(model)
        self._new_tracker = IouTracker if tracker == "iou" else _tracker_factory(tracker, self.device)
        self._model = _load_yolo(model)
        task = getattr(self._model, "task", None)
        if task != "pose":
            raise EdgeactError(f"{model}: is a {task} model, not a pose model", param="model")
        self.name = f"yolo {Path(self.model_path).name}"
        self._streams: dict[Hashable, _StreamTrack] = {}
        kpt_shape = self._kpt_shape()
        self._joints = int(kpt_shape[0]) if kpt_shape else 17

    def _kpt_shape(self):
        inner = getattr(self._model, "model", None)
        shape = getattr(inner, "kpt_shape", None)
        if shape is None and isinstance(getattr(inner, "yaml", None), dict):
            shape = inner.yaml.get("kpt_shape")
        return shape

    @property
    def joint_names(self) -> tuple[str, ...]:  # type: ignore[override]
        if self._joints == len(COCO_KEYPOINTS):
            return COCO_KEYPOINTS
        return tuple(f"kp{i}" for i in range(self._joints))

    def __call__(self, frame: Frame) -> list[Person]:
        return self.pose_batch([frame], [None])[0]

    def pose_batch(self, frames: Sequence[Frame], keys: Sequence[Hashable]) -> list[list[Person]]:
        if self._model is None:
            raise EdgeactError(f"{self.name}: used after close()")
        for f in frames:
            img = f.image
            if not (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8):
                raise EdgeactError(f"pose input must be an (H, W, 3) uint8 BGR image, got "
                                   f"{getattr(img, 'dtype', type(img).__name__)} {getattr(img, 'shape', '')}")
        results = self._model.predict([f.image for f in frames], conf=self.conf, iou=self.iou, imgsz=self.imgsz,
                                      device=self.device, classes=self.classes, verbose=False, **self._precision)
        return [self._people(r, key) for r, key in zip(results, keys)]

    def _people(self, r, key: Hashable) -> list[Person]:
        """One stream's people in its result ``r``, tracked with that stream's tracker."""
        st = self._streams.get(key)
        if st is None:
            st = self._streams[key] = _StreamTrack(self._new_tracker())
        n = 0 if r.boxes is None or r.keypoints is None else len(r.boxes)
        if isinstance(st.tracker, IouTracker):
            ids = st.tracker.update(r.boxes.xyxy.cpu().numpy() if n else np.zeros((0, 4)))   # empty frames age tracks
        else:
            r, ids = self._track(st, r)
            n = 0 if r.boxes is None else len(r.boxes)
        if ids is None:
            ids = np.arange(st.next_transient, st.next_transient - n, -1, dtype=np.int64)
            st.next_transient -= n
        if n == 0:
            return []
        kp = r.keypoints
        xy = kp.xy.cpu().numpy().astype(np.float32)                            # (N, J, 2)
        self._joints = xy.shape[1]
        conf = (kp.conf.cpu().numpy().astype(np.float32) if kp.conf is not None
                else np.ones(xy.shape[:2], np.float32))                         # (N, J)
        conf = np.clip(np.nan_to_num(conf, nan=0.0), 0.0, 1.0)
        xy[conf < self.kpt_conf] = np.nan
        return [Person(track=int(ids[k]), keypoints=xy[k], scores=conf[k]) for k in range(n)]

    @staticmethod
    def _track(st: _StreamTrack, r):
        """``(result, ids)`` after the stream's ultralytics tracker, as ``model.track`` does it:
        the tracked detections with their ids; all of them without ids (None) while the tracker
        confirms nothing; none while it holds a track it has not confirmed yet."""
        det = r.boxes.cpu().numpy() if r.boxes is not None else None
        if det is None:
            return r, None
        tracks = st.tracker.update(det, r.orig_img, feats=None)
        if len(tracks) == 0:
            if any(not t.is_activated for t in st.tracker.tracked_stracks):
                return r[:0], None          # new tracks stay hidden until confirmed
            return r, None
        return r[tracks[:, -1].astype(int)], tracks[:, 4].astype(np.int64)

    def close(self) -> None:
        self._model = None
        self._streams.clear()


# --------------------------------------------------------------------------- depth


def lift_keypoints(keypoints: np.ndarray, depth: np.ndarray, depth_scale: float, intrinsics: Intrinsics,
                   patch: int = 5) -> np.ndarray:
    """Camera-space joints ``(J, 3)`` float32 (metres; X right, Y up, Z forward) of 2D keypoints
    ``(J, 2)`` (pixels ``x, y``) using ``depth`` ``(H, W)`` uint16 aligned to the colour image.

    Depth of a keypoint: the median of the non-zero values in the ``patch x patch`` window centred
    on the pixel it falls in (``floor(x), floor(y)``; the window is cut at the image border), times
    ``depth_scale``. Deprojection with the colour pinhole: ``X = (x - ppx) Z / fx``,
    ``Y = -(y - ppy) Z / fy`` (image y points down, camera Y up). NaN rows for keypoints that are
    NaN, outside the image, or without any non-zero depth in their window.
    """
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 2 or kp.shape[1] != 2:
        raise EdgeactError(f"keypoints must have shape (J, 2), got {kp.shape}")
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise EdgeactError(f"depth must be an (H, W) image, got shape {depth.shape}")
    if isinstance(patch, bool) or int(patch) != patch or patch < 1 or patch % 2 == 0:
        raise EdgeactError(f"must be an odd integer >= 1, got {patch!r}", param="patch")
    if not (math.isfinite(depth_scale) and depth_scale > 0):
        raise EdgeactError(f"depth_scale must be > 0 metres per unit, got {depth_scale!r}")
    if not (intrinsics.fx > 0 and intrinsics.fy > 0):
        raise EdgeactError(f"intrinsics need fx, fy > 0, got fx={intrinsics.fx}, fy={intrinsics.fy}")
    h, w = depth.shape
    half = int(patch) // 2
    out = np.full((len(kp), 3), np.nan, np.float64)
    for j, (x, y) in enumerate(kp):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        col, row = math.floor(x), math.floor(y)
        if not (0 <= col < w and 0 <= row < h):
            continue
        window = depth[max(row - half, 0):row + half + 1, max(col - half, 0):col + half + 1]
        values = window[window > 0]
        if values.size == 0:
            continue
        z = float(np.median(values)) * depth_scale
        out[j] = ((x - intrinsics.ppx) * z / intrinsics.fx, -(y - intrinsics.ppy) * z / intrinsics.fy, z)
    return out.astype(np.float32)


def _calibration(calibration: Union[Calibration, str, Path, None]) -> Optional[Calibration]:
    if calibration is None or isinstance(calibration, Calibration):
        return calibration
    return load_calibration(calibration)


class DepthLiftPose(PoseBackend):
    """Lift the keypoints of ``inner`` to 3D with the frame's aligned depth (see
    :func:`lift_keypoints`; ``patch`` is the window size). ``Person.joints3d`` = the lifted points.

    With ``calibration`` (a :class:`Calibration` or the path of one from ``edgeact calibrate``) the
    keypoints become ``project(joints3d, calibration)`` (paper Eq. 1), so the live depth path crops
    like the dataset path does; a keypoint that could not be lifted keeps its 2D position. A
    calibration with ``cy < 0`` is for Y-up camera space (NTU/Kinect fits) and gets the joints as
    they are; one with ``cy > 0`` is for Y-down space (RealSense intrinsics from
    :func:`edgeact.calibration.intrinsics_from_realsense`) and gets them with Y negated. Without
    one, keypoints are ``inner``'s.
    Frames need ``depth``, ``depth_scale`` and ``intrinsics`` (a RealSense source).
    """

    def __init__(self, inner: PoseBackend, calibration: Union[Calibration, str, Path, None] = None, *,
                 patch: int = 5):
        if isinstance(patch, bool) or int(patch) != patch or patch < 1 or patch % 2 == 0:
            raise EdgeactError(f"must be an odd integer >= 1, got {patch!r}", param="patch")
        self.inner = inner
        self.calibration = _calibration(calibration)
        # image y points down, so a calibration fitted on Y-up points has cy < 0 (NTU, Kinect) and
        # one for Y-down points cy > 0 (RealSense intrinsics from `edgeact calibrate --bag`): the
        # sign says which way to hand it the Y-up joints
        flip = self.calibration is not None and self.calibration.cy > 0
        self._axes = np.array([1.0, -1.0 if flip else 1.0, 1.0], np.float32)
        self.patch = int(patch)
        self.name = f"{inner.name}+depth"

    @property
    def joint_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.inner.joint_names

    def __call__(self, frame: Frame) -> list[Person]:
        return self.pose_batch([frame], [None])[0]

    def pose_batch(self, frames: Sequence[Frame], keys: Sequence[Hashable]) -> list[list[Person]]:
        for f in frames:
            self._check(f)
        return [self._lift(f, people) for f, people in zip(frames, pose_many(self.inner, frames, keys))]

    @staticmethod
    def _check(frame: Frame) -> None:
        if frame.depth is None or not frame.depth_scale > 0 or frame.intrinsics is None:
            raise EdgeactError("the depth pose backend needs frames with aligned depth and colour intrinsics: "
                               "use a RealSense camera or recording as the source")
        if frame.depth.shape != frame.image.shape[:2]:
            raise EdgeactError(f"depth image {frame.depth.shape[1]}x{frame.depth.shape[0]} is not aligned to the "
                               f"{frame.image.shape[1]}x{frame.image.shape[0]} colour image")

    def _lift(self, frame: Frame, people: list[Person]) -> list[Person]:
        out = []
        for p in people:
            joints = lift_keypoints(p.keypoints, frame.depth, frame.depth_scale, frame.intrinsics, self.patch)
            keypoints = p.keypoints
            if self.calibration is not None:
                proj = project(joints * self._axes, self.calibration).astype(np.float32)
                ok = np.isfinite(proj).all(axis=1)
                keypoints = np.where(ok[:, None], proj, np.asarray(p.keypoints, np.float32))
            out.append(Person(track=p.track, keypoints=keypoints, scores=p.scores, joints3d=joints))
        return out

    def close(self) -> None:
        self.inner.close()


# --------------------------------------------------------------------------- replay


class SkeletonReplay(PoseBackend):
    """The bodies of an NTU ``.skeleton`` file, for replaying a dataset recording: row ``t`` of the
    file belongs to video frame ``t`` (``frame.file_index``, which restarts when a video loops).

    Each present body becomes a Person: ``track`` = its body slot (0, 1, ... in order of first
    appearance, see :func:`edgeact.data.ntu.read_skeleton`), ``keypoints`` = ``colorX colorY``
    (25 Kinect joints, in the pixels of the recorded colour video; Kinect's all-zero "no data"
    pixels are NaN), ``scores`` from the tracking state (2 -> 1.0, 1 -> 0.5, 0 -> 0.0),
    ``joints3d`` = ``x y z``. Frames past the end of the file, or before it, have nobody.

    Only a regular file is read: a FIFO or device would block the reader forever.
    """

    joint_names = KINECT_JOINTS

    def __init__(self, path: Union[str, Path], *, max_bodies: int = 4):
        from edgeact.data.ntu import read_skeleton

        self.path = Path(path)
        self.name = f"skeleton {self.path.name}"
        self.skeleton = read_skeleton(self.path, max_bodies=max_bodies)   # refuses a FIFO or device
        sk = self.skeleton
        color = sk.color_xy.astype(np.float32).copy()
        color[(color == 0).all(axis=-1)] = np.nan
        self._color = color                                                    # (T, B, 25, 2)
        self._scores = np.select([sk.tracking == 2, sk.tracking == 1], [1.0, 0.5], 0.0).astype(np.float32)
        self._joints = sk.joints.astype(np.float32)                            # (T, B, 25, 3)
        self._present = sk.present & np.isfinite(sk.joints).any(axis=(2, 3))  # (T, B)

    @property
    def num_frames(self) -> int:
        return self.skeleton.num_frames

    def pixel_extent(self, q: float = 99.0) -> Optional[tuple[float, float]]:
        """How far right and down the colour pixels of the bodies reach, ``(x, y)``: the ``q``-th
        percentile of each coordinate over every present joint (a stray joint Kinect misplaced
        does not count); None when no joint has a pixel."""
        xy = self._color[self._present]                                        # (N, 25, 2)
        xy = xy[np.isfinite(xy).all(axis=-1)]
        if not len(xy):
            return None
        return float(np.percentile(xy[:, 0], q)), float(np.percentile(xy[:, 1], q))

    def __call__(self, frame: Frame) -> list[Person]:
        t = int(frame.file_index)
        if not 0 <= t < self.num_frames:
            return []
        return [Person(track=int(b), keypoints=self._color[t, b].copy(), scores=self._scores[t, b].copy(),
                       joints3d=self._joints[t, b].copy())
                for b in np.flatnonzero(self._present[t])]


# --------------------------------------------------------------------------- choice


def check_pose_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`POSE_KINDS`, else a one-line error."""
    if kind not in POSE_KINDS:
        raise EdgeactError(f"{kind!r} is not one of {', '.join(POSE_KINDS)}", param="kind")
    return kind


def open_pose(kind: str = "yolo", *, model: Union[str, Path] = DEFAULT_POSE_MODEL, device: str = "auto",
              conf: float = 0.25, imgsz: int = 640, tracker: str = "bytetrack.yaml", half: bool = False,
              skeleton: Union[str, Path, None] = None, calibration: Union[Calibration, str, Path, None] = None,
              patch: int = 5, max_bodies: int = 4) -> PoseBackend:
    """The pose backend of ``kind``: ``"yolo"`` (:class:`UltralyticsPose` of ``model``),
    ``"skeleton"`` (:class:`SkeletonReplay` of the ``skeleton`` file) or ``"depth"``
    (:class:`DepthLiftPose` around the YOLO backend, with the optional ``calibration``)."""
    check_pose_kind(kind)
    if kind == "skeleton":
        if skeleton is None:
            raise EdgeactError("the skeleton pose replays the recording's .skeleton file: give it", param="skeleton")
        return SkeletonReplay(skeleton, max_bodies=max_bodies)
    calib = _calibration(calibration) if kind == "depth" else None
    yolo = UltralyticsPose(model, device=device, conf=conf, imgsz=imgsz, tracker=tracker, half=half)
    return DepthLiftPose(yolo, calib, patch=patch) if kind == "depth" else yolo


__all__ = ["PoseBackend", "pose_many", "DEFAULT_POSE_MODEL", "DEFAULT_POSE_YAML", "UltralyticsPose", "DepthLiftPose",
           "SkeletonReplay", "IouTracker", "box_iou", "lift_keypoints",
           "open_pose", "check_pose_kind", "COCO_KEYPOINTS", "KINECT_JOINTS", "POSE_KINDS"]
