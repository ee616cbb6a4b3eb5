"""Synthetic dataset in the exact NTU RGB+D layout, so every later stage runs without the real data.

``generate(out_dir, SynthConfig(...))`` writes::

    out_dir/nturgb+d_rgb/SsssCcccPpppRrrrAaaa_rgb.avi        MJPG, config.width x config.height
    out_dir/nturgb+d_skeletons/SsssCcccPpppRrrrAaaa.skeleton  Kinect v2 text format
    out_dir/synth_meta.json                                  true cameras, classes, config, version,
                                                             and the manifest: every file it writes

The samples themselves (the world, the cameras, the skeleton files' realism and the seeded
randomness) are rendered in memory by :mod:`edgeact.data.synth_sample`; this module writes them,
with the manifest, resume and overwrite, and re-exports the names of both.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from edgeact.data.classes import ClassList
from edgeact.data.ntu import SKELETON_DIR, VIDEO_DIR, NtuName, write_skeleton
from edgeact.data.synth_motion import CONFUSABLE, MIRROR_JOINTS, SYNTH_CLASSES
from edgeact.data.synth_render import DepthCamera, encode_avi_mjpeg
from edgeact.data.synth_sample import (
    SynthConfig,
    SynthSample,
    performer_of,
    sample_names,
    synthesize,
    view_of,
)
from edgeact.errors import EdgeactError
from edgeact.fileio import atomic_write_bytes, atomic_write_json

SYNTH_VERSION = 1
META_NAME = "synth_meta.json"
JPEG_QUALITY = 85


@dataclass(frozen=True)
class SynthSummary:
    out_dir: Path
    samples: int           # samples of the config
    written: int           # generated in this run
    skipped: int           # already complete (resume)
    frames: int            # video frames written in this run
    seconds: float
    meta_path: Path
    classes: ClassList

    @property
    def seconds_per_clip(self) -> float:
        return self.seconds / self.written if self.written else 0.0


# --------------------------------------------------------------------------- writing


def write_video(path: Path, frames: np.ndarray, fps: float, quality: int = JPEG_QUALITY) -> None:
    """Write ``frames`` ``(T, H, W, 3)`` BGR as an MJPG ``.avi``, atomically."""
    atomic_write_bytes(path, encode_avi_mjpeg(frames, fps, quality))


def _paths(out_dir: Path, name: NtuName) -> tuple[Path, Path]:
    return (out_dir / VIDEO_DIR / f"{name.name}_rgb.avi", out_dir / SKELETON_DIR / f"{name.name}.skeleton")


def manifest(config: SynthConfig) -> list[str]:
    """Every sample file ``config`` writes, relative to the dataset folder (``nturgb+d_rgb/..._rgb.avi``,
    ``nturgb+d_skeletons/....skeleton``), sorted."""
    return sorted(p.as_posix() for n in sample_names(config) for p in _paths(Path(), n))


def build_meta(config: SynthConfig, *, complete: bool, files: Optional[list[str]] = None) -> dict:
    """Everything a test or calibration check needs to know about the generator's truth, and the
    manifest ``files``: the sample files of the folder that are ours (default: those ``config``
    writes)."""
    cam = config.color_camera
    classes = config.class_list
    views = {f"S{s:03d}C{c:03d}": view_of(config.seed, s, c).to_dict()
             for s in range(1, config.setups + 1) for c in range(1, config.cameras + 1)}
    performers = {str(p): asdict(performer_of(config.seed, p)) for p in range(1, config.performers + 1)}
    return {
        "generator": "edgeact.data.synth", "version": SYNTH_VERSION, "seed": config.seed,
        "config": asdict(config), "complete": complete, "samples": len(sample_names(config)),
        "classes": classes.to_dict(), "class_names": list(classes.names),
        "mirror_pairs": [list(pair) for pair in classes.mirror],
        "confusable_pairs": [list(pair) for pair in CONFUSABLE if max(pair) < config.classes],
        "color_camera": cam.to_dict(), "eq1": cam.eq1(), "depth_camera": DepthCamera().to_dict(),
        "coordinates": "joints in depth-camera space (metres): X toward the sensor's left, Y up, Z forward; "
                       "colour pixels u = fx*(X - tx)/Z + u0, v = -fy*(Y - ty)/Z + v0 (y down); depth pixels "
                       "the same with the depth camera and no offset",
        "views": views, "performers": performers,
        "joint_mirror": list(MIRROR_JOINTS),
        "files": manifest(config) if files is None else sorted(files),
    }


def generated_before(out_dir: Path) -> set[str]:
    """The files an earlier ``generate`` into ``out_dir`` wrote or was about to write (its manifest,
    relative paths); empty when the folder holds no readable ``synth_meta.json``. A meta without a
    ``files`` list (an older generator) names them through its config. Only names directly inside
    the two sample folders count, so an edited manifest cannot point anywhere else."""
    try:
        meta = json.loads((out_dir / META_NAME).read_text())
    except (OSError, ValueError):
        return set()
    if not isinstance(meta, dict):
        return set()
    if isinstance(meta.get("files"), list):
        listed = {str(f) for f in meta["files"]}
    else:
        try:
            listed = set(manifest(SynthConfig(**meta["config"])))
        except (KeyError, TypeError, EdgeactError):
            return set()
    return {rel for rel in listed if _in_sample_folder(rel)}


def _in_sample_folder(rel: str) -> bool:
    parts = rel.split("/")
    return len(parts) == 2 and parts[0] in (VIDEO_DIR, SKELETON_DIR) and parts[1] not in ("", ".", "..")


def _temp_target(name: str) -> Optional[str]:
    """``.X.abc123.tmp`` (an edgeact.fileio temporary file of an interrupted write) -> ``X``."""
    if name.startswith(".") and name.endswith(".tmp") and name.count(".") >= 3:
        return name[1:-len(".tmp")].rsplit(".", 1)[0]
    return None


def _cleanup(out_dir: Path, ours: set[str], remove: set[str]) -> None:
    """Delete the files of ``remove`` and the temporary files of interrupted writes to any file of
    ``ours`` (relative paths); a file no run of ours wrote is never touched."""
    for rel in sorted(remove):
        (out_dir / rel).unlink(missing_ok=True)
    for sub in (VIDEO_DIR, SKELETON_DIR):
        folder = out_dir / sub
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            target = _temp_target(entry.name)
            if target is not None and f"{sub}/{target}" in ours and entry.is_file():
                entry.unlink()


def _refuse_foreign(out_dir: Path, files: list[str], ours: set[str]) -> None:
    """``--overwrite`` replaces only files a run of ours wrote: a file of the new manifest that is
    already there without being in the old one is someone else's (a real recording, say)."""
    foreign = [rel for rel in files if rel not in ours and (out_dir / rel).exists()]
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise EdgeactError(f"{out_dir / foreign[0]}{more} would be replaced, but edgeact synth did not "
                           f"write it (it is not in {out_dir / META_NAME}); move it away or write elsewhere",
                           param="overwrite")


