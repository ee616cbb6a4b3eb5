"""The summary of a ``bench/gpu_check.sh`` run: ``summary.json`` and ``summary.md``.

Reads the run's work folder (``steps.tsv``: one line per step, ``logs/<step>.log``, and the reports
the steps wrote: ``facts.json``, ``nvidia_smi.csv``, ``model_*`` / ``variants_*`` / ``compile_*`` /
``cudagraphs_*`` bench reports, ``train_*.json``, ``live_*.json``, ``gpu_tests.xml``). Only the
standard library and :mod:`edgeact.fileio` are used, so a summary is written even when torch
itself is what broke. Every figure is copied from a report a step wrote; nothing is estimated.

A step is ``ok`` only if it exited 0 and wrote its report; ``failed`` and ``timeout`` steps carry
the tail of their log, ``skipped`` ones their reason, and steps of the plan that have not run yet
(a run cut short) are listed as ``not run``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

TAIL_LINES = 15
NOTE = "gpu_check note: "          # how a step's log line says what it decided (pip prints "note: ...")
BENCH_PREFIXES = ("model_", "variants_", "compile_", "cudagraphs_")
# the report each kind of step must leave behind (besides exiting 0)
OUTPUT = {"facts": "facts.json", "gpu_tests": "gpu_tests.xml", "nvidia_smi": "nvidia_smi.csv",
          "nvidia_smi_after": "nvidia_smi_after.csv"}


def expected_output(step: str) -> Optional[str]:
    if step in OUTPUT:
        return OUTPUT[step]
    if step.startswith(BENCH_PREFIXES + ("train_", "live_")):
        return f"{step}.json"
    return None                                   # install: its log is the result


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def log_tail(path: Path, n: int = TAIL_LINES) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(line.rstrip() for line in lines[-n:])


def log_notes(path: Path) -> list[str]:
    """Lines a step printed as ``gpu_check note: ...`` (the install step's decisions)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return [line[len(NOTE):].strip() for line in text.splitlines() if line.startswith(NOTE)]


# ----------------------------------------------------------------------------- steps

def read_steps(work: Path, plan: list[str]) -> list[dict]:
    """One dict per step of ``plan``: status, seconds, cap, note, command, error tail."""
    done = {}
    tsv = work / "steps.tsv"
    if tsv.is_file():
        for line in tsv.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) != 7:
                continue
            name, status, rc, secs, cap, note, cmd = parts
            done[name] = {"name": name, "status": status, "rc": int(rc) if rc else None,
                          "seconds": float(secs or 0), "cap_s": int(cap) if cap else None,
                          "note": note or None, "command": cmd.strip()}
    steps = []
    for name in plan + [n for n in done if n not in plan]:
        step = done.get(name) or {"name": name, "status": "not run", "rc": None, "seconds": 0.0, "cap_s": None,
                                  "note": "the run ended before this step", "command": None}
        log = work / "logs" / f"{name}.log"
        notes = log_notes(log)
        if notes:
            step["note"] = "; ".join(([step["note"]] if step["note"] else []) + notes)
        out = expected_output(name)
        if step["status"] == "ok" and out and not (work / out).is_file():
            step["status"] = "failed"
            step["note"] = f"exited 0 but wrote no {out}"
        if step["status"] in ("failed", "timeout"):
            step["error_tail"] = log_tail(log)
            if step["status"] == "timeout":
                step["note"] = "; ".join(filter(None, [step["note"], f"killed at its {step['cap_s']} s cap"]))
        steps.append(step)
    return steps


# ----------------------------------------------------------------------------- figures

def model_reports(work: Path, steps: list[dict]) -> list[tuple[str, dict]]:
    return [(s["name"], rep) for s in steps if s["status"] == "ok" and s["name"].startswith(BENCH_PREFIXES)
            for rep in [_read_json(work / f"{s['name']}.json")] if rep and rep.get("kind") == "model"]


def _key(rep: dict) -> tuple:
    m, i = rep["model"], rep["input"]
    return m["arch"], float(m.get("width", 1.0)), i["frames"], i["size"]


