"""Superclasses from a confusion matrix (paper §3.3, Eq. 2).

The N fine classes are the nodes of a graph whose edge ``e_ij = c_ij + c_ji`` comes from the
pass-1 confusion matrix C. Each level is a balanced partition into M groups (sizes differ by at
most one) minimizing the total edge cost between different groups, found by a greedy search:
random balanced start, repeatedly apply the single swap of two classes in different groups that
lowers the cost the most, stop when none does; many restarts, keep the cheapest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeact.errors import EdgeactError

# Largest number of float64 elements one batched array may hold; bounds the solver's memory
# (a few such arrays live at once) without changing its result.
_BATCH_ELEMENTS = 8_000_000


# --------------------------------------------------------------------------- validation


def _edge_costs(confusion: Any) -> np.ndarray:
    """Confusion ``(N, N)`` (rows true, columns predicted) -> symmetric edge costs ``(N, N)``
    with a zero diagonal."""
    try:
        c = np.asarray(confusion, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise EdgeactError(f"confusion matrix must be numeric: {exc}") from None
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
        raise EdgeactError(
            f"confusion matrix must be a non-empty 2-D square matrix, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise EdgeactError("confusion matrix has non-finite entries (NaN or inf)")
    if np.any(c < 0):
        raise EdgeactError(f"confusion matrix has negative entries (minimum {c.min():g})")
    e = c + c.T
    np.fill_diagonal(e, 0.0)
    return e


def _check_assignment(assignment: Any, n: int, what: str = "assignment") -> np.ndarray:
    a = np.asarray(assignment)
    if a.shape != (n,):
        raise EdgeactError(f"{what} must have shape ({n},) (one group id per class), got {a.shape}")
    if a.dtype.kind not in "iu" and not (a.dtype.kind == "f" and np.all(a == np.round(a))):
        raise EdgeactError(f"{what} must hold integer group ids, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if n and a.min() < 0:
        raise EdgeactError(f"{what} has a negative group id ({a.min()})")
    return a


def _tolerance(e: np.ndarray) -> float:
    """Smallest gain counted as an improvement: far above the float64 rounding of a gain (a few
    sums of up to N edges: about N * eps * max e), far below any meaningful change of the cost."""
    return 1e-9 * e.shape[0] * float(e.max(initial=0.0))


# --------------------------------------------------------------------------- cost


def partition_cost(confusion: Any, assignment: Any) -> float:
    """Total edge cost between different groups: ``sum_{i<j, g_i != g_j} c_ij + c_ji``.

    ``confusion`` is ``(N, N)``, ``assignment`` ``(N,)`` integer group ids.
    """
    e = _edge_costs(confusion)
    g = _check_assignment(assignment, e.shape[0])
    return float(np.triu(e, 1)[g[:, None] != g[None, :]].sum())


def canonical_labels(assignment: Any) -> np.ndarray:
    """Renumber groups in order of their smallest member: equal partitions give equal arrays.
    ``(N,)`` -> ``(N,)`` int64."""
    a = np.asarray(assignment, dtype=np.int64)
    _, first, inverse = np.unique(a, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


# --------------------------------------------------------------------------- solver


def _group_sizes(n: int, m: int) -> np.ndarray:
    """Balanced sizes ``(M,)``: the first ``N % M`` groups hold one class more."""
    base, extra = divmod(n, m)
    return np.array([base + 1] * extra + [base] * (m - extra), dtype=np.int64)


def _random_starts(n: int, m: int, restarts: int, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random balanced assignments ``(R, N)``; row r depends only on the first r+1 draws,
    so a longer run starts with the same starts as a shorter one with the same seed."""
    labels = np.repeat(np.arange(m, dtype=np.int64), _group_sizes(n, m))
    perm = np.argsort(rng.random((restarts, n)), axis=1)
    starts = np.empty((restarts, n), dtype=np.int64)
    np.put_along_axis(starts, perm, np.broadcast_to(labels, (restarts, n)), axis=1)
    return starts


