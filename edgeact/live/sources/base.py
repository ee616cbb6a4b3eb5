"""What every frame source shares: the :class:`Source` interface, :class:`SourceInfo` (what a
source says about its frames once opened), the reconnection back-off, and the checks of a decoded
image and a reported frame rate.

A source is opened by its constructor (which checks it: the file exists and decodes, the camera
opens) and starts running at the first ``read()``. ``read()`` blocks until the next
:class:`~edgeact.live.frames.Frame` and returns None at the end; ``close()`` releases the device.
Sources are context managers and iterables of frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np

from edgeact.errors import EdgeactError
from edgeact.live.frames import Frame

StatusCallback = Callable[[str], None]


def cv2_module():
    """``cv2``, imported when a source first needs it (the package imports without OpenCV)."""
    import cv2

    return cv2


def is_bgr_image(img) -> bool:
    """True for a non-empty ``(H, W, 3)`` uint8 array: what a decoder must hand back to be a frame."""
    return (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
            and img.shape[0] > 0 and img.shape[1] > 0)


def sane_fps(fps: float) -> Optional[float]:
    """``fps`` as a float, or None when it is no frame rate."""
    # containers and drivers report 0, NaN or nonsense like 90000 when they do not know
    return float(fps) if math.isfinite(fps) and 0 < fps <= 1000 else None


def check_backoff(backoff: tuple[float, float]) -> tuple[float, float]:
    """``(first, max)`` seconds between reconnection attempts, checked: ``0 < first <= max``."""
    if not (len(backoff) == 2 and 0 < backoff[0] <= backoff[1]):
        raise EdgeactError(f"backoff must be (first, max) seconds with 0 < first <= max, got {backoff!r}")
    return float(backoff[0]), float(backoff[1])


def backoff_delays(backoff: tuple[float, float]) -> Iterator[float]:
    """The waits before each reconnection attempt: ``first``, then doubled each time, capped at
    ``max`` (``(0.5, 8.0)`` gives 0.5, 1, 2, 4, 8, 8, ...). Endless."""
    delay, most = backoff
    while True:
        yield delay
        delay = min(2 * delay, most)


@dataclass(frozen=True)
class SourceInfo:
    """What an open source says about its frames (every kind's counterpart of supervision's
    ``VideoInfo``).

    ``width``/``height``: pixels of the colour image (0 while a camera has not said);
    ``fps``: the nominal frame rate, None if unknown; ``frame_count``: the frames a file's header
    announces, None for cameras or when it says nothing; ``live``: frames that nobody reads are lost
    (cameras), rather than waiting (files).
    """

    name: str
    width: int
    height: int
    fps: Optional[float] = None
    frame_count: Optional[int] = None
    live: bool = False

    @property
    def resolution_wh(self) -> tuple[int, int]:
        return self.width, self.height


class Source:
    """Base of the frame sources.

    Attributes: ``fps`` (nominal frame rate, None if unknown), ``size`` ``(W, H)``, ``name`` (for
    messages), ``live`` (True for cameras: frames that nobody reads are lost), ``frame_count``
    (frames announced by a file, else None), ``dropped`` and ``corrupt`` (counts so far).
    """

    fps: Optional[float] = None
    size: tuple[int, int] = (0, 0)
    name: str = ""
    live: bool = False
    frame_count: Optional[int] = None
    dropped: int = 0
    corrupt: int = 0

    def read(self) -> Optional[Frame]:
        """The next frame; blocks until there is one. None at the end of the source or after
        :meth:`close`."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file; idempotent."""

    @property
    def info(self) -> SourceInfo:
        """:class:`SourceInfo` of the source as it stands (a camera may report its size late)."""
        return SourceInfo(name=self.name, width=int(self.size[0]), height=int(self.size[1]), fps=self.fps,
                          frame_count=self.frame_count, live=bool(self.live))

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, size={self.size}, fps={self.fps})"


__all__ = ["Source", "SourceInfo", "StatusCallback", "backoff_delays", "check_backoff"]