def bench_rows(reports: list[tuple[str, dict]], gflops: dict) -> list[dict]:
    """Every row of every bench report, with two ratios: ``vs_eager_fp32`` (eager torch fp32 p50 of
    the same model, input and batch / this p50; from the same report when it has that row, else
    from the first report that does: then ``vs_eager_fp32_from`` names it) and ``vs_eager_same``
    (the same report's eager torch row at this row's precision and batch / this p50: the speed-up
    of torch.compile or CUDA graphs alone)."""
    eager_fp32: dict = {}
    for step, rep in reports:
        for r in rep["rows"]:
            if r["backend"] == "torch" and r["precision"] == "fp32":
                eager_fp32.setdefault((_key(rep), r["batch"]), (step, r["p50_ms"]))
    rows = []
    for step, rep in reports:
        key = _key(rep)
        own = {(r["precision"], r["batch"]): r["p50_ms"] for r in rep["rows"] if r["backend"] == "torch"}
        for r in rep["rows"]:
            arch, width, frames, size = key
            ref_step, ref = eager_fp32.get((key, r["batch"]), (None, None))
            if ("fp32", r["batch"]) in own:
                ref_step, ref = step, own[("fp32", r["batch"])]
            same = own.get((r["precision"], r["batch"])) if r["backend"] != "torch" else None
            g = gflops.get(key)
            rows.append({"step": step, "arch": arch, "width": width, "frames": frames, "size": size,
                         "backend": r["backend"], "precision": r["precision"], "batch": r["batch"],
                         "device": r.get("device"), "p50_ms": r["p50_ms"], "p95_ms": r["p95_ms"],
                         "clips_per_s": r["clips_per_s"], "first_call_s": r.get("first_call_s"),
                         "vs_eager_fp32": ref / r["p50_ms"] if ref else None,
                         "vs_eager_fp32_from": ref_step if ref and ref_step != step else None,
                         "vs_eager_same": same / r["p50_ms"] if same else None,
                         "tflops": g * r["batch"] / r["p50_ms"] if g else None,
                         "rel_err": r.get("rel_err")})
    return rows


def flop_bound(rows: list[dict], gflops: dict, peak_tflops: float, arch: str = "i3d_r50") -> Optional[dict]:
    """The fastest batch-1 row of ``arch`` against ``GFLOP / peak``: the time the arithmetic alone
    takes at the GPU's peak rate (GFLOP / (TFLOP/s) = ms)."""
    ones = [r for r in rows if r["arch"] == arch and r["batch"] == 1]
    if not ones:
        return None
    best = min(ones, key=lambda r: r["p50_ms"])
    g = gflops.get((best["arch"], best["width"], best["frames"], best["size"]))
    if g is None:
        return None
    bound = g / peak_tflops
    out = {"arch": arch, "width": best["width"], "frames": best["frames"], "size": best["size"], "gflop": g,
           "peak_tflops": peak_tflops, "bound_ms": bound}
    # "-dev" rows start from clips already on the GPU; the others pay the host-to-device copy as live does
    host = [r for r in ones if not r["precision"].endswith("-dev")]
    for label, pool in (("best", ones), ("best_with_copy", host)):
        if pool:
            r = min(pool, key=lambda r: r["p50_ms"])
            out[label] = {"row": f"{r['backend']} {r['precision']} ({r['step']})", "p50_ms": r["p50_ms"],
                          "times_bound": r["p50_ms"] / bound}
    return out


