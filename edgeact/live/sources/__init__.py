"""Frame sources of ``edgeact live``, one module per kind: a camera through OpenCV
(:mod:`~edgeact.live.sources.camera`), a video file (:mod:`~edgeact.live.sources.video`), and a
RealSense camera or recording with depth aligned to colour (:mod:`~edgeact.live.sources.realsense`);
what they share is in :mod:`~edgeact.live.sources.base`, and :mod:`~edgeact.live.sources.factory`
opens one from a kind and a value.

Every source is a :class:`Source`: ``read()`` blocks until the next :class:`~edgeact.live.frames.Frame`
and returns None at the end of the source; ``close()`` releases the device (and joins any reader
thread); sources are context managers and iterables; ``info`` is a :class:`SourceInfo`. Counters:
``dropped`` (frames skipped or overwritten before anyone read them) and ``corrupt`` (frames that
could not be decoded, or RealSense colour frames that came with no depth of their instant, and
were skipped).

Opening a source checks it (the file exists and decodes, the camera opens, the recording holds a
colour stream); it starts running at the first ``read()``, so models loaded in between cost no
frames of a recording and no "dropped" counts.

Faults are one-line :class:`~edgeact.errors.EdgeactError` s (missing file, camera that cannot be
opened) or :class:`~edgeact.errors.SourceLost` (a camera lost, or missing at start, with
``exit_on_disconnect``: exit status 75 for a supervisor to retry), or counted skips (a frame that
fails to decode): never a traceback.

cv2 and pyrealsense2 are imported when a source that needs them is opened.
"""

from edgeact.live.sources.base import Source, SourceInfo, StatusCallback
from edgeact.live.sources.camera import CameraSource
from edgeact.live.sources.factory import SOURCE_KINDS, make_source, open_source
from edgeact.live.sources.realsense import RealSenseSource
from edgeact.live.sources.video import VideoSource

__all__ = ["Source", "SourceInfo", "VideoSource", "CameraSource", "RealSenseSource", "SOURCE_KINDS", "make_source",
           "open_source", "StatusCallback"]
