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
counts (see :func:`edgeact.data.prep_sample.damage_findings`).

This module is the driver (configuration, settings check, resume and the index); one sample's
work is in :mod:`edgeact.data.prep_sample`, the datasets' job lists in :mod:`edgeact.data.prep_jobs`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from edgeact.data.cache import pack_path
from edgeact.data.prep_jobs import NOTE, ntu_jobs, nucla_calibration, nucla_jobs
from edgeact.data.prep_sample import DAMAGED, Job, decode_video, process_star, worker_init
from edgeact.errors import EdgeactError
from edgeact.fileio import atomic_write_json, refuse_output_over_input, same_file

CACHE_VERSION = 1
SETTINGS_VERSION = 2               # 2: records keyed on their inputs, root (and calibration) checked
PARTIAL = "prep.partial.jsonl"
SETTINGS = "prep.settings.json"
KEPT = ("ok", "uncropped")        # record statuses whose frame pack is in the cache
MAX_SIZE = 4096                    # a frame side above this is a typo, not a crop size (64 MB per RGB frame)


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


# --------------------------------------------------------------------------- driver


def _check_paths(cfg: PrepConfig) -> None:
    if not cfg.root.is_dir():
        raise EdgeactError(f"{cfg.root}: no such dataset folder", param="root")
    if cfg.out.exists() and not cfg.out.is_dir():
        raise EdgeactError(f"{cfg.out}: is a file; prep writes a cache folder (name a new or existing folder)",
                           param="out")
    refuse_output_over_input(cfg.out, [cfg.root, cfg.calib], param="out")


def _settings(cfg: PrepConfig) -> dict:
    """What shapes every record of the cache; a rerun must repeat it to reuse them."""
    settings = {"version": SETTINGS_VERSION, "dataset": cfg.dataset, "root": str(cfg.root.resolve()),
                "size": cfg.size, "margin": cfg.margin, "cropped": cfg.crop,
                "fallback_uncropped": cfg.fallback_uncropped}
    if cfg.dataset == "nucla" and cfg.crop:
        c = nucla_calibration(cfg)
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
                           "choose a new {out} or repeat those options", mention="out")
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
    jobs, classes, benchmarks, scanned = (ntu_jobs if cfg.dataset == "ntu" else nucla_jobs)(cfg)
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
            worker_init()
            for a in args:
                finish(process_star(a))
        else:
            # never fork: a parent that already ran OpenCV's or OpenMP's thread pools (the CLI in a
            # long-lived process, a test session) hands children a pool that deadlocks
            ctx = mp.get_context("spawn")
            with ctx.Pool(workers, initializer=worker_init) as pool:
                for rec in pool.imap_unordered(process_star, args, chunksize=1):
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
    frames = sum(1 for p in paths for _ in decode_video(p))
    return frames, time.perf_counter() - start
