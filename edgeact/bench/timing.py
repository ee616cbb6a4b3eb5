"""Helpers the benchmarks share: interleaved timing, latency figures, the host and package versions
for a report's header, the thread-count guard, and the parser of comma-separated counts.

Timings are taken side by side in one process: every callable is warmed up, then the timed calls
are interleaved (one call of each per round), so drift in clock speed or load from other
processes hits all of them alike and the ratios between them hold even on a busy machine.
"""

from __future__ import annotations

import functools
import platform
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from edgeact import __version__
from edgeact.errors import EdgeactError

Log = Optional[Callable[[str], None]]


def parse_int_list(text: str, option: str) -> tuple[int, ...]:
    """``"1,8"`` -> ``(1, 8)``; every value a positive integer."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = int(part)
        except ValueError:
            raise EdgeactError(f"{option}: {part!r} is not an integer (expected e.g. 1,8)") from None
        if value < 1:
            raise EdgeactError(f"{option}: {value} must be >= 1")
        out.append(value)
    if not out:
        raise EdgeactError(f"{option}: give at least one value (e.g. 1,8)")
    return tuple(dict.fromkeys(out))


def latency_stats(seconds: Sequence[float], batch: int) -> dict:
    """Per-call latencies in seconds -> ``p50_ms``, ``p95_ms``, ``mean_ms``, ``clips_per_s``
    (``batch / p50``)."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    p50 = float(np.percentile(ms, 50))
    return {"p50_ms": p50, "p95_ms": float(np.percentile(ms, 95)), "mean_ms": float(ms.mean()),
            "clips_per_s": batch * 1e3 / p50 if p50 > 0 else float("inf"), "iters": int(len(ms))}


def time_interleaved(calls: dict, warmup: int, iters: int) -> dict:
    """Time ``iters`` rounds of every zero-argument callable in ``calls`` after ``warmup``
    untimed calls each; within a round the callables run one after the other. Returns
    ``{key: [seconds, ...]}``."""
    if iters < 1:
        raise EdgeactError(f"must be >= 1, got {iters}", param="iters")
    if warmup < 0:
        raise EdgeactError(f"must be >= 0, got {warmup}", param="warmup")
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    times: dict = {k: [] for k in calls}
    for _ in range(iters):
        for key, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    return times


def host_info(device: str) -> dict:
    """CPU model, core count and (on CUDA) the GPU name, for the report header."""
    import os

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def versions() -> dict:
    import torch

    v = {"edgeact": __version__, "torch": torch.__version__}
    for mod in ("onnxruntime", "tensorrt", "ultralytics"):
        try:
            v[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return v


def restores_torch_threads(fn: Callable) -> Callable:
    """``--threads`` binds this benchmark only: torch's thread count is put back afterwards, so a
    later caller in the same process (a test, a notebook) is not left at another count (float
    rounding, and so trained weights, follow the thread count)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import torch

        before = torch.get_num_threads()
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return wrapper
