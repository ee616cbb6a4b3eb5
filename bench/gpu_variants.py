"""The eager classifier's CUDA settings that no runtime option offers, timed side by side.

``edgeact bench model`` times the runtimes live and eval use (torch fp32 and fp16, torch.compile,
CUDA graphs, onnxruntime, ...). The settings below have no option there; this script times them
through the same :class:`~edgeact.runtime.torch_backend.TorchRuntime` call (numpy clips in, numpy
logits out, host<->device copies included) with the same interleaved timer
(:func:`edgeact.bench.time_interleaved`), so its rows and ``bench model``'s read alike:

==================  ========================================================================
precision           what runs
==================  ========================================================================
``fp32``            the runtime as live runs it (channels_last_3d on CUDA, torch's default
                    TF32 flags); the reference of ``vs_torch``
``fp32-tf32``       TF32 on for cuDNN convolutions and for matmuls
``fp32-ieee``       TF32 off everywhere: full fp32 arithmetic
``fp16-amp``        the fp32 model under ``torch.autocast(float16)``
``bf16-amp``        under ``torch.autocast(bfloat16)``, as eval and training run on CUDA
``fp32-ncdhw``      fp32 in the contiguous layout instead of channels_last_3d
``bf16-amp-ncdhw``  bf16 autocast in the contiguous layout
``fp32-dev``        ``fp32`` on clips already on the device: no host-to-device copy of the input
``bf16-amp-dev``    ``bf16-amp`` on clips already on the device
==================  ========================================================================

The ``-dev`` rows separate the network's own time from the copy of the clips to the GPU (4.8 MB
per fp32 clip at 8x224²), which every other row, like a live call, includes.

Each row also carries ``rel_err``: ``||fine - ref|| / ||ref||`` of its fine logits against
``fp32-ieee`` on one random batch, so a variant that is fast because it is wrong shows it.

    python bench/gpu_variants.py --arch i3d_r50 --frames 8 --size 224 --batch-size 1,32 --device cuda --json v.json
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import numpy as np
import torch

# (name, layout, TF32 flag (None: torch's default), autocast dtype (None: off), clips on the device)
VARIANTS = (
    ("fp32", "channels_last_3d", None, None, False),
    ("fp32-tf32", "channels_last_3d", True, None, False),
    ("fp32-ieee", "channels_last_3d", False, None, False),
    ("fp16-amp", "channels_last_3d", None, torch.float16, False),
    ("bf16-amp", "channels_last_3d", None, torch.bfloat16, False),
    ("fp32-ncdhw", "contiguous", None, None, False),
    ("bf16-amp-ncdhw", "contiguous", None, torch.bfloat16, False),
    ("fp32-dev", "channels_last_3d", None, None, True),
    ("bf16-amp-dev", "channels_last_3d", None, torch.bfloat16, True),
)
REFERENCE = "fp32-ieee"          # of rel_err: the most exact variant


@contextlib.contextmanager
def tf32(enabled: Optional[bool]):
    """TF32 for cuDNN convolutions and matmuls on (``True``) or off (``False``) inside the block;
    ``None`` leaves torch's flags. Only the ``allow_tf32`` flags are used: torch refuses to read
    them once the newer ``fp32_precision`` settings have been mixed in."""
    if enabled is None:
        yield
        return
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    old = (cudnn.allow_tf32, matmul.allow_tf32)
    cudnn.allow_tf32 = matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        cudnn.allow_tf32, matmul.allow_tf32 = old


def contiguous(rt) -> None:
    """Switch a TorchRuntime to the contiguous NCDHW layout (it uses channels_last_3d on CUDA and
    has no option to turn it off)."""
    if not hasattr(rt, "_channels_last"):
        raise RuntimeError("TorchRuntime has no _channels_last flag any more: update bench/gpu_variants.py")
    rt.model.to(memory_format=torch.contiguous_format)
    rt._channels_last = False


def build_runtimes(arch: str, *, num_classes: int, levels, width: float, frames: int, size: int, device: torch.device):
    """``{layout: TorchRuntime}`` over one untrained ``arch`` (copies of the same weights)."""
    from edgeact.checkpoint import build_meta
    from edgeact.data.classes import ClassList
    from edgeact.models import create_model
    from edgeact.runtime.torch_backend import TorchRuntime
    from edgeact.types import InputSpec

    net = create_model(arch, num_classes=num_classes, levels=levels, width=width).eval()
    meta = build_meta(net, ClassList(tuple(f"class {i + 1}" for i in range(num_classes))),
                      InputSpec(frames=frames, size=size, resize=round(size * 256 / 224)))
    runtimes = {}
    for layout in dict.fromkeys(v[1] for v in VARIANTS):
        rt = TorchRuntime(copy.deepcopy(net), meta, device)
        if layout == "contiguous":
            contiguous(rt)
        runtimes[layout] = rt
    return runtimes


def variant_calls(runtimes: dict, clips: np.ndarray, device: torch.device) -> dict:
    """``{name: fn() -> logits}``: each variant's runtime on ``clips (B, 3, T, S, S)`` (or their copy
    already on the device, in the runtime's layout) under its TF32 and autocast settings."""
    on_device = {}
    for layout in runtimes:
        x = torch.from_numpy(clips).to(device)
        on_device[layout] = x.contiguous(memory_format=torch.channels_last_3d) if layout == "channels_last_3d" else x

    def call(rt, x, flag, dtype):
        def run():
            amp = torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
            with tf32(flag), amp:
                return rt(x)
        return run

    return {name: call(runtimes[layout], on_device[layout] if dev else clips, flag, dtype)
            for name, layout, flag, dtype, dev in VARIANTS}


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(got.astype(np.float64) - ref) / max(np.linalg.norm(ref.astype(np.float64)), 1e-30))


