"""3D->2D projection calibration: where correspondences come from, and the fit behind
``edgeact calibrate``.

Sources of ``(points_3d (N, 3), pixels (N, 2))`` pairs:

* a CSV file with a header naming the columns ``X, Y, Z, u, v`` (:func:`pairs_from_csv`);
* NTU RGB+D ``.skeleton`` files, whose tracked joints carry both camera-space ``x y z`` and
  colour-image ``colorX colorY`` (:func:`pairs_from_ntu_skeletons`);
* no pairs at all for a RealSense camera or recording: its colour stream is a pinhole whose
  intrinsics are the exact Eq. 1 coefficients (:func:`intrinsics_from_realsense`).

:func:`calibrate` picks one source and runs :func:`edgeact.geometry.robust_fit`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from edgeact.errors import EdgeactError
from edgeact.geometry import (Calibration, ROBUST_FLOOR_PX, ROBUST_K, in_front, reprojection_errors,
                              robust_fit)

CSV_COLUMNS = ("X", "Y", "Z", "u", "v")
# above this fraction of rejected points the fit is suspect, whatever its RMS error says
MANY_OUTLIERS = 0.2
REALSENSE_INSTALL = "pip install 'edgeact[realsense]' (on Linux also the system library libusb-1.0-0)"


# --------------------------------------------------------------------------- CSV


def pairs_from_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read correspondences from a CSV file: a header row naming the columns ``X Y Z u v``
    (any order, case-sensitive as written here, other columns ignored), then one row per point.
    Blank lines and lines starting with ``#`` are skipped.

    Returns ``points_3d`` ``(N, 3)`` and ``pixels`` ``(N, 2)`` float64. A bad row raises
    :class:`EdgeactError` naming ``file:LINE``.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")  # utf-8-sig: spreadsheets like to add a BOM
    except FileNotFoundError:
        raise EdgeactError(f"{p}: no such CSV file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgeactError(f"{p}: cannot read CSV file ({exc})") from None
    rows = [(i + 1, r) for i, r in enumerate(csv.reader(text.splitlines()))
            if r and any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    if not rows:
        raise EdgeactError(f"{p}: empty CSV file (expected a header {','.join(CSV_COLUMNS)} and rows)")
    line, header = rows[0]
    names = [h.strip() for h in header]
    missing = [c for c in CSV_COLUMNS if c not in names]
    if missing:
        raise EdgeactError(f"{p}:{line}: header must name the columns {','.join(CSV_COLUMNS)}; "
                           f"missing {','.join(missing)} (got {','.join(names)})")
    idx = [names.index(c) for c in CSV_COLUMNS]
    values = np.empty((len(rows) - 1, 5), np.float64)
    for k, (line, row) in enumerate(rows[1:]):
        if len(row) != len(names):
            raise EdgeactError(f"{p}:{line}: expected {len(names)} values like the header, got {len(row)}")
        for j, col in enumerate(idx):
            cell = row[col].strip()
            try:
                v = float(cell)
            except ValueError:
                raise EdgeactError(f"{p}:{line}: column {CSV_COLUMNS[j]}: {cell!r} is not a number") from None
            if not math.isfinite(v):
                raise EdgeactError(f"{p}:{line}: column {CSV_COLUMNS[j]}: {cell!r} is not finite")
            values[k, j] = v
    if len(values) == 0:
        raise EdgeactError(f"{p}: no data rows after the header")
    return values[:, :3], values[:, 3:]


# --------------------------------------------------------------------------- NTU skeletons


def _skeleton_files(path: Path, max_files: Optional[int]) -> list[Path]:
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() == ".skeleton" and f.is_file())
        if not files:
            raise EdgeactError(f"{path}: no .skeleton files in this folder")
    elif path.is_file():
        files = [path]
    else:
        raise EdgeactError(f"{path}: no such .skeleton file or folder")
    if max_files is not None:
        if max_files < 1:
            raise EdgeactError(f"max_files must be at least 1, got {max_files}")
        files = files[:max_files]
    return files


def pairs_from_ntu_skeletons(path: str | Path, max_files: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Correspondences from NTU RGB+D ``.skeleton`` files: camera-space joints ``x y z`` (metres,
    Y up) against their colour-image pixels ``colorX colorY`` (1920x1080, y down).

    ``path``: one file, or a folder whose ``*.skeleton`` files are read in name order (the first
    ``max_files`` of them when given). Kept joints: body present, trackingState 2 (tracked, not
    inferred), all five values finite, ``z > 0``, and neither an all-zero ``x y z`` nor an
    all-zero ``colorX colorY`` (Kinect's "no data"). Returns ``points_3d`` ``(N, 3)``,
    ``pixels`` ``(N, 2)`` float64; raises when no joint is left.

    The Kinect v2 colour camera sits beside the depth camera, so these pairs fit the ``offset``
    model better than plain Eq. 1.
    """
    from edgeact.data.ntu import read_skeleton

    path = Path(path)
    files = _skeleton_files(path, max_files)
    p3: list[np.ndarray] = []
    px: list[np.ndarray] = []
    for f in files:
        sk = read_skeleton(f)
        j = sk.joints.astype(np.float64)
        c = sk.color_xy.astype(np.float64)
        keep = (sk.present[..., None] & (sk.tracking == 2) & np.isfinite(j).all(-1) & np.isfinite(c).all(-1)
                & (j[..., 2] > 0) & (j != 0).any(-1) & (c != 0).any(-1))
        p3.append(j[keep])
        px.append(c[keep])
    points_3d = np.concatenate(p3) if p3 else np.empty((0, 3))
    pixels = np.concatenate(px) if px else np.empty((0, 2))
    if len(points_3d) == 0:
        what = "file" if len(files) == 1 else f"{len(files)} files"
        raise EdgeactError(f"{path}: no tracked joints with colour pixels in the {what}")
    return points_3d, pixels


