"""Counters, rates and latencies of a live run: one :class:`LiveStats` per stream (``source`` =
its id) and one for the whole run (``source == ""``, the sums, with the streams in ``sources``)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

DEFAULT_SOURCE = "cam0"     # the id of a run's only stream, and of the first command-line source


class Rate:
    """Events per second over the last few seconds."""

    def __init__(self, horizon: float = 2.0) -> None:
        self._times: deque[float] = deque()
        self._horizon = horizon

    def tick(self, now: Optional[float] = None) -> None:
        now = time.perf_counter() if now is None else now
        self._times.append(now)
        while self._times and now - self._times[0] > self._horizon:
            self._times.popleft()

    @property
    def rate(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


def _stage_seconds() -> dict:
    return {"read": 0.0, "pose": 0.0, "window": 0.0, "preprocess": 0.0, "model": 0.0, "output": 0.0}


@dataclass
class LiveStats:
    """Counters and stage timings; read by the view, summarized at the end.

    A stream's stats count its own frames, decisions, drops, rates and latencies (``status``:
    ``""`` while it runs, ``"ended"`` or ``"stopped: why"`` after). The run's stats hold the sums
    and what streams share: pose and classifier stage times, ``model_calls`` and
    ``windows_classified`` (their ratio is the classifier's mean batch, :attr:`batch_mean`).
    """

    source: str = DEFAULT_SOURCE
    frames: int = 0
    posed: int = 0
    decisions: int = 0
    people_frames: int = 0
    empty_frames: int = 0
    frames_dropped: int = 0
    windows_dropped: int = 0
    overlay_dropped: int = 0
    overlay_early: int = 0      # deterministic overlay frames drawn before their decision (delay bound)
    notes: list = field(default_factory=list)
    stage_seconds: dict = field(default_factory=_stage_seconds)
    model_calls: int = 0
    pose_calls: int = 0
    windows_classified: int = 0
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=1000))
    input_rate: Rate = field(default_factory=Rate)
    pose_rate: Rate = field(default_factory=Rate)
    decision_rate: Rate = field(default_factory=Rate)
    wall_seconds: float = 0.0
    source_seconds: float = 0.0
    status: str = ""
    sources: dict = field(default_factory=dict)     # the run's stats: stream id -> its LiveStats

    @property
    def batch_mean(self) -> float:
        """Windows per classifier call (0 before the first)."""
        return self.windows_classified / self.model_calls if self.model_calls else 0.0

    def add(self, other: "LiveStats") -> None:
        """Add a stream's counters to the run's."""
        for name in ("frames", "posed", "decisions", "people_frames", "empty_frames", "frames_dropped",
                     "windows_dropped", "overlay_dropped", "overlay_early"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.source_seconds = max(self.source_seconds, other.source_seconds)

    def summary(self) -> dict:
        lat = np.array(self.latencies_ms) if self.latencies_ms else np.zeros(0)
        per = lambda k, n: 1000 * self.stage_seconds[k] / n if n else 0.0  # noqa: E731
        out = {
            "frames": self.frames, "posed": self.posed, "decisions": self.decisions,
            "frames_without_person": self.empty_frames, "frames_dropped": self.frames_dropped,
            "windows_dropped": self.windows_dropped, "wall_seconds": round(self.wall_seconds, 3),
            "source_seconds": round(self.source_seconds, 3),
            "ms_per_frame": {"read": per("read", self.frames), "pose": per("pose", self.posed),
                             "window": per("window", self.posed)},
            "ms_per_decision": {"preprocess": per("preprocess", self.decisions),
                                "model": per("model", self.decisions)},
            "model_calls": self.model_calls, "batch_mean": round(self.batch_mean, 3),
            "latency_ms": {"p50": float(np.percentile(lat, 50)) if lat.size else None,
                           "p95": float(np.percentile(lat, 95)) if lat.size else None},
        }
        if len(self.sources) > 1:
            out["sources"] = {k: _stream_summary(s) for k, s in self.sources.items()}
        return out


def _stream_summary(s: LiveStats) -> dict:
    lat = np.array(s.latencies_ms) if s.latencies_ms else np.zeros(0)
    return {"frames": s.frames, "decisions": s.decisions, "frames_dropped": s.frames_dropped,
            "windows_dropped": s.windows_dropped, "status": s.status or "running",
            "latency_ms": {"p50": float(np.percentile(lat, 50)) if lat.size else None,
                           "p95": float(np.percentile(lat, 95)) if lat.size else None}}
