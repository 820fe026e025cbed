"""Sparse propagation kernels of the forward pass (torch), independent of any weight scheme.

Activations are held slot-major, ``(b, N, d)`` with ``N = D/d``: row ``n`` of a sample holds the
``d`` neurons of slot ``n`` (one per neuron group). In the working regime almost every neuron is
off, so a layer starts from the nonzero slots of each sample and reaches, through the slot ->
circuit incidence, only the circuits that touch one of them (:func:`touched`): their input
sums ``e[l-1,t]^T A`` are the only per-circuit work. A sample whose nonzero slots reach many
circuits (a seizure) is cheaper to handle densely: every circuit at once, by a sparse product
with the incidence matrix. On the CPU the work for one sample is done in the same order
whatever else is in the batch, so results do not depend on how a batch is chunked.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import torch

#: Most (circuit, nonzero slot) incidences expanded at once (bounds the memory of one step).
PAIR_BUDGET = 1 << 21
#: A sample whose nonzero slots reach more than this fraction of the ``T S`` (circuit, slot)
#: incidences has every circuit read directly (cheaper than walking the incidences).
DENSE_FRACTION = 0.1
#: A chunk whose nonzero slots are more than this fraction of its ``b N`` slots has a scheme's corrections on
#: slot pairs (:func:`add_slot_pairs`) applied to every slot at once, pair by pair, rather than walked from each
#: nonzero slot (measured: the walk costs about ten times as much per pair and slot).
DENSE_PAIRS = 0.1
#: Widths ``d`` up to which :func:`matvec` applies per-row matrices to many vectors elementwise (torch's ``bmm``
#: takes its plain loop for 16 vectors of such ``d``, and the elementwise form gives the same bits faster).
SMALL_BLOCK = 4
#: Most floats in one temporary array of a dense step (bounds its memory: 16 MB).
DENSE_BUDGET = 1 << 22


class Touched(NamedTuple):
    """The circuits that touch a nonzero neuron slot at one layer, for a chunk of samples.

    Every other circuit has all its neurons off there. Samples with many nonzero slots are
    held densely instead: every circuit's sum (``dense``, ``dense_sums``).

    Attributes:
        sample: ``(Q,)`` row of the chunk (samples not in ``dense``).
        circuit: ``(Q,)`` circuit index.
        sums: ``(Q, d)`` ``e[l,t]^T A`` per group (the read-out before its scaling).
        total: ``(b, d)`` sum of the activations over all slots, per group.
        rows: ``(n,)`` flat index ``sample * N + slot`` of the nonzero slots (all samples).
        values: ``(n, d)`` their activations.
        dense: ``(m,)`` rows of the chunk held densely.
        dense_sums: ``(T, m, d)`` ``e[l,t]^T A`` of every circuit for those samples.
        acts: ``(b, N, d)`` the activations themselves (slot-major).
    """

    sample: torch.Tensor
    circuit: torch.Tensor
    sums: torch.Tensor
    total: torch.Tensor
    rows: torch.Tensor
    values: torch.Tensor
    dense: torch.Tensor
    dense_sums: torch.Tensor
    acts: torch.Tensor


class Incidence(NamedTuple):
    """The slot <-> circuit incidence of one layer (torch, on the forward pass's device).

    Attributes:
        sets: ``(T, S)`` every circuit's slots.
        indptr: ``(N + 1,)`` CSR row pointers of slot -> circuits.
        users: ``(T S,)`` the circuits of each slot, slot by slot.
        by_circuit: ``(T, N)`` sparse CSR 0/1 matrix ``e[t]`` (sums every circuit's slots at once).
        by_position: ``(S, T)`` ``sets`` transposed, contiguous: row ``s`` holds the ``s``-th slot of every circuit.
    """

    sets: torch.Tensor
    indptr: torch.Tensor
    users: torch.Tensor
    by_circuit: torch.Tensor
    by_position: torch.Tensor


class CouplingTable(NamedTuple):
    """One layer's couplings (every circuit's own block and every cross-circuit edge), CSR by sender (torch).

    Attributes:
        indptr: ``(T + 1,)`` where each sender's couplings start.
        receiver: ``(C,)`` the receiving circuit of each coupling.
        sender: ``(C,)`` its sending circuit.
        block: ``(C, d, d)`` its weight block (a circuit's own block, or an edge's ``B / S``).
        writes: ``(N, C)`` sparse 0/1: the slots each coupling writes (its receiver's slots).
        every_circuit_once: whether ``sender`` is ``0, 1, .., T - 1`` (each circuit its own block, no edge).
    """

    indptr: torch.Tensor
    receiver: torch.Tensor
    sender: torch.Tensor
    block: torch.Tensor
    writes: torch.Tensor
    every_circuit_once: bool = False


class SlotPairs(NamedTuple):
    """Weighted pairs (sending slot ``j`` at layer ``l - 1``, receiving slot ``k`` at layer ``l``), CSR by sending
    slot, receiving slots in increasing order within each (torch).

    Attributes:
        indptr: ``(N + 1,)`` where each sending slot's pairs start.
        senders: ``(P,)`` the sending slot of each pair.
        receivers: ``(P,)`` its receiving slot.
        weights: ``(P,)`` float32, how many times each pair counts.
        scaled: ``(P',)`` the pairs whose weight is not 1 (their messages are multiplied by it).
    """

    indptr: torch.Tensor
    senders: torch.Tensor
    receivers: torch.Tensor
    weights: torch.Tensor
    scaled: torch.Tensor


def make_slot_pairs(indptr: np.ndarray, receivers: np.ndarray, weights: np.ndarray, device) -> SlotPairs:
    """:class:`SlotPairs` from a CSR array by sending slot (``indptr``, ``receivers`` sorted within each row,
    ``weights``)."""
    dev = torch.device(device)
    indptr = torch.as_tensor(np.asarray(indptr), dtype=torch.long, device=dev)
    weights = torch.as_tensor(np.asarray(weights), dtype=torch.float32, device=dev)
    senders = torch.repeat_interleave(torch.arange(len(indptr) - 1, device=dev), indptr[1:] - indptr[:-1])
    return SlotPairs(indptr, senders, torch.as_tensor(np.asarray(receivers), dtype=torch.long, device=dev), weights,
                     (weights != 1).nonzero().squeeze(1))


def make_incidence(sets: np.ndarray, n_slots: int, device) -> Incidence:
    """:class:`Incidence` of ``sets`` ``(T, S)`` over ``n_slots`` slots."""
    T, S = sets.shape
    dev = torch.device(device)
    order = np.argsort(sets.ravel(), kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(sets.ravel(), minlength=n_slots))])
    cols = torch.as_tensor(np.sort(sets, axis=1).ravel(), device=dev)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        by_circuit = torch.sparse_csr_tensor(torch.arange(0, T * S + 1, S, device=dev), cols,
                                             torch.ones(T * S, device=dev), size=(T, n_slots), check_invariants=False)
    sets_t = torch.as_tensor(sets, dtype=torch.long, device=dev)
    return Incidence(sets_t, torch.as_tensor(indptr, dtype=torch.long, device=dev),
                     torch.as_tensor(order // S, dtype=torch.long, device=dev), by_circuit, sets_t.t().contiguous())


def sparse_columns(rows_of_column: np.ndarray, n_rows: int, device) -> torch.Tensor:
    """``(n_rows, K)`` sparse CSR 0/1 matrix with ones at ``(rows_of_column[k, s], k)``.

    Args:
        rows_of_column: ``(K, S)`` the rows of each column (e.g. the slots each coupling writes).
    """
    K, S = rows_of_column.shape
    flat = rows_of_column.ravel()
    order = np.argsort(flat, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(flat, minlength=n_rows))])
    dev = torch.device(device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(torch.as_tensor(indptr, dtype=torch.long, device=dev),
                                       torch.as_tensor(order // S, dtype=torch.long, device=dev),
                                       torch.ones(K * S, device=dev), size=(n_rows, K), check_invariants=False)


def matvec(w: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """``w @ r`` for many vectors, each computed the same way whatever the batch.

    Args:
        w: ``(d, d)`` one matrix for every vector, or ``(Q, d, d)`` one per row of ``r``.
        r: ``(Q, d)`` or ``(Q, k, d)`` vectors (``k`` per matrix when ``w`` is ``(Q, d, d)``).

    Returns:
        the products, shaped like ``r``.

    One shared matrix is applied as ``d`` elementwise multiply-adds. Per-row matrices go
    through ``torch.bmm``, one vector per matrix, or ``k`` vectors per matrix in blocks of at
    most 16 (for ``d`` up to :data:`SMALL_BLOCK` as elementwise multiply-adds, which give the
    bits of torch's plain ``bmm`` loop at those sizes); either way a vector's result does not
    depend on how many others are computed with it.
    """
    if w.dim() == 2:
        out = w[:, 0] * r[..., 0:1]
        for j in range(1, r.shape[-1]):
            out = out + w[:, j] * r[..., j:j + 1]
        return out
    wt = w.transpose(1, 2)
    if r.dim() == 2:
        return torch.bmm(r[:, None, :], wt)[:, 0, :]
    if r.shape[-1] <= SMALL_BLOCK:  # the sums of products in the plain loop's order, every vector at once
        return _small_blocks(w, r)
    return torch.cat([torch.bmm(r[:, lo:lo + 16], wt) for lo in range(0, r.shape[1], 16)], 1)


def _small_blocks(w: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """``w[q] @ r[q, k]`` for ``w`` ``(Q, d, d)`` and ``r`` ``(Q, k, d)``, each output neuron ``i`` summed as
    ``((r_0 w_i0 + r_1 w_i1) + r_2 w_i2) + ..`` in float32, one elementwise operation at a time.

    Works component-major: ``cols[j]`` ``(Q, k)`` holds component ``j`` of every vector, contiguous, so that each
    operation is one long pass (the products and sums, hence the bits, are those of the vector-major loop).
    Returns ``(Q, k, d)``, contiguous.
    """
    d = r.shape[-1]
    cols = r.movedim(-1, 0).contiguous()  # (d, Q, k)
    out = r.new_empty((d,) + r.shape[:-1])  # (d, Q, k): output neuron i in out[i]
    term = r.new_empty(r.shape[:-1])
    for i in range(d):
        torch.mul(cols[0], w[:, i, 0:1], out=out[i])
        for j in range(1, d):
            torch.mul(cols[j], w[:, i, j:j + 1], out=term)
            out[i] += term
    return out.movedim(0, -1).contiguous()


def expand(indptr: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Walk a CSR row for every key: returns ``(which key, position in the CSR arrays)``."""
    start = indptr[keys]
    count = indptr[keys + 1] - start
    which = torch.repeat_interleave(torch.arange(len(keys), device=keys.device), count)
    offset = torch.arange(len(which), device=keys.device) - torch.repeat_interleave(torch.cumsum(count, 0) - count,
                                                                                    count)
    return which, start.index_select(0, which) + offset


def budget_groups(fan: torch.Tensor, budget: int) -> list[tuple[int, int]]:
    """Consecutive ranges ``[lo, hi)`` of rows whose ``fan`` sums stay within ``budget``.

    A single row above the budget gets a range of its own.
    """
    if len(fan) == 0:
        return []
    ends = torch.cumsum(fan, 0).cpu().numpy()
    groups, lo, base = [], 0, 0
    while lo < len(ends):
        hi = int(np.searchsorted(ends, base + budget, side="right"))
        hi = max(hi, lo + 1)
        groups.append((lo, hi))
        base = int(ends[hi - 1])
        lo = hi
    return groups


def touched(acts: torch.Tensor, inc: Incidence) -> Touched:
    """The circuits touching a nonzero slot of ``acts`` (``(b, N, d)``) through ``inc``.

    A sample with few nonzero slots visits each (nonzero slot, circuit using it) incidence
    once, keeps a circuit at the lowest of its nonzero slots and sums its slots in set order.
    A sample whose incidences exceed :data:`DENSE_FRACTION` of all ``T S`` has every circuit
    summed at once by a sparse product with the incidence matrix (``dense``). The choice
    depends on the sample alone, so each sample's sums are the same whatever else is in the chunk.
    """
    b, N, d = acts.shape
    T, S = inc.sets.shape
    dev = acts.device
    flat = acts.reshape(b * N, d)
    # the rows with a nonzero value: |x| has its largest value nonzero exactly when some x != 0 (NaN included)
    rows = (flat.abs().amax(1) != 0).nonzero().squeeze(1)
    values = flat.index_select(0, rows)
    sample_of_row = torch.div(rows, N, rounding_mode="floor")
    total = torch.zeros(b, d, device=dev).index_add_(0, sample_of_row, values)
    slot_of_row = rows - sample_of_row * N
    fan = inc.indptr[slot_of_row + 1] - inc.indptr[slot_of_row]
    visits = torch.zeros(b, dtype=torch.long, device=dev).index_add_(0, sample_of_row, fan)
    is_dense = visits > DENSE_FRACTION * T * S
    dense = is_dense.nonzero().squeeze(1)
    if len(dense):
        keep = (~is_dense).index_select(0, sample_of_row).nonzero().squeeze(1)
        x = acts.index_select(0, dense).transpose(0, 1).reshape(N, -1)  # (N, m d)
        dense_sums = (inc.by_circuit @ x).view(T, len(dense), d)
    else:
        keep = None
        dense_sums = torch.zeros(T, 0, d, device=dev)
    sample, circuit, sums = _visit_incidences(flat, rows, sample_of_row, slot_of_row, fan, keep, inc, N)
    return Touched(sample, circuit, sums, total, rows, values, dense, dense_sums, acts)


def _visit_incidences(flat, rows, sample_of_row, slot_of_row, fan, subset, inc: Incidence, N: int):
    """Sparse part of :func:`touched`: walk the circuits of each nonzero row (``subset`` of rows).

    Returns ``(sample, circuit, sums)`` as in :class:`Touched`.
    """
    if subset is not None:
        rows, sample_of_row, slot_of_row, fan = (x.index_select(0, subset) for x in
                                                 (rows, sample_of_row, slot_of_row, fan))
    n, d = len(rows), flat.shape[1]
    dev = flat.device
    samples = [torch.zeros(0, dtype=torch.long, device=dev)]
    circuits = [torch.zeros(0, dtype=torch.long, device=dev)]
    sums = [torch.zeros(0, d, device=dev)]
    if n == 0:
        return samples[0], circuits[0], sums[0]
    where = torch.full((flat.shape[0],), n, dtype=torch.long, device=dev)
    where[rows] = torch.arange(n, device=dev)
    values_ext = torch.cat([flat.index_select(0, rows), flat.new_zeros(1, d)])
    S = inc.by_position.shape[0]
    for lo, hi in budget_groups(fan, PAIR_BUDGET):
        which, pos = expand(inc.indptr, slot_of_row[lo:hi])
        which = which + lo
        circ = inc.users.index_select(0, pos)  # (P,) the circuit of each visit
        base = sample_of_row.index_select(0, which)
        # (S, P), position-major so that every step below reads contiguous rows: for each of the circuit's slots,
        # the nonzero row it is (n if off)
        start = base * N
        found = torch.empty(S, len(circ), dtype=torch.long, device=dev)
        for s in range(S):
            found[s] = where.index_select(0, inc.by_position[s].index_select(0, circ).add_(start))
        lowest = found[0].clone()
        for s in range(1, S):
            torch.minimum(lowest, found[s], out=lowest)
        keep = (lowest == which).nonzero().squeeze(1)  # the circuit's lowest nonzero row
        acc = values_ext.index_select(0, found[0].index_select(0, keep))
        for s in range(1, S):  # the circuit's slots in set order
            acc = acc + values_ext.index_select(0, found[s].index_select(0, keep))
        samples.append(base.index_select(0, keep))
        circuits.append(circ.index_select(0, keep))
        sums.append(acc)
    return torch.cat(samples), torch.cat(circuits), torch.cat(sums)


def add_couplings(out: torch.Tensor, prev: Touched, table: CouplingTable, slots: torch.Tensor) -> None:
    """Add every coupling's message to the pre-activations ``out`` ``(b, N, d)`` (slot-major), in place.

    A coupling ``(receiver u, sender t, block B)`` sends ``B @ (e[l-1,t]^T A)`` (the sender's input sums from
    ``prev``) to each of the receiver's slots ``slots[u]`` (``(T, S)``, the receiving layer's sets). Sparse
    samples go through the touched senders, in a fixed order and in steps of at most :data:`PAIR_BUDGET`
    messages (the sums do not depend on the step); samples held densely take every coupling at once.
    """
    b, N, d = out.shape
    flat = out.view(b * N, d)
    S = slots.shape[1]
    which, pos = expand(table.indptr, prev.circuit)
    step = max(1, PAIR_BUDGET // S)
    for lo in range(0, len(pos), step):
        w, p = which[lo:lo + step], pos[lo:lo + step]
        msgs = matvec(table.block.index_select(0, p), prev.sums.index_select(0, w))
        at = prev.sample.index_select(0, w)[:, None] * N + slots.index_select(0, table.receiver.index_select(0, p))
        flat.index_add_(0, at.view(-1), msgs[:, None, :].expand(-1, S, d).reshape(-1, d))
    m = len(prev.dense)
    if m:
        senders = prev.dense_sums if table.every_circuit_once else prev.dense_sums.index_select(0, table.sender)
        msgs = matvec(table.block, senders)  # (C, m, d)
        written = table.writes @ msgs.reshape(len(table.sender), m * d)  # (N, m d)
        out.index_add_(0, prev.dense, written.view(N, m, d).transpose(0, 1))


def add_slot_pairs(flat: torch.Tensor, prev: Touched, pairs: SlotPairs, message, n_slots: int) -> None:
    """Add ``w message(a_j)`` from every slot ``j`` of each sample to the pre-activations of its pairs' receiving
    slots ``k`` (``flat``: ``(b N, d)``, slot-major, in place), pair by pair in the order of ``pairs``.

    Args:
        flat: the pre-activations being made.
        prev: the previous layer's :class:`Touched` (its nonzero slots, its activations).
        pairs: the weighted slot pairs.
        message: maps activations ``(n, d)`` to messages ``(n, d)``, row by row (a row's message does not
            depend on the other rows).

    A zero slot sends a zero message, so only the nonzero slots of ``prev`` need walking. A chunk whose nonzero
    slots are more than :data:`DENSE_PAIRS` of its slots is done densely: every pair at once for every sample,
    each pair's message added in the same order as the walk adds it, so both give the same numbers.
    """
    n = len(prev.rows)
    if not n or not len(pairs.receivers):
        return
    d = flat.shape[1]
    b = flat.shape[0] // n_slots
    if n <= DENSE_PAIRS * b * n_slots:  # walk each nonzero slot's pairs
        sample_of_row = torch.div(prev.rows, n_slots, rounding_mode="floor")
        which, pos = expand(pairs.indptr, prev.rows - sample_of_row * n_slots)
        if len(which):
            fix = message(prev.values)
            at = sample_of_row.index_select(0, which) * n_slots + pairs.receivers.index_select(0, pos)
            flat.index_add_(0, at, fix.index_select(0, which) * pairs.weights.index_select(0, pos)[:, None])
        return
    # every pair for every sample, laid out slot by slot ((N, b, d)) so that a pair moves one block
    msgs = message(prev.acts.transpose(0, 1).reshape(n_slots * b, d)).view(n_slots, b, d)  # row by row: any order
    out = flat.view(b, n_slots, d).transpose(0, 1).contiguous()
    step = max(1, DENSE_BUDGET // (b * d))
    for lo in range(0, len(pairs.receivers), step):
        hi = min(lo + step, len(pairs.receivers))
        src = msgs.index_select(0, pairs.senders[lo:hi])
        scaled = pairs.scaled[(pairs.scaled >= lo) & (pairs.scaled < hi)]
        if len(scaled):  # a weight of 1 leaves a message as it is
            src.index_copy_(0, scaled - lo, src.index_select(0, scaled - lo)
                            * pairs.weights.index_select(0, scaled)[:, None, None])
        out.index_add_(0, pairs.receivers[lo:hi], src)
    flat.view(b, n_slots, d).copy_(out.transpose(0, 1))


def place(sets: torch.Tensor, active: torch.Tensor, values: torch.Tensor, n_slots: int) -> torch.Tensor:
    """Write ``values`` ``(B, z, d)`` into the slots ``sets[active]`` of a slot-major ``(B, N, d)`` tensor
    (values of circuits that share a slot add up)."""
    B, z = active.shape
    d, S = values.shape[-1], sets.shape[1]
    slots = sets[active]  # (B, z, S)
    rows = (torch.arange(B, device=values.device)[:, None, None] * n_slots + slots).reshape(-1)
    out = torch.zeros(B * n_slots, d, device=values.device)
    out.index_add_(0, rows, values[:, :, None, :].expand(B, z, S, d).reshape(-1, d))
    return out.view(B, n_slots, d)


def slot_sums(acts: torch.Tensor, sets: torch.Tensor, circuits: torch.Tensor) -> torch.Tensor:
    """``(b, m, d)`` sums ``e[t]^T A`` of given circuits ``(b, m)`` from slot-major ``acts``, in set order."""
    b, N, d = acts.shape
    idx = sets[circuits]  # (b, m, S)
    rows = torch.arange(b, device=acts.device)[:, None, None] * N + idx
    flat = acts.reshape(b * N, d)
    sums = flat[rows[..., 0]]
    for s in range(1, idx.shape[-1]):
        sums = sums + flat[rows[..., s]]
    return sums
