"""The finite-field assignment: lines of finite planes, with the leftover slots filled recursively.

**Lines.** Take a prime power ``q >= S - 1`` and ``S`` *groups* of ``q`` slots; slot ``y`` of
group ``j`` is the point ``(x_j, y)`` with ``x_j`` one of ``S`` distinct field elements
(``x_j = 0 .. S-1``; when ``S = q + 1`` the last group is the "point at infinity" of each
slope, ``(inf, a)``). Each circuit is a line ``y = a x + b``, ``(a, b)`` in ``GF(q)^2``: it
owns ``(x_j, a x_j + b)`` in every finite group (and ``(inf, a)``). Two different lines meet
at most once: with equal slopes they are parallel (and ``(inf, a)`` is their only common
point), with different slopes ``a x + b = a' x + b'`` has the single solution
``x = (b' - b)/(a - a')``. These ``q^2`` sets form a *transversal design*: any two slots
in different groups lie together in exactly one set, and no set holds two slots of one group.

**Truncation.** With ``(S - 1) q < n < S q`` slots the last group keeps only ``u`` of its
``q`` slots and the lines through the others are dropped: ``q u`` sets.

**Recursive filling.** The lines use every pair of slots in different groups, so new sets may
hold several slots of *one* group and nothing of the others. The slots left over
(``n - S q``) form a *hole*: each fill set may contain at most one hole slot. Then

- fill sets of two different groups share at most one slot (a hole slot);
- a fill set and a line share at most one slot (the line meets a group once, holes never);
- within a group the fill is itself a packing (on the group plus the hole), built the same way.

The recursion :func:`_plan` maximises the count over a few constructions (below) for every
``(g, r, S)``: ``g`` *main* slots plus a hole of ``r`` slots, where every set has at most one
hole slot and no set lies inside the hole. Its result is :func:`finite_field_capacity`,
and :func:`finite_field_sets` builds exactly that many sets.

- ``"pairs"`` (S = 2): every pair of main slots and every (main, hole) pair.
- ``"sunflower"``: sets through one common slot (a hole slot when there is one), otherwise
  disjoint.
- ``"td"``: a (truncated) transversal design on the main slots; its leftover main slots join
  the hole of the group fills, and are filled among themselves with the outer hole.
- ``"td-hole"``: a transversal design whose last group lies *in the hole* (``v = min(r, q)``
  hole slots): its sets hold exactly one hole slot; the unused hole slots and the leftover
  main slots form the groups' hole.
- ``"extend"``: an (S-1)-packing of the main slots, each set completed by its own hole slot.
- ``"mixed"`` (no hole): lines on ``S`` full groups; the leftover carries a transversal design
  of ``(S - j)``-sets whose parallel classes are joined, one class per group, with a
  ``j``-packing of that group (see :func:`_build_mixed` for why this keeps the guarantee).

**Order.** :func:`finite_field_sets` returns the sets in an order in which every prefix uses
the slots about evenly (the assignment uses the first T sets): lines come in parallel classes
(each class uses every slot of the finite groups once), and the parts of the construction
are interleaved in proportion to their sizes (set ``i`` of a part with ``m`` sets sits at
``(i + phase) / m``, see :class:`_Union`), so a prefix holding a fraction ``f`` of all sets
holds a fraction ``f`` of every part up to rounding (part ``k`` of ``m_k`` sets is off by
less than ``1 + K m_k / M`` sets, for ``K`` parts of ``M`` sets in all). Each group's fill sees the
shared hole rotated by a different amount, so that the fills do not all lean on the same
hole slots at the same moments.

**Plane subsets.** Just below ``S q'`` (``q'`` a prime power) the recursion can fall under 75%
of the packing bound ``n (n - 1) / (S (S - 1))`` (33 of the ``(n, S)`` with ``100 <= n <= 2000``,
``3 <= S <= 10``, all ``n <= 224``, ``S >= 6``). There the family is the lines of a projective
plane PG(2, q) restricted to a searched subset of ``n`` of its points, each line carrying this
module's packing of its kept points (see :mod:`circuits.assignment._packing_search`; the subsets are
stored in ``PLANE_SUBSETS``). It replaces the recursion only where it holds more sets.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass

import numpy as np

from ..base import require_int
from ._field import galois_field, prime_powers
from ._packing_search import PLANE_SUBSETS, decode_subset, plane_subset_sets

#: How many prime powers on each side of ``g / S`` the recursion tries.
_CANDIDATES = 2


def _prime_powers_to(n: int) -> tuple[int, ...]:
    return prime_powers(1 << max(int(n), 2).bit_length())


def _candidates(split: int, high: int, low: int) -> list[int]:
    """The ``_CANDIDATES`` largest prime powers ``<= split`` and smallest in ``(split, high]``,
    all ``>= low``."""
    pp = _prime_powers_to(high)
    i = bisect.bisect_right(pp, split)
    j = bisect.bisect_right(pp, high)
    return [q for q in pp[max(0, i - _CANDIDATES):min(j, i + _CANDIDATES)] if q >= low]


@functools.lru_cache(maxsize=None)
def _plan(g: int, r: int, S: int) -> tuple[int, tuple]:
    """``(count, recipe)``: the most S-sets this module builds on ``g`` main slots plus a hole
    of ``r`` slots (at most one hole slot per set, none inside the hole). See the module
    docstring for the recipes; ties go to the first in the order listed there."""
    if S == 2:
        return g * (g - 1) // 2 + g * r, ("pairs",)
    if g < S - 1 or (r == 0 and g < S):
        return 0, ("none",)
    best = (g // (S - 1) if r else (g - 1) // (S - 1)), ("sunflower",)
    for q in _candidates(g // S, (g - 1) // (S - 1), S - 1):
        u = min(q, g - (S - 1) * q)
        rest = g - (S - 1) * q - u
        count = (q * u + (S - 1) * _plan(q, r + rest, S)[0] + _plan(u, r + rest, S)[0]
                 + _plan(rest, r, S)[0])
        if count > best[0]:
            best = count, ("td", q)
    if r:
        for q in _candidates(g // (S - 1), g // (S - 1), S - 1):
            v = min(r, q)
            rest = g - (S - 1) * q
            count = q * v + (S - 1) * _plan(q, r - v + rest, S)[0] + _plan(rest, r, S)[0]
            if count > best[0]:
                best = count, ("td-hole", q)
        count = min(r, _plan(g, 0, S - 1)[0])
        if count > best[0]:
            best = count, ("extend",)
    else:
        for q in _candidates(g // S, g // S, S - 1):
            for j in range(2, S - 1):
                for q_rest in _candidates((g - S * q) // (S - j), (g - S * q) // (S - j), S - j):
                    count = _mixed_count(g, S, q, j, q_rest)
                    if count > best[0]:
                        best = count, ("mixed", q, j, q_rest)
    return best


def _mixed_count(g: int, S: int, q: int, j: int, q_rest: int) -> int:
    """Sets of the ``"mixed"`` recipe (see :func:`_build_mixed`)."""
    rest = g - S * q
    spare = rest - (S - j) * q_rest
    classes = min(S, q_rest)
    return (q * q + classes * min(q_rest, _plan(q, 0, j)[0]) + (S - classes) * _plan(q, rest, S)[0]
            + (S - j) * _plan(q_rest, spare, S)[0] + _plan(spare, 0, S)[0])


# ----------------------------------------------------------------- the parts of a family
@dataclass(frozen=True, eq=False)
class _Lines:
    """Lines ``y = a x + b`` over GF(q) through ``S`` groups; the last group may be truncated.

    ``groups[j]`` holds the slot labels of group ``j`` (``q`` of them; the last may hold
    ``u <= q``: points with ``y >= u`` are missing and so are the lines through them).
    ``xs[j]`` is the group's coordinate, ``q`` standing for infinity.
    """

    q: int
    xs: tuple[int, ...]
    groups: tuple[np.ndarray, ...]

    @property
    def size(self) -> int:
        return self.q * len(self.groups[-1])

    def blocks(self, count: int, start: int = 0) -> np.ndarray:
        """Sets ``start .. start + count - 1`` of this part."""
        F, q, u = galois_field(self.q), self.q, len(self.groups[-1])
        i = np.arange(start, start + count, dtype=np.int64)
        if self.xs[-1] == q:           # truncated group at infinity: keep slopes a < u
            a, b = i // q, i % q
        else:                          # keep the lines with y < u in the last group
            a, y_last = i // u, i % u  # one parallel class (slope a) after another
            b = F.add(y_last, F.neg(F.mul(a, self.xs[-1])))
        cols = [labels[a] if x == q else labels[F.add(F.mul(a, x), b)]
                for x, labels in zip(self.xs, self.groups)]
        return np.stack(cols, axis=1)


@dataclass(frozen=True, eq=False)
class _Sunflower:
    """Sets ``{center} + petal_i``, the petals disjoint runs of ``width - 1`` slots."""

    center: int
    petals: np.ndarray
    width: int

    @property
    def size(self) -> int:
        return len(self.petals) // (self.width - 1)

    def blocks(self, count: int) -> np.ndarray:
        petals = self.petals[:count * (self.width - 1)].reshape(count, self.width - 1)
        return np.concatenate([np.full((count, 1), self.center, dtype=np.int64), petals], axis=1)


@dataclass(frozen=True, eq=False)
class _Pairs:
    """All pairs of ``main`` slots, then all (main, hole) pairs.

    Main pairs come in difference classes ``(i, i + s mod g)``, each of which uses every slot
    twice (once for ``s = g/2``); the (main, hole) pairs come in rounds that use every main
    slot once.
    """

    main: np.ndarray
    hole: np.ndarray

    @property
    def size(self) -> int:
        g = len(self.main)
        return g * (g - 1) // 2 + g * len(self.hole)

    def blocks(self, count: int) -> np.ndarray:
        g, r = len(self.main), len(self.hole)
        inner = g * (g - 1) // 2
        k = np.arange(min(count, inner), dtype=np.int64)
        shift, i = k // g + 1, k % g
        out = [np.stack([self.main[i], self.main[(i + shift) % g]], axis=1)]
        k = np.arange(max(0, count - inner), dtype=np.int64)
        i, rounds = k % g, k // g
        out.append(np.stack([self.main[i], self.hole[(rounds + i) % max(r, 1)]], axis=1))
        return np.concatenate(out)


@dataclass(frozen=True, eq=False)
class _Extend:
    """The first ``len(extra)`` sets of ``inner``, each completed by its own slot of ``extra``."""

    inner: object
    extra: np.ndarray

    @property
    def size(self) -> int:
        return len(self.extra)

    def blocks(self, count: int) -> np.ndarray:
        return np.concatenate([self.inner.blocks(count), self.extra[:count, None]], axis=1)


@dataclass(frozen=True, eq=False)
class _Mixed:
    """The first ``size`` sets of ``inner`` (on one group), each joined with one line of the
    parallel class ``slope`` of ``lines`` (a transversal design on other slots)."""

    inner: object
    lines: _Lines
    slope: int
    size: int

    def blocks(self, count: int) -> np.ndarray:
        return np.concatenate([self.inner.blocks(count), self.lines.blocks(count, self.slope * self.lines.q)],
                              axis=1)


@dataclass(frozen=True, eq=False)
class _Union:
    """Several parts on their own slots, interleaved in proportion to their sizes.

    Set ``i`` of a part with ``m`` sets sits at position ``(i + phase) / m``; the phases
    (in ``[0, 1)``) differ between parts so that small parts do not all land together.
    """

    parts: tuple
    width: int
    phases: tuple[float, ...]

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    def blocks(self, count: int) -> np.ndarray:
        if count == 0:
            return np.zeros((0, self.width), dtype=np.int64)
        sizes = np.array([p.size for p in self.parts], dtype=np.int64)
        total, K = int(sizes.sum()), len(self.parts)
        # enough candidates per part: the count-th smallest position is <= (count + K) / total
        take = np.minimum(sizes, (count + K) * sizes // total + 2)
        part = np.repeat(np.arange(K), take)
        index = np.arange(int(take.sum())) - np.repeat(np.cumsum(take) - take, take)
        position = (index + np.asarray(self.phases)[part]) / sizes[part]
        chosen = np.lexsort((index, part, position))[:count]
        out = np.empty((count, self.width), dtype=np.int64)
        for k, p in enumerate(self.parts):
            mine = part[chosen] == k  # in output order, part k's sets come in its own order
            out[mine] = p.blocks(int(mine.sum()))
        return out


#: Phases of the parts of a union: multiples of the golden ratio, modulo 1 (well spread).
_GOLDEN = (5**0.5 - 1) / 2


def _union(parts, width, key: int = 0):
    """The parts as one (interleaved) part; ``key`` (a slot label) varies the phases between
    sibling unions, so that they do not use their shared hole slots at the same moments."""
    parts = tuple(p for p in parts if p.size > 0)
    if len(parts) == 1:
        return parts[0]
    phases = tuple(((key * len(parts) + k + 1) * _GOLDEN) % 1.0 for k in range(len(parts)))
    return _Union(parts, width, phases)


def _build(main: np.ndarray, hole: np.ndarray, S: int):
    """The part that :func:`_plan` chose for these main and hole slots."""
    g, r = len(main), len(hole)
    count, recipe = _plan(g, r, S)
    kind = recipe[0]
    if kind == "none":
        return _union((), S)
    if kind == "pairs":
        return _Pairs(main, hole)
    if kind == "sunflower":
        if r:
            return _Sunflower(int(hole[0]), main[:count * (S - 1)], S)
        return _Sunflower(int(main[0]), main[1:1 + count * (S - 1)], S)
    if kind == "extend":
        return _Extend(_build(main, hole[:0], S - 1), hole[:count])
    if kind == "mixed":
        return _build_mixed(main, S, *recipe[1:])
    q = recipe[1]
    full = [main[j * q:(j + 1) * q] for j in range(S - 1)]
    if kind == "td":
        u = min(q, g - (S - 1) * q)
        last = main[(S - 1) * q:(S - 1) * q + u]
        rest = main[(S - 1) * q + u:]
        inner_hole = np.concatenate([rest, hole])
        fills = [_build(group, _turn(inner_hole, i, S), S) for i, group in enumerate(full + [last])]
    else:  # "td-hole"
        last = hole[:min(r, q)]
        rest = main[(S - 1) * q:]
        inner_hole = np.concatenate([rest, hole[len(last):]])
        fills = [_build(group, _turn(inner_hole, i, S - 1), S) for i, group in enumerate(full)]
    lines = _Lines(q, _coordinates(q, S), tuple(full) + (last,))
    return _union([lines] + fills + [_build(rest, hole, S)], S, int(main[0]))


def _turn(hole: np.ndarray, i: int, n: int) -> np.ndarray:
    """The hole of fill ``i`` of ``n``, rotated by ``i/n`` of its length.

    Fills built by the same recipe use their hole slots in the same places (the first ``v``
    for a design with a group in the hole, slot ``k`` with the ``k``-th set when extending);
    rotating the hole per fill spreads that use over all hole slots, and over time.
    """
    return np.roll(hole, -(i * len(hole)) // n)


def _coordinates(q: int, S: int) -> tuple[int, ...]:
    """The groups' x-coordinates: ``0 .. S-1``, or every element and infinity when ``S = q + 1``."""
    return tuple(range(S)) if S <= q else tuple(range(q)) + (q,)


