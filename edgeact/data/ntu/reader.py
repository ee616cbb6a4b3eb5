"""Reading NTU RGB+D ``.skeleton`` files (the format in :mod:`~edgeact.data.ntu.skeleton`) into
:class:`~edgeact.data.ntu.skeleton.Skeleton` arrays.

Real files use CRLF or LF, write numbers in plain or scientific notation (``-7.257856E-05``),
have 17-digit body ids (kept as text: they do not fit a float), frames with no body, several
bodies per frame in any order, and sometimes no usable body at all.

Body slots. Bodies are matched across frames by body id. When a file has more than
``max_bodies`` distinct ids, the kept ones are those with the most *usable* frames (joints finite
and not all zero), then the most frames, then the earliest first appearance; kept bodies are
ordered by first appearance. Everything left out is listed in the
:class:`~edgeact.data.ntu.skeleton.SkeletonReport`.
"""

from __future__ import annotations

import codecs
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from edgeact.data.ntu.skeleton import (
    BODY_INFO_VALUES,
    NUM_JOINTS,
    VALUES_PER_JOINT,
    DroppedBody,
    Skeleton,
    SkeletonReport,
)
from edgeact.errors import EdgeactError
from edgeact.fileio import require_regular_file


def _locate_joint_error(path: str, lines: list[str], first: int, count: int) -> Optional[EdgeactError]:
    """Find the first bad joint line among ``lines[first:first+count]`` (the slow path)."""
    for k in range(first, min(first + count, len(lines))):
        tokens = lines[k].split()
        if len(tokens) != VALUES_PER_JOINT:
            return EdgeactError(f"{path}:{k + 1}: expected {VALUES_PER_JOINT} numbers per joint, "
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
            if i + 1 >= n or len(lines[i].split()) != BODY_INFO_VALUES or lines[i + 1].strip() != str(NUM_JOINTS):
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
            if len(info) != BODY_INFO_VALUES:
                raise EdgeactError(f"{p}:{i + 1}: expected {BODY_INFO_VALUES} body-info values "
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
        if values is None or values.shape != (len(joint_lines), VALUES_PER_JOINT):
            for s in block_start:
                bad = _locate_joint_error(p, lines, s, NUM_JOINTS)
                if bad is not None:
                    raise bad
            raise EdgeactError(f"{p}: could not parse the joint lines")  # not reached for text input
        values = values.reshape(num_entries, NUM_JOINTS, VALUES_PER_JOINT)
    else:
        values = np.zeros((0, NUM_JOINTS, VALUES_PER_JOINT))

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


__all__ = ["decode_text", "read_skeleton"]
