"""What every export format shares: the result record, the exported input spec and metadata, and
the parity check against PyTorch.

``check_parity`` holds an artifact's logits to :func:`parity_limit`: ``tolerance`` for fp32, 1 %
of the largest logit (at least ``tolerance``) for fp16, reported only for INT8. Inputs are
``(B, C, T, S, S)`` float32 clips; outputs one ``(B, M_l)`` array per head, fine last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from edgeact import __version__
from edgeact.errors import EdgeactError
from edgeact.runtime.base import INPUT_NAME, output_names
from edgeact.types import InputSpec

FORMATS = ("onnx", "torchscript", "engine")
VIAS = ("onnx", "torch-tensorrt")
MIN_OPSET = 17
SUFFIX = {"onnx": ".onnx", "torchscript": ".ts", "engine": ".engine"}
FP16_REL_TOL = 1e-2
Log = Optional[Callable[[str], None]]


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and how closely it matches PyTorch.

    ``max_abs_diff`` is the largest absolute logit difference to the PyTorch model on a random
    batch of ``checked_batch`` clips; ``limit`` is the bound it was held to (``None``: reported
    only, INT8); ``sidecar`` is the engine's metadata file.
    """

    path: Path
    format: str
    precision: str
    max_abs_diff: float
    limit: Optional[float]
    checked_batch: int
    seconds: float
    sidecar: Optional[Path] = None
    meta: dict = field(default_factory=dict, repr=False)


def precision_name(fp16: bool, int8: bool) -> str:
    return "int8" if int8 else "fp16" if fp16 else "fp32"


def export_spec(spec: InputSpec, frames: Optional[int], size: Optional[int]) -> InputSpec:
    """The input spec of the exported artifact: the checkpoint's, with ``frames``/``size``
    overridden; ``resize`` keeps its ratio to ``size`` (256/224 by default) so the crop still
    leaves the same margin."""
    if frames is not None and frames < 1:
        raise EdgeactError(f"must be >= 1, got {frames}", param="frames")
    if size is not None and size < 32:
        raise EdgeactError(f"must be >= 32 (the network downsamples 32x), got {size}", param="size")
    new_size = spec.size if size is None else int(size)
    resize = spec.resize if size is None else int(round(new_size * spec.resize / spec.size))
    return InputSpec(frames=spec.frames if frames is None else int(frames), size=new_size, resize=resize,
                     mean=spec.mean, std=spec.std)


def head_output_names(model: nn.Module) -> list[str]:
    """``logits_l{k}`` per superclass head, ``fine`` last, in the model's output order."""
    return output_names(model.heads.active)


def random_clips(batch: int, spec: InputSpec, in_channels: int = 3, seed: int = 0) -> torch.Tensor:
    """A reproducible random batch ``(batch, C, T, S, S)`` float32 (normalized-input scale)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, in_channels, spec.frames, spec.size, spec.size, generator=g)


def max_abs_diff(ref: tuple, got: tuple) -> tuple[float, float]:
    """Largest absolute difference over all heads, and the largest absolute reference logit."""
    if len(ref) != len(got):
        raise EdgeactError(f"exported model returns {len(got)} outputs, PyTorch {len(ref)}")
    diff = max(float(np.abs(np.asarray(r, np.float64) - np.asarray(g, np.float64)).max()) for r, g in zip(ref, got))
    scale = max(float(np.abs(np.asarray(r)).max()) for r in ref)
    return diff, scale


def parity_limit(precision: str, tolerance: float, scale: float) -> Optional[float]:
    """The bound an export's max abs difference is held to (``None``: not judged, INT8)."""
    if precision == "fp32":
        return tolerance
    if precision == "fp16":
        return max(tolerance, FP16_REL_TOL * max(scale, 1.0))
    return None


def check_parity(path: Path, fmt: str, precision: str, ref, got, tolerance: float, log: Log,
           against: str = "PyTorch") -> tuple[float, Optional[float]]:
    diff, scale = max_abs_diff(ref, got)
    limit = parity_limit(precision, tolerance, scale)
    if log:
        bound = f"limit {limit:.3g}" if limit is not None else "not judged for int8"
        log(f"parity {fmt} ({precision}) vs {against}: max abs difference {diff:.3g} ({bound}; largest logit {scale:.3g})")
    if limit is not None and not diff <= limit:
        raise EdgeactError(f"{path}: {fmt} output differs from {against} by {diff:.3g} > tolerance {limit:.3g}; "
                           "nothing written")
    return diff, limit


def torch_outputs(model: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, ...]:
    with torch.inference_mode():
        return tuple(o.float().cpu().numpy() for o in model(x))


def load_for_export(checkpoint: Path, compact: bool) -> tuple[nn.Module, dict]:
    from edgeact.checkpoint import load_checkpoint

    ck = load_checkpoint(checkpoint, map_location="cpu")
    model = ck.model.eval()
    meta = dict(ck.meta)
    if compact:
        from edgeact.compact import compact as compact_model

        model = compact_model(model).eval()
        meta["model"] = model.config.to_dict()
        meta["compacted"] = True
    return model, meta


def export_meta(meta: dict, spec: InputSpec, fmt: str, precision: str, names: list[str], **info) -> dict:
    out = {**meta, "input": spec.to_dict()}
    out["export"] = {"format": fmt, "precision": precision, "input_name": INPUT_NAME, "outputs": names,
                     "edgeact_version": __version__, "torch_version": torch.__version__, **info}
    return out
