"""``edgeact export``: a checkpoint -> ONNX, TorchScript or a TensorRT engine, with its metadata.

Every exported artifact carries the checkpoint's metadata (model, input spec, classes,
superclass hierarchy, ...) plus an ``export`` section (format, precision, output names in head
order, batch profile, parity figure), so :func:`edgeact.runtime.load_runtime` loads any of them
the same way:

- ONNX: ``metadata_props["edgeact_meta"]``; input ``clips`` ``(B, 3, T, S, S)`` with a dynamic
  batch axis, outputs ``logits_l1`` .. ``logits_l3`` (superclass heads present) and ``fine``.
- TorchScript: the extra file ``edgeact_meta.json`` inside the archive.
- TensorRT engine: a sidecar ``<engine>.json`` (engines cannot carry metadata).

Each export is checked before it is written: the artifact and the PyTorch model run on the same
random batch (one larger than ``batch``, which also exercises the dynamic batch axis) and the
largest absolute difference of any logit must stay within ``tolerance`` (fp32). Reduced
precision is judged relative to the logits' scale (fp16: 1 % of the largest logit, at least
``tolerance``); INT8 is reported, not judged (its error depends on the calibration data, which a
random batch does not resemble). A failing export writes nothing.

ONNX exporter choice: ``torch.onnx.export(..., dynamo=False)``, the TorchScript-based exporter.
torch >= 2.9 defaults to the dynamo exporter, which needs the ``onnxscript`` package (not a
dependency here) and gains nothing for a plain Conv3d network; the TorchScript exporter traces
this model exactly (masked layers multiply by their mask buffers, which trace as constants),
supports ``dynamic_axes`` and opset 17+, and is what TensorRT's ONNX parser has been tested
against longest. Its deprecation warning is silenced.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from edgeact import __version__
from edgeact.errors import EdgeactError
from edgeact.optional import require
from edgeact.fileio import atomic_write_bytes, refuse_output_over_input
from edgeact.runtime.base import INPUT_NAME, META_KEY, TS_META_FILE, output_names
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


# ----------------------------------------------------------------------------- helpers

def _precision(fp16: bool, int8: bool) -> str:
    return "int8" if int8 else "fp16" if fp16 else "fp32"


def export_spec(spec: InputSpec, frames: Optional[int], size: Optional[int]) -> InputSpec:
    """The input spec of the exported artifact: the checkpoint's, with ``frames``/``size``
    overridden; ``resize`` keeps its ratio to ``size`` (256/224 by default) so the crop still
    leaves the same margin."""
    if frames is not None and frames < 1:
        raise EdgeactError(f"--frames must be >= 1, got {frames}")
    if size is not None and size < 32:
        raise EdgeactError(f"--size must be >= 32 (the network downsamples 32x), got {size}")
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


def _check(path: Path, fmt: str, precision: str, ref, got, tolerance: float, log: Log,
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


def _torch_ref(model: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, ...]:
    with torch.inference_mode():
        return tuple(o.float().cpu().numpy() for o in model(x))


def _load(checkpoint: Path, compact: bool) -> tuple[nn.Module, dict]:
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


# ----------------------------------------------------------------------------- ONNX

def onnx_model(model: nn.Module, spec: InputSpec, *, batch: int = 1, opset: int = MIN_OPSET):
    """Trace ``model`` (on the CPU, eval mode) to an ONNX ``ModelProto``: input ``clips``
    ``(B, C, T, S, S)`` with dynamic ``B``, one output per head named by
    :func:`head_output_names`."""
    import onnx

    if opset < MIN_OPSET:
        raise EdgeactError(f"--opset must be >= {MIN_OPSET}, got {opset}")
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


def _export_meta(meta: dict, spec: InputSpec, fmt: str, precision: str, names: list[str], **info) -> dict:
    out = {**meta, "input": spec.to_dict()}
    out["export"] = {"format": fmt, "precision": precision, "input_name": INPUT_NAME, "outputs": names,
                     "edgeact_version": __version__, "torch_version": torch.__version__, **info}
    return out


def _export_onnx(model, meta, spec, out, *, batch, opset, tolerance, source, log) -> ExportResult:
    from edgeact.runtime.onnx_backend import OnnxRuntime

    start = time.perf_counter()
    names = head_output_names(model)
    meta = _export_meta(meta, spec, "onnx", "fp32", names, opset=opset, batch=batch, dynamic_batch=True,
                        device="cpu", source=source, exporter="torch.onnx (TorchScript-based, dynamo=False)")
    proto = onnx_model(model, spec, batch=batch, opset=opset)
    rt = OnnxRuntime(out, "cpu", model_bytes=set_onnx_meta(proto, meta))
    x = random_clips(batch + 1, spec, model.config.in_channels, seed=1)
    diff, limit = _check(out, "onnx", "fp32", _torch_ref(model, x), rt(x.numpy()), tolerance, log)
    meta["export"]["max_abs_diff"] = diff
    atomic_write_bytes(out, set_onnx_meta(proto, meta))
    return ExportResult(out, "onnx", "fp32", diff, limit, batch + 1, time.perf_counter() - start, meta=meta)


# ----------------------------------------------------------------------------- TorchScript

def _jit_bytes(module, meta: dict) -> bytes:
    """A TorchScript archive with ``meta`` as its ``edgeact_meta.json`` extra file."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(module, buf, _extra_files={TS_META_FILE: json.dumps(meta)})
    return buf.getvalue()


