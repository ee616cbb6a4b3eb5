"""Frame sources of ``edgeact live``: a camera (OpenCV), a video file, and a RealSense camera or
recording (colour + depth aligned to colour).

Every source is a :class:`Source`: ``read()`` blocks until the next :class:`Frame` and returns None
at the end of the source; ``close()`` releases the device (and joins any reader thread); sources
are context managers and iterables. Counters: ``dropped`` (frames skipped or overwritten before
anyone read them) and ``corrupt`` (frames that could not be decoded, or RealSense colour frames
that came with no depth of their instant, and were skipped).

Opening a source checks it (the file exists and decodes, the camera opens, the recording holds a
colour stream); it starts running at the first ``read()``, so models loaded in between cost no
frames of a recording and no "dropped" counts.

Faults are one-line :class:`EdgeactError` s (missing file, camera that cannot be opened) or
:class:`SourceLost` (a camera lost, or missing at start, with ``exit_on_disconnect``: exit status
75 for a supervisor to retry), or counted skips (a frame that fails to decode): never a traceback.

cv2 and pyrealsense2 are imported inside the classes that need them.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

import numpy as np

from edgeact.errors import EdgeactError, SourceLost
from edgeact.fileio import require_regular_file
from edgeact.live.frames import Frame, Intrinsics

StatusCallback = Callable[[str], None]


def _cv2():
    import cv2

    return cv2


def _is_image(img) -> bool:
    return (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
            and img.shape[0] > 0 and img.shape[1] > 0)


def _sane_fps(fps: float) -> Optional[float]:
    # containers and drivers report 0, NaN or nonsense like 90000 when they do not know
    return float(fps) if math.isfinite(fps) and 0 < fps <= 1000 else None


class Source:
    """Base of the frame sources.

    Attributes: ``fps`` (nominal frame rate, None if unknown), ``size`` ``(W, H)``, ``name`` (for
    messages), ``live`` (True for cameras: frames that nobody reads are lost), ``dropped`` and
    ``corrupt`` (counts so far).
    """

    fps: Optional[float] = None
    size: tuple[int, int] = (0, 0)
    name: str = ""
    live: bool = False
    dropped: int = 0
    corrupt: int = 0

    def read(self) -> Optional[Frame]:
        """The next frame; blocks until there is one. None at the end of the source or after
        :meth:`close`."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file; idempotent."""

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


# --------------------------------------------------------------------------- video file


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
        cv2 = _cv2()
        self.path = Path(path)
        self.name = str(self.path)
        if not self.path.exists():
            raise EdgeactError(f"{self.path}: no such video file")
        if not self.path.is_file():
            raise EdgeactError(f"{self.path}: not a video file")
        self._cap = self._open()
        fps = _sane_fps(self._cap.get(cv2.CAP_PROP_FPS))
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
        cv2 = _cv2()
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
                    if ok and _is_image(img):
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


# --------------------------------------------------------------------------- camera


def _camera_target(index_or_url: Union[int, str]) -> Union[int, str]:
    if isinstance(index_or_url, bool):
        raise EdgeactError(f"--camera: expected an index or a URL, got {index_or_url!r}")
    if isinstance(index_or_url, int):
        target: Union[int, str] = index_or_url
    else:
        text = str(index_or_url).strip()
        if not text:
            raise EdgeactError("--camera: empty camera index or URL")
        target = int(text) if text.isdigit() else text
    if isinstance(target, int) and target < 0:
        raise EdgeactError(f"--camera: index must be >= 0, got {target}")
    return target


