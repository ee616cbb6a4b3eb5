"""Data-pipeline figures, measured side by side in one run on the same videos.

1. prep throughput (decode + skeleton crop + resize + JPEG frame pack) against decode-only,
   in frames per second per core (one worker process, so per core);
2. cache formats: bytes per frame and time to read a training sample (8 scattered frames) from
   a frame pack versus raw uint8 ``.npy`` (memory-mapped);
3. the training ``Dataset``: clips per second per worker (``num_workers=0``: the main process is
   the one worker), train (random crop + flip) and test (5 frame sets) items.

    python bench/data_pipeline.py                    # makes a synthetic set in a temp folder
    python bench/data_pipeline.py --root DIR         # an NTU-layout folder (real or synthetic)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, help="NTU-layout dataset (default: generate a synthetic one)")
    ap.add_argument("--samples", type=int, default=24, help="samples to process")
    ap.add_argument("--video-width", "--width", dest="width", type=int, default=640)
    ap.add_argument("--video-height", "--height", dest="height", type=int, default=480)
    ap.add_argument("--video-frames", "--frames", dest="frames", type=int, default=64)
    args = ap.parse_args()

    import cv2
    import torch

    from edgeact.data.cache import FramePack, pack_path, read_index
    from edgeact.data.clips import ClipDataset
    from edgeact.data.prep import PrepConfig, decode_only, prepare
    from edgeact.types import InputSpec

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="edgeact-bench-"))
    root = args.root
    if root is None:
        from edgeact.data.synth import SynthConfig, generate

        root = tmp / "synth"
        cfg = SynthConfig(seed=0, classes=4, performers=3, cameras=2, setups=1, replications=1,
                          frames=args.frames, width=args.width, height=args.height)
        generate(root, cfg)
    videos = sorted((root / "nturgb+d_rgb").glob("*_rgb.avi"))[: args.samples]
    print(f"dataset: {root} ({len(videos)} videos)")

    # 1. prep vs decode-only, one process each
    frames, t_decode = decode_only([str(v) for v in videos])
    cache = tmp / "cache"
    report = prepare(PrepConfig(dataset="ntu", root=root, out=cache, workers=1, limit=len(videos)))
    print(f"decode only      : {frames / t_decode:8.1f} frames/s per core ({frames} frames, {t_decode:.2f} s)")
    print(f"prep (crop+pack) : {report.frames_per_second:8.1f} frames/s per core "
          f"({report.frames} frames, {report.seconds:.2f} s)")
    print(f"prep / decode    : {report.frames_per_second / (frames / t_decode):8.2f}x")

    # 2. frame pack vs raw npy
    names = [s["name"] for s in read_index(cache)["samples"]]
    rng = np.random.default_rng(0)
    raw_dir = tmp / "raw"
    raw_dir.mkdir()
    pack_bytes = raw_bytes = n_frames = 0
    for name in names:
        pack = FramePack(pack_path(cache, name))
        arr = pack.read()
        np.save(raw_dir / f"{name}.npy", arr)
        pack_bytes += pack_path(cache, name).stat().st_size
        raw_bytes += (raw_dir / f"{name}.npy").stat().st_size
        n_frames += len(arr)
    picks = [(names[i], np.sort(rng.choice(64, 8)) % FramePack(pack_path(cache, names[i])).num_frames)
             for i in rng.integers(0, len(names), 200)]
    t0 = time.perf_counter()
    for name, idx in picks:
        FramePack(pack_path(cache, name)).read(idx)
    t_pack = (time.perf_counter() - t0) / len(picks)
    t0 = time.perf_counter()
    for name, idx in picks:
        np.ascontiguousarray(np.load(raw_dir / f"{name}.npy", mmap_mode="r")[idx])
    t_raw = (time.perf_counter() - t0) / len(picks)
    print(f"frame pack       : {pack_bytes / n_frames / 1024:8.1f} KiB/frame, {1e3 * t_pack:.2f} ms per 8-frame read")
    print(f"raw uint8 .npy   : {raw_bytes / n_frames / 1024:8.1f} KiB/frame, {1e3 * t_raw:.2f} ms per 8-frame read "
          "(page cache warm)")
    print(f"raw / pack size  : {raw_bytes / pack_bytes:8.1f}x")

    # 3. Dataset throughput, one worker
    spec = InputSpec()
    meta = read_index(cache)["meta"]
    bench = next(b for b in meta["benchmarks"]
                 if any(s["splits"].get(b) == "train" for s in read_index(cache)["samples"]))
    for train, split, label in ((True, "train", "train clips (random crop + flip)"),
                                (False, "train", "test clips (5 frame sets each)")):
        ds = ClipDataset(cache, bench, split, train=train, spec=spec)
        n = min(len(ds), 60)
        t0 = time.perf_counter()
        for i in range(n):
            ds[i % len(ds)]
        dt = time.perf_counter() - t0
        print(f"Dataset {label:34s}: {n / dt:7.1f} clips/s per worker")


if __name__ == "__main__":
    main()
