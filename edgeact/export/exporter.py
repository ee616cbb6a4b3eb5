"""``export_model``: the one entry point of ``edgeact export``: checks the options, loads the
checkpoint (or an edgeact ONNX for an engine) and hands it to the module of its format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from edgeact.errors import EdgeactError
from edgeact.export.base import (
    FORMATS,
    MIN_OPSET,
    SUFFIX,
    VIAS,
    ExportResult,
    Log,
    export_spec,
    load_for_export,
    precision_name,
)
from edgeact.export.onnx_export import export_onnx
from edgeact.export.quantize import DEFAULT_CALIB_CLIPS, DEFAULT_CALIB_METHOD, export_reduced_onnx
from edgeact.export.tensorrt_export import export_engine, export_engine_from_onnx
from edgeact.export.torch_tensorrt_export import export_torch_tensorrt
from edgeact.export.torchscript_export import export_torchscript
from edgeact.fileio import refuse_output_over_input
from edgeact.types import InputSpec


def default_output(checkpoint: Path, fmt: str, via: str = "onnx", precision: str = "fp32") -> Path:
    """``run/best.pt`` -> ``run/best.onnx`` / ``best.ts`` / ``best.engine`` (``best.trt.ts`` via torch-tensorrt).

    The bundled demo model exports into the current folder (``demo.onnx``), not into the installed package.
    """
    from edgeact.runtime.loader import DEMO_MODEL

    if checkpoint.resolve() == DEMO_MODEL:
        checkpoint = Path(DEMO_MODEL.name)
    if fmt == "engine" and via == "torch-tensorrt":
        return checkpoint.with_suffix(".trt.ts")
    if fmt == "onnx" and precision != "fp32":
        return checkpoint.with_suffix(f".{precision}.onnx")      # one file per precision, side by side
    return checkpoint.with_suffix(SUFFIX[fmt])


def refuse_outputs_over_input(out: Path, fmt: str, via: str, int8: bool, checkpoint: Path) -> None:
    """Every file the export writes (the artifact; an engine's ``.json`` sidecar) is refused when
    it is the checkpoint (or ONNX) it reads."""
    from edgeact.runtime.tensorrt_backend import sidecar_path

    refuse_output_over_input(out, [checkpoint], param="out")
    if fmt == "engine" and via == "onnx":
        refuse_output_over_input(sidecar_path(out), [checkpoint], param="out")   # the engine's sidecar


def export_model(checkpoint: str | Path, fmt: str, out: Optional[str | Path] = None, *, fp16: bool = False,
                 int8: bool = False, calib_data: Optional[str | Path] = None, calib_clips: Optional[int] = None,
                 calib_method: Optional[str] = None, batch: int = 1,
                 max_batch: Optional[int] = None, frames: Optional[int] = None, size: Optional[int] = None,
                 opset: int = MIN_OPSET, tolerance: float = 1e-3, compact: bool = False, device: str = "auto",
                 via: str = "onnx", log: Log = None) -> ExportResult:
    """Export an edgeact checkpoint and check it against PyTorch before writing it (atomically).

    Args:
        checkpoint: a ``.pt`` written by ``edgeact train``, or ``demo`` (the bundled model).
        fmt: ``onnx``, ``torchscript`` or ``engine`` (TensorRT; needs a CUDA GPU and ``tensorrt``).
        out: output file (default: the checkpoint's name with ``.onnx`` / ``.ts`` / ``.engine``).
        fp16: half precision (ONNX: float16 inside, float32 in and out; engine; TorchScript on CUDA).
            int8: ONNX with Q/DQ on every Conv (:mod:`edgeact.export.quantize`), calibrated on
            ``calib_clips`` train clips of ``calib_data`` with ``calib_method`` (minmax, entropy,
            percentile); an fp16 / INT8 engine is built from that fp16 / Q/DQ ONNX (strongly
            typed, :func:`build_engine`). ``checkpoint`` may also be an edgeact ``.onnx`` for
            ``fmt="engine"``: the engine is built from it, in its precision.
        batch: batch traced / the engine profile's optimum. max_batch: the engine's largest
            batch (default ``batch``); ONNX and TorchScript have a dynamic batch axis.
        frames, size: input ``T`` and ``S`` (default: the checkpoint's input spec).
        tolerance: largest allowed absolute logit difference to PyTorch (fp32).
        compact: physically remove pruned filters first (``edgeact.compact.compact``).
        device: where TorchScript is traced and engines are built (``auto``, ``cpu``, ``cuda``).
        via: engine route, ``onnx`` (alias ``tensorrt``: the TensorRT Python API's ONNX parser,
            writes ``.engine`` + ``.json``) or ``torch-tensorrt`` (writes a TorchScript file holding TensorRT engines).
        log: called with progress lines (e.g. the parity figure).

    Returns:
        An :class:`ExportResult`; an :class:`EdgeactError` when the export is beyond tolerance.
    """
    from edgeact.device import resolve_device

    fmt = {"tensorrt": "engine", "trt": "engine", "ts": "torchscript"}.get(fmt, fmt)
    via = {"tensorrt": "onnx", "trt": "onnx"}.get(via, via)     # the TensorRT Python API route parses the ONNX
    if fmt not in FORMATS:
        raise EdgeactError(f"{fmt!r}: choose one of {', '.join(FORMATS)}", param="fmt")
    if via not in VIAS:
        raise EdgeactError(f"{via!r}: choose one of {', '.join(VIAS)}", param="via")
    if via != "onnx" and fmt != "engine":
        raise EdgeactError(f"{via} applies to TensorRT engines only", param="via")
    from edgeact.runtime.loader import detect_kind, resolve_model

    from_onnx = fmt == "engine" and via == "onnx" and detect_kind(checkpoint) == "onnx"   # its precision is fixed
    if fmt == "torchscript" and int8:
        raise EdgeactError("applies to ONNX (Q/DQ) and TensorRT engines, not TorchScript", param="int8")
    if fp16 and int8:
        raise EdgeactError("choose one (the INT8 Q/DQ graph keeps its other layers float32)", param=("fp16", "int8"))
    calib_given = [name for name, value in (("calib_data", calib_data), ("calib_clips", calib_clips),
                                            ("calib_method", calib_method)) if value is not None]
    if fmt == "torchscript" and {"calib_clips", "calib_method"} & set(calib_given):
        raise EdgeactError("apply to INT8 ONNX and engines, not TorchScript",
                           param=[p for p in calib_given if p != "calib_data"])
    if int8 and calib_data is None and not from_onnx:
        raise EdgeactError("INT8 needs a cache made by `edgeact prep` whose train clips calibrate its ranges",
                           param="calib_data")
    if not int8 and calib_given:
        raise EdgeactError("apply to INT8 exports only", param=calib_given)
    if calib_clips is not None and calib_clips < 1:
        raise EdgeactError(f"must be >= 1, got {calib_clips}", param="calib_clips")
    if int8 and via == "torch-tensorrt":
        raise EdgeactError("INT8 engines are built from the Q/DQ ONNX: use onnx", param="via")
    if batch < 1:
        raise EdgeactError(f"must be >= 1, got {batch}", param="batch")
    if max_batch is not None and max_batch < batch:
        raise EdgeactError(f"{max_batch} is smaller than the batch size {batch}", param="max_batch")
    if not tolerance > 0:
        raise EdgeactError(f"must be > 0, got {tolerance}", param="tolerance")
    checkpoint = resolve_model(checkpoint)
    if from_onnx:
        out = Path(out) if out is not None else checkpoint.with_suffix(".engine")
        refuse_outputs_over_input(out, fmt, via, int8, checkpoint)
        return export_engine_from_onnx(checkpoint, out, batch=batch, max_batch=max_batch, tolerance=tolerance,
                                        device=resolve_device(device), log=log, fp16=fp16, int8=int8, frames=frames,
                                        size=size, compact=compact, calib_data=calib_data, calib_clips=calib_clips,
                                        calib_method=calib_method)
    out = Path(out) if out is not None else default_output(checkpoint, fmt, via, precision_name(fp16, int8))
    refuse_outputs_over_input(out, fmt, via, int8, checkpoint)
    dev = resolve_device(device)
    model, meta = load_for_export(checkpoint, compact)
    spec = export_spec(InputSpec.from_dict(meta["input"]), frames, size)
    common = dict(tolerance=tolerance, source=str(checkpoint), log=log)
    if fmt == "onnx" and (fp16 or int8):
        return export_reduced_onnx(model, meta, spec, out, precision=precision_name(fp16, int8), batch=batch, opset=opset,
                                   calib_data=calib_data,
                                   calib_clips=DEFAULT_CALIB_CLIPS if calib_clips is None else calib_clips,
                                   calib_method=DEFAULT_CALIB_METHOD if calib_method is None else calib_method,
                                   **common)
    if fmt == "onnx":
        return export_onnx(model, meta, spec, out, batch=batch, opset=opset, **common)
    if fmt == "torchscript":
        return export_torchscript(model, meta, spec, out, batch=batch, fp16=fp16, device=dev, **common)
    if via == "torch-tensorrt":
        return export_torch_tensorrt(model, meta, spec, out, batch=batch, max_batch=max_batch, fp16=fp16,
                                      device=dev, **common)
    return export_engine(model, meta, spec, out, batch=batch, max_batch=max_batch, fp16=fp16, int8=int8,
                          calib_data=calib_data, calib_clips=calib_clips, calib_method=calib_method, opset=opset,
                          device=dev, **common)
