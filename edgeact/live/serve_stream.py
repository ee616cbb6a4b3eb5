"""The remote view's MJPEG streams: :class:`StreamHub` keeps the newest frame of every source
and, in one encoder thread, draws and encodes it only when a viewer waits for a newer JPEG (see
``/video/<source>.mjpg`` in :mod:`edgeact.live.serve`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Optional

STREAM_MAX_FPS = 15.0          # JPEGs per second per stream: plenty to watch, a fraction of a core
JPEG_QUALITY = 80
STREAM_MAX_WIDTH = 1280        # wider frames are scaled down before encoding


class StreamHub:
    """The newest frame of every source and its JPEG. The loop's thread only stores a reference
    (:meth:`put`); the encoder thread draws and encodes when a viewer of the source waits for a
    frame newer than the last JPEG."""

    def __init__(self, *, max_fps: float = STREAM_MAX_FPS, quality: int = JPEG_QUALITY,
                 max_width: int = STREAM_MAX_WIDTH):
        self.max_fps, self.quality, self.max_width = max_fps, quality, max_width
        self._cond = threading.Condition()
        self._frames: dict[str, tuple[int, object, dict]] = {}    # source -> (frame seq, event, labels)
        self._encoded: dict[str, int] = {}                         # source -> frame seq last encoded
        self._jpegs: dict[str, tuple[int, bytes]] = {}             # source -> (generation, bytes)
        self._viewers: dict[str, int] = {}
        self._waiters: dict[str, set] = {}                         # source -> {(loop, asyncio.Event)} waiting
        self._closed = False
        self.encoded = 0
        self._thread = threading.Thread(target=self._encode_loop, name="edgeact-mjpeg", daemon=True)
        self._thread.start()

    def put(self, source: str, event, labels: dict) -> None:
        with self._cond:
            seq = self._frames[source][0] + 1 if source in self._frames else 0
            self._frames[source] = (seq, event, labels)
            if self._waiters.get(source):
                self._cond.notify_all()

    def viewers(self, source: str) -> int:
        with self._cond:
            return self._viewers.get(source, 0)

    @contextlib.contextmanager
    def watching(self, source: str):
        with self._cond:
            self._viewers[source] = self._viewers.get(source, 0) + 1
            self._encoded.pop(source, None)     # the stored JPEG may be old: encode the newest frame now
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._viewers[source] -= 1

    def generation(self, source: str) -> int:
        with self._cond:
            return self._jpegs.get(source, (-1, b""))[0]

    async def next_jpeg(self, source: str, after: int, timeout: float = 1.0) -> Optional[tuple[int, bytes]]:
        """The first JPEG of ``source`` newer than generation ``after``; None once closed."""
        loop = asyncio.get_running_loop()
        while True:
            ev = asyncio.Event()
            with self._cond:
                if self._closed:
                    return None
                item = self._jpegs.get(source)
                if item is not None and item[0] > after:
                    return item
                waiter = (loop, ev)
                self._waiters.setdefault(source, set()).add(waiter)
                self._cond.notify_all()          # the encoder: someone is ready for a frame
            try:
                await asyncio.wait_for(ev.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            finally:
                with self._cond:
                    self._waiters[source].discard(waiter)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._wake()
        self._thread.join(timeout=5.0)

    def _due(self) -> list[str]:
        """Sources with a frame not encoded yet and a viewer waiting for one (a viewer stalled
        in a send is not waiting: nothing is encoded for it)."""
        return [s for s, (seq, _, _) in self._frames.items()
                if self._waiters.get(s) and self._encoded.get(s, -1) < seq]

    def _encode_loop(self) -> None:
        import cv2

        from edgeact.live.output import draw_overlay

        last: dict[str, float] = {}
        while True:
            with self._cond:
                while not self._closed and not self._due():
                    self._cond.wait(0.5)
                if self._closed:
                    return
                work = [(s, *self._frames[s]) for s in self._due()]
            wait = 0.0
            for src, seq, event, labels in work:
                early = last.get(src, -1e9) + 1.0 / self.max_fps - time.monotonic()
                if early > 0:
                    wait = max(wait, early)
                    continue
                last[src] = time.monotonic()
                img = draw_overlay(event.frame.image, event.people, labels)
                h, w = img.shape[:2]
                if w > self.max_width:
                    img = cv2.resize(img, (self.max_width, int(round(h * self.max_width / w))),
                                     interpolation=cv2.INTER_AREA)
                ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                if not ok:
                    continue
                with self._cond:
                    gen = self._jpegs.get(src, (-1, b""))[0] + 1
                    self._jpegs[src] = (gen, buf.tobytes())
                    self._encoded[src] = seq
                    self.encoded += 1
                self._wake()
            if wait > 0:
                with self._cond:
                    self._cond.wait(wait)

    def _wake(self) -> None:
        with self._cond:
            waiters = [w for ws in self._waiters.values() for w in ws]
        for loop, ev in waiters:
            with contextlib.suppress(RuntimeError):    # a loop that just closed
                loop.call_soon_threadsafe(ev.set)
