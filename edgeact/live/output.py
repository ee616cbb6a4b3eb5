"""Outputs of the live loop: JSON lines, the Rich live view, and the OpenCV overlay (window/video).

Every sink implements the :class:`edgeact.live.pipeline.Sink` protocol and names the stream of
what it shows: one JSONL file for all streams (key ``source`` on every line), one section of the
Rich view per stream, one overlay window or video per stream (:func:`overlay_path`). JSON lines
are flushed one by one, so ``tail -f`` sees each decision at once and Ctrl-C loses nothing; an
overlay video is written to a temporary file and moved into place when the run ends. What the
overlay draws is :mod:`edgeact.live.draw`.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import IO, Optional, Sequence, Union

import numpy as np

from edgeact.errors import EdgeactError, keywords
from edgeact.live.decide import Decision
from edgeact.live.draw import decision_text, draw_overlay
from edgeact.live.frames import FrameEvent
from edgeact.live.stats import DEFAULT_SOURCE, LiveStats


class JsonlSink:
    """Appends one JSON object per decision (keys: source, t, track, box, fine, levels,
    latency_ms, uncertain, ...) to ``path``, after the lines that mark the start of this run, one
    per stream: ``{"event": "start", "time": ISO 8601 UTC, "edgeact": version, **start}``
    (``start``: a dict, or one per stream: the stream's ``source`` id, its ``input``, the model and
    the pose). Lines with an ``"event"`` key are not decisions.

    The file is opened in append mode (``O_APPEND``): a restarted service adds to what earlier runs
    wrote, and after an external truncation (logrotate's ``copytruncate``) each write lands at the
    new end of the file instead of at the old offset behind a run of NUL bytes.
    """

    wants_frames = False

    def __init__(self, path: Path, start: Union[dict, Sequence[dict], None] = None):
        from datetime import datetime, timezone

        from edgeact import __version__

        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f: Optional[IO[str]] = open(self.path, "a", encoding="utf-8")
            if self._unfinished_line():
                self._f.write("\n")     # a line an earlier run left unfinished stays its own line
        except OSError as exc:
            raise EdgeactError(f"{self.path}: cannot write ({exc.strerror})", param="path") from None
        self.lines = 0            # decisions written
        self.extra: dict = {}     # added to every decision (the demo names its clip)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for line in ([start or {}] if start is None or isinstance(start, dict) else start):
            self._write({"event": "start", "time": now, "edgeact": __version__, "source": DEFAULT_SOURCE, **line})

    def _unfinished_line(self) -> bool:
        import stat

        st = os.fstat(self._f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:    # a FIFO, a new or empty file
            return False
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"

    def _write(self, obj: dict) -> None:
        self._f.write(json.dumps(obj) + "\n")
        self._f.flush()

    def decision(self, d: Decision) -> None:
        if self._f is None:
            return
        self._write({**d.to_json(), **self.extra})
        self.lines += 1

    def frame(self, event: FrameEvent, latest: dict[int, Decision]) -> None:
        pass

    def tick(self, stats: LiveStats, latest: dict[int, Decision]) -> None:
        pass

    def close(self, stats: LiveStats) -> None:
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            self._f = None


class RichView:
    """The live view: per stream, a table with one row per person (fine action, each superclass
    level, age) and the stream's rates. ``sections`` maps stream ids to section titles, in the
    order shown; without it there is one section, titled ``title``."""

    wants_frames = False

    def __init__(self, console, *, title: str = "edgeact live", level_count: int = 0,
                 sections: Optional[dict[str, str]] = None):
        from rich.live import Live

        self.console = console
        self.title = title
        self.level_count = level_count
        self.sections = dict(sections) if sections else None
        self._state: dict[str, tuple[LiveStats, dict[int, Decision]]] = {}
        self._live = Live(self._render(), console=console, refresh_per_second=8, transient=False)
        self._live.start()

    def decision(self, d: Decision) -> None:
        pass

    def frame(self, event: FrameEvent, latest: dict[int, Decision]) -> None:
        pass

    def tick(self, stats: LiveStats, latest: dict[int, Decision]) -> None:
        self._state[stats.source] = (stats, dict(latest))
        self._live.update(self._render())

    def close(self, stats: Optional[LiveStats]) -> None:
        if stats is not None:   # the final state, not the last 0.1 s tick
            self._live.update(self._render())
        self._live.stop()

    def _render(self):
        from rich.console import Group

        if self.sections is None:
            stats, latest = next(iter(self._state.values()), (LiveStats(), {}))
            return self._table(self.title, stats, latest)
        return Group(*[self._table(title, *self._state.get(src, (LiveStats(source=src), {})))
                       for src, title in self.sections.items()])

    def _table(self, title: str, stats: LiveStats, latest: dict[int, Decision]):
        # labels, source names and status lines are user text: Text cells, never parsed as markup
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(title, style="table.title"), title_justify="left", expand=False)
        table.add_column("person", justify="right")
        table.add_column("action")
        for i in range(self.level_count):
            table.add_column(f"level {i + 1}")
        table.add_column("t (s)", justify="right")
        if not latest:
            table.add_row("-", "[dim]no person yet[/]" if stats.decisions == 0 else "[dim]no person[/]",
                          *[""] * self.level_count, "")
        for tid in sorted(latest):
            d = latest[tid]
            action = (Text(decision_text(d), style="yellow") if d.uncertain else
                      Text.assemble((d.fine[0].label, "bold green"), f" {d.fine[0].p:.2f}"))
            levels = [Text(f"{lv[0].label} {lv[0].p:.2f}") if lv else "" for lv in d.levels]
            levels += [""] * (self.level_count - len(levels))
            table.add_row(str(tid), action, *levels[: self.level_count], f"{d.t:.1f}")
        lat = stats.latencies_ms[-1] if stats.latencies_ms else float("nan")
        table.caption = Text(f"input {stats.input_rate.rate:4.1f} fps | pose {stats.pose_rate.rate:4.1f} fps | "
                             f"classifier {stats.decision_rate.rate:4.1f} Hz | latency {lat:5.0f} ms | "
                             f"dropped {stats.frames_dropped} frames, {stats.windows_dropped} windows"
                             + (f" | {stats.status}" if stats.status else ""), style="table.caption")
        table.caption_justify = "left"
        return table


def _extension(path: Path) -> str:
    return f"the extension {path.suffix}" if path.suffix else "no extension"


def _fourcc(path: Path) -> int:
    import cv2

    return cv2.VideoWriter_fourcc(*("mp4v" if path.suffix.lower() in (".mp4", ".m4v", ".mov") else "MJPG"))


@contextlib.contextmanager
def _quiet_cv2():
    """OpenCV logs errors only, meanwhile: a failed probe is our one line, not its warnings."""
    import cv2

    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def check_video_output(path: Path) -> None:
    """Refuse a video ``path`` (``--save``) whose extension OpenCV cannot write, before anything starts: a
    writer of that extension writes one 16x16 frame to a temporary file in the target folder (the
    system temp folder while the target folder does not exist yet), and a file must come out. The
    extension decides the container, so the probe answers for the real video. A folder that cannot
    be written is its own one line. An existing folder is checked for the ``.mp4`` files
    :func:`overlay_path` puts into it."""
    import tempfile
    import uuid

    import cv2

    path = Path(path)
    if path.is_dir():
        path = path / f"{DEFAULT_SOURCE}.mp4"
    folder = path.parent if path.parent.is_dir() else Path(tempfile.gettempdir())
    if not os.access(folder, os.W_OK | os.X_OK):   # else a read-only folder would read as a bad extension
        raise EdgeactError(f"{path}: cannot write into the folder {folder} (permission denied)", param="path")
    # a fresh name, not a file: the writer must create it, or an empty placeholder would pass for output
    probe = folder / f".{path.stem}.probe-{uuid.uuid4().hex[:12]}{path.suffix}"
    try:
        with _quiet_cv2():
            writer = cv2.VideoWriter(str(probe), _fourcc(path), 30.0, (16, 16))
            opened = writer.isOpened()
            if opened:
                writer.write(np.zeros((16, 16, 3), np.uint8))
            writer.release()
        written = probe.is_file() and probe.stat().st_size > 0
    finally:
        probe.unlink(missing_ok=True)
    if not (opened and written):
        raise EdgeactError(f"{path}: OpenCV cannot write a video with {_extension(path)}; use .mp4, .avi or .mkv",
                           param="path")


def overlay_path(save: Path, source: str, several: bool) -> Path:
    """Where the overlay video of stream ``source`` goes for ``--save save``: an existing folder
    gets ``{source}.mp4`` inside it; with several streams a file name gets the stream id appended
    (``out.mp4`` -> ``out_cam0.mp4``); else ``save``."""
    save = Path(save)
    if save.is_dir():
        return save / f"{source}.mp4"
    return save.with_name(f"{save.stem}_{source}{save.suffix}") if several else save


class _Writer:
    """One overlay video, written to a hidden partial file and moved into place by :meth:`close`."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        self._writer = None
        self._tmp = path.with_name(f".{path.stem}.partial{path.suffix}")

    def write(self, img: np.ndarray) -> None:
        if self._writer is None:
            self._open(img.shape[1], img.shape[0])
        self._writer.write(img)

    def _open(self, w: int, h: int) -> None:
        import cv2

        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(self._tmp), _fourcc(self.path), float(self.fps), (w, h))
        if not writer.isOpened():
            writer.release()
            raise EdgeactError(f"{self.path}: OpenCV cannot write a {w}x{h} video with "
                               f"{_extension(self.path)}; use .mp4, .avi or .mkv", param="path")
        self._writer = writer

    def close(self) -> None:
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        if not self._tmp.is_file():   # the writer accepted frames yet wrote nothing: say so, keep no name
            raise EdgeactError(f"{self.path}: OpenCV wrote no video with {_extension(self.path)}; "
                               "use .mp4, .avi or .mkv", param="path")
        os.replace(self._tmp, self.path)


