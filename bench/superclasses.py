"""Time the superclass solver against a straightforward reference, side by side in one run.

    python bench/superclasses.py --n 120 --m 40 --restarts 1000 --repeat 3

The reference is the obvious NumPy greedy: one restart at a time, the full (N, N) gain matrix
recomputed after every swap. It is slow, so it runs only ``--ref-restarts`` restarts (the first
ones of the solver's own starts, same seed) and its time is scaled to ``--restarts``. Both must
reach the same costs from the same starts: with continuous confusions (the default) every restart
ends in the same partition; with ``--counts`` (integer counts, many tied swaps) the two may break
ties differently, so only the best cost is compared.
"""

from __future__ import annotations

import os

# One BLAS thread: the reference's small matrix products only lose to thread start-up on a shared
# 2-core machine, and the solver uses no BLAS; both then run on one core, like for like.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from edgeact.hierarchy.search import (  # noqa: E402
    _edge_costs,
    _greedy,
    _random_starts,
    _tolerance,
    assign_superclasses,
    canonical_labels,
    partition_cost,
)


def synthetic_confusion(n: int, seed: int, counts: bool) -> np.ndarray:
    """A confusion ``(N, N)`` shaped like a real one: classes close in a latent space are confused."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 6))
    dist2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    c = 40.0 * np.exp(-dist2) * rng.gamma(2.0, 0.5, (n, n))
    np.fill_diagonal(c, 300.0)
    return np.round(c) if counts else c


def reference_descent(e: np.ndarray, g: np.ndarray, m: int, tol: float) -> np.ndarray:
    """One restart: recompute every swap gain ``(N, N)`` with NumPy, apply the best, repeat."""
    g = g.copy()
    n = len(g)
    rows = np.arange(n)
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    while True:
        d = e @ np.eye(m)[g]                          # D[i, h]: edges from i into group h
        a = d - d[rows, g][:, None]                   # gain of moving i alone into h
        t = a[:, g]                                   # a[i, g_j]
        gain = t + t.T - 2.0 * e
        gain[(g[:, None] == g[None, :]) | ~upper] = -np.inf
        k = int(np.argmax(gain))
        i, j = divmod(k, n)
        if gain[i, j] <= tol:
            return g
        g[i], g[j] = g[j], g[i]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=120, help="classes N")
    ap.add_argument("--m", type=int, default=40, help="superclasses M")
    ap.add_argument("--restarts", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of the solver")
    ap.add_argument("--ref-restarts", type=int, default=100, help="restarts the reference runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--counts", action="store_true", help="integer counts (ties) instead of rates")
    args = ap.parse_args(argv)
    ref_r = min(args.ref_restarts, args.restarts)

    c = synthetic_confusion(args.n, args.seed, args.counts)
    e = _edge_costs(c)
    tol = _tolerance(e)
    print(f"N={args.n} M={args.m} restarts={args.restarts} seed={args.seed} "
          f"confusion={'integer counts' if args.counts else 'rates'}")

    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        best = assign_superclasses(c, args.m, restarts=args.restarts, seed=args.seed)
        times.append(time.perf_counter() - t0)
    fast_s = min(times)
    print(f"solver     : {args.restarts} restarts  min {fast_s:.3f} s  "
          f"median {statistics.median(times):.3f} s  over {args.repeat} runs  "
          f"-> best cost {partition_cost(c, best):.10g}")

    starts = _random_starts(args.n, args.m, ref_r, np.random.default_rng(args.seed))
    t0 = time.perf_counter()
    ref = np.stack([reference_descent(e, s, args.m, tol) for s in starts])
    ref_s = time.perf_counter() - t0
    ref_scaled = ref_s * args.restarts / ref_r
    print(f"reference  : {ref_r} restarts  {ref_s:.3f} s  -> scaled to {args.restarts} restarts "
          f"{ref_scaled:.2f} s (estimate, {args.restarts / ref_r:g} x measured)")

    fast = _greedy(e, starts, args.m, tol)   # the solver on the same starts, for the check
    cost_ref = np.array([partition_cost(c, g) for g in ref])
    cost_fast = np.array([partition_cost(c, g) for g in fast])
    same = sum(np.array_equal(canonical_labels(a), canonical_labels(b)) for a, b in zip(fast, ref))
    scale = max(1.0, float(np.abs(cost_ref).max()))
    ok = abs(cost_fast.min() - cost_ref.min()) <= 1e-9 * scale
    if not args.counts:
        ok = ok and same == ref_r
    print(f"check      : same {ref_r} starts: identical final partitions {same}/{ref_r}; "
          f"best cost solver {cost_fast.min():.10g} vs reference {cost_ref.min():.10g}; "
          f"mean {cost_fast.mean():.6g} vs {cost_ref.mean():.6g} -> {'OK' if ok else 'MISMATCH'}")
    print(f"speed-up   : {ref_scaled / fast_s:.1f} x  (reference scaled to {args.restarts} restarts / "
          f"solver min)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
