"""What an NTU RGB+D 60/120 ``.skeleton`` file holds, as arrays: :class:`Skeleton` (all bodies of
one sample, time-aligned with its video) and :class:`SkeletonReport` (what reading it skipped or
found suspicious).

The ``.skeleton`` text format (Kinect v2, one file per sample)::

    <frame count>
    per frame:  <body count>
      per body: <bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence
                 handRightState isRestricted leanX leanY trackingState>      (10 values)
                <joint count>                                                (25)
                25 x <x y z depthX depthY colorX colorY orientW orientX orientY orientZ trackingState>

x y z are metres in camera space (Y up), depthX/Y pixels of the 512x424 depth image, colorX/Y
pixels of the 1920x1080 colour image (y down), trackingState 2 tracked / 1 inferred / 0 not.
:mod:`~edgeact.data.ntu.reader` reads it, :mod:`~edgeact.data.ntu.writer` writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np

from edgeact.errors import EdgeactError

NUM_JOINTS = 25
VALUES_PER_JOINT = 12     # numbers on a joint line
BODY_INFO_VALUES = 10     # numbers on a body-info line

@dataclass(frozen=True)
class DroppedBody:
    """A body id left out because the file has more than ``max_bodies`` bodies."""

    body_id: str
    frames: int          # frames it appears in
    usable_frames: int   # of those, frames with finite, not-all-zero joints


@dataclass(frozen=True)
class SkeletonReport:
    """What :func:`read_skeleton` skipped or found suspicious; empty for a clean file.

    Frame indices are 0-based (row of the arrays), not line numbers.
    """

    path: str = ""
    empty_frames: tuple[int, ...] = ()               # frames with zero bodies (kept as absent rows)
    dropped_bodies: tuple[DroppedBody, ...] = ()     # beyond max_bodies
    unusable_bodies: tuple[str, ...] = ()            # kept ids whose joints are all zero / non-finite in every frame
    unusable_entries: int = 0                        # (frame, kept body) entries with all-zero / non-finite joints
    duplicate_entries: int = 0                       # a body id listed again in the same frame: the repeat is ignored
    trailing_lines: int = 0                          # non-blank lines after the frames the header counts: ignored
    trailing_frames: int = 0                         # of those, whole frame blocks (the header undercounts)
    header_frames: int = 0                           # the frame count of line 1

    @property
    def damaged(self) -> Optional[str]:
        """Why the file cannot be trusted as a whole, or None: data after the frames its header
        counts means the header (or the file) is wrong, not a Kinect quirk."""
        if not self.trailing_lines:
            return None
        if self.trailing_frames:
            return (f"skeleton header counts {self.header_frames} frames, the file holds "
                    f"{self.header_frames + self.trailing_frames}")
        return f"skeleton has {self.trailing_lines} line(s) after the {self.header_frames} frames its header counts"

    @property
    def clean(self) -> bool:
        return not (self.empty_frames or self.dropped_bodies or self.unusable_bodies
                    or self.unusable_entries or self.duplicate_entries or self.trailing_lines)

    def summary(self) -> str:
        """One line for logs, e.g. ``2 empty frames; dropped body 7205... (3 frames)``."""
        parts = []
        if self.empty_frames:
            parts.append(f"{len(self.empty_frames)} frame(s) without a body")
        for d in self.dropped_bodies:
            parts.append(f"dropped body {d.body_id} ({d.frames} frames, {d.usable_frames} usable)")
        if self.unusable_bodies:
            parts.append("unusable (all-zero) bodies " + ", ".join(self.unusable_bodies))
        if self.unusable_entries:
            parts.append(f"{self.unusable_entries} all-zero body entries")
        if self.duplicate_entries:
            parts.append(f"{self.duplicate_entries} repeated body entries ignored")
        if self.trailing_frames:
            parts.append(f"{self.trailing_frames} frame(s) after the {self.header_frames} of the header ignored")
        if self.trailing_lines:
            parts.append(f"{self.trailing_lines} trailing line(s) ignored")
        return "; ".join(parts) if parts else "clean"


@dataclass(frozen=True)
class Skeleton:
    """All bodies of one NTU sample, time-aligned with the video (row t = video frame t).

    Arrays (T frames, B body slots, 25 joints):
      joints   ``(T, B, 25, 3)`` float32, metres, camera space (Y up); NaN where the body is absent
      depth_xy ``(T, B, 25, 2)`` float32, depth-image pixels (512x424); NaN where absent
      color_xy ``(T, B, 25, 2)`` float32, colour-image pixels (1920x1080, y down); NaN where absent
      tracking ``(T, B, 25)`` int8: 2 tracked, 1 inferred, 0 not tracked; -1 where absent
      present  ``(T, B)`` bool
    ``body_ids[b]`` is the exact id text of slot b.
    """

    joints: np.ndarray
    depth_xy: np.ndarray
    color_xy: np.ndarray
    tracking: np.ndarray
    body_ids: tuple[str, ...]
    present: np.ndarray
    report: SkeletonReport = SkeletonReport()

    def __post_init__(self) -> None:
        t, b = self.present.shape if self.present.ndim == 2 else (-1, -1)
        expect = {"joints": (t, b, NUM_JOINTS, 3), "depth_xy": (t, b, NUM_JOINTS, 2),
                  "color_xy": (t, b, NUM_JOINTS, 2), "tracking": (t, b, NUM_JOINTS)}
        if t < 0:
            raise EdgeactError(f"Skeleton.present must be (T, B), got shape {self.present.shape}")
        for name, shape in expect.items():
            if getattr(self, name).shape != shape:
                raise EdgeactError(f"Skeleton.{name} must have shape {shape}, got {getattr(self, name).shape}")
        if len(self.body_ids) != b:
            raise EdgeactError(f"Skeleton.body_ids has {len(self.body_ids)} ids for {b} body slots")

    @property
    def num_frames(self) -> int:
        return int(self.present.shape[0])

    @property
    def num_bodies(self) -> int:
        return int(self.present.shape[1])

    @property
    def valid(self) -> np.ndarray:
        """``(T, B)`` bool: present, all joint coordinates finite and not all zero."""
        j = self.joints
        return self.present & np.isfinite(j).all(axis=(2, 3)) & (j != 0).any(axis=(2, 3))

    @property
    def usable(self) -> bool:
        """At least one frame holds a body with finite, not-all-zero joints."""
        return bool(self.valid.any())

    @classmethod
    def build(cls, joints: np.ndarray, *, color_xy: Optional[np.ndarray] = None,
              depth_xy: Optional[np.ndarray] = None, tracking: Optional[np.ndarray] = None,
              body_ids: Optional[Iterable[str]] = None, present: Optional[np.ndarray] = None) -> "Skeleton":
        """A Skeleton from ``joints`` ``(T, B, 25, 3)`` with defaults for the rest (for writers and
        generators): ``present`` = any finite joint, pixel arrays 0 where present (Kinect's "no
        data"), tracking 2, ids ``"1", "2", ...``; everything absent is NaN / -1."""
        joints = np.asarray(joints, dtype=np.float32)
        if joints.ndim != 4 or joints.shape[2:] != (NUM_JOINTS, 3):
            raise EdgeactError(f"joints must be (T, B, 25, 3), got shape {joints.shape}")
        t, b = joints.shape[:2]
        if present is None:
            present = np.isfinite(joints).any(axis=(2, 3))
        present = np.asarray(present, dtype=bool)
        absent = ~present[..., None, None]

        def pixels(a: Optional[np.ndarray]) -> np.ndarray:
            a = np.zeros((t, b, NUM_JOINTS, 2), np.float32) if a is None else np.asarray(a, np.float32)
            return np.where(absent, np.float32(np.nan), a)

        trk = np.full((t, b, NUM_JOINTS), 2, np.int8) if tracking is None else np.asarray(tracking, np.int8)
        ids = tuple(str(i + 1) for i in range(b)) if body_ids is None else tuple(str(i) for i in body_ids)
        return cls(joints=np.where(absent, np.float32(np.nan), joints), depth_xy=pixels(depth_xy),
                   color_xy=pixels(color_xy), tracking=np.where(present[..., None], trk, np.int8(-1)),
                   body_ids=ids, present=present)


__all__ = ["NUM_JOINTS", "DroppedBody", "SkeletonReport", "Skeleton"]