# --------------------------------------------------------------------------- RealSense


def _import_realsense():
    try:
        import pyrealsense2 as rs  # optional extra, needs libusb-1.0 at import time
    except ImportError as exc:
        raise EdgeactError(f"RealSense support needs pyrealsense2: {REALSENSE_INSTALL} ({exc})") from None
    return rs


def intrinsics_from_realsense(bag: str | Path | None = None, *, width: int = 0, height: int = 0) -> Calibration:
    """Eq. 1 coefficients of a RealSense colour stream, read from the connected camera
    (``bag=None``) or from a recording (``.bag``, or ``.db3`` from SDK 2.59+).

    A RealSense colour stream is a pinhole, and RealSense camera space has X right, Y down, Z
    forward, so the calibration is exact: ``cx = fx``, ``cy = +fy``, ``bx = ppx``, ``by = ppy``
    (``rmse_px = 0``). It holds for 3D points in the *colour* camera's frame, e.g. deprojected from
    depth aligned to colour (``rs.align``); lens distortion, when the stream reports one, is
    ignored. ``width``/``height`` pick the colour resolution of a live camera (0: its default);
    for a recording they must match the recorded stream when given.
    """
    rs = _import_realsense()
    where = str(bag) if bag is not None else "RealSense camera"
    cfg = rs.config()
    if bag is not None:
        bag = Path(bag)
        if not bag.is_file():
            raise EdgeactError(f"{bag}: no such RealSense recording")
        try:
            cfg.enable_device_from_file(str(bag), repeat_playback=False)
        except RuntimeError as exc:
            raise EdgeactError(f"{bag}: cannot open RealSense recording ({exc})") from None
    cfg.enable_stream(rs.stream.color, int(width), int(height), rs.format.any, 0)
    pipe = rs.pipeline()
    try:
        profile = pipe.start(cfg)
    except RuntimeError as exc:
        msg = str(exc)
        if bag is None and "No device connected" in msg:
            raise EdgeactError("no RealSense camera connected (use --bag FILE for a recording)") from None
        raise EdgeactError(f"{where}: cannot start a colour stream"
                           + (f" of {width}x{height}" if width or height else "") + f" ({msg})") from None
    try:
        stream = profile.get_stream(rs.stream.color).as_video_stream_profile()
        intr = stream.get_intrinsics()
        dev = profile.get_device()
        serial = dev.get_info(rs.camera_info.serial_number) if dev.supports(rs.camera_info.serial_number) else ""
    finally:
        pipe.stop()
    label = f"RealSense {serial} colour {intr.width}x{intr.height}".replace("  ", " ")
    source = f"{label} ({bag})" if bag is not None else label
    return Calibration(cx=float(intr.fx), cy=float(intr.fy), bx=float(intr.ppx), by=float(intr.ppy),
                       model="eq1", rmse_px=0.0, n_points=0, source=source)


