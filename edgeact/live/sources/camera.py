"""A camera as a frame source (:class:`CameraSource`): an ``int`` index, a URL or a device path,
anything ``cv2.VideoCapture`` opens, read by a daemon thread that keeps only the newest frame, and
reopened with back-off (or ended, or reported as lost for a supervisor) when it goes away.
"""

from __future__ import annotations

import threading
import time
from typing import Optional, Union

from edgeact.errors import EdgeactError, SourceLost
from edgeact.live.frames import Frame
from edgeact.live.sources.base import (
    Source,
    StatusCallback,
    backoff_delays,
    check_backoff,
    cv2_module,
    is_bgr_image,
    sane_fps,
)


def _camera_target(index_or_url: Union[int, str]) -> Union[int, str]:
    if isinstance(index_or_url, bool):
        raise EdgeactError(f"expected an index or a URL, got {index_or_url!r}", param="index_or_url")
    if isinstance(index_or_url, int):
        target: Union[int, str] = index_or_url
    else:
        text = str(index_or_url).strip()
        if not text:
            raise EdgeactError("empty camera index or URL", param="index_or_url")
        target = int(text) if text.isdigit() else text
    if isinstance(target, int) and target < 0:
        raise EdgeactError(f"index must be >= 0, got {target}", param="index_or_url")
    return target


class CameraSource(Source):
    """A camera (``int`` index, or a URL / device path / anything ``cv2.VideoCapture`` opens) read by
    a daemon thread that keeps only the newest frame: ``read()`` returns the latest frame not yet
    returned, never a backlog; frames overwritten before anyone read them count as ``dropped``.

    ``index`` counts the frames captured since open (gaps = dropped frames); ``t`` is the monotonic
    clock at capture minus the time of open. ``width``/``height``/``fps`` are requests to the driver
    (it may pick the nearest mode: ``size``/``fps`` say what it gave).

    The reader thread starts at open; frames it overwrites before the first frame ``read()``
    returns (while the caller loads its models) are not counted as ``dropped``: ``dropped`` is
    the gaps in the indices read returns.

    A camera that cannot be opened at start is an :class:`EdgeactError`, or with
    ``exit_on_disconnect`` a :class:`SourceLost` (exit status 75: a USB camera that enumerates late
    at boot is retried by the supervisor like one that was lost).

    Losing the camera: ``lost_after`` failed reads in a row. Then, with ``exit_on_disconnect``,
    ``read()`` returns the frames still pending and raises :class:`SourceLost`; with
    ``retry=False`` the source ends (``read()`` returns None); otherwise the thread reopens the
    camera with exponential back-off (``backoff = (first, max)`` seconds), reporting through
    ``on_status(message)`` (called from the reader thread; exceptions it raises are ignored).
    """

    live = True

    def __init__(self, index_or_url: Union[int, str], *, width: Optional[int] = None, height: Optional[int] = None,
                 fps: Optional[float] = None, retry: bool = True, exit_on_disconnect: bool = False,
                 backoff: tuple[float, float] = (0.5, 8.0), on_status: Optional[StatusCallback] = None,
                 lost_after: int = 5):
        self.target = _camera_target(index_or_url)
        self.name = f"camera {self.target}"
        for name, v in (("width", width), ("height", height), ("fps", fps)):
            if v is not None and not (v > 0):
                raise EdgeactError(f"must be > 0, got {v!r}", param=name)
        self.backoff = check_backoff(backoff)
        self._request = (width, height, fps)
        self.retry, self.exit_on_disconnect = bool(retry), bool(exit_on_disconnect)
        self.lost_after = max(1, int(lost_after))
        self._on_status = on_status
        cap = self._open()
        if cap is None:
            why = ("no such device, or in use by another program" if isinstance(self.target, int)
                   else "no such file, unreachable stream or unsupported URL")
            if self.exit_on_disconnect:
                raise SourceLost(f"{self.name}: cannot be opened ({why}); exiting for the supervisor to retry "
                                 "({exit_on_disconnect})", mention="exit_on_disconnect")
            raise EdgeactError(f"{self.name}: cannot be opened ({why})")
        cv2 = cv2_module()
        self.fps = sane_fps(cap.get(cv2.CAP_PROP_FPS))
        self.size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.dropped = self.corrupt = 0
        self.reconnects = 0
        self._count = 0
        self._reading = False
        self._slot: Optional[Frame] = None
        self._error: Optional[str] = None
        self._ended = False
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(cap,), name=f"edgeact-{self.name}", daemon=True)
        self._thread.start()

    def _open(self):
        cv2 = cv2_module()
        cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            cap.release()
            return None
        width, height, fps = self._request
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, int(width))
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, int(height))
        if fps:
            cap.set(cv2.CAP_PROP_FPS, float(fps))
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # where the backend honours it: less driver-side latency
        return cap

    def _status(self, message: str) -> None:
        if self._on_status is not None:
            try:
                self._on_status(message)
            except Exception:  # a display callback must not kill the capture thread
                pass

    def _run(self, cap) -> None:
        fails = 0
        try:
            while not self._closed.is_set():
                try:
                    ok, img = cap.read()
                except Exception:  # cv2.error from a backend that breaks down mid-read: a failed read
                    ok, img = False, None
                if ok and is_bgr_image(img):
                    now = time.monotonic()
                    with self._cond:
                        self.corrupt += fails
                        if self._slot is not None:
                            self.dropped += 1
                        if self.size == (0, 0):
                            self.size = (int(img.shape[1]), int(img.shape[0]))
                        self._slot = Frame(index=self._count, t=now - self._t0, image=img)
                        self._count += 1
                        self._cond.notify_all()
                    fails = 0
                    continue
                fails += 1
                if fails < self.lost_after:
                    continue
                cap.release()
                cap = None
                fails = 0
                lost = f"{self.name}: stream lost ({self.lost_after} failed reads in a row)"
                if self.exit_on_disconnect or not self.retry:
                    with self._cond:
                        self._error = lost if self.exit_on_disconnect else None
                        self._ended = True
                        self._cond.notify_all()
                    self._status(lost)
                    return
                cap = self._reconnect(lost)
                if cap is None:
                    return
        finally:
            if cap is not None:
                cap.release()
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _reconnect(self, lost: str):
        delays = backoff_delays(self.backoff)
        delay = next(delays)
        message = f"{lost}; reconnecting in {delay:g} s"
        while True:
            self._status(message)
            if self._closed.wait(delay):
                return None
            cap = self._open()
            if cap is not None:
                self.reconnects += 1
                self._status(f"{self.name}: reconnected")
                return cap
            delay = next(delays)
            message = f"{self.name}: cannot be opened; retrying in {delay:g} s"

    def read(self) -> Optional[Frame]:
        with self._cond:
            while self._slot is None and not self._ended and not self._closed.is_set():
                self._cond.wait()
            if self._slot is not None and not self._closed.is_set():
                frame, self._slot = self._slot, None
                # what came before the first frame returned was never the loop's to miss, including
                # what the thread overwrote while this first read waited for the lock
                if not self._reading:
                    self._reading = True
                    self.dropped = 0
                return frame
            if self._error is not None and not self._closed.is_set():
                raise SourceLost(self._error)
            return None

    def close(self, timeout: float = 2.0) -> None:
        """Stop the reader thread (joined up to ``timeout`` s: a driver stuck in a read cannot be
        interrupted, and the daemon thread then releases the camera when the read returns)."""
        self._closed.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """True while the reader thread is alive."""
        return self._thread.is_alive()


__all__ = ["CameraSource"]
