"""ONNX export (fp32): ``torch.onnx.export(..., dynamo=False)`` with a dynamic batch axis, the
edgeact metadata in ``metadata_props["edgeact_meta"]``, checked against PyTorch on onnxruntime.

The fp16 and INT8 Q/DQ ONNX are made from this fp32 graph in :mod:`edgeact.export.quantize`.
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from edgeact.errors import EdgeactError
from edgeact.export.base import (
    MIN_OPSET,
    ExportResult,
    check_parity,
    export_meta,
    head_output_names,
    random_clips,
    torch_outputs,
)
from edgeact.fileio import atomic_write_bytes
from edgeact.runtime.base import INPUT_NAME, META_KEY
from edgeact.types import InputSpec


def onnx_model(model: nn.Module, spec: InputSpec, *, batch: int = 1, opset: int = MIN_OPSET):
    """Trace ``model`` (on the CPU, eval mode) to an ONNX ``ModelProto``: input ``clips``
    ``(B, C, T, S, S)`` with dynamic ``B``, one output per head named by
    :func:`head_output_names`."""
    import onnx

    if opset < MIN_OPSET:
        raise EdgeactError(f"must be >= {MIN_OPSET}, got {opset}", param="opset")
    names = head_output_names(model)
    x = random_clips(batch, spec, model.config.in_channels)
    dynamic = {INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in names}}
    with tempfile.TemporaryDirectory(prefix="edgeact-onnx-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the TorchScript exporter's deprecation notice, tracer notes
        f = Path(tmp) / "model.onnx"
        torch.onnx.export(model.cpu().eval(), (x,), str(f), input_names=[INPUT_NAME], output_names=names,
                          opset_version=opset, dynamic_axes=dynamic, do_constant_folding=True, dynamo=False)
        proto = onnx.load(str(f))
    onnx.checker.check_model(proto)
    return proto


def set_onnx_meta(proto, meta: dict) -> bytes:
    """Store ``meta`` as ``metadata_props["edgeact_meta"]`` (replacing an earlier value) and
    serialize the model."""
    for prop in list(proto.metadata_props):
        if prop.key == META_KEY:
            proto.metadata_props.remove(prop)
    prop = proto.metadata_props.add()
    prop.key, prop.value = META_KEY, json.dumps(meta)
    return proto.SerializeToString()


def export_onnx(model, meta, spec, out, *, batch, opset, tolerance, source, log) -> ExportResult:
    from edgeact.runtime.onnx_backend import OnnxRuntime

    start = time.perf_counter()
    names = head_output_names(model)
    meta = export_meta(meta, spec, "onnx", "fp32", names, opset=opset, batch=batch, dynamic_batch=True,
                        device="cpu", source=source, exporter="torch.onnx (TorchScript-based, dynamo=False)")
    proto = onnx_model(model, spec, batch=batch, opset=opset)
    rt = OnnxRuntime(out, "cpu", model_bytes=set_onnx_meta(proto, meta))
    x = random_clips(batch + 1, spec, model.config.in_channels, seed=1)
    diff, limit = check_parity(out, "onnx", "fp32", torch_outputs(model, x), rt(x.numpy()), tolerance, log)
    meta["export"]["max_abs_diff"] = diff
    atomic_write_bytes(out, set_onnx_meta(proto, meta))
    return ExportResult(out, "onnx", "fp32", diff, limit, batch + 1, time.perf_counter() - start, meta=meta)
