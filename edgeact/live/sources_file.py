"""The streams of a multi-source ``edgeact live``: a ``--sources`` YAML file, or repeated
``--camera`` / ``--video`` on the command line.

A sources file is a YAML list, one entry per stream::

    - id: door                    # the stream's id: the `source` of its decisions, its overlay file
      camera: 0                   # a camera index or URL (rtsp://..., http://...)
    - id: hall
      video: clips/hall.mp4       # a video file
      skeleton: clips/hall.skeleton   # replayed with its own skeleton (NTU .skeleton)
    - id: desk
      realsense: true             # the first RealSense camera, or its serial number ("123456789")
      calibration: desk.json      # Eq. 1 coefficients for the depth pose
    - id: lab
      bag: lab.bag                # a RealSense recording

Each entry has an ``id`` (letters, digits, ``_ . -``; unique) and exactly one of ``camera``,
``video``, ``realsense``, ``bag``, plus ``skeleton`` and ``calibration`` where they apply. Relative
paths are read from the sources file's folder. Command-line sources get the ids ``cam0``,
``cam1``, ... (cameras first, then videos, each in the order given).

Bad input (a key not listed here, a missing or duplicate id, none or two source kinds, a missing
file) is one :class:`EdgeactError` line naming the file, the entry and the problem, raised before
any stream is opened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

from edgeact.errors import EdgeactError, keywords
from edgeact.live.sources import SOURCE_KINDS

ENTRY_KEYS = ("id", *SOURCE_KINDS, "skeleton", "calibration")
_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class StreamSpec:
    """One stream: ``id``, the source ``kind`` (a key of :data:`SOURCE_KINDS`) and its ``value``
    (camera index or URL, file, RealSense serial or None), and the stream's own ``skeleton``
    (replay) and ``calibration`` files."""

    id: str
    kind: str
    value: Union[int, str, Path, None]
    skeleton: Optional[Path] = None
    calibration: Optional[Path] = None

    @property
    def description(self) -> str:
        """``"video clips/hall.mp4"``, ``"camera 0"``, ``"realsense"``: for start lines and the view."""
        return self.kind if self.value is None else f"{self.kind} {self.value}"


def _camera(value: Union[int, str]) -> Union[int, str]:
    return int(value) if isinstance(value, str) and value.isdigit() else value


def command_line_streams(cameras: Sequence[str] = (), videos: Sequence[Path] = ()) -> tuple[StreamSpec, ...]:
    """The streams of repeated ``--camera`` and ``--video``: ids ``cam0``, ``cam1``, ... (cameras,
    then videos). A missing video is checked when it is opened, before any stream starts."""
    specs = [("camera", _camera(c)) for c in cameras] + [("video", Path(v)) for v in videos]
    return tuple(StreamSpec(f"cam{i}", kind, value) for i, (kind, value) in enumerate(specs))


def source_flags(sources: Optional[Path], cameras: Sequence[str] = (), videos: Sequence[Path] = ()) -> dict:
    """The ``live`` command's source flags as :class:`~edgeact.live.options.LiveOptions` fields:
    ``camera`` / ``video`` for one source, ``streams`` for a ``--sources`` file or several
    ``--camera`` / ``--video`` (a sources file beside them is an error about ``sources``)."""
    cameras, videos = list(cameras or ()), list(videos or ())
    if sources is not None:
        if cameras or videos:
            raise EdgeactError(f"{sources} names every stream: drop {{cameras}}/{{videos}}, or add them to the file",
                               param="sources", mention=("cameras", "videos"))
        with keywords(path="sources"):
            return {"camera": None, "video": None, "streams": read_sources_file(sources)}
    if len(cameras) + len(videos) > 1:
        return {"camera": None, "video": None, "streams": command_line_streams(cameras, videos)}
    return {"camera": cameras[0] if cameras else None, "video": videos[0] if videos else None, "streams": ()}


def read_sources_file(path: Union[str, Path]) -> tuple[StreamSpec, ...]:
    """The streams of a ``--sources`` file (see the module docstring for the format)."""
    import yaml

    from edgeact.fileio import require_regular_file

    path = Path(path)
    if not path.exists():
        raise EdgeactError(f"{path}: no such file", param="path")
    require_regular_file(path, "sources file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise EdgeactError(f"{path}: not a YAML list of sources{at}") from None
    if not isinstance(data, list) or not data:
        raise EdgeactError(f"{path}: expected a YAML list of sources, one entry per stream with an id and one of "
                           f"{', '.join(SOURCE_KINDS)}")
    specs: list[StreamSpec] = []
    for n, entry in enumerate(data, 1):
        spec = _entry(path, n, entry)
        if any(s.id == spec.id for s in specs):
            raise EdgeactError(f"{path}: entry {n}: id {spec.id!r} is already the id of another entry")
        specs.append(spec)
    return tuple(specs)


def _entry(path: Path, n: int, entry) -> StreamSpec:
    where = f"{path}: entry {n}"
    if not isinstance(entry, dict):
        raise EdgeactError(f"{where}: expected a mapping such as {{id: door, camera: 0}}, got {entry!r}")
    sid = entry.get("id")
    if sid is not None:
        if not isinstance(sid, (str, int)) or isinstance(sid, bool) or not _ID.match(str(sid)):
            raise EdgeactError(f"{where}: id {sid!r} must be letters, digits, _ . or - (it names files and topics)")
        where = f"{path}: entry {n} ({sid})"
    unknown = [str(k) for k in entry if k not in ENTRY_KEYS]
    if unknown:
        raise EdgeactError(f"{where}: unknown key {', '.join(unknown)}; valid: {', '.join(ENTRY_KEYS)}")
    if sid is None:
        raise EdgeactError(f"{where}: no id (each stream needs one, e.g. id: door)")
    kinds = [k for k in SOURCE_KINDS if k in entry]
    if len(kinds) != 1:
        got = f"got {' and '.join(kinds)}" if kinds else "got none"
        raise EdgeactError(f"{where}: give exactly one of {', '.join(SOURCE_KINDS)} ({got})")
    kind = kinds[0]
    raw = entry[kind]
    value: Union[int, str, Path, None]
    if kind == "camera":
        if isinstance(raw, bool) or not isinstance(raw, (int, str)) or raw == "" or (isinstance(raw, int) and raw < 0):
            raise EdgeactError(f"{where}: camera: {raw!r} is not a camera index (0, 1, ...) or URL")
        value = _camera(raw)
    elif kind == "realsense":
        if raw is True or raw is None:
            value = None
        elif isinstance(raw, (str, int)) and not isinstance(raw, bool) and str(raw):
            value = str(raw)
        else:
            raise EdgeactError(f"{where}: realsense: {raw!r}: give true (the first camera) or a serial number")
    else:
        value = _file(path, where, kind, raw)
    skeleton = _file(path, where, "skeleton", entry["skeleton"]) if "skeleton" in entry else None
    calibration = _file(path, where, "calibration", entry["calibration"]) if "calibration" in entry else None
    return StreamSpec(str(sid), kind, value, skeleton=skeleton, calibration=calibration)


def _file(sources: Path, where: str, key: str, raw) -> Path:
    if not isinstance(raw, str) or not raw:
        raise EdgeactError(f"{where}: {key}: {raw!r} is not a file path")
    p = Path(raw).expanduser()
    p = p if p.is_absolute() else sources.parent / p
    if not p.exists():
        raise EdgeactError(f"{where}: {key}: {p}: no such file")
    if not p.is_file():
        raise EdgeactError(f"{where}: {key}: {p}: not a regular file (a folder, FIFO or device)")
    return p


__all__ = ["ENTRY_KEYS", "StreamSpec", "command_line_streams", "read_sources_file", "source_flags"]