class _Fp16(nn.Module):
    """fp32 in, fp32 out, fp16 inside: callers never handle half tensors."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.half()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(o.float() for o in self.model(x.half()))


def _export_torchscript(model, meta, spec, out, *, batch, fp16, tolerance, device, source, log) -> ExportResult:
    start = time.perf_counter()
    if fp16 and device.type != "cuda":
        raise EdgeactError(f"--fp16: a half-precision TorchScript needs CUDA to trace on (got --device {device})")
    names = head_output_names(model)
    precision = _precision(fp16, False)
    meta = _export_meta(meta, spec, "torchscript", precision, names, batch=batch, dynamic_batch=True,
                        device=device.type, source=source)
    model = model.to(device).eval()
    x = random_clips(batch, spec, model.config.in_channels).to(device)
    x_check = random_clips(batch + 1, spec, model.config.in_channels, seed=1).to(device)
    ref = _torch_ref(model, x_check)
    wrapped = _Fp16(model) if fp16 else model
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)   # torch 2.10+ marks TorchScript deprecated; it still works
        traced = torch.jit.trace(wrapped, x)
    diff, limit = _check(out, "torchscript", precision, ref, _torch_ref(traced, x_check), tolerance, log)
    meta["export"]["max_abs_diff"] = diff
    atomic_write_bytes(out, _jit_bytes(traced, meta))
    return ExportResult(out, "torchscript", precision, diff, limit, batch + 1, time.perf_counter() - start, meta=meta)


# ----------------------------------------------------------------------------- TensorRT

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
            res = _export_onnx(model, meta, spec, path, batch=batch, opset=opset, tolerance=tolerance, source=source,
                               log=log)
        else:
            from edgeact.quantize import DEFAULT_CALIB_CLIPS, DEFAULT_CALIB_METHOD, export_reduced_onnx

            res = export_reduced_onnx(model, meta, spec, path, precision=precision, batch=batch, opset=opset,
                                      tolerance=tolerance, source=source, calib_data=calib_data,
                                      calib_clips=calib_clips or DEFAULT_CALIB_CLIPS,
                                      calib_method=calib_method or DEFAULT_CALIB_METHOD, log=log)
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
        raise EdgeactError(f"--batch {batch} must be between 1 and --max-batch {max_batch}")
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
        raise EdgeactError(f"--format engine: building a TensorRT engine needs a CUDA device (got --device {device})")
    max_batch = max_batch or batch
    onnx_export = meta["export"]
    precision, names = onnx_export["precision"], list(onnx_export["outputs"])
    spec, in_ch = InputSpec.from_dict(meta["input"]), int(meta["model"].get("in_channels", 3))
    made = {k: onnx_export[k] for k in ("precision", "conversion", "opset", "max_abs_diff", "source") if k in onnx_export}
    engine_meta = _export_meta({k: v for k, v in meta.items() if k != "export"}, spec, "engine", precision, names,
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
    diff, limit = _check(out, "engine", precision, reference(x.numpy()), rt(x), tolerance, log,
                         against="onnxruntime on its ONNX")
    engine_meta["export"]["max_abs_diff"] = diff
    atomic_write_bytes(out, plan)
    side = write_sidecar(out, engine_meta)
    return ExportResult(out, "engine", precision, diff, limit, n, time.perf_counter() - start, sidecar=side,
                        meta=engine_meta)


def _export_engine(model, meta, spec, out, *, batch, max_batch, fp16, int8, calib_data, calib_clips, calib_method,
                   opset, tolerance, device, source, log) -> ExportResult:
    """A checkpoint -> the ONNX of the asked precision (:func:`precision_onnx`) -> an engine."""
    from edgeact.runtime.tensorrt_backend import import_tensorrt

    start = time.perf_counter()
    import_tensorrt(out)
    if device.type != "cuda":
        raise EdgeactError(f"--format engine: building a TensorRT engine needs a CUDA device (got --device {device})")
    onnx_bytes, onnx_meta = precision_onnx(model, meta, spec, _precision(fp16, int8), batch=batch, opset=opset,
                                           tolerance=tolerance, source=source, calib_data=calib_data,
                                           calib_clips=calib_clips, calib_method=calib_method, log=log)
    return _engine_from_onnx(onnx_bytes, onnx_meta, out, batch=batch, max_batch=max_batch, tolerance=tolerance,
                             device=device, source=source, log=log, start=start)


def read_engine_onnx(path: Path, *, fp16: bool, int8: bool, **fixed) -> tuple[bytes, dict]:
    """An edgeact ONNX file to build an engine from: its bytes and metadata, its precision read
    from the graph and agreeing with its metadata and with ``--fp16`` / ``--int8`` when given.
    ``fixed``: options an ONNX has already fixed (frames, size, compact, calibration); any given
    is refused."""
    import onnx

    from edgeact.runtime.loader import read_meta

    given = [f"--{k.replace('_', '-')}" for k, v in fixed.items() if v not in (None, False)]
    if given:
        raise EdgeactError(f"{path}: {', '.join(given)} cannot change an exported ONNX; export the ONNX again "
                           "with them, then build the engine from it")
    data = path.read_bytes()
    meta = read_meta(path)
    graph = onnx_precision(onnx.load_from_string(data))
    stated = (meta.get("export") or {}).get("precision", "fp32")
    if graph != stated:
        raise EdgeactError(f"{path}: its metadata says {stated} but the graph computes in {graph}; export it again")
    asked = _precision(fp16, int8)
    if (fp16 or int8) and asked != graph:
        raise EdgeactError(f"{path}: an {graph} ONNX cannot make an {asked} engine (the engine computes in the ONNX's "
                           f"types); build from the {asked} ONNX (edgeact export --format onnx --{asked})")
    return data, meta


def _export_engine_from_onnx(path: Path, out: Path, *, batch, max_batch, tolerance, device, log,
                             **options) -> ExportResult:
    start = time.perf_counter()
    data, meta = read_engine_onnx(path, **options)
    return _engine_from_onnx(data, meta, out, batch=batch, max_batch=max_batch, tolerance=tolerance, device=device,
                             source=str(path), log=log, start=start)


# ----------------------------------------------------------------------------- torch-tensorrt

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
    raise EdgeactError(f"--via torch-tensorrt --fp16: torch-tensorrt {version} has no enable_autocast and its TensorRT "
                       f"{trt_major}.x ignores enabled_precisions; build from the fp16 ONNX instead (--via onnx --fp16)")


def observed_precision(got: tuple, ref32: tuple, ref16: tuple) -> tuple[str, float, float]:
    """What a compiled module computed in, read from its outputs: ``fp16`` when its largest
    difference to the fp32 model (``ref32``, full float32) is at least :data:`FP16_SHARE` of the
    difference fp16 arithmetic makes (``ref16``: the model run in half precision), else ``fp32``.
    The two are orders of magnitude apart (float32 rounding ~1e-6 of the logits, float16 ~1e-3).
    Returns ``(precision, difference, fp16 difference)``."""
    err, _ = max_abs_diff(ref32, got)
    err16, _ = max_abs_diff(ref32, ref16)
    return ("fp16" if err16 > 0 and err >= FP16_SHARE * err16 else "fp32"), err, err16


def _export_torch_tensorrt(model, meta, spec, out, *, batch, max_batch, fp16, tolerance, device, source,
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
        raise EdgeactError(f"--via torch-tensorrt needs a CUDA device (got --device {device})")
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
        ref32 = _torch_ref(model, x_check)
    got = _torch_ref(traced, x_check)
    ref16 = _torch_ref(_Fp16(copy.deepcopy(model)), x_check)
    precision, err, err16 = observed_precision(got, ref32, ref16)
    if precision != _precision(fp16, False):
        raise EdgeactError(f"{out}: torch-tensorrt {version} built a {precision} module for "
                           f"{'--fp16' if fp16 else 'fp32'} (difference to the fp32 model {err:.2g}, fp16 arithmetic's "
                           f"{err16:.2g}); nothing written" + ("; use --via onnx --fp16" if fp16 else ""))
    meta = _export_meta(meta, spec, "torchscript", precision, names, batch=batch, max_batch=max_batch,
                        dynamic_batch=max_batch > 1, device=str(device), via="torch-tensorrt", source=source,
                        gpu=torch.cuda.get_device_name(device), torch_tensorrt_version=version,
                        tensorrt_version=str(trt.__version__), compile_options=sorted(opts),
                        precision_read_back={"max_abs_diff_fp32_model": err, "fp16_arithmetic_diff": err16})
    diff, limit = _check(out, "torch-tensorrt", precision, ref32, got, tolerance, log)
    meta["export"]["max_abs_diff"] = diff
    atomic_write_bytes(out, _jit_bytes(traced, meta))
    return ExportResult(out, "torchscript", precision, diff, limit, n, time.perf_counter() - start, meta=meta)


# ----------------------------------------------------------------------------- entry point

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

    refuse_output_over_input(out, [checkpoint], option="--out")
    if fmt == "engine" and via == "onnx":
        refuse_output_over_input(sidecar_path(out), [checkpoint], option="--out's engine sidecar")


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
            int8: ONNX with Q/DQ on every Conv (:mod:`edgeact.quantize`), calibrated on
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
        raise EdgeactError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if via not in VIAS:
        raise EdgeactError(f"--via {via!r}: choose one of {', '.join(VIAS)}")
    if via != "onnx" and fmt != "engine":
        raise EdgeactError(f"--via {via} applies to --format engine only")
    from edgeact.runtime.loader import detect_kind, resolve_model

    from_onnx = fmt == "engine" and via == "onnx" and detect_kind(checkpoint) == "onnx"   # its precision is fixed
    if fmt == "torchscript" and int8:
        raise EdgeactError("--int8 applies to --format onnx (Q/DQ) and engine, not torchscript")
    if fp16 and int8:
        raise EdgeactError("--fp16 and --int8: choose one (the INT8 Q/DQ graph keeps its other layers float32)")
    if fmt == "torchscript" and (calib_clips is not None or calib_method is not None):
        raise EdgeactError("--calib-clips and --calib-method apply to --int8 ONNX and engines")
    if int8 and calib_data is None and not from_onnx:
        raise EdgeactError("--int8 needs --calib-data: a cache made by `edgeact prep` whose train clips calibrate the "
                           "INT8 ranges")
    if not int8 and (calib_data is not None or calib_clips is not None or calib_method is not None):
        raise EdgeactError("--calib-data, --calib-clips and --calib-method apply to --int8 only")
    if int8 and via == "torch-tensorrt":
        raise EdgeactError("--int8 needs --via onnx (the INT8 engine is built from the Q/DQ ONNX)")
    if batch < 1:
        raise EdgeactError(f"--batch must be >= 1, got {batch}")
    if max_batch is not None and max_batch < batch:
        raise EdgeactError(f"--max-batch {max_batch} is smaller than --batch {batch}")
    if not tolerance > 0:
        raise EdgeactError(f"--tolerance must be > 0, got {tolerance}")
    checkpoint = resolve_model(checkpoint)
    if from_onnx:
        out = Path(out) if out is not None else checkpoint.with_suffix(".engine")
        refuse_outputs_over_input(out, fmt, via, int8, checkpoint)
        return _export_engine_from_onnx(checkpoint, out, batch=batch, max_batch=max_batch, tolerance=tolerance,
                                        device=resolve_device(device), log=log, fp16=fp16, int8=int8, frames=frames,
                                        size=size, compact=compact, calib_data=calib_data, calib_clips=calib_clips,
                                        calib_method=calib_method)
    out = Path(out) if out is not None else default_output(checkpoint, fmt, via, _precision(fp16, int8))
    refuse_outputs_over_input(out, fmt, via, int8, checkpoint)
    dev = resolve_device(device)
    model, meta = _load(checkpoint, compact)
    spec = export_spec(InputSpec.from_dict(meta["input"]), frames, size)
    common = dict(tolerance=tolerance, source=str(checkpoint), log=log)
    if fmt == "onnx" and (fp16 or int8):
        from edgeact.quantize import DEFAULT_CALIB_CLIPS, DEFAULT_CALIB_METHOD, export_reduced_onnx

        return export_reduced_onnx(model, meta, spec, out, precision=_precision(fp16, int8), batch=batch, opset=opset,
                                   calib_data=calib_data,
                                   calib_clips=DEFAULT_CALIB_CLIPS if calib_clips is None else calib_clips,
                                   calib_method=DEFAULT_CALIB_METHOD if calib_method is None else calib_method,
                                   **common)
    if fmt == "onnx":
        return _export_onnx(model, meta, spec, out, batch=batch, opset=opset, **common)
    if fmt == "torchscript":
        return _export_torchscript(model, meta, spec, out, batch=batch, fp16=fp16, device=dev, **common)
    if via == "torch-tensorrt":
        return _export_torch_tensorrt(model, meta, spec, out, batch=batch, max_batch=max_batch, fp16=fp16,
                                      device=dev, **common)
    return _export_engine(model, meta, spec, out, batch=batch, max_batch=max_batch, fp16=fp16, int8=int8,
                          calib_data=calib_data, calib_clips=calib_clips, calib_method=calib_method, opset=opset,
                          device=dev, **common)
