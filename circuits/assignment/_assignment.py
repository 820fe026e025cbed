"""Assignment: which S of the D/d neuron slots each circuit owns, in each layer.

A *family of sets* is an array ``(n, S)`` of slot indices in ``0 .. D/d - 1`` in which any
two sets share at most one slot. An :class:`Assignment` gives every circuit one set of the
family in every layer (layer 0 is the input layout), through an independent random
permutation per layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..base import CircuitsError, Registry, require, require_int
from ._geometry import finite_field_capacity, finite_field_sets


def _small_primes(below: int) -> list[int]:
    return [p for p in range(2, below) if all(p % q for q in range(2, int(p**0.5) + 1))]


def _prime_step_steps(n_slots: int, redundancy: int) -> list[int]:
    """Step sizes of the prime-step construction, in the order they are used.

    A step qualifies when no prime below S divides it; when S is not prime, each qualifying
    step s is followed by ``s S, s S^2, ...``. Only steps with ``step (S-1) < n_slots`` fit.
    Two progressions of length S with different qualifying steps meet at most once.
    """
    S = redundancy
    primes = _small_primes(S)
    is_prime_S = S >= 2 and all(S % q for q in range(2, int(S**0.5) + 1))
    steps = []
    step = 1
    while step * (S - 1) < n_slots:
        if all(step % p for p in primes):
            steps.append(step)
            if not is_prime_S:
                power = step * S
                while power * (S - 1) < n_slots:
                    steps.append(power)
                    power *= S
        step += 1
    return steps


def prime_step_sets(n_slots: int, redundancy: int, limit: int | None = None) -> np.ndarray:
    """All sets of the prime-step construction, ``(n, S)``, in their canonical order.

    Each set is an arithmetic progression ``i, i + s, ..., i + (S-1) s`` inside
    ``0 .. n_slots-1``. For each step ``s`` (see :func:`_prime_step_steps`) and each offset
    ``0 <= shift < s``, the progressions start at ``shift, shift + S s, shift + 2 S s, ...``,
    so progressions with the same step never meet. ``limit`` stops after that many sets.

    Example:
        >>> len(prime_step_sets(250, 6)), len(prime_step_sets(500, 6))
        (557, 2101)
    """
    S = redundancy
    chunks = []
    total = 0
    offsets = np.arange(S)
    for step in _prime_step_steps(n_slots, S):
        span = step * (S - 1)
        n_shift = min(step, n_slots - span)
        shifts = np.arange(n_shift)
        counts = (n_slots - 1 - span - shifts) // (S * step) + 1
        starts = np.repeat(shifts, counts) + S * step * (
            np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        chunks.append(starts[:, None] + step * offsets[None, :])
        total += len(starts)
        if limit is not None and total >= limit:
            break
    if not chunks:
        return np.zeros((0, S), dtype=np.int64)
    sets = np.concatenate(chunks)
    return sets if limit is None else sets[:limit]


def _qualifying_steps(n_slots: int, redundancy: int) -> np.ndarray:
    """The steps of :func:`_prime_step_steps` as an array, in no particular order (vectorised)."""
    S = redundancy
    base = np.arange(1, -(-n_slots // (S - 1)), dtype=np.int64)
    base = base[base * (S - 1) < n_slots]
    for p in _small_primes(S):
        base = base[base % p != 0]
    if S >= 2 and any(S % q == 0 for q in range(2, int(S**0.5) + 1)):
        parts, power = [base], base * S
        while len(power := power[power * (S - 1) < n_slots]):
            parts.append(power)
            power = power * S
        base = np.concatenate(parts)
    return base


def _floor_sums(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``sum_{y=0}^{x} floor(y / q)`` elementwise (0 for x < 0), in closed form."""
    a, r = np.divmod(np.maximum(x, 0), q)
    return np.where(x < 0, 0, q * a * (a - 1) // 2 + a * (r + 1))


def prime_step_capacity(n_slots: int, redundancy: int) -> int:
    """How many circuits the prime-step construction can hold (exact count, in closed form per step).

    A step ``s`` with span ``s (S-1)`` has ``m = min(s, N - span)`` shifts; shift ``j`` starts
    ``floor((N - 1 - span - j) / (S s)) + 1`` progressions.

    Example:
        >>> prime_step_capacity(250, 6), prime_step_capacity(500, 6)
        (557, 2101)
    """
    S = redundancy
    if S < 2:
        return n_slots
    steps = _qualifying_steps(n_slots, S)
    span = steps * (S - 1)
    m = np.minimum(steps, n_slots - span)
    top = n_slots - 1 - span
    q = S * steps
    return int((m + _floor_sums(top, q) - _floor_sums(top - m, q)).sum())


def random_sets(n_slots: int, redundancy: int, limit: int | None = None, *, seed: int = 0) -> np.ndarray:
    """Random S-subsets of the slots, without the at-most-one-shared guarantee, ``(n, S)``.

    For comparison with the constructions that have the guarantee. The sets are drawn in
    rounds: each round cuts a fresh random permutation of the slots into ``n_slots // S``
    disjoint sets, so every prefix uses the slots evenly (as the constructions do) and only
    the guarantee differs. A set drawn before is skipped, so all sets are different. The
    sets depend only on ``(seed, n_slots, S, limit)``.
    ``limit=None`` means all ``C(n_slots, S)`` subsets (only sensible for tiny ``n_slots``).
    Rows are sorted. :func:`max_shared` and :func:`repeated_pairs` report the violations.

    Example:
        >>> sets = random_sets(30, 3, limit=100)
        >>> sets.shape, max_shared(sets, 30)
        ((100, 3), 2)
    """
    n = require_int("n_slots", n_slots, 1)
    S = require_int("redundancy", redundancy, 1, n)
    total = random_capacity(n, S)
    count = total if limit is None else min(require_int("limit", limit, 0), total)
    rng = np.random.default_rng([int(seed), n, S])
    per_round = n // S
    kept = np.zeros((0, S), dtype=np.int64)
    while len(kept) < count:
        rounds = -(-(count - len(kept)) // per_round) + 1
        perms = rng.permuted(np.broadcast_to(np.arange(n), (rounds, n)), axis=1)[:, :per_round * S]
        both = np.concatenate([kept, np.sort(perms.reshape(-1, S), axis=1)])
        _, first = np.unique(_row_keys(both, n), return_index=True)
        kept = both[np.sort(first)]
    return kept[:count]


def _row_keys(rows: np.ndarray, n_slots: int) -> np.ndarray:
    """One integer per sorted row: its digits in base ``n_slots`` when they fit in 63 bits,
    otherwise a 64-bit hash (two different rows then collide with probability ~ 2^-64)."""
    if n_slots ** rows.shape[1] < 2**63:
        return rows @ (n_slots ** np.arange(rows.shape[1], dtype=np.int64))
    weights = np.random.default_rng(0).integers(1, 2**63, size=rows.shape[1], dtype=np.uint64) | np.uint64(1)
    return (rows.astype(np.uint64) * weights).sum(axis=1)


def random_capacity(n_slots: int, redundancy: int) -> int:
    """``C(n_slots, S)``: random sets have no capacity limit short of using every S-subset once
    (nothing is guaranteed about how many slots two of them share)."""
    return math.comb(int(n_slots), int(redundancy))


@dataclass(frozen=True)
class AssignmentMethod:
    """An assignment method (an entry of :data:`ASSIGNMENTS`).

    Attributes:
        name: the name a spec writes (``assignment``).
        sets: ``(n_slots, S, limit) -> (n, S)``, the method's family of sets in its canonical order.
        capacity: ``(n_slots, S) -> int``, how many sets the family holds.
        help: one line for help texts.
        guaranteed: whether any two sets share at most one slot.
    """

    name: str
    sets: Callable[..., np.ndarray]
    capacity: Callable[[int, int], int]
    help: str
    guaranteed: bool = True

    def parse(self, arg: str | None, text: str) -> "AssignmentMethod":
        """The entry itself (an assignment method takes no argument)."""
        require(arg is None, f"assignment {self.name!r} takes no argument, got {text!r}", parameter="assignment")
        return self


#: Assignment methods by name. ``prime-step`` and ``finite-field`` guarantee that two sets share at most
#: one slot; ``random`` does not (its family is :func:`random_sets` with seed 0; :func:`assign`'s seed still
#: draws the per-layer permutations).
ASSIGNMENTS = Registry("assignment", [
    AssignmentMethod("prime-step", prime_step_sets, prime_step_capacity,
                     "arithmetic progressions with prime-free steps (the published construction)"),
    AssignmentMethod("finite-field", finite_field_sets, finite_field_capacity,
                     "lines over finite fields, near the packing bound"),
    AssignmentMethod("random", random_sets, random_capacity,
                     "random S-subsets: no guarantee on shared slots (for comparison)", guaranteed=False),
])


def capacity(n_slots: int, redundancy: int, method: str = "prime-step") -> int:
    """How many circuits ``method`` can place on ``n_slots`` slots with redundancy S."""
    entry = ASSIGNMENTS.entry(method)
    if redundancy == 1:
        return n_slots
    return entry.capacity(n_slots, redundancy)


def _sorted_pair_keys(sets: np.ndarray, n_slots: int) -> np.ndarray:
    """Every set's slot pairs ``(i < j)`` as the keys ``i n_slots + j``, sorted, ``(T S (S-1) / 2,)``."""
    sets = np.sort(np.asarray(sets, dtype=np.int64), axis=1)
    S = sets.shape[1]
    dtype = np.uint32 if n_slots * n_slots < 2**32 else np.int64
    sets = sets.astype(dtype)
    i, j = np.triu_indices(S, 1)
    keys = np.empty((len(sets), len(i)), dtype=dtype)
    for col, (a, b) in enumerate(zip(i, j)):
        np.multiply(sets[:, a], dtype(n_slots), out=keys[:, col])
        keys[:, col] += sets[:, b]
    keys = keys.ravel()
    keys.sort()
    return keys


def max_shared(sets: np.ndarray, n_slots: int) -> int:
    """The largest number of slots any two sets share (exact, without a T x T matrix).

    Two sets share two or more slots exactly when some pair of slots lies in both, so it is
    enough to check that the ``T S (S-1) / 2`` slot pairs are all different (one sort).
    Returns 0, 1 (the guarantee holds) or 2 (it fails: some two sets share two or more).

    Example:
        >>> max_shared(np.array([[0, 1, 2], [2, 3, 4]]), 5)
        1
    """
    sets = np.asarray(sets, dtype=np.int64)
    T, S = sets.shape
    if T < 2:
        return 0
    if len(np.unique(sets)) == sets.size:
        return 0
    if S < 2:
        return 1
    if T * (S * (S - 1) // 2) > n_slots * (n_slots - 1) // 2:
        return 2  # more slot pairs than there are: some pair repeats
    keys = _sorted_pair_keys(sets, n_slots)
    return 2 if bool(np.any(keys[1:] == keys[:-1])) else 1


def repeated_pairs(sets: np.ndarray, n_slots: int) -> int:
    """How often a pair of slots is held again by a later set: the sum over slot pairs of
    ``(number of sets holding it) - 1`` where positive. Zero exactly when any two sets share at
    most one slot; two sets that share ``m >= 2`` slots repeat ``m (m-1) / 2`` pairs.

    Example:
        >>> repeated_pairs(np.array([[0, 1, 2], [0, 1, 2], [1, 2, 3]]), 4)
        4
    """
    sets = np.asarray(sets, dtype=np.int64)
    if len(sets) < 2 or sets.shape[1] < 2:
        return 0
    keys = _sorted_pair_keys(sets, n_slots)
    return int(np.count_nonzero(keys[1:] == keys[:-1]))


def slot_use(sets: np.ndarray, n_slots: int) -> dict:
    """How evenly ``sets`` use the slots: min, max, mean and standard deviation of the number
    of sets per slot (over all ``n_slots`` slots).

    Example:
        >>> slot_use(np.array([[0, 1], [1, 2]]), 4)
        {'min': 0, 'max': 2, 'mean': 1.0, 'std': 0.7071067811865476}
    """
    counts = np.bincount(np.asarray(sets, dtype=np.int64).ravel(), minlength=n_slots)
    return {"min": int(counts.min()), "max": int(counts.max()), "mean": float(counts.mean()),
            "std": float(counts.std())}


@dataclass(frozen=True, eq=False)
class Assignment:
    """The neuron sets of every circuit in every layer.

    Attributes:
        sets: ``(L+1, T, S)`` slot indices; ``sets[l, t]`` is ``e[l, t]`` in compact form
            (``sets[0] == sets[1]``: layer 1 is the ReLU of layer 0 in place).
        n_slots: D/d, the slots per neuron group.
        method: the construction that produced the family of sets.
        seed: the seed of the per-layer permutations.
    """

    sets: np.ndarray
    n_slots: int
    method: str
    seed: int

    @property
    def n_circuits(self) -> int:
        return self.sets.shape[1]

    @property
    def redundancy(self) -> int:
        return self.sets.shape[2]

    def slot_counts(self, layer: int) -> np.ndarray:
        """How many circuits use each slot at ``layer``, shape ``(n_slots,)``."""
        return np.bincount(self.sets[layer].ravel(), minlength=self.n_slots)


def assign(n_circuits: int, n_slots: int, redundancy: int, n_layers: int, *, seed,
           method: str = "prime-step", same_every_layer: bool = False) -> Assignment:
    """Place T circuits on ``n_slots`` slots, S per circuit, for layers ``0..n_layers``.

    The first T sets of the method's family are used; each layer gives them to the circuits
    through its own random permutation (drawn from ``seed``). Layer 0 holds the first
    pre-activations and layer 1 is their ReLU, so ``sets[0]`` equals ``sets[1]``. When ``T S <= n_slots`` the
    circuits get disjoint consecutive sets instead, so no two circuits share a neuron.
    ``same_every_layer``: layer 1's permutation serves every layer (each circuit keeps one set for the
    whole depth; the sets of layers 0 and 1 are those the default draws).

    Raises:
        CircuitsError: T larger than the method's capacity (the message states it).
    """
    T = require_int("n_circuits", n_circuits, 1)
    S = require_int("redundancy", redundancy, 1, n_slots)
    L = require_int("n_layers", n_layers, 1)
    entry = ASSIGNMENTS.entry(method)
    if T * S <= n_slots:
        family = np.arange(T * S, dtype=np.int64).reshape(T, S)
    else:
        cap = capacity(n_slots, S, method)
        if T > cap:
            raise CircuitsError(
                f"n_circuits = {T} exceeds the capacity of the {method!r} assignment at "
                f"D/d = {n_slots}, S = {S}: at most {cap} circuits fit")
        family = entry.sets(n_slots, S, limit=T)
    require(family.shape == (T, S), f"assignment {method!r} returned {family.shape}, expected {(T, S)}")
    rng = np.random.default_rng(seed)
    if same_every_layer:
        sets = np.repeat(family[rng.permutation(T)][None], L + 1, axis=0)
    else:
        layers = [family[rng.permutation(T)] for _ in range(L)]
        sets = np.stack([layers[0]] + layers)  # layer 0 (first pre-activations) shares layer 1's sets
    return Assignment(sets=sets, n_slots=n_slots, method=method, seed=seed)
