"""One inference interface, several backends (PyTorch, ONNX Runtime, TorchScript, TensorRT, and
OpenVINO for ONNX files), chosen by the artifact or ``backend=``: ``load_runtime(path)(clips)`` ->
logits per head, fine last."""

from edgeact.runtime.base import BACKENDS, Runtime, output_names
from edgeact.runtime.loader import detect_kind, load_runtime, read_meta

__all__ = ["BACKENDS", "Runtime", "detect_kind", "load_runtime", "output_names", "read_meta"]
