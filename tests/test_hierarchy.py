"""Superclass assignment (paper §3.3), hierarchical loss and label mapping."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgeact.errors import EdgeactError
from edgeact.hierarchy import (
    Hierarchy,
    assign_superclasses,
    build_hierarchy,
    canonical_labels,
    hierarchical_loss,
    level_labels,
    level_probs,
    partition_cost,
)
from edgeact.hierarchy.search import _edge_costs, _greedy, _random_starts, _tolerance

# --------------------------------------------------------------------------- independent helpers


def balanced_partitions(n, m):
    """Every partition of range(n) into m unlabelled groups whose sizes differ by at most one."""
    base, extra = divmod(n, m)

    def rec(remaining, big_left, small_left):
        if not remaining:
            yield []
            return
        first, rest = remaining[0], remaining[1:]
        for size, b, s in ((base + 1, big_left - 1, small_left), (base, big_left, small_left - 1)):
            if size == 0 or b < 0 or s < 0:
                continue
            for others in _combinations(rest, size - 1):
                group = (first, *others)
                left = [x for x in rest if x not in others]
                for tail in rec(left, b, s):
                    yield [group, *tail]

    for groups in rec(list(range(n)), extra, m - extra):
        labels = np.empty(n, dtype=np.int64)
        for k, grp in enumerate(groups):
            labels[list(grp)] = k
        yield labels


def _combinations(items, k):
    if k == 0:
        yield ()
        return
    for i in range(len(items) - k + 1):
        for tail in _combinations(items[i + 1:], k - 1):
            yield (items[i], *tail)


def cost_by_loops(c, g):
    """Eq. 2 written out: sum over i < j in different groups of c_ij + c_ji."""
    n = len(g)
    return sum(c[i][j] + c[j][i] for i in range(n) for j in range(i + 1, n) if g[i] != g[j])


def reference_descent(e, g, tol):
    """One restart of the paper's greedy, the slow way: try every swap, apply the best."""
    g = g.copy()
    n = len(g)
    upper = np.triu(e, 1)

    def cost(h):
        return upper[h[:, None] != h[None, :]].sum()

    while True:
        base = cost(g)
        best, pair = tol, None
        for i in range(n):
            for j in range(i + 1, n):
                if g[i] == g[j]:
                    continue
                h = g.copy()
                h[i], h[j] = h[j], h[i]
                gain = base - cost(h)
                if gain > best:
                    best, pair = gain, (i, j)
        if pair is None:
            return g
        i, j = pair
        g[i], g[j] = g[j], g[i]


def sizes_of(g, m):
    return sorted(np.bincount(g, minlength=m).tolist())


# --------------------------------------------------------------------------- cost


def test_partition_cost_hand_computed():
    c = np.array([[5.0, 1.0, 2.0],
                  [3.0, 7.0, 0.5],
                  [4.0, 0.0, 9.0]])
    # groups {0, 1} and {2}: cross pairs (0,2) and (1,2): (2 + 4) + (0.5 + 0) = 6.5
    assert partition_cost(c, [0, 0, 1]) == pytest.approx(6.5)
    # groups {0} and {1, 2}: pairs (0,1), (0,2): (1 + 3) + (2 + 4) = 10
    assert partition_cost(c, [1, 0, 0]) == pytest.approx(10.0)
    assert partition_cost(c, [0, 0, 0]) == 0.0


def test_partition_cost_rejects_wrong_length():
    with pytest.raises(EdgeactError, match="assignment must have shape"):
        partition_cost(np.ones((3, 3)), [0, 1])


# --------------------------------------------------------------------------- solver


