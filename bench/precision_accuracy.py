"""Accuracy of the reduced-precision ONNX exports against fp32, on a cache's test split.

Exports the checkpoint to fp32, fp16 and INT8 Q/DQ ONNX (one INT8 file per calibration setting
asked for), then scores every artifact on onnxruntime and OpenVINO (fp32 and bf16 for the float
files) exactly as ``edgeact eval`` does (``--test-sets`` frame sets averaged per clip, the same
loader for every row: the test clips are read once and fed to all of them). Reports top-1, top-5,
each superclass level (its head, and the fine head summed per superclass) and how often each
row's fine top-1 agrees with the PyTorch fp32 checkpoint's.

    python bench/precision_accuracy.py --model edgeact/assets/demo.pt --data runs/demo/cache72 \\
        --calib minmax:64,entropy:64,percentile:64,minmax:16,minmax:256 --json bench/results/precision_demo.json \\
        --md bench/results/precision_demo.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader


def _rows(model: Path, work: Path, calib: list[tuple[str, int]], data: Path, log) -> list[tuple[str, dict, object]]:
    """``(label, info, runtime)`` for the checkpoint and every exported artifact x backend."""
    from edgeact.export import export_model
    from edgeact.runtime import load_runtime

    rows = [("torch fp32 (checkpoint)", {"artifact": "checkpoint", "backend": "torch", "precision": "fp32"},
             load_runtime(model, "cpu"))]
    arts = [("fp32", export_model(model, "onnx", work / "m.onnx"), None)]
    arts.append(("fp16", export_model(model, "onnx", work / "m.fp16.onnx", fp16=True), None))
    for method, n in calib:
        t0 = time.perf_counter()
        res = export_model(model, "onnx", work / f"m.int8.{method}{n}.onnx", int8=True, calib_data=data,
                           calib_clips=n, calib_method=method)
        log(f"int8 {method} on {n} clips: exported in {time.perf_counter() - t0:.1f} s")
        arts.append(("int8", res, f"{method}:{n}"))
    for precision, res, how in arts:
        name = precision if how is None else f"int8 ({how})"
        rows.append((f"onnxruntime {name}", {"artifact": precision, "backend": "onnxruntime", "precision": precision,
                                              "calibration": how}, load_runtime(res.path, "cpu")))
        hints = ["fp32", "bf16"] if precision == "fp32" else [None]
        for hint in hints:
            rt = load_runtime(res.path, "cpu", backend="openvino", precision=hint)
            rows.append((f"openvino {name}" + (f" as {rt.precision}" if precision != "int8" else ""),
                         {"artifact": precision, "backend": "openvino", "precision": rt.precision,
                          "inference_precision": rt.inference_precision, "calibration": how}, rt))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True, help="cache from `edgeact prep` (the model's scale)")
    ap.add_argument("--calib", default="minmax:64", help="comma list of METHOD:CLIPS for the INT8 exports")
    ap.add_argument("--test-sets", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--md", type=Path, default=None, help="write the Markdown table it prints to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from edgeact.data.clips import ClipDataset
    from edgeact.engine import predict_with
    from edgeact.evaluate import build_report
    from edgeact.runtime import read_meta
    from edgeact.types import InputSpec

    def log(line):
        print(line, file=sys.stderr, flush=True)

    calib = [(m, int(n)) for m, n in (part.split(":") for part in args.calib.split(",") if part)]
    meta = read_meta(args.model)
    spec = InputSpec.from_dict(meta["input"])
    ds = ClipDataset(args.data, meta["benchmark"], "test", train=False, spec=spec, num_test_sets=args.test_sets)
    batches = list(DataLoader(ds, batch_size=8, num_workers=0))          # read once, scored by every row
    results = []
    with tempfile.TemporaryDirectory(prefix="edgeact-precision-") as tmp:
        rows = _rows(args.model, Path(tmp), calib, args.data, log)
        ref_pred = None
        for label, info, rt in rows:
            t0 = time.perf_counter()
            probs, labels = predict_with(rt, batches)
            rep = build_report(probs, labels, rt.classes, rt.hierarchy)
            pred = probs[-1].argmax(1)
            ref_pred = pred if ref_pred is None else ref_pred
            row = {"row": label, **info, "clips": rep["clips"], "top1": rep["top1"], "top5": rep["top5"],
                   "levels": [{k: lv[k] for k in ("level", "superclasses", "accuracy", "accuracy_from_fine")}
                              for lv in rep["levels"]],
                   "agrees_with_fp32": float((pred == ref_pred).mean()), "seconds": time.perf_counter() - t0}
            results.append(row)
            levels = " ".join(f"L{lv['level']} {lv['accuracy']:.3f}/{lv['accuracy_from_fine']:.3f}"
                              for lv in row["levels"])
            log(f"{label:40s} top1 {row['top1']:.3f} top5 {row['top5']:.3f} {levels} "
                f"agree {row['agrees_with_fp32']:.3f}")
    base = results[0]["top1"]
    lines = ["| row | top-1 | vs fp32 (points) | top-5 | " + " | ".join(
        f"level {lv['level']} ({lv['superclasses']}) head / from fine" for lv in results[0]["levels"])
        + " | agrees with fp32 |", "|---|--:|--:|--:|" + "--:|" * len(results[0]["levels"]) + "--:|"]
    for r in results:
        lv = " | ".join(f"{x['accuracy']:.3f} / {x['accuracy_from_fine']:.3f}" for x in r["levels"])
        lines.append(f"| {r['row']} | {r['top1']:.3f} | {100 * (r['top1'] - base):+.1f} | {r['top5']:.3f} | {lv} "
                     f"| {r['agrees_with_fp32']:.3f} |")
    print("\n".join(lines))
    from edgeact.fileio import atomic_write_bytes, atomic_write_json

    if args.md is not None:
        atomic_write_bytes(args.md, ("\n".join(lines) + "\n").encode())
    if args.json is not None:
        atomic_write_json(args.json, {"model": str(args.model), "data": str(args.data), "split": "test",
                                      "test_sets": args.test_sets, "threads": args.threads,
                                      "torch": torch.__version__, "rows": results, "markdown": "\n".join(lines)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