# --------------------------------------------------------------------------- orchestration


@dataclass(frozen=True)
class CalibrationResult:
    """Outcome of :func:`calibrate`.

    ``calibration``: the fitted (or read) coefficients; ``errors`` ``(N,)`` per-correspondence
    reprojection error in px under it (NaN behind the camera); ``outliers`` ``(N,)`` bool, the
    points the robust fit rejected; ``n_behind``: points dropped for Z <= 0; ``notes``: warnings
    for the user, one line each. RealSense sources have N = 0.
    """

    calibration: Calibration
    errors: np.ndarray
    outliers: np.ndarray
    n_behind: int = 0
    source: str = ""
    notes: tuple[str, ...] = ()

    @property
    def n_outliers(self) -> int:
        return int(self.outliers.sum())


def calibrate(*, pairs: str | Path | None = None, ntu_skeletons: str | Path | None = None,
              realsense: bool = False, bag: str | Path | None = None, bx: float = 320.0, by: float = 240.0,
              fit_center: bool = False, model: str = "eq1", max_files: Optional[int] = None,
              k: float = ROBUST_K, floor_px: float = ROBUST_FLOOR_PX) -> CalibrationResult:
    """Calibrate from exactly one source: a CSV of pairs, NTU ``.skeleton`` file(s), the connected
    RealSense or a RealSense recording. Pairs go through :func:`edgeact.geometry.robust_fit`
    (``bx, by, fit_center, model, k, floor_px`` as there); RealSense intrinsics are exact and
    ignore those options."""
    given = {"--pairs": pairs is not None, "--ntu-skeletons": ntu_skeletons is not None,
             "--realsense": bool(realsense), "--bag": bag is not None}
    chosen = [name for name, on in given.items() if on]
    if len(chosen) != 1:
        raise EdgeactError("give exactly one source: --pairs FILE.csv, --ntu-skeletons PATH, --realsense or "
                           f"--bag FILE (got {', '.join(chosen) if chosen else 'none'})")
    if realsense or bag is not None:
        calib = intrinsics_from_realsense(bag)
        return CalibrationResult(calib, np.empty(0), np.zeros(0, bool), 0, calib.source)
    if pairs is not None:
        points_3d, pixels = pairs_from_csv(pairs)
        source = str(pairs)
    else:
        points_3d, pixels = pairs_from_ntu_skeletons(ntu_skeletons, max_files=max_files)  # type: ignore[arg-type]
        source = str(ntu_skeletons)
    calib, outliers = robust_fit(points_3d, pixels, bx=bx, by=by, fit_center=fit_center, model=model,
                                 k=k, floor_px=floor_px, source=source)
    errors = reprojection_errors(points_3d, pixels, calib)
    n_behind = int((~in_front(points_3d)).sum())
    notes: list[str] = []
    n_front = len(points_3d) - n_behind
    if outliers.sum() > MANY_OUTLIERS * n_front:
        # a model that does not fit makes residuals structured, and trimming then eats the data
        hint = " (camera beside the 3D sensor, e.g. NTU colour pixels: try --model offset)" if model == "eq1" else ""
        notes.append(f"{int(outliers.sum())} of {n_front} points ({outliers.sum() / n_front:.0%}) were rejected "
                     f"as outliers: the model may not fit these data{hint}")
    if n_behind:
        notes.append(f"{n_behind} point(s) with Z <= 0 were left out (behind the camera)")
    return CalibrationResult(calib, errors, outliers, n_behind, source, tuple(notes))


def default_output(*, pairs: str | Path | None = None, ntu_skeletons: str | Path | None = None,
                   realsense: bool = False, bag: str | Path | None = None) -> Path:
    """``calibration/<source-stem>.json``: the CSV/recording/skeleton file's stem, the folder's
    name, or ``realsense`` for the connected camera."""
    src = pairs if pairs is not None else ntu_skeletons if ntu_skeletons is not None else bag
    stem = Path(src).stem if src is not None else "realsense"
    return Path("calibration") / f"{stem or 'calibration'}.json"
