"""NTU RGB+D 60/120: ``.skeleton`` reader and writer, sample names, benchmark splits, folder scan.

The ``.skeleton`` text format (Kinect v2, one file per sample)::

    <frame count>
    per frame:  <body count>
      per body: <bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence
                 handRightState isRestricted leanX leanY trackingState>      (10 values)
                <joint count>                                                (25)
                25 x <x y z depthX depthY colorX colorY orientW orientX orientY orientZ trackingState>

x y z are metres in camera space (Y up), depthX/Y pixels of the 512x424 depth image, colorX/Y
pixels of the 1920x1080 colour image (y down), trackingState 2 tracked / 1 inferred / 0 not.
Real files use CRLF or LF, write numbers in plain or scientific notation (``-7.257856E-05``),
have 17-digit body ids (kept as text: they do not fit a float), frames with no body, several
bodies per frame in any order, and sometimes no usable body at all.

Body slots. Bodies are matched across frames by body id. When a file has more than
``max_bodies`` distinct ids, the kept ones are those with the most *usable* frames (joints finite
and not all zero), then the most frames, then the earliest first appearance; kept bodies are
ordered by first appearance. Everything left out is listed in :class:`SkeletonReport`.
"""

from __future__ import annotations

import codecs
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

from edgeact.data.names import NTU60_CLASSES, NTU120_CLASSES, NTU_ACTION_NAMES
from edgeact.errors import EdgeactError
from edgeact.fileio import atomic_write_bytes, require_regular_file

NUM_JOINTS = 25
_VALUES_PER_JOINT = 12
_BODY_INFO_VALUES = 10

# --------------------------------------------------------------------------- result types


@dataclass(frozen=True)
class DroppedBody:
    """A body id left out because the file has more than ``max_bodies`` bodies."""

    body_id: str
    frames: int          # frames it appears in
    usable_frames: int   # of those, frames with finite, not-all-zero joints


@dataclass(frozen=True)
class SkeletonReport:
    """What :func:`read_skeleton` skipped or found suspicious; empty for a clean file.

    Frame indices are 0-based (row of the arrays), not line numbers.
    """

    path: str = ""
    empty_frames: tuple[int, ...] = ()               # frames with zero bodies (kept as absent rows)
    dropped_bodies: tuple[DroppedBody, ...] = ()     # beyond max_bodies
    unusable_bodies: tuple[str, ...] = ()            # kept ids whose joints are all zero / non-finite in every frame
    unusable_entries: int = 0                        # (frame, kept body) entries with all-zero / non-finite joints
    duplicate_entries: int = 0                       # a body id listed again in the same frame: the repeat is ignored
    trailing_lines: int = 0                          # non-blank lines after the frames the header counts: ignored
    trailing_frames: int = 0                         # of those, whole frame blocks (the header undercounts)
    header_frames: int = 0                           # the frame count of line 1

    @property
    def damaged(self) -> Optional[str]:
        """Why the file cannot be trusted as a whole, or None: data after the frames its header
        counts means the header (or the file) is wrong, not a Kinect quirk."""
        if not self.trailing_lines:
            return None
        if self.trailing_frames:
            return (f"skeleton header counts {self.header_frames} frames, the file holds "
                    f"{self.header_frames + self.trailing_frames}")
        return f"skeleton has {self.trailing_lines} line(s) after the {self.header_frames} frames its header counts"

    @property
    def clean(self) -> bool:
        return not (self.empty_frames or self.dropped_bodies or self.unusable_bodies
                    or self.unusable_entries or self.duplicate_entries or self.trailing_lines)

    def summary(self) -> str:
        """One line for logs, e.g. ``2 empty frames; dropped body 7205... (3 frames)``."""
        parts = []
        if self.empty_frames:
            parts.append(f"{len(self.empty_frames)} frame(s) without a body")
        for d in self.dropped_bodies:
            parts.append(f"dropped body {d.body_id} ({d.frames} frames, {d.usable_frames} usable)")
        if self.unusable_bodies:
            parts.append("unusable (all-zero) bodies " + ", ".join(self.unusable_bodies))
        if self.unusable_entries:
            parts.append(f"{self.unusable_entries} all-zero body entries")
        if self.duplicate_entries:
            parts.append(f"{self.duplicate_entries} repeated body entries ignored")
        if self.trailing_frames:
            parts.append(f"{self.trailing_frames} frame(s) after the {self.header_frames} of the header ignored")
        if self.trailing_lines:
            parts.append(f"{self.trailing_lines} trailing line(s) ignored")
        return "; ".join(parts) if parts else "clean"


