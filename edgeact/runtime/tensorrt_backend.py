"""TensorRT backend: a serialized engine (``.engine`` / ``.plan``) plus its sidecar metadata.

An engine cannot carry metadata, so ``edgeact export --format engine`` writes
``<engine>.json`` beside it (the same meta dict an ONNX file carries, with ``export.outputs``
naming the output tensors in head order and ``export.tensorrt_version`` the TensorRT that built
it). An engine only deserializes in the TensorRT version that built it, so another version is
refused up front in one line instead of failing inside TensorRT.

Written for the named-tensor API that TensorRT 10 and 11 share (``set_input_shape`` /
``set_tensor_address`` / ``execute_async_v3``); torch CUDA tensors serve as the I/O buffers, so
no pycuda is needed. ``tensorrt`` is imported only when an engine is built or loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from edgeact.errors import EdgeactError
from edgeact.fileio import atomic_write_json
from edgeact.optional import require
from edgeact.runtime.base import INPUT_NAME, Runtime, check_meta

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def sidecar_path(engine: str | Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


def write_sidecar(engine: str | Path, meta: dict) -> Path:
    """Write the engine's metadata atomically beside it; returns the sidecar's path."""
    path = sidecar_path(engine)
    atomic_write_json(path, meta)
    return path


def read_sidecar(engine: str | Path) -> dict:
    """The metadata of an engine, from its sidecar; a clear error when it is missing or bad."""
    path = sidecar_path(engine)
    if not path.is_file():
        raise EdgeactError(f"{engine}: no metadata sidecar {path.name} beside the engine "
                           "(engines are written by `edgeact export --format engine`)")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise EdgeactError(f"{path}: engine metadata is not JSON") from None
    check_meta(meta, path)
    if (meta.get("export") or {}).get("format") != "engine":
        raise EdgeactError(f"{path}: not the metadata of an edgeact TensorRT engine (export.format is not 'engine')")
    return meta


def import_tensorrt(what: str | Path):
    return require("tensorrt", "tensorrt", f"{what}: a TensorRT engine")


def trt_major(trt) -> int:
    """The major version of an imported ``tensorrt`` module (10 for ``10.3.0.30``)."""
    return int(str(trt.__version__).split(".")[0])


def check_engine_version(meta: dict, trt, path: str | Path) -> None:
    """Refuse an engine whose sidecar says another TensorRT version built it. A sidecar without
    ``tensorrt_version`` (written before edgeact recorded it) is left to TensorRT's own check."""
    built = (meta.get("export") or {}).get("tensorrt_version")
    if built is not None and str(built) != str(trt.__version__):
        raise EdgeactError(f"{path}: built by TensorRT {built}, but this is TensorRT {trt.__version__}; an engine "
                           "only loads in the TensorRT that built it: rebuild it here (edgeact export --format engine)")


_TORCH_DTYPES = {"FLOAT": "float32", "HALF": "float16", "BF16": "bfloat16", "INT8": "int8", "UINT8": "uint8",
                 "INT32": "int32", "INT64": "int64", "BOOL": "bool"}


def torch_dtype(trt_dtype):
    """A ``tensorrt.DataType`` -> the torch dtype of a buffer for it (by name: bf16 has no numpy type)."""
    import torch

    name = getattr(trt_dtype, "name", str(trt_dtype).rsplit(".", 1)[-1])
    if name not in _TORCH_DTYPES:
        raise EdgeactError(f"engine tensor of TensorRT type {name}: not one edgeact can feed or read")
    return getattr(torch, _TORCH_DTYPES[name])


class TensorRTRuntime(Runtime):
    """A deserialized TensorRT engine with one execution context and its own CUDA stream.

    ``max_batch`` is the largest batch of the engine's optimization profile; larger batches are
    split by :meth:`Runtime.__call__`. The precision (fp32/fp16/int8) is fixed at build time.
    """

    backend = "tensorrt"

    def __init__(self, path: Path, device: str = "auto", *, fp16: bool = False, meta: Optional[dict] = None,
                 engine_bytes: Optional[bytes] = None):
        meta = meta if meta is not None else read_sidecar(path)
        super().__init__(meta, path)
        export = meta.get("export") or {}
        self.precision = export.get("precision", "fp32")
        if fp16 and self.precision == "fp32":
            raise EdgeactError(f"{path}: an fp32 engine; TensorRT precision is fixed at build time "
                               "(edgeact export --format engine --fp16)")
        trt = import_tensorrt(path)
        check_engine_version(meta, trt, path)
        import torch

        from edgeact.device import device_name, resolve_device

        if device_name(device).split(":")[0] not in ("auto", "cuda") or not torch.cuda.is_available():
            raise EdgeactError(f"{path}: a TensorRT engine needs a CUDA device (got device {device})")
        dev = resolve_device(device)
        self._dev = dev if dev.index is not None else torch.device("cuda", torch.cuda.current_device())
        self.device = str(self._dev)
        self._trt = trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        data = engine_bytes if engine_bytes is not None else Path(path).read_bytes()
        with torch.cuda.device(self._dev):      # the engine lives on the GPU current at deserialization
            self.engine = self._runtime.deserialize_cuda_engine(data)
        if self.engine is None:
            raise EdgeactError(f"{path}: TensorRT {trt.__version__} could not deserialize the engine (built for "
                               "another GPU or TensorRT? rebuild it on this device)")
        with torch.cuda.device(self._dev):
            self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        missing = [n for n in [INPUT_NAME, *self.output_names] if n not in names]
        if missing:
            raise EdgeactError(f"{path}: engine lacks the tensors {missing} its metadata names (has {names})")
        _, _, max_shape = self.engine.get_tensor_profile_shape(INPUT_NAME, 0)
        self.max_batch = int(max_shape[0])
        self._dtypes = {n: torch_dtype(self.engine.get_tensor_dtype(n)) for n in [INPUT_NAME, *self.output_names]}
        with torch.cuda.device(self._dev):
            self._stream = torch.cuda.Stream(self._dev)

    def _infer(self, clips) -> list[np.ndarray]:
        import torch

        ctx = self.context
        # Everything on our own stream: TensorRT warns (and synchronizes more) on the default stream.
        with torch.cuda.device(self._dev), torch.cuda.stream(self._stream):
            x = torch.as_tensor(clips).to(self._dev, self._dtypes[INPUT_NAME], non_blocking=True).contiguous()
            if not ctx.set_input_shape(INPUT_NAME, tuple(x.shape)):
                raise EdgeactError(f"{self.path}: batch shape {tuple(x.shape)} is outside the engine's profile")
            ctx.set_tensor_address(INPUT_NAME, int(x.data_ptr()))
            outs = []
            for name in self.output_names:
                out = torch.empty(tuple(ctx.get_tensor_shape(name)), dtype=self._dtypes[name], device=self._dev)
                ctx.set_tensor_address(name, int(out.data_ptr()))
                outs.append(out)
            if not ctx.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError(f"{self.path}: TensorRT execution failed")
            result = [o.float().cpu() for o in outs]
        self._stream.synchronize()
        return [r.numpy() for r in result]
