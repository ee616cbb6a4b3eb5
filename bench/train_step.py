"""Training speed: clips/s of the training step ``edgeact train`` runs, on synthetic clips.

The step is :func:`edgeact.engine.train_epoch` with what the trainer sets up for pass 2 of a
recipe with its defaults: Adam, mixed precision on CUDA (bf16 where supported, else fp16 with a
GradScaler), channels_last_3d, the hierarchical loss over every head. The clips are random
tensors ``(B, 3, T, S, S)`` on the host (decoding and augmentation are not part of the figure), so
the figure is the model's forward + backward + optimizer step plus the host-to-device copy.

    python bench/train_step.py --arch i3d_r50 --frames 8 --size 224 --batch-size 32 --device cuda --json t.json
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch


def synthetic_batches(n: int, batch: int, frames: int, size: int, num_classes: int, seed: int = 0) -> list:
    """``n`` times the same ``(clips (B, 3, T, S, S) float32, labels (B,) int64)`` pair: what a
    DataLoader yields, without its decoding cost."""
    g = torch.Generator().manual_seed(seed)
    clips = torch.randn(batch, 3, frames, size, size, generator=g)
    labels = torch.randint(0, num_classes, (batch,), generator=g)
    return [(clips, labels)] * n


def hierarchy_for(levels, num_classes: int):
    """A fixed superclass map per head (``c % M``): the loss costs the same for any map."""
    from edgeact.hierarchy import Hierarchy

    return Hierarchy(assignments=tuple(tuple(c % m for c in range(num_classes)) for m in levels if m is not None),
                     num_classes=num_classes)


def bench_train_step(arch: str = "i3d_r50", *, width: float = 1.0, num_classes: int = 60, levels=(2, 6, 20),
                     frames: int = 8, size: int = 224, batch: int = 32, steps: int = 10, warmup: int = 3,
                     device: str = "cuda", amp: bool = True) -> dict:
    """``steps`` timed training steps after ``warmup`` untimed ones; clips/s and ms per step."""
    import numpy as np

    from edgeact.device import resolve_device
    from edgeact.engine import autocast_for, train_epoch
    from edgeact.errors import EdgeactError
    from edgeact.hierarchy import hierarchical_loss, level_labels
    from edgeact.models import create_model
    from edgeact.recipe import Recipe

    if steps < 1 or warmup < 0 or batch < 1:
        raise EdgeactError(f"need --steps >= 1, --warmup >= 0, --batch-size >= 1 (got {steps}, {warmup}, {batch})")
    dev = resolve_device(device)
    recipe = Recipe(benchmark="ntu60", arch=arch, levels=tuple(levels), width=width, amp=amp)
    model = create_model(arch, num_classes=num_classes, levels=recipe.levels, width=width).to(dev)
    if recipe.channels_last and dev.type == "cuda":
        model.to(memory_format=torch.channels_last_3d)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    cuda = dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and amp and not torch.cuda.is_bf16_supported())
    assignments = [np.asarray(a) for a in hierarchy_for(recipe.levels, num_classes).assignments]

    def loss_fn(logits, y):
        return hierarchical_loss(logits, level_labels(y, assignments), recipe.loss_weights)

    def epoch(n: int):
        return train_epoch(model, synthetic_batches(n, batch, frames, size, num_classes), loss_fn, optimizer, dev,
                           amp=amp, channels_last=recipe.channels_last, scaler=scaler)

    if warmup:
        epoch(warmup)
    if cuda:
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    stats = epoch(steps)                     # train_epoch reads the loss every step: timing is synchronous
    with autocast_for(dev, amp):
        amp_dtype = str(torch.get_autocast_dtype("cuda")).replace("torch.", "") if cuda and amp else None
    return {"kind": "train_step", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "arch": arch, "width": width, "frames": frames, "size": size, "batch": batch, "steps": steps,
            "warmup": warmup, "device": str(dev), "amp": amp_dtype or "off", "grad_scaler": scaler.is_enabled(),
            "channels_last_3d": bool(recipe.channels_last and cuda), "data": "synthetic random clips on the host",
            "clips_per_s": stats.clips_per_second, "ms_per_step": 1000 * stats.seconds / steps,
            "loss": stats.loss, "peak_mem_gib": torch.cuda.max_memory_allocated(dev) / 2**30 if cuda else None,
            "torch": torch.__version__}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="i3d_r50")
    p.add_argument("--width", type=float, default=1.0, help="channel width multiplier")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch-size", "--batch", dest="batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (cuDNN picks its kernels)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="full fp32 instead of mixed precision")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)

    from edgeact.errors import EdgeactError
    from edgeact.fileio import atomic_write_json

    try:
        row = bench_train_step(args.arch, width=args.width, frames=args.frames, size=args.size, batch=args.batch,
                               steps=args.steps, warmup=args.warmup, device=args.device, amp=args.amp)
    except EdgeactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for k, v in row.items():
        print(f"{k:>18}: {v}")
    if args.json:
        atomic_write_json(args.json, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
