"""prep's work on one sample (:func:`process`, run in the worker processes): decode its video or
images, find its 2D skeleton, crop every frame around it and resize, check what the decoding
found (:func:`damage_findings`), and write its frame pack. :class:`Job` is everything a worker
needs for one sample. See :mod:`edgeact.data.prep`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

import cv2
import numpy as np

from edgeact.data.cache import encode_pack, pack_path
from edgeact.errors import EdgeactError
from edgeact.fileio import atomic_write_bytes

DAMAGED = "damaged"                # a sample whose input is damaged or inconsistent (left out by default)
MAX_BAD_READS = 8                  # failed reads in a row that end a video (as live's VideoSource)
BLACK_MAX = 8                      # a decoded frame whose every value is <= this is all black:
#                                    codecs decode a zeroed frame to exact 0, a lit scene never gets this low
FRAME_TOLERANCE = 0                # video frames vs skeleton rows: NTU records one skeleton row per
#                                    colour frame, so they agree exactly; a difference misaligns them


@dataclass(frozen=True)
class Job:
    """Everything one worker needs for one sample (picklable)."""

    dataset: str
    name: str
    label: int
    splits: dict
    video: Optional[str]              # NTU: the .avi
    frames: tuple[str, ...] = ()      # N-UCLA: image files in order
    skeleton: Optional[str] = None    # NTU .skeleton or N-UCLA sample folder
    calib: Optional[dict] = None
    size: int = 256
    margin: float = 0.10
    fallback_uncropped: bool = False
    crop: bool = True
    keep_damaged: bool = False
    inputs: str = ""                  # input_key() of the sample's files when the job was made


@dataclass
class DecodeStats:
    """What decoding one sample's frames found; filled in while its frames are read.

    ``declared``: frames the container (or the image list) announces, None when unknown;
    ``decoded``: frames that decoded; ``failed_mid``: failed reads followed by a good frame;
    ``black``: 0-based indices (among decoded frames) of all-black frames.
    """

    declared: Optional[int] = None
    decoded: int = 0
    failed_mid: int = 0
    black: list[int] = field(default_factory=list)

    def add(self, frame: np.ndarray) -> np.ndarray:
        # a strided look first: nearly every frame is lit and exits here without a full pass
        if frame[::16, ::16].max() <= BLACK_MAX and frame.max() <= BLACK_MAX:
            self.black.append(self.decoded)
        self.decoded += 1
        return frame


def decode_video(path: str, stats: Optional[DecodeStats] = None) -> Iterator[np.ndarray]:
    """Frames of a video file as ``(H, W, 3)`` uint8 RGB. A frame that fails to decode is skipped
    (counted in ``stats``); ``MAX_BAD_READS`` failures in a row end the file."""
    stats = stats if stats is not None else DecodeStats()
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise EdgeactError(f"{path}: cannot open video")
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        stats.declared = count if count > 0 else None
        bad = 0
        while bad < MAX_BAD_READS:
            ok, frame = cap.read()
            if not ok or frame is None or frame.ndim != 3:
                bad += 1
                continue
            stats.failed_mid += bad
            bad = 0
            yield stats.add(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()


def _read_images(paths: Sequence[str], stats: Optional[DecodeStats] = None) -> Iterator[np.ndarray]:
    """The images of an image-sequence sample as ``(H, W, 3)`` uint8 RGB; unreadable ones are
    skipped and counted in ``stats``."""
    stats = stats if stats is not None else DecodeStats()
    stats.declared = len(paths)
    for p in paths:
        img = cv2.imread(p, cv2.IMREAD_COLOR)
        if img is not None:
            yield stats.add(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


@dataclass(frozen=True)
class Skeleton2D:
    """A sample's joints for the crop box: ``points`` ``(..., 2)`` source pixels (None without a
    usable skeleton), ``rows`` its frame count when it is tied to the video's (NTU), and what
    makes the skeleton file itself untrustworthy (``damage``)."""

    points: Optional[np.ndarray]
    rows: Optional[int] = None
    damage: tuple[str, ...] = ()


def _points_2d(job: Job) -> Skeleton2D:
    """The sample's skeleton in 2D (:class:`Skeleton2D`); raises EdgeactError for an unreadable file."""
    if job.skeleton is None:
        return Skeleton2D(None)
    if job.dataset == "ntu":
        from edgeact.data.ntu import read_skeleton

        skel = read_skeleton(job.skeleton)
        damage = (skel.report.damaged,) if skel.report.damaged else ()
        if not skel.usable:
            return Skeleton2D(None, skel.num_frames, damage)
        # an all-zero joint row is Kinect's "no data", not a joint at the image corner
        zero = np.all(skel.joints == 0, axis=-1)
        return Skeleton2D(np.where(zero[..., None], np.nan, skel.color_xy), skel.num_frames, damage)
    from edgeact.calibration import Calibration, project
    from edgeact.data.nucla import read_nucla_sample

    sample = read_nucla_sample(job.skeleton)
    if not np.isfinite(sample.joints).any():
        return Skeleton2D(None)
    # N-UCLA rows are the RGB frames by construction (nucla.read_nucla_sample): no count to compare
    return Skeleton2D(project(sample.joints, Calibration.from_dict(job.calib)))


