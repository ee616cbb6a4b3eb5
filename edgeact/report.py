"""What the commands print: Rich tables and lines built from the plain results the library returns.

Each function takes a command's result (dicts, dataclasses) and returns a Rich renderable or
prints to the console it is given, so the commands in :mod:`edgeact.cli` and
:mod:`edgeact.cli_deploy` only parse, call the library and hand its result here. User text (paths,
model and class names, notes) is never read as Rich markup: ``run[v2]/best.pt`` prints as written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text


def say(console: Console, line: str) -> None:
    """Print ``line`` as written (not as markup, no highlighting), wrapped softly."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _ms(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.0f} ms"


# live

def live_summary(s: dict) -> str:
    """The line ``edgeact live`` ends with, from :meth:`LiveStats.summary`."""
    return (f"end of source: {s['frames']} frames, {s['decisions']} decisions in {s['wall_seconds']:.1f} s; "
            f"{s['frames_without_person']} frames without a person, {s['frames_dropped']} frames and "
            f"{s['windows_dropped']} windows dropped; latency p50 "
            f"{_ms(s['latency_ms']['p50'])}, p95 {_ms(s['latency_ms']['p95'])}")


def demo_table(results: Iterable[Any]) -> Table:
    """``edgeact live --demo``'s summary: one row per clip (its name, the action performed, the one
    recognized, its probability and ok / uncertain / wrong)."""
    table = Table(title="demo summary: the decision on each whole clip", title_justify="left")
    for col in ("clip", "performed", "recognized", "p", ""):
        table.add_column(col)
    for r in results:
        mark = "[green]ok[/]" if r.correct and not r.uncertain else ("[yellow]uncertain[/]" if r.uncertain
                                                                     else "[red]wrong[/]")
        table.add_row(Text(r.clip.name), Text(r.clip.action), Text(r.decided or "-"), f"{r.p:.2f}", mark)
    return table


# calibrate

def calibration_table(result: Any, *, exact: bool) -> Table:
    """The fitted coefficients and their errors (``exact``: read from camera intrinsics, no fit)."""
    c = result.calibration
    table = Table(title=Text(f"calibration ({c.model}) from {result.source}", style="table.title"), show_header=True)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name in ("cx", "cy", "bx", "by") + (("tx", "ty") if c.model == "offset" else ()):
        table.add_row(name, f"{getattr(c, name):.4f}")
    if exact:
        table.add_row("RMS reprojection error", "exact (camera intrinsics)")
    else:
        table.add_row("RMS error, inliers (px)", f"{c.rmse_px:.3f}")
        table.add_row("RMS error, all points (px)", f"{c.rmse_all_px:.3f}")
        table.add_row("points", str(result.n_front))
        table.add_row("inliers (points used)", str(c.n_points))
        table.add_row("outliers rejected", f"{result.n_outliers} ({c.outlier_fraction:.1%})")
        if result.n_behind:
            table.add_row("dropped, Z <= 0", str(result.n_behind))
    return table


def print_calibration(console: Console, result: Any, *, exact: bool) -> None:
    """:func:`calibration_table`, then one line per note on the result."""
    console.print(calibration_table(result, exact=exact))
    for note in result.notes:
        console.print(Text.assemble(("note:", "yellow"), " ", note), highlight=False, soft_wrap=True)


# prep

def print_prep_report(console: Console, report: Any, out: Path) -> None:
    """What ``edgeact prep`` did: the throughput line, the samples left out or kept damaged (the
    first 50), and the samples prepared with notes (the first 10)."""
    say(console, f"prepared {report.done} samples ({report.resumed} already done), {report.frames} frames in "
                 f"{report.seconds:.1f} s: {report.frames_per_second:.1f} frames/s "
                 f"({report.frames_per_second / max(report.workers, 1):.1f} per worker) -> {out}")
    problems = report.excluded_before + report.problems
    rows = problems + [{"name": d["name"], "status": "damaged, kept", "reason": d["reason"]}
                       for d in report.damaged_kept]
    if rows:
        title = [f"{len(problems)} sample(s) left out"] if problems else []
        if report.damaged_kept:
            title.append(f"{len(report.damaged_kept)} damaged sample(s) kept (--keep-damaged)")
        table = Table(title=", ".join(title), title_justify="left")
        for col in ("sample", "status", "reason"):
            table.add_column(col)
        for p in rows[:50]:
            table.add_row(Text(p["name"]), Text(p.get("status", "")), Text(p.get("reason", "")))
        console.print(table)
        if len(rows) > 50:
            say(console, f"... and {len(rows) - 50} more (all listed in {out / 'index.json'} under meta.excluded "
                         "and meta.damaged_kept)")
    if report.notes:
        say(console, f"{len(report.notes)} prepared sample(s) with notes (all in {out / 'index.json'} under "
                     "meta.notes):")
        for n in report.notes[:10]:
            say(console, f"  {n['name']}: {n['reason']}")


