"""TensorRT through torch-tensorrt's dynamo path, saved as TorchScript holding TensorRT engines;
its precision is read back from its outputs.
"""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager

import torch

from edgeact.errors import EdgeactError
from edgeact.export.base import (
    ExportResult,
    check_parity,
    export_meta,
    head_output_names,
    max_abs_diff,
    precision_name,
    random_clips,
    torch_outputs,
)
from edgeact.export.torchscript_export import Fp16Module, jit_bytes
from edgeact.fileio import atomic_write_bytes
from edgeact.optional import require

FP16_SHARE = 0.1     # an fp16 module's error to the fp32 model is of the order of fp16 arithmetic's own


@contextmanager
def full_fp32():
    """PyTorch's CUDA float32 convolutions and matmuls in full float32 while inside: cuDNN uses
    TF32 for float32 convolutions by default on Ampere and later (Orin included), which puts an
    fp32 reference itself 1e-3 off."""
    cudnn_conv = getattr(torch.backends.cudnn, "conv", None)
    if cudnn_conv is not None and hasattr(cudnn_conv, "fp32_precision"):
        matmul = torch.backends.cuda.matmul
        saved = (cudnn_conv.fp32_precision, matmul.fp32_precision)
        cudnn_conv.fp32_precision, matmul.fp32_precision = "ieee", "ieee"
        try:
            yield
        finally:
            cudnn_conv.fp32_precision, matmul.fp32_precision = saved
        return
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def torch_tensorrt_options(settings: set[str], trt_major: int, fp16: bool, version: str) -> dict:
    """``torch_tensorrt.compile`` keyword arguments for an fp32 or fp16 module, from the names of
    the installed version's ``CompilationSettings`` fields and its TensorRT's major version.

    fp32: TF32 off (``disable_tf32``). fp16: rule-based autocast (``enable_autocast`` on explicit
    typing) where the version has it; else ``enabled_precisions`` on a weakly typed build, which
    only TensorRT before 11 honours; else an :class:`EdgeactError` (nothing would make it fp16).
    """
    opts: dict = {"disable_tf32": True} if "disable_tf32" in settings else {}
    if not fp16:
        return opts
    if "enable_autocast" in settings:
        opts.update(use_explicit_typing=True, enable_autocast=True)
        if "autocast_low_precision_type" in settings:
            opts["autocast_low_precision_type"] = torch.float16
        return opts
    if trt_major < 11:
        if "use_explicit_typing" in settings:
            opts["use_explicit_typing"] = False      # weak typing: the builder may pick fp16 kernels
        opts["enabled_precisions"] = {torch.float32, torch.float16}
        return opts
    raise EdgeactError(f"torch-tensorrt {version} has no enable_autocast and its TensorRT {trt_major}.x ignores "
                       "enabled_precisions, so it cannot build fp16; build from the fp16 ONNX instead (via onnx)",
                       param=("via", "fp16"))


def observed_precision(got: tuple, ref32: tuple, ref16: tuple) -> tuple[str, float, float]:
    """What a compiled module computed in, read from its outputs: ``fp16`` when its largest
    difference to the fp32 model (``ref32``, full float32) is at least :data:`FP16_SHARE` of the
    difference fp16 arithmetic makes (``ref16``: the model run in half precision), else ``fp32``.
    The two are orders of magnitude apart (float32 rounding ~1e-6 of the logits, float16 ~1e-3).
    Returns ``(precision, difference, fp16 difference)``."""
    err, _ = max_abs_diff(ref32, got)
    err16, _ = max_abs_diff(ref32, ref16)
    return ("fp16" if err16 > 0 and err >= FP16_SHARE * err16 else "fp32"), err, err16


def export_torch_tensorrt(model, meta, spec, out, *, batch, max_batch, fp16, tolerance, device, source,
                           log) -> ExportResult:
    """torch-tensorrt's dynamo path, saved as TorchScript (meta in its extra files); loading it
    needs ``torch_tensorrt`` imported, which :class:`TorchScriptRuntime` does. The precision in
    the metadata is the one its outputs show (:func:`observed_precision`), not the one asked for."""
    import copy
    import dataclasses

    from edgeact.runtime.tensorrt_backend import import_tensorrt, trt_major

    start = time.perf_counter()
    torch_tensorrt = require("torch_tensorrt", "tensorrt", "an export via torch-tensorrt")
    if device.type != "cuda":
        raise EdgeactError(f"{device}: torch-tensorrt needs a CUDA device", param="device")
    trt = import_tensorrt(out)
    version = str(torch_tensorrt.__version__)
    settings = {f.name for f in dataclasses.fields(torch_tensorrt.dynamo.CompilationSettings)}
    opts = torch_tensorrt_options(settings, trt_major(trt), fp16, version)
    max_batch = max_batch or batch
    names = head_output_names(model)
    model = model.to(device).eval()
    rest = (model.config.in_channels, spec.frames, spec.size, spec.size)
    inputs = [torch_tensorrt.Input(min_shape=(1, *rest), opt_shape=(batch, *rest), max_shape=(max_batch, *rest),
                                   dtype=torch.float32)]
    if log:
        log(f"compiling with torch-tensorrt {version} ({'fp16' if fp16 else 'fp32'}, batch 1..{max_batch}; "
            f"{', '.join(sorted(opts)) or 'defaults'})")
    trt_module = torch_tensorrt.compile(model, ir="dynamo", inputs=inputs, **opts)
    x = random_clips(batch, spec, model.config.in_channels).to(device)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(trt_module, x, strict=False)
    n = min(batch + 1, max_batch)
    x_check = random_clips(n, spec, model.config.in_channels, seed=1).to(device)
    with full_fp32():
        ref32 = torch_outputs(model, x_check)
    got = torch_outputs(traced, x_check)
    ref16 = torch_outputs(Fp16Module(copy.deepcopy(model)), x_check)
    precision, err, err16 = observed_precision(got, ref32, ref16)
    if precision != precision_name(fp16, False):
        raise EdgeactError(f"{out}: torch-tensorrt {version} built a {precision} module for "
                           f"{precision_name(fp16, False)} (difference to the fp32 model {err:.2g}, fp16 arithmetic's "
                           f"{err16:.2g}); nothing written" + ("; build the engine via onnx" if fp16 else ""))
    meta = export_meta(meta, spec, "torchscript", precision, names, batch=batch, max_batch=max_batch,
                        dynamic_batch=max_batch > 1, device=str(device), via="torch-tensorrt", source=source,
                        gpu=torch.cuda.get_device_name(device), torch_tensorrt_version=version,
                        tensorrt_version=str(trt.__version__), compile_options=sorted(opts),
                        precision_read_back={"max_abs_diff_fp32_model": err, "fp16_arithmetic_diff": err16})
    diff, limit = check_parity(out, "torch-tensorrt", precision, ref32, got, tolerance, log)
    meta["export"]["max_abs_diff"] = diff
    atomic_write_bytes(out, jit_bytes(traced, meta))
    return ExportResult(out, "torchscript", precision, diff, limit, n, time.perf_counter() - start, meta=meta)
