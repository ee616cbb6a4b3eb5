"""Correspondences from NTU RGB+D ``.skeleton`` files, whose tracked joints carry both
camera-space ``x y z`` and colour-image ``colorX colorY``: which files (one camera's, or all),
which joints, and the size of the colour frames the pixels refer to (for the principal point).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import numpy as np

from edgeact.errors import EdgeactError
from edgeact.fileio import require_regular_file

NTU_COLOR_SIZE = (1920, 1080)   # NTU RGB+D colour frames, the pixels of colorX / colorY


def parse_camera(text: str | int) -> int:
    """An NTU camera id from ``C001``, ``c1`` or ``1`` (the ``Cccc`` of ``SsssCcccPpppRrrrAaaa``)."""
    m = re.fullmatch(r"[Cc]?0*(\d+)", str(text).strip())
    if not m or int(m.group(1)) < 1:
        raise EdgeactError(f"{text!r} is not an NTU camera id (C001, C002, C003, ...)", param="camera")
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


def pairs_from_files(files: list[Path], where: Path) -> tuple[np.ndarray, np.ndarray]:
    """The kept joints of ``files`` as ``points_3d (N, 3)``, ``pixels (N, 2)`` (see
    :func:`pairs_from_ntu_skeletons`); errors name ``where``."""
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
    return pairs_from_files(files, Path(path))


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


__all__ = ["NTU_COLOR_SIZE", "parse_camera", "camera_label", "camera_of", "ntu_skeleton_files", "cameras_in",
           "pairs_from_files", "pairs_from_ntu_skeletons", "ntu_frame_size"]
