"""OpenVINO backend: an edgeact ONNX file (fp32, fp16 or INT8 Q/DQ) compiled by OpenVINO, for
Intel CPUs (and Intel GPUs/NPUs) at the edge.

OpenVINO reads the ONNX directly: the file ``edgeact export`` wrote is the one artifact, with its
metadata. An IR saved with ``ov.save_model`` loads a little faster (i3d_r18 8x112², 2 threads:
read + compile 0.2 s vs 0.2-0.6 s from the ONNX, the first call 0.6 s either way), not enough to
keep a second file in step, and ``save_model`` compresses the weights to fp16 by default, which
an fp32 model must not get silently. What the network computes in:

- an fp32 ONNX: ``fp32`` (default, matches the export's parity check) or ``bf16``;
- an fp16 ONNX: ``fp16`` where the device computes in float16, else ``fp32`` (float16 weights,
  float32 arithmetic: never less precise than the file);
- an INT8 Q/DQ ONNX: ``int8`` convolutions (OpenVINO's low-precision transformations read the Q/DQ
  pairs); its other layers run in the device's default (bf16 on CPUs that have it, else fp32).

OpenVINO silently replaces a precision the device lacks by another (asking a CPU without fp16 for
fp16 gives bf16), so :attr:`OpenVinoRuntime.precision` is read back from the compiled model,
never assumed. ``openvino`` is imported only when a model is loaded.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

import numpy as np

from edgeact.errors import EdgeactError
from edgeact.optional import require
from edgeact.runtime.base import INPUT_NAME, Runtime

PRECISIONS = ("fp32", "bf16", "fp16", "int8")
HINTS = ("latency", "throughput")
_OV_TYPE = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
_FROM_OV = {"f32": "fp32", "float32": "fp32", "bf16": "bf16", "bfloat16": "bf16", "f16": "fp16", "float16": "fp16"}


def import_openvino(what: str | Path):
    return require("openvino", "openvino", f"{what}: the OpenVINO backend")


_CORE = None
_CORE_LOCK = threading.Lock()


def shared_core(ov):
    """The process's one ``ov.Core``, made on first use and kept until the process exits.

    Each ``ov.Core`` loads its own instance of OpenVINO's CPU plugin, and each instance replaces
    the calling thread's alternate signal stack by one it maps (AMX needs a larger one); when the
    instance is destroyed it unmaps its stack but puts the previous one back only if its own is
    still the current one. Two Cores released in the order they were made (the garbage collector
    decides) so leave the thread on the unmapped stack of the first, and the next signal handled
    there (Python runs its signal handlers on the alternate stack: SIGCHLD when a DataLoader
    worker or a subprocess exits) kills the process or writes its frame into whatever was mapped
    there since. One Core that is never released is one plugin instance for every runtime."""
    global _CORE
    with _CORE_LOCK:
        if _CORE is None:
            _CORE = ov.Core()
        return _CORE


def ov_device(device: str, available: list[str], what: str | Path) -> str:
    """edgeact's ``--device`` -> an OpenVINO device name: ``auto``/``cpu`` -> ``CPU``; ``gpu``,
    ``GPU.1``, ``npu`` ... as OpenVINO spells them; ``cuda`` is refused (OpenVINO runs on Intel
    hardware). A device this machine does not have is a one-line error listing those it has."""
    name = "CPU" if device in ("auto", "cpu") else str(device).upper()
    if name.startswith("CUDA"):
        raise EdgeactError(f"{device}: OpenVINO runs {what} on Intel CPUs, GPUs and NPUs (use the onnxruntime "
                           f"backend or a TensorRT engine for CUDA; OpenVINO here has {', '.join(available)})",
                           param="device")
    if name.split(":")[0] in ("AUTO", "MULTI", "HETERO"):
        return name                          # OpenVINO's own device selectors; they check their candidates
    if name not in available and not any(a.split(".")[0] == name for a in available):
        raise EdgeactError(f"{what}: OpenVINO device {name!r} does not exist on this machine "
                           f"(available: {', '.join(available)})")
    return name


def hint_for(artifact: str, precision: Optional[str], capabilities: list[str], what: str | Path) -> Optional[str]:
    """The ``INFERENCE_PRECISION_HINT`` (OpenVINO type name) for an artifact of precision
    ``artifact`` run at ``precision`` (``None``: the artifact's own; see the module docstring);
    ``None`` leaves the device's default (the float layers of an INT8 graph)."""
    if precision is not None and precision not in PRECISIONS:
        raise EdgeactError(f"{precision!r}: choose one of {', '.join(PRECISIONS)}", param="precision")
    if artifact == "int8":
        if precision not in (None, "int8"):
            raise EdgeactError(f"{what}: an INT8 Q/DQ model runs as int8 (asked for {precision})")
        return None
    if precision == "int8":
        raise EdgeactError(f"{what}: an {artifact} ONNX has no Q/DQ nodes; INT8 comes from "
                           "`edgeact export --format onnx --int8 --int8-data CACHE`")
    if precision == "fp16" and artifact != "fp16":
        raise EdgeactError(f"{what}: an {artifact} ONNX; fp16 comes from `edgeact export --format onnx --fp16`")
    if precision is None:
        precision = "fp16" if artifact == "fp16" and "FP16" in capabilities else "fp32"
    return _OV_TYPE[precision]


def _compiled_precision(compiled) -> str:
    """What the compiled model's float layers compute in, as OpenVINO reports it (``fp32``, ``bf16``, ``fp16``)."""
    try:
        used = compiled.get_property("INFERENCE_PRECISION_HINT")
    except RuntimeError:                     # device selectors (AUTO, ...) may not expose it
        return "unknown"
    name = used.get_type_name() if hasattr(used, "get_type_name") else str(used)
    return _FROM_OV.get(name, name)


class OpenVinoRuntime(Runtime):
    """An edgeact ONNX compiled by OpenVINO, one synchronous infer request.

    Args:
        path: the ``.onnx`` (its ``edgeact_meta`` is read as for onnxruntime).
        device: ``auto``/``cpu`` (OpenVINO's CPU), ``gpu``, ``npu``, ``GPU.1``, ...
        precision: see the module docstring (``None``: the artifact's own).
        threads: ``INFERENCE_NUM_THREADS`` (default ``torch.get_num_threads()``, one knob for every
            backend in a process).
        hint: ``PERFORMANCE_HINT``: ``latency`` (one request at a time, as the live loop and bench
            call it) or ``throughput`` (several streams; pays off only with concurrent requests).
    """

    backend = "openvino"

    def __init__(self, path: Path, device: str = "auto", *, precision: Optional[str] = None,
                 threads: Optional[int] = None, hint: str = "latency", meta: Optional[dict] = None):
        from edgeact.runtime.onnx_backend import read_onnx_meta

        ov = import_openvino(path)
        meta = meta if meta is not None else read_onnx_meta(Path(path))
        super().__init__(meta, path)
        if hint not in HINTS:
            raise EdgeactError(f"OpenVINO performance hint {hint!r}: choose one of {', '.join(HINTS)}")
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        core = shared_core(ov)
        name = ov_device(device, list(core.available_devices), path)
        caps = list(core.get_property(name, "OPTIMIZATION_CAPABILITIES")) if name.split(":")[0] not in (
            "AUTO", "MULTI", "HETERO") else []
        artifact = (meta.get("export") or {}).get("precision", "fp32")
        type_hint = hint_for(artifact, precision, caps, path)
        config = {"PERFORMANCE_HINT": hint.upper(), "INFERENCE_NUM_THREADS": int(threads)}
        if type_hint is not None:
            config["INFERENCE_PRECISION_HINT"] = type_hint
        try:
            model = core.read_model(str(path))
            self._compiled = core.compile_model(model, name, config)
        except RuntimeError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise EdgeactError(f"{path}: OpenVINO cannot compile this model for {name} ({first})") from None
        inputs = [i.get_any_name() for i in self._compiled.inputs]
        outputs = {n for o in self._compiled.outputs for n in o.get_names()}
        names = self.output_names
        if inputs != [INPUT_NAME] or not set(names) <= outputs:
            raise EdgeactError(f"{path}: graph inputs {inputs} / outputs {sorted(outputs)} do not match its "
                               f"metadata ({INPUT_NAME!r} -> {names})")
        self._outputs = [self._compiled.output(n) for n in names]
        self._request = self._compiled.create_infer_request()
        self.inference_precision = _compiled_precision(self._compiled)
        self.precision = "int8" if artifact == "int8" else self.inference_precision
        self.device = name.lower() if name == "CPU" else name
        self.hint, self.threads = hint, int(threads)

    def _infer(self, clips) -> list[np.ndarray]:
        if not isinstance(clips, np.ndarray):
            clips = clips.detach().cpu().numpy()
        x = np.ascontiguousarray(clips, dtype=np.float32)
        res = self._request.infer({INPUT_NAME: x})
        # the request reuses its output buffers on the next call: copy
        return [np.array(res[o], dtype=np.float32, copy=True) for o in self._outputs]
