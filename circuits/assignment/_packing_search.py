"""Packings from the lines of a projective plane, restricted to a searched subset of its points.

**Construction.** The projective plane PG(2, q) (``q`` a prime power) has ``q^2 + q + 1``
points and as many lines; every line holds ``q + 1`` points and two lines meet in exactly one
point. Keep a subset ``P`` of ``n`` points (the slots). A line keeps ``l = |L & P|`` of its
points, and carries a packing of S-sets on those ``l`` points (any two share at most one slot;
:func:`plane_subset_sets` takes the packing from a callable, e.g. the finite-field recursion):
one set for ``S <= l <= 2S - 2``, two for ``l = 2S - 1``, ... Two sets on the same line share
at most one slot by the packing; two sets on different lines share at most the lines' common
point. So the family keeps the guarantee whatever ``P`` is, and its size is
``sum_L value(|L & P|)``.

**Search.** :func:`search_plane_subset` chooses ``P`` by simulated annealing: swap a point of
``P`` with one outside when that does not lose too many sets (the loss allowed shrinks with a
temperature that falls linearly to zero). It starts from a transversal design inside the plane
(``S`` lines through one point, that point removed) with ``S q - n`` points removed along
parabolas ``y = x^2 + k`` (so that few lines lose two of them), or from random points. The random choices come from :class:`random.Random` with a fixed seed, so the
result depends only on the arguments.

The search is too slow to run on every call (a second to a minute per point), so the subsets
that the finite-field assignment uses are stored in :data:`PLANE_SUBSETS` (found by this
function with the arguments stored next to them; ``tests/assignment/test_methods.py`` checks
that the search reproduces some of them). They cover the ``(D/d, S)`` with ``100 <= D/d <=
2000`` and ``3 <= S <= 10`` where the recursion of :mod:`circuits.assignment._geometry` stays below 75%
of the packing bound ``n (n - 1) / (S (S - 1))``.

**Order.** :func:`plane_subset_sets` orders the sets greedily: each next set is the one whose
slots have been used least so far (largest use, then total use, then index), so that every
prefix uses the slots about evenly.
"""

from __future__ import annotations

import functools
import math
import random
from typing import Callable

import numpy as np

from ._field import galois_field


@functools.lru_cache(maxsize=None)
def plane_lines(q: int) -> np.ndarray:
    """The lines of PG(2, q) as ``(q^2 + q + 1, q + 1)`` point labels (rows sorted).

    Point labels: the affine point ``(x, y)`` is ``x q + y``; the point at infinity of the
    slope ``a`` is ``q^2 + a``; the vertical direction is ``q^2 + q``. Lines: ``y = a x + b``
    (``a q + b``), then ``x = c`` (``q^2 + c``), then the line at infinity (``q^2 + q``).

    Example:
        >>> plane_lines(2)  # the Fano plane
        array([[0, 2, 4],
               [1, 3, 4],
               [0, 3, 5],
               [1, 2, 5],
               [0, 1, 6],
               [2, 3, 6],
               [4, 5, 6]])
    """
    F = galois_field(q)
    a, b = np.divmod(np.arange(q * q), q)
    x = np.arange(q)
    sloped = np.concatenate([x * q + F.add(F.mul(a[:, None], x[None, :]), b[:, None]),
                             (q * q + a)[:, None]], axis=1)
    vertical = np.concatenate([x[:, None] * q + x[None, :], np.full((q, 1), q * q + q)], axis=1)
    infinity = (q * q + np.arange(q + 1))[None, :]
    lines = np.concatenate([sloped, vertical, infinity]).astype(np.int64)
    lines.sort(axis=1)
    lines.flags.writeable = False
    return lines


