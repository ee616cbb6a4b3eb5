"""Synthetic dataset in the exact NTU RGB+D layout, so every later stage runs without the real data.

``generate(out_dir, SynthConfig(...))`` writes::

    out_dir/nturgb+d_rgb/SsssCcccPpppRrrrAaaa_rgb.avi        MJPG, config.width x config.height
    out_dir/nturgb+d_skeletons/SsssCcccPpppRrrrAaaa.skeleton  Kinect v2 text format
    out_dir/synth_meta.json                                  true cameras, classes, config, version,
                                                             and the manifest: every file it writes

The world: floor y = 0, performer near the origin. Cameras C001-C003 stand at -45, 0, +45 degrees
around the performer (2.5-3.5 m, setup-dependent height and distance, like NTU); in replication
R001 the performer turns ~25 degrees toward C001, in R002 toward C003 (NTU turns fully toward
each side camera; half-way keeps the side views learnable). The three cameras of a (setup,
performer, replication, action) film the same performance. Joints are written in the depth
camera's space (see :mod:`edgeact.data.synth_render` for the axes and Eq. 1); ``colorX/colorY``
are exactly where the written joints project in the video, ``depthX/depthY`` their 512x424
depth-image pixels.

Realism of the skeleton files: 17-digit body ids, joint jitter (3 mm tracked, 10 mm inferred),
tracking state 1 (inferred) for joints hidden behind the torso in the depth camera's view and for
~3 % of hand/foot joint-frames. Off by default: up to ``empty_start`` leading frames without a body
(the person is in the video, the tracker has not locked on yet), and with probability
``spurious_rate`` per clip a short-lived second "ghost" body (3-15 frames and at most a third of
the clip, mostly inferred joints, not drawn in the video), as Kinect produces on furniture.

Randomness comes from ``numpy.random.SeedSequence((seed, stream, ids...))`` per performer, setup,
camera, performance and recording, so any sample is reproducible on its own (resume, tests) and two
runs with one seed write identical skeleton bytes and frames.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from edgeact.data.classes import ClassList
from edgeact.data.ntu import SKELETON_DIR, VIDEO_DIR, NtuName, Skeleton, SkeletonReport, write_skeleton
from edgeact.data.synth_motion import (
    CONFUSABLE,
    MIRROR_JOINTS,
    SYNTH_CLASSES,
    Performer,
    animate,
    forward_kinematics,
    rest_offsets,
    ry,
    sample_motion_params,
    sample_performer,
)
from edgeact.data.synth_render import (
    ColorCamera,
    DepthCamera,
    View,
    draw_person,
    encode_avi_mjpeg,
    make_backdrop,
    make_scene,
)
from edgeact.errors import EdgeactError
from edgeact.fileio import atomic_write_bytes, atomic_write_json

SYNTH_VERSION = 1
META_NAME = "synth_meta.json"
JPEG_QUALITY = 85
CAMERA_AZIMUTHS = (-45.0, 0.0, 45.0)   # degrees, C001..C003
FACING = (-25.0, 25.0)                 # performer yaw toward C001 (R001) / C003 (R002)
_BODY_ID_BASE = 72057594037900000      # Kinect body ids are 17-digit numbers like this
_EXTREMITIES = (7, 11, 21, 22, 23, 24, 15, 19)


@dataclass(frozen=True)
class SynthConfig:
    """Size and realism knobs of a synthetic dataset (an error names the field; ``edgeact synth`` names its option).

    ``frames`` is the nominal clip length; each performance varies by up to +-10 % (at least +-1).
    """

    seed: int = 0
    classes: int = len(SYNTH_CLASSES)   # the first N classes of SYNTH_CLASSES
    performers: int = 5
    cameras: int = 3
    setups: int = 2
    replications: int = 2
    frames: int = 48
    width: int = 320
    height: int = 240
    fps: float = 30.0
    color_offset: float = 0.052         # metres from depth to colour camera along X (0: pure Eq. 1)
    empty_start: int = 0                # up to this many leading frames without a body
    spurious_rate: float = 0.0          # probability of a ghost second body per clip

    def __post_init__(self) -> None:
        def need(ok: bool, field: str, value, why: str) -> None:
            if not ok:
                raise EdgeactError(f"{value!r} {why}", param=field)

        n = len(SYNTH_CLASSES)
        need(self.seed >= 0, "seed", self.seed, "must be >= 0")
        need(1 <= self.classes <= n, "classes", self.classes, f"is outside 1..{n} (the synthetic class list has {n})")
        need(1 <= self.performers <= 999, "performers", self.performers, "is outside 1..999")
        need(1 <= self.cameras <= 3, "cameras", self.cameras, "is outside 1..3 (NTU has three views)")
        need(1 <= self.setups <= 32, "setups", self.setups, "is outside 1..32 (NTU RGB+D 120 has 32 setups)")
        need(1 <= self.replications <= 2, "replications", self.replications, "is outside 1..2")
        need(8 <= self.frames <= 10000, "frames", self.frames, "is outside 8..10000")
        need(32 <= self.width <= 7680, "width", self.width, "is outside 32..7680 pixels")
        need(24 <= self.height <= 4320, "height", self.height, "is outside 24..4320 pixels")
        need(0 < self.fps <= 240, "fps", self.fps, "is outside (0, 240]")
        need(bool(np.isfinite(self.color_offset)) and abs(self.color_offset) <= 0.5, "color_offset",
             self.color_offset, "must be a finite offset within +-0.5 m")
        need(0 <= self.empty_start <= self.frames // 2, "empty_start", self.empty_start,
             f"is outside 0..{self.frames // 2} (half of the video's frames)")
        need(0.0 <= self.spurious_rate <= 1.0, "spurious_rate", self.spurious_rate, "is outside [0, 1]")

    @property
    def color_camera(self) -> ColorCamera:
        return ColorCamera.kinect_like(self.width, self.height, self.color_offset)

    @property
    def class_list(self) -> ClassList:
        """The generated classes; a mirror pair cut in half leaves its remaining class flip-unsafe."""
        n = self.classes
        pairs = tuple(p for p in SYNTH_CLASSES.mirror if max(p) < n)
        unsafe = tuple(i for p in SYNTH_CLASSES.mirror for i in p if i < n <= max(p))
        return ClassList(names=SYNTH_CLASSES.names[:n], mirror=pairs, flip_unsafe=unsafe)


@dataclass(frozen=True)
class SynthSample:
    """One rendered sample: its skeleton (as written) and video frames ``(T, H, W, 3)`` uint8 BGR."""

    name: NtuName
    skeleton: Skeleton
    frames: np.ndarray
    camera: ColorCamera
    view: View


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


# --------------------------------------------------------------------------- randomness and fixtures


def _rng(seed: int, *ids: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence((seed, *ids)))


def sample_names(config: SynthConfig) -> list[NtuName]:
    """Every sample of ``config``, sorted by name."""
    return [NtuName(s, c, p, r, a)
            for s in range(1, config.setups + 1) for c in range(1, config.cameras + 1)
            for p in range(1, config.performers + 1) for r in range(1, config.replications + 1)
            for a in range(1, config.classes + 1)]


@lru_cache(maxsize=256)
def performer_of(seed: int, performer: int) -> Performer:
    return sample_performer(_rng(seed, 1, performer))


@lru_cache(maxsize=256)
def view_of(seed: int, setup: int, camera: int) -> View:
    """Depth-camera pose of ``camera`` in ``setup``: setup-wide distance and height, +-3 degrees."""
    srng = _rng(seed, 2, setup)
    dist, height, target = srng.uniform(2.6, 3.3), srng.uniform(0.8, 1.4), srng.uniform(0.85, 1.0)
    crng = _rng(seed, 3, setup, camera)
    az = np.deg2rad(CAMERA_AZIMUTHS[camera - 1] + crng.uniform(-3.0, 3.0))
    d = dist + crng.uniform(-0.15, 0.15)
    return View.look_at(np.array([d * np.sin(az), height, d * np.cos(az)]), np.array([0.0, target, 0.0]))


@lru_cache(maxsize=64)
def _backdrop(seed: int, setup: int, camera: int, width: int, height: int) -> tuple[np.ndarray, int]:
    margin = max(2, width // 20)
    img = make_backdrop(_rng(seed, 6, setup, camera), width, height, margin)
    img.setflags(write=False)
    return img, margin


# --------------------------------------------------------------------------- one sample


def _occluded(depth_xy: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``(T, 25)`` bool: joints behind the torso quad in the depth image (from ``(T, 25, 2)``
    pixels and ``(T, 25)`` depths)."""
    quad = depth_xy[:, [4, 8, 16, 12]]                               # (T, 4, 2)
    edge = np.roll(quad, -1, axis=1) - quad
    rel = depth_xy[:, None, :, :] - quad[:, :, None, :]              # (T, 4, 25, 2)
    cross = edge[:, :, None, 0] * rel[..., 1] - edge[:, :, None, 1] * rel[..., 0]
    inside = (cross > 0).all(axis=1) | (cross < 0).all(axis=1)
    return inside & (z > z[:, [4, 8, 16, 12]].mean(axis=1, keepdims=True) + 0.06)


