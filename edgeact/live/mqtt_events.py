"""The MQTT action events: new/update/end per person track from the live loop's decisions
(:class:`ActionTracker`; topics and payloads in :mod:`edgeact.live.mqtt`). No network.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Optional


@dataclass
class _Open:
    """A track's open event."""

    id: str
    source: str
    track: int
    action: str
    score: float
    start: float
    decision: dict


class ActionTracker:
    """new/update/end events per ``(source, track)`` from decisions (see :mod:`edgeact.live.mqtt`).

    ``level``: None for the fine action, else a superclass level (1 = coarsest). ``end_after``:
    source seconds without a decision after which a track's event ends.
    """

    def __init__(self, *, level: Optional[int] = None, end_after: float = 4.0, run_id: Optional[str] = None):
        self.level, self.end_after = level, end_after
        self.run_id = run_id or f"{int(time.time())}-{os.getpid()}"
        self._open: dict[tuple[str, int], _Open] = {}
        self._count = 0

    def label(self, d) -> Optional[tuple[str, float]]:
        """``(action, score)`` of a decision at the tracker's level, None when uncertain."""
        if d.uncertain:
            return None
        if self.level is None:
            return d.fine[0].label, float(d.fine[0].p)
        lv = d.levels[self.level - 1] if self.level - 1 < len(d.levels) else ()
        return (lv[0].label, float(lv[0].p)) if lv else None

    def decision(self, source: str, d) -> list[dict]:
        key = (source, int(d.track))
        labelled = self.label(d)
        cur = self._open.get(key)
        if cur is None:
            if labelled is None:
                return []
            self._count += 1
            cur = _Open(f"{self.run_id}-{self._count}", source, int(d.track), labelled[0], labelled[1], d.t,
                        d.to_json())
            self._open[key] = cur
            return [self._event("new", cur, None, self._state(cur))]
        before = self._state(cur)
        cur.decision = d.to_json()
        if labelled is None:
            return []
        if labelled[0] == cur.action:
            cur.score = labelled[1]
            return []
        cur.action, cur.score, cur.start = labelled[0], labelled[1], d.t
        return [self._event("update", cur, before, self._state(cur))]

    def expire(self, source: str, now: float) -> list[dict]:
        """End the events of ``source``'s tracks without a decision for ``end_after`` seconds
        before ``now`` (source seconds)."""
        gone = [k for k, v in self._open.items() if k[0] == source and now - v.decision["t"] > self.end_after]
        return [self._end(k) for k in gone]

    def end_all(self) -> list[dict]:
        return [self._end(k) for k in list(self._open)]

    def current(self, source: str) -> list[dict]:
        """The open events of ``source``, for its state."""
        return [{"id": v.id, "track": v.track, "action": v.action, "score": round(v.score, 4),
                 "start": round(v.start, 3), "t": v.decision["t"]}
                for k, v in sorted(self._open.items()) if k[0] == source]

    def _end(self, key) -> dict:
        cur = self._open.pop(key)
        before = self._state(cur)
        return self._event("end", cur, before, {**before, "end": cur.decision["t"]})

    def _state(self, cur: _Open) -> dict:
        return {**cur.decision, "source": cur.source, "action": cur.action, "score": round(cur.score, 4),
                "level": "fine" if self.level is None else self.level, "start": round(cur.start, 3), "end": None}

    def _event(self, kind: str, cur: _Open, before: Optional[dict], after: dict) -> dict:
        return {"type": kind, "id": cur.id, "source": cur.source, "track": cur.track, "before": before,
                "after": after}
