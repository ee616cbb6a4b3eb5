"""TorchScript export: a traced module (fp32, or fp16 inside with float32 in and out on CUDA) with
the edgeact metadata as the archive's ``edgeact_meta.json`` extra file.
"""

from __future__ import annotations

import io
import json
import time
import warnings

import torch
from torch import nn

from edgeact.errors import EdgeactError
from edgeact.export.base import (
    ExportResult,
    check_parity,
    export_meta,
    head_output_names,
    precision_name,
    random_clips,
    torch_outputs,
)
from edgeact.fileio import atomic_write_bytes
from edgeact.runtime.base import TS_META_FILE


def jit_bytes(module, meta: dict) -> bytes:
    """A TorchScript archive with ``meta`` as its ``edgeact_meta.json`` extra file."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(module, buf, _extra_files={TS_META_FILE: json.dumps(meta)})
    return buf.getvalue()


class Fp16Module(nn.Module):
    """fp32 in, fp32 out, fp16 inside: callers never handle half tensors."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.half()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(o.float() for o in self.model(x.half()))


def export_torchscript(model, meta, spec, out, *, batch, fp16, tolerance, device, source, log) -> ExportResult:
    start = time.perf_counter()
    if fp16 and device.type != "cuda":
        raise EdgeactError(f"a half-precision TorchScript needs CUDA to trace on (got device {device})", param="fp16")
    names = head_output_names(model)
    precision = precision_name(fp16, False)
    meta = export_meta(meta, spec, "torchscript", precision, names, batch=batch, dynamic_batch=True,
                        device=device.type, source=source)
    model = model.to(device).eval()
    x = random_clips(batch, spec, model.config.in_channels).to(device)
    x_check = random_clips(batch + 1, spec, model.config.in_channels, seed=1).to(device)
    ref = torch_outputs(model, x_check)
    wrapped = Fp16Module(model) if fp16 else model
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)   # torch 2.10+ marks TorchScript deprecated; it still works
        traced = torch.jit.trace(wrapped, x)
    diff, limit = check_parity(out, "torchscript", precision, ref, torch_outputs(traced, x_check), tolerance, log)
    meta["export"]["max_abs_diff"] = diff
    atomic_write_bytes(out, jit_bytes(traced, meta))
    return ExportResult(out, "torchscript", precision, diff, limit, batch + 1, time.perf_counter() - start, meta=meta)
