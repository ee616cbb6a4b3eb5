"""Correspondences from a CSV file with a header naming the columns ``X, Y, Z, u, v``."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from edgeact.errors import EdgeactError
from edgeact.fileio import require_regular_file

CSV_COLUMNS = ("X", "Y", "Z", "u", "v")


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


__all__ = ["CSV_COLUMNS", "pairs_from_csv"]
