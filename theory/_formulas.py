"""The formulas. Each docstring states the assumptions the formula rests on."""

from __future__ import annotations

import math

#: The (group, quantity) pairs that ``predicted_mse`` knows.
QUANTITIES = (("active", "on"), ("active", "payload"), ("inactive", "on"), ("inactive", "payload"))


def load(n_circuits: int, width: int, circuit_width: int) -> float:
    """The dimensionless load ``T (d/D)^2``.

    The construction works (errors stay near theory) while the load is below about 0.004.
    """
    return n_circuits * (circuit_width / width) ** 2


def overlap_probability(n_circuits: int, width: int, circuit_width: int, redundancy: int) -> float:
    """``p = d/D - 1/(S T)``: the expected squared read-out leak from one other circuit.

    Two different circuits share on average ``S^2 p`` network neurons per group, so the
    read-out of one (an average over its ``S`` neurons) picks up a fraction ``p`` (in
    squared size) of the other's value. Assumes every neuron slot is used by the same number
    ``T S / (D/d)`` of circuits and the circuits are placed by independent random
    permutations; the exact mean over pairs of different circuits is then ``p T / (T-1)``. Returns 0 when ``T S <= D/d`` (then no two circuits need share a neuron).
    """
    n_slots = width / circuit_width
    if n_circuits * redundancy <= n_slots:
        return 0.0
    return circuit_width / width - 1.0 / (redundancy * n_circuits)


def chi_closed_form(n_circuits: int, width: int, circuit_width: int, redundancy: int) -> float:
    """The chi correction predicted from the density of the capped pattern.

    The capped 0/1 pattern ``C`` has about ``T S^2`` ones among ``(D/d)^2`` entries. If a
    cross-circuit pair of neurons hits a one with probability ``q`` equal to that density,
    then ``chi = q / (1 - q)`` makes ``C - chi (J - C)`` average to zero over such pairs.
    Assumes pairs of circuits rarely share a pair of neurons (true when ``T S^2 << (D/d)^2``).
    """
    n_slots = width / circuit_width
    q = -math.expm1(n_circuits * redundancy**2 * math.log1p(-1.0 / n_slots**2))
    return q / (1.0 - q)


def chi_from_counts(cross_hits: float, n_circuits: int, redundancy: int) -> float:
    """Exact chi from a given assignment.

    ``cross_hits`` is ``sum over t != u of e[l,t]^T C e[l-1,u]``: how many of the
    ``T (T-1) S^2`` cross-circuit neuron pairs land on a one of the capped pattern ``C``.
    Choosing ``chi = hits / (pairs - hits)`` makes the shared part add no net interference
    summed over all ordered pairs of different circuits.
    """
    pairs = n_circuits * (n_circuits - 1) * redundancy**2
    if pairs == 0 or cross_hits == 0:
        return 0.0
    return cross_hits / (pairs - cross_hits)


def packing_bound(n_slots: int, redundancy: int) -> int:
    """At most ``N (N-1) / (S (S-1))`` S-subsets of N slots pairwise share at most one slot.

    Each subset covers ``S (S-1)`` ordered pairs of slots and no ordered pair may be covered
    twice.
    """
    if redundancy < 2:
        return n_slots
    return (n_slots * (n_slots - 1)) // (redundancy * (redundancy - 1))


def predicted_mse(
    group: str,
    quantity: str,
    layer: int,
    n_circuits: int,
    width: int,
    circuit_width: int,
    redundancy: int,
    n_active: int,
) -> float | None:
    """Predicted mean squared error of one read-out quantity at one layer.

    ``group`` is ``"active"`` or ``"inactive"``, ``quantity`` ``"on"`` (the on-indicator) or
    ``"payload"`` (for rotation circuits, the rotated 2-vector; the error is its L2 norm).
    With ``p`` from :func:`overlap_probability`, ``z = n_active``, ``T = n_circuits``:

    - inactive, on and payload: ``z p`` at every layer >= 1;
    - active on-indicator: 0 (the 2-ReLU step restores it each layer);
    - active payload: ``(l-1) T p^2 (z + 8 (z-1)) + 9 l p (z-1)``.

    Assumes noise never switches on a neuron that no active circuit uses, so it undershoots
    once errors grow (typically beyond layer 1 and for loads above ~0.004). Derived for the
    rotation circuits (d = 4); for other families only the inactive rows and the active
    on-indicator row apply, and the active payload returns ``None``. Layer 0 (the input) has
    zero error.
    """
    if (group, quantity) not in QUANTITIES:
        raise ValueError(f"unknown (group, quantity) = ({group!r}, {quantity!r}); known: {QUANTITIES}")
    if layer < 0:
        raise ValueError(f"layer must be >= 0, got {layer}")
    if layer == 0:
        return 0.0
    p = overlap_probability(n_circuits, width, circuit_width, redundancy)
    z = n_active
    if group == "inactive":
        return z * p
    if quantity == "on":
        return 0.0
    if circuit_width != 4:
        return None
    return (layer - 1) * n_circuits * p**2 * (z + 8 * (z - 1)) + 9 * layer * p * (z - 1)


#: The active payload MSE at the last computation layer above which the ``payload-mse`` criterion fails (an RMS
#: error of 0.22 on a unit payload: about 13 degrees on a rotated vector).
PAYLOAD_MSE_LEVEL = 0.05


def gated_payload_mse(layer: int, n_circuits: int, width: int, circuit_width: int, redundancy: int,
                      n_active: int) -> float:
    """Predicted active payload MSE at computation layer ``layer`` for the ``gated`` weights (rotation circuits).

    With fixed slots, exact on-indicators and each circuit's own weights on pairs of its distinct slots, two
    sources of error remain, both first order in the overlap:

    - slots shared by two active circuits: at layer 1 the inputs of the circuits that share a slot add up,
      as for every construction (the ``9 l p (z - 1)`` term of :func:`predicted_mse` at ``l = 1``); with
      fixed slots the same shared slots are read again at every layer, so this term does not grow;
    - inactive circuits that own one slot of each of two active circuits: each such circuit ``u`` adds
      ``R_u x / (S - 1)`` of the other's payload to one slot of an active circuit, at every layer from 2 on.
      An active slot lies in about ``lambda S^2 (S - 1)`` such bridges per other active circuit
      (``lambda = T / n^2``, ``n = D/d``), and the read-out averages ``S`` slots, so each layer adds
      ``(z - 1) lambda S / (S - 1)`` to the mean square, the rotations making the layers' terms independent.

    So ``MSE(l) = 9 p (z - 1) + (l - 1)(z - 1) lambda S / (S - 1)`` (``p`` of :func:`overlap_probability`), 0 at
    ``l = 0`` and for ``z = 1``. Measured (rotation, S = 6, z = 2..3, loads 0.004..0.016, D = 2000..32,000,
    L = 4): within 15% at every layer >= 2.

    Example:
        >>> round(gated_payload_mse(4, 16000, 8000, 4, 6, 2), 4)
        0.0188
    """
    if layer <= 0 or n_active <= 1:
        return 0.0
    S, z = redundancy, n_active
    lam = n_circuits * (circuit_width / width) ** 2
    p = overlap_probability(n_circuits, width, circuit_width, redundancy)
    return 9.0 * p * (z - 1) + (layer - 1) * (z - 1) * lam * S / max(S - 1, 1)
