"""Writing NTU RGB+D ``.skeleton`` files (the format in :mod:`~edgeact.data.ntu.skeleton`) from
:class:`~edgeact.data.ntu.skeleton.Skeleton` arrays, so that the reader gives them back."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from edgeact.data.ntu.skeleton import NUM_JOINTS, Skeleton
from edgeact.errors import EdgeactError
from edgeact.fileio import atomic_write_bytes

# %.9g prints a float32 so that it reads back to the same float32
_JOINT_FMT = "%.9g %.9g %.9g %.9g %.9g %.9g %.9g 0 0 0 0 %d"
_BLOCK_FMT = "\r\n".join([_JOINT_FMT] * NUM_JOINTS)
_BODY_ID = re.compile(r"^\S+$")


def format_skeleton(skel: Skeleton) -> str:
    """The ``.skeleton`` text of ``skel`` (CRLF line endings, like the real files).

    Body-info lines carry the id and defaults: clippedEdges 0, hand confidences/states 0
    (low / unknown), isRestricted 0, lean 0 0, trackingState 2. Joint orientations are written as
    0 0 0 0 (Kinect's "no orientation"). Present bodies need finite joints and pixels.
    """
    for bid in skel.body_ids:
        if not _BODY_ID.match(bid):
            raise EdgeactError(f"body id {bid!r} must be non-empty text without spaces")
    present = skel.present
    cols = np.concatenate([skel.joints, skel.depth_xy, skel.color_xy,
                           skel.tracking[..., None].astype(np.float32)], axis=-1)  # (T, B, 25, 8)
    bad = present & ~np.isfinite(cols).all(axis=(2, 3))
    if bad.any():
        t, b = np.argwhere(bad)[0]
        raise EdgeactError(f"cannot write body {skel.body_ids[b]} in frame {t}: it is present but has "
                           "non-finite joints or pixels")
    trk = skel.tracking[present]
    if trk.size and (trk.min() < 0 or trk.max() > 2):
        raise EdgeactError("tracking states of present bodies must be 0, 1 or 2")
    out = [str(skel.num_frames)]
    for t in range(skel.num_frames):
        bodies = np.flatnonzero(present[t])
        out.append(str(len(bodies)))
        for b in bodies:
            out.append(f"{skel.body_ids[b]} 0 0 0 0 0 0 0 0 2")
            out.append(str(NUM_JOINTS))
            out.append(_BLOCK_FMT % tuple(cols[t, b].astype(np.float64).ravel().tolist()))
    return "\r\n".join(out) + "\r\n"


def write_skeleton(path: str | Path, skel: Skeleton) -> None:
    """Write ``skel`` as an NTU ``.skeleton`` file, atomically (see :func:`format_skeleton`)."""
    atomic_write_bytes(path, format_skeleton(skel).encode("ascii"))


__all__ = ["format_skeleton", "write_skeleton"]
