"""One synthetic NTU-layout sample rendered in memory (:func:`synthesize`): its skeleton and video
frames from :class:`SynthConfig`, the sample names of a config, and the seeded performers and
camera views. :mod:`edgeact.data.synth` writes them to disk.

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

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edgeact.data.classes import ClassList
from edgeact.data.ntu import NtuName, Skeleton, SkeletonReport
from edgeact.data.synth_motion import (
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
    make_backdrop,
    make_scene,
)
from edgeact.errors import EdgeactError

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

