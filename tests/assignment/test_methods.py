"""Assignment methods: the at-most-one-shared guarantee, exact capacities, slot use, random sets."""

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuits import ASSIGNMENTS, CircuitsError, build, capacity, rotation_circuits
from circuits.assignment import assign, max_shared, slot_use
from circuits.assignment._geometry import finite_field_sets
from circuits.assignment._assignment import random_sets, repeated_pairs
from circuits.assignment._field import galois_field, prime_powers
from circuits.assignment._geometry import _Lines, _plan, _Sunflower, _union
from circuits.assignment._packing_search import (PLANE_SUBSETS, decode_subset, encode_subset, plane_lines,
                                                 search_plane_subset)
from theory import packing_bound

GUARANTEED = [m for m in ASSIGNMENTS if m != "random"]


def brute_force_overlap(sets, n_slots):
    """The T x T matrix of shared slots (diagonal zeroed); only for small T."""
    inc = np.zeros((len(sets), n_slots), dtype=np.int64)
    inc[np.arange(len(sets))[:, None], sets] = 1
    overlap = inc @ inc.T
    np.fill_diagonal(overlap, 0)
    return overlap


# ----------------------------------------------------------------- the guarantee
@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(n_slots=st.integers(2, 320), redundancy=st.integers(2, 10), method=st.sampled_from(GUARANTEED))
def test_guaranteed_methods_share_at_most_one_slot(n_slots, redundancy, method):
    sets_of, capacity_of = ASSIGNMENTS[method].sets, ASSIGNMENTS[method].capacity
    sets = sets_of(n_slots, redundancy)
    assert sets.shape == (capacity_of(n_slots, redundancy), redundancy)
    assert capacity(n_slots, redundancy, method) == len(sets)
    if len(sets):
        assert sets.min() >= 0 and sets.max() < n_slots
        assert (np.diff(np.sort(sets, axis=1), axis=1) > 0).all()  # S different slots per set
    assert max_shared(sets, n_slots) <= 1
    assert repeated_pairs(sets, n_slots) == 0
    assert len(sets) <= packing_bound(n_slots, redundancy)
    if 2 <= len(sets) <= 1500:
        assert max_shared(sets, n_slots) == brute_force_overlap(sets, n_slots).max()


@pytest.mark.parametrize("n_slots,redundancy", [(250, 6), (500, 6), (777, 9), (1000, 3)])
def test_finite_field_large_cases_keep_the_guarantee(n_slots, redundancy):
    sets = finite_field_sets(n_slots, redundancy)
    assert len(sets) == capacity(n_slots, redundancy, "finite-field")
    assert max_shared(sets, n_slots) == 1


@pytest.mark.parametrize("n_slots,redundancy,expected", [
    (7, 3, 7),      # Fano plane PG(2,2): lines over GF(2) with the points at infinity
    (9, 3, 12),     # affine plane AG(2,3): 3^2 lines on 3 groups of 3, plus the 3 groups
    (21, 3, 70),    # 7^2 lines on 3 groups of 7, plus a Fano plane (7 sets) in each group
    (13, 4, 13),    # PG(2,3)
    (16, 4, 20),    # AG(2,4): 4^2 lines over GF(4) plus the 4 groups
    (25, 5, 30),    # AG(2,5)
    (49, 7, 56),    # AG(2,7): 7^2 + 7
    (64, 8, 72),    # AG(2,8) over GF(8)
    (81, 9, 90),    # AG(2,9) over GF(9)
    (91, 10, 91),   # PG(2,9): 9^2 lines through 9 finite groups and the slopes, plus 10 groups + 1 point
])
def test_finite_field_exact_capacity_of_planes(n_slots, redundancy, expected):
    # each of these is a perfect packing: every pair of slots lies in exactly one set
    assert expected == packing_bound(n_slots, redundancy)
    assert capacity(n_slots, redundancy, "finite-field") == expected
    sets = finite_field_sets(n_slots, redundancy)
    assert len(sets) == expected and max_shared(sets, n_slots) == 1
    pairs = Counter((a, b) for s in sets.tolist() for i, a in enumerate(s) for b in s[i + 1:])
    assert len(pairs) == n_slots * (n_slots - 1) // 2 and set(pairs.values()) == {1}


