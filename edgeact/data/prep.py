"""Offline preprocessing: decode each video once, crop it around its skeleton, cache it.

For every sample: read its 2D skeleton (NTU: the colour-image joint positions of the
``.skeleton`` file; N-UCLA: its 3D joints projected with Eq. 1 and a calibration file), take the
union box of all joints of all bodies over the whole clip, enlarge it by 10 % on each side, clamp
it to the frame (paper §3.1), crop every frame to it and resize to 256x256, and store the frames
as a frame pack (:mod:`edgeact.data.cache`). The index lists every sample with its label, frame
count, crop box and its split under each benchmark.

Resumable: each finished sample is appended to ``prep.partial.jsonl`` as it completes; a rerun
skips samples recorded there whose pack exists. ``index.json`` is written (atomically) at the end.
Samples without a usable skeleton, or whose video cannot be read, are listed in the report and
left out, unless ``fallback_uncropped`` keeps them with the whole frame as the box.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import cv2
import numpy as np

from edgeact.data.cache import encode_pack, pack_path
from edgeact.fileio import atomic_write_bytes, atomic_write_json
from edgeact.data.classes import ClassList
from edgeact.errors import EdgeactError

CACHE_VERSION = 1
PARTIAL = "prep.partial.jsonl"
SETTINGS = "prep.settings.json"
KEPT = ("ok", "uncropped")        # record statuses whose frame pack is in the cache
NOTE = "note"                      # a scan finding about a sample that is still prepared


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

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


# --------------------------------------------------------------------------- sample sources


def _decode_video(path: str) -> Iterator[np.ndarray]:
    """Frames of a video file as ``(H, W, 3)`` uint8 RGB."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise EdgeactError(f"{path}: cannot open video")
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def _read_images(paths: Sequence[str]) -> Iterator[np.ndarray]:
    for p in paths:
        img = cv2.imread(p, cv2.IMREAD_COLOR)
        if img is None:
            raise EdgeactError(f"{p}: cannot read image")
        yield cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _points_2d(job: Job) -> Optional[np.ndarray]:
    """All 2D joints of the sample in source pixels, ``(..., 2)``, or None without a skeleton."""
    if job.skeleton is None:
        return None
    if job.dataset == "ntu":
        from edgeact.data.ntu import read_skeleton

        skel = read_skeleton(job.skeleton)
        if not skel.usable:
            return None
        pts = skel.color_xy
        # an all-zero joint row is Kinect's "no data", not a joint at the image corner
        zero = np.all(skel.joints == 0, axis=-1)
        pts = np.where(zero[..., None], np.nan, pts)
        return pts
    from edgeact.data.nucla import read_nucla_sample
    from edgeact.geometry import Calibration, project

    sample = read_nucla_sample(job.skeleton)
    if not np.isfinite(sample.joints).any():
        return None
    return project(sample.joints, Calibration.from_dict(job.calib))


def process(job: Job, out_dir: str) -> dict:
    """Crop and cache one sample; returns its index record (``status`` ``ok``, ``uncropped``,
    ``no-skeleton`` or ``unreadable``)."""
    from edgeact.geometry import crop_box, crop_resize

    record = {"name": job.name, "label": job.label, "splits": job.splits}
    try:
        points = _points_2d(job) if job.crop else None
    except EdgeactError as exc:
        if not job.fallback_uncropped:
            return {**record, "status": "no-skeleton", "reason": str(exc)}
        points = None
    try:
        frames_iter = _decode_video(job.video) if job.video else _read_images(job.frames)
        first = next(frames_iter, None)
        if first is None:
            return {**record, "status": "unreadable", "reason": f"{job.video or job.skeleton}: no frames"}
        h, w = first.shape[:2]
        box = crop_box(points, (w, h), job.margin) if points is not None else None
        status = "ok"
        if not job.crop:
            box = (0.0, 0.0, float(w), float(h))
        elif box is None:
            if not job.fallback_uncropped:
                why = "no skeleton file" if job.skeleton is None else "no usable skeleton joint"
                return {**record, "status": "no-skeleton", "reason": why}
            box, status = (0.0, 0.0, float(w), float(h)), "uncropped"

        count = 0

        def crops() -> Iterator[np.ndarray]:
            nonlocal count
            for frame in itertools.chain([first], frames_iter):
                count += 1
                yield crop_resize(frame, box, job.size)

        data = encode_pack(crops())
    except EdgeactError as exc:
        return {**record, "status": "unreadable", "reason": str(exc)}
    atomic_write_bytes(pack_path(out_dir, job.name), data)
    return {**record, "status": status, "num_frames": count, "frame_size": [w, h],
            "box": [round(float(v), 2) for v in box]}


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one sample per process; OpenCV's own threads would oversubscribe


def _process_star(args) -> dict:
    return process(*args)


# --------------------------------------------------------------------------- datasets


def _ntu_jobs(cfg: PrepConfig) -> tuple[list[Job], ClassList, list[str], list[dict]]:
    from edgeact.data.ntu import BENCHMARKS, NTU120_CLASSES, find_ntu_samples, split_of

    classes = NTU120_CLASSES
    meta_path = cfg.root / "synth_meta.json"
    if meta_path.is_file():  # synthetic data in NTU layout carries its own class list
        meta = json.loads(meta_path.read_text())
        if "classes" in meta:
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
                        crop=cfg.crop))
    return jobs, classes, list(BENCHMARKS), excluded


