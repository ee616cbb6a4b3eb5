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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import torch
from torch import nn

from edgeact import __version__
from edgeact.errors import EdgeactError
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


def _check(path: Path, fmt: str, precision: str, ref, got, tolerance: float, log: Log) -> tuple[float, Optional[float]]:
    diff, scale = max_abs_diff(ref, got)
    limit = parity_limit(precision, tolerance, scale)
    if log:
        bound = f"limit {limit:.3g}" if limit is not None else "not judged for int8"
        log(f"parity {fmt} ({precision}) vs PyTorch: max abs difference {diff:.3g} ({bound}; largest logit {scale:.3g})")
    if limit is not None and not diff <= limit:
        raise EdgeactError(f"{path}: {fmt} output differs from PyTorch by {diff:.3g} > tolerance {limit:.3g}; "
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

class CalibrationSource:
    """INT8 calibration input for TensorRT: batches ``(batch_size, 3, T, S, S)`` float32 of clips
    from a prepared cache, preprocessed exactly as at test time (centre crop, one frame set
    whose first frame sits mid first segment), plus the calibration-cache file.

    Up to ``max_clips`` clips are taken, spread evenly over the split so every class shows up;
    only full batches are served (TensorRT calibrates on a fixed batch size), except that a
    split smaller than one batch is repeated to fill it. The dataset is opened only when
    batches are first asked for: with a calibration cache present TensorRT never asks.
    """

    def __init__(self, cache_dir: str | Path, spec: InputSpec, *, batch_size: int, benchmark: Optional[str] = None,
                 split: str = "train", max_clips: int = 256, cache_file: Optional[str | Path] = None):
        if batch_size < 1 or max_clips < 1:
            raise EdgeactError(f"calibration batch size and clip count must be >= 1 (got {batch_size}, {max_clips})")
        self.cache_dir, self.spec, self.batch_size = Path(cache_dir), spec, int(batch_size)
        self.benchmark, self.split, self.max_clips = benchmark, split, int(max_clips)
        self.cache_file = Path(cache_file) if cache_file is not None else None

    def _dataset(self):
        from edgeact.data.cache import read_index
        from edgeact.data.clips import ClipDataset

        bench = self.benchmark
        if bench is None:
            listed = read_index(self.cache_dir)["meta"].get("benchmarks") or []
            if not listed:
                raise EdgeactError(f"{self.cache_dir}: the cache lists no benchmark; name one for calibration")
            bench = listed[0]
        return ClipDataset(self.cache_dir, bench, self.split, train=False, spec=self.spec, num_test_sets=1)

    def indices(self, n: int) -> np.ndarray:
        """Which of ``n`` samples are used, in order: evenly spaced, padded by repetition to one
        full batch when ``n`` is smaller than a batch."""
        take = min(n, self.max_clips)
        idx = np.unique(np.linspace(0, n - 1, take).round().astype(np.int64))
        if len(idx) < self.batch_size:
            idx = np.resize(idx, self.batch_size)
        return idx[: len(idx) - len(idx) % self.batch_size]

    def __iter__(self) -> Iterator[np.ndarray]:
        ds = self._dataset()
        idx = self.indices(len(ds))
        for start in range(0, len(idx), self.batch_size):
            clips = [ds[int(i)][0][0] for i in idx[start:start + self.batch_size]]   # (1, 3, T, S, S) -> first set
            yield torch.stack(clips).numpy().astype(np.float32, copy=False)

    def read_cache(self) -> Optional[bytes]:
        """The calibration cache from an earlier build, reused so INT8 rebuilds skip calibration."""
        if self.cache_file is not None and self.cache_file.is_file():
            return self.cache_file.read_bytes()
        return None

    def write_cache(self, data: bytes) -> None:
        if self.cache_file is not None:
            atomic_write_bytes(self.cache_file, bytes(data))


def _trt_calibrator(trt, source: CalibrationSource, device: torch.device):
    """An ``IInt8EntropyCalibrator2`` feeding ``source``'s batches from a torch CUDA buffer."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)   # pybind11 trampolines need the explicit call
            self._batches: Optional[Iterator[np.ndarray]] = None
            self._buffer: Optional[torch.Tensor] = None  # kept alive: TensorRT reads it after we return

        def get_batch_size(self) -> int:
            return source.batch_size

        def get_batch(self, names):
            if self._batches is None:
                self._batches = iter(source)
            batch = next(self._batches, None)
            if batch is None:
                return None
            self._buffer = torch.from_numpy(batch).to(device).contiguous()
            return [int(self._buffer.data_ptr())]

        def read_calibration_cache(self):
            return source.read_cache()

        def write_calibration_cache(self, cache) -> None:
            source.write_cache(bytes(cache))

    return EntropyCalibrator()


def build_engine(onnx_model: bytes, spec: InputSpec, *, in_channels: int = 3, batch: int = 1,
                 max_batch: Optional[int] = None, fp16: bool = False, int8: bool = False,
                 calibration: Optional[CalibrationSource] = None, workspace_gb: float = 4.0,
                 device: Optional[torch.device] = None, what: str | Path = "engine") -> bytes:
    """Build a serialized TensorRT engine from ONNX bytes (TensorRT 10 API).

    One optimization profile over the batch axis: min 1, opt ``batch``, max ``max_batch``
    (default ``batch``). ``fp16`` / ``int8`` set the builder flags; INT8 calibrates with
    ``calibration`` on the opt batch (or reuses its cache file).
    """
    from edgeact.runtime.tensorrt_backend import import_tensorrt

    trt = import_tensorrt(what)
    max_batch = max_batch or batch
    if not 1 <= batch <= max_batch:
        raise EdgeactError(f"--batch {batch} must be between 1 and --max-batch {max_batch}")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    major = int(trt.__version__.split(".")[0])
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_model):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EdgeactError(f"{what}: TensorRT could not parse the ONNX graph ({errors[:300]})")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    rest = (in_channels, spec.frames, spec.size, spec.size)
    profile = builder.create_optimization_profile()
    profile.set_shape(INPUT_NAME, (1, *rest), (batch, *rest), (max_batch, *rest))
    config.add_optimization_profile(profile)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if int8:
        if calibration is None:
            raise EdgeactError("--int8 needs --calib-data: a cache made by `edgeact prep` to calibrate on")
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _trt_calibrator(trt, calibration, device or torch.device("cuda"))
        config.set_calibration_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EdgeactError(f"{what}: TensorRT failed to build the engine (see its log above)")
    return bytes(plan)


def _export_engine(model, meta, spec, out, *, batch, max_batch, fp16, int8, calib_data, opset, tolerance, device,
                   source, log) -> ExportResult:
    from edgeact.runtime.tensorrt_backend import TensorRTRuntime, import_tensorrt, write_sidecar

    start = time.perf_counter()
    import_tensorrt(out)
    if device.type != "cuda":
        raise EdgeactError(f"--format engine: building a TensorRT engine needs a CUDA device (got --device {device})")
    max_batch = max_batch or batch
    precision = _precision(fp16, int8)
    names = head_output_names(model)
    meta = _export_meta(meta, spec, "engine", precision, names, opset=opset, batch=batch, max_batch=max_batch,
                        dynamic_batch=max_batch > 1, device=str(device), via="onnx", source=source,
                        gpu=torch.cuda.get_device_name(device))
    calibration = None
    if int8:
        if calib_data is None:
            raise EdgeactError("--int8 needs --calib-data: a cache made by `edgeact prep` to calibrate on")
        calibration = CalibrationSource(calib_data, spec, batch_size=batch, benchmark=meta.get("benchmark"),
                                        cache_file=out.with_name(out.name + ".calib"))
    if log:
        log(f"building a TensorRT {precision} engine (batch 1..{max_batch}, opt {batch}); this takes a while")
    plan = build_engine(onnx_model(model, spec, batch=batch, opset=opset).SerializeToString(), spec, in_channels=model.config.in_channels,
                        batch=batch, max_batch=max_batch, fp16=fp16, int8=int8, calibration=calibration,
                        device=device, what=out)
    rt = TensorRTRuntime(out, str(device), meta=meta, engine_bytes=plan)
    n = min(batch + 1, max_batch)
    x = random_clips(n, spec, model.config.in_channels, seed=1)
    ref = _torch_ref(model.to(device), x.to(device))
    diff, limit = _check(out, "engine", precision, ref, rt(x), tolerance, log)
    meta["export"]["max_abs_diff"] = diff
    atomic_write_bytes(out, plan)
    side = write_sidecar(out, meta)
    return ExportResult(out, "engine", precision, diff, limit, n, time.perf_counter() - start, sidecar=side, meta=meta)


def _export_torch_tensorrt(model, meta, spec, out, *, batch, max_batch, fp16, tolerance, device, source,
                           log) -> ExportResult:
    """torch-tensorrt's dynamo path, saved as TorchScript (meta in its extra files); loading it
    needs ``torch_tensorrt`` imported, which :class:`TorchScriptRuntime` does."""
    start = time.perf_counter()
    try:
        import torch_tensorrt
    except ImportError:
        raise EdgeactError("--via torch-tensorrt needs the torch-tensorrt package (pip install torch-tensorrt)") from None
    if device.type != "cuda":
        raise EdgeactError(f"--via torch-tensorrt needs a CUDA device (got --device {device})")
    max_batch = max_batch or batch
    precision = _precision(fp16, False)
    names = head_output_names(model)
    meta = _export_meta(meta, spec, "torchscript", precision, names, batch=batch, max_batch=max_batch,
                        dynamic_batch=max_batch > 1, device=str(device), via="torch-tensorrt", source=source,
                        gpu=torch.cuda.get_device_name(device))
    model = model.to(device).eval()
    rest = (model.config.in_channels, spec.frames, spec.size, spec.size)
    inputs = [torch_tensorrt.Input(min_shape=(1, *rest), opt_shape=(batch, *rest), max_shape=(max_batch, *rest),
                                   dtype=torch.float32)]
    precisions = {torch.float32, torch.float16} if fp16 else {torch.float32}
    if log:
        log(f"compiling with torch-tensorrt ({precision}, batch 1..{max_batch})")
    trt_module = torch_tensorrt.compile(model, ir="dynamo", inputs=inputs, enabled_precisions=precisions)
    x = random_clips(batch, spec, model.config.in_channels).to(device)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(trt_module, x, strict=False)
    n = min(batch + 1, max_batch)
    x_check = random_clips(n, spec, model.config.in_channels, seed=1).to(device)
    diff, limit = _check(out, "torch-tensorrt", precision, _torch_ref(model, x_check), _torch_ref(traced, x_check),
                         tolerance, log)
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
    """Every file the export writes (the artifact; an engine's ``.json`` sidecar and INT8
    ``.calib`` cache) is refused when it is the checkpoint it reads."""
    from edgeact.runtime.tensorrt_backend import sidecar_path

    refuse_output_over_input(out, [checkpoint], option="--out")
    if fmt == "engine" and via == "onnx":
        refuse_output_over_input(sidecar_path(out), [checkpoint], option="--out's engine sidecar")
        if int8:
            refuse_output_over_input(out.with_name(out.name + ".calib"), [checkpoint],
                                     option="--out's INT8 calibration cache")


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
            percentile); or an INT8 engine calibrated on the
            clips of ``calib_data`` (a prepared cache); the calibration cache ``<out>.calib`` is
            reused when present.
        batch: batch traced / the engine profile's optimum. max_batch: the engine's largest
            batch (default ``batch``); ONNX and TorchScript have a dynamic batch axis.
        frames, size: input ``T`` and ``S`` (default: the checkpoint's input spec).
        tolerance: largest allowed absolute logit difference to PyTorch (fp32).
        compact: physically remove pruned filters first (``edgeact.pruning.compact``).
        device: where TorchScript is traced and engines are built (``auto``, ``cpu``, ``cuda``).
        via: engine route, ``onnx`` (alias ``tensorrt``: the TensorRT Python API's ONNX parser,
            writes ``.engine`` + ``.json``) or ``torch-tensorrt`` (writes a TorchScript file holding TensorRT engines).
        log: called with progress lines (e.g. the parity figure).

    Returns:
        An :class:`ExportResult`; an :class:`EdgeactError` when the export is beyond tolerance.
    """
    from edgeact.engine import resolve_device

    fmt = {"tensorrt": "engine", "trt": "engine", "ts": "torchscript"}.get(fmt, fmt)
    via = {"tensorrt": "onnx", "trt": "onnx"}.get(via, via)     # the TensorRT Python API route parses the ONNX
    if fmt not in FORMATS:
        raise EdgeactError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if via not in VIAS:
        raise EdgeactError(f"--via {via!r}: choose one of {', '.join(VIAS)}")
    if via != "onnx" and fmt != "engine":
        raise EdgeactError(f"--via {via} applies to --format engine only")
    if fmt == "torchscript" and int8:
        raise EdgeactError("--int8 applies to --format onnx (Q/DQ) and engine, not torchscript")
    if fp16 and int8:
        raise EdgeactError("--fp16 and --int8: choose one (the INT8 Q/DQ graph keeps its other layers float32)")
    if fmt != "onnx" and (calib_clips is not None or calib_method is not None):
        raise EdgeactError("--calib-clips and --calib-method apply to --format onnx --int8")
    if int8 and calib_data is None:
        raise EdgeactError("--int8 needs --calib-data: a cache made by `edgeact prep` whose train clips calibrate the "
                           "INT8 ranges")
    if not int8 and (calib_data is not None or calib_clips is not None or calib_method is not None):
        raise EdgeactError("--calib-data, --calib-clips and --calib-method apply to --int8 only")
    if int8 and via == "torch-tensorrt":
        raise EdgeactError("--int8 needs --via onnx (INT8 calibration is built on TensorRT's ONNX parser)")
    if batch < 1:
        raise EdgeactError(f"--batch must be >= 1, got {batch}")
    if max_batch is not None and max_batch < batch:
        raise EdgeactError(f"--max-batch {max_batch} is smaller than --batch {batch}")
    if not tolerance > 0:
        raise EdgeactError(f"--tolerance must be > 0, got {tolerance}")
    from edgeact.runtime.loader import resolve_model

    checkpoint = resolve_model(checkpoint)
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
                          calib_data=calib_data, opset=opset, device=dev, **common)
