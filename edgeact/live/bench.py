"""How much the live pipeline adds on top of its models, and how it scales with streams
(``edgeact bench live``, ``edgeact bench live --streams 1,2,4,8``).

The loop runs over a video file with ``--no-realtime`` (every frame, nothing dropped, no pacing
sleeps). It reports the time per frame of each stage and the pipeline overhead::

    overhead = wall time of the run / (sum of pose-model calls + sum of classifier calls)

i.e. the end-to-end time per decision divided by the model time that decision needed (its share
of pose calls plus its classifier call). 1.0 means the pipeline costs nothing beyond its models;
below 1.0 the stages overlap (pose runs while the classifier works on the previous window).

:func:`run_streams_bench` plays N real-time copies of a synthetic recording through one process
(one batched pose stage and one classifier for all) and, for comparison, through N processes.
"""

from __future__ import annotations

import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgeact.errors import EdgeactError, keywords
from edgeact.live.app import LiveOptions, run_loop
from edgeact.live.pose import DEFAULT_POSE_YAML


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
        with keywords(seconds="window_seconds", max_mb="max_window_mb"):   # the window's checks, mid-run
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
                   pose_model: str = DEFAULT_POSE_YAML, seconds: float = 10.0, width: int = 640,
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
        with keywords(model="pose_model"):
            backend = (SkeletonReplay(skel) if pose == "skeleton" else
                       UltralyticsPose(pose_model, device=device, conf=1e-4, imgsz=640, tracker="iou"))
        opts = LiveOptions(realtime=False, quiet=True, stride=stride)
        bench_live(video, runtime, backend, opts)               # warm-up: first calls, allocator
        result = bench_live(video, runtime, backend, opts)
    return {"device": str(runtime.device), "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "model": arch or model, "backend": runtime.backend,
            "precision": runtime.precision, "pose": pose,
            "video": f"{width}x{height}, {seconds:g} s", **result.to_dict()}


# --------------------------------------------------------------------------- several streams


