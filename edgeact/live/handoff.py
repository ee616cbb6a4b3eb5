"""Hand-overs between the live loop's threads: frames from the readers to the pose stage, windows
from the pose stage to the classifier.

Live (``drop=True``) every hand-over keeps only the newest item: a slow stage skips frames, and a
window still waiting when a newer window of the same person arrives is dropped as stale, so
latency never grows and memory stays bounded. Deterministic (``drop=False``) every hand-over is a
small blocking queue: nothing is dropped.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Hashable, Optional

FRAME_QUEUE = 4     # frames waiting per stream in a deterministic run
JOB_QUEUE = 16      # windows waiting in a deterministic run


class FrameInbox:
    """Frames of ``n`` streams for the pose stage, one thread putting per stream.

    Live, each stream has a slot keeping its newest frame (a replaced one counts in
    ``dropped[i]``) and :meth:`take` returns whatever is waiting, as soon as one stream has a
    frame. Deterministic, each stream has a queue of ``FRAME_QUEUE`` (``put`` blocks when it is
    full) and :meth:`take` returns the next frame of every open stream once each has one, so
    the pose stage sees the same batches on every run.
    """

    def __init__(self, n: int, drop: bool, stop: threading.Event) -> None:
        self._cond = threading.Condition()
        self._items: list[deque] = [deque() for _ in range(n)]
        self._open = [True] * n
        self._reported = [False] * n
        self._drop, self._stop = drop, stop
        self.dropped = [0] * n

    def put(self, i: int, item: Any) -> None:
        with self._cond:
            if self._drop:
                if self._items[i]:
                    self._items[i].clear()
                    self.dropped[i] += 1
            else:
                while len(self._items[i]) >= FRAME_QUEUE and not self._stop.is_set():
                    self._cond.wait(0.1)
            self._items[i].append(item)
            self._cond.notify_all()

    def close(self, i: int) -> None:
        """Stream ``i`` has no more frames (what is waiting is still handed on)."""
        with self._cond:
            self._open[i] = False
            self._cond.notify_all()

    def _ready(self) -> bool:
        pending = [i for i, q in enumerate(self._items) if q]
        if any(not o and not q and not r for o, q, r in zip(self._open, self._items, self._reported)):
            return True                     # a stream just ended: its windows are flushed now
        if self._drop:
            return bool(pending)
        waiting = [i for i, o in enumerate(self._open) if o or self._items[i]]
        return bool(waiting) and all(self._items[i] for i in waiting)

    def take(self, timeout: float = 0.1) -> Optional[tuple[dict[int, Any], list[int]]]:
        """``(items, ended)``: one frame per stream that has one, and the streams that ended since
        the last call (closed, nothing left); ``({}, [])`` on timeout; None once every stream has
        ended and been reported."""
        with self._cond:
            if not self._ready():
                if all(self._reported):
                    return None
                self._cond.wait(timeout)
                if not self._ready():
                    return ({}, []) if not all(self._reported) else None
            items = {i: q.popleft() for i, q in enumerate(self._items) if q}
            ended = [i for i, (o, q, r) in enumerate(zip(self._open, self._items, self._reported))
                     if not o and not q and not r]
            for i in ended:
                self._reported[i] = True
            self._cond.notify_all()
            return items, ended


class JobSlot:
    """Windows waiting for the classifier. Live, keyed by ``key`` (stream, track): a newer window
    of a key replaces (drops, counted per stream in ``dropped``) the waiting one, and
    :meth:`take` hands out the oldest first. Deterministic, a FIFO of ``JOB_QUEUE``."""

    def __init__(self, drop: bool, stop: threading.Event) -> None:
        self._cond = threading.Condition()
        self._jobs: dict[Hashable, tuple[Any, float]] = {}
        self._fifo: deque = deque()
        self._drop, self._stop = drop, stop
        self.dropped: dict[Any, int] = {}
        self.closed = False

    def put_many(self, items: list[tuple[Hashable, Any, float]]) -> None:
        """``(key, job, captured)`` items, together: the classifier can take them in one batch.
        ``key[0]`` is the stream the drop is counted for."""
        if not items:
            return
        with self._cond:
            for key, job, captured in items:
                if self._drop:
                    if key in self._jobs:
                        self.dropped[key[0]] = self.dropped.get(key[0], 0) + 1
                    self._jobs[key] = (job, captured)
                else:
                    while len(self._fifo) >= JOB_QUEUE and not self._stop.is_set():
                        self._cond.wait(0.1)
                    self._fifo.append((key, job))
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def take(self, n: int, timeout: float = 0.1) -> Optional[list[tuple[Hashable, Any]]]:
        """Up to ``n`` ``(key, job)``, oldest first; ``[]`` on timeout; None once closed and empty."""
        with self._cond:
            if not self._jobs and not self._fifo:
                if self.closed:
                    return None
                self._cond.wait(timeout)
            if self._drop:
                keys = sorted(self._jobs, key=lambda k: self._jobs[k][1])[:n]
                out = [(k, self._jobs.pop(k)[0]) for k in keys]
            else:
                out = [self._fifo.popleft() for _ in range(min(n, len(self._fifo)))]
            self._cond.notify_all()
            if not out and self.closed and not self._jobs and not self._fifo:
                return None
            return out
