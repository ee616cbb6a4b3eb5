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

from edgeact.calibration.csv_pairs import pairs_from_csv
from edgeact.calibration.files import (
    camera_output,
    check_output,
    default_output,
    load_calibration,
    save_calibration,
    write_result,
)
from edgeact.calibration.fit import fit_projection, robust_fit
from edgeact.calibration.model import MODELS, Calibration, check_calibration, project, reprojection_errors
from edgeact.calibration.ntu_skeletons import ntu_frame_size, ntu_skeleton_files, pairs_from_ntu_skeletons, parse_camera
from edgeact.calibration.realsense import intrinsics_from_realsense
from edgeact.calibration.run import CalibrationResult, calibrate, calibrate_per_camera

__all__ = [
    "Calibration", "MODELS", "check_calibration", "project", "reprojection_errors", "fit_projection", "robust_fit",
    "pairs_from_csv", "parse_camera", "ntu_skeleton_files", "pairs_from_ntu_skeletons", "ntu_frame_size",
    "intrinsics_from_realsense", "CalibrationResult", "calibrate", "calibrate_per_camera", "load_calibration",
    "save_calibration", "default_output", "camera_output", "check_output", "write_result",
]
