"""The projection model of paper Eq. 1, with an optional camera offset, and its coefficients.

::

    u = cx * (X - tx) / Z + bx          v = cy * (Y - ty) / Z + by

``tx = ty = 0`` (model ``"eq1"``) is exactly Eq. 1; ``"offset"`` adds the camera translation of a
colour camera beside its 3D sensor. ``cx``/``cy`` carry the sign of the axes: a camera space with
Y up (Kinect, NTU) projected to an image with y down gives ``cy < 0``. Pixel coordinates follow
:mod:`edgeact.geometry`.

:class:`Calibration` holds the coefficients and the quality of the fit that gave them;
:func:`check_calibration` refuses degenerate ones wherever they are built or read;
:func:`project` and :func:`reprojection_errors` apply them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from edgeact.errors import EdgeactError

MODELS = ("eq1", "offset")


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


__all__ = ["MODELS", "FOCAL_RANGE_PX", "Calibration", "check_calibration", "project", "reprojection_errors"]