def write_sample(config: SynthConfig, out_dir: Path, name: NtuName) -> tuple[Path, Path, int]:
    """Render and write one sample in the NTU layout under ``out_dir`` (video first: a sample
    counts as complete once both exist); returns ``(video, skeleton, frames)``."""
    sample = synthesize(config, name)
    video, skeleton = _paths(Path(out_dir), name)
    video.parent.mkdir(parents=True, exist_ok=True)
    skeleton.parent.mkdir(parents=True, exist_ok=True)
    write_video(video, sample.frames, config.fps)
    write_skeleton(skeleton, sample.skeleton)
    return video, skeleton, int(sample.frames.shape[0])


def _make_sample(config: SynthConfig, out_dir: Path, name: NtuName) -> int:
    return write_sample(config, out_dir, name)[2]


def _make_sample_star(args: tuple[SynthConfig, Path, NtuName]) -> int:
    return _make_sample(*args)


def generate(out_dir: str | Path, config: SynthConfig = SynthConfig(), *, overwrite: bool = False,
             resume: bool = False, workers: int = 1,
             progress: Optional[Callable[[int, int, str], None]] = None) -> SynthSummary:
    """Write the dataset of ``config`` into ``out_dir`` (see the module docstring).

    A non-empty ``out_dir`` is refused unless ``resume`` (finish an interrupted run of the same
    config: complete samples are kept) or ``overwrite`` (regenerate everything). Only files listed
    in the manifest of ``synth_meta.json`` (``files``, written before the first sample, so an
    interrupted run is covered too) are ever replaced or deleted: ``overwrite`` deletes the
    earlier run's files that the new config does not produce and refuses to replace a file that
    no run of ours wrote; a user's other files in the folder are never touched.
    ``workers`` > 1 renders samples in that many processes (the output does not depend on it).
    ``progress(done, total, sample_name)`` is called after each sample.
    """
    if not 1 <= workers <= 64:
        raise EdgeactError(f"{workers!r} is outside 1..64", param="workers")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise EdgeactError(f"{out} exists and is not a folder", param="out_dir")
    non_empty = out.is_dir() and any(out.iterdir())
    meta_path = out / META_NAME
    if non_empty and not (overwrite or resume):
        raise EdgeactError(f"{out} is not empty; resume finishes an interrupted run with the same settings, "
                           "overwrite regenerates into it", param="out_dir")
    if non_empty and resume and not overwrite:
        _check_resumable(meta_path, config)
    names = sample_names(config)
    files = manifest(config)
    before = generated_before(out)
    if overwrite:
        _refuse_foreign(out, files, before)
    out.mkdir(parents=True, exist_ok=True)      # first, so a failure names --out itself
    for sub in (VIDEO_DIR, SKELETON_DIR):
        (out / sub).mkdir(exist_ok=True)
    # the manifest goes down before anything is deleted or written and names the old files too, so
    # an interrupted run leaves no file of ours unlisted
    atomic_write_json(meta_path, build_meta(config, complete=False, files=sorted(before | set(files))))
    _cleanup(out, before | set(files), remove=(before - set(files)) if overwrite else set())

    todo = [n for n in names if overwrite or not all(p.is_file() for p in _paths(out, n))]
    skipped = len(names) - len(todo)
    done, frames = skipped, 0
    if progress is not None and skipped:
        progress(done, len(names), "")
    start = time.perf_counter()
    jobs = [(config, out, n) for n in todo]
    if workers == 1 or len(todo) < 2:
        results: Iterator[int] = map(_make_sample_star, jobs)
        pool = None
    else:
        # spawn: safe whatever the parent imported (torch, OpenCV threads)
        pool = multiprocessing.get_context("spawn").Pool(min(workers, len(todo)))
        results = pool.imap(_make_sample_star, jobs)
    try:
        for name, count in zip(todo, results):
            frames += count
            done += 1
            if progress is not None:
                progress(done, len(names), name.name)
    except BaseException:
        if pool is not None:
            pool.terminate()
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    seconds = time.perf_counter() - start
    atomic_write_json(meta_path, build_meta(config, complete=True))
    return SynthSummary(out_dir=out, samples=len(names), written=len(todo), skipped=skipped, frames=frames,
                        seconds=seconds, meta_path=meta_path, classes=config.class_list)


