"""Does physical removal of pruned filters turn pruning into CPU speed? Measured side by side.

For each pruning scope (global, layer) and 0, 1, 3, 5 passes of 10 % filter pruning, this times
the masked model (what ``prune_filters`` leaves: same size, zeroed filters) and the compacted one
(``edgeact.compact.compact``), and reports parameters, MACs (``run_counting_macs``, convs and
linears), CPU latency (torch eager, eval, ``no_grad``, ``torch.set_num_threads(--threads)``;
warm-up, then the median of ``--runs`` calls with the unpruned, masked and compacted models' calls
interleaved; the quietest of ``--repeats`` rounds), the FLOPs and latency ratios of the compacted
model to the unpruned one, and the largest output difference between masked and compacted model.
What compaction should reach: the latency ratio within 15 % of the FLOPs ratio.

    python bench/compaction.py                      # i3d_r18, 60 classes, heads 2/6/20, 1x3x8x112x112
    python bench/compaction.py --size 224 --runs 3  # the paper's input size (slow on 2 cores)

The default input is 112x112, not the paper's 224x224: an i3d_r18 call at 8x224x224 costs four
times one at 112x112 (seconds on this 2-core CPU), and the 7 rows x 3 models x (warm-up + runs) x
repeats calls would take far more than the 3-6 minutes the default run takes on this shared
machine. Every conv's cost scales with H x W alike, so the ratios, which are what this measures,
change little with size.

Weights are random (the table is about latency, not accuracy); global pruning of random-init
weights concentrates on the layers whose fan-out init gives small filter norms (the stride-2 convs
that double the width, i.e. stacks 2-4's first conv1 and the downsample convs: one filter left each
after 5 passes), and that is what the global rows report. Pass 0 (unpruned) is one model, shared
by both scopes.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def count_macs(model, shape) -> int:
    """MACs of one call, counted on a ``meta``-device copy (no compute)."""
    import torch

    from edgeact.models.summary import run_counting_macs

    meta = copy.deepcopy(model).to("meta").eval()
    with torch.no_grad():
        _, macs = run_counting_macs(meta, torch.empty(*shape, device="meta"))
    return macs


def interleaved_medians(models: list, x, runs: int, warmup: int) -> list[float]:
    """Median seconds per call of each model, the models' calls interleaved (A B C A B C ...), so
    a change in the load of the shared machine hits all of them alike."""
    import torch

    times: list[list[float]] = [[] for _ in models]
    with torch.no_grad():
        for m in models:
            for _ in range(warmup):
                m(x)
        for _ in range(runs):
            for t, m in zip(times, models):
                t0 = time.perf_counter()
                m(x)
                t.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def build_models(args, scope: str):
    """Yield ``(passes, masked, compacted)`` for the requested passes, pruning incrementally."""
    import torch

    from edgeact.compact import compact
    from edgeact.models import create_model
    from edgeact.pruning import prune_filters

    torch.manual_seed(args.seed)
    model = create_model(args.arch, num_classes=args.classes, levels=tuple(args.levels)).eval()
    done = 0
    for p in sorted(args.passes):
        while done < p:
            prune_filters(model, args.ratio, scope)
            done += 1
        yield p, model, compact(model)


def render(rows: list[dict], args, info: dict) -> str:
    lines = [
        f"# Compaction: masked vs physically pruned {args.arch} on CPU",
        "",
        f"input 1x3x{args.frames}x{args.size}x{args.size}, {args.classes} classes, heads "
        f"{'/'.join(map(str, args.levels))}; {args.ratio:.0%} of the alive filters per pass; torch "
        f"{info['torch']} eager, eval, no_grad, {args.threads} thread(s); each row's unpruned, "
        f"masked and compacted models are timed with their calls interleaved (median of {args.runs} "
        f"calls after {args.warmup} warm-up), {args.repeats} rounds, and the row shows its quietest "
        f"round (fastest unpruned median). {info['cpu']}; "
        f"load average before/after: {info['load_before']} / "
        f"{info['load_after']} (the machine is shared). Weights are random init: global pruning of "
        "random-init weights concentrates on the layers with small init filter norms (stacks 2-4's "
        "stride-2 conv1 and the downsample convs; a masked downsample filter cannot be removed while "
        "the blocks still write into its residual channel), and that is what the global rows report. "
        "FLOPs ratio and latency ratio are compacted / unpruned (the unpruned model timed alongside "
        "each row); 'lat/FLOPs' is their quotient "
        "(1.00 = latency falls exactly as FLOPs; the aim is within +-15 %).",
        "",
        "| scope | passes | sparsity | params masked | params compact | GMACs compact | FLOPs ratio "
        "| latency unpruned ms | latency masked ms | latency compact ms | latency ratio | lat/FLOPs "
        "| max abs diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scope']} | {r['passes']} | {r['sparsity']:.1%} | {r['params_masked'] / 1e6:.2f}M | "
            f"{r['params_compact'] / 1e6:.2f}M | {r['macs_compact'] / 1e9:.3f} | {r['flops_ratio']:.3f} | "
            f"{r['latency_unpruned_s'] * 1e3:.0f} | {r['latency_masked_s'] * 1e3:.0f} | "
            f"{r['latency_compact_s'] * 1e3:.0f} | "
            f"{r['latency_ratio']:.3f} | {r['lat_over_flops']:.2f} | {r['max_abs_diff']:.1e} |")
    within = [r for r in rows if r["passes"] > 0]
    ok = sum(abs(r["lat_over_flops"] - 1) <= 0.15 for r in within)
    lines += ["", f"latency ratio within 15 % of the FLOPs ratio: {ok}/{len(within)} pruned rows.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="i3d_r18")
    ap.add_argument("--num-classes", "--classes", dest="classes", type=int, default=60)
    ap.add_argument("--levels", type=int, nargs=3, default=[2, 6, 20])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=112, help="input H = W (224 is the paper's; slow here)")
    ap.add_argument("--ratio", type=float, default=0.1)
    ap.add_argument("--passes", type=int, nargs="+", default=[0, 1, 3, 5])
    ap.add_argument("--scopes", nargs="+", default=["global", "layer"], choices=["global", "layer"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5, help="timed calls per model per round")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2,
                    help="rounds; each row reports its quietest round (fastest unpruned median)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="output stem (writes .md and .json); "
                                              "default bench/results/compaction_cpu<threads>[_<size>]")
    args = ap.parse_args()

    import torch

    from edgeact.fileio import atomic_write_json, atomic_write_text
    from edgeact.pruning import pruning_report

    torch.set_num_threads(args.threads)
    shape = (1, 3, args.frames, args.size, args.size)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(args.seed + 1))
    info = {"torch": torch.__version__, "cpu": f"{platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} logical CPUs", "load_before": " ".join(f"{v:.2f}" for v in os.getloadavg())}

    # static figures and exactness once; latency over interleaved rounds, each row timed together
    # with the unpruned model so its ratio is measured side by side
    rows: dict[tuple[str, int], dict] = {}
    t_start = time.perf_counter()
    for rnd in range(args.repeats):
        unpruned = None
        for scope in args.scopes:
            for passes, masked, small in build_models(args, scope):
                key = ("-" if passes == 0 else scope, passes)
                if passes == 0:
                    if unpruned is not None:
                        continue  # the unpruned model is the same for both scopes
                    unpruned = copy.deepcopy(masked)
                    lat_u, lat_c = interleaved_medians([unpruned, small], x, args.runs, args.warmup)
                    lat_m = lat_u
                else:
                    lat_u, lat_m, lat_c = interleaved_medians([unpruned, masked, small], x, args.runs,
                                                              args.warmup)
                if key not in rows:
                    with torch.no_grad():
                        diff = max((a - b).abs().max().item() for a, b in zip(masked(x), small(x)))
                    rows[key] = {
                        "scope": key[0], "passes": passes, "sparsity": pruning_report(masked).sparsity,
                        "params_masked": sum(p.numel() for p in masked.parameters()),
                        "params_compact": sum(p.numel() for p in small.parameters()),
                        "macs_unpruned": count_macs(unpruned, shape), "macs_compact": count_macs(small, shape),
                        "max_abs_diff": diff, "rounds": [], "channels": small.config.channels,
                    }
                rows[key]["rounds"].append({"unpruned_s": lat_u, "masked_s": lat_m, "compact_s": lat_c})
                print(f"round {rnd + 1}/{args.repeats} {key[0]:6s} passes {passes}: unpruned "
                      f"{lat_u * 1e3:6.0f} ms, masked {lat_m * 1e3:6.0f} ms, compact {lat_c * 1e3:6.0f} ms "
                      f"({time.perf_counter() - t_start:.0f} s elapsed)", flush=True)
    out_rows = []
    for r in rows.values():
        # the quietest round (fastest unpruned median) with its side-by-side partners: taking each
        # model's best over different rounds would mix load levels into the ratio
        best = min(r["rounds"], key=lambda t: t["unpruned_s"])
        r["latency_unpruned_s"], r["latency_masked_s"], r["latency_compact_s"] = (
            best["unpruned_s"], best["masked_s"], best["compact_s"])
        r["flops_ratio"] = r["macs_compact"] / r["macs_unpruned"]
        r["latency_ratio"] = r["latency_compact_s"] / r["latency_unpruned_s"]
        r["lat_over_flops"] = r["latency_ratio"] / r["flops_ratio"]
        out_rows.append(r)
    info["load_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    info["wall_s"] = round(time.perf_counter() - t_start, 1)
    table = render(out_rows, args, info)
    print()
    print(table)
    stem = args.out or RESULTS / (f"compaction_cpu{args.threads}" + ("" if args.size == 112 else f"_{args.size}"))
    atomic_write_text(stem.with_suffix(".md"), table)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    atomic_write_json(stem.with_suffix(".json"), {"settings": settings, "info": info, "rows": out_rows})
    print(f"wrote {stem.with_suffix('.md')} and {stem.with_suffix('.json')} ({info['wall_s']} s)")


if __name__ == "__main__":
    main()
