"""Pure geometry: skeleton boxes, crop-and-resize, centre/random crops, and the 3D->2D projection
of paper Eq. 1 with its least-squares fits.

Conventions
-----------
* Pixel coordinates are continuous: pixel ``(i, j)`` (column i, row j) covers ``[i, i+1) x [j, j+1)``,
  so the whole ``W x H`` frame is the box ``(0, 0, W, H)``. Boxes are ``(x0, y0, x1, y1)`` floats.
* Images are channel-last uint8 arrays ``(H, W, 3)``; clips ``(T, H, W, 3)``.
* Projection (paper Eq. 1, plus an optional camera offset ``(tx, ty)``)::

      u = cx * (X - tx) / Z + bx          v = cy * (Y - ty) / Z + by

  ``tx = ty = 0`` is exactly Eq. 1. ``cx``/``cy`` carry the sign of the axes: a camera space with
  Y up (Kinect, NTU) projected to an image with y down gives ``cy < 0``.

Nothing here imports above ``edgeact.errors``; cv2 is used only to resize.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from edgeact.errors import EdgeactError
from edgeact.fileio import require_regular_file

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


# --------------------------------------------------------------------------- projection

MODELS = ("eq1", "offset")
MIN_POINTS = {"eq1": 3, "offset": 6}


def _num(d: dict, key: str, where: str, default=None) -> float:
    if key not in d or d[key] is None:
        if default is not None:
            return default
        raise EdgeactError(f"{where}: missing key {key!r}")
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise EdgeactError(f"{where}: {key} must be a number, got {v!r}")
    return float(v)


# A focal length in pixels below 1 would spread one radian over less than a pixel, one above 1e5
# fits a whole 1920 px frame into about 1 degree: neither is a camera that films people, and 0 maps
# every point onto the principal point.
FOCAL_RANGE_PX = (1.0, 1e5)


def check_calibration(calib: "Calibration", where: str = "calibration") -> "Calibration":
    """Raise :class:`EdgeactError` naming ``where`` and the key when ``calib`` is degenerate:
    a non-finite coefficient, ``|cx|`` or ``|cy|`` outside :data:`FOCAL_RANGE_PX` (0 included),
    a negative error or an outlier fraction outside [0, 1]. Returns ``calib``."""
    lo, hi = FOCAL_RANGE_PX
    for k in ("cx", "cy", "bx", "by", "tx", "ty"):
        v = getattr(calib, k)
        if not math.isfinite(v):
            raise EdgeactError(f"{where}: {k} must be finite, got {v!r}")
    for k in ("cx", "cy"):
        v = getattr(calib, k)
        if not lo <= abs(v) <= hi:
            raise EdgeactError(f"{where}: {k} = {v + 0.0:.6g} is degenerate: a focal length in pixels must be "
                               f"between {lo:g} and {hi:g} in magnitude")
    for k in ("rmse_px", "rmse_all_px"):
        v = getattr(calib, k)
        if v < 0 or v == math.inf:  # nan means unknown
            raise EdgeactError(f"{where}: {k} must be a finite error >= 0 (or null), got {v!r}")
    f = calib.outlier_fraction
    if not (math.isnan(f) or 0.0 <= f <= 1.0):
        raise EdgeactError(f"{where}: outlier_fraction must be within [0, 1] (or null), got {f!r}")
    return calib


# errors that may be unknown: NaN in memory, null in JSON
_OPTIONAL_ERRORS = ("rmse_px", "rmse_all_px", "outlier_fraction")


@dataclass(frozen=True)
class Calibration:
    """Projection coefficients: ``u = cx*(X - tx)/Z + bx``, ``v = cy*(Y - ty)/Z + by``.

    ``model`` ``"eq1"`` (``tx = ty = 0``, paper Eq. 1) or ``"offset"`` (a camera translation).
    Fit quality (``nan`` if unknown, 0 for exact intrinsics): ``rmse_px`` the RMS 2D reprojection
    error of the fit's ``n_points`` inliers, ``rmse_all_px`` that of every point the fit was given
    (Z > 0, outliers included), ``outlier_fraction`` the share of those points rejected as outliers.
    ``source`` says where it came from (free text).
    """

    cx: float
    cy: float
    bx: float
    by: float
    tx: float = 0.0
    ty: float = 0.0
    model: str = "eq1"
    rmse_px: float = math.nan
    n_points: int = 0
    source: str = ""
    rmse_all_px: float = math.nan
    outlier_fraction: float = math.nan

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise EdgeactError(f"calibration model must be one of {', '.join(MODELS)}, got {self.model!r}")

    def to_dict(self) -> dict:
        """A JSON-safe dict (an unknown error or outlier fraction is ``None``)."""
        d = asdict(self)
        for k in _OPTIONAL_ERRORS:
            if not math.isfinite(d[k]):
                d[k] = None
        return d

    @classmethod
    def from_dict(cls, d: dict, *, where: str = "calibration") -> "Calibration":
        """Inverse of :meth:`to_dict`, checked by :func:`check_calibration`. ``cx cy bx by`` are
        required; ``model`` defaults to eq1, ``tx ty`` to 0, ``rmse_px``, ``rmse_all_px`` and
        ``outlier_fraction`` to nan, ``n_points`` to 0; unknown keys are ignored.
        Errors name ``where`` (e.g. the file) and the key."""
        if not isinstance(d, dict):
            raise EdgeactError(f"{where}: expected a JSON object with cx, cy, bx, by, got {type(d).__name__}")
        vals = {k: _num(d, k, where) for k in ("cx", "cy", "bx", "by")}
        vals["tx"], vals["ty"] = _num(d, "tx", where, 0.0), _num(d, "ty", where, 0.0)
        model = d.get("model", "eq1")
        if model not in MODELS:
            raise EdgeactError(f"{where}: model must be one of {', '.join(MODELS)}, got {model!r}")
        errors = {k: _num(d, k, where, math.nan) for k in _OPTIONAL_ERRORS}
        n = d.get("n_points", 0) or 0
        if isinstance(n, bool) or not isinstance(n, (int, float)) or n != int(n) or n < 0:
            raise EdgeactError(f"{where}: n_points must be a non-negative integer, got {n!r}")
        calib = cls(**vals, model=model, **errors, n_points=int(n), source=str(d.get("source", "")))
        return check_calibration(calib, where)


def save_calibration(path: str | Path, calib: Calibration, *, extra: Optional[dict] = None) -> None:
    """Write ``calib`` (after :func:`check_calibration`: nothing degenerate is ever written) as JSON
    to ``path`` atomically (temp file in the same folder, then rename). ``extra``: more keys to
    write after the coefficients (readers ignore them; they never replace a coefficient)."""
    from edgeact.fileio import atomic_write_json

    check_calibration(calib, str(path))
    d = calib.to_dict()
    d.update({k: v for k, v in (extra or {}).items() if k not in d})
    atomic_write_json(path, d)


def load_calibration(path: str | Path) -> Calibration:
    """Read and check a calibration JSON (see :meth:`Calibration.from_dict`): the one loader of
    ``prep``, ``live`` and ``calibrate``; errors name the file and the key. Only a regular file
    is read (a FIFO would block)."""
    p = require_regular_file(path, "calibration file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgeactError(f"{p}: cannot read calibration file ({exc})") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EdgeactError(f"{p}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return Calibration.from_dict(d, where=str(p))


def project(points_3d: np.ndarray, calib: Calibration) -> np.ndarray:
    """Project camera-space points ``(..., 3)`` (X, Y, Z) to pixels ``(..., 2)`` (u, v) with
    ``calib``. NaN where Z <= 0 or any coordinate is non-finite. Float32 input gives float32,
    anything else float64."""
    p = np.asarray(points_3d)
    if p.ndim < 1 or p.shape[-1] != 3:
        raise EdgeactError(f"points_3d must have shape (..., 3), got {p.shape}")
    dtype = p.dtype if p.dtype in (np.float32, np.float64) else np.float64
    p = p.astype(np.float64, copy=False)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    ok = np.isfinite(p).all(axis=-1) & (z > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = calib.cx * (x - calib.tx) / z + calib.bx
        v = calib.cy * (y - calib.ty) / z + calib.by
    out = np.stack([u, v], axis=-1)
    out[~ok] = np.nan
    return out.astype(dtype, copy=False)


def reprojection_errors(points_3d: np.ndarray, pixels: np.ndarray, calib: Calibration) -> np.ndarray:
    """Euclidean pixel distance ``(N,)`` between :func:`project` of ``points_3d`` ``(N, 3)`` and
    ``pixels`` ``(N, 2)``; NaN for points with Z <= 0."""
    proj = project(np.asarray(points_3d, np.float64), calib)
    return np.linalg.norm(proj - np.asarray(pixels, np.float64), axis=-1)


# --------------------------------------------------------------------------- fits

# Singular-value ratio of the column-normalised design below which a fit is refused: the data
# cannot tell the coefficients apart (e.g. all X/Z equal, or all points at one depth for "offset").
_COND_TOL = 1e-6


def _check_pairs(points_3d: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p3 = np.asarray(points_3d, dtype=np.float64)
    px = np.asarray(pixels, dtype=np.float64)
    if p3.ndim != 2 or p3.shape[1] != 3:
        raise EdgeactError(f"points_3d must have shape (N, 3), got {p3.shape}")
    if px.shape != (p3.shape[0], 2):
        raise EdgeactError(f"pixels must have shape ({p3.shape[0]}, 2) to match points_3d, got {px.shape}")
    bad = ~(np.isfinite(p3).all(axis=1) & np.isfinite(px).all(axis=1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise EdgeactError(f"correspondence {i} has a non-finite value (X, Y, Z, u, v = "
                           f"{', '.join(f'{v:g}' for v in (*p3[i], *px[i]))}); "
                           f"{int(bad.sum())} such point(s) in all")
    return p3, px


def _solve_axis(coord: np.ndarray, inv_z: np.ndarray, target: np.ndarray, *, offset: bool,
                center: Optional[float], axis: str) -> tuple[float, float, float]:
    """Fit ``target = c*coord*inv_z + k*inv_z + b`` for one image axis; returns ``(c, t, b)`` with
    ``t = -k/c`` (0 without ``offset``) and ``b = center`` when it is fixed."""
    a = coord * inv_z
    cols, names = [a], [f"{axis.upper()}/Z"]
    if offset:
        cols.append(inv_z)
        names.append("1/Z")
    rhs = target - (center if center is not None else 0.0)
    if center is None:
        cols.append(np.ones_like(a))
        names.append("1")
    design = np.stack(cols, axis=1)
    scale = np.linalg.norm(design, axis=0)
    if np.abs(a).max() < 1e-9:  # 1 nm off-axis at 1 m: nothing to fit a scale to
        raise EdgeactError(f"cannot fit c{axis}: every point has {axis.upper()} = 0, so {axis.upper()}/Z "
                           "carries no information")
    if (scale == 0).any():  # only 1/Z can be all-zero here; impossible for Z > 0, kept as a guard
        raise EdgeactError(f"cannot fit the {axis} axis: a column of the design is all zero")
    sv = np.linalg.svd(design / scale, compute_uv=False)
    if sv[-1] < _COND_TOL * sv[0]:
        if offset:
            hint = (f"{', '.join(names)} are (almost) linearly dependent: the offset model needs points "
                    "spread across the image and at several depths")
        else:
            hint = f"{names[0]} has (almost) no spread across the points"
        raise EdgeactError(f"cannot fit the {axis} axis: ill-conditioned ({hint})")
    sol, *_ = np.linalg.lstsq(design, rhs, rcond=None)
    c = float(sol[0])
    t = 0.0
    if offset:
        if abs(c) < 1e-12:
            raise EdgeactError(f"cannot fit the {axis} axis: c{axis} came out 0, so t{axis} is undefined")
        t = -float(sol[1]) / c
    b = float(sol[-1]) if center is None else float(center)
    return c, t, b


def in_front(points_3d: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: the point has Z > 0 (projectable); points with Z <= 0 are dropped by fits."""
    return np.asarray(points_3d, dtype=np.float64)[:, 2] > 0