@pytest.mark.parametrize("n,m", [(8, 2), (9, 3), (10, 3)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reaches_brute_force_optimum(n, m, seed):
    rng = np.random.default_rng(100 + seed)
    # seed 0: integer counts with many ties; others: rates
    c = rng.poisson(2.0, (n, n)).astype(float) if seed == 0 else rng.random((n, n)) ** 3
    optimum = min(cost_by_loops(c, g) for g in balanced_partitions(n, m))
    g = assign_superclasses(c, m, restarts=60, seed=seed)
    assert sizes_of(g, m) == sizes_of(np.arange(n) % m, m)
    assert partition_cost(c, g) == pytest.approx(optimum, rel=1e-12)
    assert cost_by_loops(c, g) == pytest.approx(optimum, rel=1e-12)


def test_brute_force_enumeration_is_complete():
    # 8 classes into 2 groups of 4: C(8, 4) / 2 = 35; 9 into 3 of 3: 9! / (3!^3 3!) = 280
    assert sum(1 for _ in balanced_partitions(8, 2)) == 35
    assert sum(1 for _ in balanced_partitions(9, 3)) == 280
    # 10 into 4, 3, 3: C(10, 4) * C(6, 3) / 2 = 2100
    assert sum(1 for _ in balanced_partitions(10, 3)) == 2100


@pytest.mark.parametrize("n,m", [(9, 3), (10, 4), (12, 5), (19, 3), (21, 2)])
def test_each_restart_follows_the_best_improvement_path(n, m):
    """The fast batched solver takes exactly the swaps of the slow one-swap-at-a-time greedy."""
    rng = np.random.default_rng(n * m)
    e = _edge_costs(rng.random((n, n)))
    tol = _tolerance(e)
    starts = _random_starts(n, m, 12, np.random.default_rng(3))
    fast = _greedy(e, starts, m, tol)
    for start, got in zip(starts, fast):
        want = reference_descent(e, start, tol)
        assert np.array_equal(canonical_labels(got), canonical_labels(want))


def test_results_are_local_optima_on_tied_counts():
    rng = np.random.default_rng(7)
    c = rng.poisson(0.5, (14, 14)).astype(float)
    e = _edge_costs(c)
    starts = _random_starts(14, 4, 10, np.random.default_rng(0))
    for g in _greedy(e, starts, 4, _tolerance(e)):
        base = partition_cost(c, g)
        for i in range(14):
            for j in range(i + 1, 14):
                if g[i] != g[j]:
                    h = g.copy()
                    h[i], h[j] = h[j], h[i]
                    assert partition_cost(c, h) >= base - 1e-9


def test_recovers_planted_confusable_groups():
    n, m = 30, 10
    rng = np.random.default_rng(0)
    perm = rng.permutation(n)
    planted = np.empty(n, dtype=np.int64)
    planted[perm] = np.arange(n) // 3
    c = rng.random((n, n)) * 2.0                        # background confusion
    same = planted[:, None] == planted[None, :]
    c[same] += 20.0                                     # confusable triples
    np.fill_diagonal(c, 400.0)                          # correct predictions do not matter
    g = assign_superclasses(c, m, restarts=30, seed=0)
    assert np.array_equal(g, canonical_labels(planted))


@pytest.mark.parametrize("n,m", [(10, 3), (11, 4), (7, 2), (13, 6)])
def test_groups_are_balanced_when_m_does_not_divide_n(n, m):
    c = np.random.default_rng(n).random((n, n))
    g = assign_superclasses(c, m, restarts=10)
    base, extra = divmod(n, m)
    assert sizes_of(g, m) == sorted([base] * (m - extra) + [base + 1] * extra)
    assert g.dtype == np.int64 and g.shape == (n,)


def test_deterministic_for_a_seed_and_canonically_numbered():
    c = np.random.default_rng(1).poisson(1.0, (24, 24)).astype(float)  # many equal-cost optima
    a = assign_superclasses(c, 6, restarts=20, seed=5)
    b = assign_superclasses(c, 6, restarts=20, seed=5)
    assert np.array_equal(a, b)
    _, first = np.unique(a, return_index=True)
    assert np.all(np.diff(first) > 0) and a[0] == 0     # groups numbered by smallest member
    assert np.array_equal(canonical_labels([2, 2, 0, 1, 0]), [0, 0, 1, 2, 1])


def test_more_restarts_never_cost_more():
    c = np.random.default_rng(2).random((40, 40)) ** 4
    few = partition_cost(c, assign_superclasses(c, 8, restarts=3, seed=0))
    many = partition_cost(c, assign_superclasses(c, 8, restarts=40, seed=0))
    assert many <= few  # the first 3 starts are shared (same seed)


def test_trivial_levels():
    c = np.random.default_rng(0).random((5, 5))
    assert np.array_equal(assign_superclasses(c, 1), np.zeros(5))
    assert np.array_equal(assign_superclasses(c, 5), np.arange(5))


@pytest.mark.parametrize("confusion,m,restarts,message", [
    (np.ones((3, 4)), 2, 5, "2-D square"),
    (np.ones((2, 2, 2)), 2, 5, "2-D square"),
    (np.ones((0, 0)), 1, 5, "non-empty"),
    (np.array([[1.0, -1.0], [0.0, 1.0]]), 1, 5, "negative"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), 1, 5, "non-finite"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), 1, 5, "non-finite"),
    (np.ones((4, 4)), 0, 5, "between 1 and the 4 classes, got 0"),
    (np.ones((4, 4)), 5, 5, "between 1 and the 4 classes, got 5"),
    (np.ones((4, 4)), 2.5, 5, "must be an integer"),
    (np.ones((4, 4)), 2, 0, "restarts must be a positive integer"),
    ([["a", "b"], ["c", "d"]], 1, 5, "numeric"),
])
def test_bad_input(confusion, m, restarts, message):
    with pytest.raises(EdgeactError, match=message) as info:
        assign_superclasses(confusion, m, restarts=restarts)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- hierarchy


