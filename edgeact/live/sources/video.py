"""A video file as a frame source (:class:`VideoSource`), read through ``cv2.VideoCapture``:
paced at the file's rate or as fast as it decodes, looped or not, with the frames that fail to
decode skipped and counted, and one line on what the file lacked (:meth:`VideoSource.damage`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Optional, Union

from edgeact.errors import EdgeactError
from edgeact.live.frames import Frame
from edgeact.live.sources.base import Source, cv2_module, is_bgr_image, sane_fps


class VideoSource(Source):
    """Frames of a video file, through ``cv2.VideoCapture``.

    ``realtime=True`` paces the frames at the file's rate (frame i is returned no earlier than
    ``start + i / fps``, ``start`` being the first ``read()``), ``realtime=False`` returns them as
    fast as they decode. ``t = index / fps``. A frame that fails to decode is skipped and counted in
    ``corrupt`` (its index is not reused); ``max_bad`` failed reads in a row end the file.
    ``loop=True`` starts again at the end (indices and ``t`` keep increasing; ``Frame.position``
    restarts at 0 each lap, so a skeleton replay stays in step). A file that reports
    no frame rate is paced at ``DEFAULT_FPS``.

    ``frame_count`` is what the container's header announces (None if it says nothing);
    ``frames_in_file`` the frame positions one full pass actually gave (known once the end of the
    file is reached); :meth:`damage` says in one line what went wrong in between.
    """

    live = False
    DEFAULT_FPS = 30.0

    def __init__(self, path: Union[str, Path], *, realtime: bool = True, loop: bool = False, max_bad: int = 8):
        cv2 = cv2_module()
        self.path = Path(path)
        self.name = str(self.path)
        if not self.path.exists():
            raise EdgeactError(f"{self.path}: no such video file")
        if not self.path.is_file():
            raise EdgeactError(f"{self.path}: not a video file")
        self._cap = self._open()
        fps = sane_fps(self._cap.get(cv2.CAP_PROP_FPS))
        self.fps_known = fps is not None
        self.fps = fps if fps is not None else self.DEFAULT_FPS
        self.size = (int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count: Optional[int] = count if count > 0 else None   # the container's estimate
        self.frames_in_file: Optional[int] = None
        self.realtime, self.loop, self.max_bad = bool(realtime), bool(loop), max(1, int(max_bad))
        self.dropped = self.corrupt = 0
        self._next = 0          # index of the next frame (over all laps)
        self._lap_start = 0     # index of this lap's first frame
        self._start: Optional[float] = None
        self._ended = False
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def _open(self):
        cv2 = cv2_module()
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise EdgeactError(f"{self.path}: cannot open video (unknown format or damaged file)")
        return cap

    def read(self) -> Optional[Frame]:
        with self._lock:
            while True:
                if self._closed.is_set() or self._ended:
                    return None
                bad = 0
                img = None
                # no shortcut through CAP_PROP_FRAME_COUNT: containers estimate it, sometimes short
                while bad < self.max_bad:
                    ok, img = self._cap.read()
                    if ok and is_bgr_image(img):
                        break
                    img = None
                    bad += 1
                if img is None:                      # end of the file (or of what decodes)
                    if self.frames_in_file is None:
                        self.frames_in_file = self._next - self._lap_start
                    if self.loop and self._next > self._lap_start:
                        self._cap.release()
                        self._cap = self._open()
                        self._lap_start = self._next
                        continue
                    self._ended = True
                    return None
                # each failed read consumed one undecodable frame (checked with a damaged MJPEG frame)
                self.corrupt += bad
                index = self._next + bad
                self._next = index + 1
                break
            if self.realtime:
                now = time.monotonic()
                if self._start is None:
                    self._start = now - index / self.fps
                wait = self._start + index / self.fps - now
                if wait > 0 and self._closed.wait(wait):
                    return None
            return Frame(index=index, t=index / self.fps, image=img,
                         position=index - self._lap_start if self.loop else None)

    def damage(self) -> Optional[str]:
        """One line on what this file lacked so far: frames that did not decode, or an end well
        before the frame count its header announces (a file cut short); None when nothing did."""
        notes = []
        if self.corrupt:
            notes.append(f"{self.corrupt} frame(s) could not be decoded and were skipped")
        played, announced = self.frames_in_file, self.frame_count
        # headers of some containers estimate the count from the duration: a frame or 2 % off is no damage
        if played is not None and announced is not None and announced - played > max(1, 0.02 * announced):
            notes.append(f"it ended after {played} of the {announced} frames its header announces "
                         "(cut short or damaged?)")
        return f"{self.name}: " + "; ".join(notes) if notes else None

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None


__all__ = ["VideoSource"]