def fit_projection(points_3d: np.ndarray, pixels: np.ndarray, *, bx: float, by: float,
                   fit_center: bool = False, model: str = "eq1", source: str = "") -> Calibration:
    """Least-squares fit of the projection to correspondences ``points_3d`` ``(N, 3)`` (camera
    space) <-> ``pixels`` ``(N, 2)``. The u and v axes are independent linear problems:

    * ``"eq1"``: ``u - bx = cx * X/Z`` (closed form for cx); with ``fit_center``
      ``u = cx * X/Z + bx`` (cx and bx); likewise v with cy, by.
    * ``"offset"``: ``u = cx*X/Z + k/Z + bx`` with ``k = -cx*tx``, linear in ``(cx, k[, bx])``;
      ``tx = -k/cx`` afterwards. Models a colour camera beside the depth camera (Kinect v2).

    ``bx``, ``by`` are fixed unless ``fit_center`` (then they are ignored). Points with Z <= 0 are
    dropped (see :func:`in_front`). Raises :class:`EdgeactError` for non-finite values, fewer than
    ``MIN_POINTS[model]`` usable points (3 for eq1, 6 for offset) or an ill-conditioned system
    (e.g. all X = 0). ``rmse_px`` (= ``rmse_all_px``) is the RMS Euclidean reprojection error of
    the points used; ``outlier_fraction`` is 0 (nothing is rejected here).
    """
    if model not in MODELS:
        raise EdgeactError(f"--model must be one of {', '.join(MODELS)}, got {model!r}")
    p3, px = _check_pairs(points_3d, pixels)
    front = in_front(p3)
    n, n_min = int(front.sum()), MIN_POINTS[model]
    if n < n_min:
        dropped = len(p3) - n
        raise EdgeactError(f"need at least {n_min} correspondences with Z > 0 for the {model} model, got {n}"
                           + (f" ({dropped} dropped for Z <= 0)" if dropped else ""))
    p3, px = p3[front], px[front]
    inv_z = 1.0 / p3[:, 2]
    offset = model == "offset"
    cx, tx, bx_ = _solve_axis(p3[:, 0], inv_z, px[:, 0], offset=offset,
                              center=None if fit_center else float(bx), axis="x")
    cy, ty, by_ = _solve_axis(p3[:, 1], inv_z, px[:, 1], offset=offset,
                              center=None if fit_center else float(by), axis="y")
    calib = Calibration(cx=cx, cy=cy, bx=bx_, by=by_, tx=tx, ty=ty, model=model, n_points=n, source=source)
    err = reprojection_errors(p3, px, calib)
    rmse = float(np.sqrt(np.mean(err ** 2)))
    return replace(calib, rmse_px=rmse, rmse_all_px=rmse, outlier_fraction=0.0)


