"""Precision inside the exported ONNX: an fp16 graph and an INT8 Q/DQ graph, made from the fp32 export.

One artifact per precision, each with edgeact's metadata (``export.precision`` and
``export.conversion``: which tool made it, with which settings and, for INT8, on which clips):

- **fp16** (``edgeact export --format onnx --fp16``): onnxconverter-common's
  ``float16.convert_float_to_float16(keep_io_types=True)``: weights and activations float16
  inside, inputs ``clips`` and the logits float32 outside (a Cast at each end), so callers never
  handle half tensors. Chosen over NVIDIA ModelOpt's ``modelopt.onnx.autocast`` because that needs
  the ``nvidia-modelopt[onnx]`` install (onnxruntime-gpu, CuPy, a CUDA toolkit, an older onnx
  pin) and itself calls this converter for the cast; TensorRT builds the same fp16 network from
  either file.
- **INT8** (``--int8 --int8-data CACHE``): explicit quantization with onnxruntime's
  ``quantize_static`` in QDQ format: a QuantizeLinear/DequantizeLinear pair on the input of every
  Conv (int8, per tensor, symmetric: zero point 0) and a DequantizeLinear on its weights (int8, per
  output channel, symmetric); biases, residual adds, pooling and the heads stay float32. Symmetric
  signed int8 everywhere is what TensorRT's explicit quantization accepts, and OpenVINO and
  onnxruntime run the same file. The ranges come from ``clips`` clips of the cache's train split,
  preprocessed exactly as ``edgeact eval`` does (centre crop, one frame set starting mid first
  segment): see :func:`calibration_clips`.

The conversion is checked before anything is written, as every export is: the fp32 graph against
PyTorch (``tolerance``), the fp16 graph within 1 % of the largest logit, and the INT8 graph is
reported against PyTorch on the calibration clips (largest logit difference and how often its
fine top-1 agrees), since its error depends on the data rather than on a bound a random batch
could test.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from edgeact.errors import EdgeactError
from edgeact.export.base import (
    ExportResult,
    Log,
    check_parity,
    export_meta,
    head_output_names,
    random_clips,
    torch_outputs,
)
from edgeact.export.onnx_export import onnx_model, set_onnx_meta
from edgeact.fileio import atomic_write_bytes
from edgeact.optional import require
from edgeact.types import InputSpec

CALIB_METHODS = ("minmax", "entropy", "percentile")
DEFAULT_CALIB_METHOD = "minmax"
DEFAULT_CALIB_CLIPS = 64
CALIB_SPLIT = "train"
PERCENTILE = 99.999
FP16_MAX = 65504.0
QDQ_OPS = ("Conv",)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


# ----------------------------------------------------------------------------- fp16

def to_fp16(proto, *, log: Log = None):
    """An fp32 ONNX ``ModelProto`` -> the same graph in float16 with float32 inputs and outputs.

    A weight beyond float16's range (65504) would become infinity: refused (the converter would
    clip it, by default already at 1e4). Non-zero weights smaller than 1e-7 in magnitude are set
    to +-1e-7 (the converter's floor, near float16's smallest subnormal), counted in the log line.
    """
    from onnx import numpy_helper

    float16 = require("onnxconverter_common.float16", "onnx", "an fp16 ONNX export").convert_float_to_float16
    big = tiny = 0
    for init in proto.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.size:
            a = np.abs(w)
            big += int((a > FP16_MAX).sum())
            tiny += int(((a > 0) & (a < 1e-7)).sum())
    if big:
        raise EdgeactError(f"{big} weights exceed float16's range (65504); this model cannot run in fp16", param="fp16")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # one warning per small weight; counted above instead
        half = float16(proto, keep_io_types=True, min_positive_val=1e-7, max_finite_val=FP16_MAX)
    if log and tiny:
        log(f"fp16: {tiny} non-zero weights below 1e-7 in magnitude set to +-1e-7 (float16 cannot hold them)")
    return half


# ----------------------------------------------------------------------------- calibration data

def check_calibration_classes(cache: Path, index: dict, class_names: tuple[str, ...]) -> None:
    """Refuse a cache of other classes than the model's (the rule ``edgeact eval`` applies: the
    model's classes are the cache's first ones). The scale (cache frame size against the model's
    ``resize``) is :class:`~edgeact.data.clips.ClipDataset`'s own check, shared with train and eval."""
    from edgeact.data.classes import ClassList

    cached = ClassList.from_dict(index["meta"]["classes"]).names
    if tuple(cached[: len(class_names)]) != tuple(class_names):
        raise EdgeactError(f"{cache}: the calibration cache's {len(cached)} classes differ from the model's "
                           f"{len(class_names)} ({', '.join(class_names[:3])}, ...)")


