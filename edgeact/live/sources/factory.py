"""From a description of a source to an open :class:`~edgeact.live.sources.base.Source`.

:func:`make_source` is the one place that maps a kind (``camera``, ``video``, ``realsense``,
``bag``), its value and the options to a source class; :func:`open_source` is the ``live``
command's form of it (one keyword per kind, exactly one given).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from edgeact.errors import EdgeactError, exactly_one, keywords
from edgeact.live.sources.base import Source, StatusCallback
from edgeact.live.sources.camera import CameraSource
from edgeact.live.sources.realsense import RealSenseSource
from edgeact.live.sources.video import VideoSource

# kind -> what its value is
SOURCE_KINDS: dict[str, str] = {
    "camera": "a camera index or URL",
    "video": "a video file",
    "realsense": "a RealSense serial number, or none for the first camera",
    "bag": "a RealSense recording (.bag, .db3)",
}
# RealSense modes need all three; an OpenCV camera is left to its driver's default
REALSENSE_DEFAULT_MODE = (640, 480, 30)


def make_source(kind: str, value: Union[int, str, Path, None] = None, *, realtime: bool = True,
                loop: bool = False, width: Optional[int] = None, height: Optional[int] = None,
                fps: Optional[float] = None, retry: bool = True, exit_on_disconnect: bool = False,
                on_status: Optional[StatusCallback] = None) -> Source:
    """Open one source of ``kind`` (a key of :data:`SOURCE_KINDS`) at ``value``.

    ``value``: the camera index or URL (``camera``), the file (``video``, ``bag``), the serial
    number or None (``realsense``). ``realtime``: pace a file or recording at its frame rate;
    ``loop``: start a video again at its end. ``width``/``height``/``fps``: mode requests to a
    camera (RealSense defaults :data:`REALSENSE_DEFAULT_MODE`). ``retry``/``exit_on_disconnect``/
    ``on_status``: what a camera does when it is unplugged (see :class:`CameraSource`);
    ``exit_on_disconnect`` also makes a camera or RealSense missing at start a
    :class:`~edgeact.errors.SourceLost`. Options that do not apply to ``kind`` are ignored.
    """
    if kind not in SOURCE_KINDS:
        raise EdgeactError(f"unknown source kind {kind!r}; valid: {', '.join(SOURCE_KINDS)}")
    if value is None and kind != "realsense":
        raise EdgeactError(f"a {kind} source needs {SOURCE_KINDS[kind]}")
    if kind == "camera":
        return CameraSource(value, width=width, height=height, fps=fps, retry=retry,  # type: ignore[arg-type]
                            exit_on_disconnect=exit_on_disconnect, on_status=on_status)
    if kind == "video":
        return VideoSource(value, realtime=realtime, loop=loop)  # type: ignore[arg-type]
    with keywords(playback="bag"):     # a recording is the kind bag here (and open_source's bag)
        if kind == "bag":
            return RealSenseSource(playback=value, realtime=realtime)
        w, h, f = REALSENSE_DEFAULT_MODE
        return RealSenseSource(serial=None if value is None else str(value), width=width or w, height=height or h,
                               fps=int(fps or f), realtime=realtime, exit_on_disconnect=exit_on_disconnect)


def open_source(*, camera: Union[int, str, None] = None, video: Union[str, Path, None] = None,
                realsense: bool = False, bag: Union[str, Path, None] = None, realtime: bool = True,
                loop: bool = False, width: Optional[int] = None, height: Optional[int] = None,
                fps: Optional[float] = None, serial: Optional[str] = None, retry: bool = True,
                exit_on_disconnect: bool = False, on_status: Optional[StatusCallback] = None) -> Source:
    """Open the one source the user asked for: ``camera`` (index or URL), ``video`` (file),
    ``realsense`` (a connected camera, ``serial`` to pick one) or ``bag`` (a RealSense recording);
    the other options as for :func:`make_source`."""
    given = {"camera": camera is not None, "video": video is not None, "realsense": bool(realsense),
             "bag": bag is not None}
    kind = exactly_one(given, "source: a camera index or URL, a video file, the RealSense camera or a RealSense "
                              "recording")
    value = {"camera": camera, "video": video, "bag": bag, "realsense": serial}[kind]
    return make_source(kind, value, realtime=realtime, loop=loop, width=width, height=height, fps=fps, retry=retry,
                       exit_on_disconnect=exit_on_disconnect, on_status=on_status)


__all__ = ["SOURCE_KINDS", "make_source", "open_source"]
