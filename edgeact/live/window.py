"""Per-person rolling windows over a live stream, and when to classify them.

One ring of recent frames is shared by every track (frames are held by reference, never copied);
each track remembers its skeleton per frame. A track's window is the shared frames from when the
track was first seen (or the ring's start, whichever is later) to now, with NaN joints on frames
where the person was missed, the same way a dataset clip is the whole video with the skeleton
union as its crop box. A window becomes a :class:`WindowJob` (what the classifier needs) once it
spans ``min_fill`` of ``seconds`` and ``stride`` has passed since the track's last job.

Memory is bounded: the ring drops frames older than ``seconds``, and a track not seen for ``forget`` seconds is forgotten.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from edgeact.errors import EdgeactError
from edgeact.live.frames import Frame, Person


@dataclass(frozen=True)
class Stride:
    """Decision period: ``value`` frames, or seconds when ``seconds`` is set."""

    value: float
    seconds: bool = True

    @classmethod
    def parse(cls, text: str) -> "Stride":
        """``"0.5s"`` -> every 0.5 s; ``"8"`` -> every 8 frames."""
        raw = text.strip().lower()
        is_sec = raw.endswith("s")
        try:
            value = float(raw[:-1] if is_sec else raw)
        except ValueError:
            raise EdgeactError(f"--stride: {text!r} is not a number of frames (8) or seconds (0.5s)") from None
        if not np.isfinite(value) or value <= 0 or (not is_sec and value != int(value)):
            raise EdgeactError(f"--stride: {text!r} must be a positive whole number of frames or seconds like 0.5s")
        return cls(value, is_sec)

    def __str__(self) -> str:
        return f"{self.value:g}s" if self.seconds else f"{int(self.value)} frames"


@dataclass(frozen=True)
class WindowConfig:
    seconds: float = 1.6
    stride: Stride = Stride(0.5)
    min_fill: float = 0.75          # fraction of ``seconds`` a window must span before its first decision
    margin: float = 0.10            # crop box enlargement on each side (paper: 10 %)
    forget: Optional[float] = None  # seconds unseen before a track is dropped (default: ``seconds``)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.seconds) and self.seconds > 0):
            raise EdgeactError(f"--window-seconds: {self.seconds!r} must be > 0")
        if not 0 < self.min_fill <= 1:
            raise EdgeactError(f"min_fill: {self.min_fill!r} must be in (0, 1]")


@dataclass
class WindowJob:
    """A window ready to classify. ``frames`` ``n`` images ``(H, W, 3)`` uint8 BGR, ``points``
    ``(n, J, 2)`` pixels (NaN = missing), ``times`` ``(n,)`` source seconds; ``captured`` is the
    ``time.perf_counter()`` at which the newest frame arrived (for latency)."""

    track: int
    frames: list[np.ndarray]
    points: np.ndarray
    times: np.ndarray
    frame_index: int
    captured: float
    final: bool = False

    @property
    def t(self) -> float:
        return float(self.times[-1])


@dataclass
class _Track:
    first_index: int
    last_seen: float
    points: dict[int, np.ndarray] = field(default_factory=dict)   # frame index -> (J, 2)
    last_job_t: Optional[float] = None
    frames_since_job: int = 0


class WindowBank:
    """Rolling windows of every visible person. Feed it each posed frame with :meth:`push`."""

    def __init__(self, config: WindowConfig):
        self.config = config
        self._ring: deque[tuple[Frame, float]] = deque()    # (frame, captured perf time)
        self._tracks: dict[int, _Track] = {}
        self._num_joints: Optional[int] = None

    @property
    def frames_held(self) -> int:
        return len(self._ring)

    @property
    def tracks(self) -> list[int]:
        return sorted(self._tracks)

    def push(self, frame: Frame, people: list[Person], captured: float) -> list[WindowJob]:
        """Add a frame and its people; returns the windows due for a decision."""
        cfg = self.config
        self._ring.append((frame, captured))
        while len(self._ring) > 1 and frame.t - self._ring[0][0].t > cfg.seconds + 1e-9:
            self._ring.popleft()
        for p in people:
            if p.track < 0:      # not tracked yet (transient id): no history to build on
                continue
            if self._num_joints is None:
                self._num_joints = p.keypoints.shape[0]
            tr = self._tracks.get(p.track)
            if tr is None:
                tr = self._tracks[p.track] = _Track(first_index=frame.index, last_seen=frame.t)
            tr.last_seen = frame.t
            tr.points[frame.index] = np.asarray(p.keypoints, np.float32)
        forget = cfg.forget if cfg.forget is not None else cfg.seconds
        for tid in [k for k, tr in self._tracks.items() if frame.t - tr.last_seen > forget]:
            del self._tracks[tid]
        jobs = []
        for tid, tr in self._tracks.items():
            tr.frames_since_job += 1
            oldest = self._ring[0][0].index
            for idx in [i for i in tr.points if i < oldest]:
                del tr.points[idx]
            if tr.last_seen != frame.t or not self._due(tr, frame):
                continue
            job = self._job(tid, tr)
            if job is not None:
                jobs.append(job)
        return jobs

    def flush(self) -> list[WindowJob]:
        """At the end of a source: a last window for every track seen since its last decision."""
        jobs = []
        for tid, tr in self._tracks.items():
            if tr.frames_since_job == 0 or not tr.points:
                continue
            job = self._job(tid, tr, final=True)
            if job is not None:
                jobs.append(job)
        return jobs

    def _due(self, tr: _Track, frame: Frame) -> bool:
        cfg = self.config
        start = self._window_start(tr)
        if start is None or frame.t - start[0].t < cfg.min_fill * cfg.seconds - 1e-9:
            return False
        if tr.last_job_t is None:
            return True
        if cfg.stride.seconds:
            return frame.t - tr.last_job_t >= cfg.stride.value - 1e-9
        return tr.frames_since_job >= cfg.stride.value

    def _window_start(self, tr: _Track) -> Optional[tuple[Frame, float]]:
        # the ring holds only the last `seconds`, so the window is the ring from the track's first frame
        return next((item for item in self._ring if item[0].index >= tr.first_index), None)

    def _job(self, tid: int, tr: _Track, final: bool = False) -> Optional[WindowJob]:
        items = [it for it in self._ring if it[0].index >= tr.first_index]
        if not items:
            return None
        j = self._num_joints or 1
        missing = np.full((j, 2), np.nan, np.float32)
        points = np.stack([tr.points.get(f.index, missing) for f, _ in items])
        tr.last_job_t, tr.frames_since_job = items[-1][0].t, 0
        return WindowJob(track=tid, frames=[f.image for f, _ in items], points=points,
                         times=np.array([f.t for f, _ in items]), frame_index=items[-1][0].index,
                         captured=items[-1][1], final=final)
