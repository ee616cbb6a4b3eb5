"""Clip sampling and the training/test ``Dataset`` over a prepared cache (paper §4.1).

Sampling: a clip of ``n`` frames is split into ``k = 8`` equal segments of length ``L = n / k``;
frame ``j`` is ``floor(s + j * L)`` where the start ``s`` lies in the first segment ``[0, L)``.
Training draws ``s`` at random; testing uses 5 starts spread evenly over the first segment,
``s = (i + 0.5) / 5 * L``, and averages the 5 predictions. Clips shorter than 8 frames repeat
frames (``L < 1``), never index past the end.

Pixels: frames are read at the model's ``resize`` (``256²``; a cache of another size is resized
on load or refused, :func:`frame_scale_note`); training takes a random ``224²`` crop and flips
horizontally with p = 0.5, mapping the label through the class list's declared mirror pairs
(classes whose mirror is not in the list are never flipped); testing takes the centre crop.
:func:`clip_tensor` is the one function that turns sampled frames into network input; the live
loop uses it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from edgeact.data.cache import FramePack, cache_frame_size, pack_path, read_index
from edgeact.data.classes import ClassList
from edgeact.errors import EdgeactError
from edgeact.geometry import (
    DEFAULT_MARGIN,
    Box,
    center_crop_offsets,
    crop_at,
    crop_box,
    crop_resize,
    random_crop_offsets,
)
from edgeact.types import InputSpec


def segment_indices(num_frames: int, num_segments: int = 8, start: float = 0.0) -> np.ndarray:
    """Frame indices ``(num_segments,)`` for a clip of ``num_frames``, with the first frame at
    ``start`` (a fraction in ``[0, 1)`` of the first segment)."""
    if num_frames < 1:
        raise ValueError("a clip needs at least one frame")
    if not 0.0 <= start < 1.0:
        raise ValueError(f"start must be in [0, 1), got {start}")
    seg = num_frames / num_segments
    idx = np.floor(start * seg + np.arange(num_segments) * seg).astype(np.int64)
    return np.minimum(idx, num_frames - 1)


def train_indices(num_frames: int, rng: np.random.Generator, num_segments: int = 8) -> np.ndarray:
    """Training sample: first frame uniformly random within the first segment."""
    return segment_indices(num_frames, num_segments, float(rng.random()))


def test_indices(num_frames: int, num_sets: int = 5, num_segments: int = 8) -> np.ndarray:
    """``(num_sets, num_segments)`` frame indices: starts spread evenly over the first segment."""
    return np.stack([segment_indices(num_frames, num_segments, (i + 0.5) / num_sets)
                     for i in range(num_sets)])


test_indices.__test__ = False  # not a pytest test despite the name


def clip_tensor(frames: np.ndarray, spec: InputSpec, *, offset: tuple[int, int] | None = None,
                flip: bool = False) -> torch.Tensor:
    """Sampled frames ``(T, R, R, 3)`` uint8 RGB -> normalized network input ``(3, T, S, S)``
    float32, cropping at ``offset = (top, left)`` (default: centre) and optionally flipping
    horizontally."""
    if frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError(f"expected frames (T, H, W, 3), got {frames.shape}")
    s = spec.size
    y, x = offset if offset is not None else center_crop_offsets(frames.shape[1], frames.shape[2], s)
    crop = crop_at(frames, y, x, s)
    if flip:
        crop = crop[:, :, ::-1]
    t = torch.from_numpy(np.ascontiguousarray(crop)).permute(3, 0, 1, 2).float().div_(255.0)
    mean = torch.tensor(spec.mean).view(3, 1, 1, 1)
    std = torch.tensor(spec.std).view(3, 1, 1, 1)
    return (t - mean) / std


def window_clips(frames: Sequence[np.ndarray], points: np.ndarray, spec: InputSpec, *, num_sets: int = 1,
                 margin: float = DEFAULT_MARGIN, bgr: bool = True) -> tuple[Optional[torch.Tensor], Optional[Box]]:
    """Test clips of a live window, preprocessed exactly as ``prep`` + :class:`ClipDataset` do for a
    test sample: crop box = union of the window's skeleton over all its frames (+``margin``,
    capped at the frame), each frame cropped and resized to ``spec.resize``², frame sets sampled by
    :func:`test_indices`, then :func:`clip_tensor` (centre crop, normalization).

    ``frames`` ``n`` images ``(H, W, 3)`` uint8 (BGR from OpenCV when ``bgr``, else RGB);
    ``points`` ``(n, J, 2)`` pixels, NaN where a joint is missing. Returns
    ``(clips (num_sets, 3, T, S, S), box)``, or ``(None, None)`` when no joint is valid. Only the
    sampled frames are cropped (the same ones a cached clip would read).
    """
    if len(frames) == 0:
        raise ValueError("a window needs at least one frame")
    h, w = frames[0].shape[:2]
    box = crop_box(points, (w, h), margin)
    if box is None:
        return None, None
    sets = test_indices(len(frames), num_sets, spec.frames)
    crops: dict[int, np.ndarray] = {}
    for i in np.unique(sets):
        crop = crop_resize(frames[int(i)], box, spec.resize)
        # resizing acts per channel, so swapping channels after the crop equals prep's
        # convert-then-crop and touches 256² pixels instead of the whole frame
        crops[int(i)] = crop[..., ::-1] if bgr else crop
    clips = torch.stack([clip_tensor(np.stack([crops[int(i)] for i in row]), spec) for row in sets])
    return clips, box


def frame_scale_note(cache_dir: str | Path, spec: InputSpec, index: Optional[dict] = None) -> Optional[str]:
    """Compare the cache's frame size with the ``spec.resize`` a model was trained on; every
    reader of a cache (train, eval, INT8 calibration) goes through it in :class:`ClipDataset`.

    The ``spec.size`` crop is a fixed share of the person box only at ``spec.resize``: 64 px of
    72 px frames span 89 % of the box's side, 64 px of 256 px a quarter of it, a view of the
    person the model never saw.
    So frames of another size are never cropped as they are:

    * larger frames are shrunk to ``spec.resize`` on load (what ``prep --resize`` would have stored:
      the same box, area interpolation), and the returned one-line note says so and how to avoid
      the per-frame cost. Refusing would send the user to re-prepare a cache whose pixels already
      hold everything needed;
    * smaller frames are refused with the ``prep`` command that makes the right cache: enlarging
      them would feed the model blurrier people than it learned on and understate it.

    Returns ``None`` when the sizes agree.
    """
    index = index if index is not None else read_index(cache_dir)
    have, want = cache_frame_size(cache_dir, index), spec.resize
    if have == want:
        return None
    meta = index["meta"]
    if have < want:
        prep = (f"edgeact prep --dataset {meta.get('dataset', '<dataset>')} --root {meta.get('root', '<root>')} "
                f"--out {Path(cache_dir)}-{want} --resize {want}" + ("" if meta.get("cropped", True) else " --no-crop"))
        raise EdgeactError(f"{cache_dir}: cache frames are {have} px but the model takes {want} px frames "
                           f"(resize {want}, crop {spec.size}); enlarging would blur them: make a cache at that "
                           f"size: {prep}")
    return (f"note: {cache_dir}: cache frames are {have} px, the model was trained on {want} px: resizing on "
            f"load (prep --resize {want} makes a cache that needs none)")


class ClipDataset(Dataset):
    """Clips of one benchmark split of a prepared cache.

    Training items are ``(clip (3, T, S, S) float32, label)``; test items are
    ``(clips (num_sets, 3, T, S, S), label)``. ``names`` restricts the samples (e.g. a
    validation subset). Frames are read at ``spec.resize``² whatever size the cache holds
    (:func:`frame_scale_note`; ``scale_note`` keeps its note).

    A training clip's frames, crop and flip come from a random stream of its own, seeded by
    ``(seed, epoch, index)``: they do not depend on the number of DataLoader workers, on which
    worker loads the clip or on when, so a run computes the same numbers however it is loaded.
    Call :meth:`set_epoch` before each epoch for new augmentations.
    """

    def __init__(self, cache_dir: str | Path, benchmark: str, split: str, *, train: bool,
                 spec: InputSpec = InputSpec(), num_test_sets: int = 5, flip_p: float = 0.5,
                 names: Optional[Sequence[str]] = None, seed: int = 0):
        index = read_index(cache_dir)
        self.cache_dir = Path(cache_dir)
        self.classes = ClassList.from_dict(index["meta"]["classes"])
        self.spec, self.train, self.num_test_sets, self.flip_p = spec, train, num_test_sets, flip_p
        self._flip_map = self.classes.flip_map()
        samples = [s for s in index["samples"] if s.get("splits", {}).get(benchmark) == split]
        if names is not None:
            wanted = set(names)
            samples = [s for s in samples if s["name"] in wanted]
        if not samples:
            raise EdgeactError(f"{cache_dir}: no samples in split {split!r} of benchmark {benchmark!r} "
                               f"(available benchmarks: {', '.join(index['meta'].get('benchmarks', [])) or 'none'})")
        self.samples = samples
        self.seed = seed
        self.epoch = 0
        self.scale_note = frame_scale_note(cache_dir, spec, index)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> np.ndarray:
        return np.array([s["label"] for s in self.samples], dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:
        """Training clips of ``epoch`` (workers started after this call see it)."""
        self.epoch = int(epoch)

    def _rng(self, i: int) -> np.random.Generator:
        # masked: SeedSequence takes non-negative integers only, and a recipe's seed may be negative
        return np.random.default_rng([self.seed & (2**64 - 1), self.epoch, i])

    def __getitem__(self, i: int):
        sample = self.samples[i]
        pack = FramePack(pack_path(self.cache_dir, sample["name"]))
        label = int(sample["label"])
        k, size = self.spec.frames, self.spec.resize
        if self.train:
            rng = self._rng(i)
            frames = pack.read(train_indices(len(pack), rng, k), size=size)
            offset = random_crop_offsets(frames.shape[1], frames.shape[2], self.spec.size, rng)
            flip = bool(rng.random() < self.flip_p) and self.classes.can_flip(label)
            if flip:
                label = int(self._flip_map[label])
            return clip_tensor(frames, self.spec, offset=offset, flip=flip), label
        sets = test_indices(len(pack), self.num_test_sets, k)
        frames = pack.read(sets.reshape(-1), size=size)
        frames = frames.reshape(*sets.shape, *frames.shape[1:])
        return torch.stack([clip_tensor(f, self.spec) for f in frames]), label

