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

One module per format, as :mod:`edgeact.runtime` has one per backend: :mod:`.onnx_export`,
:mod:`.torchscript_export`, :mod:`.tensorrt_export` (the TensorRT Python API),
:mod:`.torch_tensorrt_export`; :mod:`.quantize` makes the fp16 and INT8 Q/DQ ONNX (and reads the
INT8 calibration clips); :mod:`.base` holds what they share and :mod:`.exporter` the entry point,
:func:`export_model`.
"""

from edgeact.export.base import (
    MIN_OPSET,
    ExportResult,
    export_spec,
    max_abs_diff,
    parity_limit,
    random_clips,
    torch_outputs,
)
from edgeact.export.exporter import export_model
from edgeact.export.onnx_export import set_onnx_meta
from edgeact.export.tensorrt_export import build_engine, network_flags, onnx_precision, precision_onnx, read_engine_onnx
from edgeact.export.torch_tensorrt_export import full_fp32, observed_precision, torch_tensorrt_options
from edgeact.export.torchscript_export import Fp16Module

__all__ = [
    "MIN_OPSET", "ExportResult", "Fp16Module", "build_engine", "export_model", "export_spec", "full_fp32",
    "max_abs_diff", "network_flags", "observed_precision", "onnx_precision", "parity_limit", "precision_onnx",
    "random_clips", "read_engine_onnx", "set_onnx_meta", "torch_outputs", "torch_tensorrt_options",
]