def test_build_hierarchy_skips_missing_heads_and_round_trips():
    c = np.random.default_rng(0).random((10, 10))
    h = build_hierarchy(c, (None, 2, 5), restarts=5)
    assert h.num_classes == 10 and h.level_sizes == (2, 5)
    assert sizes_of(np.array(h.assignments[1]), 5) == [2] * 5
    back = Hierarchy.from_dict(json.loads(json.dumps(h.to_dict())))
    assert back == h
    assert h.to_dict() == {"num_classes": 10, "assignments": [list(a) for a in h.assignments]}


def test_hierarchy_validation():
    with pytest.raises(EdgeactError, match="level 0 assignment must have shape"):
        Hierarchy(assignments=((0, 1, 1),), num_classes=4)
    with pytest.raises(EdgeactError, match="missing \\[1\\]"):
        Hierarchy(assignments=((0, 2, 2, 0),), num_classes=4)
    with pytest.raises(EdgeactError, match="num_classes"):
        Hierarchy.from_dict({"assignments": []})


# --------------------------------------------------------------------------- labels and loss


def test_level_labels_hand_made():
    coarse = np.array([0, 0, 1, 1, 1, 0])   # 6 classes into 2
    mid = np.array([0, 1, 2, 2, 1, 0])      # 6 classes into 3
    fine = torch.tensor([5, 2, 0, 4])
    lv0, lv1, lvf = level_labels(fine, [coarse, mid])
    assert lv0.tolist() == [0, 1, 0, 1]
    assert lv1.tolist() == [0, 2, 0, 1]
    assert lvf.tolist() == [5, 2, 0, 4] and lvf.dtype == torch.int64
    # numpy in, numpy out, the same labels; assignments as a Hierarchy holds them (tuples)
    h = Hierarchy(assignments=(tuple(coarse), tuple(mid)), num_classes=6)
    from_numpy = level_labels(np.array([5, 2, 0, 4]), h.assignments)
    assert all(isinstance(t, np.ndarray) and t.dtype == np.int64 for t in from_numpy)
    assert [t.tolist() for t in from_numpy] == [t.tolist() for t in (lv0, lv1, lvf)]


def test_level_probs_sums_the_members():
    fine = np.array([[0.1, 0.3, 0.6], [0.7, 0.2, 0.1]])
    (coarse,) = level_probs(fine, [[0, 1, 1]])
    np.testing.assert_allclose(coarse, [[0.1, 0.9], [0.7, 0.3]])


def test_level_labels_rejects_out_of_range_and_bad_shapes():
    with pytest.raises(EdgeactError, match=r"fine labels must lie in \[0, 3\)"):
        level_labels(torch.tensor([0, 3]), [np.array([0, 0, 1])])
    with pytest.raises(EdgeactError, match="1-D batch"):
        level_labels(torch.zeros(2, 2, dtype=torch.long), [np.array([0, 0, 1])])
    with pytest.raises(EdgeactError, match="integer class indices"):
        level_labels(torch.tensor([0.0, 1.0]), [np.array([0, 0, 1])])


def test_loss_is_the_weighted_sum_of_cross_entropies():
    torch.manual_seed(0)
    logits = (torch.randn(4, 2), torch.randn(4, 6), torch.randn(4, 20), torch.randn(4, 60))
    targets = (torch.tensor([0, 1, 1, 0]), torch.tensor([5, 0, 2, 3]),
               torch.tensor([19, 0, 7, 7]), torch.tensor([59, 1, 30, 2]))
    weights = (1 / 8, 1 / 4, 1 / 2, 1.0)
    want = sum(w * F.cross_entropy(x, y) for w, x, y in zip(weights, logits, targets))
    got = hierarchical_loss(logits, targets, weights)
    assert torch.allclose(got, want)
    # one case by hand: uniform logits give log(M) per level
    flat = (torch.zeros(1, 2), torch.zeros(1, 5))
    by_hand = (1 / 4) * math.log(2) + 1.0 * math.log(5)
    got = hierarchical_loss(flat, (torch.tensor([1]), torch.tensor([3])), (1 / 4, 1.0))
    assert got.item() == pytest.approx(by_hand)


def test_loss_gradient_reaches_every_head():
    logits = [torch.randn(3, 2, requires_grad=True), torch.randn(3, 7, requires_grad=True)]
    hierarchical_loss(logits, [torch.tensor([0, 1, 0]), torch.tensor([6, 0, 3])], (0.5, 1.0)).backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in logits)


def test_loss_length_mismatch():
    x, y = torch.randn(2, 3), torch.tensor([0, 1])
    with pytest.raises(EdgeactError, match="got 2 logits, 1 targets, 2 weights"):
        hierarchical_loss((x, x), (y,), (1.0, 1.0))
    with pytest.raises(EdgeactError, match="got 1 logits, 1 targets, 4 weights"):
        hierarchical_loss((x,), (y,), (1 / 8, 1 / 4, 1 / 2, 1.0))
