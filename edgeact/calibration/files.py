"""Calibration files: the JSON of one :class:`~edgeact.calibration.model.Calibration`
(:func:`save_calibration`, :func:`load_calibration`: the one loader of ``prep``, ``live`` and
``calibrate``), and where ``edgeact calibrate`` writes its result.

The default output is in the current folder (:func:`default_output`); an existing file that
calibrate did not write (no ``written_by`` marker, e.g. the shipped ``calibration/nucla.json``) is
only replaced when forced (:func:`check_output`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from edgeact.calibration.model import Calibration, check_calibration
from edgeact.errors import EdgeactError
from edgeact.fileio import refuse_output_over_input, require_regular_file

if TYPE_CHECKING:
    from edgeact.calibration.run import CalibrationResult

WRITTEN_BY = "edgeact calibrate"   # marker key `written_by`: files calibrate may replace without --force


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
    refuse_output_over_input(path, inputs, param="out")
    if path.is_dir():
        raise EdgeactError(f"{path}: is a folder; give a FILE.json", param="out")
    if path.exists() and not force and not written_by_calibrate(path):
        raise EdgeactError(f"{path}: exists and was not written by `edgeact calibrate` (no written_by marker); "
                           "pass {force} to replace it, or write elsewhere", param="out", mention="force")


def write_result(path: str | Path, result: CalibrationResult) -> None:
    """Write ``result``'s calibration JSON (``cx cy bx by [tx ty]``, ``rmse_px`` of the inliers,
    ``rmse_all_px`` of every point, ``outlier_fraction``, ``n_points`` inliers, the notes, and the
    ``written_by`` marker), atomically. Call :func:`check_output` first."""
    extra = {"camera": result.camera} if result.camera else {}
    save_calibration(path, result.calibration, extra={**extra, "notes": list(result.notes), "written_by": WRITTEN_BY})


__all__ = ["WRITTEN_BY", "save_calibration", "load_calibration", "default_output", "camera_output",
           "written_by_calibrate", "check_output", "write_result"]