def test_finite_field_keeps_prime_step_numbers_and_beats_them():
    assert capacity(250, 6) == 557 and capacity(500, 6) == 2101  # prime-step unchanged
    assert capacity(250, 6, "finite-field") == 1969
    assert capacity(500, 6, "finite-field") == 8017


@pytest.mark.parametrize("q,redundancy", [(5, 3), (7, 7), (8, 5), (9, 10), (16, 4)])
def test_lines_form_parallel_classes_and_a_transversal_design(q, redundancy):
    xs = tuple(range(redundancy)) if redundancy <= q else tuple(range(q)) + (q,)
    groups = tuple(np.arange(j * q, (j + 1) * q) for j in range(redundancy))
    lines = _Lines(q, xs, groups)
    sets = lines.blocks(lines.size)
    n = q * redundancy
    assert len(sets) == q * q
    # any two slots in different groups lie in exactly one line, two slots of one group in none
    pairs = Counter((a, b) for s in np.sort(sets, axis=1).tolist() for i, a in enumerate(s) for b in s[i + 1:])
    assert set(pairs.values()) == {1}
    assert len(pairs) == q * q * redundancy * (redundancy - 1) // 2
    if redundancy <= q:  # with finite coordinates only, each slope class uses every slot once
        for a in range(q):
            assert np.array_equal(np.bincount(sets[a * q:(a + 1) * q].ravel(), minlength=n), np.ones(n))


@pytest.mark.parametrize("q", [4, 8, 9, 16, 25, 27])
def test_galois_field_axioms(q):
    F = galois_field(q)
    a = np.arange(q)
    A, B = np.meshgrid(a, a, indexing="ij")
    add, mul = F.add(A, B), F.mul(A, B)
    assert (add == add.T).all() and (mul == mul.T).all()
    assert all(sorted(row) == list(range(q)) for row in add.tolist())              # additive group
    assert all(sorted(row[1:]) == list(range(1, q)) for row in mul[1:].tolist())   # multiplicative group
    assert (mul[0] == 0).all() and (mul[1] == a).all() and (add[0] == a).all()
    C = a[:, None, None]
    assert (F.mul(F.add(A, B)[None], C) == F.add(F.mul(A, C), F.mul(B, C))).all()  # distributive
    assert (F.mul(F.mul(A, B)[None], C) == F.mul(A[None], F.mul(B[None], C))).all()  # associative
    assert (F.add(a, F.neg(a)) == 0).all()
    assert prime_powers(30) == (2, 3, 4, 5, 7, 8, 9, 11, 13, 16, 17, 19, 23, 25, 27, 29)


# ----------------------------------------------------------------- order and slot use
def test_prefix_is_the_first_sets_of_the_family():
    full = finite_field_sets(500, 6)
    for T in (1, 557, 2000, len(full)):
        assert np.array_equal(finite_field_sets(500, 6, limit=T), full[:T])


def test_interleaving_takes_each_part_in_proportion():
    # parts of very different sizes on disjoint slots; part k of m_k sets among M in all
    sizes = [1, 3, 10, 40, 200]
    start, parts = 0, []
    for m in sizes:
        parts.append(_Sunflower(start, np.arange(start + 1, start + 1 + 2 * m), 3))
        start += 1 + 2 * m
    union = _union(parts, 3, key=5)
    M = sum(sizes)
    owner = np.repeat(np.arange(len(sizes)), [1 + 2 * m for m in sizes])
    sets = union.blocks(M)
    taken = np.zeros(len(sizes))
    for c, s in enumerate(sets, start=1):
        taken[owner[s[0]]] += 1
        # |taken_k - c m_k / M| <= 1 + K m_k / M (derived from the positions (i + phase_k) / m_k)
        assert np.all(np.abs(taken - c * np.array(sizes) / M) <= 1 + len(sizes) * np.array(sizes) / M)
    every = np.concatenate([p.blocks(p.size) for p in parts])
    assert sorted(map(tuple, sets.tolist())) == sorted(map(tuple, every.tolist()))