def _nucla_jobs(cfg: PrepConfig) -> tuple[list[Job], ClassList, list[str], list[dict]]:
    from edgeact.data.nucla import BENCHMARKS as NUCLA_BENCHMARKS
    from edgeact.data.nucla import DEFAULT_CALIBRATION, NUCLA_CLASSES, find_nucla_samples, split_of_nucla
    from edgeact.geometry import load_calibration

    calib = load_calibration(cfg.calib or DEFAULT_CALIBRATION).to_dict()
    samples, report = find_nucla_samples(cfg.root, check_skeletons=False)
    listed = {s.name for s in samples}
    # problems of listed samples are notes (e.g. repeated frame numbers): the sample is still prepared
    excluded = [{"name": p.name, "status": "excluded" if p.name not in listed else NOTE, "reason": p.reason}
                for p in report.problems]
    jobs = [Job("nucla", s.name, s.label, {b: split_of_nucla(s.view, b) for b in NUCLA_BENCHMARKS}, None,
                frames=tuple(str(p) for p in s.frames),
                skeleton=str(s.folder) if s.skeleton_files else None, calib=calib,
                size=cfg.size, margin=cfg.margin, fallback_uncropped=cfg.fallback_uncropped,
                        crop=cfg.crop)
            for s in samples]
    return jobs, NUCLA_CLASSES, list(NUCLA_BENCHMARKS), excluded


# --------------------------------------------------------------------------- driver


def _read_partial(out: Path) -> dict[str, dict]:
    done: dict[str, dict] = {}
    path = out / PARTIAL
    if not path.is_file():
        return done
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash: that sample is simply redone
        if rec.get("status") in KEPT and not pack_path(out, rec["name"]).is_file():
            continue
        done[rec["name"]] = rec
    return done


def prepare(cfg: PrepConfig, progress: Optional[Callable[[int, int, dict], None]] = None) -> PrepReport:
    """Run preprocessing for ``cfg``; ``progress(done, total, record)`` is called per sample."""
    import multiprocessing as mp

    if cfg.dataset not in ("ntu", "nucla"):
        raise EdgeactError(f"--dataset must be 'ntu' or 'nucla', got {cfg.dataset!r}")
    if not cfg.root.is_dir():
        raise EdgeactError(f"{cfg.root}: no such dataset folder")
    if not 0 <= cfg.margin < 1:
        raise EdgeactError(f"--margin must be in [0, 1), got {cfg.margin}")
    jobs, classes, benchmarks, scanned = (_ntu_jobs if cfg.dataset == "ntu" else _nucla_jobs)(cfg)
    excluded = [e for e in scanned if e["status"] != NOTE]
    notes = [{"name": e["name"], "reason": e["reason"]} for e in scanned if e["status"] == NOTE]
    if cfg.limit is not None:
        jobs = jobs[: cfg.limit]
    if not jobs:
        raise EdgeactError(f"{cfg.root}: found no {cfg.dataset} samples to prepare")
    cfg.out.mkdir(parents=True, exist_ok=True)
    # recorded before the first sample, so an interrupted run is resumed only with the same settings
    settings = {"dataset": cfg.dataset, "size": cfg.size, "margin": cfg.margin, "cropped": cfg.crop,
                "fallback_uncropped": cfg.fallback_uncropped}
    settings_path = cfg.out / SETTINGS
    if settings_path.is_file():
        before = json.loads(settings_path.read_text())
        changed = sorted(k for k in settings if before.get(k) != settings[k])
        if changed:
            raise EdgeactError(f"{cfg.out}: was prepared with other settings ({', '.join(f'{k}={before.get(k)}' for k in changed)}); "
                               "choose a new --out or repeat those options")
    else:
        atomic_write_json(settings_path, settings)
    done = _read_partial(cfg.out)
    todo = [j for j in jobs if j.name not in done]
    workers = cfg.workers or os.cpu_count() or 1
    report = PrepReport(workers=workers, resumed=len(jobs) - len(todo), excluded_before=excluded, notes=notes)
    start = time.perf_counter()
    with open(cfg.out / PARTIAL, "a") as log:
        def finish(rec: dict) -> None:
            log.write(json.dumps(rec) + "\n")
            log.flush()
            done[rec["name"]] = rec
            report.done += 1
            report.frames += rec.get("num_frames", 0)
            if progress:
                progress(report.resumed + report.done, len(jobs), rec)

        args = [(j, str(cfg.out)) for j in todo]
        if workers == 1 or len(todo) <= 1:
            _worker_init()
            for a in args:
                finish(_process_star(a))
        else:
            # never fork: a parent that already ran OpenCV's or OpenMP's thread pools (the CLI in a
            # long-lived process, a test session) hands children a pool that deadlocks
            ctx = mp.get_context("spawn")
            with ctx.Pool(min(workers, len(todo)), initializer=_worker_init) as pool:
                for rec in pool.imap_unordered(_process_star, args, chunksize=1):
                    finish(rec)
    report.seconds = time.perf_counter() - start
    records = [done[j.name] for j in jobs if j.name in done]
    kept = [r for r in records if r["status"] in KEPT]
    report.problems = [{"name": r["name"], "status": r["status"], "reason": r.get("reason", "")}
                       for r in records if r["status"] not in KEPT]
    meta = {"version": CACHE_VERSION, "dataset": cfg.dataset, "root": str(cfg.root), "size": cfg.size,
            "margin": cfg.margin, "cropped": cfg.crop, "classes": classes.to_dict(), "benchmarks": benchmarks,
            "fallback_uncropped": cfg.fallback_uncropped,
            "excluded": excluded + report.problems, "notes": notes}
    atomic_write_json(cfg.out / "index.json", {"meta": meta, "samples": kept})
    return report


def decode_only(paths: Sequence[str]) -> tuple[int, float]:
    """Decode videos without cropping: ``(frames, seconds)``, the baseline prep is compared to."""
    start = time.perf_counter()
    frames = sum(1 for p in paths for _ in _decode_video(p))
    return frames, time.perf_counter() - start


