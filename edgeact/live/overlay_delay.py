"""Overlay frames of a deterministic run, held back until the decision for their time is known.

Live, each overlay frame is drawn as it passes with the decisions known at that moment. In a
deterministic run (``--no-realtime``) a frame waits in a :class:`FrameDelay` (one per stream)
until the decision for its time is known, so frames posed before the first decision was ready
get it too.
"""

from __future__ import annotations

from collections import deque

from edgeact.live.decide import Decision
from edgeact.live.frames import FrameEvent


class FrameDelay:
    """Overlay frames of one stream, held until the decision for their time is known.

    Frames leave in order. A frame is ready once every tracked person in it has a decision at or
    after the frame's time (the first one, whose window contains the frame, is drawn), or once no
    decision can still cover it: a later frame was posed after the ring had let it go, and every
    window of the stream submitted by then has been classified. What is held is bounded: past
    ``max_bytes`` of frames the oldest is drawn with the decisions known so far (counted in
    ``early``)."""

    def __init__(self, seconds: float, max_bytes: float) -> None:
        self.seconds, self.max_bytes = seconds, max_bytes
        self._pending: deque[FrameEvent] = deque()
        self._marks: deque[tuple[int, int]] = deque()   # (oldest frame index in the ring, windows submitted)
        self._decisions: dict[int, list[Decision]] = {}
        self._handled = 0
        self._bytes = 0
        self._last_t = float("-inf")
        self.early = 0

    def frame(self, event: FrameEvent, oldest: int, submitted: int) -> None:
        self._last_t = event.frame.t
        self._pending.append(event)
        self._marks.append((oldest, submitted))
        self._bytes += event.frame.image.nbytes

    def decision(self, d: Decision) -> None:
        self._decisions.setdefault(d.track, []).append(d)

    def handled(self, n: int) -> None:
        """``n`` windows of the stream have been classified (their decisions handed on before)."""
        self._handled = n

    def release(self, final: bool = False) -> list[tuple[FrameEvent, dict[int, Decision]]]:
        """The frames ready to draw, each with the decision to draw per track; all of them when ``final``."""
        out = []
        while self._pending:
            known = self._known(self._pending[0])
            if not (known or final or self._bytes > self.max_bytes):
                break
            event = self._pending.popleft()
            self._bytes -= event.frame.image.nbytes
            self._drop_marks(event.frame.index)
            self.early += not (known or final)
            out.append((event, self._labels(event)))
        self._forget_used()
        return out

    def _known(self, event: FrameEvent) -> bool:
        f = event.frame
        tracks = {p.track for p in event.people if p.track >= 0}
        if all(any(d.t >= f.t - 1e-9 for d in self._decisions.get(k, ())) for k in tracks):
            return True
        self._drop_marks(f.index)
        return bool(self._marks) and self._handled >= self._marks[0][1]

    def _drop_marks(self, index: int) -> None:
        # a mark whose ring still held frame `index` cannot vouch for it or any later frame
        while self._marks and self._marks[0][0] <= index:
            self._marks.popleft()

    def _labels(self, event: FrameEvent) -> dict[int, Decision]:
        t = event.frame.t
        labels = {}
        for p in event.people:
            ds = self._decisions.get(p.track, ())
            after = next((d for d in ds if d.t >= t - 1e-9), None)
            before = next((d for d in reversed(ds) if d.t < t - 1e-9), None)
            if after is not None and after.t - t <= self.seconds + 1e-9:
                labels[p.track] = after
            elif before is not None and t - before.t <= 2 * self.seconds:   # as the live view forgets
                labels[p.track] = before
        return labels

    def _forget_used(self) -> None:
        # keep, per track, the decisions a held frame may still draw: from the last one before it on,
        # and none once that one is too old to be drawn (a person who left)
        t = self._pending[0].frame.t if self._pending else self._last_t    # no later frame is older
        for k in list(self._decisions):
            ds = self._decisions[k]
            used = max(0, sum(1 for d in ds if d.t < t - 1e-9) - 1)
            del ds[:used]
            if ds[-1].t < t - 2 * self.seconds:
                del self._decisions[k]