def _along(x: np.ndarray, axis: int, t: int) -> np.ndarray:
    return x[(slice(None),) * axis + (t,)]


# NumPy reduces over a short axis (one group's members, usually 2-8) far more slowly than it adds
# or compares whole arrays, so short axes are walked with whole-array operations on views.
_SHORT_AXIS = 8

# Converged restarts leave the batch once they are this share of it (copying costs a step or so).
_COMPACT = 0.75


def _sum_last(x: np.ndarray) -> np.ndarray:
    """Sum over the last axis."""
    if x.shape[-1] > _SHORT_AXIS:
        return x.sum(axis=-1)
    total = x[..., 0].copy()
    for t in range(1, x.shape[-1]):
        total += x[..., t]
    return total


def _max_argmax(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Max and first argmax along ``axis``."""
    k = x.shape[axis]
    if k > _SHORT_AXIS:
        idx = x.argmax(axis=axis)
        return np.take_along_axis(x, np.expand_dims(idx, axis), axis=axis).squeeze(axis), idx
    best = _along(x, axis, 0)
    idx = np.zeros(best.shape, dtype=np.int64)
    for t in range(1, k):
        xt = _along(x, axis, t)
        idx = np.where(xt > best, t, idx)
        best = np.maximum(best, xt)
    return best, idx


def _greedy(e: np.ndarray, starts: np.ndarray, m: int, tol: float) -> np.ndarray:
    """Best-improvement swap descent from every start; ``e (N, N)``, ``starts (R, N)`` balanced
    assignments -> local optima ``(R, N)`` (group ids as in the start, up to renaming)."""
    n = e.shape[0]
    r_all = starts.shape[0]
    smax = -(-n // m)
    per = 2 * (m * smax) ** 2 + 4 * m * m
    batch = max(1, _BATCH_ELEMENTS // per)
    out = np.empty((r_all, n), dtype=np.int64)
    for lo in range(0, r_all, batch):
        out[lo:lo + batch] = _greedy_batch(e, starts[lo:lo + batch], m, tol)
    return out


def _block_gains(e_rows: np.ndarray, a_i: np.ndarray, a_j: np.ndarray, smax: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Best swap between one group a and each of M' groups, for every restart.

    ``e_rows (R, smax, P')``: e between a's members (slot ti) and the M' groups' slots
    (``P' = M' * smax``); ``a_i (R, smax, M')``: ``D[d, i] - D[a, i]``; ``a_j (R, P')``:
    ``D[a, j] - D[g_j, j]`` (-inf marks impossible swaps). Returns the best gains ``(R, M')`` and
    their member slots ti (in a) and tj (in the other group), each ``(R, M')``.
    """
    r, _, pp = e_rows.shape
    gain = e_rows * -2.0
    gain4 = gain.reshape(r, smax, pp // smax, smax)
    if smax > _SHORT_AXIS:
        gain4 += a_i[..., None]
    else:
        for t in range(smax):
            gain4[..., t] += a_i
    gain += a_j[:, None, :]
    # Max over i first (a cheap reduction), arg-max only for the chosen j of each group.
    val, tj = _max_argmax(gain.max(axis=1).reshape(r, -1, smax), axis=2)    # (R, M')
    chosen = np.take_along_axis(gain, (tj + np.arange(pp // smax) * smax)[:, None, :], axis=2)
    ti = _max_argmax(chosen, axis=1)[1]                                      # (R, M')
    return val, ti, tj


def _greedy_batch(e: np.ndarray, starts: np.ndarray, m: int, tol: float) -> np.ndarray:
    """All restarts of one batch advance together, one swap per step each.

    Why it is fast: with ``D[h, k] = sum of e_ik over the members i of group h`` the gain of
    swapping i (group a) with j (group b) is ``D[b,i] - D[a,i] + D[a,j] - D[b,j] - 2 e_ij``. A swap
    in groups a, b changes D only in rows a and b, so the best swap between two *other* groups is
    unchanged. We keep ``Q[a, b]`` = best gain of a swap between groups a and b and after a swap
    recompute only rows and columns a and b of Q: O(N^2 / M) work per step instead of O(N^2).

    Everything lives in a static *slot* layout: slot ``p = h * smax + t`` holds the t-th member of
    group h (a padding class with zero edges fills the missing slot of smaller groups). A swap
    exchanges the classes of two slots, so ``W[p, q] = e[class(p), class(q)]`` is permuted in
    place, and a group's rows of W are one contiguous slice from which the D values it needs are
    summed afresh (no drift). Restarts that converged are dropped from the batch now and then.
    """
    n = e.shape[0]
    r = starts.shape[0]
    sizes = _group_sizes(n, m)
    smax = int(sizes[0])
    p = m * smax
    valid = np.arange(smax)[None, :] < sizes[:, None]                       # (M, smax)
    pad = np.where(valid, 0.0, -np.inf)                                      # no swaps with padding
    pad_flat = pad.ravel()
    slot0 = np.arange(m) * smax                                              # first slot of each group
    ex = np.zeros((n + 1, n + 1))
    ex[:n, :n] = e

    # Rename each start's groups so that group h has size sizes[h], then list members by slot.
    counts = np.stack([(starts == h).sum(axis=1) for h in range(m)], axis=1)  # (R, M)
    rename = np.empty((r, m), dtype=np.int64)
    np.put_along_axis(rename, np.argsort(-counts, axis=1, kind="stable"),
                      np.broadcast_to(np.arange(m), (r, m)), axis=1)
    g = np.take_along_axis(rename, starts, axis=1)
    mem = np.full((r, p), n, dtype=np.int64)                                 # class of each slot
    mem[:, valid.ravel()] = np.argsort(g, axis=1, kind="stable")

    w = np.empty((r, p, p))                                                  # e between slots
    for k in range(r):
        w[k] = ex[mem[k]][:, mem[k]]
    ar = np.arange(m)
    own = _sum_last(w.reshape(r, m, smax, m, smax)[:, ar, :, ar, :])      # D[g_p, p] (M, R, smax)
    own = np.ascontiguousarray(own.transpose(1, 0, 2)).reshape(r, p)

    q = np.full((r, m, m), -np.inf)  # best gain of a swap between two groups
    sl = np.zeros((r, m, m), dtype=np.int64)  # slot in group x of the best pair of groups x, y
    for a in range(m - 1):           # Q is symmetric: fill the upper triangle and mirror it
        lo, hi = a * smax, (a + 1) * smax
        e_rows = w[:, lo:hi, hi:]
        a_i = _sum_last(e_rows.reshape(r, smax, m - a - 1, smax)) - (own[:, lo:hi] - pad[a])[:, :, None]
        a_j = e_rows.sum(axis=1) - own[:, hi:] + pad_flat[hi:]
        val, ti, tj = _block_gains(e_rows, a_i, a_j, smax)
        q[:, a, a + 1:], q[:, a + 1:, a] = val, val
        sl[:, a, a + 1:], sl[:, a + 1:, a] = lo + ti, slot0[a + 1:] + tj

    ids = np.arange(r)               # batch row -> restart
    live = np.ones(r, dtype=bool)    # not yet recorded as converged
    result = np.empty((r, n), dtype=np.int64)
    while True:
        rb = len(ids)
        flat = q.reshape(rb, m * m).argmax(axis=1)
        done = live & (q.reshape(rb, m * m)[np.arange(rb), flat] <= tol)
        if done.any():
            slots = mem[done]
            grp = np.empty((len(slots), n + 1), dtype=np.int64)
            np.put_along_axis(grp, slots, np.broadcast_to(np.arange(p) // smax, slots.shape), axis=1)
            result[ids[done]] = grp[:, :n]
            live &= ~done
            if not live.any():
                break
            if live.sum() <= _COMPACT * rb:
                ids, w, own, mem, q, sl, flat = (x[live] for x in (ids, w, own, mem, q, sl, flat))
                live = np.ones(len(ids), dtype=bool)
                rb = len(ids)
        # Rows already recorded keep swapping harmlessly until the next compaction.
        rr = np.arange(rb)
        a, b = flat // m, flat % m
        pa, pb = sl[rr, a, b], sl[rr, b, a]
        # W <- P W P for the transposition P of slots pa, pb: swap the rows, fix the four
        # crossing entries, then copy the rows into the columns (W is symmetric), which spares
        # the slow strided reads of a column swap.
        w[rr, pa], w[rr, pb] = w[rr, pb], w[rr, pa]
        w[rr, pa, pa], w[rr, pa, pb], w[rr, pb, pa], w[rr, pb, pb] = (
            w[rr, pa, pb], w[rr, pa, pa], w[rr, pb, pb], w[rr, pb, pa])
        w[rr, :, pa] = w[rr, pa]
        w[rr, :, pb] = w[rr, pb]
        mem[rr, pa], mem[rr, pb] = mem[rr, pb], mem[rr, pa]
        w4 = w.reshape(rb, m, smax, p)
        rows = [w4[rr, h] for h in (a, b)]                                   # e_rows (R', smax, P)
        sums = [_sum_last(x.reshape(rb, smax, m, smax)) for x in rows]    # D[d, i] (R', smax, M)
        own4 = own.reshape(rb, m, smax)
        for h, s in zip((a, b), sums):
            own4[rr, h] = s[rr, :, h]
        # b goes last and rewrites both Q[a, b] and Q[b, a] with its own best pair: the two
        # slots of a pair must come from one computation, or ties could mix two pairs.
        for h, x, s in zip((a, b), rows, sums):
            a_i = s - (own4[rr, h] - pad[h])[:, :, None]
            a_i[rr, :, h] = -np.inf                                          # no swap inside h
            a_j = x.sum(axis=1) - own + pad_flat
            val, ti, tj = _block_gains(x, a_i, a_j, smax)
            q[rr, h], q[rr, :, h] = val, val
            sl[rr, h], sl[rr, :, h] = (h * smax)[:, None] + ti, slot0 + tj
    return result


def assign_superclasses(confusion: Any, num_superclasses: int, *, restarts: int = 1000,
                        seed: int = 0) -> np.ndarray:
    """Balanced superclasses minimizing the confusion between groups (paper §3.3, Eq. 2).

    Args:
        confusion: ``(N, N)`` confusion matrix, rows true class, columns predicted; counts or
            rates (any non-negative finite numbers).
        num_superclasses: M, 1 <= M <= N; group sizes differ by at most one.
        restarts: random balanced starts of the greedy swap descent; the cheapest result wins.
        seed: the result is a deterministic function of the inputs and the seed.

    Returns:
        ``(N,)`` int64 group ids in ``[0, M)``, groups numbered by their smallest member.
    """
    e = _edge_costs(confusion)
    n = e.shape[0]
    if isinstance(num_superclasses, bool) or not isinstance(num_superclasses, (int, np.integer)):
        raise EdgeactError(f"number of superclasses must be an integer, got {num_superclasses!r}")
    m = int(num_superclasses)
    if not 1 <= m <= n:
        raise EdgeactError(f"number of superclasses must be between 1 and the {n} classes, got {m}")
    if isinstance(restarts, bool) or not isinstance(restarts, (int, np.integer)) or restarts < 1:
        raise EdgeactError(f"restarts must be a positive integer, got {restarts!r}")
    if m == 1:
        return np.zeros(n, dtype=np.int64)
    if m == n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    starts = _random_starts(n, m, int(restarts), rng)
    finals = _greedy(e, starts, m, _tolerance(e))
    # Costs of all finals from one formula, so equal partitions tie exactly (first one wins).
    upper = np.triu(e, 1)
    within = np.array([upper[f[:, None] == f[None, :]].sum() for f in finals])
    best = int(np.argmin(upper.sum() - within))
    return canonical_labels(finals[best])
