"""PyTorch backends: an edgeact checkpoint (eager model) and a TorchScript file.

Both take clips ``(B, 3, T, S, S)`` float32 and return float32 numpy logits per head.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from edgeact.errors import EdgeactError
from edgeact.optional import require
from edgeact.runtime.base import TS_META_FILE, Runtime, check_meta

# torch.compile modes: "default" (inductor kernels), "reduce-overhead" (plus CUDA graphs: replays a
# recorded launch sequence, which removes per-kernel launch cost at batch 1), "max-autotune"
# (benchmarks kernel choices while compiling; slow to build).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


def _as_tensor(clips) -> torch.Tensor:
    return clips if isinstance(clips, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(clips))


def _to_numpy(outputs) -> list[np.ndarray]:
    return [o.detach().float().cpu().numpy() for o in outputs]


class TorchRuntime(Runtime):
    """An eager :class:`~edgeact.models.HierarchicalI3D` on CPU or CUDA.

    On CUDA the model and inputs use ``channels_last_3d`` (cuDNN's fast layout for 3D convs) and,
    with ``fp16=True``, half precision weights and activations (logits are returned as float32).
    Any ``T`` and ``S`` work (the network pools globally), so the input shape is not fixed.

    ``compile`` wraps the model in ``torch.compile`` with that mode (:data:`COMPILE_MODES`;
    ``reduce-overhead`` adds CUDA graphs and needs CUDA). Compilation happens on the first call of
    each new input shape (seconds to minutes), so call :meth:`warmup` before timing or serving.
    """

    backend = "torch"
    fixed_shape = False

    def __init__(self, model: nn.Module, meta: dict, device: torch.device, *, fp16: bool = False,
                 path: Optional[Path] = None, compile: Optional[str] = None):
        super().__init__(meta, path)
        if fp16 and device.type != "cuda":
            raise EdgeactError(f"{path or 'model'}: fp16 needs a CUDA device (got {device})", param="device")
        if compile is not None and compile not in COMPILE_MODES:
            raise EdgeactError(f"{compile}: not a torch.compile mode (one of {', '.join(COMPILE_MODES)})", param="compile")
        if compile == "reduce-overhead" and device.type != "cuda":
            raise EdgeactError(f"reduce-overhead uses CUDA graphs and needs a CUDA device (got {device})", param="compile")
        self._dev = device
        self.device = str(device)
        self.precision = "fp16" if fp16 else "fp32"
        self._channels_last = device.type == "cuda"
        model = model.eval().to(device)
        if fp16:
            model = model.half()
        if self._channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
        self.compile = compile
        self.model = torch.compile(model, mode=compile) if compile else model
        self._dtype = torch.float16 if fp16 else torch.float32

    @torch.inference_mode()
    def _infer(self, clips) -> list[np.ndarray]:
        x = _as_tensor(clips).to(self._dev, self._dtype, non_blocking=True)
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return _to_numpy(self.model(x))


def read_torchscript_meta(path: Path) -> Optional[dict]:
    """The edgeact metadata stored in a TorchScript archive's extra files, without loading the
    module (a torch-tensorrt module cannot be loaded before ``torch_tensorrt`` is imported).
    ``None`` when the archive has none."""
    try:
        with zipfile.ZipFile(path) as zf:
            name = next((n for n in zf.namelist() if n.endswith(f"/extra/{TS_META_FILE}")), None)
            if name is None:
                return None
            return json.loads(zf.read(name))
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError):
        return None


class TorchScriptRuntime(Runtime):
    """A traced TorchScript module written by ``edgeact export --format torchscript`` (or a
    torch-tensorrt compiled one, ``--via torch-tensorrt``, whose backend reads ``tensorrt``).

    The precision is the one it was exported with; the module casts inputs and outputs itself.
    """

    backend = "torchscript"

    def __init__(self, path: Path, device: torch.device, *, fp16: bool = False):
        meta = read_torchscript_meta(path)
        if meta is None:
            raise EdgeactError(f"{path}: not an edgeact TorchScript file (no {TS_META_FILE} inside)")
        check_meta(meta, path)
        export = meta.get("export") or {}
        super().__init__(meta, path)
        self.precision = export.get("precision", "fp32")
        if fp16 and self.precision != "fp16":
            raise EdgeactError(f"{path}: exported in {self.precision}; TorchScript precision is fixed at "
                               "export (edgeact export --format torchscript --fp16)")
        if export.get("via") == "torch-tensorrt":
            self.backend = "tensorrt"
            # registers the TensorRT ops the module calls
            require("torch_tensorrt", "tensorrt", f"{path}: a module compiled with torch-tensorrt")
        exported_on = export.get("device", "cpu")
        if exported_on.startswith("cuda") and device.type != "cuda":
            raise EdgeactError(f"{path}: was exported for CUDA; it cannot run on {device}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)   # TorchScript is deprecated in torch 2.10+, still works
                self.module = torch.jit.load(str(path), map_location=device).eval()
        except RuntimeError as exc:
            raise EdgeactError(f"{path}: TorchScript does not load ({str(exc).strip().splitlines()[0]})") from None
        self._dev = device
        self.device = str(device)

    @torch.inference_mode()
    def _infer(self, clips) -> list[np.ndarray]:
        x = _as_tensor(clips).to(self._dev, torch.float32, non_blocking=True)
        return _to_numpy(self.module(x))