# train and eval

def train_table(summary: dict, out: Path) -> Table:
    """One row per phase of a run (``*`` marks the best), from the trainer's summary."""
    table = Table(title=f"run {out}", title_justify="left")
    for col in ("phase", "val top-1", "val loss", "superclass acc", "alive filters"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for name, p in summary["phases"].items():
        mark = " *" if name == summary["best"] else ""
        table.add_row(name + mark, f"{p['val_top1']:.4f}", f"{p['val_loss']:.4f}",
                      " / ".join(f"{a:.3f}" for a in p.get("levels", [])) or "-",
                      f"{p['alive_filters']}/{p['total_filters']}")
    return table


def print_train_summary(console: Console, summary: dict, out: Path) -> None:
    """:func:`train_table`, then the best phase's test-split result when there is one."""
    console.print(train_table(summary, out))
    test = summary.get("test", {})
    if test:
        console.print(f"best ({summary['best']}) on the test split: top-1 {test['test_top1']:.4f}, "
                      f"top-5 {test['test_top5']:.4f} -> {out / 'best.pt'}")


def eval_table(report: dict, model: str, benchmark: str, split: str) -> Table:
    """Top-1/top-5 and, per superclass level, its head's accuracy and the fine head's summed."""
    table = Table(title=f"{model} on {benchmark} ({split}, {report['clips']} clips)", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("top-1", f"{report['top1']:.4f}")
    table.add_row("top-5", f"{report['top5']:.4f}")
    for lv in report["levels"]:
        table.add_row(f"level {lv['level']} ({lv['superclasses']} superclasses): its head", f"{lv['accuracy']:.4f}")
        table.add_row(f"level {lv['level']}: fine head summed per superclass", f"{lv['accuracy_from_fine']:.4f}")
    return table


def weakest_classes(report: dict, n: int = 5) -> Optional[str]:
    """``"weakest classes: a 0.10, b 0.20, ..."`` (the ``n`` lowest accuracies), or None."""
    worst = sorted((c for c in report["per_class"] if c["accuracy"] is not None), key=lambda c: c["accuracy"])[:n]
    if not worst:
        return None
    return "weakest classes: " + ", ".join(f"{c['name']} {c['accuracy']:.2f}" for c in worst)


# bench

def bench_model_table(report: dict) -> Table:
    """``edgeact bench model``: one row per backend x precision x batch."""
    from edgeact.bench import precision_label

    inp = report["input"]
    table = Table(title=f"{escape(report['model']['source'])} at {inp['frames']}x{inp['size']}x{inp['size']} on "
                  f"{report['device']} ({report['threads']} threads)", title_justify="left")
    for col, just in (("backend", "left"), ("precision", "left"), ("batch", "right"), ("p50 ms", "right"),
                      ("p95 ms", "right"), ("clips/s", "right"), ("vs torch fp32", "right"),
                      ("first call s", "right")):
        table.add_column(col, justify=just)
    for r in report["rows"]:
        table.add_row(r["backend"], precision_label(r), str(r["batch"]), f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}",
                      f"{r['clips_per_s']:.2f}", f"{r['vs_torch']:.2f}x" if r.get("vs_torch") else "-",
                      f"{r['first_call_s']:.2f}")
    return table


def bench_ratios(report: dict) -> list[str]:
    """The p50 ratios ``bench model`` prints under its table, one line each."""
    return [f"{q['name']} p50 ({q['precision']}, batch {q['batch']}): {q['p50_ratio']:.2f}" for q in report["ratios"]]


def bench_pose_table(report: dict) -> Table:
    """``edgeact bench pose``: one row per pose model and input size."""
    table = Table(title=f"pose model on {report['device']} ({report['threads']} threads)", title_justify="left")
    for col in ("model", "imgsz", "precision", "p50 ms", "p95 ms", "FPS", "inference ms"):
        table.add_column(col, justify="left" if col in ("model", "precision") else "right")
    for r in report["rows"]:
        table.add_row(escape(r["model"]), str(r["imgsz"]), r["precision"], f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}",
                      f"{r['fps']:.1f}", f"{r['inference_ms']:.1f}" if "inference_ms" in r else "-")
    return table


def bench_live_lines(row: dict, target: float = 1.10) -> list[str]:
    """``edgeact bench live``: one ``name: value`` line per figure, then the overhead verdict."""
    lines = [f"{k:>28}: {v}" for k, v in row.items()]
    verdict = "met" if row["overhead"] <= target else "NOT met"
    lines.append(f"{'overhead target':>28}: <= {target:.2f} -> {verdict}")
    return lines