def test_slot_use_reports_spread():
    expected = {"min": 0, "max": 2, "mean": 1.0, "std": float(np.std([1, 2, 1, 0]))}
    assert slot_use(np.array([[0, 1], [1, 2]]), 4) == expected
    use = slot_use(random_sets(60, 6, limit=100), 60)  # rounds of permutations: counts differ by <= 1
    assert use["max"] - use["min"] <= 1 and use["mean"] == 10.0


# ----------------------------------------------------------------- capacity errors and seeds
@pytest.mark.parametrize("method", GUARANTEED)
def test_more_circuits_than_capacity_is_refused_with_the_maximum(method):
    cap = capacity(60, 5, method)
    asg = assign(cap, 60, 5, 2, seed=0, method=method)
    assert asg.sets.shape == (3, cap, 5)
    with pytest.raises(CircuitsError, match=f"at most {cap} circuits fit"):
        assign(cap + 1, 60, 5, 2, seed=0, method=method)


def test_random_capacity_is_the_number_of_subsets():
    assert capacity(12, 3, "random") == math.comb(12, 3)
    everything = random_sets(12, 3)
    assert len({tuple(s) for s in everything.tolist()}) == math.comb(12, 3)
    with pytest.raises(CircuitsError, match="at most 220 circuits fit"):
        assign(221, 12, 3, 2, seed=0, method="random")


@pytest.mark.parametrize("method", sorted(ASSIGNMENTS))
def test_assignment_is_deterministic_given_the_seed(method):
    a = assign(120, 100, 5, 3, seed=11, method=method)
    b = assign(120, 100, 5, 3, seed=11, method=method)
    c = assign(120, 100, 5, 3, seed=12, method=method)
    assert np.array_equal(a.sets, b.sets) and not np.array_equal(a.sets, c.sets)
    assert np.array_equal(random_sets(100, 5, limit=300, seed=1), random_sets(100, 5, limit=300, seed=1))
    assert not np.array_equal(random_sets(100, 5, limit=300, seed=1), random_sets(100, 5, limit=300, seed=2))


@pytest.mark.parametrize("method", sorted(ASSIGNMENTS))
def test_network_uses_the_first_sets_of_the_method_in_every_layer(method):
    """build(assignment=...) gives every layer a permutation of the method's first T sets."""
    T, n_slots, S = 100, 100, 5
    net = build(rotation_circuits(T, seed=0), width=4 * n_slots, redundancy=S, n_layers=3, seed=4, assignment=method)
    assert net.assignment.method == method and net.assignment.sets.shape == (4, T, S)
    first = sorted(map(tuple, np.sort(ASSIGNMENTS[method].sets(n_slots, S, limit=T), axis=1).tolist()))
    for layer in range(4):
        assert sorted(map(tuple, np.sort(net.assignment.sets[layer], axis=1).tolist())) == first
    if method != "random":
        assert max(max_shared(net.assignment.sets[layer], n_slots) for layer in range(4)) == 1


