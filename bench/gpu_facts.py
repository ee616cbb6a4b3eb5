"""The facts a GPU measurement is read against: the GPU, torch/CUDA/cuDNN, packages, FLOPs.

Written by ``bench/gpu_check.sh`` before any timing. It also checks that the commands the check
runs import no optional heavy package (ultralytics, TensorRT, RealSense) on their own: the GPU
machine has none of them.

    python bench/gpu_facts.py --flops i3d_r50:1:8:224 --flops i3d_r18:1:8:112 --json facts.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import platform
import sys
from pathlib import Path

OPTIONAL = ("ultralytics", "lap", "tensorrt", "torch_tensorrt", "pyrealsense2")
PACKAGES = {"numpy": "numpy", "torchvision": "torchvision", "cv2": "opencv-python-headless", "onnx": "onnx",
            "onnxruntime": "onnxruntime", "typer": "typer", "rich": "rich", "yaml": "pyyaml",
            "matplotlib": "matplotlib", "pytest": "pytest", **{m: m for m in OPTIONAL}}
BENCH_MODULES = ("edgeact.cli", "edgeact.bench", "edgeact.live.bench", "edgeact.live.pose", "edgeact.runtime")


def eager_imports() -> list[str]:
    """Optional packages that importing the CLI and the bench code pulls in (should be none)."""
    import importlib

    for name in BENCH_MODULES:
        importlib.import_module(name)
    return sorted(m for m in OPTIONAL if m in sys.modules)


def _version(module: str, dist: str):
    if importlib.util.find_spec(module) is None:
        return None
    for name in (dist, module, "opencv-python"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "present"


def packages() -> dict:
    """``{module: version or None (absent)}``, read without importing them."""
    out = {}
    for module, dist in PACKAGES.items():
        try:
            out[module] = _version(module, dist)
        except (ImportError, ValueError):        # a broken or shadowed install
            out[module] = None
    return out


def gpu_facts() -> dict:
    import torch

    facts = {"torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
             "cuda_available": torch.cuda.is_available(),
             "defaults": {"cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
                          "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                          "float32_matmul_precision": torch.get_float32_matmul_precision(),
                          "cudnn_benchmark": torch.backends.cudnn.benchmark}}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        facts["gpu"] = {"name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count(),
                        "capability": f"{props.major}.{props.minor}", "memory_gib": props.total_memory / 2**30,
                        "multiprocessors": props.multi_processor_count,
                        "bf16_supported": torch.cuda.is_bf16_supported()}
    else:
        facts["gpu"] = None
    return facts


def flops(spec: str) -> dict:
    """``arch:width:frames:size`` -> GFLOP per clip (2 x MACs) of that model as ``bench model --arch``
    builds it (60 classes, superclass heads 2/6/20)."""
    from edgeact.models.summary import model_summary

    arch, width, frames, size = spec.split(":")
    s = model_summary(arch, num_classes=60, levels=(2, 6, 20), width=float(width), frames=int(frames), size=int(size))
    return {"arch": arch, "width": float(width), "frames": int(frames), "size": int(size),
            "gflop": 2 * s.total_macs / 1e9}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--flops", action="append", default=[], metavar="ARCH:WIDTH:FRAMES:SIZE")
    p.add_argument("--json", type=Path, required=True)
    args = p.parse_args(argv)

    eager = eager_imports()                    # first: nothing else imported yet
    import edgeact
    from edgeact.fileio import atomic_write_json

    facts = {"python": platform.python_version(), "executable": sys.executable, "platform": platform.platform(),
             "edgeact": {"version": edgeact.__version__, "path": str(Path(edgeact.__file__).resolve().parent)},
             "eager_optional_imports": eager, "packages": packages(), **gpu_facts(),
             "flops": [flops(s) for s in args.flops]}
    atomic_write_json(args.json, facts)
    gpu = facts["gpu"]
    print(f"python {facts['python']}, torch {facts['torch']} (CUDA {facts['cuda']}, cuDNN {facts['cudnn']}), "
          f"GPU: {gpu['name'] if gpu else 'none'}")
    print(f"edgeact from {facts['edgeact']['path']}; optional packages imported by the CLI/bench: {eager or 'none'}")
    absent = sorted(m for m, v in facts["packages"].items() if v is None)
    print(f"absent: {', '.join(absent) or 'nothing'}")
    for f in facts["flops"]:
        print(f"{f['arch']} width {f['width']:g} at {f['frames']}x{f['size']}x{f['size']}: {f['gflop']:.1f} GFLOP per clip")
    if eager:
        print(f"error: importing {', '.join(BENCH_MODULES)} pulled in {', '.join(eager)}; "
              "the GPU machine does not have them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
