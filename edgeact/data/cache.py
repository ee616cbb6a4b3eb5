"""The preprocessed-clip cache: one "frame pack" file per sample plus a JSON index.

Why this format: a training step needs 8 frames scattered over a clip, for thousands of clips in
random order. Raw ``uint8`` arrays would allow that but cost 196 KB per 256x256 frame (about
1 TB for NTU RGB+D 60); a re-encoded video is small but must be decoded from a keyframe to reach
a frame. A frame pack stores each cropped frame as its own JPEG, with an offset table up front,
so reading frame ``i`` is one seek plus one small JPEG decode and the cache is ~10x smaller than
raw (``bench/cache_formats.py`` measures both).

Layout of ``<cache>/frames/<name>.pack``::

    magic  b"EDGEPACK"  (8 bytes)
    u32    version (1), u32 frame count T, u32 height, u32 width
    u64    offsets[T + 1]  (byte offsets of each JPEG, relative to the start of the data)
    data   T JPEG images back to back

All integers little-endian. Files are written to a temporary name and renamed, so a pack that
exists is complete.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Iterable, Optional, Sequence

import cv2
import numpy as np

from edgeact.errors import EdgeactError
from edgeact.geometry import crop_resize

MAGIC = b"EDGEPACK"
VERSION = 1
_HEAD = struct.Struct("<8sIIII")
JPEG_QUALITY = 90


def encode_pack(frames: Iterable[np.ndarray], quality: int = JPEG_QUALITY) -> bytes:
    """Frames ``(H, W, 3)`` uint8 RGB (all the same size) -> frame-pack bytes."""
    blobs: list[bytes] = []
    shape = None
    for frame in frames:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        if shape is None:
            shape = frame.shape[:2]
        elif frame.shape[:2] != shape:
            raise ValueError("all frames of a pack must have the same size")
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise ValueError("JPEG encoding failed")
        blobs.append(buf.tobytes())
    h, w = shape if shape is not None else (0, 0)
    offsets = np.zeros(len(blobs) + 1, dtype="<u8")
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    return _HEAD.pack(MAGIC, VERSION, len(blobs), h, w) + offsets.tobytes() + b"".join(blobs)


class FramePack:
    """Random access to the frames of one pack file. Cheap to open; reads only what it needs."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            with open(self.path, "rb") as f:
                head = f.read(_HEAD.size)
                if len(head) < _HEAD.size:
                    raise EdgeactError(f"{self.path}: truncated frame pack (header)")
                magic, version, n, h, w = _HEAD.unpack(head)
                if magic != MAGIC:
                    raise EdgeactError(f"{self.path}: not an edgeact frame pack")
                if version != VERSION:
                    raise EdgeactError(f"{self.path}: frame pack version {version}, expected {VERSION}")
                raw = f.read(8 * (n + 1))
                if len(raw) < 8 * (n + 1):
                    raise EdgeactError(f"{self.path}: truncated frame pack (offsets)")
        except FileNotFoundError:
            raise EdgeactError(f"{self.path}: no such frame pack (was the sample prepared?)") from None
        self.num_frames, self.height, self.width = n, h, w
        self._offsets = np.frombuffer(raw, dtype="<u8").astype(np.int64)
        self._data_start = _HEAD.size + 8 * (n + 1)

    def __len__(self) -> int:
        return self.num_frames

    def read(self, indices: Sequence[int] | None = None, *, size: Optional[int] = None) -> np.ndarray:
        """Decode frames ``indices`` (default all) -> ``(len(indices), H, W, 3)`` uint8 RGB, or
        ``(len(indices), size, size, 3)`` when ``size`` is given: frames stored larger are shrunk
        to it as ``prep --resize`` would have (area interpolation); smaller ones are refused, since
        enlarging them cannot restore the detail a model trained at ``size`` expects."""
        if indices is None:
            indices = range(self.num_frames)
        indices = [int(i) for i in indices]
        resize = size is not None and (self.height, self.width) != (size, size)
        if resize and min(self.height, self.width) < size:
            raise EdgeactError(f"{self.path}: frames are {self.width}x{self.height} px, smaller than the "
                               f"{size} px asked for")
        h, w = (size, size) if resize else (self.height, self.width)
        out = np.empty((len(indices), h, w, 3), dtype=np.uint8)
        cache: dict[int, np.ndarray] = {}
        with open(self.path, "rb") as f:
            for k, i in enumerate(indices):
                if not 0 <= i < self.num_frames:
                    raise IndexError(f"{self.path}: frame {i} out of range [0, {self.num_frames})")
                if i not in cache:
                    f.seek(self._data_start + self._offsets[i])
                    buf = f.read(int(self._offsets[i + 1] - self._offsets[i]))
                    img = cv2.imdecode(np.frombuffer(buf, dtype=np.uint8), cv2.IMREAD_COLOR)
                    if img is None:
                        raise EdgeactError(f"{self.path}: frame {i} is corrupt")
                    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
                    cache[i] = crop_resize(img, (0.0, 0.0, float(self.width), float(self.height)), size) \
                        if resize else img
                out[k] = cache[i]
        return out


def pack_path(cache_dir: str | Path, name: str) -> Path:
    return Path(cache_dir) / "frames" / f"{name}.pack"


def load_frames(cache_dir: str | Path, sample_name: str) -> np.ndarray:
    """All cropped frames of a cached sample, ``(T, S, S, 3)`` uint8 RGB (``S``: the cache's size)."""
    return FramePack(pack_path(cache_dir, sample_name)).read()


def cache_frame_size(cache_dir: str | Path, index: Optional[dict] = None) -> int:
    """Side in pixels of the cache's (square) frames: ``prep --resize``, as ``index.json`` records
    it, else read from the first sample's pack."""
    index = index if index is not None else read_index(cache_dir)
    size = index["meta"].get("size")
    if isinstance(size, int) and not isinstance(size, bool):
        return size
    if not index["samples"]:
        raise EdgeactError(f"{Path(cache_dir) / 'index.json'}: lists no samples")
    pack = FramePack(pack_path(cache_dir, index["samples"][0]["name"]))
    return pack.height


def cache_fingerprint(cache_dir: str | Path, benchmark: str, index: Optional[dict] = None) -> str:
    """A digest of what a run on ``benchmark`` learns from in this cache: the frame settings, the
    classes and every sample of the benchmark (name, label, length, split). A cache that moved
    keeps it; one re-prepared with other settings or other samples does not."""
    import hashlib

    index = index if index is not None else read_index(cache_dir)
    meta = index["meta"]
    samples = sorted((s["name"], s.get("label"), s.get("num_frames"), s.get("splits", {}).get(benchmark))
                     for s in index["samples"] if s.get("splits", {}).get(benchmark))
    what = {"size": cache_frame_size(cache_dir, index), "margin": meta.get("margin"), "cropped": meta.get("cropped"),
            "classes": meta.get("classes"), "samples": samples}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_index(cache_dir: str | Path) -> dict:
    """The cache's ``index.json``: ``{"meta": {...}, "samples": [{...}, ...]}``."""
    path = Path(cache_dir) / "index.json"
    if not path.is_file():
        raise EdgeactError(f"{cache_dir}: not an edgeact cache (no index.json; run `edgeact prep` first)")
    try:
        index = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise EdgeactError(f"{path}: invalid JSON at line {exc.lineno}") from None
    if not isinstance(index, dict) or "samples" not in index or "meta" not in index:
        raise EdgeactError(f"{path}: missing 'meta' or 'samples'")
    return index
