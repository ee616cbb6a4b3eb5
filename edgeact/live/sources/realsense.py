"""A RealSense camera or recording as a frame source (:class:`RealSenseSource`): colour as BGR,
depth aligned to colour, the colour intrinsics on every frame, and colour and depth of one instant
or nothing. ``pyrealsense2`` (the ``realsense`` extra) is imported when a source is opened.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Optional, Union

import numpy as np

from edgeact.errors import EdgeactError, SourceLost
from edgeact.fileio import require_regular_file
from edgeact.live.frames import Frame, Intrinsics
from edgeact.live.sources.base import Source, cv2_module
from edgeact.optional import require


class RealSenseSource(Source):
    """A RealSense camera (``serial``: a given one, else the first) or recording (``playback``: a
    ``.bag``, or ``.db3`` from SDK 2.59+): colour as BGR, depth (z16) aligned to colour with
    ``rs.align``, ``depth_scale`` from the depth sensor, colour intrinsics in ``Frame.intrinsics``.

    ``width``/``height``/``fps`` pick the camera's mode (a recording plays what it holds).
    ``realtime`` (recordings) plays at the recorded speed, dropping frames a slow reader misses;
    False hands on every frame. A recording without a depth stream plays colour only (``depth`` is
    None). ``index`` follows the colour frame numbers (gaps count as ``dropped``), ``t`` the
    colour timestamps from the first frame. End of a recording: None. No frame for ``timeout_s``
    from a camera: :class:`SourceLost` (unplugged). No camera at start: :class:`EdgeactError`, or
    :class:`SourceLost` with ``exit_on_disconnect``.

    Opening resolves the streams (the file or camera, its modes, the intrinsics) without starting
    them; the pipeline starts at the first ``read()``, so a recording played in real time loses
    nothing to the time between open and the first read.

    Colour and depth of one instant, or nothing: the pipeline fills a set whose depth its syncer
    did not match with the last depth frame it saw, so a set whose two timestamps (same clock)
    differ by more than half a frame period is no pair. It is skipped; a later set that pairs the
    same colour frame with its own depth is used, and a colour frame that never finds its depth
    counts in ``corrupt`` (``dropped`` counts colour frames that never arrived). A recording is
    started paused and resumed once every stream runs: started playing, it hands on the first
    stream's frames before the others start, and without a pause (``realtime=False``) that can be
    every depth frame of a short recording before its first colour frame.
    """

    live = True

    def __init__(self, *, serial: Optional[str] = None, playback: Union[str, Path, None] = None, width: int = 640,
                 height: int = 480, fps: int = 30, realtime: bool = True, timeout_s: float = 5.0,
                 exit_on_disconnect: bool = False):
        self.playback = Path(playback) if playback is not None else None
        self.live = self.playback is None
        self.timeout_s = float(timeout_s)
        self.exit_on_disconnect = bool(exit_on_disconnect)
        if self.playback is not None:   # checked before the import: a wrong path is the first thing to fix
            self.name = str(self.playback)
            require_regular_file(self.playback, "RealSense recording")
        rs = require("pyrealsense2", "realsense", "RealSense support")  # needs libusb-1.0 at import
        self._rs = rs
        if self.playback is None:
            self.name = f"RealSense {serial}" if serial else "RealSense camera"
            for name, v in (("width", width), ("height", height), ("fps", fps)):
                if not (isinstance(v, (int, float)) and v > 0 and int(v) == v):
                    raise EdgeactError(f"must be a positive integer for a RealSense camera, got {v!r}", param=name)
        self.dropped = self.corrupt = 0
        self._pipe = rs.pipeline()
        self._config, profile, self.has_depth = self._resolve(serial, int(width), int(height), int(fps),
                                                              bool(realtime))
        self._setup(profile)
        self._started = False
        self._unpaired: set[int] = set()   # colour frame numbers seen only in mismatched sets
        self._last_number: Optional[int] = None
        self._index = -1
        self._t0: Optional[float] = None
        self._ended = False
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def _setup(self, profile) -> None:
        rs = self._rs
        dev = profile.get_device()
        color = profile.get_stream(rs.stream.color).as_video_stream_profile()
        ci = color.get_intrinsics()
        self.intrinsics = Intrinsics(fx=float(ci.fx), fy=float(ci.fy), ppx=float(ci.ppx), ppy=float(ci.ppy),
                                     width=int(ci.width), height=int(ci.height))
        self.size = (int(ci.width), int(ci.height))
        self.fps = float(color.fps()) or None
        self._format = color.format()
        self.depth_scale = float(dev.first_depth_sensor().get_depth_scale()) if self.has_depth else 0.0
        self._align = rs.align(rs.stream.color) if self.has_depth else None
        self._playback_dev = dev.as_playback() if self.playback is not None else None
        rates = [color.fps()] + ([profile.get_stream(rs.stream.depth).fps()] if self.has_depth else [])
        # the syncer's own criterion: two frames are of one instant within half the slower period
        self._pair_tolerance_ms = 500.0 / min(rates) if min(rates) > 0 else math.inf
        supported = (rs.format.bgr8, rs.format.rgb8, rs.format.bgra8, rs.format.rgba8, rs.format.yuyv)
        if self._format not in supported:
            raise EdgeactError(f"{self.name}: colour format {self._format} is not supported "
                               "(bgr8, rgb8, bgra8, rgba8 or yuyv)")

    def _resolve(self, serial: Optional[str], width: int, height: int, fps: int, realtime: bool):
        """``(config, resolved profile, has_depth)``: the streams this source will start."""
        rs = self._rs

        def config(depth: bool):
            cfg = rs.config()
            if self.playback is not None:
                try:
                    cfg.enable_device_from_file(str(self.playback), repeat_playback=False)
                except RuntimeError as exc:
                    raise EdgeactError(f"{self.playback}: cannot open RealSense recording ({exc})") from None
                cfg.enable_stream(rs.stream.color, 0, 0, rs.format.any, 0)
                if depth:
                    cfg.enable_stream(rs.stream.depth, 0, 0, rs.format.z16, 0)
            else:
                if serial:
                    cfg.enable_device(str(serial))
                cfg.enable_stream(rs.stream.color, width, height, rs.format.bgr8, fps)
                cfg.enable_stream(rs.stream.depth, width, height, rs.format.z16, fps)
            return cfg

        if self.playback is not None:
            return self._resolve_playback(config, realtime)
        devices = [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()
                   if d.supports(rs.camera_info.serial_number)]
        # checked first: pipeline.start waits ~15 s for a device before saying there is none
        missing = SourceLost if self.exit_on_disconnect else EdgeactError
        retry = "; exiting for the supervisor to retry ({exit_on_disconnect})" if self.exit_on_disconnect else ""
        if not devices:
            raise missing(f"no RealSense camera connected (use {{playback}} to play a recording){retry}",
                          mention=("playback", "exit_on_disconnect"))
        if serial and str(serial) not in devices:
            raise missing(f"RealSense {serial}: not connected (connected: {', '.join(devices)}){retry}",
                          mention="exit_on_disconnect")
        cfg = config(True)
        try:
            return cfg, cfg.resolve(rs.pipeline_wrapper(self._pipe)), True
        except RuntimeError as exc:
            msg = str(exc).strip().replace("\n", " ")
        raise EdgeactError(f"{self.name}: cannot start colour + depth {width}x{height} at {fps} fps ({msg})")

    def _resolve_playback(self, config, realtime: bool):
        rs = self._rs
        last = ""
        for depth in (True, False):  # a colour-only recording still plays, without depth
            cfg = config(depth)
            try:
                # the playback mode is set before anything plays: set after start(), the first
                # frames go by in real time and can be lost
                resolved = cfg.resolve(rs.pipeline_wrapper(self._pipe))
                resolved.get_device().as_playback().set_real_time(bool(realtime))
                return cfg, resolved, depth
            except RuntimeError as exc:
                last = str(exc).strip().replace("\n", " ")
            if "enable_device_from_file" in last:
                # the file itself is bad: librealsense says why after "Reason:"
                raise EdgeactError(f"{self.playback}: cannot open RealSense recording "
                                   f"({last.split('Reason:', 1)[-1].strip()})")
        raise EdgeactError(f"{self.playback}: cannot play a colour stream from this recording ({last})")

    def _to_bgr(self, data: np.ndarray) -> np.ndarray:
        rs, cv2 = self._rs, cv2_module()
        fmt = self._format
        if fmt == rs.format.bgr8:
            return data.copy()
        if fmt == rs.format.rgb8:
            return np.ascontiguousarray(data[..., ::-1])
        if fmt == rs.format.bgra8:
            return cv2.cvtColor(data, cv2.COLOR_BGRA2BGR)
        if fmt == rs.format.rgba8:
            return cv2.cvtColor(data, cv2.COLOR_RGBA2BGR)
        return cv2.cvtColor(data.reshape(self.size[1], self.size[0], 2), cv2.COLOR_YUV2BGR_YUYV)  # yuyv

    def _begin(self) -> None:
        playback = self._playback_dev
        if playback is not None:
            playback.pause()      # nothing plays until every stream has started (see the class doc)
        try:
            self._pipe.start(self._config)
        except RuntimeError as exc:
            msg = str(exc).strip().replace("\n", " ")
            raise EdgeactError(f"{self.name}: cannot start streaming ({msg})") from None
        self._started = True
        if playback is not None:
            playback.resume()

    def _paired(self, color, depth) -> bool:
        """True when ``color`` and ``depth`` are of one instant. Timestamps of different clocks
        (domains) cannot be compared: the syncer paired those by frame numbers, trusted here."""
        if color.get_frame_timestamp_domain() != depth.get_frame_timestamp_domain():
            return True
        return abs(float(color.get_timestamp()) - float(depth.get_timestamp())) <= self._pair_tolerance_ms

    def _count_passed(self, number: Optional[int]) -> int:
        """Count in ``corrupt`` the unpaired colour frames before ``number`` (all of them at the
        end, ``number=None``): they will not be handed on. Returns how many."""
        passed = {n for n in self._unpaired if number is None or n < number}
        self._unpaired -= passed
        self.corrupt += len(passed)
        return len(passed)

    def read(self) -> Optional[Frame]:
        poll = 0.25
        with self._lock:
            waited = 0.0
            if not self._started and not (self._closed.is_set() or self._ended):
                self._begin()
            while True:
                if self._closed.is_set() or self._ended:
                    return None
                ok, frames = self._pipe.try_wait_for_frames(int(poll * 1000))
                if not ok:
                    waited += poll
                    stopped = (self._playback_dev is not None
                               and self._playback_dev.current_status() == self._rs.playback_status.stopped)
                    if stopped or (self._playback_dev is not None and waited >= self.timeout_s):
                        self._ended = True
                        self._count_passed(None)
                        return None
                    if waited >= self.timeout_s:
                        raise SourceLost(f"{self.name}: no frames for {self.timeout_s:g} s (camera unplugged?)")
                    continue
                waited = 0.0
                color = frames.get_color_frame()
                if not color:
                    continue  # depth alone: its colour frame, if it comes, is counted then
                number = int(color.get_frame_number())
                if self._last_number is not None and number == self._last_number:
                    continue  # the same frame handed on twice
                depth = frames.get_depth_frame() if self.has_depth else None
                if self.has_depth and not (depth and self._paired(color, depth)):
                    self._unpaired.add(number)   # a later set may pair it with its own depth
                    continue
                if self._align is not None:
                    frames = self._align.process(frames)
                    color, depth = frames.get_color_frame(), frames.get_depth_frame()
                gap = 1 if self._last_number is None or number < self._last_number else number - self._last_number
                self.dropped += max(0, gap - 1 - self._count_passed(number))   # those arrived, unpaired
                self._unpaired.discard(number)
                self._last_number = number
                self._index += gap if self._index >= 0 else 1
                stamp = float(color.get_timestamp()) / 1000.0
                if self._t0 is None:
                    self._t0 = stamp
                image = self._to_bgr(np.asanyarray(color.get_data()))
                depth_img = np.asanyarray(depth.get_data()).copy() if depth else None
                return Frame(index=self._index, t=stamp - self._t0, image=image, depth=depth_img,
                             depth_scale=self.depth_scale, intrinsics=self.intrinsics)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self._pipe is not None and self._started:
                try:
                    self._pipe.stop()
                except RuntimeError:  # already stopped (end of a recording)
                    pass
            self._pipe = None


__all__ = ["RealSenseSource"]
