"""Northwestern-UCLA Multiview Action 3D (N-UCLA): folder scan, per-sample reader, view splits.

Layout of the distributed dataset (``multiview_action/``)::

    view_1/ view_2/ view_3/                  (also accepted: view1, View1, View_1, ...)
      aXX_sYY_eZZ/                           action XX, subject YY, environment/repetition ZZ
        frame_N_tc_M_rgb.jpg                 colour frame N (M: the camera time code)
        frame_N_tc_M_skeletons.txt           Kinect v1 skeletons of frame N (may be missing/empty)
        frame_N_tc_M_depth.png ...           (ignored)

Skeleton text format, as read by published N-UCLA loaders (not documented by the dataset
itself): for each tracked body, one header line holding a single value (the Kinect skeleton id),
then 20 lines ``x,y,z,confidence`` (metres in camera space, Kinect v1 joint order Hip_Center ...
Foot_Right). An empty file means no body in that frame. To be robust to variants of this we
accept: comma and/or whitespace separators, rows of 3 values (no confidence), header lines of one
or two values or none at all, blank lines, and several bodies per file (a run of 20k joint rows is
read as k bodies). A joint row that is not 3-4 numbers, or a body with fewer than 20 rows, raises
:class:`EdgeactError` naming ``file:LINE``.

Time axis: row t of the arrays is the t-th RGB frame in frame-number order (``frames[t]``); a
frame without a skeleton file is an absent row; skeleton files without an RGB frame are not
used. A sample folder without RGB frames uses its skeleton files' frame numbers instead. Some
real folders mix two recordings, so a frame number N repeats with another time code M: each N
then keeps its lowest M (and the skeleton of that M), and the scan reports the sample. Body
slot b is the b-th body in each file (N-UCLA has no ids that persist across frames).

Joints stay 3D here; 2D positions come from :func:`edgeact.calibration.project` (Eq. 1) with the
coefficients in ``calibration/nucla.json`` (:data:`DEFAULT_CALIBRATION`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from edgeact.data.names import NUCLA_ACTION_IDS, NUCLA_ACTIONS, NUCLA_CLASSES
from edgeact.data.ntu.reader import decode_text
from edgeact.errors import EdgeactError
from edgeact.fileio import require_regular_file

NUM_JOINTS = 20
BENCHMARKS: tuple[str, ...] = ("nucla-view1", "nucla-view2", "nucla-view3")
VIEWS: tuple[int, ...] = (1, 2, 3)
DEFAULT_CALIBRATION = Path(__file__).resolve().parents[2] / "calibration" / "nucla.json"

_VIEW_DIR = re.compile(r"^view_?([1-9])$", re.IGNORECASE)
_SAMPLE_DIR = re.compile(r"^a(\d+)_s(\d+)_e(\d+)$", re.IGNORECASE)
_FRAME_FILE = re.compile(r"^frame_(\d+)_tc_(\d+)_(rgb|skeletons)\.(jpg|jpeg|png|txt)$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[,\s]+")


# --------------------------------------------------------------------------- names and splits


def view_of_folder(name: str) -> Optional[int]:
    """``"view_2"`` / ``"view2"`` / ``"View2"`` -> 2; None for other names."""
    m = _VIEW_DIR.match(name)
    return int(m.group(1)) if m else None


def parse_sample_folder(name: str) -> tuple[int, int, int]:
    """``"a01_s02_e03"`` -> ``(action, subject, environment)``."""
    m = _SAMPLE_DIR.match(name)
    if not m:
        raise EdgeactError(f"{name!r} is not an N-UCLA sample folder name (expected aXX_sYY_eZZ)")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def label_of_action(action: int) -> int:
    """N-UCLA action id (1-6, 8, 9, 11, 12) -> label 0..9."""
    if action not in NUCLA_ACTIONS:
        raise EdgeactError(f"action a{action:02d} is not one of the 10 N-UCLA actions "
                           f"({', '.join(f'a{a:02d}' for a in NUCLA_ACTION_IDS)})")
    return NUCLA_ACTION_IDS.index(action)


def split_of_nucla(view: int, benchmark: str) -> str:
    """``"test"`` if ``view`` is the benchmark's view (``nucla-viewK``), else ``"train"``."""
    if benchmark not in BENCHMARKS:
        raise EdgeactError(f"unknown N-UCLA benchmark {benchmark!r}; valid: {', '.join(BENCHMARKS)}")
    if view not in VIEWS:
        raise EdgeactError(f"N-UCLA view must be 1, 2 or 3, got {view!r}")
    return "test" if view == int(benchmark[-1]) else "train"