class CameraSource(Source):
    """A camera (``int`` index, or a URL / device path / anything ``cv2.VideoCapture`` opens) read by
    a daemon thread that keeps only the newest frame: ``read()`` returns the latest frame not yet
    returned, never a backlog; frames overwritten before anyone read them count as ``dropped``.

    ``index`` counts the frames captured since open (gaps = dropped frames); ``t`` is the monotonic
    clock at capture minus the time of open. ``width``/``height``/``fps`` are requests to the driver
    (it may pick the nearest mode: ``size``/``fps`` say what it gave).

    The reader thread starts at open; frames it overwrites before the first ``read()`` (while the
    caller loads its models) are not counted as ``dropped``.

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
        for opt, v in (("--width", width), ("--height", height), ("--fps", fps)):
            if v is not None and not (v > 0):
                raise EdgeactError(f"{opt}: must be > 0, got {v!r}")
        if not (len(backoff) == 2 and 0 < backoff[0] <= backoff[1]):
            raise EdgeactError(f"backoff must be (first, max) seconds with 0 < first <= max, got {backoff!r}")
        self._request = (width, height, fps)
        self.retry, self.exit_on_disconnect = bool(retry), bool(exit_on_disconnect)
        self.backoff = (float(backoff[0]), float(backoff[1]))
        self.lost_after = max(1, int(lost_after))
        self._on_status = on_status
        cap = self._open()
        if cap is None:
            why = ("no such device, or in use by another program" if isinstance(self.target, int)
                   else "no such file, unreachable stream or unsupported URL")
            if self.exit_on_disconnect:
                raise SourceLost(f"{self.name}: cannot be opened ({why}); exiting for the supervisor to retry "
                                 "(--exit-on-disconnect)")
            raise EdgeactError(f"{self.name}: cannot be opened ({why})")
        cv2 = _cv2()
        self.fps = _sane_fps(cap.get(cv2.CAP_PROP_FPS))
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
        cv2 = _cv2()
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
                if ok and _is_image(img):
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
        delay = self.backoff[0]
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
            delay = min(2 * delay, self.backoff[1])
            message = f"{self.name}: cannot be opened; retrying in {delay:g} s"

    def read(self) -> Optional[Frame]:
        with self._cond:
            if not self._reading:       # what start-up passed over was never the loop's to miss
                self._reading = True
                self.dropped = 0
            while self._slot is None and not self._ended and not self._closed.is_set():
                self._cond.wait()
            if self._slot is not None and not self._closed.is_set():
                frame, self._slot = self._slot, None
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


# --------------------------------------------------------------------------- RealSense


def _import_realsense():
    from edgeact.calibration import REALSENSE_INSTALL

    try:
        import pyrealsense2 as rs  # optional extra, needs libusb-1.0 at import time
    except ImportError as exc:
        raise EdgeactError(f"RealSense support needs pyrealsense2: {REALSENSE_INSTALL} ({exc})") from None
    return rs


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
        rs = _import_realsense()
        self._rs = rs
        if self.playback is None:
            self.name = f"RealSense {serial}" if serial else "RealSense camera"
            for opt, v in (("--width", width), ("--height", height), ("--fps", fps)):
                if not (isinstance(v, (int, float)) and v > 0 and int(v) == v):
                    raise EdgeactError(f"{opt}: must be a positive integer for a RealSense camera, got {v!r}")
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
        retry = "; exiting for the supervisor to retry (--exit-on-disconnect)" if self.exit_on_disconnect else ""
        if not devices:
            raise missing(f"no RealSense camera connected (use --bag FILE to play a recording){retry}")
        if serial and str(serial) not in devices:
            raise missing(f"RealSense {serial}: not connected (connected: {', '.join(devices)}){retry}")
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
        rs, cv2 = self._rs, _cv2()
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


# --------------------------------------------------------------------------- choice


def open_source(*, camera: Union[int, str, None] = None, video: Union[str, Path, None] = None,
                realsense: bool = False, bag: Union[str, Path, None] = None, realtime: bool = True,
                loop: bool = False, width: Optional[int] = None, height: Optional[int] = None,
                fps: Optional[float] = None, serial: Optional[str] = None, retry: bool = True,
                exit_on_disconnect: bool = False, on_status: Optional[StatusCallback] = None) -> Source:
    """Open the one source the user asked for: ``camera`` (index or URL), ``video`` (file),
    ``realsense`` (a connected camera, ``serial`` to pick one) or ``bag`` (a RealSense recording).
    ``realtime``: pace a file / recording at its frame rate. ``width``/``height``/``fps``: camera
    mode requests (RealSense defaults 640x480 at 30). ``retry``/``exit_on_disconnect``/``on_status``:
    what a camera does when it is unplugged (see :class:`CameraSource`); ``exit_on_disconnect`` also
    makes a camera or RealSense missing at start a :class:`SourceLost`."""
    given = {"--camera": camera is not None, "--video": video is not None, "--realsense": bool(realsense),
             "--bag": bag is not None}
    chosen = [name for name, on in given.items() if on]
    if len(chosen) != 1:
        raise EdgeactError("give exactly one source: --camera INDEX|URL, --video FILE, --realsense or --bag FILE "
                           f"(got {', '.join(chosen) if chosen else 'none'})")
    if camera is not None:
        return CameraSource(camera, width=width, height=height, fps=fps, retry=retry,
                            exit_on_disconnect=exit_on_disconnect, on_status=on_status)
    if video is not None:
        return VideoSource(video, realtime=realtime, loop=loop)
    if bag is not None:
        return RealSenseSource(playback=bag, realtime=realtime)
    return RealSenseSource(serial=serial, width=width or 640, height=height or 480, fps=int(fps or 30),
                           realtime=realtime, exit_on_disconnect=exit_on_disconnect)


__all__ = ["Source", "VideoSource", "CameraSource", "RealSenseSource", "open_source", "StatusCallback"]
