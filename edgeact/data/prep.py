"""Offline preprocessing: decode each video once, crop it around its skeleton, cache it.

For every sample: read its 2D skeleton (NTU: the colour-image joint positions of the
``.skeleton`` file; N-UCLA: its 3D joints projected with Eq. 1 and a calibration file), take the
union box of all joints of all bodies over the whole clip, enlarge it by 10 % on each side, clamp
it to the frame (paper §3.1), crop every frame to it and resize to 256x256, and store the frames
as a frame pack (:mod:`edgeact.data.cache`). The index lists every sample with its label, frame
count, crop box and its split under each benchmark.

Resumable: each finished sample is appended to ``prep.partial.jsonl`` as it completes, keyed on
its input files (name, size and modification time of each). A rerun reuses a record only while
that key still holds (and, for a kept sample, its pack exists): a sample whose input changed is
redone, whether it succeeded or failed before. The settings that shape every sample, the dataset
root among them, are recorded before the first sample and a rerun with others is refused.
``index.json`` is written (atomically) at the end.

Samples without a usable skeleton, or whose video cannot be read, are listed in the report and
left out, unless ``fallback_uncropped`` keeps them with the whole frame as the box. Damaged
samples are listed as ``damaged`` with the counts and left out unless ``keep_damaged``: a video
that decodes fewer frames than its container declares, one with all-black frames, one whose frame
count differs from its skeleton's rows, a skeleton file holding data after the frames its header
counts (see :func:`damage_findings`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import cv2
import numpy as np

from edgeact.data.cache import encode_pack, pack_path
from edgeact.data.classes import ClassList
from edgeact.errors import EdgeactError
from edgeact.fileio import atomic_write_bytes, atomic_write_json, refuse_output_over_input, same_file

CACHE_VERSION = 1
SETTINGS_VERSION = 2               # 2: records keyed on their inputs, root (and calibration) checked
PARTIAL = "prep.partial.jsonl"
SETTINGS = "prep.settings.json"
KEPT = ("ok", "uncropped")        # record statuses whose frame pack is in the cache
DAMAGED = "damaged"                # a sample whose input is damaged or inconsistent (left out by default)
NOTE = "note"                      # a scan finding about a sample that is still prepared
MAX_SIZE = 4096                    # a frame side above this is a typo, not a crop size (64 MB per RGB frame)
MAX_BAD_READS = 8                  # failed reads in a row that end a video (as live's VideoSource)
BLACK_MAX = 8                      # a decoded frame whose every value is <= this is all black:
#                                    codecs decode a zeroed frame to exact 0, a lit scene never gets this low
FRAME_TOLERANCE = 0                # video frames vs skeleton rows: NTU records one skeleton row per
#                                    colour frame, so they agree exactly; a difference misaligns them


@dataclass(frozen=True)
class PrepConfig:
    dataset: str                      # "ntu" (also synthetic data in NTU layout) or "nucla"
    root: Path
    out: Path
    size: int = 256
    margin: float = 0.10
    workers: int = 0                  # 0 = all cores
    calib: Optional[Path] = None      # N-UCLA projection coefficients (default calibration/nucla.json)
    fallback_uncropped: bool = False
    limit: Optional[int] = None       # first N samples only (smoke tests)
    crop: bool = True                 # False: whole frames (the ablation's uncropped baseline)
    keep_damaged: bool = False        # cache damaged samples too (listed, with their findings)

    def __post_init__(self) -> None:
        def need(ok: bool, field: str, value, why: str) -> None:
            if not ok:
                raise EdgeactError(f"{value!r} {why}", param=field)

        need(self.dataset in ("ntu", "nucla"), "dataset", self.dataset, "must be 'ntu' or 'nucla'")
        need(isinstance(self.size, int) and 1 <= self.size <= MAX_SIZE, "size", self.size,
             f"is outside 1..{MAX_SIZE} (the side of the cached frames in pixels; the paper: 256)")
        need(math.isfinite(self.margin) and 0 <= self.margin < 1, "margin", self.margin,
             "must be in [0, 1) (a fraction of the box added on each side; the paper: 0.10)")
        need(isinstance(self.workers, int) and self.workers >= 0, "workers", self.workers,
             "must be >= 0 (0 = all cores)")
        need(self.limit is None or self.limit >= 1, "limit", self.limit, "must be >= 1 (samples to prepare)")


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
class PrepReport:
    workers: int = 1
    done: int = 0
    resumed: int = 0
    frames: int = 0
    seconds: float = 0.0
    problems: list[dict] = field(default_factory=list)   # {"name", "status", "reason"}
    excluded_before: list[dict] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)      # kept samples the scan flagged: {"name", "reason"}
    damaged_kept: list[dict] = field(default_factory=list)  # damaged samples cached (keep_damaged): {"name", "reason"}

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


# --------------------------------------------------------------------------- sample sources


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


def _decode_video(path: str, stats: Optional[DecodeStats] = None) -> Iterator[np.ndarray]:
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
        frames_iter = _decode_video(job.video, stats) if job.video else _read_images(job.frames, stats)
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


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one sample per process; OpenCV's own threads would oversubscribe


def _process_star(args) -> dict:
    return process(*args)


# --------------------------------------------------------------------------- datasets


def input_key(files: Sequence[tuple[str, Optional[Path]]]) -> str:
    """A short digest of ``files`` (``(role, path or None)``): each one's name, size and
    modification time, or that it is missing. A record keyed on it is trusted while it holds."""
    h = hashlib.sha1()
    for role, path in files:
        try:
            st = os.stat(path) if path is not None else None
        except OSError:
            st = None
        name = Path(path).name if path is not None else ""
        h.update((f"{role}\t{name}\t{st.st_size}\t{st.st_mtime_ns}" if st else f"{role}\t{name}\tmissing").encode())
        h.update(b"\n")
    return h.hexdigest()[:20]


def _folder_key(folder: Path) -> str:
    """input_key() of every file of an N-UCLA sample folder (frames, skeletons, anything else)."""
    return input_key([("file", p) for p in sorted(folder.iterdir()) if p.is_file()])


def _ntu_jobs(cfg: PrepConfig) -> tuple[list[Job], ClassList, list[str], list[dict]]:
    from edgeact.data.ntu import BENCHMARKS, NTU120_CLASSES, find_ntu_samples, split_of

    classes = NTU120_CLASSES
    meta_path = cfg.root / "synth_meta.json"
    if meta_path.is_file():  # synthetic data in NTU layout carries its own class list
        try:
            meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EdgeactError(f"{meta_path}: not valid JSON ({exc})") from None
        if isinstance(meta, dict) and "classes" in meta:
            classes = ClassList.from_dict(meta["classes"])
    # skeletons are read once, by the workers; the scan only pairs files by name
    samples, _ = find_ntu_samples(cfg.root, check_skeletons=False)
    jobs, excluded = [], []
    for s in samples:
        if s.video is None:
            excluded.append({"name": s.name, "status": "unreadable", "reason": "video missing"})
            continue
        if s.action > len(classes):
            excluded.append({"name": s.name, "status": "excluded",
                             "reason": f"action {s.action} is outside the {len(classes)}-class list"})
            continue
        jobs.append(Job("ntu", s.name, s.label, {b: split_of(s.name, b) for b in BENCHMARKS}, str(s.video),
                        skeleton=str(s.skeleton) if s.skeleton is not None else None,
                        size=cfg.size, margin=cfg.margin, fallback_uncropped=cfg.fallback_uncropped,
                        crop=cfg.crop, keep_damaged=cfg.keep_damaged,
                        inputs=input_key([("video", s.video), ("skeleton", s.skeleton)])))
    return jobs, classes, list(BENCHMARKS), excluded


def _nucla_calibration(cfg: PrepConfig) -> dict:
    """The projection coefficients, through the one loader that validates them."""
    from edgeact.calibration import load_calibration
    from edgeact.data.nucla import DEFAULT_CALIBRATION

    return load_calibration(cfg.calib or DEFAULT_CALIBRATION).to_dict()


def _nucla_jobs(cfg: PrepConfig) -> tuple[list[Job], ClassList, list[str], list[dict]]:
    from edgeact.data.nucla import BENCHMARKS as NUCLA_BENCHMARKS
    from edgeact.data.nucla import NUCLA_CLASSES, find_nucla_samples, split_of_nucla

    calib = _nucla_calibration(cfg)
    samples, report = find_nucla_samples(cfg.root, check_skeletons=False)
    listed = {s.name for s in samples}
    # problems of listed samples are notes (e.g. repeated frame numbers): the sample is still prepared
    excluded = [{"name": p.name, "status": "excluded" if p.name not in listed else NOTE, "reason": p.reason}
                for p in report.problems]
    jobs = [Job("nucla", s.name, s.label, {b: split_of_nucla(s.view, b) for b in NUCLA_BENCHMARKS}, None,
                frames=tuple(str(p) for p in s.frames),
                skeleton=str(s.folder) if s.skeleton_files else None, calib=calib,
                size=cfg.size, margin=cfg.margin, fallback_uncropped=cfg.fallback_uncropped,
                crop=cfg.crop, keep_damaged=cfg.keep_damaged, inputs=_folder_key(s.folder))
            for s in samples]
    return jobs, NUCLA_CLASSES, list(NUCLA_BENCHMARKS), excluded


# --------------------------------------------------------------------------- driver


def _check_paths(cfg: PrepConfig) -> None:
    if not cfg.root.is_dir():
        raise EdgeactError(f"--root {cfg.root}: no such dataset folder")
    if cfg.out.exists() and not cfg.out.is_dir():
        raise EdgeactError(f"--out {cfg.out}: is a file; prep writes a cache folder (name a new or existing folder)")
    refuse_output_over_input(cfg.out, [cfg.root, cfg.calib], option="--out")


def _settings(cfg: PrepConfig) -> dict:
    """What shapes every record of the cache; a rerun must repeat it to reuse them."""
    settings = {"version": SETTINGS_VERSION, "dataset": cfg.dataset, "root": str(cfg.root.resolve()),
                "size": cfg.size, "margin": cfg.margin, "cropped": cfg.crop,
                "fallback_uncropped": cfg.fallback_uncropped}
    if cfg.dataset == "nucla" and cfg.crop:
        c = _nucla_calibration(cfg)
        settings["calibration"] = {k: c[k] for k in ("model", "cx", "cy", "bx", "by", "tx", "ty")}
    return settings


def _check_settings(out: Path, settings: dict) -> None:
    """Record ``settings`` in a new cache, or refuse a cache prepared with others.

    A settings file from before ``SETTINGS_VERSION`` 2 lacks the newer keys; its records carry no
    input key either, so every sample is redone and only the keys it has are compared.
    """
    path = out / SETTINGS
    if not path.is_file():
        atomic_write_json(path, settings)
        return
    try:
        before = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EdgeactError(f"{path}: not valid JSON ({exc}); delete it to prepare this cache afresh") from None
    if not isinstance(before, dict):
        raise EdgeactError(f"{path}: expected a JSON object; delete it to prepare this cache afresh")
    old = before.get("version") is None

    def differs(k: str) -> bool:
        if k not in before:
            return not old
        if k == "root":   # another spelling of the same folder (a link, a relative path) is the same root
            return not same_file(before[k], settings[k])
        return before[k] != settings[k]

    changed = sorted(k for k in settings if k != "version" and differs(k))
    if changed:
        was = ", ".join(f"{k}={before.get(k)}" for k in changed)
        raise EdgeactError(f"{out}: was prepared with other settings ({was}); "
                           "choose a new --out or repeat those options")
    if old:
        atomic_write_json(path, settings)


def _read_partial(out: Path, jobs: Sequence[Job]) -> dict[str, dict]:
    """The records of ``prep.partial.jsonl`` still true for ``jobs``: same input key, the same
    answer to keep_damaged, and (for a kept sample) its pack on disk. The last record of a name wins."""
    path = out / PARTIAL
    if not path.is_file():
        return {}
    latest: dict[str, dict] = {}
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash: that sample is simply redone
        if isinstance(rec, dict) and "name" in rec:
            latest[rec["name"]] = rec
    done: dict[str, dict] = {}
    for job in jobs:
        rec = latest.get(job.name)
        if rec is None or not job.inputs or rec.get("inputs") != job.inputs:
            continue
        status = rec.get("status")
        if status in KEPT and not pack_path(out, job.name).is_file():
            continue
        if rec.get("damage") and (status == DAMAGED) == job.keep_damaged:
            continue  # left out, now to be kept (or kept, now to be left out): redo it
        done[job.name] = rec
    return done


def prepare(cfg: PrepConfig, progress: Optional[Callable[[int, int, dict], None]] = None) -> PrepReport:
    """Run preprocessing for ``cfg``; ``progress(done, total, record)`` is called per sample."""
    import multiprocessing as mp

    _check_paths(cfg)
    settings = _settings(cfg)   # loads (and so validates) the calibration before any scan
    jobs, classes, benchmarks, scanned = (_ntu_jobs if cfg.dataset == "ntu" else _nucla_jobs)(cfg)
    excluded = [e for e in scanned if e["status"] != NOTE]
    notes = [{"name": e["name"], "reason": e["reason"]} for e in scanned if e["status"] == NOTE]
    if cfg.limit is not None:
        jobs = jobs[: cfg.limit]
    if not jobs:
        raise EdgeactError(f"{cfg.root}: found no {cfg.dataset} samples to prepare")
    cfg.out.mkdir(parents=True, exist_ok=True)
    # recorded before the first sample, so an interrupted run is resumed only with the same settings
    _check_settings(cfg.out, settings)
    done = _read_partial(cfg.out, jobs)
    todo = [j for j in jobs if j.name not in done]
    workers = max(1, min(cfg.workers or os.cpu_count() or 1, len(todo)))
    report = PrepReport(workers=workers, resumed=len(jobs) - len(todo), excluded_before=excluded, notes=notes)
    start = time.perf_counter()
    with open(cfg.out / PARTIAL, "a") as log:
        def finish(rec: dict) -> None:
            log.write(json.dumps(rec) + "\n")
            log.flush()
            if rec["status"] not in KEPT:   # a pack from before its input changed is no longer this sample
                pack_path(cfg.out, rec["name"]).unlink(missing_ok=True)
            done[rec["name"]] = rec
            report.done += 1
            report.frames += rec.get("num_frames", 0)
            if progress:
                progress(report.resumed + report.done, len(jobs), rec)

        args = [(j, str(cfg.out)) for j in todo]
        if workers == 1:
            _worker_init()
            for a in args:
                finish(_process_star(a))
        else:
            # never fork: a parent that already ran OpenCV's or OpenMP's thread pools (the CLI in a
            # long-lived process, a test session) hands children a pool that deadlocks
            ctx = mp.get_context("spawn")
            with ctx.Pool(workers, initializer=_worker_init) as pool:
                for rec in pool.imap_unordered(_process_star, args, chunksize=1):
                    finish(rec)
    report.seconds = time.perf_counter() - start
    records = [done[j.name] for j in jobs if j.name in done]
    kept = [r for r in records if r["status"] in KEPT]
    report.problems = [{"name": r["name"], "status": r["status"], "reason": r.get("reason", "")}
                       for r in records if r["status"] not in KEPT]
    report.damaged_kept = [{"name": r["name"], "reason": "; ".join(r["damage"])} for r in kept if r.get("damage")]
    meta = {"version": CACHE_VERSION, "dataset": cfg.dataset, "root": str(cfg.root), "size": cfg.size,
            "margin": cfg.margin, "cropped": cfg.crop, "classes": classes.to_dict(), "benchmarks": benchmarks,
            "fallback_uncropped": cfg.fallback_uncropped, "keep_damaged": cfg.keep_damaged,
            "excluded": excluded + report.problems, "damaged_kept": report.damaged_kept, "notes": notes}
    atomic_write_json(cfg.out / "index.json", {"meta": meta, "samples": kept})
    return report


def decode_only(paths: Sequence[str]) -> tuple[int, float]:
    """Decode videos without cropping: ``(frames, seconds)``, the baseline prep is compared to."""
    start = time.perf_counter()
    frames = sum(1 for p in paths for _ in _decode_video(p))
    return frames, time.perf_counter() - start
