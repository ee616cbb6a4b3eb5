"""3D->2D projection calibration: where correspondences come from, and the fit behind
``edgeact calibrate``.

Sources of ``(points_3d (N, 3), pixels (N, 2))`` pairs:

* a CSV file with a header naming the columns ``X, Y, Z, u, v`` (:func:`pairs_from_csv`);
* NTU RGB+D ``.skeleton`` files, whose tracked joints carry both camera-space ``x y z`` and
  colour-image ``colorX colorY`` (:func:`pairs_from_ntu_skeletons`);
* no pairs at all for a RealSense camera or recording: its colour stream is a pinhole whose
  intrinsics are the exact Eq. 1 coefficients (:func:`intrinsics_from_realsense`).

:func:`calibrate` picks one source and runs :func:`edgeact.geometry.robust_fit`. The principal
point comes from the source unless given (NTU skeletons: the centre of their colour frames; a CSV
says nothing about its image, so it needs ``bx, by`` or a fitted centre). The result says how far
off its rejected points are (``rmse_all_px``, ``outlier_fraction``) and notes what no real camera
would give (an offset of metres, an error of many pixels), cameras mixed in one fit, and where
the principal point came from. :func:`calibrate_per_camera` fits each NTU camera alone.

Output: :func:`check_output` then :func:`write_result`; the default file is in the current
folder (:func:`default_output`), and an existing file that calibrate did not write (no
``written_by`` marker, e.g. the shipped ``calibration/nucla.json``) is only replaced when forced.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from edgeact.errors import EdgeactError
from edgeact.fileio import refuse_output_over_input, require_regular_file
from edgeact.geometry import (Calibration, ROBUST_FLOOR_PX, ROBUST_K, check_calibration, in_front,
                              reprojection_errors, robust_fit, save_calibration)

CSV_COLUMNS = ("X", "Y", "Z", "u", "v")
NTU_COLOR_SIZE = (1920, 1080)   # NTU RGB+D colour frames, the pixels of colorX / colorY
# above this fraction of rejected points the fit is suspect, whatever its RMS error says
MANY_OUTLIERS = 0.2
# Colour cameras sit a few cm from their 3D sensor (Kinect v2 about 5 cm, RealSense D4xx 1.5-6 cm):
# a fitted offset beyond 0.2 m is the fit compensating a wrong principal point, not a camera.
MAX_OFFSET_M = 0.2
# Inlier RMS error as an angle (px / focal length in px), the same at any resolution: 0.01 rad is
# 10.6 px on NTU's 1920 px frames and 3 cm at 3 m, about a joint's width; pixel rounding stays far
# below. Above it the crops would be off by more than a joint.
MAX_RMSE_RAD = 0.01
WRITTEN_BY = "edgeact calibrate"   # marker key `written_by`: files calibrate may replace without --force
REALSENSE_INSTALL = "pip install 'edgeact[realsense]' (on Linux also the system library libusb-1.0-0)"


# --------------------------------------------------------------------------- CSV


def pairs_from_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read correspondences from a CSV file: a header row naming the columns ``X Y Z u v``
    (any order, case-sensitive as written here, other columns ignored), then one row per point.
    Blank lines and lines starting with ``#`` are skipped.

    Returns ``points_3d`` ``(N, 3)`` and ``pixels`` ``(N, 2)`` float64. A bad row raises
    :class:`EdgeactError` naming ``file:LINE``.
    """
    p = require_regular_file(path, "CSV file")
    try:
        text = p.read_text(encoding="utf-8-sig")  # utf-8-sig: spreadsheets like to add a BOM
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


def parse_camera(text: str | int) -> int:
    """An NTU camera id from ``C001``, ``c1`` or ``1`` (the ``Cccc`` of ``SsssCcccPpppRrrrAaaa``)."""
    m = re.fullmatch(r"[Cc]?0*(\d+)", str(text).strip())
    if not m or int(m.group(1)) < 1:
        raise EdgeactError(f"--camera: {text!r} is not an NTU camera id (C001, C002, C003, ...)")
    return int(m.group(1))


def camera_label(camera: int) -> str:
    return f"C{camera:03d}"


def camera_of(path: Path) -> Optional[int]:
    """The camera id in an NTU sample file name, or None when the name is not ``SsssCccc...``."""
    from edgeact.data.ntu import parse_name

    try:
        return parse_name(path).camera
    except EdgeactError:
        return None