class OverlaySink:
    """Draws skeletons, crop boxes and labels on every posed frame; shows them in a window per
    stream (``show``; press q or Esc to stop) and/or writes a video per stream (``save``, e.g.
    out.mp4, placed by :func:`overlay_path`; :func:`check_video_output` checks its extension
    before the run). ``fps``: the videos' rate, one for all or per stream id; ``several``: the
    run has several streams (each video and window is named after its stream). A video that
    cannot be written, at its first frame or at the end, is an error about ``save``."""

    wants_frames = True

    def __init__(self, *, show: bool = False, save: Optional[Path] = None,
                 fps: Union[float, dict[str, float]] = 30.0, several: bool = False):
        self.show, self.save, self.fps, self.several = show, (Path(save) if save else None), fps, several
        self.stop_requested = False
        self._writers: dict[str, _Writer] = {}

    def path_for(self, source: str) -> Optional[Path]:
        return None if self.save is None else overlay_path(self.save, source, self.several)

    def decision(self, d: Decision) -> None:
        pass

    def tick(self, stats: LiveStats, latest: dict[int, Decision]) -> None:
        pass

    def frame(self, event: FrameEvent, latest: dict[int, Decision]) -> None:
        import cv2

        img = draw_overlay(event.frame.image, event.people, latest)
        if self.save is not None:
            writer = self._writers.get(event.source)
            if writer is None:
                fps = self.fps.get(event.source, 30.0) if isinstance(self.fps, dict) else self.fps
                writer = self._writers[event.source] = _Writer(self.path_for(event.source), fps or 30.0)
            with keywords(path="save"):
                writer.write(img)
        if self.show:
            cv2.imshow(f"edgeact live: {event.source}" if self.several else "edgeact live", img)
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                self.stop_requested = True

    def close(self, stats: LiveStats) -> None:
        errors = []
        for w in self._writers.values():
            try:
                with keywords(path="save"):
                    w.close()
            except EdgeactError as exc:      # the other streams' videos are still finished
                errors.append(exc)
        self._writers.clear()
        if self.show:
            import cv2

            cv2.destroyAllWindows()
        if errors:
            raise errors[0]
