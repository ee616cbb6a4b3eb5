"""Per-person rolling windows over a live stream, and when to classify them.

One ring of recent frames is shared by every track (held by reference, copied only to downscale
them); each track remembers its skeleton per frame. A track's window is the shared frames from when
the track was first seen (or the ring's start, whichever is later) to now, with NaN joints on frames
where the person was missed, the same way a dataset clip is the whole video with the skeleton
union as its crop box. A window becomes a :class:`WindowJob` (what the classifier needs) once it
spans ``min_fill`` of ``seconds`` and ``stride`` has passed since the track's last job.

Memory is bounded: the ring drops frames older than ``seconds``, a track not seen for ``forget``
seconds is forgotten, and the frames the ring can hold never exceed ``max_mb``
(:func:`plan_frames`). A window that fits keeps the source frames themselves, so its crops are
exactly those ``prep`` makes; one that does not keeps every frame downscaled (``INTER_AREA``, the
aspect ratio kept) to the largest size that fits, and one that would need frames whose short side
is below the model's ``resize`` (where even a whole-frame crop would lose detail) is refused.
Measured on the demo clips (320x240, demo model, resize 72): frames kept at 252x189 agree on the
top-1 action 9/9 (largest probability change 0.13), at 97x73 8/9 (0.38).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from edgeact.errors import EdgeactError
from edgeact.live.frames import Frame, Person

if TYPE_CHECKING:
    from edgeact.geometry import Box
    from edgeact.types import InputSpec


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
            raise EdgeactError(f"{text!r} is not a number of frames (8) or seconds (0.5s)", param="stride") from None
        if not np.isfinite(value) or value <= 0 or (not is_sec and value != int(value)):
            raise EdgeactError(f"{text!r} must be a positive whole number of frames or seconds like 0.5s",
                               param="stride")
        return cls(value, is_sec)

    def __str__(self) -> str:
        return f"{self.value:g}s" if self.seconds else f"{int(self.value)} frames"


DEFAULT_MAX_WINDOW_MB = 1024.0      # frame memory of one live window, MB = 10**6 bytes
ASSUMED_FPS = 30.0                  # for sources that do not report a frame rate


@dataclass(frozen=True)
class WindowConfig:
    seconds: float = 1.6
    stride: Stride = Stride(0.5)
    min_fill: float = 0.75          # fraction of ``seconds`` a window must span before its first decision
    margin: float = 0.10            # crop box enlargement on each side (paper: 10 %)
    forget: Optional[float] = None  # seconds unseen before a track is dropped (default: ``seconds``)
    max_mb: float = DEFAULT_MAX_WINDOW_MB   # cap on the frame memory the ring holds (MB = 10**6 bytes)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.seconds) and self.seconds > 0):
            raise EdgeactError(f"{self.seconds!r} must be > 0", param="seconds")
        if not 0 < self.min_fill <= 1:
            raise EdgeactError(f"min_fill: {self.min_fill!r} must be in (0, 1]")
        if not (np.isfinite(self.max_mb) and self.max_mb > 0):
            raise EdgeactError(f"{self.max_mb!r} must be > 0", param="max_mb")


def _mb(nbytes: float) -> str:
    mb = nbytes / 1e6
    return f"{mb:.0f} MB" if mb >= 100 else f"{mb:.3g} MB"


def _size_with_short_side(size: tuple[int, int], short: int) -> tuple[int, int]:
    """``(W, H)`` scaled so its shorter side is ``short`` px, the aspect ratio kept (rounded)."""
    w, h = size
    return (max(1, round(w * short / h)), short) if w >= h else (short, max(1, round(h * short / w)))


@dataclass(frozen=True)
class FramePlan:
    """How the ring stores frames of ``source_size`` ``(W, H)``: at ``stored_size`` (equal when
    they fit), at most ``frames`` of them (``3 * W * H`` bytes each at ``stored_size``)."""

    source_size: tuple[int, int]
    stored_size: tuple[int, int]
    seconds: float
    frames: int
    fps: float
    fps_assumed: bool
    full_bytes: int
    stored_bytes: int
    cap_mb: float

    @property
    def downscaled(self) -> bool:
        return self.stored_size != self.source_size

    def _what(self) -> str:
        w, h = self.source_size
        fps = f"{self.fps:g} fps" + (" (assumed: the source reports none)" if self.fps_assumed else "")
        return f"a {self.seconds:g} s window of {w}x{h} frames at {fps} holds up to {self.frames} frames"

    @property
    def note(self) -> Optional[str]:
        """One line for the user when the frames are downscaled; None when they are kept as they are."""
        if not self.downscaled:
            return None
        w, h = self.stored_size
        return (f"{self._what()} = {_mb(self.full_bytes)}, over the {self.cap_mb:g} MB cap on the frames a "
                f"window holds: they are kept downscaled to {w}x{h} ({_mb(self.stored_bytes)}), so crops are resampled "
                f"twice and decisions can differ from full-size ones")


def plan_frames(config: WindowConfig, frame_size: tuple[int, int], fps: Optional[float], *,
                min_side: int = 1) -> FramePlan:
    """The storage of a window of ``config.seconds`` over frames ``frame_size = (W, H)`` at ``fps``.

    The ring holds the frames within ``seconds`` of the newest: ``floor(seconds * fps) + 1``, plus
    one for timestamp jitter. When they exceed ``config.max_mb`` at full size, the largest size
    (aspect ratio kept) whose frames fit is chosen; a size whose short side is below ``min_side``
    (the model's ``resize``: below it every crop would be enlarged) is refused with the figures, an
    error about ``config``'s ``seconds`` that points at its ``max_mb``."""
    assumed = not fps
    rate = float(fps) if fps else ASSUMED_FPS
    n = math.floor(config.seconds * rate + 1e-6) + 2
    w, h = (int(v) for v in frame_size)
    cap = config.max_mb * 1e6
    full = n * w * h * 3

    def plan(size: tuple[int, int]) -> FramePlan:
        stored = n * size[0] * size[1] * 3
        return FramePlan((w, h), size, config.seconds, n, rate, assumed, full, stored, config.max_mb)

    if full <= cap:
        return plan((w, h))
    short = min(w, h)
    least = min(short, max(1, int(min_side)))       # frames already smaller than the crop stay as they are
    m = min(short, math.floor(short * math.sqrt(cap / full)))
    while m >= least and plan(_size_with_short_side((w, h), m)).stored_bytes > cap:
        m -= 1                                      # rounding the long side can overshoot by a pixel
    if m < least:
        raise EdgeactError(_refusal(plan(_size_with_short_side((w, h), least)), min_side), param="seconds",
                           mention=("max_mb", "seconds"))
    return plan(_size_with_short_side((w, h), m))


def _refusal(smallest: FramePlan, min_side: int) -> str:
    lw, lh = smallest.stored_size
    floor = (f"even downscaled to {lw}x{lh} (short side = the model's crop size {min_side}) they need "
             f"{_mb(smallest.stored_bytes)}" if smallest.downscaled else
             f"the frames are no larger than the model's crop size {min_side}, so they are not downscaled")
    return (f"{smallest.seconds:g}: {smallest._what()} = {_mb(smallest.full_bytes)}, over {{max_mb}} "
            f"{smallest.cap_mb:g}; {floor}: shorten {{seconds}} or raise {{max_mb}}")


@dataclass
class WindowJob:
    """A window ready to classify. ``frames`` ``n`` images ``(h, w, 3)`` uint8 BGR as the ring
    stores them, ``points`` ``(n, J, 2)`` source pixels (NaN = missing), ``times`` ``(n,)`` source
    seconds; ``captured`` is the ``time.perf_counter()`` at which the newest frame arrived (for
    latency). ``source_size`` ``(W, H)`` is the source frames' size: ``(w, h)`` differs from it when
    the ring keeps frames downscaled (:attr:`scale`)."""

    track: int
    frames: list[np.ndarray]
    points: np.ndarray
    times: np.ndarray
    frame_index: int
    captured: float
    final: bool = False
    source_size: Optional[tuple[int, int]] = None

    @property
    def t(self) -> float:
        return float(self.times[-1])

    @property
    def scale(self) -> tuple[float, float]:
        """Stored pixels per source pixel ``(sx, sy)``; ``(1.0, 1.0)`` for frames kept as they are."""
        h, w = self.frames[0].shape[:2]
        if self.source_size is None:
            return 1.0, 1.0
        return w / self.source_size[0], h / self.source_size[1]


def window_job_clips(job: WindowJob, spec: "InputSpec", *, num_sets: int = 1,
                     margin: float = 0.10) -> tuple[Optional[Any], Optional["Box"]]:
    """``window_clips`` of a window as the ring stores it: ``(clips (num_sets, 3, T, S, S), box)``
    with ``box`` in source pixels. Frames kept as they are go straight through (the crops ``prep``
    makes); downscaled frames are cropped with the skeleton mapped to their scale, and the box is
    the one the source frames give."""
    from edgeact.data.clips import window_clips  # torch: not needed to read the window's defaults
    from edgeact.geometry import crop_box

    sx, sy = job.scale
    if (sx, sy) == (1.0, 1.0):
        return window_clips(job.frames, job.points, spec, num_sets=num_sets, margin=margin)
    # per-axis scale: the stored frame's edges are exactly the source's, so capping agrees
    points = job.points * np.array([sx, sy], np.float32)
    clips, _ = window_clips(job.frames, points, spec, num_sets=num_sets, margin=margin)
    if clips is None:
        return None, None
    return clips, crop_box(job.points, job.source_size, margin)


@dataclass
class _Track:
    first_index: int
    last_seen: float
    points: dict[int, np.ndarray] = field(default_factory=dict)   # frame index -> (J, 2)
    last_job_t: Optional[float] = None
    frames_since_job: int = 0


class WindowBank:
    """Rolling windows of every visible person. Feed it each posed frame with :meth:`push`.

    ``fps`` is the source's nominal rate and ``min_side`` the model's ``resize``, for
    :func:`plan_frames`; the plan is made from the first frame (and again if the frame size
    changes, which starts the ring afresh so no window mixes sizes)."""

    def __init__(self, config: WindowConfig, *, fps: Optional[float] = None, min_side: int = 1):
        self.config = config
        self.fps, self.min_side = fps, min_side
        self.plan: Optional[FramePlan] = None
        self._ring: deque[tuple[Frame, float]] = deque()    # (frame as stored, captured perf time)
        self._bytes = 0
        self._tracks: dict[int, _Track] = {}
        self._num_joints: Optional[int] = None

    @property
    def frames_held(self) -> int:
        return len(self._ring)

    @property
    def bytes_held(self) -> int:
        """Bytes of the images the ring holds."""
        return self._bytes

    def _store(self, frame: Frame) -> Frame:
        """The frame as the ring keeps it: without depth (the window never reads it), downscaled
        when the plan says so; the plan is (re)made for a new frame size."""
        if self.plan is None or frame.size != self.plan.source_size:
            self.plan = plan_frames(self.config, frame.size, self.fps, min_side=self.min_side)
            self._ring.clear()
            self._bytes = 0
        if self.plan.downscaled:
            import cv2

            small = cv2.resize(frame.image, self.plan.stored_size, interpolation=cv2.INTER_AREA)
            return replace(frame, image=small, depth=None)
        return replace(frame, depth=None) if frame.depth is not None else frame

    def _check_memory(self) -> None:
        # the plan sized frames for the nominal rate: a source delivering faster would grow past the cap
        cap = self.config.max_mb * 1e6
        if self._bytes > cap:
            p = self.plan
            rate = f"{p.fps:g} fps" + (" (assumed)" if p.fps_assumed else "")
            raise EdgeactError(f"{self.config.max_mb:g}: the live window holds {len(self._ring)} "
                               f"frames = {_mb(self._bytes)}, more than the {p.frames} planned for {rate}: "
                               "the source delivers frames faster; raise {max_mb}", param="max_mb", mention="max_mb")

    @property
    def tracks(self) -> list[int]:
        return sorted(self._tracks)

    def push(self, frame: Frame, people: list[Person], captured: float) -> list[WindowJob]:
        """Add a frame and its people; returns the windows due for a decision. Raises
        :class:`EdgeactError` when the window cannot hold its frames within ``max_mb``."""
        cfg = self.config
        stored = self._store(frame)
        self._ring.append((stored, captured))
        self._bytes += stored.image.nbytes
        while len(self._ring) > 1 and frame.t - self._ring[0][0].t > cfg.seconds + 1e-9:
            self._bytes -= self._ring.popleft()[0].image.nbytes
        self._check_memory()
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
                         captured=items[-1][1], final=final, source_size=self.plan.source_size)

    @property
    def oldest_index(self) -> int:
        """Index of the oldest frame the ring holds: no later window can include an earlier frame."""
        return self._ring[0][0].index if self._ring else -1
