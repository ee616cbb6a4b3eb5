"""Finding the NTU RGB+D samples of a dataset folder: ``ROOT/nturgb+d_rgb/*_rgb.avi`` and
``ROOT/nturgb+d_skeletons/*.skeleton`` matched by sample name, filtered by benchmark and split, and
each skeleton checked for a usable body, with a report of what is missing or unusable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from edgeact.data.ntu.reader import read_skeleton
from edgeact.data.ntu.splits import NtuName, check_benchmark, parse_name, split_of
from edgeact.errors import EdgeactError

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


__all__ = ["VIDEO_DIR", "SKELETON_DIR", "NtuSample", "SampleProblem", "NtuScanReport", "find_ntu_samples"]
