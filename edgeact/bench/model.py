"""``edgeact bench model``: classifier latency per backend x precision x batch, measured side by side.

A call is what the live loop pays: numpy clips in, numpy logits out, including any host<->device
copies. Figures: p50 / p95 / mean latency per call in ms and throughput ``batch / p50`` in clips/s.
"""

from __future__ import annotations

import copy
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from edgeact.bench.timing import Log, host_info, latency_stats, restores_torch_threads, time_interleaved, versions
from edgeact.errors import EdgeactError

MODEL_BACKENDS = ("torch", "torch-compile", "torch-cudagraphs", "onnx", "openvino", "torchscript", "tensorrt")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# What each backend times at each precision: torch and its compiled variants, TorchScript and
# TensorRT as today (fp16 on CUDA); onnxruntime runs the fp32, fp16 and INT8 Q/DQ ONNX; OpenVINO
# those and the fp32 ONNX as bf16 (its INFERENCE_PRECISION_HINT).
_TORCH = ("fp32", "fp16")
BACKEND_PRECISIONS = {"torch": _TORCH, "torch-compile": _TORCH, "torch-cudagraphs": _TORCH, "torchscript": _TORCH,
                      "tensorrt": _TORCH, "onnx": ("fp32", "fp16", "int8"), "openvino": ("fp32", "bf16", "fp16", "int8")}
CUDA_FP16 = ("torch", "torch-compile", "torch-cudagraphs", "torchscript", "tensorrt")
# the torch.compile variants of the eager torch backend: bench label -> torch.compile mode
COMPILED = {"torch-compile": "default", "torch-cudagraphs": "reduce-overhead"}
RATIO_NAMES = {"onnx": "onnxruntime", "openvino": "OpenVINO"}


def parse_backends(text: Optional[str]) -> Optional[tuple[str, ...]]:
    if text is None or not text.strip():
        return None
    names = {"onnxruntime": "onnx", "ort": "onnx", "trt": "tensorrt", "engine": "tensorrt", "ts": "torchscript",
             "ov": "openvino"}
    out = []
    for part in text.split(","):
        b = names.get(part.strip().lower(), part.strip().lower())
        if b not in MODEL_BACKENDS:
            raise EdgeactError(f"unknown backend {part.strip()!r}; choose from {', '.join(MODEL_BACKENDS)}",
                               param="backends")
        out.append(b)
    return tuple(dict.fromkeys(out))


def parse_precisions(text: Optional[str]) -> Optional[tuple[str, ...]]:
    """``"fp32,fp16"`` -> ``("fp32", "fp16")``; ``None`` or empty: the device's default."""
    if text is None or not text.strip():
        return None
    return tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))


def _source(model: Optional[Path], arch: Optional[str], num_classes: int, levels, width: float,
            frames: Optional[int], size: Optional[int]):
    """(kind, torch model or None, meta, spec, description) for an artifact or an untrained arch."""
    from edgeact.checkpoint import build_meta, load_checkpoint
    from edgeact.data.classes import ClassList
    from edgeact.export import export_spec
    from edgeact.models import create_model
    from edgeact.runtime import detect_kind, read_meta
    from edgeact.types import InputSpec

    if model is not None:
        kind = detect_kind(model)
        if kind == "checkpoint":
            ck = load_checkpoint(model, map_location="cpu")
            spec = export_spec(ck.input_spec, frames, size)
            return kind, ck.model.eval(), {**ck.meta, "input": spec.to_dict()}, spec, str(model)
        meta = read_meta(model)
        spec = InputSpec.from_dict(meta["input"])
        if (frames or spec.frames, size or spec.size) != (spec.frames, spec.size):
            given = [name for name, value in (("frames", frames), ("size", size)) if value]
            raise EdgeactError(f"{model} is exported for {spec.frames}x{spec.size}x{spec.size}; benchmark other "
                               "shapes from the .pt checkpoint", param=given)
        return kind, None, meta, spec, str(model)
    if arch is None:
        raise EdgeactError("give a model (an artifact) or an arch (an untrained model)", param=("model", "arch"))
    net = create_model(arch, num_classes=num_classes, levels=levels, width=width).eval()
    spec = InputSpec(frames=frames or 8, size=size or 224, resize=round((size or 224) * 256 / 224))
    meta = build_meta(net, ClassList(tuple(f"class {i + 1}" for i in range(num_classes))), spec)
    desc = f"{arch} (untrained, width {width:g}, {num_classes} classes, levels {list(levels)})"
    return "arch", net, meta, spec, desc