# --------------------------------------------------------------------------- skeleton files


def read_nucla_skeleton_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Bodies of one ``*_skeletons.txt``: joints ``(K, 20, 3)`` float32 and confidence ``(K, 20)``
    float32 (NaN where the file has no confidence column). K = 0 for an empty file."""
    path = require_regular_file(path, "skeleton file")   # a FIFO would block
    try:
        text = decode_text(path.read_bytes())
    except OSError as exc:
        raise EdgeactError(f"{path}: cannot read skeleton file ({exc.strerror})") from None
    runs: list[list[tuple[int, list[float]]]] = [[]]   # joint rows between header lines
    for ln, line in enumerate(text.splitlines(), start=1):
        tokens = [t for t in _SEPARATORS.split(line.strip()) if t]
        if not tokens:
            continue
        if len(tokens) <= 2:
            runs.append([])
            continue
        if len(tokens) > 4:
            raise EdgeactError(f"{path}:{ln}: expected x,y,z[,confidence] per joint, got {len(tokens)} values")
        try:
            row = [float(t) for t in tokens]
        except ValueError:
            raise EdgeactError(f"{path}:{ln}: malformed number in joint row {line.strip()[:60]!r}") from None
        runs[-1].append((ln, row + [float("nan")] * (4 - len(row))))
    bodies = []
    for run in runs:
        if len(run) % NUM_JOINTS:
            ln = run[-1][0]
            raise EdgeactError(f"{path}:{ln}: a body needs {NUM_JOINTS} joint rows, found a run of {len(run)}")
        bodies.extend(run[k:k + NUM_JOINTS] for k in range(0, len(run), NUM_JOINTS))
    if not bodies:
        return np.zeros((0, NUM_JOINTS, 3), np.float32), np.zeros((0, NUM_JOINTS), np.float32)
    arr = np.asarray([[row for _, row in body] for body in bodies], dtype=np.float32)  # (K, 20, 4)
    return arr[:, :, :3].copy(), arr[:, :, 3].copy()


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class NuclaEntry:
    """One sample folder found by :func:`find_nucla_samples` (nothing read yet but file names).

    ``name`` is ``aXX_sYY_eZZ_vK``: the folder name alone repeats in all three views.
    ``frames`` are the RGB images in frame-number order; ``problem`` is set when the sample has
    no usable skeleton (it is still listed: the caller decides)."""

    name: str
    view: int
    action: int
    subject: int
    environment: int
    label: int
    folder: Path
    frames: tuple[Path, ...]
    skeleton_files: int
    problem: Optional[str] = None


@dataclass(frozen=True)
class NuclaSample:
    """One N-UCLA sample read from its folder.

    frames      T RGB image paths in frame-number order (empty if the folder has none)
    frame_numbers ``(T,)`` int64, the N of ``frame_N_tc_M``
    joints      ``(T, B, 20, 3)`` float32, metres (Kinect v1 camera space); NaN where absent
    confidence  ``(T, B, 20)`` float32, the file's 4th column; NaN where absent or not given
    present     ``(T, B)`` bool
    """

    name: str
    view: Optional[int]
    action: int
    subject: int
    environment: int
    label: int
    folder: Path
    frames: tuple[Path, ...]
    frame_numbers: np.ndarray
    joints: np.ndarray
    confidence: np.ndarray
    present: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def num_bodies(self) -> int:
        return int(self.joints.shape[1])

    @property
    def usable(self) -> bool:
        """Some frame has a body with finite joints that are not all zero."""
        j = self.joints
        return bool((self.present & np.isfinite(j).all(axis=(2, 3)) & (j != 0).any(axis=(2, 3))).any())


def _frame_files(folder: Path) -> tuple[dict[int, Path], dict[int, Path], list[int]]:
    """RGB and skeleton files by frame number N, and the frame numbers that repeat.

    Some real folders mix the frames of two recordings, so ``frame_N`` repeats with another time
    code M. Each N then keeps its lowest-M RGB frame and the skeleton of that same M (else the
    lowest-M skeleton): deterministic, whatever order the file system lists them in.
    """
    rgb_all: dict[int, list[tuple[int, Path]]] = {}
    skel_all: dict[int, list[tuple[int, Path]]] = {}
    for entry in folder.iterdir():
        m = _FRAME_FILE.match(entry.name)
        if not m:
            continue
        kind, ext = m.group(3).lower(), m.group(4).lower()
        if kind == "rgb" and ext != "txt":
            rgb_all.setdefault(int(m.group(1)), []).append((int(m.group(2)), entry))
        elif kind == "skeletons" and ext == "txt":
            skel_all.setdefault(int(m.group(1)), []).append((int(m.group(2)), entry))
    rgb = {n: min(c)[1] for n, c in rgb_all.items()}
    skel: dict[int, Path] = {}
    for n, cands in skel_all.items():
        tc = min(rgb_all[n])[0] if n in rgb_all else None
        same = [c for c in cands if c[0] == tc]
        skel[n] = min(same or cands)[1]
    repeated = sorted(n for n in set(rgb_all) | set(skel_all)
                      if len(rgb_all.get(n, ())) > 1 or len(skel_all.get(n, ())) > 1)
    return rgb, skel, repeated


def _name(folder: Path, view: Optional[int]) -> str:
    return f"{folder.name}_v{view}" if view is not None else folder.name


def read_nucla_sample(folder: str | Path, *, max_bodies: Optional[int] = None) -> NuclaSample:
    """Read every per-frame skeleton file of one sample folder ``.../view_K/aXX_sYY_eZZ``.

    ``max_bodies`` caps the body slots (None: as many as the busiest frame has).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise EdgeactError(f"{folder}: no such N-UCLA sample folder")
    action, subject, env = parse_sample_folder(folder.name)
    label = label_of_action(action)
    view = view_of_folder(folder.parent.name)
    rgb, skel, _ = _frame_files(folder)
    numbers = sorted(rgb) if rgb else sorted(skel)
    per_frame = []
    for n in numbers:
        per_frame.append(read_nucla_skeleton_file(skel[n]) if n in skel else None)
    counts = [0 if p is None else p[0].shape[0] for p in per_frame]
    b = max(counts, default=0)
    if max_bodies is not None:
        b = min(b, max_bodies)
    t = len(numbers)
    joints = np.full((t, b, NUM_JOINTS, 3), np.nan, np.float32)
    conf = np.full((t, b, NUM_JOINTS), np.nan, np.float32)
    present = np.zeros((t, b), bool)
    for i, p in enumerate(per_frame):
        if p is None:
            continue
        k = min(p[0].shape[0], b)
        joints[i, :k] = p[0][:k]
        conf[i, :k] = p[1][:k]
        present[i, :k] = True
    return NuclaSample(name=_name(folder, view), view=view, action=action, subject=subject, environment=env,
                       label=label, folder=folder, frames=tuple(rgb[n] for n in numbers if n in rgb),
                       frame_numbers=np.asarray(numbers, dtype=np.int64), joints=joints, confidence=conf,
                       present=present)


