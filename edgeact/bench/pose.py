"""``edgeact bench pose``: speed of an ultralytics pose model on random images."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import numpy as np

from edgeact.bench.timing import Log, host_info, latency_stats, restores_torch_threads, time_interleaved, versions
from edgeact.errors import EdgeactError, keywords
from edgeact.live.pose import DEFAULT_POSE_YAML


def _pose_precision(yolo, half: bool) -> str:
    """What the pose model computed in. An OpenVINO export says so itself: ``int8`` when it was
    exported quantized (ultralytics records ``quantize: 8`` / ``int8: true``), else the precision
    OpenVINO compiled it to, read back (its CPU default is bf16 where the CPU has it)."""
    backend = getattr(getattr(yolo, "predictor", None), "model", None)
    compiled = getattr(backend, "ov_compiled_model", None)
    if compiled is None:
        return "fp16" if half else "fp32"
    from edgeact.runtime.openvino_backend import _compiled_precision

    args = (getattr(backend, "metadata", None) or {}).get("args") or {}
    if args.get("quantize") == 8 or args.get("int8"):
        return "int8"
    return _compiled_precision(compiled)


@restores_torch_threads
def bench_pose(pose_model: str = DEFAULT_POSE_YAML, *, imgsz: int = 640, device: str = "auto", half: bool = False,
               warmup: int = 3, iters: int = 20, threads: Optional[int] = None, seed: int = 0, log: Log = None) -> dict:
    """Speed of an ultralytics pose model on random ``(imgsz, imgsz, 3)`` uint8 images.

    ``pose_model``: a YAML (:data:`~edgeact.live.pose.DEFAULT_POSE_YAML`: built untrained, offline; speed does not
    depend on the weights) or a ``.pt`` / ``.onnx`` / ``.engine`` path. One call is a full
    ``predict`` (letterbox, inference, NMS); the report gives p50/p95 per image, FPS
    (``1000 / p50``) and ultralytics' own preprocess / inference / postprocess medians.
    """
    import torch

    from edgeact.device import resolve_device

    if imgsz < 32 or imgsz % 32:
        raise EdgeactError(f"must be a multiple of 32 and >= 32, got {imgsz}", param="imgsz")
    if not str(pose_model).endswith((".yaml", ".yml")) and not Path(pose_model).exists():
        raise EdgeactError(f"{pose_model}: no such file (give a .pt/.onnx/.engine path, an OpenVINO export folder "
                           f"or a model YAML such as {DEFAULT_POSE_YAML})", param="pose_model")
    if threads is not None:
        if threads < 1:
            raise EdgeactError(f"must be >= 1, got {threads}", param="threads")
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    if half and dev.type != "cuda":
        raise EdgeactError("half precision for the pose model needs a CUDA device", param="half")
    from edgeact.live.pose import _load_yolo

    with keywords(model="pose_model"):
        yolo = _load_yolo(pose_model)           # the loader live uses: same files, same one-line errors
    if getattr(yolo, "task", None) != "pose":
        raise EdgeactError(f"{pose_model}: is a {getattr(yolo, 'task', None)} model, not a pose model",
                           param="pose_model")
    ul_device = "cpu" if dev.type == "cpu" else (dev.index or 0)
    img = np.random.default_rng(seed).integers(0, 256, (imgsz, imgsz, 3), dtype=np.uint8)
    speeds: list[dict] = []
    precision_arg = {}
    if half:
        from ultralytics.cfg import DEFAULT_CFG_DICT

        # ultralytics 8.4 replaced `half` by `quantize` (and warns on `half`); 8.3 knows only `half`
        precision_arg = {"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True}

    def call():
        res = yolo.predict(img, imgsz=imgsz, device=ul_device, verbose=False, **precision_arg)
        speeds.append(dict(res[0].speed))

    if log:
        log(f"timing {pose_model} at {imgsz}x{imgsz} ({warmup} warm-up + {iters} calls)")
    secs = time_interleaved({"pose": call}, warmup, iters)["pose"]
    speeds = speeds[warmup:]
    stats = latency_stats(secs, 1)
    parts = {k: float(np.median([s[k] for s in speeds if k in s])) for k in ("preprocess", "inference", "postprocess")
             if any(k in s for s in speeds)}
    row = {"model": str(pose_model), "imgsz": imgsz, "device": str(dev), "precision": _pose_precision(yolo, half),
           "p50_ms": stats["p50_ms"], "p95_ms": stats["p95_ms"], "mean_ms": stats["mean_ms"],
           "fps": stats["clips_per_s"], "iters": stats["iters"], **{f"{k}_ms": v for k, v in parts.items()}}
    return {"kind": "pose", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "device": str(dev),
            "threads": torch.get_num_threads(), "warmup": warmup, "iters": iters, "host": host_info(str(dev)),
            "versions": versions(), "rows": [row]}
