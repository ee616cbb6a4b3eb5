"""``edgeact bench``: classifier latency per backend x precision x batch, and pose-model speed.

One module per part: :mod:`~edgeact.bench.timing` (interleaved timing, latency figures, host and
version info), :mod:`~edgeact.bench.model` (the classifier benchmark, :func:`bench_model`),
:mod:`~edgeact.bench.pose` (the pose-model benchmark, :func:`bench_pose`) and
:mod:`~edgeact.bench.report` (a report as Markdown). The names importers use are re-exported here.
"""

from edgeact.bench.model import (
    BACKEND_PRECISIONS,
    COMPILED,
    CUDA_FP16,
    MODEL_BACKENDS,
    PRECISIONS,
    RATIO_NAMES,
    bench_model,
    parse_backends,
    parse_precisions,
)
from edgeact.bench.pose import bench_pose
from edgeact.bench.report import bench_markdown, precision_label
from edgeact.bench.timing import Log, host_info, latency_stats, parse_int_list, time_interleaved

__all__ = ["BACKEND_PRECISIONS", "COMPILED", "CUDA_FP16", "MODEL_BACKENDS", "PRECISIONS", "RATIO_NAMES", "Log",
           "bench_markdown", "bench_model", "bench_pose", "host_info", "latency_stats", "parse_backends",
           "parse_int_list", "parse_precisions", "precision_label", "time_interleaved"]
