"""The live loop: capture -> pose -> rolling windows -> classifier -> outputs, in decoupled stages.

Three worker threads and the caller's thread::

    reader      source.read()                  -> frame slot
    pose        pose(frame), WindowBank.push   -> job slot (+ overlay frame events)
    classifier  window_job_clips + runtime(...) -> decision events
    caller      sinks (Rich view, JSONL, overlay window / video), Ctrl-C

On a live source (camera, or a file paced in real time) every hand-over is a *slot* that keeps only
the newest item: a slow pose model skips frames instead of queueing them, and a window that is
still waiting when a newer window of the same person arrives is dropped as stale, so latency never
grows and memory stays bounded over hours. With ``--no-realtime`` every hand-over is a small
blocking queue instead: nothing is dropped and the run is deterministic (tests, batch jobs).

Overlay frames: live, each frame is drawn as it passes with the decisions known at that moment.
In a deterministic run a frame is held back until the decision for its time is known
(:class:`_FrameDelay`), so frames posed before the first decision was ready get it too.

Latency of a decision = time from the arrival of the window's newest frame to the decision.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol, Sequence

import numpy as np

from edgeact.data.clips import window_clips
from edgeact.errors import EdgeactError
from edgeact.geometry import Box, crop_box
from edgeact.live.decide import Decision, Interpreter
from edgeact.live.defaults import LIVE
from edgeact.live.frames import Frame, Person
from edgeact.live.window import WindowBank, WindowConfig, WindowJob
from edgeact.types import InputSpec


class Runtime(Protocol):
    """What the loop needs of a classifier (``edgeact.runtime.load_runtime`` returns one)."""

    input_spec: InputSpec

    def __call__(self, clips: Any) -> Sequence[np.ndarray]: ...


@dataclass(frozen=True)
class LiveConfig:
    window: WindowConfig = WindowConfig()
    test_sets: int = LIVE.test_sets     # frame sets averaged per decision (paper's test protocol: 5)
    topk: int = LIVE.topk
    threshold: float = LIVE.threshold   # below this top-1 probability a decision is shown as uncertain
    smooth: int = LIVE.smooth           # decisions averaged per track
    max_batch: int = 8          # windows per classifier call
    drop_stale: bool = True     # slots (live) or blocking queues (deterministic)


@dataclass(frozen=True)
class FrameEvent:
    """A posed frame, for overlays: people and the latest decision per visible track."""

    frame: Frame
    people: list[Person]


def window_job_clips(job: WindowJob, spec: InputSpec, *, num_sets: int = 1,
                     margin: float = 0.10) -> tuple[Optional[Any], Optional[Box]]:
    """``window_clips`` of a window as the ring stores it: ``(clips (num_sets, 3, T, S, S), box)``
    with ``box`` in source pixels. Frames kept as they are go straight through (the crops ``prep``
    makes); downscaled frames are cropped with the skeleton mapped to their scale, and the box is
    the one the source frames give."""
    sx, sy = job.scale
    if (sx, sy) == (1.0, 1.0):
        return window_clips(job.frames, job.points, spec, num_sets=num_sets, margin=margin)
    # per-axis scale: the stored frame's edges are exactly the source's, so capping agrees
    points = job.points * np.array([sx, sy], np.float32)
    clips, _ = window_clips(job.frames, points, spec, num_sets=num_sets, margin=margin)
    if clips is None:
        return None, None
    return clips, crop_box(job.points, job.source_size, margin)


class _FrameDelay:
    """Overlay frames of a deterministic run, held until the decision for their time is known.

    Frames leave in order. A frame is ready once every tracked person in it has a decision at or
    after the frame's time (the first one, whose window contains the frame, is drawn), or once no
    decision can still cover it: a later frame was posed after the ring had let it go, and every
    window submitted by then has been classified. What is held is bounded: past ``max_bytes`` of
    frames the oldest is drawn with the decisions known so far (counted in ``early``)."""

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


class _Slot:
    """Hands on the newest item only; ``put`` replaces what is waiting (counted as dropped).
    After :meth:`close`, ``get`` returns what is still waiting, then None."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._has = False
        self._closed = False
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._cond:
            if self._has:
                self.dropped += 1
            self._item, self._has = item, True
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def get(self, timeout: float = 0.1) -> Any:
        with self._cond:
            if not self._has and not self._closed:
                self._cond.wait(timeout)
            if self._has:
                item, self._item, self._has = self._item, None, False
                return item
            if self._closed:
                return None
            raise queue.Empty


