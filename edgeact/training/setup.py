"""What a training run is set up with: the train / validation / test clip names of a prepared
cache (the validation set split off the training set when the benchmark has none), and the
process group under ``torchrun``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from edgeact.data.cache import read_index
from edgeact.data.classes import ClassList
from edgeact.errors import EdgeactError
from edgeact.recipe import Recipe

# NTU RGB+D (and edgeact synth) videos are 30 fps; N-UCLA states no frame rate and is assumed the same
DATASET_FPS = 30.0


# --------------------------------------------------------------------------- data


def split_validation(names: list[str], labels: np.ndarray, fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Stratified random ``fraction`` of ``names`` (at least one per class that has two or more
    samples) -> ``(validation, rest)``. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    val: set[str] = set()
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            continue
        n = min(len(idx) - 1, max(1, int(round(fraction * len(idx)))))
        val.update(names[i] for i in rng.choice(idx, n, replace=False))
    return [n for n in names if n in val], [n for n in names if n not in val]


@dataclass
class Splits:
    train: list[str]
    val: list[str]
    test: list[str]
    classes: ClassList
    clip_frames: Optional[int] = None      # median length of the training clips (frames)


def make_splits(cache: Path, recipe: Recipe) -> Splits:
    """Train / validation / test sample names for the recipe's benchmark.

    ``val_source="test"`` holds out ``val_fraction`` of the test split (the paper; the test
    numbers then come from the remaining 90 %). ``val_source="train"`` holds it out of the
    training split instead, so no test clip ever steers training.
    """
    index = read_index(cache)
    if recipe.benchmark not in index["meta"].get("benchmarks", []):
        raise EdgeactError(f"{cache}: benchmark {recipe.benchmark!r} is not in this cache "
                           f"(it has: {', '.join(index['meta'].get('benchmarks', []))})")
    by_split: dict[str, list[dict]] = {"train": [], "test": []}
    for s in index["samples"]:
        split = s.get("splits", {}).get(recipe.benchmark)
        if split in by_split:
            by_split[split].append(s)
    for split, samples in by_split.items():
        if not samples:
            raise EdgeactError(f"{cache}: benchmark {recipe.benchmark!r} has no {split} samples")
    source = by_split[recipe.val_source]
    names = [s["name"] for s in source]
    val, rest = split_validation(names, np.array([s["label"] for s in source]), recipe.val_fraction, recipe.seed)
    train = rest if recipe.val_source == "train" else [s["name"] for s in by_split["train"]]
    test = rest if recipe.val_source == "test" else [s["name"] for s in by_split["test"]]
    # a benchmark may use a prefix of the cache's classes (NTU60 benchmarks on an NTU120 cache)
    n_classes = 1 + max(s["label"] for samples in by_split.values() for s in samples)
    lengths = [s["num_frames"] for s in by_split["train"] if s.get("num_frames")]
    return Splits(train, val, test, ClassList.from_dict(index["meta"]["classes"]).head(n_classes),
                  clip_frames=int(np.median(lengths)) if lengths else None)


# --------------------------------------------------------------------------- distributed


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()


def init_distributed(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1); each process
    then uses the GPU of its local rank."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available() and device.type == "cuda":
        torch.cuda.set_device(local)
        torch.distributed.init_process_group("nccl")
        return Dist(rank, world, local), torch.device("cuda", local)
    torch.distributed.init_process_group("gloo")
    return Dist(rank, world, local), torch.device("cpu")
