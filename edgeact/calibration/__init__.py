"""3D->2D projection calibration: the Eq. 1 model, its fits, the sources of correspondences and
the files, behind ``edgeact calibrate`` and every reader of a calibration.

* :mod:`~edgeact.calibration.model`: :class:`Calibration` (``u = cx*(X - tx)/Z + bx``,
  ``v = cy*(Y - ty)/Z + by``), :func:`check_calibration`, :func:`project`;
* :mod:`~edgeact.calibration.fit`: :func:`fit_projection`, :func:`robust_fit` (outlier rejection);
* sources of ``(points_3d (N, 3), pixels (N, 2))`` pairs: a CSV file naming the columns
  ``X, Y, Z, u, v`` (:mod:`~edgeact.calibration.csv_pairs`), NTU RGB+D ``.skeleton`` files, whose
  tracked joints carry both camera-space ``x y z`` and colour pixels ``colorX colorY``
  (:mod:`~edgeact.calibration.ntu_skeletons`); no pairs for a RealSense camera or recording, whose
  colour intrinsics are the exact coefficients (:mod:`~edgeact.calibration.realsense`);
* :mod:`~edgeact.calibration.run`: :func:`calibrate` (one source, the fit, notes on implausible
  results) and :func:`calibrate_per_camera`;
* :mod:`~edgeact.calibration.files`: :func:`load_calibration` / :func:`save_calibration` and
  where calibrate writes (:func:`default_output`, :func:`check_output`, :func:`write_result`).
"""

from edgeact.calibration.csv_pairs import CSV_COLUMNS, pairs_from_csv
from edgeact.calibration.files import (WRITTEN_BY, camera_output, check_output, default_output, load_calibration,
                                       save_calibration, write_result, written_by_calibrate)
from edgeact.calibration.fit import MIN_POINTS, ROBUST_FLOOR_PX, ROBUST_K, fit_projection, in_front, robust_fit
from edgeact.calibration.model import (FOCAL_RANGE_PX, MODELS, Calibration, check_calibration, project,
                                       reprojection_errors)
from edgeact.calibration.ntu_skeletons import (NTU_COLOR_SIZE, camera_label, camera_of, cameras_in, ntu_frame_size,
                                               ntu_skeleton_files, pairs_from_ntu_skeletons, parse_camera)
from edgeact.calibration.realsense import intrinsics_from_realsense
from edgeact.calibration.run import (MANY_OUTLIERS, MAX_OFFSET_M, MAX_RMSE_RAD, CalibrationResult, calibrate,
                                     calibrate_per_camera)

__all__ = [
    # model and fits
    "Calibration", "MODELS", "FOCAL_RANGE_PX", "check_calibration", "project", "reprojection_errors",
    "MIN_POINTS", "ROBUST_K", "ROBUST_FLOOR_PX", "in_front", "fit_projection", "robust_fit",
    # sources
    "CSV_COLUMNS", "pairs_from_csv", "NTU_COLOR_SIZE", "parse_camera", "camera_label", "camera_of",
    "ntu_skeleton_files", "cameras_in", "pairs_from_ntu_skeletons", "ntu_frame_size", "intrinsics_from_realsense",
    # calibrate
    "CalibrationResult", "calibrate", "calibrate_per_camera", "MANY_OUTLIERS", "MAX_OFFSET_M", "MAX_RMSE_RAD",
    # files
    "load_calibration", "save_calibration", "WRITTEN_BY", "default_output", "camera_output",
    "written_by_calibrate", "check_output", "write_result",
]