class _Queue:
    """Blocking bounded queue with the slot's interface (nothing dropped)."""

    def __init__(self, size: int, stop: threading.Event) -> None:
        self._q: queue.Queue = queue.Queue(maxsize=size)
        self._stop = stop
        self.dropped = 0

    def put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        self.put(None)

    def get(self, timeout: float = 0.1) -> Any:
        return self._q.get(timeout=timeout)


class _JobSlot:
    """Pending windows keyed by track: a newer window of a track replaces (drops) the older one."""

    def __init__(self, drop: bool, stop: threading.Event) -> None:
        self._cond = threading.Condition()
        self._jobs: dict[int, WindowJob] = {}
        self._fifo: deque[WindowJob] = deque()
        self._drop, self._stop = drop, stop
        self.dropped = 0
        self.closed = False

    def put(self, job: WindowJob) -> None:
        with self._cond:
            if self._drop:
                if job.track in self._jobs:
                    self.dropped += 1
                self._jobs[job.track] = job
            else:
                while len(self._fifo) >= 16 and not self._stop.is_set():
                    self._cond.wait(0.1)
                self._fifo.append(job)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def take(self, n: int, timeout: float = 0.1) -> Optional[list[WindowJob]]:
        """Up to ``n`` jobs; ``[]`` on timeout; None once closed and empty."""
        with self._cond:
            if not self._jobs and not self._fifo:
                if self.closed:
                    return None
                self._cond.wait(timeout)
            if self._drop:
                keys = sorted(self._jobs, key=lambda k: self._jobs[k].captured)[:n]
                out = [self._jobs.pop(k) for k in keys]
            else:
                out = [self._fifo.popleft() for _ in range(min(n, len(self._fifo)))]
            self._cond.notify_all()
            if not out and self.closed and not self._jobs and not self._fifo:
                return None
            return out


class _Rate:
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


@dataclass
class LiveStats:
    """Counters and stage timings; read by the view, summarized at the end."""

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
    stage_seconds: dict = field(default_factory=lambda: {"read": 0.0, "pose": 0.0, "window": 0.0,
                                                         "preprocess": 0.0, "model": 0.0, "output": 0.0})
    model_calls: int = 0
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=1000))
    input_rate: _Rate = field(default_factory=_Rate)
    pose_rate: _Rate = field(default_factory=_Rate)
    decision_rate: _Rate = field(default_factory=_Rate)
    wall_seconds: float = 0.0
    source_seconds: float = 0.0
    status: str = ""

    def summary(self) -> dict:
        lat = np.array(self.latencies_ms) if self.latencies_ms else np.zeros(0)
        per = lambda k, n: 1000 * self.stage_seconds[k] / n if n else 0.0  # noqa: E731
        return {
            "frames": self.frames, "posed": self.posed, "decisions": self.decisions,
            "frames_without_person": self.empty_frames, "frames_dropped": self.frames_dropped,
            "windows_dropped": self.windows_dropped, "wall_seconds": round(self.wall_seconds, 3),
            "source_seconds": round(self.source_seconds, 3),
            "ms_per_frame": {"read": per("read", self.frames), "pose": per("pose", self.posed),
                             "window": per("window", self.posed)},
            "ms_per_decision": {"preprocess": per("preprocess", self.decisions),
                                "model": per("model", self.decisions)},
            "model_calls": self.model_calls,
            "latency_ms": {"p50": float(np.percentile(lat, 50)) if lat.size else None,
                           "p95": float(np.percentile(lat, 95)) if lat.size else None},
        }


class Sink(Protocol):
    """An output: gets every decision, optionally every posed frame, and a final close."""

    wants_frames: bool

    def decision(self, d: Decision) -> None: ...

    def frame(self, event: FrameEvent, latest: dict[int, Decision]) -> None: ...

    def tick(self, stats: LiveStats, latest: dict[int, Decision]) -> None: ...

    def close(self, stats: LiveStats) -> None: ...


@dataclass
class _Worker:
    thread: threading.Thread
    error: list = field(default_factory=list)