def _applies(backend: str, precision: str, cuda: bool) -> Optional[str]:
    """Why ``backend`` cannot time ``precision`` here (``None``: it can)."""
    if precision not in BACKEND_PRECISIONS[backend]:
        return f"{backend} has no {precision} rows (it runs {', '.join(BACKEND_PRECISIONS[backend])})"
    if precision == "fp16" and backend in CUDA_FP16 and not cuda:
        return f"{backend} fp16 needs a CUDA device (--device cuda)"
    return None


def _onnx_files(net, meta: dict, spec, tmp: Path, calib_data: Optional[Path], log: Log) -> Callable[[str], Path]:
    """``precision -> .onnx`` exported once each into ``tmp``: fp32, fp16, INT8 Q/DQ calibrated on
    ``calib_data``'s train clips or, without it, on random clips (timing only: latency does not
    depend on the ranges)."""
    from edgeact.export import MIN_OPSET, export_model
    from edgeact.export.quantize import DEFAULT_CALIB_CLIPS, calibration_clips, export_reduced_onnx, random_calibration

    made: dict = {}

    def get(precision: str) -> Path:
        if precision in made:
            return made[precision]
        out = tmp / ("model.onnx" if precision == "fp32" else f"model.{precision}.onnx")
        if log:
            log(f"exporting a {precision} ONNX to a temporary folder")
        if precision == "fp32":
            export_model(tmp / "model.pt", "onnx", out, frames=spec.frames, size=spec.size, device="cpu")
        else:
            calib = None
            if precision == "int8":
                if calib_data is not None:
                    calib = calibration_clips(calib_data, spec, tuple(meta["classes"]["names"]),
                                              benchmark=meta.get("benchmark") or "", clips=DEFAULT_CALIB_CLIPS)
                else:
                    if log:
                        log("int8: calibrated on random clips (no calibration cache): right for timing, not for accuracy")
                    calib = random_calibration(16, spec, int(meta["model"].get("in_channels", 3)))
            export_reduced_onnx(net, meta, spec, out, precision=precision, batch=1, opset=MIN_OPSET, tolerance=1e-3,
                                source="bench", calib_data=calib_data, calibration=calib)
        made[precision] = out
        return out

    return get


def _artifact_runtimes(kind: str, meta: dict, model: Path, backends: Sequence[str], precisions, dev: str,
                       threads: Optional[int], log: Log) -> dict:
    """An exported artifact runs as its own backend (an ONNX file also on OpenVINO), at its own
    precision (an fp32 ONNX also as bf16 on OpenVINO)."""
    from edgeact.runtime import load_runtime

    own = {"onnx": "onnx", "torchscript": "torchscript", "engine": "tensorrt"}[kind]
    allowed = (own, "openvino") if kind == "onnx" else (own,)
    extra = [b for b in backends if b not in allowed]
    if extra:
        raise EdgeactError(f"{','.join(extra)}: {model} is an exported {kind} artifact and runs only as "
                           f"{' or '.join(allowed)}; pass the .pt checkpoint to compare backends", param="backends")
    stored = (meta.get("export") or {}).get("precision", "fp32")
    out: dict = {}
    for backend in backends:
        for p in precisions or (stored,):
            if p == stored or (backend == "openvino" and stored == "fp32" and p == "bf16"):
                rt = load_runtime(model, dev, threads=threads, backend=backend,
                                  precision=p if backend == "openvino" else None)
                out[(backend, p)] = rt
            elif log:
                log(f"skipped {backend} {p}: {model} is a {stored} artifact")
    return out


