"""NTU RGB+D sample names (``SsssCcccPpppRrrrAaaa``: setup, camera, performer, replication,
action) and the benchmark splits they decide: cross-subject and cross-view for NTU 60,
cross-subject and cross-setup for NTU 120.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgeact.errors import EdgeactError

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


__all__ = ["NtuName", "parse_name", "BENCHMARKS", "NTU60_XSUB_TRAIN", "NTU120_XSUB_TRAIN", "check_benchmark",
           "split_of"]