class LiveLoop:
    """One run over one source. ``run()`` blocks until the source ends, :meth:`stop` is called,
    a sink asks to stop (``sink.stop_requested``) or Ctrl-C; it returns the stats."""

    def __init__(self, source, pose: Callable[[Frame], list[Person]], runtime: Runtime, interpreter: Interpreter,
                 config: LiveConfig = LiveConfig(), sinks: Sequence[Sink] = (),
                 on_note: Optional[Callable[[str], None]] = None):
        self.source, self.pose, self.runtime, self.interp = source, pose, runtime, interpreter
        self.config, self.sinks, self.on_note = config, list(sinks), on_note
        self.spec: InputSpec = runtime.input_spec
        self.stats = LiveStats()
        self.latest: dict[int, Decision] = {}
        self._stop = threading.Event()
        drop = config.drop_stale
        self._frames = _Slot() if drop else _Queue(4, self._stop)
        self._jobs = _JobSlot(drop, self._stop)
        self._events: queue.Queue = queue.Queue()
        self._wants_frames = any(getattr(s, "wants_frames", False) for s in self.sinks)
        self._delay = (None if config.drop_stale or not self._wants_frames else
                       _FrameDelay(config.window.seconds, config.window.max_mb * 1e6))
        self._t0 = time.perf_counter()

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ stages (worker threads)

    def _reader(self) -> None:
        try:
            while not self._stop.is_set():
                t = time.perf_counter()
                frame = self.source.read()
                self.stats.stage_seconds["read"] += time.perf_counter() - t
                if frame is None:
                    break
                self.stats.frames += 1
                self.stats.input_rate.tick()
                self.stats.source_seconds = frame.t
                self._frames.put((frame, time.perf_counter()))
        finally:
            self._frames.close()

    def _poser(self) -> None:
        bank = WindowBank(self.config.window, fps=getattr(self.source, "fps", None), min_side=self.spec.resize)
        plan, submitted = None, 0
        try:
            while not self._stop.is_set():
                try:
                    item = self._frames.get()
                except queue.Empty:
                    continue
                if item is None:
                    break
                frame, captured = item
                t = time.perf_counter()
                people = self.pose(frame)
                t1 = time.perf_counter()
                self.stats.stage_seconds["pose"] += t1 - t
                self.stats.posed += 1
                self.stats.pose_rate.tick(t1)
                if people:
                    self.stats.people_frames += 1
                else:
                    self.stats.empty_frames += 1
                for job in bank.push(frame, people, captured):
                    self._jobs.put(job)
                    submitted += 1
                self.stats.stage_seconds["window"] += time.perf_counter() - t1
                if bank.plan is not plan:
                    plan = bank.plan
                    if plan.note:
                        self._events.put(("note", plan.note))
                if self._wants_frames:
                    self._post_frame((FrameEvent(frame, people), bank.oldest_index, submitted))
            if not self._stop.is_set():
                for job in bank.flush():
                    self._jobs.put(job)
        finally:
            self._jobs.close()

    def _post_frame(self, event: tuple[FrameEvent, int, int]) -> None:
        """Overlay frames for the caller's thread; a slow window or video writer makes live input
        skip overlay frames (and deterministic runs wait) instead of piling frames up."""
        while self._events.qsize() > 8 and not self._stop.is_set():
            if self.config.drop_stale:
                self.stats.overlay_dropped += 1
                return
            time.sleep(0.005)
        self._events.put(("frame", event))

    def _classifier(self) -> None:
        cfg = self.config
        handled = 0
        try:
            while not self._stop.is_set():
                jobs = self._jobs.take(cfg.max_batch)
                if jobs is None:
                    break
                if jobs:
                    self._classify(jobs)
                    handled += len(jobs)
                    self._events.put(("handled", handled))   # after the batch's decisions
        finally:
            self._events.put(("end", None))

    def _classify(self, jobs: list[WindowJob]) -> None:
        t = time.perf_counter()
        ready = []
        for job in jobs:
            clips, box = window_job_clips(job, self.spec, num_sets=self.config.test_sets,
                                          margin=self.config.window.margin)
            if clips is not None:
                ready.append((job, clips, box))
        t1 = time.perf_counter()
        self.stats.stage_seconds["preprocess"] += t1 - t
        if not ready:
            return
        import torch

        batch = torch.cat([c for _, c, _ in ready])
        heads = self.runtime(batch)
        t2 = time.perf_counter()
        self.stats.stage_seconds["model"] += t2 - t1
        self.stats.model_calls += 1
        k = self.config.test_sets
        for i, (job, _, box) in enumerate(ready):
            per = [np.asarray(h)[i * k:(i + 1) * k] for h in heads]
            latency = (time.perf_counter() - job.captured) * 1000
            d = self.interp.decide(job.track, per, t=job.t, box=box, latency_ms=latency,
                                   frame_index=job.frame_index, window_frames=len(job.frames))
            self.stats.decisions += 1
            self.stats.decision_rate.tick()
            self.stats.latencies_ms.append(latency)
            self._events.put(("decision", d))

    # ------------------------------------------------------------------ caller's thread

    def run(self) -> LiveStats:
        workers = [self._spawn(self._reader, "edgeact-reader"), self._spawn(self._poser, "edgeact-pose"),
                   self._spawn(self._classifier, "edgeact-classifier")]
        last_tick = 0.0
        sink_failed = False
        try:
            while True:
                self._raise_worker_error(workers)
                try:
                    kind, payload = self._events.get(timeout=0.05)
                except queue.Empty:
                    kind, payload = None, None
                t = time.perf_counter()
                if kind == "end":
                    break
                self._handle(kind, payload)
                if t - last_tick > 0.1:
                    last_tick = t
                    self._update_counters()
                    for s in self.sinks:
                        s.tick(self.stats, self.latest)
                self.stats.stage_seconds["output"] += time.perf_counter() - t
                if any(getattr(s, "stop_requested", False) for s in self.sinks):
                    break
        except BaseException as exc:
            sink_failed = not isinstance(exc, KeyboardInterrupt)
            raise
        finally:
            self._stop.set()
            for w in workers:
                w.thread.join(timeout=5.0)
            self._drain(frames=not sink_failed)
            self._update_counters()
            self.stats.wall_seconds = time.perf_counter() - self._t0
            for s in self.sinks:    # the final state, not the last periodic tick
                s.tick(self.stats, self.latest)
        self._raise_worker_error(workers)
        return self.stats

    def _handle(self, kind: Optional[str], payload: Any) -> None:
        """One event from the workers, in the caller's thread."""
        if kind == "decision":
            self._show(payload)
            if self._delay is not None:
                self._delay.decision(payload)
        elif kind == "note":
            self._note(payload)
        elif kind == "handled" and self._delay is not None:
            self._delay.handled(payload)
        elif kind == "frame":
            if self._delay is None:
                self._draw(payload[0], self.latest)
                return
            self._delay.frame(*payload)
        if self._delay is not None:
            for event, labels in self._delay.release():
                self._draw(event, labels)

    def _draw(self, event: FrameEvent, latest: dict[int, Decision]) -> None:
        for s in self.sinks:
            if s.wants_frames:
                s.frame(event, latest)

    def _drain(self, frames: bool = True) -> None:
        """Hand decisions already made (and, with ``frames``, the overlay frames held back) to the
        sinks, e.g. after Ctrl-C, so no output is lost."""
        while True:
            try:
                kind, payload = self._events.get_nowait()
            except queue.Empty:
                break
            if kind == "decision":
                self._show(payload)
                if self._delay is not None:
                    self._delay.decision(payload)
            elif kind == "frame" and frames and self._delay is not None:
                self._delay.frame(*payload)
            elif kind == "note":
                self.stats.notes.append(payload)
        if frames and self._delay is not None:
            for event, labels in self._delay.release(final=True):
                self._draw(event, labels)

    def _note(self, text: str) -> None:
        self.stats.notes.append(text)
        if self.on_note is not None:
            self.on_note(text)

    def _show(self, d: Decision) -> None:
        """Hand a decision to the sinks; people without a decision for two windows leave the view."""
        self.latest[d.track] = d
        horizon = 2 * self.config.window.seconds
        for tid in [k for k, v in self.latest.items() if d.t - v.t > horizon]:
            del self.latest[tid]
        for s in self.sinks:
            s.decision(d)

    def _update_counters(self) -> None:
        self.stats.frames_dropped = self._frames.dropped + getattr(self.source, "dropped", 0)
        self.stats.windows_dropped = self._jobs.dropped
        if self._delay is not None:
            self.stats.overlay_early = self._delay.early

    def _spawn(self, fn: Callable[[], None], name: str) -> _Worker:
        w = _Worker(thread=threading.Thread(target=lambda: None, name=name, daemon=True))

        def target() -> None:
            try:
                fn()
            except BaseException as exc:  # handed to the caller's thread, which raises it
                w.error.append(exc)
                self._stop.set()
                self._events.put(("end", None))

        w.thread = threading.Thread(target=target, name=name, daemon=True)
        w.thread.start()
        return w

    @staticmethod
    def _raise_worker_error(workers: list[_Worker]) -> None:
        for w in workers:
            if w.error:
                exc = w.error[0]
                if isinstance(exc, EdgeactError):
                    raise exc
                raise EdgeactError(f"{w.thread.name} stopped: {type(exc).__name__}: {exc}") from exc
