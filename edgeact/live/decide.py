"""From classifier logits to a decision: softmax, averaging over frame sets, smoothing over the
last few decisions of a track, top-k labels per head, and an explicit "uncertain" state.

Superclasses have no names of their own; a superclass is labelled by its member actions
(``"wave left hand / raise left arm"``, or the first two and ``+N`` more for large groups).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from edgeact.data.classes import ClassList
from edgeact.errors import EdgeactError
from edgeact.hierarchy import level_probs
from edgeact.live.defaults import LIVE

SUPERCLASS_SOURCES = ("fine", "heads")


def check_superclass_source(name: str) -> str:
    """``name`` if it is one of :data:`SUPERCLASS_SOURCES`, else a one-line error."""
    if name not in SUPERCLASS_SOURCES:
        raise EdgeactError(f"{name}: choose one of {', '.join(SUPERCLASS_SOURCES)}", param="superclasses")
    return name


@dataclass(frozen=True)
class Scored:
    label: str
    p: float

    def to_json(self) -> dict:
        return {"label": self.label, "p": round(float(self.p), 4)}


@dataclass(frozen=True)
class Decision:
    """One decision for one person. ``box`` is the crop box ``(x0, y0, x1, y1)`` in source pixels;
    ``fine`` the top-k fine actions; ``levels`` the top-k superclasses per level, coarse to fine;
    ``t`` source seconds of the newest frame in the window; ``source`` the id of the stream the
    person is in (track ids are unique within a stream)."""

    t: float
    track: int
    box: tuple[float, float, float, float]
    fine: tuple[Scored, ...]
    levels: tuple[tuple[Scored, ...], ...]
    latency_ms: float
    uncertain: bool
    frame_index: int = -1
    window_frames: int = 0
    source: str = "cam0"

    @property
    def label(self) -> str:
        return self.fine[0].label

    def to_json(self) -> dict:
        return {"source": self.source, "t": round(self.t, 4), "track": int(self.track),
                "box": [round(float(v), 1) for v in self.box],
                "fine": [s.to_json() for s in self.fine],
                "levels": [[s.to_json() for s in lv] for lv in self.levels],
                "latency_ms": round(self.latency_ms, 2), "uncertain": self.uncertain,
                "frame": self.frame_index, "window_frames": self.window_frames}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, C)`` logits, computed stably in float64."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def superclass_names(assignment: Sequence[int], classes: ClassList, max_members: int = 2) -> list[str]:
    """Label of each superclass of one level from its member actions."""
    groups: dict[int, list[str]] = {}
    for c, g in enumerate(assignment):
        groups.setdefault(int(g), []).append(classes.names[c])
    out = []
    for g in range(max(groups) + 1 if groups else 0):
        members = groups.get(g, [])
        if len(members) <= max_members + 1:
            out.append(" / ".join(members) or f"superclass {g}")
        else:
            out.append(" / ".join(members[:max_members]) + f" +{len(members) - max_members}")
    return out


class Interpreter:
    """Turns per-head logits of one window into a :class:`Decision`, smoothing per track.

    ``hierarchy`` is the artifact's ``{"assignments": [[...], ...]}`` (one list per superclass
    head, coarse to fine) or None for a model without superclass heads.

    ``superclasses``: ``"fine"`` (default) scores each superclass by the summed probabilities of
    its member actions under the fine head, so the superclasses shown always agree with the fine
    action; ``"heads"`` shows each superclass head's own output (the paper's auxiliary heads, which
    can disagree with the fine head). A model without a hierarchy shows its heads either way.
    ``topk``, ``threshold``, ``smooth`` and ``superclasses`` default to ``edgeact live``'s
    (:data:`edgeact.live.defaults.LIVE`).
    """

    def __init__(self, classes: ClassList, hierarchy: Optional[dict], *, topk: int = LIVE.topk,
                 threshold: float = LIVE.threshold, smooth: int = LIVE.smooth, forget_after: float = 10.0,
                 superclasses: str = LIVE.superclasses):
        check_superclass_source(superclasses)
        self.classes = classes
        assignments = (hierarchy or {}).get("assignments") or []
        self.assignments = [np.asarray(a, np.int64) for a in assignments]
        self.from_fine = superclasses == "fine" and bool(assignments)
        self.level_names = [superclass_names(a, classes) for a in assignments]
        self.topk, self.threshold, self.smooth = max(1, topk), threshold, max(1, smooth)
        self.forget_after = forget_after     # source seconds without a decision before a track's history goes
        self._history: dict[int, deque] = {}
        self._last_t: dict[int, float] = {}

    @property
    def tracks(self) -> list[int]:
        return sorted(self._history)

    def probabilities(self, heads: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-head logits ``(K, M_l)`` over K frame sets -> mean softmax ``(M_l,)`` per head."""
        return [softmax(h).mean(axis=0) for h in heads]

    def decide(self, track: int, heads: Sequence[np.ndarray], *, t: float, box, latency_ms: float,
               frame_index: int = -1, window_frames: int = 0) -> Decision:
        probs = self.probabilities(heads)
        # people come and go over hours: drop the history of tracks not decided on for a while
        for old in [k for k, last in self._last_t.items() if t - last > self.forget_after]:
            del self._history[old], self._last_t[old]
        self._last_t[track] = t
        hist = self._history.setdefault(track, deque(maxlen=self.smooth))
        hist.append(probs)
        probs = [np.mean([h[i] for h in hist], axis=0) for i in range(len(probs))]
        fine = self._top(probs[-1], self.classes.names)
        supers = level_probs(probs[-1][None], self.assignments) if self.from_fine else probs[:-1]
        supers = [p.reshape(-1) for p in supers]
        levels = tuple(self._top(p, self.level_names[i] if i < len(self.level_names) else
                                 [f"superclass {k}" for k in range(len(p))])
                       for i, p in enumerate(supers))
        return Decision(t=t, track=track, box=tuple(float(v) for v in box), fine=fine, levels=levels,
                        latency_ms=latency_ms, uncertain=fine[0].p < self.threshold,
                        frame_index=frame_index, window_frames=window_frames)

    def _top(self, p: np.ndarray, names: Sequence[str]) -> tuple[Scored, ...]:
        order = np.argsort(-p, kind="stable")[: self.topk]
        return tuple(Scored(str(names[i]), float(p[i])) for i in order)