def _lines_through(q: int) -> np.ndarray:
    """``(q^2 + q + 1, q + 1)``: the lines through each point."""
    lines = plane_lines(q)
    order = np.argsort(lines.ravel(), kind="stable")
    return (order // (q + 1)).reshape(-1, q + 1)


def _start(q: int, n: int, S: int, rng: random.Random, start: str) -> list[int]:
    """The initial subset: ``S`` vertical lines ``x = 0 .. S-1`` (without their common point)
    less ``S q - n`` points on the parabolas ``y = x^2 + k`` (``start="design"``); random
    points for ``start="random"`` or when ``n > S q``."""
    if start == "random" or n > S * q or S > q:
        return sorted(rng.sample(range(q * q + q + 1), n))
    F = galois_field(q)
    removed = {j * q + int(F.add(F.mul(j, j), k // S))
               for k in range(S * q - n) for j in [k % S]}
    return [p for p in range(S * q) if p not in removed]


def search_plane_subset(q: int, n: int, S: int, value: Callable[[int], int], steps: int,
                        seed: int = 0, start: str = "design") -> np.ndarray:
    """``n`` points of PG(2, q) on whose lines ``sum_L value(|L & P|)`` is large (sorted labels).

    Args:
        q: the plane's order (a prime power), ``q^2 + q + 1 > n``.
        n: the number of points to keep (the slots).
        S: the set size (only used for the initial subset).
        value: ``value(l)``: how many S-sets a line with ``l`` kept points carries.
        steps: swaps tried by the annealing (0: the initial subset).
        seed: seeds :class:`random.Random`; same arguments, same subset.
        start: ``"design"`` (the truncated transversal design) or ``"random"`` (random points).
    """
    rng = random.Random(seed)
    N = q * q + q + 1
    lines, through = plane_lines(q), _lines_through(q)
    f = [value(length) for length in range(q + 2)]
    inside = _start(q, n, S, rng, start)
    kept = np.zeros(N, dtype=bool)
    kept[inside] = True
    outside = [p for p in range(N) if not kept[p]]
    count = kept[lines].sum(axis=1).tolist()
    score = sum(f[c] for c in count)
    best, best_inside = score, list(inside)
    for step in range(steps):
        temperature = 0.6 * (1 - step / steps)
        i, o = rng.randrange(n), rng.randrange(N - n)
        drop, add = through[inside[i]].tolist(), through[outside[o]].tolist()
        for L in drop:
            count[L] -= 1
        delta = sum(f[count[L]] - f[count[L] + 1] for L in drop)
        delta += sum(f[count[L] + 1] - f[count[L]] for L in add)
        if delta >= 0 or rng.random() < math.exp(delta / max(temperature, 1e-9)):
            for L in add:
                count[L] += 1
            inside[i], outside[o] = outside[o], inside[i]
            score += delta
            if score > best:
                best, best_inside = score, list(inside)
        else:
            for L in drop:
                count[L] += 1
    return np.array(sorted(best_inside), dtype=np.int64)


def plane_subset_sets(q: int, points: np.ndarray, S: int,
                      line_sets: Callable[[int], np.ndarray]) -> np.ndarray:
    """The sets carried by the lines of PG(2, q) on the kept ``points``, relabelled ``0..n-1``
    (the i-th smallest kept point is slot i), in the greedy even-use order; ``(count, S)``.

    ``line_sets(l)`` returns a packing of S-sets on ``0 .. l-1`` (``(k, S)``); each line uses
    it on its kept points.
    """
    points = np.asarray(points, dtype=np.int64)
    slot = np.full(q * q + q + 1, -1, dtype=np.int64)
    slot[points] = np.arange(len(points))
    parts = []
    for line in plane_lines(q):
        on = slot[line]
        on = on[on >= 0]
        if len(on) >= S:
            parts.append(on[line_sets(len(on))])
    if not parts:
        return np.zeros((0, S), dtype=np.int64)
    sets = np.sort(np.concatenate(parts), axis=1)
    return sets[_even_order(sets, len(points))]


def _even_order(sets: np.ndarray, n: int) -> np.ndarray:
    """A greedy order of ``sets`` in which each next set has the least-used slots so far."""
    use = np.zeros(n, dtype=np.int64)
    left = np.ones(len(sets), dtype=bool)
    order = np.empty(len(sets), dtype=np.int64)
    for k in range(len(sets)):
        counts = use[sets]
        key = np.where(left, counts.max(axis=1) * (n * len(sets) + 1) + counts.sum(axis=1), np.iinfo(np.int64).max)
        pick = int(np.argmin(key))
        order[k] = pick
        left[pick] = False
        use[sets[pick]] += 1
    return order


def encode_subset(points: np.ndarray) -> str:
    """The points as a hexadecimal bit mask (bit ``p`` set for point ``p``)."""
    return format(sum(1 << int(p) for p in points), "x")


def decode_subset(mask: str) -> np.ndarray:
    """The sorted points of a hexadecimal bit mask (inverse of :func:`encode_subset`).

    Example:
        >>> decode_subset(encode_subset(np.array([0, 5, 9])))
        array([0, 5, 9])
    """
    value = int(mask, 16)
    return np.array([p for p in range(value.bit_length()) if value >> p & 1], dtype=np.int64)


#: ``(n, S) -> (q, start, steps, seed, mask)``: the subset of PG(2, q) that
#: ``search_plane_subset(q, n, S, <finite-field packing count>, steps, seed, start)`` returns,
#: as a mask (see :func:`encode_subset`).
PLANE_SUBSETS: dict[tuple[int, int], tuple[int, str, int, int, str]] = {
    (133, 6): (23, "design", 0, 0, "3ffffffefffffffbffffffbfffffefffffe"),  # 448 sets (0.766 of the bound; recursion 437)
    (104, 7): (16, "random", 1000000, 0, "480208077447184041a034e4a346af0fdca0547927436ca103505f1671163a450202"),  # 198 sets (0.776 of the bound; recursion 191)
    (105, 7): (16, "design", 100000, 0, "cce882521400be0848d66000e0129586c34c60eeced254951040029a17d51a598736"),  # 199 sets (0.765 of the bound; recursion 192)
    (106, 7): (16, "design", 100000, 0, "1a68c8d44a10b00a0071e1130a06c019bd19626a88028254c68c6e0674532d5566578"),  # 200 sets (0.755 of the bound; recursion 198)
    (107, 7): (16, "random", 300000, 0, "19285081a1b6150f1fa03e192323660083c5a460186abcd4029a14d68f48093a081d8"),  # 208 sets (0.770 of the bound; recursion 198)
    (108, 7): (16, "design", 0, 0, "ffffffffffffffdfffeffffdfffe"),  # 212 sets (0.771 of the bound; recursion 205)
    (121, 8): (16, "design", 100000, 0, "35e8d9cc758bbccc88b08821001d70c7555ee70c0a154d08dc5919ba0131fc90b595"),  # 198 sets (0.764 of the bound; recursion 193)
    (122, 8): (16, "random", 100000, 0, "42049b835b19ed0a740b9ad89768f4d1bf134d99cbae00c00802ee9a2201bbd1e45a"),  # 206 sets (0.781 of the bound; recursion 193)
    (123, 8): (16, "design", 0, 0, "fffffffffffffff7ffdfffeffffdfffe"),  # 202 sets (0.754 of the bound; recursion 193)
    (136, 9): (16, "design", 100000, 0, "5a00a7636b59dc9d26f3561fb83e7bc3e3cdf28ed2508d2dc1603205090b936ef167"),  # 196 sets (0.769 of the bound; recursion 189)
    (137, 9): (16, "design", 100000, 0, "147aab6a75ea64c83309f12342c3061a77b34fec18b2bd4ad55575e6e6b15ec152a46"),  # 197 sets (0.761 of the bound; recursion 189)
    (138, 9): (16, "random", 100000, 0, "ac79ea8eeda10005d2f82b7fcf8680803b6b43040efdc65e87d6cd533c5e36f1599b"),  # 202 sets (0.769 of the bound; recursion 189)
    (139, 9): (16, "random", 100000, 0, "13cd714ddc9aab810607d274e0bcf11482b8e3f863697197917b4dcc36ab336f38727"),  # 210 sets (0.788 of the bound; recursion 189)
    (140, 9): (16, "design", 0, 0, "ffffffffffffffffffffffdfffeffffdfffe"),  # 207 sets (0.766 of the bound; recursion 201)
    (195, 9): (23, "random", 2000000, 5, "804adb282388f08421d1cd28c3861112ca77a834b00b768171027f5181cf50c6100c07da05f4104520854630e484049c0c64786a4420c0000000801229a276c0070fb1a8"),  # 404 sets (0.769 of the bound; recursion 394)
    (196, 9): (23, "random", 2000000, 10, "8201829d4a200524892739508e9c1cee0a5e066008414a52f072a43a1606da44509b8851c6234e14261aa8a0c67a1a8b0019003c470a50bc5894e14a0c08883a0910a0108"),  # 399 sets (0.752 of the bound; recursion 394)
    (197, 9): (23, "random", 2000000, 5, "1f2a0ee69a81024b901c71528e49a8321e0b0949110520040080108953e63042a21398330914f094c3000bd03784808dd692e80ca0691a1121c5ce0c842701081c84b8b80b2"),  # 403 sets (0.751 of the bound; recursion 394)
    (198, 9): (23, "random", 2000000, 6, "c281087181c4e68b13a49092144006af4df19cd070084b9518ca9da14b7c10178ab080a2f94040d1a12b18a360100200804710e410414ea8318001135e0a8a62e18332e450"),  # 407 sets (0.751 of the bound; recursion 394)
    (200, 9): (23, "random", 2000000, 6, "100d3010a28b463f8249350a8c80cb232310dc3206852a08c8f0cc234664a40762910e4b91acc1268828ab84e073a8200108c4be8980262f5940121c0186f8a0068146482c3"),  # 418 sets (0.756 of the bound; recursion 414)
    (201, 9): (23, "design", 0, 0, "7fffffffffffffffffffffdfefffffffbffffffbfffffefffffe"),  # 424 sets (0.759 of the bound; recursion 414)
    (106, 10): (11, "design", 0, 0, "3ffffffffffffffffbfffbffeffe"),  # 93 sets (0.752 of the bound; recursion 92)
    (150, 10): (16, "design", 100000, 0, "8e5cf6c3a3ca981dd7ca76e3c59ff4daaf8be6ed2d89d8883b88629b2abfe495db6a"),  # 189 sets (0.761 of the bound; recursion 184)
    (151, 10): (16, "design", 100000, 0, "18dfd892c76b3a59fee31759a39851d277e26c97ce13ec7ba7f8fdc99a4991805fcf2"),  # 193 sets (0.767 of the bound; recursion 186)
    (152, 10): (16, "design", 100000, 0, "1d783cf92db1ca81c789771500fabcc18b8fe52f73a7c37d34dcfaf4afb94336f5adc"),  # 195 sets (0.765 of the bound; recursion 186)
    (153, 10): (16, "design", 100000, 0, "142e8d92d8afdaf573b7547dabf1ae2ada1359e6db5d54a77abb2e6f629209d6a78d3"),  # 200 sets (0.774 of the bound; recursion 186)
    (154, 10): (16, "design", 100000, 0, "1cb1d5f386abc6c7cc7fb829d19ebdacaf2554cfa868194dbbe0b93e35fd31e7ee12f"),  # 207 sets (0.791 of the bound; recursion 187)
    (155, 10): (16, "random", 100000, 0, "301ab6f8a9026bb3bedaf37d7dc90368feaad95b36f67dfa52585f93efa17ab399e4"),  # 209 sets (0.788 of the bound; recursion 189)
    (219, 10): (23, "random", 1000000, 7, "104b490820027a4a493cb80b57432b648b9463b1c65540957a8541ba45021e1d028ccb22117aa4c0a0a129385972222718ac97464c858b66c0a53875045b60d56b04a08040e"),  # 404 sets (0.762 of the bound; recursion 396)
    (220, 10): (23, "random", 300000, 0, "f090b4c960fd0604b83fb2211c3b1af4b0464bc1c1908a6331632be482b28370150a3fa3805e466a0645e1880100c71a24520888210049e1a83ca93babe03dab20d2a21880"),  # 402 sets (0.751 of the bound; recursion 396)
    (221, 10): (23, "design", 1000000, 0, "a0f2c68090ca4222f0fe5202a2a4fc10acc55bc9b3548c842c1c25019889110b025e0b1d5b0cc99351a6ac0483cc33a227f0d7ba00000d5a82a2026b309f5a500948f0512d"),  # 408 sets (0.755 of the bound; recursion 396)
    (222, 10): (23, "random", 1000000, 0, "ed0e20cf042e347c0c0909282cec34da2e39125a2e998602a8052290f9288cd80c6074df29943c295d2a1a32382de830400f47e40400c75239285d3459417600c306e32c07"),  # 409 sets (0.750 of the bound; recursion 396)
    (223, 10): (23, "random", 300000, 0, "e2062f8f6a0420402500a25f82c54960b3d78078e6e051a911b318580257330b39706cd80d41838debc4681195d51d20209274b18af54122d8fe32a44cc23684a40a068a0a"),  # 414 sets (0.753 of the bound; recursion 396)
    (224, 10): (23, "design", 0, 0, "3fffffffffffffffffffffffffffdfefffffffbffffffbfffffefffffe"),  # 426 sets (0.768 of the bound; recursion 410)
}