def ntu_skeleton_files(path: str | Path, *, camera: Optional[int] = None,
                       max_files: Optional[int] = None) -> tuple[list[Path], tuple[str, ...]]:
    """The ``.skeleton`` files of ``path`` (one file, or a folder's files in name order), those of
    ``camera`` only when given, then the first ``max_files``. Returns ``(files, notes)``; a note
    says how many files were passed over because their name carries no camera id, or because
    they are no regular files (a FIFO would block the reader; a single such path is refused)."""
    path = Path(path)
    notes: list[str] = []
    if path.is_dir():
        named = sorted(f for f in path.iterdir() if f.suffix.lower() == ".skeleton")
        files = [f for f in named if f.is_file()]
        if len(files) < len(named):   # FIFOs, devices, folders: reading them would block or fail
            odd = [f for f in named if not f.is_file()]
            notes.append(f"{len(odd)} .skeleton name(s) in the folder are not regular files (a folder, FIFO or "
                         f"device) and were passed over (e.g. {odd[0].name})")
        if not files:
            raise EdgeactError(f"{path}: no .skeleton files in this folder" + (f"; {notes[0]}" if notes else ""))
    elif path.exists():
        files = [require_regular_file(path, ".skeleton file")]
    else:
        raise EdgeactError(f"{path}: no such .skeleton file or folder")
    if camera is not None:
        unnamed = [f for f in files if camera_of(f) is None]
        files = [f for f in files if camera_of(f) == camera]
        if not files:
            raise EdgeactError(f"{path}: no .skeleton file of camera {camera_label(camera)}")
        if unnamed:
            notes.append(f"{len(unnamed)} file(s) whose name carries no camera id were left out "
                         f"(e.g. {unnamed[0].name})")
    if max_files is not None:
        if max_files < 1:
            raise EdgeactError(f"max_files must be at least 1, got {max_files}")
        files = files[:max_files]
    return files, tuple(notes)


def cameras_in(files: list[Path]) -> dict[int, int]:
    """``{camera id: number of files}`` of the NTU-named files (others are not counted)."""
    counts: dict[int, int] = {}
    for f in files:
        c = camera_of(f)
        if c is not None:
            counts[c] = counts.get(c, 0) + 1
    return dict(sorted(counts.items()))


def _pairs_from_files(files: list[Path], where: Path) -> tuple[np.ndarray, np.ndarray]:
    from edgeact.data.ntu import read_skeleton

    p3: list[np.ndarray] = []
    px: list[np.ndarray] = []
    for f in files:
        # strict: data after the frames the header counts means the header or the file is wrong
        # (a bad export, a concatenation), so its joints cannot be trusted to be what they seem
        sk = read_skeleton(f, strict=True)
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
        raise EdgeactError(f"{where}: no tracked joints with colour pixels in the {what}")
    return points_3d, pixels


