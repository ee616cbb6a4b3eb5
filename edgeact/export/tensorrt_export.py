"""TensorRT engines (10.x and 11.x) built with the TensorRT Python API's ONNX parser, strongly
typed, from the fp32 / fp16 / Q/DQ ONNX of their precision; the metadata goes to a sidecar
``<engine>.json`` (an engine cannot carry it).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from edgeact.errors import EdgeactError
from edgeact.export.base import ExportResult, Log, check_parity, export_meta, precision_name, random_clips
from edgeact.export.onnx_export import export_onnx
from edgeact.export.quantize import DEFAULT_CALIB_CLIPS, DEFAULT_CALIB_METHOD, export_reduced_onnx
from edgeact.fileio import atomic_write_bytes
from edgeact.runtime.base import INPUT_NAME
from edgeact.types import InputSpec

# TensorRT builds strongly typed networks here, on 10.x and 11.x alike: every layer computes in
# the type its ONNX graph gives it, so the precision of an engine is the precision of the ONNX it
# is built from (fp32; fp16 inside with float32 in and out; INT8 Q/DQ), the same files
# `edgeact export --format onnx [--fp16 | --int8]` writes and onnxruntime and OpenVINO run. No
# precision builder flag and no implicit INT8 calibration is used: TensorRT 11 has neither, and
# 10.x deprecates both. TF32 is turned off for every build, so float32 layers compute in full
# float32 and an engine is held to the same bound as the ONNX it came from, against onnxruntime
# on the CPU (which has no TF32) running that very ONNX.

GRAPH_PRECISION_OPS = {"QuantizeLinear", "DequantizeLinear"}


def onnx_precision(proto) -> str:
    """What an ONNX graph computes in, read from the graph: ``int8`` when it holds Q/DQ nodes,
    ``fp16`` when a weight is float16 or a Cast makes float16, else ``fp32``."""
    from onnx import TensorProto

    nodes = list(proto.graph.node)
    if any(n.op_type in GRAPH_PRECISION_OPS for n in nodes):
        return "int8"
    if any(i.data_type == TensorProto.FLOAT16 for i in proto.graph.initializer):
        return "fp16"
    casts = (a.i for n in nodes if n.op_type == "Cast" for a in n.attribute if a.name == "to")
    return "fp16" if TensorProto.FLOAT16 in set(casts) else "fp32"


def precision_onnx(model: nn.Module, meta: dict, spec: InputSpec, precision: str, *, batch: int, opset: int,
                   tolerance: float, source: str, calib_data: Optional[str | Path] = None,
                   calib_clips: Optional[int] = None, calib_method: Optional[str] = None,
                   log: Log = None) -> tuple[bytes, dict]:
    """The ONNX model a ``precision`` engine is built from, as bytes, with its metadata: exactly
    what ``edgeact export --format onnx`` (``--fp16`` / ``--int8``) writes, checked against
    PyTorch the same way, so an engine and the ONNX file of one precision hold one network."""
    with tempfile.TemporaryDirectory(prefix="edgeact-engine-") as tmp:
        path = Path(tmp) / f"model.{precision}.onnx"
        if precision == "fp32":
            res = export_onnx(model, meta, spec, path, batch=batch, opset=opset, tolerance=tolerance, source=source,
                               log=log)
        else:
            res = export_reduced_onnx(model, meta, spec, path, precision=precision, batch=batch, opset=opset,
                                      tolerance=tolerance, source=source, calib_data=calib_data,
                                      calib_clips=DEFAULT_CALIB_CLIPS if calib_clips is None else calib_clips,
                                      calib_method=DEFAULT_CALIB_METHOD if calib_method is None else calib_method,
                                      log=log)
        return path.read_bytes(), res.meta


def network_flags(trt, what: str | Path = "engine") -> int:
    """``create_network`` flags of a strongly typed network: the ``STRONGLY_TYPED`` bit where the
    flag exists (10.x; 11.x still accepts it), none where it is gone (11.x networks are always
    strongly typed). TensorRT before 10 is refused: it cannot build from the Q/DQ and fp16 ONNX."""
    from edgeact.runtime.tensorrt_backend import trt_major

    major = trt_major(trt)
    if major < 10:
        raise EdgeactError(f"{what}: TensorRT {trt.__version__} is too old: edgeact builds strongly typed engines with "
                           "TensorRT 10 or 11 (JetPack 6.1+); run the .onnx with onnxruntime instead")
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if flag is None:
        if major >= 11:
            return 0
        raise EdgeactError(f"{what}: TensorRT {trt.__version__} has no strongly typed networks")
    return 1 << int(flag)


def _builder(trt, logger, what: str | Path):
    """``trt.Builder`` or a one-line error: without a usable CUDA driver or GPU the binding returns
    no builder (pybind11 turns the null pointer into a TypeError, older bindings return None)."""
    try:
        builder = trt.Builder(logger)
    except TypeError:
        builder = None
    if builder is None:
        raise EdgeactError(f"{what}: TensorRT {trt.__version__} could not create a builder: no usable CUDA GPU or "
                           "driver here (engines are built on the GPU that runs them)")
    return builder


def build_engine(onnx_model: bytes, spec: InputSpec, *, in_channels: int = 3, batch: int = 1,
                 max_batch: Optional[int] = None, workspace_gb: float = 4.0, device: Optional[torch.device] = None,
                 what: str | Path = "engine") -> bytes:
    """Build a serialized TensorRT engine (10.x or 11.x) from ONNX bytes, strongly typed, TF32 off.

    The engine computes in the types of ``onnx_model`` (see the comment above): pass the fp16 or
    the Q/DQ ONNX for an fp16 or INT8 engine. One optimization profile over the batch axis of the
    input ``clips`` ``(B, C, T, S, S)``: min 1, opt ``batch``, max ``max_batch`` (default ``batch``).
    Built on ``device`` (default: the current CUDA device).
    """
    import contextlib

    from edgeact.runtime.tensorrt_backend import import_tensorrt

    trt = import_tensorrt(what)
    max_batch = max_batch or batch
    if not 1 <= batch <= max_batch:
        raise EdgeactError(f"{batch} must be between 1 and the largest batch {max_batch}", param="batch")
    flags = network_flags(trt, what)
    logger = trt.Logger(trt.Logger.WARNING)
    on_device = torch.cuda.device(device) if device is not None and device.type == "cuda" else contextlib.nullcontext()
    with on_device:
        builder = _builder(trt, logger, what)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(onnx_model):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise EdgeactError(f"{what}: TensorRT could not parse the ONNX graph ({errors[:300]})")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
        tf32 = getattr(trt.BuilderFlag, "TF32", None)
        if tf32 is not None:
            config.clear_flag(tf32)          # float32 layers in full float32: the parity bound assumes it
        rest = (in_channels, spec.frames, spec.size, spec.size)
        profile = builder.create_optimization_profile()
        profile.set_shape(INPUT_NAME, (1, *rest), (batch, *rest), (max_batch, *rest))
        config.add_optimization_profile(profile)
        plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EdgeactError(f"{what}: TensorRT failed to build the engine (see its log above)")
    return bytes(plan)


def _engine_from_onnx(onnx_bytes: bytes, meta: dict, out: Path, *, batch: int, max_batch: Optional[int],
                      tolerance: float, device: torch.device, source: str, log: Log, start: float) -> ExportResult:
    """Build ``out`` from an edgeact ONNX (bytes and their metadata), check it against onnxruntime
    running the same ONNX on the CPU, then write the engine and its sidecar."""
    from edgeact.runtime.onnx_backend import OnnxRuntime
    from edgeact.runtime.tensorrt_backend import TensorRTRuntime, import_tensorrt, write_sidecar

    trt = import_tensorrt(out)
    if device.type != "cuda":
        raise EdgeactError(f"{device}: building a TensorRT engine needs a CUDA device", param="device")
    max_batch = max_batch or batch
    onnx_export = meta["export"]
    precision, names = onnx_export["precision"], list(onnx_export["outputs"])
    spec, in_ch = InputSpec.from_dict(meta["input"]), int(meta["model"].get("in_channels", 3))
    made = {k: onnx_export[k] for k in ("precision", "conversion", "opset", "max_abs_diff", "source") if k in onnx_export}
    engine_meta = export_meta({k: v for k, v in meta.items() if k != "export"}, spec, "engine", precision, names,
                               batch=batch, max_batch=max_batch, dynamic_batch=max_batch > 1, device=str(device),
                               via="onnx", source=source, gpu=torch.cuda.get_device_name(device),
                               tensorrt_version=str(trt.__version__), strongly_typed=True, tf32=False, onnx=made,
                               reference="onnxruntime (CPU) on the ONNX the engine was built from")
    if log:
        log(f"building a strongly typed TensorRT {trt.__version__} {precision} engine (batch 1..{max_batch}, "
            f"opt {batch}); this takes a while")
    plan = build_engine(onnx_bytes, spec, in_channels=in_ch, batch=batch, max_batch=max_batch, device=device, what=out)
    rt = TensorRTRuntime(out, str(device), meta=engine_meta, engine_bytes=plan)
    reference = OnnxRuntime(out, "cpu", model_bytes=onnx_bytes)
    n = min(batch + 1, max_batch)
    x = random_clips(n, spec, in_ch, seed=1)
    diff, limit = check_parity(out, "engine", precision, reference(x.numpy()), rt(x), tolerance, log,
                         against="onnxruntime on its ONNX")
    engine_meta["export"]["max_abs_diff"] = diff
    atomic_write_bytes(out, plan)
    side = write_sidecar(out, engine_meta)
    return ExportResult(out, "engine", precision, diff, limit, n, time.perf_counter() - start, sidecar=side,
                        meta=engine_meta)


def export_engine(model, meta, spec, out, *, batch, max_batch, fp16, int8, calib_data, calib_clips, calib_method,
                   opset, tolerance, device, source, log) -> ExportResult:
    """A checkpoint -> the ONNX of the asked precision (:func:`precision_onnx`) -> an engine."""
    from edgeact.runtime.tensorrt_backend import import_tensorrt

    start = time.perf_counter()
    import_tensorrt(out)
    if device.type != "cuda":
        raise EdgeactError(f"{device}: building a TensorRT engine needs a CUDA device", param="device")
    onnx_bytes, onnx_meta = precision_onnx(model, meta, spec, precision_name(fp16, int8), batch=batch, opset=opset,
                                           tolerance=tolerance, source=source, calib_data=calib_data,
                                           calib_clips=calib_clips, calib_method=calib_method, log=log)
    return _engine_from_onnx(onnx_bytes, onnx_meta, out, batch=batch, max_batch=max_batch, tolerance=tolerance,
                             device=device, source=source, log=log, start=start)


def read_engine_onnx(path: Path, *, fp16: bool, int8: bool, **fixed) -> tuple[bytes, dict]:
    """An edgeact ONNX file to build an engine from: its bytes and metadata, its precision read
    from the graph and agreeing with its metadata and with ``fp16`` / ``int8`` when given.
    ``fixed``: options an ONNX has already fixed (frames, size, compact, calibration); any given
    is refused."""
    import onnx

    from edgeact.runtime.loader import read_meta

    given = [k for k, v in fixed.items() if v not in (None, False)]
    if given:
        raise EdgeactError(f"{path} is an exported ONNX, which they cannot change; export the ONNX again with them, "
                           "then build the engine from it", param=given)
    data = path.read_bytes()
    meta = read_meta(path)
    graph = onnx_precision(onnx.load_from_string(data))
    stated = (meta.get("export") or {}).get("precision", "fp32")
    if graph != stated:
        raise EdgeactError(f"{path}: its metadata says {stated} but the graph computes in {graph}; export it again")
    asked = precision_name(fp16, int8)
    if (fp16 or int8) and asked != graph:
        raise EdgeactError(f"{path}: an {graph} ONNX cannot make an {asked} engine (the engine computes in the ONNX's "
                           f"types); build from the {asked} ONNX (edgeact export --format onnx --{asked})")
    return data, meta


def export_engine_from_onnx(path: Path, out: Path, *, batch, max_batch, tolerance, device, log,
                             **options) -> ExportResult:
    start = time.perf_counter()
    data, meta = read_engine_onnx(path, **options)
    return _engine_from_onnx(data, meta, out, batch=batch, max_batch=max_batch, tolerance=tolerance, device=device,
                             source=str(path), log=log, start=start)
