"""A benchmark report (:func:`~edgeact.bench.bench_model`, :func:`~edgeact.bench.bench_pose`) as Markdown."""

from __future__ import annotations


def precision_label(row: dict) -> str:
    """A row's precision, and what it really computed in where that differs (``fp16 (computes
    fp32)``: a CPU without float16 arithmetic; ``int8 (computes int8+bf16)``)."""
    inner = row.get("computes_in")
    return row["precision"] if inner in (None, row["precision"]) else f"{row['precision']} (computes {inner})"


def bench_markdown(report: dict) -> str:
    """A report as a Markdown section: header line, the table, and the ratios."""
    host = report.get("host", {})
    where = host.get("gpu") or f"{host.get('cpu', '?')}, {report.get('threads')} thread(s)"
    lines = []
    if report["kind"] == "model":
        m, inp = report["model"], report["input"]
        lines += [f"### {m['source']} at {inp['frames']}x{inp['size']}x{inp['size']}",
                  "", f"device {report['device']} ({where}); {report['warmup']} warm-up + {report['iters']} "
                  f"interleaved calls per row; torch {report['versions'].get('torch')}, onnxruntime "
                  f"{report['versions'].get('onnxruntime', '-')}; {report['created']}", "",
                  "| backend | precision | batch | p50 ms | p95 ms | clips/s | vs torch fp32 | first call s |",
                  "|---|---|--:|--:|--:|--:|--:|--:|"]
        for r in report["rows"]:
            vs = f"{r['vs_torch']:.2f}x" if r.get("vs_torch") else "-"
            first = f"{r['first_call_s']:.2f}" if r.get("first_call_s") is not None else "-"
            lines.append(f"| {r['backend']} | {precision_label(r)} | {r['batch']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} "
                         f"| {r['clips_per_s']:.2f} | {vs} | {first} |")
        for q in report.get("ratios", []):
            lines.append(f"\n{q['name']} p50 ({q['precision']}, batch {q['batch']}): {q['p50_ratio']:.2f}")
    else:
        lines += ["### pose model speed", "", f"device {report['device']} ({where}); {report['warmup']} warm-up + "
                  f"{report['iters']} calls; ultralytics {report['versions'].get('ultralytics', '?')}; {report['created']}",
                  "", "| model | imgsz | precision | p50 ms | p95 ms | FPS | inference ms |", "|---|--:|---|--:|--:|--:|--:|"]
        for r in report["rows"]:
            inf = f"{r['inference_ms']:.1f}" if "inference_ms" in r else "-"
            lines.append(f"| {r['model']} | {r['imgsz']} | {r['precision']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} "
                         f"| {r['fps']:.1f} | {inf} |")
    return "\n".join(lines) + "\n"