def _build_mixed(main: np.ndarray, S: int, q: int, j: int, q_rest: int):
    """Lines on ``S`` groups of ``q`` slots, and sets that join ``j`` slots of one group with
    ``S - j`` slots of the leftover.

    The leftover carries its own transversal design of ``(S - j)``-sets (``S - j`` groups of
    ``q_rest`` slots, all coordinates finite, so each slope is a class of disjoint sets).
    Group ``i < min(S, q_rest)`` gets the class of slope ``i``: its sets are
    ``A + B`` with ``A`` from a ``j``-packing of the group and ``B`` a line of that class.
    Two such sets share at most one slot: in one group the ``A`` share at most one and the
    ``B`` none; across groups the ``A`` are disjoint and two lines meet at most once; a line
    of the main design meets a group once and never the leftover. The other groups are filled
    as usual with the whole leftover as their hole (their sets hold at most one leftover
    slot). Inside the leftover, the groups of its design (whose pairs no line uses) are filled
    with the spare slots as a hole, and the spare slots among themselves.
    """
    groups = [main[i * q:(i + 1) * q] for i in range(S)]
    rest = main[S * q:]
    k = S - j
    rest_groups = [rest[i * q_rest:(i + 1) * q_rest] for i in range(k)]
    spare = rest[k * q_rest:]
    rest_lines = _Lines(q_rest, _coordinates(q_rest, k), tuple(rest_groups))
    classes = min(S, q_rest)
    parts = [_Lines(q, _coordinates(q, S), tuple(groups))]
    for i, group in enumerate(groups):
        if i < classes:
            inner = _build(group, rest[:0], j)
            parts.append(_Mixed(inner, rest_lines, i, min(q_rest, inner.size)))
        else:
            parts.append(_build(group, _turn(rest, i, S), S))
    parts += [_build(group, _turn(spare, i, k), S) for i, group in enumerate(rest_groups)]
    parts.append(_build(spare, rest[:0], S))
    return _union(parts, S, int(main[0]))


