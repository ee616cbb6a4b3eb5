"""``edgeact calibrate`` as a library call: :func:`calibrate` picks one source of correspondences
(a CSV of pairs, NTU skeletons) and runs :func:`~edgeact.calibration.fit.robust_fit`, or reads a
RealSense stream's exact intrinsics; :func:`calibrate_per_camera` fits each NTU camera alone.

The principal point comes from the source unless given (NTU skeletons: the centre of their colour
frames; a CSV says nothing about its image, so it needs ``bx, by`` or a fitted centre). The result
says how far off its rejected points are (``rmse_all_px``, ``outlier_fraction``) and notes what no
real camera would give (an offset of metres, an error of many pixels), cameras mixed in one fit,
and where the principal point came from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from edgeact.calibration.csv_pairs import pairs_from_csv
from edgeact.calibration.fit import ROBUST_FLOOR_PX, ROBUST_K, in_front, robust_fit
from edgeact.calibration.model import Calibration, check_calibration, reprojection_errors
from edgeact.calibration.ntu_skeletons import (
    camera_label,
    cameras_in,
    ntu_frame_size,
    ntu_skeleton_files,
    pairs_from_files,
)
from edgeact.calibration.realsense import intrinsics_from_realsense
from edgeact.errors import EdgeactError, exactly_one

# above this fraction of rejected points the fit is suspect, whatever its RMS error says
MANY_OUTLIERS = 0.2
# Colour cameras sit a few cm from their 3D sensor (Kinect v2 about 5 cm, RealSense D4xx 1.5-6 cm):
# a fitted offset beyond 0.2 m is the fit compensating a wrong principal point, not a camera.
MAX_OFFSET_M = 0.2
# Inlier RMS error as an angle (px / focal length in px), the same at any resolution: 0.01 rad is
# 10.6 px on NTU's 1920 px frames and 3 cm at 3 m, about a joint's width; pixel rounding stays far
# below. Above it the crops would be off by more than a joint.
MAX_RMSE_RAD = 0.01


@dataclass(frozen=True)
class CalibrationResult:
    """Outcome of :func:`calibrate`.

    ``calibration``: the fitted (or read) coefficients, with its inlier and all-point errors;
    ``errors`` ``(N,)`` per-correspondence reprojection error in px under it (NaN behind the
    camera); ``outliers`` ``(N,)`` bool, the points the robust fit rejected; ``n_behind``: points
    dropped for Z <= 0; ``camera``: the NTU camera fitted alone (``C001``), else ""; ``notes``:
    warnings and facts for the user, one line each (the principal point's origin, implausible
    results, outliers, mixed cameras). RealSense sources have N = 0.
    """

    calibration: Calibration
    errors: np.ndarray
    outliers: np.ndarray
    n_behind: int = 0
    source: str = ""
    notes: tuple[str, ...] = ()
    camera: str = ""

    @property
    def n_outliers(self) -> int:
        return int(self.outliers.sum())

    @property
    def n_front(self) -> int:
        """Points with Z > 0: inliers plus outliers."""
        return len(self.errors) - self.n_behind


def _principal_point(bx: Optional[float], by: Optional[float], *, fit_center: bool, pairs, ntu_skeletons,
                     files: list[Path]) -> tuple[float, float, Optional[str]]:
    """``(bx, by, note)``: the principal point the fit fixes. Explicit values win; NTU skeletons
    default to the centre of their colour frames (:func:`ntu_frame_size`); a CSV carries no frame
    size, so it needs both values (or ``fit_center``)."""
    if fit_center:
        return 0.0, 0.0, None  # fitted: the values are not used
    if bx is not None and by is not None:
        return float(bx), float(by), None
    if pairs is not None:
        raise EdgeactError(f"{pairs}: a CSV of pairs does not say the image size: give both (the principal point, "
                           "about the image centre: 320 240 for 640x480) or fit the centre too", param=("bx", "by"))
    (w, h), where = ntu_frame_size(ntu_skeletons, files)
    bx_ = w / 2.0 if bx is None else float(bx)
    by_ = h / 2.0 if by is None else float(by)
    which = "" if bx is None and by is None else ("by " if bx is not None else "bx ")
    return bx_, by_, (f"principal point {bx_:g}/{by_:g}: {which}the centre of the {w}x{h} colour frames "
                      f"({where})")


def _plausibility_notes(calib: Calibration, result_model: str, *, ntu: bool, n_outliers: int,
                        n_front: int) -> list[str]:
    """Warnings for a fit that ran but whose result no real camera would give."""
    notes: list[str] = []
    worst = max(abs(calib.tx), abs(calib.ty))
    if result_model == "offset" and worst > MAX_OFFSET_M:
        notes.append(f"offset tx = {calib.tx:.3f} m, ty = {calib.ty:.3f} m is implausible (a colour camera sits "
                     f"within {MAX_OFFSET_M:g} m of its 3D sensor; Kinect v2 about 0.05 m): the principal point "
                     f"{calib.bx:g}/{calib.by:g} is probably wrong; check bx/by or fit the centre too")
    focal = 0.5 * (abs(calib.cx) + abs(calib.cy))
    bound = max(MAX_RMSE_RAD * focal, ROBUST_FLOOR_PX)
    if calib.rmse_px > bound:
        notes.append(f"inlier RMS error {calib.rmse_px:.1f} px is implausible for a calibrated camera (bound "
                     f"{bound:.1f} px: {MAX_RMSE_RAD:g} rad at the focal length {focal:.0f} px): the model, the "
                     "principal point or the data are wrong")
    if n_outliers > MANY_OUTLIERS * n_front:
        share = f"{n_outliers} of {n_front} points ({n_outliers / n_front:.0%}) were rejected as outliers"
        if result_model == "eq1":
            # a model that does not fit makes residuals structured, and trimming then eats the data
            hint = " (camera beside the 3D sensor, e.g. NTU colour pixels: try the offset model)"
            notes.append(f"{share}: the model may not fit these data{hint}")
        elif ntu:
            notes.append(f"{share}: on real NTU files these are mostly occluded joints, whose colour pixel "
                         "Kinect maps through the depth surface (10-40 % is usual); more means the model may "
                         "not fit")
        else:
            notes.append(f"{share}: the model may not fit these data")
    return notes


def calibrate(*, pairs: str | Path | None = None, ntu_skeletons: str | Path | None = None,
              realsense: bool = False, bag: str | Path | None = None, bx: Optional[float] = None,
              by: Optional[float] = None, fit_center: bool = False, model: str = "eq1",
              max_files: Optional[int] = None, camera: Optional[int] = None,
              k: float = ROBUST_K, floor_px: float = ROBUST_FLOOR_PX) -> CalibrationResult:
    """Calibrate from exactly one source: a CSV of pairs, NTU ``.skeleton`` file(s), the connected
    RealSense or a RealSense recording. Pairs go through :func:`~edgeact.calibration.fit.robust_fit`
    (``fit_center, model, k, floor_px`` as there); RealSense intrinsics are exact and ignore those
    options.

    ``bx, by``: the fixed principal point; None takes it from the source (NTU skeletons: the
    centre of their colour frames, see :func:`ntu_frame_size`; a CSV needs both or ``fit_center``).
    ``camera``: with NTU skeletons, fit that camera's files only (a folder that mixes cameras gets a
    note: C001-C003 are different Kinects). The result is checked by
    :func:`~edgeact.calibration.model.check_calibration` (a degenerate fit raises) and carries notes when it
    is implausible (see :func:`_plausibility_notes`)."""
    given = {"pairs": pairs is not None, "ntu_skeletons": ntu_skeletons is not None, "realsense": bool(realsense),
             "bag": bag is not None}
    exactly_one(given, "source: a CSV of pairs, NTU skeletons, the RealSense camera or a RealSense recording")
    if camera is not None and ntu_skeletons is None:
        raise EdgeactError("selects NTU skeleton files, and none are given", param="camera")
    if realsense or bag is not None:
        calib = check_calibration(intrinsics_from_realsense(bag), where=str(bag or "RealSense camera"))
        calib = replace(calib, rmse_all_px=0.0, outlier_fraction=0.0)
        return CalibrationResult(calib, np.empty(0), np.zeros(0, bool), 0, calib.source)
    notes: list[str] = []
    files: list[Path] = []
    if pairs is not None:
        points_3d, pixels = pairs_from_csv(pairs)
        source = str(pairs)
    else:
        files, file_notes = ntu_skeleton_files(ntu_skeletons, camera=camera, max_files=max_files)  # type: ignore[arg-type]
        notes += file_notes
        points_3d, pixels = pairs_from_files(files, Path(ntu_skeletons))  # type: ignore[arg-type]
        source = str(ntu_skeletons) + (f" (camera {camera_label(camera)})" if camera is not None else "")
        cams = cameras_in(files)
        if camera is None and len(cams) > 1:
            counts = ", ".join(f"{camera_label(c)} ({n} files)" for c, n in cams.items())
            notes.append(f"the files mix cameras {counts}: in NTU RGB+D each is a different Kinect, so one fit for "
                         "all is a compromise: fit one camera alone, or each camera on its own")
    bx_, by_, pp_note = _principal_point(bx, by, fit_center=fit_center, pairs=pairs, ntu_skeletons=ntu_skeletons,
                                         files=files)
    if pp_note:
        notes.insert(0, pp_note)
    calib, outliers = robust_fit(points_3d, pixels, bx=bx_, by=by_, fit_center=fit_center, model=model,
                                 k=k, floor_px=floor_px, source=source)
    check_calibration(calib, where=f"calibration fitted from {source}")
    errors = reprojection_errors(points_3d, pixels, calib)
    n_behind = int((~in_front(points_3d)).sum())
    notes += _plausibility_notes(calib, model, ntu=ntu_skeletons is not None, n_outliers=int(outliers.sum()),
                                 n_front=len(points_3d) - n_behind)
    if n_behind:
        notes.append(f"{n_behind} point(s) with Z <= 0 were left out (behind the camera)")
    return CalibrationResult(calib, errors, outliers, n_behind, source, tuple(notes),
                             camera_label(camera) if camera is not None else "")


def calibrate_per_camera(ntu_skeletons: str | Path, **options) -> dict[str, CalibrationResult]:
    """:func:`calibrate` once for each camera of the NTU-named files of ``ntu_skeletons``:
    ``{"C001": result, ...}`` in camera order (``options`` as for :func:`calibrate`, without
    ``camera``; ``max_files`` applies to each camera)."""
    files, _ = ntu_skeleton_files(ntu_skeletons)
    cams = cameras_in(files)
    if not cams:
        raise EdgeactError(f"{ntu_skeletons}: no file has an NTU sample name (SsssCcccPpppRrrrAaaa), so the "
                           "cameras are unknown: a calibration per camera needs them")
    return {camera_label(c): calibrate(ntu_skeletons=ntu_skeletons, camera=c, **options) for c in cams}


__all__ = ["MANY_OUTLIERS", "MAX_OFFSET_M", "MAX_RMSE_RAD", "CalibrationResult", "calibrate", "calibrate_per_camera"]