def calibration_clips(cache: str | Path, spec: InputSpec, class_names: tuple[str, ...], *, benchmark: str,
                      clips: int = DEFAULT_CALIB_CLIPS, split: str = CALIB_SPLIT, log: Log = None) -> np.ndarray:
    """``clips`` clips of ``split`` of ``benchmark`` in ``cache`` -> ``(clips, 3, T, S, S)`` float32,
    preprocessed as at test time (:class:`~edgeact.data.clips.ClipDataset` with ``train=False``
    and one frame set), spread evenly over the split so every class shows up. A cache of larger
    frames than the model's ``resize`` is resized on load (its note goes to ``log``), a smaller
    one refused, as for training and eval."""
    from edgeact.data.cache import read_index
    from edgeact.data.clips import ClipDataset

    cache = Path(cache)
    if clips < 1:
        raise EdgeactError(f"must be >= 1, got {clips}", param="clips")
    index = read_index(cache)
    check_calibration_classes(cache, index, class_names)
    ds = ClipDataset(cache, benchmark, split, train=False, spec=spec, num_test_sets=1)
    if log and ds.scale_note:
        log(ds.scale_note)
    if len(ds) < clips:
        raise EdgeactError(f"{cache}: the {split} split of {benchmark} has {len(ds)} clips, fewer than the {clips} "
                           "asked for to calibrate INT8")
    idx = np.linspace(0, len(ds) - 1, clips).round().astype(np.int64)
    return np.stack([ds[int(i)][0][0].numpy() for i in idx]).astype(np.float32, copy=False)