def test_random_sets_violations_are_detected():
    sets = random_sets(40, 5, limit=300)
    overlap = brute_force_overlap(sets, 40)
    assert overlap.max() >= 2  # 300 sets of 10 pairs each cannot avoid the 780 pairs of 40 slots
    assert max_shared(sets, 40) == 2
    pairs = Counter((a, b) for s in np.sort(sets, axis=1).tolist() for i, a in enumerate(s) for b in s[i + 1:])
    assert repeated_pairs(sets, 40) == sum(m - 1 for m in pairs.values()) > 0
    # few sets on many slots: a violation is possible but the count must still be exact
    sparse = random_sets(400, 4, limit=500)
    assert max_shared(sparse, 400) == min(2, brute_force_overlap(sparse, 400).max())
    pairs = Counter((a, b) for s in np.sort(sparse, axis=1).tolist() for i, a in enumerate(s) for b in s[i + 1:])
    assert repeated_pairs(sparse, 400) == sum(m - 1 for m in pairs.values())


# ----------------------------------------------------------------- plane subsets (75% of the bound)
def three_quarters_short(n_slots, redundancy):
    """Whether the finite-field capacity is below 75% of n (n - 1) / (S (S - 1))."""
    return 4 * capacity(n_slots, redundancy, "finite-field") * redundancy * (redundancy - 1) < 3 * n_slots * (n_slots - 1)


@pytest.mark.parametrize("q", [2, 3, 4, 5, 7, 8, 9])
def test_plane_lines_form_a_projective_plane(q):
    lines = plane_lines(q)
    N = q * q + q + 1
    assert lines.shape == (N, q + 1) and lines.min() == 0 and lines.max() == N - 1
    pairs = Counter((a, b) for s in lines.tolist() for i, a in enumerate(s) for b in s[i + 1:])
    assert len(pairs) == N * (N - 1) // 2 and set(pairs.values()) == {1}  # two points: one line


@pytest.mark.parametrize("n_slots,redundancy", sorted(PLANE_SUBSETS))
def test_plane_subsets_keep_the_guarantee_and_reach_three_quarters(n_slots, redundancy):
    q, _, _, _, mask = PLANE_SUBSETS[n_slots, redundancy]
    sets = finite_field_sets(n_slots, redundancy)
    cap = capacity(n_slots, redundancy, "finite-field")
    assert len(sets) == cap > _plan(n_slots, 0, redundancy)[0]  # replaces the recursion only where better
    assert not three_quarters_short(n_slots, redundancy)
    assert sets.min() >= 0 and sets.max() < n_slots and (np.diff(sets, axis=1) > 0).all()
    assert max_shared(sets, n_slots) == 1
    # exact count: each line carries the finite-field packing of its kept points
    points = decode_subset(mask)
    assert len(points) == n_slots and points.max() < q * q + q + 1
    kept = np.zeros(q * q + q + 1, dtype=bool)
    kept[points] = True
    lengths = kept[plane_lines(q)].sum(axis=1)
    assert cap == sum(capacity(int(m), redundancy, "finite-field") for m in lengths if m >= redundancy)
    for T in (1, cap // 3, cap):
        assert np.array_equal(finite_field_sets(n_slots, redundancy, limit=T), sets[:T])


def test_plane_subset_order_takes_the_least_used_slots_first():
    n_slots, redundancy = 139, 9
    sets = finite_field_sets(n_slots, redundancy)
    use = np.zeros(n_slots, dtype=np.int64)
    for k in range(len(sets)):
        most = use[sets[k:]].max(axis=1)
        assert most[0] == most.min()  # no later set had less-used slots
        use[sets[k]] += 1


@pytest.mark.slow
@pytest.mark.parametrize("key", [(133, 6), (105, 7), (139, 9)])
def test_search_reproduces_stored_plane_subsets(key):
    q, start, steps, seed, mask = PLANE_SUBSETS[key]
    n_slots, redundancy = key

    def value(length):
        return capacity(length, redundancy, "finite-field") if length >= redundancy else 0

    points = search_plane_subset(q, n_slots, redundancy, value, steps, seed, start)
    assert encode_subset(points) == mask


@pytest.mark.slow
def test_finite_field_reaches_three_quarters_of_the_bound_from_100_to_2000():
    short = [(n, S) for S in range(3, 11) for n in range(100, 2001) if three_quarters_short(n, S)]
    assert short == []
