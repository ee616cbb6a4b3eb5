"""How much the live pipeline adds on top of its models (``edgeact bench live``).

The loop runs over a video file with ``--no-realtime`` (every frame, nothing dropped, no pacing
sleeps). It reports the time per frame of each stage and the pipeline overhead::

    overhead = wall time of the run / (sum of pose-model calls + sum of classifier calls)

i.e. the end-to-end time per decision divided by the model time that decision needed (its share
of pose calls plus its classifier call). 1.0 means the pipeline costs nothing beyond its models;
below 1.0 the stages overlap (pose runs while the classifier works on the previous window).
"""

from __future__ import annotations

import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgeact.live.app import LiveOptions, run_loop


@dataclass(frozen=True)
class LiveBenchResult:
    frames: int
    decisions: int
    wall_s: float
    read_ms_per_frame: float
    pose_ms_per_frame: float
    window_ms_per_frame: float
    preprocess_ms_per_decision: float
    model_ms_per_decision: float
    overhead: float

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


class _TimedPose:
    """Wraps a pose backend to sum the time of its calls alone."""

    def __init__(self, inner) -> None:
        self.inner, self.seconds, self.calls = inner, 0.0, 0

    def __call__(self, frame):
        t = time.perf_counter()
        try:
            return self.inner(frame)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1


def bench_live(video: Path, runtime, pose, opts: Optional[LiveOptions] = None) -> LiveBenchResult:
    """Run ``video`` through the loop with ``pose`` and ``runtime``; stage times and overhead."""
    from edgeact.live.sources import VideoSource

    opts = opts or LiveOptions(realtime=False, quiet=True)
    timed = _TimedPose(pose)
    source = VideoSource(video, realtime=False)
    try:
        stats = run_loop(source, timed, runtime, opts, [])
    finally:
        source.close()
    s = stats.stage_seconds
    per_frame = lambda v: 1000 * v / max(stats.frames, 1)  # noqa: E731
    per_dec = lambda v: 1000 * v / max(stats.decisions, 1)  # noqa: E731
    models = timed.seconds + s["model"]
    return LiveBenchResult(
        frames=stats.frames, decisions=stats.decisions, wall_s=stats.wall_seconds,
        read_ms_per_frame=per_frame(s["read"]), pose_ms_per_frame=per_frame(timed.seconds),
        window_ms_per_frame=per_frame(s["window"]), preprocess_ms_per_decision=per_dec(s["preprocess"]),
        model_ms_per_decision=per_dec(s["model"]), overhead=stats.wall_seconds / models if models > 0 else float("inf"))


def render_recording(out: Path, seconds: float, width: int, height: int) -> tuple[Path, Path]:
    """A synthetic recording (video + its skeleton file) of ``seconds`` at 30 fps."""
    from edgeact.data.ntu import NtuName
    from edgeact.data.synth import SynthConfig, write_sample

    cfg = SynthConfig(frames=int(round(30 * seconds)), width=width, height=height)
    video, skel, _ = write_sample(cfg, out, NtuName(1, 2, 3, 1, 1))
    return video, skel


def _random_artifact(arch: str, size: int, out: Path) -> Path:
    from edgeact.checkpoint import build_meta, save_checkpoint
    from edgeact.data.synth_motion import SYNTH_CLASSES
    from edgeact.models import create_model
    from edgeact.types import InputSpec

    model = create_model(arch, num_classes=len(SYNTH_CLASSES), levels=(None, 2, 5)).eval()
    path = out / "random.pt"
    save_checkpoint(path, model, build_meta(model, SYNTH_CLASSES,
                                            InputSpec(frames=8, size=size, resize=round(size * 8 / 7))))
    return path


def run_live_bench(*, model: str = "demo", arch: Optional[str] = None, size: int = 224, pose: str = "skeleton",
                   pose_model: str = "yolo11n-pose.yaml", seconds: float = 10.0, width: int = 640,
                   height: int = 480, stride: str = "0.5s", device: str = "auto", backend: str = "auto") -> dict:
    """Render a recording, warm up once, time one run; returns a JSON-ready row.

    ``arch`` builds a random-weight classifier of that architecture at ``size``² instead of
    ``model`` (speed does not depend on the weights)."""
    import torch

    from edgeact.live.app import resolve_model
    from edgeact.live.pose import SkeletonReplay, UltralyticsPose
    from edgeact.runtime import load_runtime

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video, skel = render_recording(tmp, seconds, width, height)
        path = _random_artifact(arch, size, tmp) if arch else resolve_model(model)
        runtime = load_runtime(path, device=device, backend=backend)
        backend = (SkeletonReplay(skel) if pose == "skeleton" else
                   UltralyticsPose(pose_model, device=device, conf=1e-4, imgsz=640, tracker="iou"))
        opts = LiveOptions(realtime=False, quiet=True, stride=stride)
        bench_live(video, runtime, backend, opts)               # warm-up: first calls, allocator
        result = bench_live(video, runtime, backend, opts)
    return {"device": str(runtime.device), "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "model": arch or model, "backend": runtime.backend,
            "precision": runtime.precision, "pose": pose,
            "video": f"{width}x{height}, {seconds:g} s", **result.to_dict()}