@functools.lru_cache(maxsize=None)
def _plane_family(n: int, S: int) -> np.ndarray | None:
    """The stored plane-subset family for ``(n, S)`` in its order (read-only), or None when
    there is none or it holds no more sets than the recursion."""
    entry = PLANE_SUBSETS.get((n, S))
    if entry is None:
        return None
    sets = plane_subset_sets(entry[0], decode_subset(entry[4]), S, lambda length: finite_field_sets(length, S))
    if len(sets) <= _plan(n, 0, S)[0]:
        return None
    sets.flags.writeable = False
    return sets


# ----------------------------------------------------------------- public functions
def finite_field_capacity(n_slots: int, redundancy: int) -> int:
    """How many sets :func:`finite_field_sets` builds on ``n_slots`` slots (exact count).

    Example:
        >>> finite_field_capacity(250, 6), finite_field_capacity(500, 6)
        (1969, 8017)
        >>> finite_field_capacity(7 * 3, 3)  # 7^2 lines on 3 groups of 7, plus 3 x 7 in the groups
        70
    """
    n = require_int("n_slots", n_slots, 1)
    S = require_int("redundancy", redundancy, 1)
    if S == 1:
        return n
    plane = _plane_family(n, S)
    return _plan(n, 0, S)[0] if plane is None else len(plane)