def pairs_from_ntu_skeletons(path: str | Path, max_files: Optional[int] = None, *,
                             camera: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Correspondences from NTU RGB+D ``.skeleton`` files: camera-space joints ``x y z`` (metres,
    Y up) against their colour-image pixels ``colorX colorY`` (1920x1080, y down).

    ``path``: one file, or a folder whose ``*.skeleton`` files are read in name order (those of
    ``camera`` only, then the first ``max_files``, when given: :func:`ntu_skeleton_files`). Kept
    joints: body present, trackingState 2 (tracked, not inferred), all five values finite,
    ``z > 0``, and neither an all-zero ``x y z`` nor an all-zero ``colorX colorY`` (Kinect's "no
    data"). Returns ``points_3d`` ``(N, 3)``, ``pixels`` ``(N, 2)`` float64; raises when no joint
    is left, and for a file with data after the frames its header counts.

    The Kinect v2 colour camera sits beside the depth camera, so these pairs fit the ``offset``
    model better than plain Eq. 1.
    """
    files, _ = ntu_skeleton_files(path, camera=camera, max_files=max_files)
    return _pairs_from_files(files, Path(path))


def _synth_frame_size(meta_path: Path) -> tuple[int, int]:
    try:
        cam = json.loads(meta_path.read_text(encoding="utf-8"))["color_camera"]
        w, h = int(cam["width"]), int(cam["height"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise EdgeactError(f"{meta_path}: cannot read the colour frame size (color_camera.width/height): "
                           f"{exc}") from None
    if w < 1 or h < 1:
        raise EdgeactError(f"{meta_path}: color_camera size {w}x{h} is not a frame size")
    return w, h


def _video_frame_size(video: Path) -> Optional[tuple[int, int]]:
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    return (w, h) if w > 0 and h > 0 else None


def ntu_frame_size(path: str | Path, files: list[Path]) -> tuple[tuple[int, int], str]:
    """``((W, H), where)``: the size of the colour frames that ``colorX colorY`` of ``files`` refer
    to, and where it was read. The dataset root is the folder above the skeleton folder (NTU
    layout: ``ROOT/nturgb+d_skeletons/``); in order: its ``synth_meta.json`` (``edgeact synth``
    output), the video of the first file (``ROOT/nturgb+d_rgb/NAME_rgb.avi``), else NTU RGB+D's
    1920x1080."""
    from edgeact.data.ntu import VIDEO_DIR
    from edgeact.data.synth import META_NAME

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    root = folder.parent
    for meta in (root / META_NAME, folder / META_NAME):
        if meta.is_file():
            return _synth_frame_size(meta), str(meta)
    video = root / VIDEO_DIR / f"{files[0].stem}_rgb.avi"
    if video.is_file():
        size = _video_frame_size(video)
        if size is not None:
            return size, str(video)
    return NTU_COLOR_SIZE, "NTU RGB+D colour frames; no synth_meta.json or video beside the skeletons"


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
        bag = require_regular_file(bag, "RealSense recording")
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
        raise EdgeactError(f"{pairs}: a CSV of pairs does not say the image size: give --bx and --by (the "
                           "principal point, about the image centre: 320 240 for 640x480) or --fit-center")
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
                     f"{calib.bx:g}/{calib.by:g} is probably wrong; check --bx/--by or try --fit-center")
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
            hint = " (camera beside the 3D sensor, e.g. NTU colour pixels: try --model offset)"
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
    RealSense or a RealSense recording. Pairs go through :func:`edgeact.geometry.robust_fit`
    (``fit_center, model, k, floor_px`` as there); RealSense intrinsics are exact and ignore those
    options.

    ``bx, by``: the fixed principal point; None takes it from the source (NTU skeletons: the
    centre of their colour frames, see :func:`ntu_frame_size`; a CSV needs both or ``fit_center``).
    ``camera``: with NTU skeletons, fit that camera's files only (a folder that mixes cameras gets a
    note: C001-C003 are different Kinects). The result is checked by
    :func:`edgeact.geometry.check_calibration` (a degenerate fit raises) and carries notes when it
    is implausible (see :func:`_plausibility_notes`)."""
    given = {"--pairs": pairs is not None, "--ntu-skeletons": ntu_skeletons is not None,
             "--realsense": bool(realsense), "--bag": bag is not None}
    chosen = [name for name, on in given.items() if on]
    if len(chosen) != 1:
        raise EdgeactError("give exactly one source: --pairs FILE.csv, --ntu-skeletons PATH, --realsense or "
                           f"--bag FILE (got {', '.join(chosen) if chosen else 'none'})")
    if camera is not None and ntu_skeletons is None:
        raise EdgeactError("--camera selects NTU skeleton files: it needs --ntu-skeletons")
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
        points_3d, pixels = _pairs_from_files(files, Path(ntu_skeletons))  # type: ignore[arg-type]
        source = str(ntu_skeletons) + (f" (camera {camera_label(camera)})" if camera is not None else "")
        cams = cameras_in(files)
        if camera is None and len(cams) > 1:
            counts = ", ".join(f"{camera_label(c)} ({n} files)" for c, n in cams.items())
            notes.append(f"the files mix cameras {counts}: in NTU RGB+D each is a different Kinect, so one fit for "
                         "all is a compromise: fit one with --camera C001, or each with --per-camera")
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
                           "cameras are unknown: --per-camera needs them")
    return {camera_label(c): calibrate(ntu_skeletons=ntu_skeletons, camera=c, **options) for c in cams}


# --------------------------------------------------------------------------- output


def default_output(*, pairs: str | Path | None = None, ntu_skeletons: str | Path | None = None,
                   realsense: bool = False, bag: str | Path | None = None, camera: str = "") -> Path:
    """``SOURCE-STEM.json`` in the current folder (never the package's shipped ``calibration/``):
    the CSV/recording/skeleton file's stem, the folder's name, or ``realsense`` for the connected
    camera; ``-C001`` appended for one camera's fit."""
    src = pairs if pairs is not None else ntu_skeletons if ntu_skeletons is not None else bag
    stem = (Path(src).stem if src is not None else "realsense") or "calibration"
    return Path(f"{stem}-{camera}.json" if camera else f"{stem}.json")


def camera_output(out: Path, camera: str) -> Path:
    """``--out`` of a per-camera run: ``calib.json`` -> ``calib-C001.json``."""
    return out.with_name(f"{out.stem}-{camera}{out.suffix or '.json'}")


def written_by_calibrate(path: Path) -> bool:
    """True when ``path`` is a JSON object carrying calibrate's ``written_by`` marker."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(d, dict) and d.get("written_by") == WRITTEN_BY


def check_output(path: str | Path, *, force: bool = False, inputs: tuple = ()) -> None:
    """Refuse to write the calibration to ``path`` when it is one of ``inputs``, or an existing
    file that calibrate did not write (no ``written_by`` marker: a shipped or hand-edited file)
    unless ``force``. Re-running calibrate replaces its own output."""
    path = Path(path)
    refuse_output_over_input(path, inputs, option="--out")
    if path.is_dir():
        raise EdgeactError(f"--out {path}: is a folder; give a FILE.json")
    if path.exists() and not force and not written_by_calibrate(path):
        raise EdgeactError(f"--out {path}: exists and was not written by `edgeact calibrate` (no written_by "
                           "marker); pass --force to replace it or --out to write elsewhere")


def write_result(path: str | Path, result: CalibrationResult) -> None:
    """Write ``result``'s calibration JSON (``cx cy bx by [tx ty]``, ``rmse_px`` of the inliers,
    ``rmse_all_px`` of every point, ``outlier_fraction``, ``n_points`` inliers, the notes, and the
    ``written_by`` marker), atomically. Call :func:`check_output` first."""
    extra = {"camera": result.camera} if result.camera else {}
    save_calibration(path, result.calibration, extra={**extra, "notes": list(result.notes), "written_by": WRITTEN_BY})
