"""The live loop: capture -> pose -> rolling windows -> classifier -> outputs, for one or several
streams in one process, in decoupled stages.

One reader thread per stream, one pose thread and one classifier thread for all of them, and the
caller's thread::

    reader (one per stream)  source.read()                    -> FrameInbox
    pose                     newest frame of every stream, one batched pose call per backend
                             (tracker state per stream), WindowBank.push per stream -> JobSlot
    classifier               windows of all streams, oldest first, up to the runtime's batch
                             -> one runtime(...) call -> decisions (interpreter per stream)
    caller                   sinks (Rich view, JSONL, overlay window / video), Ctrl-C

Hand-overs (:mod:`edgeact.live.handoff`) keep only the newest item on a live source (camera, or a
file paced in real time): a slow pose model skips frames instead of queueing them, and a window
still waiting when a newer window of the same person of the same stream arrives is dropped as
stale, so latency never grows and memory stays bounded over hours. With ``--no-realtime`` they are
small blocking queues: nothing is dropped and the run is deterministic (tests, batch jobs).

Every output names its stream: decisions and frame events carry ``source`` (the stream id), track
ids are the stream's own (unique within it), and each sink gets ``tick(stats, latest)`` once per
stream with that stream's stats and decisions. A stream that ends or whose source fails ends
alone: its last windows are decided, a note names it, and the others run on; a failed stream's
error is raised when the run ends (a lost camera with ``exit_on_disconnect``: exit status 75).
Errors of the pose or classifier stage stop the run.

Overlay frames: live, each frame is drawn as it passes with the decisions known at that moment;
in a deterministic run a frame is held back until the decision for its time is known
(:class:`edgeact.live.overlay_delay.FrameDelay`).

Latency of a decision = time from the arrival of the window's newest frame to the decision.

This module is over 400 lines because :class:`LiveLoop` is one state shared by its four stages
(the reader, pose and classifier threads and the caller's event handling); what stands alone is
elsewhere: hand-overs, stats, the overlay delay, windows.
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, Sequence

import numpy as np

from edgeact.errors import EdgeactError
from edgeact.live.decide import Decision, Interpreter
from edgeact.live.defaults import LIVE
from edgeact.live.frames import Frame, FrameEvent, Person
from edgeact.live.handoff import FrameInbox, JobSlot
from edgeact.live.overlay_delay import FrameDelay
from edgeact.live.pose import pose_many
from edgeact.live.stats import LiveStats
from edgeact.live.window import WindowBank, WindowConfig, window_job_clips
from edgeact.types import InputSpec

if TYPE_CHECKING:
    from edgeact.runtime import Runtime

__all__ = ["LiveConfig", "LiveLoop", "LiveStats", "FrameEvent", "Sink", "Stream", "window_job_clips"]


@dataclass(frozen=True)
class LiveConfig:
    window: WindowConfig = WindowConfig()
    test_sets: int = LIVE.test_sets     # frame sets averaged per decision (paper's test protocol: 5)
    topk: int = LIVE.topk
    threshold: float = LIVE.threshold   # below this top-1 probability a decision is shown as uncertain
    smooth: int = LIVE.smooth           # decisions averaged per track
    max_batch: int = 8          # clips per classifier call (capped by the runtime's own max_batch)
    drop_stale: bool = True     # slots (live) or blocking queues (deterministic)


@dataclass(frozen=True)
class Stream:
    """One stream of a run: ``id`` (the ``source`` of its decisions), a source (``read() ->
    Frame | None``) and a pose backend (``pose(frame) -> list[Person]``; one with
    ``pose_batch(frames, keys)`` is called once for all streams sharing it, ``keys`` being the
    stream ids its tracker state is kept under)."""

    id: str
    source: Any
    pose: Callable[[Frame], list[Person]]


class Sink(Protocol):
    """An output: gets every decision (``d.source`` names its stream), optionally every posed
    frame (``event.source``; ``latest``: that stream's decision per track), a periodic ``tick``
    per stream (that stream's stats, ``stats.source``, and decisions) and a final close (the
    run's stats)."""

    wants_frames: bool

    def decision(self, d: Decision) -> None: ...

    def frame(self, event: FrameEvent, latest: dict[int, Decision]) -> None: ...

    def tick(self, stats: LiveStats, latest: dict[int, Decision]) -> None: ...

    def close(self, stats: LiveStats) -> None: ...


@dataclass
class _StreamState:
    """What the loop keeps of one stream."""

    stream: Stream
    stats: LiveStats
    interp: Interpreter
    latest: dict = field(default_factory=dict)          # track -> latest Decision
    delay: Optional[FrameDelay] = None
    error: Optional[BaseException] = None
    submitted: int = 0                                  # windows handed to the classifier (pose thread)


@dataclass
class _Worker:
    thread: threading.Thread
    error: list = field(default_factory=list)


class LiveLoop:
    """One run over one or several streams. ``run()`` blocks until every stream has ended,
    :meth:`stop` is called, a sink asks to stop (``sink.stop_requested``) or Ctrl-C; it returns
    the run's stats (per stream in ``stats.sources``).

    ``interpreter`` is copied for each stream (its smoothing history is per track, and track ids
    are per stream). Windows per classifier call: ``config.max_batch`` clips, or the runtime's
    ``max_batch`` when smaller, divided by ``test_sets`` (at least one window)."""

    def __init__(self, streams: Sequence[Stream], runtime: "Runtime", interpreter: Interpreter,
                 config: LiveConfig = LiveConfig(), sinks: Sequence[Sink] = (),
                 on_note: Optional[Callable[[str], None]] = None):
        ids = [s.id for s in streams]
        if not ids or len(set(ids)) != len(ids):
            raise EdgeactError(f"a live run needs one or more streams with distinct ids, got {ids}")
        self.runtime, self.config, self.sinks, self.on_note = runtime, config, list(sinks), on_note
        self.spec: InputSpec = runtime.input_spec
        self.stats = LiveStats(source="")
        self._wants_frames = any(getattr(s, "wants_frames", False) for s in self.sinks)
        delayed = not config.drop_stale and self._wants_frames
        self.streams = [_StreamState(s, LiveStats(source=s.id), copy.deepcopy(interpreter),
                                     delay=FrameDelay(config.window.seconds, config.window.max_mb * 1e6)
                                     if delayed else None) for s in streams]
        self.stats.sources = {st.stream.id: st.stats for st in self.streams}
        self._stop = threading.Event()
        self._inbox = FrameInbox(len(self.streams), config.drop_stale, self._stop)
        self._jobs = JobSlot(config.drop_stale, self._stop)
        self._events: queue.Queue = queue.Queue()
        limit = min(config.max_batch, getattr(runtime, "max_batch", None) or config.max_batch)
        self.windows_per_call = max(1, limit // max(1, config.test_sets))
        self._t0 = time.perf_counter()

    @property
    def latest(self) -> dict[str, dict[int, Decision]]:
        """Stream id -> track -> the latest decision still shown."""
        return {st.stream.id: st.latest for st in self.streams}

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ stages (worker threads)

    def _reader(self, i: int) -> None:
        st = self.streams[i]
        source, stats, run = st.stream.source, st.stats, self.stats
        try:
            while not self._stop.is_set():
                t = time.perf_counter()
                frame = source.read()
                run.stage_seconds["read"] += time.perf_counter() - t
                if frame is None:
                    break
                stats.frames += 1
                stats.input_rate.tick()
                run.input_rate.tick()
                stats.source_seconds = frame.t
                self._inbox.put(i, (frame, time.perf_counter()))
        except BaseException as exc:    # this stream ends; the others run on (raised at the end)
            st.error = exc
            self._events.put(("stream_error", (i, exc)))
        finally:
            self._inbox.close(i)

    def _poser(self) -> None:
        banks = [WindowBank(self.config.window, fps=getattr(st.stream.source, "fps", None),
                            min_side=self.spec.resize) for st in self.streams]
        plans: list = [None] * len(banks)
        run = self.stats
        try:
            while not self._stop.is_set():
                got = self._inbox.take()
                if got is None:
                    break
                items, ended = got
                jobs: list = []
                groups: dict[int, list[int]] = {}
                for i in items:
                    groups.setdefault(id(self.streams[i].stream.pose), []).append(i)
                for members in groups.values():
                    t = time.perf_counter()
                    backend = self.streams[members[0]].stream.pose
                    people = pose_many(backend, [items[i][0] for i in members],
                                        [self.streams[i].stream.id for i in members])
                    t1 = time.perf_counter()
                    run.stage_seconds["pose"] += t1 - t
                    run.pose_calls += 1
                    run.pose_rate.tick(t1)
                    for i, found in zip(members, people):
                        frame, captured = items[i]
                        jobs += self._window(i, banks[i], frame, found, captured, t1)
                        if banks[i].plan is not plans[i]:
                            plans[i] = banks[i].plan
                            if plans[i].note:
                                self._events.put(("note", self._named(i, plans[i].note)))
                    run.stage_seconds["window"] += time.perf_counter() - t1
                for i in ended:
                    if not self._stop.is_set():
                        jobs += [((i, job.track), job, job.captured) for job in banks[i].flush()]
                    self._events.put(("stream_end", i))
                self._jobs.put_many(jobs)
        finally:
            self._jobs.close()

    def _window(self, i: int, bank: WindowBank, frame: Frame, people: list[Person], captured: float,
                now: float) -> list:
        """Stream ``i``'s bookkeeping for one posed frame; its windows due for a decision."""
        st = self.streams[i]
        stats = st.stats
        stats.posed += 1
        stats.pose_rate.tick(now)
        if people:
            stats.people_frames += 1
        else:
            stats.empty_frames += 1
        due = bank.push(frame, people, captured)
        st.submitted += len(due)
        if self._wants_frames:
            self._post_frame((i, FrameEvent(frame, people, st.stream.id), bank.oldest_index, st.submitted))
        return [((i, job.track), job, job.captured) for job in due]

    def _post_frame(self, event: tuple) -> None:
        """Overlay frames for the caller's thread; a slow window or video writer makes live input
        skip overlay frames (and deterministic runs wait) instead of piling frames up."""
        while self._events.qsize() > 8 * len(self.streams) and not self._stop.is_set():
            if self.config.drop_stale:
                self.streams[event[0]].stats.overlay_dropped += 1
                return
            time.sleep(0.005)
        self._events.put(("frame", event))

    def _classifier(self) -> None:
        handled = [0] * len(self.streams)
        try:
            while not self._stop.is_set():
                jobs = self._jobs.take(self.windows_per_call)
                if jobs is None:
                    break
                if jobs:
                    self._classify(jobs)
                    for (i, _), _ in jobs:
                        handled[i] += 1
                    for i in {key[0] for key, _ in jobs}:
                        self._events.put(("handled", (i, handled[i])))   # after the batch's decisions
        finally:
            self._events.put(("end", None))

    def _classify(self, jobs: list) -> None:
        t = time.perf_counter()
        ready = []
        for (i, _), job in jobs:
            clips, box = window_job_clips(job, self.spec, num_sets=self.config.test_sets,
                                          margin=self.config.window.margin)
            if clips is not None:
                ready.append((i, job, clips, box))
        t1 = time.perf_counter()
        run = self.stats
        run.stage_seconds["preprocess"] += t1 - t
        if not ready:
            return
        import torch

        heads = self.runtime(torch.cat([c for _, _, c, _ in ready]))
        t2 = time.perf_counter()
        run.stage_seconds["model"] += t2 - t1
        run.model_calls += 1
        run.windows_classified += len(ready)
        k = self.config.test_sets
        for n, (i, job, _, box) in enumerate(ready):
            st = self.streams[i]
            per = [np.asarray(h)[n * k:(n + 1) * k] for h in heads]
            latency = (time.perf_counter() - job.captured) * 1000
            d = st.interp.decide(job.track, per, t=job.t, box=box, latency_ms=latency,
                                 frame_index=job.frame_index, window_frames=len(job.frames))
            d = replace(d, source=st.stream.id)
            st.stats.decisions += 1     # the run's count is the streams' sum (_update_counters)
            for s in (st.stats, run):
                s.decision_rate.tick()
                s.latencies_ms.append(latency)
            self._events.put(("decision", (i, d)))

    # ------------------------------------------------------------------ caller's thread

    def run(self) -> LiveStats:
        workers = [self._spawn(lambda i=i: self._reader(i), f"edgeact-reader-{st.stream.id}")
                   for i, st in enumerate(self.streams)]
        workers += [self._spawn(self._poser, "edgeact-pose"), self._spawn(self._classifier, "edgeact-classifier")]
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
                    self._tick()
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
            self.stats.wall_seconds = time.perf_counter() - self._t0
            self._tick()        # the final state, not the last periodic tick
        self._raise_worker_error(workers)
        self._raise_stream_error()
        return self.stats

    def _tick(self) -> None:
        self._update_counters()
        for st in self.streams:
            st.stats.wall_seconds = time.perf_counter() - self._t0
            for s in self.sinks:
                s.tick(st.stats, st.latest)

    def _handle(self, kind: Optional[str], payload: Any) -> None:
        """One event from the workers, in the caller's thread."""
        if kind == "decision":
            i, d = payload
            self._show(i, d)
            if self.streams[i].delay is not None:
                self._release(i)
        elif kind == "note":
            self._note(payload)
        elif kind == "stream_end":
            self._stream_end(payload)
        elif kind == "stream_error":
            i, exc = payload
            self.streams[i].stats.status = f"stopped: {_why(exc)}"
            if any(not other.stats.status for other in self.streams):
                self._note(self._named(i, f"stopped ({_why(exc)}); the other streams run on"))
        elif kind == "handled":
            i, n = payload
            if self.streams[i].delay is not None:
                self.streams[i].delay.handled(n)
                self._release(i)
        elif kind == "frame":
            i, event, oldest, submitted = payload
            delay = self.streams[i].delay
            if delay is None:
                self._draw(event, self.streams[i].latest)
            else:
                delay.frame(event, oldest, submitted)
                self._release(i)

    def _release(self, i: int, final: bool = False) -> None:
        for event, labels in self.streams[i].delay.release(final=final):
            self._draw(event, labels)

    def _stream_end(self, i: int) -> None:
        st = self.streams[i]
        if not st.stats.status:
            st.stats.status = "ended"
            if any(not other.stats.status for other in self.streams) and not self._stop.is_set():
                self._note(self._named(i, "ended; the other streams run on"))

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
                self._show(*payload)
            elif kind == "frame" and frames and self.streams[payload[0]].delay is not None:
                self.streams[payload[0]].delay.frame(*payload[1:])
            elif kind == "note":
                self.stats.notes.append(payload)
            elif kind == "stream_error":
                self.streams[payload[0]].stats.status = f"stopped: {_why(payload[1])}"
        if frames:
            for i, st in enumerate(self.streams):
                if st.delay is not None:
                    self._release(i, final=True)

    def _named(self, i: int, text: str) -> str:
        return f"{self.streams[i].stream.id}: {text}" if len(self.streams) > 1 else text

    def _note(self, text: str) -> None:
        self.stats.notes.append(text)
        if self.on_note is not None:
            self.on_note(text)

    def _show(self, i: int, d: Decision) -> None:
        """Hand a decision to the sinks; people without a decision for two windows leave the view."""
        st = self.streams[i]
        st.latest[d.track] = d
        horizon = 2 * self.config.window.seconds
        for tid in [k for k, v in st.latest.items() if d.t - v.t > horizon]:
            del st.latest[tid]
        if st.delay is not None:
            st.delay.decision(d)
        for s in self.sinks:
            s.decision(d)

    def _update_counters(self) -> None:
        run = self.stats
        for name in ("frames", "posed", "decisions", "people_frames", "empty_frames", "frames_dropped",
                     "windows_dropped", "overlay_dropped", "overlay_early"):
            setattr(run, name, 0)
        run.source_seconds = 0.0
        for i, st in enumerate(self.streams):
            s = st.stats
            s.frames_dropped = self._inbox.dropped[i] + getattr(st.stream.source, "dropped", 0)
            s.windows_dropped = self._jobs.dropped.get(i, 0)
            if st.delay is not None:
                s.overlay_early = st.delay.early
            run.add(s)

    def _raise_stream_error(self) -> None:
        for st in self.streams:
            if st.error is not None:
                exc = st.error
                if isinstance(exc, EdgeactError):
                    raise exc
                name = f"edgeact-reader-{st.stream.id}"
                raise EdgeactError(f"{name} stopped: {type(exc).__name__}: {exc}") from exc

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


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__