def _check_resumable(meta_path: Path, config: SynthConfig) -> None:
    if not meta_path.is_file():
        raise EdgeactError(f"{meta_path} is missing, so {meta_path.parent} is not a synthetic dataset "
                           "to resume; use an empty folder or overwrite it", param="resume")
    try:
        meta = json.loads(meta_path.read_text())
        old = meta["config"]
        version = meta["version"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EdgeactError(f"{meta_path} is unreadable ({exc})", param="resume") from None
    if version != SYNTH_VERSION:
        raise EdgeactError(f"{meta_path} was written by generator version {version}, this is "
                           f"{SYNTH_VERSION}; overwrite it instead", param="resume")
    differ = [f.name for f in fields(config) if old.get(f.name) != getattr(config, f.name)]
    if differ:
        first = differ[0]
        raise EdgeactError(f"{meta_path}: the dataset to resume was made with {old.get(first)!r}, not "
                           f"{getattr(config, first)!r}; use the same settings or {{overwrite}}", param=first,
                           mention="overwrite")


__all__ = [
    "SynthConfig", "SynthSample", "SynthSummary", "SYNTH_CLASSES", "SYNTH_VERSION", "META_NAME",
    "generate", "synthesize", "sample_names", "build_meta", "write_video",
    "performer_of", "view_of",
]
