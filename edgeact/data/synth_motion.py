"""Synthetic people: a 25-joint Kinect v2 skeleton moved by forward kinematics from per-class
motion programs.

Body frame (metres): x to the performer's left, y up, z forward (the way the performer faces); it
is right-handed like Kinect camera space. The floor is y = 0 and the root (SpineBase) starts above
the origin. A *motion program* writes per-frame local joint rotations (and root offsets); forward
kinematics turns them into joint positions ``(T, 25, 3)``.

Right-handed actions are not written by hand: they are the left-handed program mirrored across
the sagittal plane (x -> -x, left joints <-> right joints), so a horizontally flipped
"wave left hand" is exactly "wave right hand" for the same performer and parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgeact.data.classes import ClassList

NUM_JOINTS = 25
JOINT_NAMES: tuple[str, ...] = (
    "SpineBase", "SpineMid", "Neck", "Head", "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight", "HipLeft", "KneeLeft", "AnkleLeft",
    "FootLeft", "HipRight", "KneeRight", "AnkleRight", "FootRight", "SpineShoulder", "HandTipLeft",
    "ThumbLeft", "HandTipRight", "ThumbRight",
)
# Kinect v2 bone hierarchy (the thumb hangs off the wrist, the hand tip off the hand)
PARENTS: tuple[int, ...] = (-1, 0, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 6, 11, 10)
# joint index of each joint's left/right counterpart
MIRROR_JOINTS: tuple[int, ...] = (0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 16, 17, 18, 19, 12, 13, 14, 15, 20,
                                  23, 24, 21, 22)
_FK_ORDER = (0, 1, 20, 2, 3, 4, 5, 6, 7, 21, 22, 8, 9, 10, 11, 23, 24, 12, 13, 14, 15, 16, 17, 18, 19)
_ANKLES = (14, 18)

# Class list. Label = action id - 1 (A001 is class 0). Pairs (i, i+1) are left/right mirrors.
SYNTH_CLASSES = ClassList(
    names=("wave left hand", "wave right hand", "raise left arm", "raise right arm",
           "kick left leg", "kick right leg", "squat", "jump", "clap"),
    mirror=((0, 1), (2, 3), (4, 5)),
)
# Pairs built to look alike: waving and raising the same arm both lift it above the shoulder and
# differ only in the forearm, while left vs right is visible in every frame. A pass-1 confusion
# matrix confuses these first, so the superclass solver should put each pair in one group.
CONFUSABLE: tuple[tuple[int, int], ...] = ((0, 2), (1, 3))
# per class: (program name, mirrored?)
_CLASS_PROGRAMS: tuple[tuple[str, bool], ...] = (
    ("wave", False), ("wave", True), ("raise", False), ("raise", True),
    ("kick", False), ("kick", True), ("squat", False), ("jump", False), ("clap", False),
)


# --------------------------------------------------------------------------- performers and parameters


@dataclass(frozen=True)
class Performer:
    """Body proportions, speed and clothing of one synthetic performer (colours BGR uint8)."""

    height: float = 1.75        # metres, standing top of head
    arm: float = 1.0            # limb-length factors relative to the height-scaled template
    leg: float = 1.0
    torso: float = 1.0
    shoulders: float = 1.0      # shoulder / hip width factor
    girth: float = 1.0          # limb thickness factor (rendering only)
    speed: float = 1.0          # multiplies the frequency of periodic motions
    shirt: tuple[int, int, int] = (160, 60, 40)
    pants: tuple[int, int, int] = (60, 50, 40)
    skin: tuple[int, int, int] = (140, 170, 215)
    shoes: tuple[int, int, int] = (30, 30, 30)
    long_sleeves: bool = False


def sample_performer(rng: np.random.Generator) -> Performer:
    """A random performer: height 1.55-1.90 m, limb factors +-7 %, speed 0.85-1.2, random clothes."""
    def colour(lo: int, hi: int) -> tuple[int, int, int]:
        return tuple(int(v) for v in rng.integers(lo, hi, size=3))  # type: ignore[return-value]

    skin_tones = ((140, 170, 215), (110, 140, 190), (80, 105, 150), (60, 80, 115), (170, 195, 230))
    return Performer(
        height=float(rng.uniform(1.55, 1.90)), arm=float(rng.uniform(0.93, 1.07)),
        leg=float(rng.uniform(0.94, 1.06)), torso=float(rng.uniform(0.93, 1.07)),
        shoulders=float(rng.uniform(0.9, 1.1)), girth=float(rng.uniform(0.85, 1.2)),
        speed=float(rng.uniform(0.85, 1.2)), shirt=colour(20, 236), pants=colour(20, 200),
        skin=skin_tones[int(rng.integers(len(skin_tones)))], shoes=colour(10, 90),
        long_sleeves=bool(rng.random() < 0.5),
    )


@dataclass(frozen=True)
class MotionParams:
    """How one performance varies: timing, size and phase of the action, idle sway."""

    onset: float = 0.12         # fraction of the clip where the action starts
    end: float = 0.9            # fraction where it ends
    ramp: float = 0.25          # fraction of the active window spent rising (and falling)
    amplitude: float = 1.0      # scales the main joint angles
    frequency: float = 2.0      # Hz of periodic parts (waves, claps), before performer speed
    phase: float = 0.0          # radians
    repeats: int = 1            # kicks / squats / jumps in the window
    plane: float = 0.3          # 0 sideways ... 1 to the front: plane of arm elevation
    sway: float = 0.01          # metres of idle body sway
    sway_freq: float = 0.35     # Hz
    sway_phase: float = 0.0
    idle_arm: float = 0.08      # radians of idle arm abduction


def sample_motion_params(rng: np.random.Generator) -> MotionParams:
    """Random variation in amplitude (0.8-1.2), phase, speed (1.5-2.6 Hz), timing and idle sway."""
    return MotionParams(
        onset=float(rng.uniform(0.04, 0.2)), end=float(rng.uniform(0.82, 0.97)),
        ramp=float(rng.uniform(0.18, 0.32)), amplitude=float(rng.uniform(0.8, 1.2)),
        frequency=float(rng.uniform(1.5, 2.6)), phase=float(rng.uniform(0, 2 * np.pi)),
        repeats=int(rng.integers(1, 3)), plane=float(rng.uniform(0.0, 0.6)),
        sway=float(rng.uniform(0.003, 0.02)), sway_freq=float(rng.uniform(0.2, 0.5)),
        sway_phase=float(rng.uniform(0, 2 * np.pi)), idle_arm=float(rng.uniform(0.04, 0.14)),
    )


# --------------------------------------------------------------------------- body template


def rest_offsets(p: Performer) -> np.ndarray:
    """Bone offsets from each joint's parent in the rest pose (arms hanging), ``(25, 3)`` metres.

    Row 0 is the SpineBase position above the floor. Left and right offsets are mirror images,
    which the mirror-pair classes rely on.
    """
    s = p.height / 1.78
    a, g, t, w = p.arm, p.leg, p.torso, p.shoulders
    off = np.zeros((NUM_JOINTS, 3))
    left = {
        4: (0.18 * w, -0.03, -0.01), 5: (0.03, -0.285 * a, 0.0), 6: (0.01, -0.25 * a, 0.02),
        7: (0.0, -0.07 * a, 0.01), 21: (0.0, -0.07 * a, 0.01), 22: (-0.02, -0.05, 0.04),
        12: (0.09 * w, -0.06, 0.0), 13: (0.0, -0.42 * g, 0.01), 14: (0.0, -0.40 * g, -0.02),
        15: (0.01, -0.05, 0.13),
    }
    for j, v in left.items():
        off[j] = v
        off[MIRROR_JOINTS[j]] = (-v[0], v[1], v[2])
    off[1] = (0.0, 0.25 * t, 0.0)
    off[20] = (0.0, 0.25 * t, -0.01)
    off[2] = (0.0, 0.08, 0.01)
    off[3] = (0.0, 0.12, 0.02)
    off *= s
    # root height: feet (ankle 9 cm) on the floor
    off[0] = (0.0, 0.09 * s - off[14, 1] - off[13, 1] - off[12, 1], 0.0)
    return off


# --------------------------------------------------------------------------- rotations


def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(T, 3, 3)`` about body axis 0 (x), 1 (y) or 2 (z) by ``angle`` ``(T,)``."""
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    r = np.zeros(angle.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r[..., axis, axis] = 1.0
    r[..., i, i] = c
    r[..., j, j] = c
    r[..., i, j] = -s
    r[..., j, i] = s
    return r


def rx(a: np.ndarray) -> np.ndarray:
    return _rot(0, a)


def ry(a: np.ndarray) -> np.ndarray:
    return _rot(1, a)


def rz(a: np.ndarray) -> np.ndarray:
    return _rot(2, a)


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _bump(p: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-((p - centre) / width) ** 2)


class _Pose:
    """Per-frame local rotations ``(T, 25, 3, 3)`` and root offsets ``(T, 3)`` being built."""

    def __init__(self, t: int) -> None:
        self.local = np.tile(np.eye(3), (t, NUM_JOINTS, 1, 1))
        self.root = np.zeros((t, 3))
        self.lift = np.zeros(t)      # added after the feet are put on the floor (jumps)

    def turn(self, joint: int, r: np.ndarray) -> None:
        self.local[:, joint] = self.local[:, joint] @ r


@dataclass(frozen=True)
class _Timing:
    tau: np.ndarray     # (T,) seconds
    p: np.ndarray       # (T,) progress through the active window, clipped to [0, 1]
    env: np.ndarray     # (T,) 0 -> 1 -> 0 envelope of the action
    freq: float         # Hz after performer speed


# --------------------------------------------------------------------------- motion programs (left-handed)


def _idle(pose: _Pose, tm: _Timing, mp: MotionParams) -> None:
    w = 2 * np.pi * mp.sway_freq * tm.tau + mp.sway_phase
    pose.root[:, 0] += mp.sway * np.sin(w)
    pose.root[:, 2] += 0.5 * mp.sway * np.sin(0.7 * w + 1.0)
    pose.turn(1, rz(0.02 * np.sin(w + 0.5)))
    pose.turn(2, ry(0.06 * np.sin(0.6 * w)) @ rx(0.03 * np.sin(1.3 * w)))
    pose.turn(4, rz(mp.idle_arm + 0.02 * np.sin(w)))
    pose.turn(8, rz(-mp.idle_arm * 0.9 - 0.02 * np.sin(w + 1)))
    pose.turn(5, rx(-0.15 + 0.05 * np.sin(w)))
    pose.turn(9, rx(-0.12 + 0.05 * np.sin(w + 2)))


def _wave(pose: _Pose, tm: _Timing, mp: MotionParams) -> None:
    lift = np.deg2rad(min(95.0 * mp.amplitude, 120.0))
    pose.turn(4, ry(-0.8 * mp.plane * tm.env) @ rz(lift * tm.env))
    swing = np.deg2rad(28.0 * mp.amplitude) * np.sin(2 * np.pi * tm.freq * tm.tau + mp.phase)
    # the forearm points up (upper arm + elbow = 180 deg) and swings about that
    pose.turn(5, rz(tm.env * (np.pi - lift + swing)))
    pose.turn(6, rz(0.3 * tm.env * np.sin(2 * np.pi * tm.freq * tm.tau + mp.phase + 0.8)))


def _raise(pose: _Pose, tm: _Timing, mp: MotionParams) -> None:
    up = np.deg2rad(min(158.0 * mp.amplitude, 176.0))
    pose.turn(4, ry(-mp.plane * tm.env) @ rz(up * tm.env))
    pose.turn(5, rz(np.deg2rad(8.0) * tm.env))


def _pulses(tm: _Timing, mp: MotionParams, width: float) -> tuple[np.ndarray, list[float]]:
    centres = [(k + 0.5) / mp.repeats for k in range(mp.repeats)]
    w = width / mp.repeats
    return np.max([_bump(tm.p, c, w) for c in centres], axis=0) * (tm.p > 0) * (tm.p < 1), centres


def _kick(pose: _Pose, tm: _Timing, mp: MotionParams) -> None:
    b, centres = _pulses(tm, mp, 0.22)
    w = 0.22 / mp.repeats
    windup = np.max([_bump(tm.p, c - 0.6 * w, w) for c in centres], axis=0) * (tm.p > 0)
    lean = np.deg2rad(8.0) * b
    pose.turn(0, rx(-lean))
    pose.turn(12, rx(lean - np.deg2rad(min(68.0 * mp.amplitude, 90.0)) * b))
    pose.turn(13, rx(np.deg2rad(65.0) * windup))
    pose.turn(14, rx(np.deg2rad(-20.0) * b))
    pose.turn(16, rx(lean))
    balance = np.deg2rad(18.0) * np.maximum(b, windup)
    pose.turn(4, rz(balance))
    pose.turn(8, rz(-balance))


def _crouch(pose: _Pose, depth: np.ndarray) -> None:
    """Bend both legs by thigh angle ``depth`` ``(T,)`` rad, shins back, feet flat, torso leaning."""
    lean = 0.45 * depth
    pose.turn(0, rx(lean))
    for hip in (12, 16):
        pose.turn(hip, rx(-lean - depth))
        pose.turn(hip + 1, rx(2 * depth))
        pose.turn(hip + 2, rx(-depth))


def _squat(pose: _Pose, tm: _Timing, mp: MotionParams) -> None:
    b, _ = _pulses(tm, mp, 0.3)
    b = np.clip(1.6 * b, 0, 1)
    _crouch(pose, np.deg2rad(min(58.0 * mp.amplitude, 68.0)) * b)
    arms = np.deg2rad(75.0) * b
    pose.turn(4, rx(-arms))
    pose.turn(8, rx(-arms))


def _jump(pose: _Pose, tm: _Timing, mp: MotionParams) -> None:
    centres = [(k + 0.5) / mp.repeats for k in range(mp.repeats)]
    w = 0.5 / mp.repeats                       # each jump: crouch, flight, landing crouch
    crouch = np.zeros_like(tm.p)
    flight = np.zeros_like(tm.p)
    active = (tm.p > 0) & (tm.p < 1)
    for c in centres:
        crouch = np.maximum(crouch, _bump(tm.p, c - 0.45 * w, 0.22 * w) + _bump(tm.p, c + 0.45 * w, 0.22 * w))
        u = (tm.p - (c - 0.25 * w)) / (0.5 * w)
        flight = np.maximum(flight, np.where((u > 0) & (u < 1), 4 * u * (1 - u), 0.0))
    crouch *= active
    _crouch(pose, np.deg2rad(35.0) * np.clip(crouch, 0, 1))
    pose.lift += min(0.25 * mp.amplitude, 0.35) * flight
    arms = np.deg2rad(150.0) * flight - np.deg2rad(30.0) * crouch
    pose.turn(4, rx(-arms))
    pose.turn(8, rx(-arms))


def _clap(pose: _Pose, tm: _Timing, mp: MotionParams) -> None:
    forward = np.deg2rad(min(75.0 * mp.amplitude, 95.0)) * tm.env
    beat = 0.5 + 0.5 * np.sin(2 * np.pi * tm.freq * 1.2 * tm.tau + mp.phase)
    h = np.deg2rad(10.0) * beat * tm.env
    e = np.deg2rad(5.0 + 17.0 * beat) * tm.env
    pose.turn(4, ry(-h) @ rx(-forward))
    pose.turn(8, ry(h) @ rx(-forward))
    pose.turn(5, rz(-e))
    pose.turn(9, rz(e))


_PROGRAMS: dict[str, Callable[[_Pose, _Timing, MotionParams], None]] = {
    "wave": _wave, "raise": _raise, "kick": _kick, "squat": _squat, "jump": _jump, "clap": _clap,
}

# --------------------------------------------------------------------------- forward kinematics

_M = np.diag([-1.0, 1.0, 1.0])


def forward_kinematics(offsets: np.ndarray, local: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Joint positions ``(T, 25, 3)`` from bone ``offsets`` ``(25, 3)``, local rotations
    ``(T, 25, 3, 3)`` (joint j's rotation turns the bones to its children) and root positions
    ``(T, 3)``."""
    t = local.shape[0]
    glob = np.empty_like(local)
    pos = np.empty((t, NUM_JOINTS, 3))
    for j in _FK_ORDER:
        p = PARENTS[j]
        if p < 0:
            glob[:, j] = local[:, j]
            pos[:, j] = root
        else:
            pos[:, j] = pos[:, p] + glob[:, p] @ offsets[j]
            glob[:, j] = glob[:, p] @ local[:, j]
    return pos


def animate(action: int, performer: Performer, params: MotionParams, num_frames: int,
            fps: float = 30.0) -> np.ndarray:
    """Joint positions ``(T, 25, 3)`` in the body frame for class ``action`` (0-based label).

    The lower ankle stays on the floor (y = 0.09 m scaled) except during a jump's flight.
    """
    name, mirrored = _CLASS_PROGRAMS[action]
    tau = np.arange(num_frames) / fps
    dur = max(num_frames - 1, 1) / fps
    t0, t1 = params.onset * dur, params.end * dur
    p = np.clip((tau - t0) / max(t1 - t0, 1e-6), 0.0, 1.0)
    inside = (tau >= t0) & (tau <= t1)
    env = np.minimum(_smooth(p / params.ramp), _smooth((1 - p) / params.ramp)) * inside
    tm = _Timing(tau=tau, p=p, env=env, freq=params.frequency * performer.speed)
    pose = _Pose(num_frames)
    _idle(pose, tm, params)
    _PROGRAMS[name](pose, tm, params)
    if mirrored:
        # conjugating every rotation by the x-reflection and swapping sides mirrors the whole body
        pose.local = (_M @ pose.local @ _M)[:, list(MIRROR_JOINTS)]
        pose.root = pose.root @ _M
    offsets = rest_offsets(performer)
    pos = forward_kinematics(offsets, pose.local, offsets[0] + pose.root)
    floor = offsets[0, 1] + offsets[12, 1] + offsets[13, 1] + offsets[14, 1]  # rest ankle height
    pos[..., 1] += (floor - pos[:, _ANKLES, 1].min(axis=1))[:, None] + pose.lift[:, None]
    return pos


def mirror_body(joints: np.ndarray) -> np.ndarray:
    """Mirror body-frame joints ``(..., 25, 3)`` across the sagittal plane (x -> -x, swap sides)."""
    return (joints * np.array([-1.0, 1.0, 1.0]))[..., list(MIRROR_JOINTS), :]


__all__ = [
    "NUM_JOINTS", "JOINT_NAMES", "PARENTS", "MIRROR_JOINTS", "SYNTH_CLASSES", "CONFUSABLE", "Performer", "MotionParams",
    "sample_performer", "sample_motion_params", "rest_offsets", "forward_kinematics", "animate",
    "mirror_body", "rx", "ry", "rz",
]
