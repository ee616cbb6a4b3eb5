"""ONNX Runtime backend: an ``.onnx`` file written by ``edgeact export --format onnx``.

The graph takes ``clips`` ``(B, 3, T, S, S)`` float32 (dynamic ``B``) and returns one output
per head (``logits_l1`` .. ``fine``); the edgeact metadata JSON is in the model's
``metadata_props`` under ``edgeact_meta``.

Where it runs is read back from the session, never assumed: ONNX Runtime lists the CUDA provider
in any ``onnxruntime-gpu`` install, even without a GPU or its CUDA/cuDNN libraries, and then
quietly runs on the CPU. :attr:`OnnxRuntime.provider` is the provider the session actually uses;
``--device cuda`` that ends up on the CPU is a :class:`ProviderFallbackWarning` (one line).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from edgeact.device import device_name
from edgeact.errors import EdgeactError
from edgeact.optional import require
from edgeact.runtime.base import INPUT_NAME, META_KEY, Runtime, check_meta


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def read_onnx_meta(path: Path) -> dict:
    """The edgeact metadata of an ONNX file (``metadata_props["edgeact_meta"]``), checked, without
    loading its weights."""
    onnx = require("onnx", "onnx", f"{path}: reading ONNX metadata")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise EdgeactError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    props = {p.key: p.value for p in model.metadata_props}
    if META_KEY not in props:
        raise EdgeactError(f"{path}: an ONNX model without edgeact metadata ('{META_KEY}'); export it with `edgeact export`")
    try:
        return check_meta(json.loads(props[META_KEY]), path)
    except json.JSONDecodeError:
        raise EdgeactError(f"{path}: the '{META_KEY}' metadata is not JSON") from None


class ProviderFallbackWarning(RuntimeWarning):
    """``--device cuda`` was asked for, and ONNX Runtime runs the model on the CPU."""


def wants_cuda(device: str) -> bool:
    """``cuda`` / ``cuda:N``: the caller asked for the GPU (``auto`` only prefers it)."""
    return device == "cuda" or device.startswith("cuda:")


def providers_for(device: str, available: Optional[list] = None) -> list:
    """ONNX Runtime execution providers for ``device``: CUDA first (on GPU ``N`` for ``cuda:N``)
    when asked for (``auto``, ``cuda``, ``cuda:N``) and this onnxruntime build lists it, CPU always
    as the fallback. ``available``: the build's providers (default: ``ort.get_available_providers()``)."""
    if available is None:
        import onnxruntime as ort

        available = ort.get_available_providers()
    if device != "cpu" and CUDA in available:
        index = device.split(":", 1)[1] if device.startswith("cuda:") else "0"
        return [(CUDA, {"device_id": int(index)}), CPU]
    return [CPU]


def fallback_reason(device: str, available: list, used: list) -> Optional[str]:
    """Why a session asked for ``device`` runs on the CPU (``None``: it runs where asked, or
    ``auto``/``cpu`` was asked, where the CPU is an accepted outcome). ``available``: the
    build's providers; ``used``: ``session.get_providers()``."""
    if not wants_cuda(device) or (used and used[0] == CUDA):
        return None
    if CUDA not in available:
        return "this onnxruntime build has no CUDA provider (pip install onnxruntime-gpu, without onnxruntime)"
    return "onnxruntime could not start its CUDA provider (no usable GPU, or its CUDA/cuDNN libraries are missing)"


def warn_fallback(path, device: str, reason: str) -> None:
    """One line on stderr, located at the model file rather than at a line of edgeact's code."""
    warnings.warn_explicit(f"asked for {device}, running on the CPU, not CUDA: {reason}", ProviderFallbackWarning,
                           str(path), 0)


class OnnxRuntime(Runtime):
    """An ONNX Runtime ``InferenceSession`` over an edgeact ONNX file (path or bytes).

    ``threads`` sets ONNX Runtime's intra-op threads (default: ``torch.get_num_threads()``, so
    one knob, e.g. ``OMP_NUM_THREADS``, governs every backend in a process). ``provider`` is the
    execution provider the session uses (``providers`` all of them, in order), ``device`` follows
    from it, and ``fallback`` says why ``--device cuda`` runs on the CPU (``None`` otherwise).
    """

    backend = "onnx"

    def __init__(self, path: Path, device: str = "auto", *, fp16: bool = False, threads: Optional[int] = None,
                 model_bytes: Optional[bytes] = None):
        ort = require("onnxruntime", "onnx", f"{path}: running ONNX")
        device = device_name(device)
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3            # no provider-fallback chatter on stderr
        available = ort.get_available_providers()
        providers = providers_for(device, available)
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
            raise EdgeactError(f"{path}: an {self.precision} ONNX model; its precision is fixed at export "
                               "(edgeact export --format onnx --fp16, or --format engine --fp16)")
        inputs = [i.name for i in sess.get_inputs()]
        outputs = {o.name for o in sess.get_outputs()}
        names = self.output_names
        if inputs != [INPUT_NAME] or not set(names) <= outputs:
            raise EdgeactError(f"{path}: graph inputs {inputs} / outputs {sorted(outputs)} do not match its "
                               f"metadata ({INPUT_NAME!r} -> {names})")
        self.session = sess
        self.providers = sess.get_providers()
        self.provider = self.providers[0]
        self.device = "cuda" if self.provider == CUDA else "cpu"
        self.fallback = fallback_reason(device, available, self.providers)
        if self.fallback is not None:
            warn_fallback(path, device, self.fallback)
        batch_dim = sess.get_inputs()[0].shape[0]
        self.max_batch = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else None

    def _infer(self, clips) -> list[np.ndarray]:
        if not isinstance(clips, np.ndarray):
            clips = clips.detach().cpu().numpy()
        x = np.ascontiguousarray(clips, dtype=np.float32)
        return [np.asarray(o, dtype=np.float32) for o in self.session.run(self.output_names, {INPUT_NAME: x})]