def _runtimes(kind: str, net, meta: dict, spec, model: Optional[Path], backends: Sequence[str], device: str,
              batches: Sequence[int], tmp: Path, threads: Optional[int], log: Log,
              precisions: Optional[Sequence[str]] = None, calib_data: Optional[Path] = None) -> dict:
    """``{(backend, precision): Runtime}`` for every backend x precision that applies
    (:data:`BACKEND_PRECISIONS`; default precisions: fp32, plus fp16 on CUDA). A pair that cannot
    run here is skipped with a log line; a precision no backend can run is an error."""
    from edgeact.checkpoint import save_checkpoint
    from edgeact.device import resolve_device
    from edgeact.export import export_model
    from edgeact.runtime import load_runtime
    from edgeact.runtime.torch_backend import TorchRuntime

    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    bad = [p for p in precisions or () if p not in PRECISIONS]
    if bad or (precisions is not None and not precisions):
        raise EdgeactError(f"{bad[0] if bad else 'nothing'!r} is not one of {', '.join(PRECISIONS)}",
                           param="precisions")
    if kind not in ("checkpoint", "arch"):
        out = _artifact_runtimes(kind, meta, model, backends, precisions, str(dev), threads, log)
        if not out:
            raise EdgeactError(f"{','.join(precisions)}: {model} runs none of them", param="precisions")
        return out
    if precisions is None:
        precisions = ("fp32", "fp16") if cuda else ("fp32",)
    if "torch-cudagraphs" in backends and not cuda:
        raise EdgeactError("torch-cudagraphs needs a CUDA device (device cuda)", param="backends")
    if "tensorrt" in backends and not cuda:
        raise EdgeactError("tensorrt needs a CUDA device (device cuda)", param="backends")
    pairs = []
    for backend in backends:
        for p in precisions:
            why = _applies(backend, p, cuda)
            if why is None:
                pairs.append((backend, p))
            elif log:
                log(f"skipped {backend} {p}: {why}")
    missing = [p for p in precisions if not any(q == p for _, q in pairs)]
    if missing:
        raise EdgeactError(f"{missing[0]}: none of the backends {','.join(backends)} runs it here "
                           f"({'; '.join(filter(None, (_applies(b, missing[0], cuda) for b in backends)))})",
                           param="precisions")
    ckpt = model if kind == "checkpoint" else tmp / "model.pt"
    if any(b != "torch" and b not in COMPILED for b, _ in pairs):
        save_checkpoint(tmp / "model.pt", net, meta)              # the exports read it (a copy for a checkpoint)
    onnx_file = _onnx_files(net, meta, spec, tmp, calib_data, log)
    out: dict = {}
    for backend, p in pairs:
        if backend == "torch" or backend in COMPILED:
            # TorchRuntime converts the module in place (device, half): one copy per precision
            out[(backend, p)] = TorchRuntime(copy.deepcopy(net), meta, dev, fp16=p == "fp16", path=model,
                                             compile=COMPILED.get(backend))
        elif backend == "onnx":
            out[(backend, p)] = load_runtime(onnx_file(p), str(dev), threads=threads)
        elif backend == "openvino":
            file = onnx_file("fp32" if p == "bf16" else p)
            out[(backend, p)] = load_runtime(file, "cpu", threads=threads, backend="openvino",
                                             precision=p if p in ("fp32", "bf16") else None)
        elif backend == "torchscript":
            res = export_model(ckpt, "torchscript", tmp / f"model_{p}.ts", fp16=p == "fp16", frames=spec.frames,
                               size=spec.size, device=str(dev))
            out[(backend, p)] = load_runtime(res.path, str(dev))
        elif backend == "tensorrt":
            if log:
                log(f"building a TensorRT {p} engine in a temporary folder")
            res = export_model(ckpt, "engine", tmp / f"model_{p}.engine", fp16=p == "fp16", batch=min(batches),
                               max_batch=max(batches), frames=spec.frames, size=spec.size, device=str(dev))
            out[(backend, p)] = load_runtime(res.path, str(dev))
    return out


def _computes_in(rt) -> str:
    """What a runtime's network computes in, as the runtime reports it: OpenVINO reads it back
    from the compiled model (an INT8 graph's float layers run in the device's default)."""
    inner = getattr(rt, "inference_precision", None)
    if inner is None:
        return rt.precision
    return f"int8+{inner}" if rt.precision == "int8" else inner


