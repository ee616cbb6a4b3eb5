"""``edgeact live`` as a library call: options -> source, pose backend, runtime, sinks -> run.

The CLI only parses flags into :class:`LiveOptions` and calls :func:`run_live`. The demo
(:mod:`edgeact.live.demo`) and ``edgeact bench live`` drive the same :func:`run_loop`.

Start-up order: the checks that need no device (:func:`check_options`, :func:`check_pose_options`),
then the source, then the classifier, then the pose model. A missing file or camera is reported
before anything slow loads or anything downloads.

This module runs them: the sinks the options ask for (:func:`build_sinks`) and the loop
(:func:`run_live`, :func:`run_loop`, :func:`run_streams`). The options and their checks are in
:mod:`edgeact.live.options`, the opening of the source, pose backend and classifier in
:mod:`edgeact.live.inputs`; the names callers use are re-exported here.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from edgeact.errors import EdgeactError
from edgeact.live.decide import Interpreter
from edgeact.live.inputs import (
    check_pose_options,
    end_warnings,
    open_classifier,
    open_stream,
    replay_warnings,
    stream_poses,
)
from edgeact.live.options import (
    LiveOptions,
    check_options,
    check_stream_outputs,
    live_config,
    stream_options,
    window_seconds_for,
)
from edgeact.live.pipeline import LiveLoop, LiveStats, Stream
from edgeact.live.stats import DEFAULT_SOURCE
from edgeact.runtime.loader import DEMO_MODEL, resolve_model  # (the one home of `--model demo`)

__all__ = [
    "DEMO_MODEL", "LiveOptions", "build_sinks", "check_options", "note", "open_classifier", "resolve_model",
    "run_live", "run_loop", "run_streams",
]


def build_sinks(opts: LiveOptions, runtime, console, *, fps, title: str, start=None,
                sections: Optional[dict] = None) -> list:
    """The outputs the options ask for; ``start`` is what the JSONL start line records of the run
    (model, source, pose), or one such dict per stream; with several streams ``fps`` is their
    rates by id and ``sections`` their titles in the view, by id."""
    from edgeact.live.output import JsonlSink, OverlaySink, RichView

    sinks: list = []
    if opts.jsonl is not None:
        sinks.append(JsonlSink(opts.jsonl, start=start))
    if opts.show or opts.save is not None:
        sinks.append(OverlaySink(show=opts.show, save=opts.save, fps=fps or 30.0, several=sections is not None))
    if not opts.quiet and console is not None:
        levels = len((runtime.hierarchy or {}).get("assignments") or [])
        sinks.append(RichView(console, title=title, level_count=levels, sections=sections))
    if opts.mqtt is not None or opts.serve is not None:
        from edgeact.live.remote import remote_sinks

        end_after = 2 * window_seconds_for(runtime.meta, opts.window_seconds)   # when the loop forgets a person
        try:
            sinks += remote_sinks(opts, runtime, end_after=end_after, title=title or "edgeact live",
                                  sources=tuple(sections) if sections else (DEFAULT_SOURCE,),
                                  on_note=lambda m: note(m, console))
        except BaseException:
            for s in sinks:
                s.close(None)
            raise
    return sinks


def run_loop(source, pose, runtime, opts: LiveOptions, sinks: Sequence, on_note=None) -> LiveStats:
    """Run one source (stream ``cam0``) to its end, a sink's stop request or Ctrl-C. The caller
    closes the sinks; ``on_note(text)`` gets one-line notes (e.g. the window's frames kept downscaled)."""
    return run_streams([Stream(DEFAULT_SOURCE, source, pose)], runtime, opts, sinks, on_note=on_note)


def run_streams(streams: Sequence[Stream], runtime, opts: LiveOptions, sinks: Sequence, on_note=None) -> LiveStats:
    """Run several streams in one loop (one batched pose call and one classifier for all) until
    every one has ended, a sink's stop request or Ctrl-C; see :func:`run_loop`."""
    drop = any(getattr(s.source, "live", False) for s in streams) or opts.realtime
    cfg = live_config(opts, runtime.meta, drop_stale=drop)
    interp = Interpreter(runtime.classes, runtime.hierarchy, topk=cfg.topk, threshold=cfg.threshold,
                         smooth=cfg.smooth, forget_after=2 * cfg.window.seconds, superclasses=opts.superclasses)
    return LiveLoop(streams, runtime, interp, cfg, sinks, on_note=on_note).run()


def note(message: str, console=None, *, kind: str = "note") -> None:
    """A one-line note (``kind`` ``"warning"`` for damaged or mismatched input): on the console,
    or on stderr when there is none (``--quiet``)."""
    if console is not None:
        console.log(f"{kind}: {message}", markup=False, highlight=False)   # paths such as run[2]/x are not markup
    else:
        print(f"{kind}: {message}", file=sys.stderr)


def run_live(opts: LiveOptions, console=None) -> LiveStats:
    """Check the options, open the sources, the classifier and the pose backend (in that order),
    and run until every source ends or Ctrl-C. Damaged or mismatched input is a warning line.
    With several streams every check is made (naming the stream) before any source opens."""
    from edgeact.errors import keywords
    from edgeact.live.pose import SkeletonReplay

    streams = stream_options(opts)
    several = len(streams) > 1
    named = (lambda sid, m: f"{sid}: {m}") if several else (lambda sid, m: m)
    kinds = {}
    for sid, _, one in streams:
        try:
            check_options(one)
            kinds[sid] = check_pose_options(one)
        except EdgeactError as exc:
            raise (exc.prefixed(sid) if several else exc) from None
    if several:
        check_stream_outputs(opts, [one for _, _, one in streams], [sid for sid, _, _ in streams])

    def status_for(sid: str):
        def status(message: str) -> None:   # camera unplugged / reconnected
            if console is not None:
                console.log(named(sid, message), markup=False, highlight=False)   # it names the camera URL or file
        return status

    def warn(message: str) -> None:
        note(message, console, kind="warning")

    sources: dict = {}
    replays: dict = {}
    poses: dict = {}
    sinks: list = []
    stats = None
    try:
        for sid, spec, one in streams:
            sources[sid] = open_stream(spec, one, status_for(sid))
        for sid, _, one in streams:
            if kinds[sid][0] == "skeleton":    # read before the classifier: a mismatch is reported before anything slow
                replays[sid] = SkeletonReplay(one.skeleton)
                for message in replay_warnings(sources[sid], replays[sid]):
                    warn(named(sid, message))
        runtime = open_classifier(opts, console)
        poses = stream_poses(opts, kinds, replays)
        model = str(resolve_model(opts.model))
        start = [{"source": sid, "input": getattr(sources[sid], "name", ""), "model": model,
                  "pose": getattr(poses[sid], "name", kinds[sid][0])} for sid, _, _ in streams]
        with keywords(path="jsonl"):      # the JSONL sink's file is opts.jsonl
            if several:
                sinks = build_sinks(opts, runtime, console,
                                    fps={k: getattr(v, "fps", None) for k, v in sources.items()},
                                    title=f"edgeact live: {len(streams)} streams", start=start,
                                    sections={sid: f"{sid}: {getattr(sources[sid], 'name', '')}"
                                              for sid, _, _ in streams})
            else:
                source = sources[DEFAULT_SOURCE]
                sinks = build_sinks(opts, runtime, console, fps=getattr(source, "fps", None),
                                    title=f"edgeact live: {getattr(source, 'name', 'source')}", start=start)
        # the window's checks mid-run (frames over the memory cap) name its fields: seconds, max_mb
        with keywords(seconds="window_seconds", max_mb="max_window_mb"):
            stats = run_streams([Stream(sid, sources[sid], poses[sid]) for sid, _, _ in streams], runtime, opts,
                                sinks, on_note=lambda m: note(m, console))
    finally:
        for s in sinks:      # also on Ctrl-C: JSON lines flushed, the overlay video finished
            s.close(stats)
        for source in sources.values():
            source.close()
        for pose in {id(p): p for p in poses.values()}.values():
            close = getattr(pose, "close", None)
            if close:
                close()
    for sid, source in sources.items():
        for message in end_warnings(source, replays.get(sid)):
            warn(named(sid, message))
    return stats