def _child_main() -> None:
    """One measured process of :func:`run_streams_bench`: load, say ``ready``, wait for ``go`` on
    stdin, run ``streams`` real-time replays of the recording, print the result as one JSON line."""
    import json
    import resource
    import sys

    from edgeact.live.app import LiveOptions, run_streams
    from edgeact.live.pipeline import Stream
    from edgeact.live.pose import SkeletonReplay, UltralyticsPose
    from edgeact.live.sources import VideoSource
    from edgeact.runtime import load_runtime

    a = json.loads(sys.argv[1])
    runtime = load_runtime(Path(a["model"]), device=a["device"], backend=a["backend"])
    runtime.warmup(*sorted({1, 2, min(a["streams"], 8)}))
    with keywords(model="pose_model"):
        yolo = (UltralyticsPose(a["pose_model"], device=a["device"], conf=1e-4, imgsz=640, tracker="iou")
                if a["pose"] == "yolo" else None)
    if yolo is not None:
        yolo.pose_batch([VideoSource(a["video"], realtime=False).read()] * a["streams"],
                        [f"warm{i}" for i in range(a["streams"])])
    streams = [Stream(f"cam{i}", VideoSource(a["video"], realtime=True),
                      yolo if yolo is not None else SkeletonReplay(a["skeleton"])) for i in range(a["streams"])]
    print("ready", flush=True)
    sys.stdin.readline()
    stats = run_streams(streams, runtime, LiveOptions(realtime=True, quiet=True, stride=a["stride"]), [])
    print(json.dumps({"decisions": stats.decisions, "wall_s": stats.wall_seconds,
                      "latencies_ms": list(stats.latencies_ms), "frames_dropped": stats.frames_dropped,
                      "windows_dropped": stats.windows_dropped, "model_calls": stats.model_calls,
                      "windows_classified": stats.windows_classified,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


def _run_children(n_proc: int, args: dict, timeout: float) -> list[dict]:
    """``n_proc`` child processes of ``args``, started together once every one has loaded."""
    import json
    import subprocess
    import sys

    code = "from edgeact.live.bench import _child_main; _child_main()"
    procs = [subprocess.Popen([sys.executable, "-c", code, json.dumps(args)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(n_proc)]
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("a benchmark process failed to start")
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        out = []
        for p in procs:
            text, _ = p.communicate(timeout=timeout)
            if p.returncode != 0:
                raise RuntimeError(f"a benchmark process exited with status {p.returncode}")
            out.append(json.loads(text.strip().splitlines()[-1]))
        return out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def _row(mode: str, streams: int, results: list[dict]) -> dict:
    import numpy as np

    lat = np.array([v for r in results for v in r["latencies_ms"]])
    calls = sum(r["model_calls"] for r in results)
    return {"mode": mode, "streams": streams,
            "decisions_per_s": round(sum(r["decisions"] / r["wall_s"] for r in results), 2),
            "latency_ms_p50": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
            "latency_ms_p95": round(float(np.percentile(lat, 95)), 1) if lat.size else None,
            "frames_dropped": sum(r["frames_dropped"] for r in results),
            "windows_dropped": sum(r["windows_dropped"] for r in results),
            "batch_mean": round(sum(r["windows_classified"] for r in results) / calls, 2) if calls else 0.0,
            "rss_mb": round(sum(r["rss_mb"] for r in results), 0)}


def run_streams_bench(*, streams: tuple[int, ...] = (1, 2, 4, 8), model: str = "demo", arch: Optional[str] = None,
                      size: int = 112, pose: str = "skeleton", pose_model: Optional[str] = None,
                      seconds: float = 10.0, width: int = 640, height: int = 480, stride: str = "0.5s",
                      device: str = "auto", backend: str = "auto", processes_up_to: int = 4) -> dict:
    """N real-time synthetic streams in one process, for each N of ``streams``: one row each with
    ``streams``, ``decisions_per_s`` (all streams together), ``latency_ms_p50`` / ``p95``,
    ``frames_dropped``, ``windows_dropped``, the classifier's ``batch_mean`` and the peak memory
    ``rss_mb``; for N up to ``processes_up_to`` also N separate one-stream processes run side by
    side (``mode: "N processes"``, memory summed). Every row runs in fresh processes that load,
    warm up and then start together, each stream replaying the same recording of ``seconds`` at
    its frame rate; ``arch`` measures a random-weight classifier of that architecture at
    ``size``² instead of ``model``."""
    import os

    import torch

    from edgeact.live.app import resolve_model

    if not streams or any(n < 1 for n in streams):
        raise EdgeactError(f"{streams}: give stream counts >= 1, e.g. 1,2,4,8", param="streams")
    if pose not in ("skeleton", "yolo"):
        raise EdgeactError(f"{pose}: bench live plays skeleton replays or YOLO pose", param="pose")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video, skel = render_recording(tmp, seconds, width, height)
        path = _random_artifact(arch, size, tmp) if arch else resolve_model(model)
        args = {"model": str(path), "device": device, "backend": backend, "pose": pose,
                "pose_model": pose_model or DEFAULT_POSE_YAML, "video": str(video), "skeleton": str(skel),
                "stride": stride}
        timeout = 10 * seconds + 300
        for n in streams:
            rows.append(_row("one process", n, _run_children(1, {**args, "streams": n}, timeout)))
            if 1 < n <= processes_up_to:
                rows.append(_row(f"{n} processes", n, _run_children(n, {**args, "streams": 1}, timeout)))
    return {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(), "load_1min": round(os.getloadavg()[0], 2),
            "model": arch and f"{arch} {size}x{size} (random weights)" or model, "pose": pose,
            "video": f"{width}x{height}, {seconds:g} s at 30 fps", "stride": stride, "rows": rows}


STREAM_COLUMNS = ("mode", "streams", "decisions_per_s", "latency_ms_p50", "latency_ms_p95", "frames_dropped",
                  "windows_dropped", "batch_mean", "rss_mb")


def streams_markdown(report: dict) -> str:
    """The rows of :func:`run_streams_bench` as a Markdown table, under one line naming the run."""
    head = (f"{report['model']}, {report['pose']} pose, {report['video']}, stride {report['stride']}; "
            f"{report['cpus']} CPUs, load {report['load_1min']} at the end")
    lines = [head, "", "| " + " | ".join(STREAM_COLUMNS) + " |", "|" + "---|" * len(STREAM_COLUMNS)]
    lines += ["| " + " | ".join(str(r[c]) for c in STREAM_COLUMNS) + " |" for r in report["rows"]]
    return "\n".join(lines)