@dataclass(frozen=True)
class Skeleton:
    """All bodies of one NTU sample, time-aligned with the video (row t = video frame t).

    Arrays (T frames, B body slots, 25 joints):
      joints   ``(T, B, 25, 3)`` float32, metres, camera space (Y up); NaN where the body is absent
      depth_xy ``(T, B, 25, 2)`` float32, depth-image pixels (512x424); NaN where absent
      color_xy ``(T, B, 25, 2)`` float32, colour-image pixels (1920x1080, y down); NaN where absent
      tracking ``(T, B, 25)`` int8: 2 tracked, 1 inferred, 0 not tracked; -1 where absent
      present  ``(T, B)`` bool
    ``body_ids[b]`` is the exact id text of slot b.
    """

    joints: np.ndarray
    depth_xy: np.ndarray
    color_xy: np.ndarray
    tracking: np.ndarray
    body_ids: tuple[str, ...]
    present: np.ndarray
    report: SkeletonReport = SkeletonReport()

    def __post_init__(self) -> None:
        t, b = self.present.shape if self.present.ndim == 2 else (-1, -1)
        expect = {"joints": (t, b, NUM_JOINTS, 3), "depth_xy": (t, b, NUM_JOINTS, 2),
                  "color_xy": (t, b, NUM_JOINTS, 2), "tracking": (t, b, NUM_JOINTS)}
        if t < 0:
            raise EdgeactError(f"Skeleton.present must be (T, B), got shape {self.present.shape}")
        for name, shape in expect.items():
            if getattr(self, name).shape != shape:
                raise EdgeactError(f"Skeleton.{name} must have shape {shape}, got {getattr(self, name).shape}")
        if len(self.body_ids) != b:
            raise EdgeactError(f"Skeleton.body_ids has {len(self.body_ids)} ids for {b} body slots")

    @property
    def num_frames(self) -> int:
        return int(self.present.shape[0])

    @property
    def num_bodies(self) -> int:
        return int(self.present.shape[1])

    @property
    def valid(self) -> np.ndarray:
        """``(T, B)`` bool: present, all joint coordinates finite and not all zero."""
        j = self.joints
        return self.present & np.isfinite(j).all(axis=(2, 3)) & (j != 0).any(axis=(2, 3))

    @property
    def usable(self) -> bool:
        """At least one frame holds a body with finite, not-all-zero joints."""
        return bool(self.valid.any())

    @classmethod
    def build(cls, joints: np.ndarray, *, color_xy: Optional[np.ndarray] = None,
              depth_xy: Optional[np.ndarray] = None, tracking: Optional[np.ndarray] = None,
              body_ids: Optional[Iterable[str]] = None, present: Optional[np.ndarray] = None) -> "Skeleton":
        """A Skeleton from ``joints`` ``(T, B, 25, 3)`` with defaults for the rest (for writers and
        generators): ``present`` = any finite joint, pixel arrays 0 where present (Kinect's "no
        data"), tracking 2, ids ``"1", "2", ...``; everything absent is NaN / -1."""
        joints = np.asarray(joints, dtype=np.float32)
        if joints.ndim != 4 or joints.shape[2:] != (NUM_JOINTS, 3):
            raise EdgeactError(f"joints must be (T, B, 25, 3), got shape {joints.shape}")
        t, b = joints.shape[:2]
        if present is None:
            present = np.isfinite(joints).any(axis=(2, 3))
        present = np.asarray(present, dtype=bool)
        absent = ~present[..., None, None]

        def pixels(a: Optional[np.ndarray]) -> np.ndarray:
            a = np.zeros((t, b, NUM_JOINTS, 2), np.float32) if a is None else np.asarray(a, np.float32)
            return np.where(absent, np.float32(np.nan), a)

        trk = np.full((t, b, NUM_JOINTS), 2, np.int8) if tracking is None else np.asarray(tracking, np.int8)
        ids = tuple(str(i + 1) for i in range(b)) if body_ids is None else tuple(str(i) for i in body_ids)
        return cls(joints=np.where(absent, np.float32(np.nan), joints), depth_xy=pixels(depth_xy),
                   color_xy=pixels(color_xy), tracking=np.where(present[..., None], trk, np.int8(-1)),
                   body_ids=ids, present=present)


# --------------------------------------------------------------------------- reading


