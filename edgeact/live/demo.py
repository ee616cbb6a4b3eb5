"""``edgeact live --demo``: the whole live pipeline with no camera and no download.

It renders one clip per action of the synthetic dataset (``edgeact synth`` defaults, seed 0) for
performer P003, whom the bundled model never saw in training (P003 is in the ntu60-xsub test
split it was trained against), writes each as an NTU-style video + skeleton file in a temporary
folder, and plays them one after another through the same :func:`edgeact.live.app.run_loop` that
``edgeact live --video X_rgb.avi --skeleton X.skeleton`` uses: video decode -> the clip's own
skeleton -> rolling window -> classifier -> decisions. The model is ``edgeact/assets/demo.pt``
(``--model demo``), trained by ``train/demo.sh``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from edgeact.data.ntu import NtuName
from edgeact.errors import EdgeactError, keywords
from edgeact.live.app import LiveOptions, build_sinks, check_options, open_classifier, resolve_model, run_loop

DEMO_PERFORMER = 3     # in the ntu60-xsub test split: never seen by the demo model
DEMO_CAMERA = 2        # the frontal view


@dataclass(frozen=True)
class DemoClip:
    name: str
    label: int
    action: str
    video: Path
    skeleton: Path


@dataclass(frozen=True)
class DemoResult:
    clip: DemoClip
    decided: Optional[str]
    p: float
    uncertain: bool
    decisions: int

    @property
    def correct(self) -> bool:
        return self.decided == self.clip.action


def render_demo_clips(out_dir: Path, *, seed: int = 0, classes: Optional[int] = None) -> list[DemoClip]:
    """Write one clip per synthetic action into ``out_dir`` (NTU layout); returns them in order."""
    from edgeact.data.synth import SynthConfig, write_sample

    cfg = SynthConfig(seed=seed)
    if classes is not None:
        cfg = replace(cfg, classes=classes)
    clips = []
    for a in range(1, cfg.classes + 1):
        name = NtuName(setup=1, camera=DEMO_CAMERA, performer=DEMO_PERFORMER, replication=1, action=a)
        video, skel, _ = write_sample(cfg, out_dir, name)
        clips.append(DemoClip(name.name, name.label, cfg.class_list.names[name.label], video, skel))
    return clips


def check_demo_options(opts: LiveOptions) -> None:
    """The demo brings its own clips and skeletons: options naming another source or another pose
    input would be ignored, so they are refused (the message names the fields to drop)."""
    given = [name for name, on in (("camera", opts.camera is not None), ("video", opts.video is not None),
                                   ("realsense", opts.realsense), ("bag", opts.bag is not None),
                                   ("skeleton", opts.skeleton is not None),
                                   ("calibration", opts.calibration is not None),
                                   ("pose", opts.pose not in ("auto", "skeleton")),
                                   ("streams", bool(opts.streams))) if on]
    if given:
        drop = ["{streams} (or several {camera}/{video})" if name == "streams" else "{" + name + "}" for name in given]
        raise EdgeactError(f"the demo plays its own synthetic clips with their own skeletons: drop {', '.join(drop)}",
                           mention=tuple(dict.fromkeys([*given, *(("camera", "video") if opts.streams else ())])))
    check_options(opts)


def run_demo(opts: LiveOptions, console=None, *, workdir: Optional[Path] = None) -> list[DemoResult]:
    """Play every demo clip through the live loop with ``opts.model`` (default: the bundled one)."""
    from edgeact.live.pose import SkeletonReplay
    from edgeact.live.sources import VideoSource

    check_demo_options(opts)
    runtime = open_classifier(opts, console)
    with tempfile.TemporaryDirectory(prefix="edgeact-demo-", dir=workdir) as tmp:
        clips = render_demo_clips(Path(tmp), classes=len(runtime.classes))
        start = {"model": str(resolve_model(opts.model)), "source": f"demo: {len(clips)} synthetic clips",
                 "pose": "skeleton replay"}
        with keywords(path="jsonl"):        # the JSONL sink's file is opts.jsonl
            shared = [s for s in build_sinks(replace(opts, quiet=True), runtime, None, fps=30.0, title="",
                                             start=start)]
        results = []
        try:
            for i, clip in enumerate(clips, 1):
                title = f"edgeact live --demo  clip {i}/{len(clips)}: {clip.name}  (performed: {clip.action})"
                view = build_sinks(replace(opts, jsonl=None, show=False, save=None, mqtt=None, serve=None), runtime, console,
                                   fps=30.0, title=title)
                for s in shared:
                    if hasattr(s, "extra"):
                        s.extra = {"clip": clip.name, "truth": clip.action}
                collector = _Collector()
                source = VideoSource(clip.video, realtime=opts.realtime)
                pose = SkeletonReplay(clip.skeleton)
                try:
                    with keywords(seconds="window_seconds", max_mb="max_window_mb"):   # the window, mid-run
                        run_loop(source, pose, runtime, opts, [*shared, *view, collector])
                finally:
                    source.close()
                    for s in view:
                        s.close(None)
                last = collector.last
                results.append(DemoResult(clip, last.label if last else None, last.fine[0].p if last else 0.0,
                                          last.uncertain if last else True, collector.count))
        finally:
            for s in shared:
                s.close(None)
    return results


class _Collector:
    """Keeps the last decision of the clip (the window that covers the whole clip)."""

    wants_frames = False

    def __init__(self) -> None:
        self.last = None
        self.count = 0

    def decision(self, d) -> None:
        self.last, self.count = d, self.count + 1

    def frame(self, event, latest) -> None:
        pass

    def tick(self, stats, latest) -> None:
        pass

    def close(self, stats) -> None:
        pass