def bench_variants(arch: str, *, num_classes: int = 60, levels=(2, 6, 20), width: float = 1.0, frames: int = 8,
                   size: int = 224, batches=(1, 8), device: str = "cuda", warmup: int = 3, iters: int = 20,
                   seed: int = 0, log=print) -> dict:
    """A ``bench model``-shaped report (``kind: model``, ``rows``) of :data:`VARIANTS` on random
    clips ``(B, 3, frames, size, size)``; ``vs_torch`` is each row's speed-up over ``fp32``."""
    from edgeact.bench import host_info, latency_stats, time_interleaved
    from edgeact.device import resolve_device

    dev = resolve_device(device)
    runtimes = build_runtimes(arch, num_classes=num_classes, levels=levels, width=width, frames=frames,
                                    size=size, device=dev)
    rng = np.random.default_rng(seed)
    rows = []
    for b in batches:
        calls = variant_calls(runtimes, rng.standard_normal((b, 3, frames, size, size), dtype=np.float32), dev)
        first, fine = {}, {}
        for name, fn in calls.items():
            t0 = time.perf_counter()
            fine[name] = fn()[-1]                       # the untimed first call: cuDNN picks its kernels
            first[name] = time.perf_counter() - t0
        log(f"timing batch {b}: {', '.join(calls)} ({warmup} warm-up + {iters} interleaved calls each)")
        times = time_interleaved(calls, warmup, iters)
        ref = fine[REFERENCE].astype(np.float64)
        for name, secs in times.items():
            rows.append({"backend": "torch", "precision": name, "batch": b, "device": str(dev),
                         **latency_stats(secs, b), "first_call_s": round(first[name], 3),
                         "rel_err": rel_err(fine[name], ref)})
    base = {r["batch"]: r["p50_ms"] for r in rows if r["precision"] == "fp32"}
    for r in rows:
        r["vs_torch"] = base[r["batch"]] / r["p50_ms"]
    flags = {"cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
             "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
             "cudnn_benchmark": torch.backends.cudnn.benchmark}
    return {"kind": "model", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": {"source": f"{arch} (untrained, width {width:g}, {num_classes} classes, levels {list(levels)}); "
                                "eager settings", "arch": arch, "width": width, "num_classes": num_classes,
                      "levels": list(levels)},
            "input": {"frames": frames, "size": size}, "device": str(dev), "threads": torch.get_num_threads(),
            "warmup": warmup, "iters": iters, "backends": ["torch"], "batches": list(batches),
            "variants": {name: {"layout": layout, "tf32": flag, "autocast": str(dtype).replace("torch.", "") if dtype
                                else None, "clips_on_device": on_dev} for name, layout, flag, dtype, on_dev in VARIANTS},
            "torch_defaults": flags, "host": host_info(str(dev)),
            "versions": {"torch": torch.__version__, "cuda": torch.version.cuda,
                         "cudnn": torch.backends.cudnn.version()}, "rows": rows, "ratios": []}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="i3d_r50")
    p.add_argument("--width", type=float, default=1.0, help="channel width multiplier")
    p.add_argument("--num-classes", type=int, default=60)
    p.add_argument("--levels", default="2,6,20")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch-size", "--batch", dest="batch", default="1,8")
    p.add_argument("--device", default="cuda")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--md", type=Path, default=None)
    args = p.parse_args(argv)

    from edgeact.bench import bench_markdown, parse_int_list
    from edgeact.errors import EdgeactError
    from edgeact.fileio import atomic_write_json, atomic_write_text
    from edgeact.types import parse_levels

    try:
        report = bench_variants(args.arch, num_classes=args.num_classes, levels=parse_levels(args.levels),
                                width=args.width, frames=args.frames, size=args.size,
                                batches=parse_int_list(args.batch, "--batch-size"), device=args.device,
                                warmup=args.warmup, iters=args.iters)
    except EdgeactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(bench_markdown(report))
    for r in report["rows"]:
        print(f"{r['precision']:>15} batch {r['batch']}: rel_err {r['rel_err']:.2e}")
    if args.json:
        atomic_write_json(args.json, report)
    if args.md:
        atomic_write_text(args.md, bench_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
