"""The one inference interface every backend implements.

A :class:`Runtime` maps clips ``(B, 3, T, S, S)`` float32 (numpy array or torch tensor) to a tuple
of float32 numpy logits, one ``(B, M_l)`` array per head, coarse to fine, the fine
``(B, num_classes)`` logits last, whatever executes the network (PyTorch, ONNX Runtime,
TorchScript, TensorRT). Callers (``eval``, ``live``, ``bench``) never branch on the backend.

Every artifact carries the same metadata dict (``meta``), the checkpoint's self-description
(``model``, ``input``, ``classes``, ``hierarchy``, ...) plus, for exported artifacts, an
``export`` section naming the output tensors in head order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from edgeact.data.classes import ClassList
from edgeact.errors import EdgeactError
from edgeact.types import InputSpec

BACKENDS = ("torch", "onnx", "tensorrt", "torchscript", "openvino")
INPUT_NAME = "clips"
META_KEY = "edgeact_meta"                 # ONNX metadata_props key
TS_META_FILE = "edgeact_meta.json"        # TorchScript _extra_files entry
REQUIRED_META = ("model", "input", "classes")


def output_names(active_stacks: Sequence[int]) -> list[str]:
    """Output tensor names for the heads after the given 0-based stacks, coarse to fine:
    ``logits_l{k}`` for the superclass head after stack ``k`` (1-3), ``fine`` for stack 4."""
    return ["fine" if k == 3 else f"logits_l{k + 1}" for k in active_stacks]


def check_meta(meta: Any, where: str | Path) -> dict:
    """``meta`` if it is an edgeact metadata dict, else an :class:`EdgeactError` naming ``where``."""
    if not isinstance(meta, dict):
        raise EdgeactError(f"{where}: edgeact metadata is not a JSON object")
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise EdgeactError(f"{where}: edgeact metadata lacks {', '.join(map(repr, missing))}")
    return meta


class Runtime:
    """Base class: metadata accessors, input checks and splitting into ``max_batch`` chunks.

    Subclasses set ``backend``, ``device``, ``max_batch``, ``precision`` and implement
    :meth:`_infer` for one chunk of at most ``max_batch`` clips.
    """

    backend: str = ""
    device: str = "cpu"
    max_batch: Optional[int] = None         # None: any batch size in one call
    precision: str = "fp32"                 # fp32, fp16 or int8 (what the network computes in)
    fixed_shape: bool = True                # T and S are baked into the artifact

    def __init__(self, meta: dict, path: Optional[Path] = None):
        self.meta = check_meta(meta, path or "<model>")
        self.path = path
        self._classes = ClassList.from_dict(meta["classes"])
        self._spec = InputSpec.from_dict(meta["input"])

    @property
    def classes(self) -> ClassList:
        return self._classes

    @property
    def input_spec(self) -> InputSpec:
        return self._spec

    @property
    def hierarchy(self) -> Optional[dict]:
        return self.meta.get("hierarchy")

    @property
    def output_names(self) -> list[str]:
        """Names of the heads' outputs, coarse to fine (``fine`` last)."""
        export = self.meta.get("export") or {}
        if export.get("outputs"):
            return list(export["outputs"])
        counts = list(self.meta["model"].get("levels") or [None, None, None]) + [None]
        return output_names([k for k, c in enumerate(counts) if c is not None or k == 3])

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(backend={self.backend!r}, device={self.device!r}, "
                f"precision={self.precision!r}, max_batch={self.max_batch}, path={str(self.path)!r})")

    def check_input(self, clips) -> tuple[int, ...]:
        shape = tuple(int(d) for d in clips.shape)
        spec = self._spec
        in_ch = int(self.meta["model"].get("in_channels", 3))
        if len(shape) != 5 or shape[1] != in_ch:
            raise EdgeactError(f"{self.path or 'model'}: expected clips (B, {in_ch}, T, S, S), got {shape}")
        if self.fixed_shape and shape[2:] != (spec.frames, spec.size, spec.size):
            raise EdgeactError(f"{self.path}: this {self.backend} artifact takes clips (B, {in_ch}, {spec.frames}, "
                               f"{spec.size}, {spec.size}), got {shape}")
        return shape

    def __call__(self, clips) -> tuple[np.ndarray, ...]:
        """Clips ``(B, 3, T, S, S)`` float32 -> logits per head, coarse to fine, each
        ``(B, M_l)`` float32 numpy. Batches above ``max_batch`` run in chunks."""
        b = self.check_input(clips)[0]
        if b == 0:
            raise EdgeactError(f"{self.path or 'model'}: empty batch")
        step = self.max_batch or b
        if step >= b:
            return tuple(self._infer(clips))
        chunks = [self._infer(clips[i:i + step]) for i in range(0, b, step)]
        return tuple(np.concatenate(parts) for parts in zip(*chunks))

    def warmup(self, *batches: int) -> None:
        """One untimed call per batch size (default 1) on zeros ``(B, C, T, S, S)`` of the input
        spec, so no real call is the slow first one: it builds the ``torch.compile`` graph (two
        sizes make it generic over the batch), records CUDA graphs, picks cuDNN algorithms and
        sizes ONNX Runtime's and TensorRT's buffers."""
        spec, in_ch = self._spec, int(self.meta["model"].get("in_channels", 3))
        for b in batches or (1,):
            self(np.zeros((b, in_ch, spec.frames, spec.size, spec.size), np.float32))

    def _infer(self, clips) -> list[np.ndarray]:
        raise NotImplementedError
