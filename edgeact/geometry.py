"""Pure geometry of the crops: skeleton boxes, crop-and-resize, centre and random crops.

Conventions
-----------
* Pixel coordinates are continuous: pixel ``(i, j)`` (column i, row j) covers ``[i, i+1) x [j, j+1)``,
  so the whole ``W x H`` frame is the box ``(0, 0, W, H)``. Boxes are ``(x0, y0, x1, y1)`` floats.
* Images are channel-last uint8 arrays ``(H, W, 3)``; clips ``(T, H, W, 3)``.

The 3D->2D projection (paper Eq. 1) that turns joints into these pixels, and its fits, are in
:mod:`edgeact.calibration`. cv2 is used only to resize.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from edgeact.errors import EdgeactError

Box = tuple[float, float, float, float]

# --------------------------------------------------------------------------- boxes

DEFAULT_MARGIN = 0.10
DEFAULT_MIN_SIZE = 16.0


def _check_frame_size(frame_size: tuple[float, float]) -> tuple[float, float]:
    try:
        w, h = (float(v) for v in frame_size)
    except (TypeError, ValueError):
        raise EdgeactError(f"frame_size must be (W, H), got {frame_size!r}") from None
    if not (w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)):
        raise EdgeactError(f"frame_size must be two positive sizes (W, H), got {frame_size!r}")
    return w, h


def expand_box(box: Box, margin: float = DEFAULT_MARGIN, *, min_size: float = 0.0) -> Box:
    """Enlarge ``box`` by ``margin`` x its width on the left and on the right, and ``margin`` x its
    height on the top and on the bottom (paper §3.1: 10 % on all four sides). Then a side shorter
    than ``min_size`` is grown to ``min_size`` around the box centre (a single joint, or joints on
    one line, give a zero-size box that a margin cannot enlarge)."""
    if not (math.isfinite(margin) and margin >= 0):
        raise EdgeactError(f"margin must be a finite number >= 0, got {margin!r}")
    if not (math.isfinite(min_size) and min_size >= 0):
        raise EdgeactError(f"min_size must be a finite number >= 0, got {min_size!r}")
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    x0, x1 = x0 - margin * w, x1 + margin * w
    y0, y1 = y0 - margin * h, y1 + margin * h
    if x1 - x0 < min_size:
        c = 0.5 * (x0 + x1)
        x0, x1 = c - 0.5 * min_size, c + 0.5 * min_size
    if y1 - y0 < min_size:
        c = 0.5 * (y0 + y1)
        y0, y1 = c - 0.5 * min_size, c + 0.5 * min_size
    return x0, y0, x1, y1


def clamp_box(box: Box, frame_size: tuple[float, float]) -> Box:
    """Cap ``box`` at the frame ``[0, W] x [0, H]`` (``frame_size = (W, H)``). A box wholly outside
    the frame comes back with zero width or height: check with :func:`box_is_empty`."""
    w, h = _check_frame_size(frame_size)
    x0, y0, x1, y1 = (float(v) for v in box)
    return (min(max(x0, 0.0), w), min(max(y0, 0.0), h), min(max(x1, 0.0), w), min(max(y1, 0.0), h))


def box_is_empty(box: Box) -> bool:
    """True when ``box`` has no area (zero or negative width or height, or non-finite)."""
    x0, y0, x1, y1 = box
    return not (x1 > x0 and y1 > y0)


def crop_box(points: np.ndarray, frame_size: tuple[float, float], margin: float = DEFAULT_MARGIN, *,
             confidence: Optional[np.ndarray] = None, min_size: float = DEFAULT_MIN_SIZE) -> Optional[Box]:
    """The crop box of a skeleton (paper §3.1): bounding box of all valid joints, enlarged by
    ``margin`` on all four sides, capped at the frame.

    ``points`` ``(..., 2)`` pixels ``(x, y)``, any leading shape (e.g. a whole clip ``(T, B, 25, 2)``:
    the box is the union over all of it). A joint is valid when both coordinates are finite and,
    when ``confidence`` ``(...)`` (= ``points.shape[:-1]``) is given, its confidence is > 0.
    Joints outside the frame count before the box is capped.

    Steps: union box -> :func:`expand_box` (``margin``; sides shorter than ``min_size`` px grow to
    ``min_size`` around their centre, so one valid joint gives a ``min_size``-square centred on it)
    -> :func:`clamp_box` to ``frame_size = (W, H)``. Capping can leave a box near a border smaller
    than ``min_size`` but never empty. Returns None when no joint is valid or when the box lies
    wholly outside the frame (nothing of the person is visible).
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim < 1 or pts.shape[-1] != 2:
        raise EdgeactError(f"points must have shape (..., 2), got {pts.shape}")
    if min_size <= 0:
        raise EdgeactError(f"min_size must be > 0 so a box is never empty, got {min_size!r}")
    _check_frame_size(frame_size)
    valid = np.isfinite(pts).all(axis=-1)
    if confidence is not None:
        conf = np.asarray(confidence, dtype=np.float64)
        if conf.shape != pts.shape[:-1]:
            raise EdgeactError(f"confidence must have shape {pts.shape[:-1]} (points without the last "
                               f"axis), got {conf.shape}")
        valid &= conf > 0  # NaN > 0 is False: a NaN confidence is not a valid joint
    if not valid.any():
        return None
    xy = pts[valid]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    box = expand_box((lo[0], lo[1], hi[0], hi[1]), margin, min_size=min_size)
    box = clamp_box(box, frame_size)
    return None if box_is_empty(box) else box