ROBUST_K = 3.5
ROBUST_FLOOR_PX = 2.0


def robust_fit(points_3d: np.ndarray, pixels: np.ndarray, *, bx: float, by: float, fit_center: bool = False,
               model: str = "eq1", k: float = ROBUST_K, floor_px: float = ROBUST_FLOOR_PX,
               max_iter: int = 20, source: str = "") -> tuple[Calibration, np.ndarray]:
    """:func:`fit_projection` with outlier rejection. Returns ``(calibration, outliers)`` where
    ``outliers`` ``(N,)`` bool marks the rejected points (points with Z <= 0 are dropped, not
    outliers); the calibration's ``rmse_px``/``n_points`` are those of the inliers, its
    ``rmse_all_px`` and ``outlier_fraction`` those of every point with Z > 0.

    Rule: fit the inliers (at first all points), take the signed residuals du, dv of the inliers,
    sigma = 1.4826 * MAD (median absolute deviation from their median; a Gaussian's standard
    deviation), and mark as outliers the points whose Euclidean error exceeds
    ``max(k * sigma, floor_px)`` (defaults k = 3.5, floor 2 px: pixel rounding alone must not
    reject points). Every point is re-tested each round, so a point can come back. Stops when the
    inlier set repeats (or after ``max_iter`` rounds); fewer than the model's minimum inliers raises.
    """
    if not (k > 0 and floor_px >= 0):
        raise EdgeactError(f"robust fit needs k > 0 and floor_px >= 0, got k={k!r}, floor_px={floor_px!r}")
    p3, px = _check_pairs(points_3d, pixels)
    front = in_front(p3)
    inliers = front.copy()
    seen: set[bytes] = set()
    rounds = max(1, int(max_iter))
    for i in range(rounds):
        if int(inliers.sum()) < MIN_POINTS.get(model, 0):
            raise EdgeactError(f"outlier rejection left {int(inliers.sum())} of {int(front.sum())} points, "
                               f"fewer than the {MIN_POINTS[model]} the {model} model needs: the "
                               "correspondences do not agree on one projection")
        calib = fit_projection(p3[inliers], px[inliers], bx=bx, by=by, fit_center=fit_center, model=model,
                               source=source)
        resid = project(p3, calib) - px                  # (N, 2); NaN rows behind the camera
        r = resid[inliers].ravel()
        sigma = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        new = front & (np.linalg.norm(resid, axis=1) <= max(k * sigma, floor_px))
        seen.add(inliers.tobytes())
        # stable, cycling or out of rounds: keep the set `calib` was fitted on, so both agree
        if np.array_equal(new, inliers) or new.tobytes() in seen or i == rounds - 1:
            break
        inliers = new
    outliers = front & ~inliers
    # the inliers' error alone flatters a fit that rejected much: say what it does to every point
    err = reprojection_errors(p3[front], px[front], calib)
    calib = replace(calib, rmse_all_px=float(np.sqrt(np.mean(err ** 2))),
                    outlier_fraction=float(outliers.sum() / front.sum()))
    return calib, outliers