def _ghost(rng: np.random.Generator, view: View, t: int) -> tuple[np.ndarray, np.ndarray]:
    """A spurious body: camera-space joints ``(T, 25, 3)`` (NaN outside its run) and presence."""
    length = int(rng.integers(3, max(3, min(15, t // 3)) + 1))
    start = int(rng.integers(0, t - length + 1))
    offsets = rest_offsets(Performer(height=float(rng.uniform(1.0, 1.9))))
    pos = forward_kinematics(offsets, np.tile(np.eye(3), (1, 25, 1, 1)), offsets[None, 0])[0]
    pos += [rng.uniform(-1.2, 1.2), 0.0, rng.uniform(-1.5, -0.5)]
    joints = np.full((t, 25, 3), np.nan)
    joints[start:start + length] = view.to_camera(pos) + rng.normal(0, 0.02, size=(length, 25, 3))
    present = np.zeros(t, bool)
    present[start:start + length] = True
    return joints, present


def synthesize(config: SynthConfig, name: NtuName, *, person: bool = True) -> SynthSample:
    """Render one sample (skeleton + frames) without writing anything.

    ``person=False`` renders the same background without the person (tests use it to find the
    person's pixels).
    """
    s, c, p, r, a = name.setup, name.camera, name.performer, name.replication, name.action
    seed = config.seed
    performer = performer_of(seed, p)
    view = view_of(seed, s, c)
    cam = config.color_camera
    depth_cam = DepthCamera()

    # the performance: shared by the three cameras
    prng = _rng(seed, 4, s, p, r, a)
    jitter = max(1, round(0.1 * config.frames))
    t = int(config.frames + prng.integers(-jitter, jitter + 1))
    params = sample_motion_params(prng)
    yaw = np.deg2rad(FACING[r - 1] + prng.uniform(-5.0, 5.0))
    where = np.array([prng.uniform(-0.3, 0.3), 0.0, prng.uniform(-0.3, 0.3)])
    body = animate(a - 1, performer, params, t, config.fps)                # (T, 25, 3)
    world = body @ ry(np.array(yaw)).T + where
    clean = view.to_camera(world)                                          # (T, 25, 3) camera space

    # the recording: this camera's tracker noise, ids and clutter
    rrng = _rng(seed, 5, s, c, p, r, a)
    inferred = _occluded(depth_cam.project(clean), clean[..., 2])
    inferred[:, _EXTREMITIES] |= rrng.random((t, len(_EXTREMITIES))) < 0.03
    sigma = np.where(inferred, 0.010, 0.003)[..., None]
    joints = (clean + rrng.normal(0.0, 1.0, size=clean.shape) * sigma).astype(np.float32)
    tracking = np.where(inferred, 1, 2).astype(np.int8)
    color_xy = cam.project(joints).astype(np.float32)
    depth_xy = depth_cam.project(joints).astype(np.float32)
    lead = int(rrng.integers(0, config.empty_start + 1)) if config.empty_start else 0
    present = np.ones(t, bool)
    present[:lead] = False
    ids = [str(_BODY_ID_BASE + int(rrng.integers(0, 100000)))]
    bodies = [(joints, depth_xy, color_xy, tracking, present)]
    if config.spurious_rate and rrng.random() < config.spurious_rate:
        g, g_present = _ghost(rrng, view, t)
        g32 = g.astype(np.float32)
        g_track = np.where(rrng.random((t, 25)) < 0.8, 1, 2).astype(np.int8)
        bodies.append((g32, depth_cam.project(g32).astype(np.float32), cam.project(g32).astype(np.float32),
                       g_track, g_present))
        ids.append(str(_BODY_ID_BASE + 100000 + int(rrng.integers(0, 100000))))
    j3, dxy, cxy, trk, pres = (np.stack(parts, axis=1) for parts in zip(*bodies))   # (T, B, ...)
    absent, nan = ~pres[..., None, None], np.float32(np.nan)
    skel = Skeleton(joints=np.where(absent, nan, j3), depth_xy=np.where(absent, nan, dxy),
                    color_xy=np.where(absent, nan, cxy), tracking=np.where(pres[..., None], trk, np.int8(-1)),
                    body_ids=tuple(ids), present=pres, report=SkeletonReport())

    backdrop, margin = _backdrop(seed, s, c, config.width, config.height)
    scene = make_scene(rrng, backdrop, margin, config.width, config.height, performer, cam.fx)
    frames = np.empty((t, config.height, config.width, 3), np.uint8)
    for i in range(t):
        img = scene.background(i / config.fps, config.width, config.height)
        if person:
            draw_person(img, color_xy[i], joints[i, :, 2], performer, cam.fx)
        frames[i] = img
    return SynthSample(name=name, skeleton=skel, frames=frames, camera=cam, view=view)


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
        raise EdgeactError(f"--overwrite: {out_dir / foreign[0]}{more} would be replaced, but edgeact synth did not "
                           f"write it (it is not in {out_dir / META_NAME}); move it away or use another --out")


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
        raise EdgeactError(f"--workers: {workers!r} is outside 1..64")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise EdgeactError(f"--out: {out} exists and is not a folder")
    non_empty = out.is_dir() and any(out.iterdir())
    meta_path = out / META_NAME
    if non_empty and not (overwrite or resume):
        raise EdgeactError(f"--out: {out} is not empty; pass --resume to finish an interrupted run with the "
                           "same settings or --overwrite to regenerate into it")
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
        raise EdgeactError(f"--resume: {meta_path} is missing, so {meta_path.parent} is not a synthetic dataset "
                           "to resume; use an empty folder or --overwrite")
    try:
        meta = json.loads(meta_path.read_text())
        old = meta["config"]
        version = meta["version"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EdgeactError(f"--resume: {meta_path} is unreadable ({exc})") from None
    if version != SYNTH_VERSION:
        raise EdgeactError(f"--resume: {meta_path} was written by generator version {version}, this is "
                           f"{SYNTH_VERSION}; use --overwrite")
    differ = [f.name for f in fields(config) if old.get(f.name) != getattr(config, f.name)]
    if differ:
        first = differ[0]
        raise EdgeactError(f"{meta_path}: the dataset to resume was made with {old.get(first)!r}, not "
                           f"{getattr(config, first)!r}; use the same settings or --overwrite", param=first)


__all__ = [
    "SynthConfig", "SynthSample", "SynthSummary", "SYNTH_CLASSES", "SYNTH_VERSION", "META_NAME",
    "generate", "synthesize", "sample_names", "build_meta", "write_video",
    "performer_of", "view_of",
]