def random_calibration(clips: int, spec: InputSpec, in_channels: int = 3, seed: int = 0) -> np.ndarray:
    """Random normal clips ``(clips, C, T, S, S)``: ranges for timing an INT8 graph, not for its accuracy."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((clips, in_channels, spec.frames, spec.size, spec.size), dtype=np.float32)


# ----------------------------------------------------------------------------- INT8 Q/DQ

class _ClipReader:
    """onnxruntime's ``CalibrationDataReader`` over ``(N, C, T, S, S)`` clips, one clip per run;
    ``set_range`` lets the quantizer collect a few clips at a time, so the activations of all N
    clips are never held at once (an i3d_r50 clip has about 1 GB of them)."""

    def __init__(self, clips: np.ndarray, input_name: str):
        self.clips, self.input_name = clips, input_name
        self.pos, self.end = 0, len(clips)

    def __len__(self) -> int:
        return len(self.clips)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.pos, self.end = int(start_index), int(end_index)

    def get_next(self) -> Optional[dict]:
        if self.pos >= self.end:
            return None
        x = self.clips[self.pos:self.pos + 1]
        self.pos += 1
        return {self.input_name: x}


def quantize_qdq(proto, clips: np.ndarray, *, method: str = DEFAULT_CALIB_METHOD, input_name: str = "clips"):
    """An fp32 ONNX ``ModelProto`` -> its INT8 Q/DQ version calibrated on ``clips``
    ``(N, C, T, S, S)`` float32 (see the module docstring for where the Q/DQ pairs go)."""
    import onnx

    quant = require("onnxruntime.quantization", "onnx", "an INT8 ONNX export")
    if method not in CALIB_METHODS:
        raise EdgeactError(f"{method!r}: choose one of {', '.join(CALIB_METHODS)}", param="method")
    calib = {"minmax": quant.CalibrationMethod.MinMax, "entropy": quant.CalibrationMethod.Entropy,
             "percentile": quant.CalibrationMethod.Percentile}[method]
    extra = {"ActivationSymmetric": True, "WeightSymmetric": True,
             "QuantizeBias": False,                                 # float bias: what TensorRT and OpenVINO fuse
             "OpTypesToExcludeOutputQuantization": list(QDQ_OPS),   # Q/DQ on Conv inputs, not on its output too
             "CalibStridedMinMax": 1,                               # collect clip by clip (memory)
             "CalibPercentile": PERCENTILE, "CalibTensorRangeSymmetric": True}
    with tempfile.TemporaryDirectory(prefix="edgeact-qdq-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(proto, str(src))
        # the histogram calibrators print progress to stdout: keep it out of the command's output
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            _quiet_ort_logging()
            quant.quantize_static(str(src), str(dst), _ClipReader(clips, input_name), quant_format=quant.QuantFormat.QDQ,
                                  op_types_to_quantize=list(QDQ_OPS), per_channel=True, reduce_range=False,
                                  activation_type=quant.QuantType.QInt8, weight_type=quant.QuantType.QInt8,
                                  calibrate_method=calib, extra_options=extra)
        out = onnx.load(str(dst))
    check_qdq(out)
    return out


def _quiet_ort_logging() -> None:
    """The quantizer logs advice (run pre-processing, ...) through ``logging`` at INFO/WARNING."""
    import logging

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))


def check_qdq(proto) -> dict:
    """Structural check of an INT8 graph: every Conv takes its input and its weights from a
    DequantizeLinear, weights int8 per output channel, every zero point 0 (symmetric). Returns
    counts; an :class:`EdgeactError` saying which Conv breaks the rule otherwise."""
    from onnx import numpy_helper

    graph = proto.graph
    producer = {o: n for n in graph.node for o in n.output}
    inits = {i.name: i for i in graph.initializer}
    consts = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}

    def array(name: str) -> Optional[np.ndarray]:
        if name in inits:
            return numpy_helper.to_array(inits[name])
        if name in consts:
            return numpy_helper.to_array(consts[name].attribute[0].t)
        return None

    convs = [n for n in graph.node if n.op_type == "Conv"]
    if not convs:
        raise EdgeactError("int8 graph: no Conv node")
    for conv in convs:
        for slot, what in ((0, "input"), (1, "weights")):
            dq = producer.get(conv.input[slot])
            if dq is None or dq.op_type != "DequantizeLinear":
                raise EdgeactError(f"int8 graph: Conv {conv.name!r} {what} do not come from a DequantizeLinear")
            zero = array(dq.input[2]) if len(dq.input) > 2 else None
            if zero is None or zero.dtype != np.int8 or np.any(zero != 0):
                raise EdgeactError(f"int8 graph: Conv {conv.name!r} {what} are not symmetric int8 (zero point 0)")
            if slot == 1:
                weight, scale = array(dq.input[0]), array(dq.input[1])
                if weight is None or weight.dtype != np.int8 or scale is None or scale.size != weight.shape[0]:
                    raise EdgeactError(f"int8 graph: Conv {conv.name!r} weights are not int8 per output channel")
    ops = [n.op_type for n in graph.node]
    return {"conv": len(convs), "quantize": ops.count("QuantizeLinear"), "dequantize": ops.count("DequantizeLinear")}


# ----------------------------------------------------------------------------- export

def _ort(proto_bytes: bytes, threads: int = 0):
    ort = require("onnxruntime", "onnx", "checking an fp16 or INT8 ONNX")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(proto_bytes, opts, providers=["CPUExecutionProvider"])


def _run(sess, x: np.ndarray, names: list[str], step: int = 8) -> tuple[np.ndarray, ...]:
    parts = [sess.run(names, {"clips": x[i:i + step]}) for i in range(0, len(x), step)]
    return tuple(np.concatenate(p) for p in zip(*parts))


def export_reduced_onnx(model, meta: dict, spec: InputSpec, out: Path, *, precision: str, batch: int, opset: int,
                        tolerance: float, source: str, calib_data: Optional[str | Path] = None,
                        calib_clips: int = DEFAULT_CALIB_CLIPS, calib_method: str = DEFAULT_CALIB_METHOD,
                        calibration: Optional[np.ndarray] = None, log: Log = None):
    """Write ``out``: the model as an fp16 or INT8 Q/DQ ONNX, checked first (see the module
    docstring); returns an :class:`edgeact.export.ExportResult`. INT8 calibrates on
    ``calib_data`` (a prepared cache) or, for timing only, on the given ``calibration`` clips."""
    if precision not in ("fp16", "int8"):
        raise EdgeactError(f"precision {precision!r}: the reduced ONNX precisions are fp16 and int8")
    if calib_method not in CALIB_METHODS:
        raise EdgeactError(f"{calib_method!r}: choose one of {', '.join(CALIB_METHODS)}", param="calib_method")
    if calib_clips < 1:
        raise EdgeactError(f"must be >= 1, got {calib_clips}", param="calib_clips")
    start = time.perf_counter()
    in_ch = model.config.in_channels
    names = head_output_names(model)
    if precision == "int8" and calibration is None:
        if calib_data is None:
            raise EdgeactError("INT8 needs a cache made by `edgeact prep` whose train clips calibrate its ranges",
                               param="calib_data")
        benchmark = meta.get("benchmark")
        if not benchmark:
            raise EdgeactError(f"{source}: the checkpoint names no benchmark, so no train split to calibrate on")
        calibration = calibration_clips(calib_data, spec, tuple(meta["classes"]["names"]), benchmark=benchmark,
                                        clips=calib_clips, log=log)
    fp32 = onnx_model(model, spec, batch=batch, opset=opset)
    x = random_clips(batch + 1, spec, in_ch, seed=1)
    check_parity(out, "onnx", "fp32", torch_outputs(model, x), _run(_ort(fp32.SerializeToString()), x.numpy(), names),
           tolerance, None)
    if precision == "fp16":
        proto = to_fp16(fp32, log=log)
        conversion = {"tool": "onnxconverter-common float16.convert_float_to_float16",
                      "version": _version("onnxconverter-common"), "keep_io_types": True,
                      "inside": "float16 weights and activations", "io": "float32"}
        got = _run(_ort(proto.SerializeToString()), x.numpy(), names)
        diff, limit = check_parity(out, "onnx", "fp16", torch_outputs(model, x), got, tolerance, log)
        checked, agreement = batch + 1, None
    else:
        if log:
            log(f"int8: calibrating on {len(calibration)} clips ({calib_method})")
        proto = quantize_qdq(fp32, calibration, method=calib_method)
        counts = check_qdq(proto)
        conversion = {"tool": "onnxruntime.quantization.quantize_static", "version": _version("onnxruntime"),
                      "format": "QDQ", "ops": list(QDQ_OPS), "weights": "int8 per output channel, symmetric",
                      "activations": "int8 per tensor, symmetric", "bias": "float32", **counts,
                      "calibration": {"source": str(calib_data) if calib_data is not None else "random clips (timing only)",
                                      "benchmark": meta.get("benchmark") if calib_data is not None else None,
                                      "split": CALIB_SPLIT if calib_data is not None else None,
                                      "clips": int(len(calibration)), "method": calib_method,
                                      "preprocessing": "test: centre crop, one frame set"}}
        xc = torch.from_numpy(calibration[: min(len(calibration), 32)])
        ref = tuple(np.concatenate(p) for p in zip(*(torch_outputs(model, xc[i:i + 4]) for i in range(0, len(xc), 4))))
        got = _run(_ort(proto.SerializeToString()), xc.numpy(), names)
        diff, limit = check_parity(out, "onnx", "int8", ref, got, tolerance, None)
        agreement = float((ref[-1].argmax(1) == got[-1].argmax(1)).mean())
        checked = len(xc)
        if log:
            log(f"parity onnx (int8) vs PyTorch on {checked} calibration clips: max abs difference {diff:.3g}, "
                f"fine top-1 agrees on {agreement:.0%} (reported, not judged)")
    meta = export_meta(meta, spec, "onnx", precision, names, opset=opset, batch=batch, dynamic_batch=True,
                        device="cpu", source=source, exporter="torch.onnx (TorchScript-based, dynamo=False)",
                        conversion=conversion, max_abs_diff=diff)
    if agreement is not None:
        meta["export"]["top1_agreement"] = agreement
    atomic_write_bytes(out, set_onnx_meta(proto, meta))
    return ExportResult(out, "onnx", precision, diff, limit, checked, time.perf_counter() - start, meta=meta)
