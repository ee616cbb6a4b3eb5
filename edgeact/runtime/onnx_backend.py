"""ONNX Runtime backend: an ``.onnx`` file written by ``edgeact export --format onnx``.

The graph takes ``clips`` ``(B, 3, T, S, S)`` float32 (dynamic ``B``) and returns one output
per head (``logits_l1`` .. ``fine``); the edgeact metadata JSON is in the model's
``metadata_props`` under ``edgeact_meta``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from edgeact.errors import EdgeactError
from edgeact.runtime.base import INPUT_NAME, META_KEY, Runtime, check_meta


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def providers_for(device: str) -> list:
    """ONNX Runtime execution providers for ``device``: CUDA first (on GPU ``N`` for ``cuda:N``)
    when asked for (``auto``, ``cuda``, ``cuda:N``) and this onnxruntime build has it, CPU always
    as the fallback."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device != "cpu" and "CUDAExecutionProvider" in available:
        index = device.split(":", 1)[1] if device.startswith("cuda:") else "0"
        return [("CUDAExecutionProvider", {"device_id": int(index)}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxRuntime(Runtime):
    """An ONNX Runtime ``InferenceSession`` over an edgeact ONNX file (path or bytes).

    ``threads`` sets ONNX Runtime's intra-op threads (default: ``torch.get_num_threads()``, so
    one knob, e.g. ``OMP_NUM_THREADS``, governs every backend in a process).
    """

    backend = "onnx"

    def __init__(self, path: Path, device: str = "auto", *, fp16: bool = False, threads: Optional[int] = None,
                 model_bytes: Optional[bytes] = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise EdgeactError(f"{path}: running ONNX needs onnxruntime (pip install 'edgeact[onnx]')") from None
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3            # no provider-fallback chatter on stderr
        providers = providers_for(device)
        try:
            sess = ort.InferenceSession(model_bytes if model_bytes is not None else str(path), opts,
                                        providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable files
            raise EdgeactError(f"{path}: not a readable ONNX model ({_first_line(exc)})") from None
        raw = sess.get_modelmeta().custom_metadata_map.get(META_KEY)
        if raw is None:
            raise EdgeactError(f"{path}: an ONNX model without edgeact metadata ('{META_KEY}'); "
                               "export it with `edgeact export`")
        try:
            meta = json.loads(raw)
        except json.JSONDecodeError:
            raise EdgeactError(f"{path}: the '{META_KEY}' metadata is not JSON") from None
        super().__init__(check_meta(meta, path), path)
        export = meta.get("export") or {}
        self.precision = export.get("precision", "fp32")
        if fp16 and self.precision != "fp16":
            raise EdgeactError(f"{path}: an {self.precision} ONNX model; for fp16 build a TensorRT engine "
                               "(edgeact export --format engine --fp16) or run the .pt checkpoint with fp16")
        inputs = [i.name for i in sess.get_inputs()]
        outputs = {o.name for o in sess.get_outputs()}
        names = self.output_names
        if inputs != [INPUT_NAME] or not set(names) <= outputs:
            raise EdgeactError(f"{path}: graph inputs {inputs} / outputs {sorted(outputs)} do not match its "
                               f"metadata ({INPUT_NAME!r} -> {names})")
        self.session = sess
        self.providers = sess.get_providers()
        self.device = "cuda" if self.providers[0] == "CUDAExecutionProvider" else "cpu"
        batch_dim = sess.get_inputs()[0].shape[0]
        self.max_batch = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else None

    def _infer(self, clips) -> list[np.ndarray]:
        if not isinstance(clips, np.ndarray):
            clips = clips.detach().cpu().numpy()
        x = np.ascontiguousarray(clips, dtype=np.float32)
        return [np.asarray(o, dtype=np.float32) for o in self.session.run(self.output_names, {INPUT_NAME: x})]
