"""Least-squares fits of the projection model (:mod:`edgeact.calibration.model`) to
correspondences ``points_3d (N, 3)`` <-> ``pixels (N, 2)``: :func:`fit_projection` (all points)
and :func:`robust_fit` (with outlier rejection). The u and v axes are independent linear problems.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np

from edgeact.calibration.model import MODELS, Calibration, project, reprojection_errors
from edgeact.errors import EdgeactError

MIN_POINTS = {"eq1": 3, "offset": 6}   # usable points each model needs

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
        raise EdgeactError(f"must be one of {', '.join(MODELS)}, got {model!r}", param="model")
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


__all__ = ["MIN_POINTS", "ROBUST_K", "ROBUST_FLOOR_PX", "in_front", "fit_projection", "robust_fit"]