def _locate_joint_error(path: str, lines: list[str], first: int, count: int) -> Optional[EdgeactError]:
    """Find the first bad joint line among ``lines[first:first+count]`` (the slow path)."""
    for k in range(first, min(first + count, len(lines))):
        tokens = lines[k].split()
        if len(tokens) != _VALUES_PER_JOINT:
            return EdgeactError(f"{path}:{k + 1}: expected {_VALUES_PER_JOINT} numbers per joint, "
                                f"got {len(tokens)}")
        for tok in tokens:
            try:
                float(tok)
            except ValueError:
                return EdgeactError(f"{path}:{k + 1}: malformed number {tok!r} in a joint line")
    return None


def decode_text(data: bytes) -> str:
    """Text of a dataset file: ASCII in practice, but a Windows editor may have re-saved it with a
    byte-order mark (UTF-8 or UTF-16). Without one, latin-1 never fails to decode, so stray bytes
    surface later as malformed numbers with a line number."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("latin-1")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1")


def _count_frames(lines: list[str], i: int) -> int:
    """How many whole frame blocks start at ``lines[i]`` (a file whose header undercounts)."""
    n, count = len(lines), 0
    while i < n:
        try:
            nb = int(lines[i])
        except ValueError:
            return count
        i += 1
        for _ in range(max(nb, 0)):
            if i + 1 >= n or len(lines[i].split()) != _BODY_INFO_VALUES or lines[i + 1].strip() != str(NUM_JOINTS):
                return count
            i += 2 + NUM_JOINTS
            if i > n:
                return count
        count += 1
    return count


def read_skeleton(path: str | Path, *, max_bodies: int = 4, strict: bool = False) -> Skeleton:
    """Read an NTU RGB+D ``.skeleton`` file into ``(T, B<=max_bodies, 25, ...)`` arrays.

    T is the frame count in the file's first line; frames without a body stay as absent rows.
    A file without any usable body is returned with ``usable == False``. A truncated or malformed
    file raises :class:`EdgeactError` naming ``path:LINE``. Lines after the T frames are ignored
    and reported (``report.trailing_lines`` / ``trailing_frames``, ``report.damaged``); with
    ``strict`` they raise instead, for callers that must not use a file whose header disagrees
    with its content. Only a regular file is read (a FIFO would block).
    """
    if max_bodies < 1:
        raise EdgeactError(f"max_bodies must be at least 1, got {max_bodies}")
    path = require_regular_file(path, "skeleton file")
    p = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EdgeactError(f"{p}: cannot read skeleton file ({exc.strerror})") from None
    lines = decode_text(data).splitlines()
    n = len(lines)

    def header_int(i: int, what: str) -> int:
        if i >= n:
            raise EdgeactError(f"{p}:{i + 1}: file ends early: expected {what}")
        try:
            return int(lines[i])
        except ValueError:
            raise EdgeactError(f"{p}:{i + 1}: expected {what}, got {lines[i].strip()[:40]!r}") from None

    num_frames = header_int(0, "the frame count")
    if num_frames < 0:
        raise EdgeactError(f"{p}:1: frame count must be >= 0, got {num_frames}")
    entry_frame: list[int] = []     # per (frame, body) entry, in file order
    entry_id: list[str] = []
    block_start: list[int] = []     # 0-based line index of each entry's first joint line
    empty: list[int] = []
    i = 1
    for f in range(num_frames):
        nb = header_int(i, f"the body count of frame {f + 1} of {num_frames}")
        if nb < 0:
            raise EdgeactError(f"{p}:{i + 1}: body count must be >= 0, got {nb}")
        i += 1
        if nb == 0:
            empty.append(f)
        for b in range(nb):
            where = f"body {b + 1} of frame {f + 1} of {num_frames}"
            if i >= n:
                raise EdgeactError(f"{p}:{i + 1}: file ends early: expected the info line of {where}")
            info = lines[i].split()
            if len(info) != _BODY_INFO_VALUES:
                raise EdgeactError(f"{p}:{i + 1}: expected {_BODY_INFO_VALUES} body-info values "
                                   f"({where}), got {len(info)}")
            body_id = info[0]
            nj = header_int(i + 1, f"the joint count of {where}")
            if nj != NUM_JOINTS:
                raise EdgeactError(f"{p}:{i + 2}: expected {NUM_JOINTS} joints ({where}), got {nj}")
            start = i + 2
            if start + NUM_JOINTS > n:
                bad = _locate_joint_error(p, lines, start, NUM_JOINTS)
                if bad is not None:
                    raise EdgeactError(f"{bad} (the file ends at line {n}: truncated?)")
                raise EdgeactError(f"{p}:{n + 1}: file ends early: {where} has {n - start} of "
                                   f"{NUM_JOINTS} joint lines")
            entry_frame.append(f)
            entry_id.append(body_id)
            block_start.append(start)
            i = start + NUM_JOINTS
    trailing = sum(1 for line in lines[i:] if line.strip())
    trailing_frames = _count_frames(lines, i) if trailing else 0
    if trailing and strict:
        first = i + next(k for k, line in enumerate(lines[i:]) if line.strip())
        what = (f"{trailing_frames} more frame(s)" if trailing_frames else f"{trailing} more line(s)")
        raise EdgeactError(f"{p}:{first + 1}: {what} after the {num_frames} frames the header (line 1) counts")

    num_entries = len(block_start)
    if num_entries:
        joint_lines: list[str] = []
        for s in block_start:
            joint_lines.extend(lines[s:s + NUM_JOINTS])
        values = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = np.loadtxt(joint_lines, dtype=np.float64, comments=None, ndmin=2)
        except ValueError:
            pass
        if values is None or values.shape != (len(joint_lines), _VALUES_PER_JOINT):
            for s in block_start:
                bad = _locate_joint_error(p, lines, s, NUM_JOINTS)
                if bad is not None:
                    raise bad
            raise EdgeactError(f"{p}: could not parse the joint lines")  # not reached for text input
        values = values.reshape(num_entries, NUM_JOINTS, _VALUES_PER_JOINT)
    else:
        values = np.zeros((0, NUM_JOINTS, _VALUES_PER_JOINT))

    # bodies: index by first appearance; a repeated id within one frame keeps its first entry
    order: dict[str, int] = {}
    body_of = np.empty(num_entries, dtype=np.int64)
    keep_entry = np.ones(num_entries, dtype=bool)
    seen: set[tuple[int, str]] = set()
    for e, (f, bid) in enumerate(zip(entry_frame, entry_id)):
        body_of[e] = order.setdefault(bid, len(order))
        if (f, bid) in seen:
            keep_entry[e] = False
        seen.add((f, bid))
    ids = list(order)
    xyz = values[:, :, :3]
    ok = np.isfinite(xyz).all(axis=(1, 2)) & (xyz != 0).any(axis=(1, 2))
    frames_of = np.bincount(body_of[keep_entry], minlength=len(ids))
    usable_of = np.bincount(body_of[keep_entry & ok], minlength=len(ids))
    ranked = sorted(range(len(ids)), key=lambda k: (-usable_of[k], -frames_of[k], k))
    kept = sorted(ranked[:max_bodies])
    slot_of = np.full(len(ids), -1, dtype=np.int64)
    slot_of[kept] = np.arange(len(kept))

    t, nb = num_frames, len(kept)
    joints = np.full((t, nb, NUM_JOINTS, 3), np.nan, np.float32)
    depth = np.full((t, nb, NUM_JOINTS, 2), np.nan, np.float32)
    color = np.full((t, nb, NUM_JOINTS, 2), np.nan, np.float32)
    tracking = np.full((t, nb, NUM_JOINTS), -1, np.int8)
    present = np.zeros((t, nb), bool)
    slots = slot_of[body_of] if num_entries else np.zeros(0, np.int64)
    sel = keep_entry & (slots >= 0)
    fr = np.asarray(entry_frame, dtype=np.int64)[sel]
    sl = slots[sel]
    v = values[sel]
    joints[fr, sl] = v[:, :, 0:3]
    depth[fr, sl] = v[:, :, 3:5]
    color[fr, sl] = v[:, :, 5:7]
    tracking[fr, sl] = np.rint(v[:, :, 11]).astype(np.int8)
    present[fr, sl] = True

    report = SkeletonReport(
        path=p,
        empty_frames=tuple(empty),
        dropped_bodies=tuple(DroppedBody(ids[k], int(frames_of[k]), int(usable_of[k]))
                             for k in range(len(ids)) if slot_of[k] < 0),
        unusable_bodies=tuple(ids[k] for k in kept if usable_of[k] == 0),
        unusable_entries=int((~ok[sel]).sum()),
        duplicate_entries=int((~keep_entry).sum()),
        trailing_lines=trailing,
        trailing_frames=trailing_frames,
        header_frames=num_frames,
    )
    return Skeleton(joints=joints, depth_xy=depth, color_xy=color, tracking=tracking,
                    body_ids=tuple(ids[k] for k in kept), present=present, report=report)


# --------------------------------------------------------------------------- writing

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


# --------------------------------------------------------------------------- names and splits

_NAME = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")
_SUFFIXES = ("_rgb.avi", ".skeleton", ".avi", "_rgb")


@dataclass(frozen=True, order=True)
class NtuName:
    """The five ids of an NTU sample name ``SsssCcccPpppRrrrAaaa`` (all 1-based)."""

    setup: int
    camera: int
    performer: int
    replication: int
    action: int

    @property
    def name(self) -> str:
        return (f"S{self.setup:03d}C{self.camera:03d}P{self.performer:03d}"
                f"R{self.replication:03d}A{self.action:03d}")

    @property
    def label(self) -> int:
        """Class index: action id - 1."""
        return self.action - 1

    def __str__(self) -> str:
        return self.name


def parse_name(name: str | Path | NtuName) -> NtuName:
    """``"S001C002P003R002A013"`` (or a path / ``_rgb.avi`` / ``.skeleton`` file name) -> NtuName."""
    if isinstance(name, NtuName):
        return name
    stem = Path(str(name)).name
    for suffix in _SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    m = _NAME.match(stem)
    if not m:
        raise EdgeactError(f"{str(name)!r} is not an NTU sample name (expected SsssCcccPpppRrrrAaaa, "
                           "e.g. S001C002P003R002A013)")
    ids = tuple(int(g) for g in m.groups())
    if 0 in ids:
        raise EdgeactError(f"{str(name)!r} is not an NTU sample name: ids start at 1")
    return NtuName(*ids)


NTU60_XSUB_TRAIN = frozenset((1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38))
NTU120_XSUB_TRAIN = NTU60_XSUB_TRAIN | frozenset((
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89,
    91, 92, 93, 94, 95, 97, 98, 100, 103))
BENCHMARKS: tuple[str, ...] = ("ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset")
# (max setup, max action) of each dataset: a sample outside belongs to no benchmark of it
_EXTENT = {"ntu60": (17, 60), "ntu120": (32, 120)}


def check_benchmark(benchmark: str) -> str:
    if benchmark not in BENCHMARKS:
        raise EdgeactError(f"unknown NTU benchmark {benchmark!r}; valid: {', '.join(BENCHMARKS)}")
    return benchmark


def split_of(name: str | Path | NtuName, benchmark: str) -> Optional[str]:
    """``"train"`` or ``"test"`` for sample ``name`` under ``benchmark``, or None when the sample is
    not part of it (e.g. action 61 or setup 18 under an ntu60 benchmark, camera 4 under xview)."""
    check_benchmark(benchmark)
    n = parse_name(name)
    dataset, protocol = benchmark.split("-")
    max_setup, max_action = _EXTENT[dataset]
    if n.setup > max_setup or n.action > max_action:
        return None
    if protocol == "xsub":
        train = NTU60_XSUB_TRAIN if dataset == "ntu60" else NTU120_XSUB_TRAIN
        return "train" if n.performer in train else "test"
    if protocol == "xview":
        return {1: "test", 2: "train", 3: "train"}.get(n.camera)
    return "train" if n.setup % 2 == 0 else "test"  # xset


# --------------------------------------------------------------------------- folder scan

VIDEO_DIR = "nturgb+d_rgb"
SKELETON_DIR = "nturgb+d_skeletons"


@dataclass(frozen=True)
class NtuSample:
    """One sample found on disk. ``problem`` says why its skeleton cannot give a crop box
    (missing, unreadable, no usable body), None when it can or when it was not checked."""

    name: str
    video: Optional[Path]
    skeleton: Optional[Path]
    problem: Optional[str] = None

    @property
    def info(self) -> NtuName:
        return parse_name(self.name)

    @property
    def action(self) -> int:
        return self.info.action

    @property
    def label(self) -> int:
        return self.info.label


@dataclass(frozen=True)
class SampleProblem:
    name: str
    reason: str


@dataclass(frozen=True)
class NtuScanReport:
    """What :func:`find_ntu_samples` found: counts and every sample or file with a problem."""

    root: Path
    videos: int = 0
    skeletons: int = 0
    problems: tuple[SampleProblem, ...] = ()     # samples with a missing video or an unusable skeleton
    ignored_files: tuple[str, ...] = ()          # files whose names are not NTU sample names
    filtered_out: int = 0                        # samples outside the requested benchmark / split

    def summary(self) -> str:
        return (f"{self.videos} videos, {self.skeletons} skeleton files, {len(self.problems)} samples "
                f"with problems, {len(self.ignored_files)} other files ignored")


def _skeleton_problem(path: Path) -> Optional[str]:
    try:
        skel = read_skeleton(path)
    except EdgeactError as exc:
        return f"unreadable skeleton: {exc}"
    if skel.usable:
        return None
    if skel.num_frames == 0:
        return "skeleton file has 0 frames"
    if skel.num_bodies == 0:
        return f"no body in any of the {skel.num_frames} frames"
    return "every body has all-zero or non-finite joints"


def _scan(folder: Path, suffix: str, ignored: list[str]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for entry in folder.iterdir():
        if not entry.name.endswith(suffix) or not entry.is_file():
            continue
        try:
            found[parse_name(entry.name).name] = entry
        except EdgeactError:
            ignored.append(str(entry))
    return found


def find_ntu_samples(root: str | Path, *, benchmark: Optional[str] = None, split: Optional[str] = None,
                     check_skeletons: bool = True,
                     progress: Optional[Callable[[int, int], None]] = None
                     ) -> tuple[list[NtuSample], NtuScanReport]:
    """Scan ``root/nturgb+d_rgb/*_rgb.avi`` and ``root/nturgb+d_skeletons/*.skeleton``.

    Returns every sample (sorted by name) that has a video or a skeleton, and a report. With
    ``check_skeletons`` each skeleton file is read and samples whose skeleton is missing,
    unreadable or has no usable body get ``problem`` set and are listed in ``report.problems``
    (they stay in the list: the caller decides, e.g. to use the whole frame). ``benchmark`` (and
    optionally ``split``: "train" / "test") keep only the samples of that benchmark / split.
    ``progress(done, total)`` is called after each skeleton check.
    """
    root = Path(root)
    if not root.is_dir():
        raise EdgeactError(f"{root}: no such dataset folder")
    vdir, sdir = root / VIDEO_DIR, root / SKELETON_DIR
    if not vdir.is_dir() and not sdir.is_dir():
        raise EdgeactError(f"{root}: holds neither {VIDEO_DIR}/ nor {SKELETON_DIR}/ (is this the NTU RGB+D root?)")
    if split is not None:
        if benchmark is None:
            raise EdgeactError("split needs a benchmark")
        if split not in ("train", "test"):
            raise EdgeactError(f"split must be 'train' or 'test', got {split!r}")
    if benchmark is not None:
        check_benchmark(benchmark)
    ignored: list[str] = []
    videos = _scan(vdir, "_rgb.avi", ignored)
    skeletons = _scan(sdir, ".skeleton", ignored)
    names = sorted(set(videos) | set(skeletons))
    filtered_out = 0
    if benchmark is not None:
        before = len(names)
        names = [nm for nm in names
                 if (s := split_of(nm, benchmark)) is not None and (split is None or s == split)]
        filtered_out = before - len(names)
    samples: list[NtuSample] = []
    problems: list[SampleProblem] = []
    total = sum(1 for nm in names if nm in skeletons) if check_skeletons else 0
    done = 0
    for nm in names:
        video, skel = videos.get(nm), skeletons.get(nm)
        reasons = []
        if video is None:
            reasons.append("video missing")
        if skel is None:
            reasons.append("skeleton file missing")
        elif check_skeletons:
            why = _skeleton_problem(skel)
            done += 1
            if progress is not None:
                progress(done, total)
            if why:
                reasons.append(why)
        problem = "; ".join(reasons) or None
        samples.append(NtuSample(nm, video, skel, problem))
        if problem:
            problems.append(SampleProblem(nm, problem))
    report = NtuScanReport(root=root, videos=len(videos), skeletons=len(skeletons), problems=tuple(problems),
                           ignored_files=tuple(sorted(ignored)), filtered_out=filtered_out)
    return samples, report


__all__ = [
    "Skeleton", "SkeletonReport", "DroppedBody", "read_skeleton", "write_skeleton", "format_skeleton",
    "NtuName", "parse_name", "split_of", "check_benchmark", "BENCHMARKS",
    "NTU60_XSUB_TRAIN", "NTU120_XSUB_TRAIN", "NTU_ACTION_NAMES", "NTU60_CLASSES", "NTU120_CLASSES",
    "NtuSample", "NtuScanReport", "SampleProblem", "find_ntu_samples", "VIDEO_DIR", "SKELETON_DIR",
]
