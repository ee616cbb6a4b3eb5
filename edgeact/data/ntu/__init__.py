"""NTU RGB+D 60/120, one module per concern: what a ``.skeleton`` file holds
(:mod:`~edgeact.data.ntu.skeleton`, where the format is described), reading and writing those files
(:mod:`~edgeact.data.ntu.reader`, :mod:`~edgeact.data.ntu.writer`), sample names and benchmark
splits (:mod:`~edgeact.data.ntu.splits`), and the scan of a dataset folder
(:mod:`~edgeact.data.ntu.scan`). The action names are in :mod:`edgeact.data.names`.
"""

from edgeact.data.names import NTU60_CLASSES, NTU120_CLASSES
from edgeact.data.ntu.reader import read_skeleton
from edgeact.data.ntu.scan import SKELETON_DIR, VIDEO_DIR, find_ntu_samples
from edgeact.data.ntu.skeleton import Skeleton, SkeletonReport
from edgeact.data.ntu.splits import BENCHMARKS, NtuName, parse_name, split_of
from edgeact.data.ntu.writer import format_skeleton, write_skeleton

__all__ = [
    "Skeleton", "SkeletonReport", "read_skeleton", "write_skeleton", "format_skeleton", "NtuName", "parse_name",
    "split_of", "BENCHMARKS", "NTU60_CLASSES", "NTU120_CLASSES", "find_ntu_samples", "VIDEO_DIR", "SKELETON_DIR",
]