def read_tests(path: Path) -> Optional[dict]:
    """pytest's JUnit XML -> counts and one entry per test (outcome and message)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    cases = []
    for tc in root.iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = tc.find(tag)
            if el is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = ((el.get("message") or el.text or "").strip().splitlines() or [""])[0]
                break
        cases.append({"test": f"{tc.get('classname', '')}::{tc.get('name', '')}", "outcome": outcome,
                      "message": message})
    counts = {k: sum(c["outcome"] == k for c in cases) for k in ("passed", "failed", "error", "skipped")}
    return {**counts, "cases": cases}


def read_smi(path: Path) -> Optional[dict]:
    try:
        rows = list(csv.reader(path.read_text().splitlines()))
    except OSError:
        return None
    if len(rows) < 2:
        return None
    return {h.strip(): v.strip() for h, v in zip(rows[0], rows[1])}


def build_summary(work: Path, *, device: str, tiny: bool, budget: int, started: float, peak_tflops: float,
                  plan: list[str]) -> dict:
    steps = read_steps(work, plan)
    facts = _read_json(work / "facts.json") or {}
    smi = read_smi(work / "nvidia_smi.csv")
    gflops = {(f["arch"], float(f["width"]), f["frames"], f["size"]): f["gflop"] for f in facts.get("flops", [])}
    rows = bench_rows(model_reports(work, steps), gflops)
    ok = {s["name"] for s in steps if s["status"] == "ok"}
    gpu = facts.get("gpu") or {}
    name = (smi or {}).get("name") or gpu.get("name")
    bound = flop_bound(rows, gflops, peak_tflops) if device == "cuda" else None
    return {
        "kind": "gpu_check", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": device, "dry_run": device != "cuda", "tiny": tiny, "budget_s": budget,
        "wall_s": round(time.time() - started, 1),
        "gpu": {"name": name, "driver": (smi or {}).get("driver_version"),
                "memory": (smi or {}).get("memory.total [MiB]"), "capability": gpu.get("capability"),
                "multiprocessors": gpu.get("multiprocessors"), "bf16_supported": gpu.get("bf16_supported"),
                "nvidia_smi": smi, "nvidia_smi_after": read_smi(work / "nvidia_smi_after.csv")} if name else None,
        "versions": {"python": facts.get("python"), "torch": facts.get("torch"), "cuda": facts.get("cuda"),
                     "cudnn": facts.get("cudnn"), "edgeact": (facts.get("edgeact") or {}).get("version"),
                     "onnxruntime": (facts.get("packages") or {}).get("onnxruntime")},
        "torch_defaults": facts.get("defaults"), "edgeact_path": (facts.get("edgeact") or {}).get("path"),
        "eager_optional_imports": facts.get("eager_optional_imports"),
        "absent_packages": sorted(m for m, v in (facts.get("packages") or {}).items() if v is None),
        "flops": facts.get("flops", []),
        "steps": steps,
        "bench_rows": rows,
        "bound": bound if bound else {"reason": "no GPU: a dry run's CPU figures are not compared with a GPU's peak"
                                      if device != "cuda" else "no i3d_r50 batch-1 row was measured"},
        "train": [_read_json(work / f"{s}.json") for s in sorted(ok) if s.startswith("train_")],
        "live": [{"step": s, **(_read_json(work / f"{s}.json") or {})} for s in sorted(ok) if s.startswith("live_")],
        "gpu_tests": read_tests(work / "gpu_tests.xml") if "gpu_tests" in ok or (work / "gpu_tests.xml").is_file()
        else None,
    }


# ----------------------------------------------------------------------------- Markdown

def _f(v, fmt: str = ".2f", none: str = "-") -> str:
    return none if v is None else format(v, fmt)


def _cell(text) -> str:
    return str(text if text is not None else "-").replace("|", "\\|").replace("\n", " ")


def markdown(s: dict) -> str:
    v, gpu = s["versions"], s["gpu"]
    title = (f"# edgeact GPU check: {gpu['name']}" if gpu and not s["dry_run"] else
             f"# edgeact GPU check: dry run on {s['device']} (no GPU: these figures are not GPU figures)")
    lines = [title, ""]
    if gpu:
        lines.append(f"GPU {gpu['name']}, driver {gpu['driver'] or '?'}, memory {gpu['memory'] or '?'} MiB, "
                     f"compute capability {gpu['capability'] or '?'}, {gpu['multiprocessors'] or '?'} SMs.")
    lines += [f"Python {v['python'] or '?'}, torch {v['torch'] or '?'}, CUDA {v['cuda'] or '-'}, cuDNN {v['cudnn'] or '-'}, "
              f"onnxruntime {v['onnxruntime'] or '-'}; edgeact {v['edgeact'] or '?'} from {s['edgeact_path'] or '?'}.",
              f"Device {s['device']}{' (tiny sizes)' if s['tiny'] else ''}; {s['wall_s']:.0f} s of a {s['budget_s']} s "
              f"budget; {s['created']}.", ""]
    d = s.get("torch_defaults")
    if d:
        lines += [f"torch defaults: cuDNN TF32 {d['cudnn_allow_tf32']}, matmul TF32 {d['matmul_allow_tf32']}, "
                  f"cudnn.benchmark {d['cudnn_benchmark']}; the `fp32` rows run with these.", ""]
    lines += ["## Steps", "", "| step | status | s | cap s | note |", "|---|---|--:|--:|---|"]
    for st in s["steps"]:
        lines.append(f"| {st['name']} | {st['status']} | {st['seconds']:.1f} | {_f(st['cap_s'], 'd')} | {_cell(st['note'])} |")
    b = s["bound"]
    lines += ["", "## i3d_r50 batch-1 latency against the FLOP bound", ""]
    if "bound_ms" in b:
        lines.append(f"{b['arch']} at {b['frames']}x{b['size']}x{b['size']}: {b['gflop']:.1f} GFLOP per clip at "
                     f"{b['peak_tflops']:g} TFLOP/s (bf16) = {b['bound_ms']:.3f} ms.")
        for label, what in (("best", "fastest batch-1 p50"), ("best_with_copy", "fastest with the clip's host-to-device copy")):
            if label in b:
                lines.append(f"- {what}: {b[label]['p50_ms']:.3f} ms ({b[label]['row']}) = "
                             f"{b[label]['times_bound']:.1f}x the bound")
    else:
        lines.append(f"not computed: {b['reason']}.")
    lines += ["", "## Classifier latency", "",
              "`fp16` is the runtime's half-precision model (`live --fp16`), `*-amp` the fp32 model under autocast; "
              "vs eager fp32: eager torch fp32 p50 / p50 (same model, input, batch; `*` = from another step's run); "
              "vs eager: the same run's eager row at this precision / p50 (what torch.compile or CUDA graphs add).", "",
              "| step | model | input | backend | precision | batch | p50 ms | p95 ms | clips/s | vs eager fp32 "
              "| vs eager | TFLOP/s | first call s | rel err |",
              "|---|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in s["bench_rows"]:
        star = "*" if r["vs_eager_fp32_from"] else ""
        model = r["arch"] + (f" w{r['width']:g}" if r["width"] != 1.0 else "")
        lines.append(f"| {r['step']} | {model} | {r['frames']}x{r['size']}² | {r['backend']} | {r['precision']} | {r['batch']} "
                     f"| {r['p50_ms']:.3f} | {r['p95_ms']:.3f} | {r['clips_per_s']:.1f} | {_f(r['vs_eager_fp32'])}{star} "
                     f"| {_f(r['vs_eager_same'])} | {_f(r['tflops'], '.3g')} | {_f(r['first_call_s'])} "
                     f"| {_f(r['rel_err'], '.1e')} |")
    lines += ["", "## Training step (synthetic clips, AMP)", "",
              "| arch | input | batch | AMP | clips/s | ms/step | peak GiB |", "|---|---|--:|---|--:|--:|--:|"]
    for t in s["train"]:
        if t:
            lines.append(f"| {t['arch']} | {t['frames']}x{t['size']}² | {t['batch']} | {t['amp']} | {t['clips_per_s']:.1f} "
                         f"| {t['ms_per_step']:.1f} | {_f(t['peak_mem_gib'], '.1f')} |")
    lines += ["", "## Live overhead (skeleton replay)", "",
              "| step | model | backend | device | frames | decisions | model ms/decision | overhead |",
              "|---|---|---|---|--:|--:|--:|--:|"]
    for row in s["live"]:
        lines.append(f"| {row['step']} | {row.get('model')} | {row.get('backend')} | {row.get('device')} | {row.get('frames')} "
                     f"| {row.get('decisions')} | {_f(row.get('model_ms_per_decision'))} | {_f(row.get('overhead'))} |")
    t = s["gpu_tests"]
    lines += ["", "## GPU tests (pytest -m gpu)", ""]
    if t:
        lines += [f"{t['passed']} passed, {t['failed']} failed, {t['error']} errors, {t['skipped']} skipped.", "",
                  "| test | outcome | message |", "|---|---|---|"]
        lines += [f"| {_cell(c['test'])} | {c['outcome']} | {_cell(c['message'])} |" for c in t["cases"]]
    else:
        lines.append("not run.")
    bad = [st for st in s["steps"] if st.get("error_tail")]
    if bad:
        lines += ["", "## Errors", ""]
        for st in bad:
            lines += [f"### {st['name']} ({st['status']}, rc {st['rc']})", "", "```", st["error_tail"], "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def headline(s: dict) -> str:
    """A short text table for the end of the console output."""
    gpu = s["gpu"]["name"] if s["gpu"] else f"no GPU (dry run on {s['device']})"
    out = [f"gpu_check: {gpu}; {s['wall_s']:.0f} s",
           "steps: " + ", ".join(f"{st['name']} {st['status']}" for st in s["steps"])]
    for r in s["bench_rows"]:
        out.append(f"  {r['arch']:8} {r['frames']}x{r['size']:<4} {r['backend']:16} {r['precision']:14} b{r['batch']:<3} "
                   f"p50 {r['p50_ms']:9.3f} ms  {r['clips_per_s']:9.1f} clips/s  x{_f(r['vs_eager_fp32'])}")
    b = s["bound"]
    if "best" in b:
        out.append(f"bound: {b['bound_ms']:.3f} ms; fastest {b['best']['p50_ms']:.3f} ms ({b['best']['row']}, "
                   f"{b['best']['times_bound']:.1f}x)")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", default="0")
    p.add_argument("--budget", type=int, default=480)
    p.add_argument("--started", type=float, default=time.time())
    p.add_argument("--peak-tflops", type=float, default=790.0)
    p.add_argument("--plan", default="")
    p.add_argument("--quiet", action="store_true", help="write the files, print nothing")
    args = p.parse_args(argv)

    from edgeact.fileio import atomic_write_json, atomic_write_text

    s = build_summary(args.work, device=args.device, tiny=args.tiny == "1", budget=args.budget, started=args.started,
                      peak_tflops=args.peak_tflops, plan=[x for x in args.plan.split(",") if x])
    atomic_write_json(args.out / "summary.json", s)
    atomic_write_text(args.out / "summary.md", markdown(s))
    if not args.quiet:
        print(headline(s))
        print(f"wrote {args.out / 'summary.md'}, {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