@restores_torch_threads
def bench_model(model: Optional[str | Path] = None, *, arch: Optional[str] = None, num_classes: int = 60,
                levels: Sequence[Optional[int]] = (2, 6, 20), width: float = 1.0,
                backends: Optional[Sequence[str]] = None, batches: Sequence[int] = (1, 8),
                frames: Optional[int] = None, size: Optional[int] = None, device: str = "auto", warmup: int = 3,
                iters: int = 20, threads: Optional[int] = None, precisions: Optional[Sequence[str]] = None,
                calib_data: Optional[str | Path] = None, seed: int = 0, log: Log = None) -> dict:
    """Latency of the classifier per backend x precision x batch, measured side by side.

    Args:
        model: an artifact (``.pt``: every backend, exported on the fly to a temporary folder;
            ``.onnx`` / ``.ts`` / ``.engine``: its own backend only; ``demo``: the bundled model). Or
            ``arch`` (+ ``num_classes``, ``levels``, ``width``) for an untrained network.
        backends: subset of :data:`MODEL_BACKENDS` (default: torch and onnx for a checkpoint or
            arch, the artifact's own otherwise). ``torch-compile`` is the eager model under
            ``torch.compile`` (inductor); ``torch-cudagraphs`` adds CUDA graphs (mode
            ``reduce-overhead``, CUDA only). Each runtime's first call per batch size (where
            compiling happens) is made before the warm-up and not timed.
        batches: batch sizes; clips are ``(B, 3, frames, size, size)`` random float32.
        device: ``auto``, ``cpu``, ``cuda``; fp16 rows are added on CUDA only.
        precisions: :data:`PRECISIONS` to time (default: fp32, plus fp16 on CUDA); each backend
            times those it has (:data:`BACKEND_PRECISIONS`: fp16/int8 ONNX rows come from the
            exported fp16 / Q/DQ files, bf16 from OpenVINO's precision hint), the rest are skipped
            with a log line. One precision halves what ``torch.compile`` has to build.
        calib_data: a prepared cache whose train clips calibrate the int8 rows (default: random
            clips, which time the same but say nothing about accuracy).
        threads: CPU threads for torch and ONNX Runtime (default: torch's current setting).

    Returns:
        A JSON-able report: ``rows`` (one per backend x precision x batch with ``p50_ms``,
        ``p95_ms``, ``mean_ms``, ``clips_per_s``, ``vs_torch``, ``first_call_s``: the untimed
        first call, where compiling happens) and ``ratios`` (eager torch p50 /
        each other backend's p50 at the same precision and batch; > 1 means the other is faster).
    """
    import torch

    from edgeact.device import resolve_device

    if threads is not None:
        if threads < 1:
            raise EdgeactError(f"must be >= 1, got {threads}", param="threads")
        torch.set_num_threads(threads)
    batches = tuple(batches)
    if not batches or min(batches) < 1:
        raise EdgeactError(f"batch sizes must be >= 1, got {batches}", param="batches")
    from edgeact.runtime.loader import resolve_model

    named = None if model is None else str(model)       # as the user wrote it: `demo` stays `demo`
    model = resolve_model(model) if model is not None else None
    kind, net, meta, spec, desc = _source(model, arch, num_classes, tuple(levels), width, frames, size)
    desc = named or desc
    if backends is None:
        backends = ("torch", "onnx") if kind in ("checkpoint", "arch") else \
            ({"onnx": "onnx", "torchscript": "torchscript", "engine": "tensorrt"}[kind],)
    dev = str(resolve_device(device))
    rng = np.random.default_rng(seed)
    in_ch = int(meta["model"].get("in_channels", 3))
    with tempfile.TemporaryDirectory(prefix="edgeact-bench-") as tmp:
        runtimes = _runtimes(kind, net, meta, spec, model, backends, dev, batches, Path(tmp),
                             threads or torch.get_num_threads(), log, precisions,
                             Path(calib_data) if calib_data is not None else None)
        rows = []
        for b in batches:
            x = rng.standard_normal((b, in_ch, spec.frames, spec.size, spec.size), dtype=np.float32)
            if log:
                log(f"timing batch {b}: {', '.join(f'{k[0]} {k[1]}' for k in runtimes)} "
                    f"({warmup} warm-up + {iters} interleaved calls each)")
            first: dict = {}
            for key, rt in runtimes.items():
                if log and key[0] in COMPILED:
                    log(f"{key[0]} {key[1]}: compiling for batch {b} (first call; can take minutes)")
                t0 = time.perf_counter()
                rt.warmup(b)
                first[key] = time.perf_counter() - t0
            times = time_interleaved({k: (lambda rt=rt, x=x: rt(x)) for k, rt in runtimes.items()}, warmup, iters)
            for (backend, precision), secs in times.items():
                rt = runtimes[(backend, precision)]
                # the first call at this batch size: a cold start (compiling, for torch.compile)
                rows.append({"backend": backend, "precision": precision, "batch": b, "device": rt.device,
                             "computes_in": _computes_in(rt), **latency_stats(secs, b),
                             "first_call_s": round(first[(backend, precision)], 3)})
    ref = {r["batch"]: r["p50_ms"] for r in rows if r["backend"] == "torch" and r["precision"] == "fp32"}
    for r in rows:
        r["vs_torch"] = ref[r["batch"]] / r["p50_ms"] if r["batch"] in ref else None
    ratios = []
    by_key = {(r["backend"], r["precision"], r["batch"]): r for r in rows}
    for (backend, precision, b), r in by_key.items():
        if backend != "torch" and ("torch", precision, b) in by_key:
            t = by_key[("torch", precision, b)]
            ratios.append({"name": f"torch / {RATIO_NAMES.get(backend, backend)}", "backend": backend,
                           "precision": precision, "batch": b, "p50_ratio": t["p50_ms"] / r["p50_ms"],
                           "torch_p50_ms": t["p50_ms"], "other_p50_ms": r["p50_ms"]})
    return {"kind": "model", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": {"source": desc, "arch": meta["model"]["arch"], "width": meta["model"].get("width", 1.0),
                      "num_classes": meta["model"]["num_classes"], "levels": meta["model"].get("levels", [])},
            "input": {"frames": spec.frames, "size": spec.size}, "device": dev,
            "threads": torch.get_num_threads(), "warmup": warmup, "iters": iters, "backends": list(backends),
            "batches": list(batches), "host": host_info(dev), "versions": versions(), "rows": rows, "ratios": ratios}
