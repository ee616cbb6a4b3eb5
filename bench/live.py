"""Live pipeline overhead on a video file: time per frame of each stage, and
end-to-end time / model time (the target: at most 1.10). Same as ``edgeact bench live``.

    python bench/live.py --model demo --pose skeleton               # replay: pose costs ~0
    python bench/live.py --model demo --pose yolo                   # untrained yolo11n-pose (built offline)
    python bench/live.py --arch i3d_r50 --size 224 --pose skeleton  # paper-size classifier, random weights
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="demo")
    p.add_argument("--arch", default=None, help="random-weight classifier of this architecture instead of --model")
    p.add_argument("--size", type=int, default=224, help="input size with --arch")
    p.add_argument("--pose", choices=("skeleton", "yolo"), default="skeleton")
    p.add_argument("--pose-model", default="yolo11n-pose.yaml")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--video-width", "--width", dest="width", type=int, default=640)
    p.add_argument("--video-height", "--height", dest="height", type=int, default=480)
    p.add_argument("--stride", default="0.5s")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)

    import torch

    from edgeact.fileio import atomic_write_json
    from edgeact.live.bench import run_live_bench

    if args.threads:
        torch.set_num_threads(args.threads)
    row = run_live_bench(model=args.model, arch=args.arch, size=args.size, pose=args.pose, pose_model=args.pose_model,
                         seconds=args.seconds, width=args.width, height=args.height, stride=args.stride,
                         device=args.device)
    for k, v in row.items():
        print(f"{k:>28}: {v}")
    print(f"{'target':>28}: overhead <= 1.10 -> {'met' if row['overhead'] <= 1.10 else 'NOT met'}")
    if args.json:
        atomic_write_json(args.json, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