@dataclass(frozen=True)
class NuclaProblem:
    name: str      # sample name, or the folder path when it is not a sample folder
    reason: str


@dataclass(frozen=True)
class NuclaScanReport:
    root: Path
    views: tuple[int, ...] = ()
    problems: tuple[NuclaProblem, ...] = ()   # skipped folders/files, samples without a usable skeleton,
    #                                           samples whose frame numbers repeat (still listed)
    skipped_folders: int = 0                  # folders left out of the sample list

    def summary(self) -> str:
        return (f"views {', '.join(map(str, self.views))}: {len(self.problems)} problems, "
                f"{self.skipped_folders} folders skipped")


def _view_dirs(root: Path) -> dict[int, Path]:
    found: dict[int, Path] = {}
    for entry in sorted(root.iterdir()):
        v = view_of_folder(entry.name)
        if v is not None and entry.is_dir():
            if v in found:
                raise EdgeactError(f"{root}: view {v} appears twice ({found[v].name} and {entry.name})")
            found[v] = entry
    return found


def find_nucla_samples(root: str | Path, *, check_skeletons: bool = True,
                       progress: Optional[Callable[[int, int], None]] = None
                       ) -> tuple[list[NuclaEntry], NuclaScanReport]:
    """Scan an N-UCLA root (the folder holding ``view_1``..``view_3``, or its parent holding
    ``multiview_action/``). Returns the samples with at least one RGB frame, sorted by
    (view, name), and a report. Folders that are not samples, samples of unknown actions and
    samples without RGB frames are skipped and reported; with ``check_skeletons`` the skeleton
    files are read and samples without a usable skeleton get ``problem`` set (and are reported).
    """
    root = Path(root)
    if not root.is_dir():
        raise EdgeactError(f"{root}: no such dataset folder")
    views = _view_dirs(root)
    if not views and (root / "multiview_action").is_dir():
        root = root / "multiview_action"
        views = _view_dirs(root)
    if not views:
        raise EdgeactError(f"{root}: no view_1 / view_2 / view_3 folders (is this the N-UCLA multiview_action folder?)")
    unknown = sorted(set(views) - set(VIEWS))
    if unknown:
        raise EdgeactError(f"{root}: unexpected view folder(s) {unknown}; N-UCLA has views 1, 2, 3")
    problems: list[NuclaProblem] = []
    candidates: list[tuple[int, Path, tuple[int, int, int], int]] = []
    skipped = 0
    for v, vdir in sorted(views.items()):
        for entry in sorted(vdir.iterdir()):
            # a sample shipped as one file (e.g. a re-encoded .avi) would otherwise vanish unreported
            if not entry.is_dir() and _SAMPLE_DIR.match(entry.name.split(".")[0]):
                problems.append(NuclaProblem(str(entry), "not a sample folder: N-UCLA samples are folders "
                                                         "of frame_N_tc_M_rgb.jpg images"))
                skipped += 1
        for folder in sorted(p for p in vdir.iterdir() if p.is_dir()):
            try:
                action, subject, env = parse_sample_folder(folder.name)
                label = label_of_action(action)
            except EdgeactError as exc:
                problems.append(NuclaProblem(str(folder), str(exc)))
                skipped += 1
                continue
            candidates.append((v, folder, (action, subject, env), label))
    entries: list[NuclaEntry] = []
    total = len(candidates)
    for done, (v, folder, (action, subject, env), label) in enumerate(candidates, start=1):
        if progress is not None and done > 1:
            progress(done - 1, total)
        name = _name(folder, v)
        rgb, skel, repeated = _frame_files(folder)
        if not rgb:
            problems.append(NuclaProblem(name, "no RGB frames (frame_N_tc_M_rgb.jpg)"))
            skipped += 1
            continue
        problem = None
        if not skel:
            problem = "no skeleton files"
        elif check_skeletons:
            try:
                if not read_nucla_sample(folder).usable:
                    problem = "no usable skeleton in any frame"
            except EdgeactError as exc:
                problem = f"unreadable skeleton: {exc}"
        if problem:
            problems.append(NuclaProblem(name, problem))
        if repeated:
            shown = ", ".join(map(str, repeated[:5])) + (f", ... ({len(repeated)} in all)" if len(repeated) > 5 else "")
            problems.append(NuclaProblem(name, f"frame numbers {shown} repeat with other time codes (two "
                                               "recordings in one folder?): kept the lowest time code of each"))
        entries.append(NuclaEntry(name=name, view=v, action=action, subject=subject, environment=env,
                                  label=label, folder=folder, frames=tuple(rgb[n] for n in sorted(rgb)),
                                  skeleton_files=len(skel), problem=problem))
    if progress is not None and total:
        progress(total, total)
    report = NuclaScanReport(root=root, views=tuple(sorted(views)), problems=tuple(problems),
                             skipped_folders=skipped)
    return entries, report


__all__ = [
    "NUM_JOINTS", "BENCHMARKS", "VIEWS", "DEFAULT_CALIBRATION", "NUCLA_CLASSES", "NUCLA_ACTIONS",
    "NUCLA_ACTION_IDS", "view_of_folder", "parse_sample_folder", "label_of_action", "split_of_nucla",
    "read_nucla_skeleton_file", "read_nucla_sample", "find_nucla_samples", "NuclaEntry", "NuclaSample",
    "NuclaProblem", "NuclaScanReport",
]
