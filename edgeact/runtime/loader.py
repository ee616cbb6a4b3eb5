"""Load any edgeact artifact as a :class:`~edgeact.runtime.base.Runtime`, chosen by its content.

Kinds: ``checkpoint`` (``.pt``, a ``torch.save`` zip with the edgeact marker), ``torchscript``
(a TorchScript zip: it has ``code/`` entries), ``onnx`` (``.onnx``, or a protobuf that starts
like one), ``engine`` (``.engine``/``.plan``/``.trt``, or any file with an edgeact sidecar
``<file>.json``). Both torch formats are zip archives, so zips are told apart by their entries
rather than by suffix, and a mis-named file still loads.

Every command that takes a model (``live``, ``eval``, ``export``, ``bench``) names it through
:func:`resolve_model`, so ``--model demo`` means the bundled demo model everywhere.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Optional

from edgeact.errors import EdgeactError
from edgeact.runtime.base import Runtime
from edgeact.runtime.onnx_backend import read_onnx_meta
from edgeact.runtime.tensorrt_backend import ENGINE_SUFFIXES, sidecar_path

KINDS = ("checkpoint", "torchscript", "onnx", "engine")
BACKEND_ALIASES = {"onnxruntime": "onnx", "ort": "onnx", "ov": "openvino", "trt": "tensorrt", "engine": "tensorrt",
                   "ts": "torchscript", "pytorch": "torch"}
TORCHSCRIPT_SUFFIXES = (".ts", ".torchscript", ".jit")
DEMO_NAME = "demo"
DEMO_MODEL = Path(__file__).resolve().parent.parent / "assets" / "demo.pt"


def resolve_model(name: str | Path) -> Path:
    """The artifact file a ``--model`` value names: ``demo`` is the bundled synthetic-trained model
    (``edgeact/assets/demo.pt``), anything else a path to an existing file.

    A file that is itself called ``demo`` is reached as ``./demo``; plain ``demo`` while such a
    file sits in the current folder is refused rather than guessed.
    """
    if str(name) == DEMO_NAME:
        if Path(DEMO_NAME).is_file():
            raise EdgeactError(f"{DEMO_NAME}: names the bundled demo model, but ./{DEMO_NAME} is a file "
                               f"here too; pass ./{DEMO_NAME} for that file")
        if not DEMO_MODEL.is_file():
            raise EdgeactError(f"{DEMO_MODEL}: the bundled demo model is missing from this installation")
        return DEMO_MODEL
    path = Path(name)
    if not path.is_file():
        what = "is a folder, not a model file" if path.is_dir() else "no such file"
        raise EdgeactError(f"{path}: {what} (pass an artifact edgeact wrote, or 'demo' for the bundled model)")
    return path


def _zip_kind(path: Path) -> Optional[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if any("/code/" in n or n.endswith("constants.pkl") for n in names):
        return "torchscript"
    if any(n.endswith("data.pkl") for n in names):
        return "checkpoint"
    return None


def detect_kind(path: str | Path) -> str:
    """``checkpoint``, ``torchscript``, ``onnx`` or ``engine``; an :class:`EdgeactError` naming the
    file when it is none of them. ``path`` may be ``demo`` (see :func:`resolve_model`)."""
    path = resolve_model(path)
    suffix = path.suffix.lower()
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK"):
        kind = _zip_kind(path)
        if kind is not None:
            return kind
    if suffix in ENGINE_SUFFIXES or sidecar_path(path).is_file():
        return "engine"
    if suffix == ".onnx":
        return "onnx"
    # ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08
    if head[:1] == b"\x08" and suffix not in (".pt", ".pth", *TORCHSCRIPT_SUFFIXES):
        return "onnx"
    raise EdgeactError(f"{path}: not an edgeact artifact (expected a .pt checkpoint, .onnx, .ts TorchScript "
                       "or .engine with its .json sidecar)")


def read_meta(path: str | Path) -> dict:
    """An artifact's metadata dict without building a runtime (cheap for engines, ONNX and
    TorchScript; a checkpoint is read with ``weights_only=True``). ``path`` may be ``demo``."""
    path = resolve_model(path)
    kind = detect_kind(path)
    if kind == "checkpoint":
        from edgeact.checkpoint import read_checkpoint

        return read_checkpoint(path)["meta"]
    if kind == "engine":
        from edgeact.runtime.tensorrt_backend import read_sidecar

        return read_sidecar(path)
    if kind == "torchscript":
        from edgeact.runtime.base import TS_META_FILE, check_meta
        from edgeact.runtime.torch_backend import read_torchscript_meta

        meta = read_torchscript_meta(path)
        if meta is None:
            raise EdgeactError(f"{path}: not an edgeact TorchScript file (no {TS_META_FILE} inside)")
        return check_meta(meta, path)
    return read_onnx_meta(path)


def check_backend(backend: Optional[str], kind: str, path: str | Path) -> str:
    """The backend that runs an artifact of ``kind``: its own (``backend`` ``None`` or ``auto``), or
    ``openvino`` for an ONNX file; any other pairing is a one-line error."""
    own = {"checkpoint": "torch", "torchscript": "torchscript", "onnx": "onnx", "engine": "tensorrt"}[kind]
    name = BACKEND_ALIASES.get(str(backend).lower(), str(backend).lower()) if backend is not None else "auto"
    if name in ("auto", own) or (name == "openvino" and kind == "onnx"):
        return own if name == "auto" else name
    if name == "openvino":
        raise EdgeactError(f"openvino runs ONNX files; {path} is a {kind} (export one with "
                           "`edgeact export --format onnx`, plus --fp16 or --int8 --int8-data CACHE for those)",
                           param="backend")
    raise EdgeactError(f"{backend}: {path} is a {kind}, which runs on {own}"
                       + (" or openvino" if kind == "onnx" else "") + " (or leave it auto)", param="backend")


def load_runtime(path: str | Path, device: str = "auto", *, fp16: bool = False,
                 threads: Optional[int] = None, compile: Optional[str] = None, backend: Optional[str] = None,
                 precision: Optional[str] = None) -> Runtime:
    """Load ``path`` (checkpoint, ONNX, TorchScript or TensorRT engine, or ``demo``: the bundled
    model) for inference.

    Args:
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``. ONNX falls back
            to the CPU when this onnxruntime build has no CUDA provider; ``runtime.device`` says
            where it actually runs.
        fp16: half precision. Applies to checkpoints on CUDA; exported artifacts have their
            precision fixed at export, and asking for fp16 from an fp32 one is an error.
        threads: ONNX Runtime and OpenVINO threads (default ``torch.get_num_threads()``).
        backend: ``auto`` / ``None`` (the artifact's own: torch, onnxruntime, torchscript,
            tensorrt) or ``openvino`` for an ONNX file (fp32, fp16 or INT8 Q/DQ).
        precision: OpenVINO only: ``fp32`` or ``bf16`` for an fp32 ONNX (default: the artifact's
            own precision; ``runtime.precision`` is what the device actually computes in).
        compile: a ``torch.compile`` mode for checkpoints (``default``, ``reduce-overhead`` =
            plus CUDA graphs, ``max-autotune``); an error for exported artifacts, which are
            compiled by their own runtime. Call ``runtime.warmup()`` before the first real call.

    Returns:
        A :class:`Runtime`: ``runtime(clips (B, 3, T, S, S) float32)`` -> tuple of float32 numpy
        logits per head, coarse to fine, fine last.
    """
    path = resolve_model(path)
    kind = detect_kind(path)
    if compile is not None and kind != "checkpoint":
        raise EdgeactError(f"applies to .pt checkpoints; {path} is an exported {kind} artifact, "
                           "already compiled by its runtime", param="compile")
    backend = check_backend(backend, kind, path)
    if backend == "openvino":
        from edgeact.runtime.openvino_backend import OpenVinoRuntime

        if fp16 and precision not in (None, "fp16"):
            raise EdgeactError(f"choose one (fp16, and precision {precision})", param=("fp16", "precision"))
        return OpenVinoRuntime(path, device, precision="fp16" if fp16 else precision, threads=threads)
    if precision is not None:
        raise EdgeactError(f"applies to the openvino backend only (the {backend} backend runs {path} at the "
                           "precision it was exported with)", param="precision")
    if kind == "onnx":
        from edgeact.runtime.onnx_backend import OnnxRuntime

        return OnnxRuntime(path, device, fp16=fp16, threads=threads)
    if kind == "engine":
        from edgeact.runtime.tensorrt_backend import TensorRTRuntime

        return TensorRTRuntime(path, device, fp16=fp16)

    from edgeact.device import resolve_device

    dev = resolve_device(device)
    if kind == "torchscript":
        from edgeact.runtime.torch_backend import TorchScriptRuntime

        return TorchScriptRuntime(path, dev, fp16=fp16)
    from edgeact.checkpoint import load_checkpoint
    from edgeact.runtime.torch_backend import TorchRuntime

    ck = load_checkpoint(path, map_location="cpu")
    return TorchRuntime(ck.model, ck.meta, dev, fp16=fp16, path=path, compile=compile)
