"""Value types passed between the live stages: a frame from a source, the colour camera's pinhole,
a person found in a frame by a pose backend, and a posed frame of a stream (for overlays).

Pixel coordinates follow :mod:`edgeact.geometry`: ``(x, y)`` with x to the right and y down,
pixel ``(i, j)`` covering ``[i, i+1) x [j, j+1)``. Camera-space points are metres with X right,
Y *up*, Z forward (the NTU/Kinect convention that :func:`edgeact.calibration.project` uses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole of the colour image, in pixels: ``x = fx * X / Z + ppx``, ``y = fy * Y_down / Z + ppy``
    (``Y_down = -Y`` for the Y-up camera space used here). Lens distortion is ignored."""

    fx: float
    fy: float
    ppx: float
    ppy: float
    width: int
    height: int


@dataclass(frozen=True)
class Frame:
    """One frame of a source.

    ``index``: 0-based frame number within the source; gaps where frames were dropped.
    ``t``: seconds since the start of the source (files: ``index / fps``; cameras: the device
    timestamp or the monotonic clock since the source was opened).
    ``image``: ``(H, W, 3)`` uint8 BGR.
    ``depth``: ``(H, W)`` uint16 aligned to ``image`` (0 = no depth), or None.
    ``depth_scale``: metres per depth unit (0 without depth).
    ``intrinsics``: the colour camera's pinhole, when the source knows it.
    ``position``: the frame's number within its file when that differs from ``index`` (a looped
    video restarts it each lap, while ``index`` keeps counting); None means ``index``.
    """

    index: int
    t: float
    image: np.ndarray
    depth: Optional[np.ndarray] = None
    depth_scale: float = 0.0
    intrinsics: Optional[Intrinsics] = None
    position: Optional[int] = None

    @property
    def file_index(self) -> int:
        """The frame's number within its file: ``position``, else ``index``."""
        return self.index if self.position is None else self.position

    @property
    def size(self) -> tuple[int, int]:
        """``(W, H)`` of the image."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True)
class Person:
    """A person in one frame.

    ``track``: id that stays with the person across frames (negative ids are transient: a
    detection the tracker has not confirmed yet; such an id is never reused).
    ``keypoints``: ``(J, 2)`` float32 pixels ``(x, y)`` in the source image; NaN where missing.
    ``scores``: ``(J,)`` float32 confidence in ``[0, 1]``.
    ``joints3d``: ``(J, 3)`` float32 metres, camera space, Y up (depth and skeleton backends);
    NaN where missing; None from 2D-only backends.
    """

    track: int
    keypoints: np.ndarray
    scores: np.ndarray
    joints3d: Optional[np.ndarray] = None


@dataclass(frozen=True)
class FrameEvent:
    """A posed frame of one stream, for overlays: the frame, its people and the stream's id."""

    frame: Frame
    people: list[Person]
    source: str = "cam0"