# --------------------------------------------------------------------------- crops


def pixel_box(box: Box, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer pixel bounds ``(x0, y0, x1, y1)`` (exclusive ends) covering ``box``: rounded outward
    (floor the start, ceil the end) so every pixel the box touches is kept, then capped at the
    frame ``(W, H)``. Raises when nothing is left."""
    w, h = (int(v) for v in frame_size)
    x0, y0, x1, y1 = box
    if not all(math.isfinite(float(v)) for v in box):
        raise EdgeactError(f"crop box must be finite, got {box!r}")
    ix0, iy0 = max(int(math.floor(x0)), 0), max(int(math.floor(y0)), 0)
    ix1, iy1 = min(int(math.ceil(x1)), w), min(int(math.ceil(y1)), h)
    if ix1 <= ix0 or iy1 <= iy0:
        raise EdgeactError(f"crop box {tuple(round(float(v), 2) for v in box)} has no pixels inside "
                           f"the {w}x{h} frame")
    return ix0, iy0, ix1, iy1


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    # INTER_AREA averages the source pixels (no aliasing) but is blocky when enlarging
    interp = cv2.INTER_AREA if (w >= size and h >= size) else cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(img), (size, size), interpolation=interp)
    return out if out.ndim == img.ndim else out[..., None]


def _check_size(size: int) -> int:
    if int(size) != size or size < 1:
        raise EdgeactError(f"crop size must be a positive integer, got {size!r}")
    return int(size)


def crop_resize(frame: np.ndarray, box: Box, size: int = 256) -> np.ndarray:
    """Crop ``frame`` ``(H, W, 3)`` uint8 to ``box`` (float pixels, rounded outward by
    :func:`pixel_box`) and resize to ``(size, size, 3)`` uint8. A non-square box is stretched to
    the square, as the paper does. Interpolation: ``INTER_AREA`` when the crop is at least
    ``size`` on both sides (shrinking), else ``INTER_LINEAR``."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.dtype != np.uint8:
        raise EdgeactError(f"frame must be an (H, W, C) uint8 image, got {frame.dtype} {frame.shape}")
    size = _check_size(size)
    x0, y0, x1, y1 = pixel_box(box, (frame.shape[1], frame.shape[0]))
    return _resize(frame[y0:y1, x0:x1], size)


def crop_resize_clip(frames: np.ndarray, box: Box, size: int = 256) -> np.ndarray:
    """:func:`crop_resize` of every frame of a clip with one box: ``(T, H, W, 3)`` uint8 ->
    ``(T, size, size, 3)`` uint8."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.dtype != np.uint8:
        raise EdgeactError(f"frames must be a (T, H, W, C) uint8 clip, got {frames.dtype} {frames.shape}")
    size = _check_size(size)
    t, h, w, c = frames.shape
    x0, y0, x1, y1 = pixel_box(box, (w, h))
    out = np.empty((t, size, size, c), np.uint8)
    for i in range(t):
        out[i] = _resize(frames[i, y0:y1, x0:x1], size)
    return out


def random_crop_offsets(height: int, width: int, size: int, rng: np.random.Generator) -> tuple[int, int]:
    """Top-left ``(top, left)`` of a uniformly random ``size x size`` window inside a
    ``height x width`` frame: ``top`` in ``[0, height - size]``, ``left`` in ``[0, width - size]``
    (both ends included)."""
    size = _check_size(size)
    if size > height or size > width:
        raise EdgeactError(f"cannot crop {size}x{size} from a {height}x{width} frame")
    return int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))


def center_crop_offsets(height: int, width: int, size: int) -> tuple[int, int]:
    """Top-left ``(top, left)`` of the centred ``size x size`` window; an odd leftover puts the
    extra pixel at the bottom/right (256 -> 224 gives 16, 16)."""
    size = _check_size(size)
    if size > height or size > width:
        raise EdgeactError(f"cannot crop {size}x{size} from a {height}x{width} frame")
    return (height - size) // 2, (width - size) // 2


def crop_at(frames: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """The ``size x size`` window at ``(top, left)`` of ``frames`` ``(..., H, W, C)`` (a view)."""
    h, w = frames.shape[-3], frames.shape[-2]
    if top < 0 or left < 0 or top + size > h or left + size > w:
        raise EdgeactError(f"crop {size}x{size} at (top={top}, left={left}) does not fit a {h}x{w} frame")
    return frames[..., top:top + size, left:left + size, :]


def center_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """Centre ``size x size`` crop of ``frames`` ``(..., H, W, C)`` (an image or a clip); a view."""
    frames = np.asarray(frames)
    if frames.ndim < 3:
        raise EdgeactError(f"frames must be (..., H, W, C), got shape {frames.shape}")
    top, left = center_crop_offsets(frames.shape[-3], frames.shape[-2], size)
    return crop_at(frames, top, left, size)


__all__ = [
    "Box", "DEFAULT_MARGIN", "DEFAULT_MIN_SIZE", "expand_box", "clamp_box", "box_is_empty", "crop_box",
    "pixel_box", "crop_resize", "crop_resize_clip", "random_crop_offsets", "center_crop_offsets", "crop_at",
    "center_crop",
]
