"""prep's jobs: the samples of an NTU (or synthetic, NTU-layout) or N-UCLA root as :class:`Job`
lists with their class list and benchmarks, each keyed on its input files (:func:`input_key`),
and what the scan found about samples. See :mod:`edgeact.data.prep`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from edgeact.data.classes import ClassList
from edgeact.data.prep_sample import Job
from edgeact.errors import EdgeactError

if TYPE_CHECKING:
    from edgeact.data.prep import PrepConfig

NOTE = "note"                      # a scan finding about a sample that is still prepared


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


def ntu_jobs(cfg: PrepConfig) -> tuple[list[Job], ClassList, list[str], list[dict]]:
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


def nucla_calibration(cfg: PrepConfig) -> dict:
    """The projection coefficients, through the one loader that validates them."""
    from edgeact.calibration import load_calibration
    from edgeact.data.nucla import DEFAULT_CALIBRATION

    return load_calibration(cfg.calib or DEFAULT_CALIBRATION).to_dict()


def nucla_jobs(cfg: PrepConfig) -> tuple[list[Job], ClassList, list[str], list[dict]]:
    from edgeact.data.nucla import BENCHMARKS as NUCLA_BENCHMARKS
    from edgeact.data.nucla import NUCLA_CLASSES, find_nucla_samples, split_of_nucla

    calib = nucla_calibration(cfg)
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