def finite_field_sets(n_slots: int, redundancy: int, limit: int | None = None) -> np.ndarray:
    """The sets of the finite-field assignment, ``(n, S)``, in their canonical order.

    Any two sets share at most one slot (see the module docstring for the construction and
    the proof); every prefix of the order uses the slots about evenly. ``limit`` returns only
    the first ``limit`` sets (computed directly, without building the rest). Rows are sorted.

    Example:
        >>> finite_field_sets(9, 3, limit=4)  # groups x = 0, 1, 2: slots 0-2, 3-5, 6-8
        array([[0, 3, 6],
               [1, 4, 7],
               [0, 1, 2],
               [2, 5, 8]])
    """
    n = require_int("n_slots", n_slots, 1)
    S = require_int("redundancy", redundancy, 1)
    cap = finite_field_capacity(n, S)
    count = cap if limit is None else min(require_int("limit", limit, 0), cap)
    if S == 1:
        return np.arange(count, dtype=np.int64)[:, None]
    if count == 0:
        return np.zeros((0, S), dtype=np.int64)
    plane = _plane_family(n, S)
    if plane is not None:
        return plane[:count].copy()
    part = _build(np.arange(n, dtype=np.int64), np.zeros(0, dtype=np.int64), S)
    return np.sort(part.blocks(count), axis=1)