def _runs(indices: Sequence[int], most: int = 3) -> str:
    """``[5, 6, 7, 9]`` -> ``"5-7, 9"`` (the first ``most`` runs, then ``...``)."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    text = ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs[:most])
    return text + (", ..." if len(runs) > most else "")


def damage_findings(stats: DecodeStats, rows: Optional[int]) -> list[str]:
    """Why a decoded sample is not trustworthy, one phrase with counts per finding (empty: fine).

    ``rows``: the skeleton's frame count when its rows must match the video's frames (NTU).
    """
    found = []
    if stats.declared is not None and stats.decoded < stats.declared:
        found.append(f"{stats.decoded} of {stats.declared} frames decode")
    elif stats.failed_mid:
        found.append(f"{stats.failed_mid} of {stats.decoded + stats.failed_mid} frames fail to decode")
    if stats.black:
        found.append(f"{len(stats.black)} of {stats.decoded} frames all black (frames {_runs(stats.black)})")
    video = max(stats.declared or 0, stats.decoded)
    if rows is not None and abs(video - rows) > FRAME_TOLERANCE:
        found.append(f"video has {video} frames, skeleton {rows} rows")
    return found


def process(job: Job, out_dir: str) -> dict:
    """Crop and cache one sample; returns its index record: ``status`` ``ok``, ``uncropped``,
    ``no-skeleton``, ``unreadable`` or ``damaged`` (with ``damage``, the findings, and no pack
    unless ``job.keep_damaged``, which keeps the sample's status and its ``damage`` list)."""
    from edgeact.geometry import crop_box, crop_resize

    record = {"name": job.name, "label": job.label, "splits": job.splits, "inputs": job.inputs}
    try:
        skel = _points_2d(job) if job.crop else Skeleton2D(None)
    except EdgeactError as exc:
        if not job.fallback_uncropped:
            return {**record, "status": "no-skeleton", "reason": str(exc)}
        skel = Skeleton2D(None)
    stats = DecodeStats()
    try:
        frames_iter = decode_video(job.video, stats) if job.video else _read_images(job.frames, stats)
        first = next(frames_iter, None)
        if first is None:
            return {**record, "status": "unreadable", "reason": f"{job.video or job.skeleton}: no frames"}
        h, w = first.shape[:2]
        box = crop_box(skel.points, (w, h), job.margin) if skel.points is not None else None
        status = "ok"
        if not job.crop:
            box = (0.0, 0.0, float(w), float(h))
        elif box is None:
            if not job.fallback_uncropped:
                why = "no skeleton file" if job.skeleton is None else "no usable skeleton joint"
                return {**record, "status": "no-skeleton", "reason": why}
            box, status = (0.0, 0.0, float(w), float(h)), "uncropped"
        data = encode_pack(crop_resize(frame, box, job.size) for frame in itertools.chain([first], frames_iter))
    except EdgeactError as exc:
        return {**record, "status": "unreadable", "reason": str(exc)}
    record.update(num_frames=stats.decoded, frame_size=[w, h], box=[round(float(v), 2) for v in box])
    damage = [*skel.damage, *damage_findings(stats, skel.rows)]
    if damage:
        record["damage"] = damage
        if not job.keep_damaged:
            return {**record, "status": DAMAGED, "reason": "; ".join(damage)}
    atomic_write_bytes(pack_path(out_dir, job.name), data)
    return {**record, "status": status}


def worker_init() -> None:
    cv2.setNumThreads(1)  # one sample per process; OpenCV's own threads would oversubscribe


def process_star(args) -> dict:
    return process(*args)
