"""Network: the constructed large network, its forward pass and its read-out.

Activations are held as ``(B, d, D/d)`` tensors: group ``i`` (small neuron ``i`` of every
circuit) is ``A[:, i, :]``; flattening the last two axes gives the ``(B, D)`` layout in
which group ``i`` occupies neurons ``i D/d .. (i+1) D/d - 1``.

The forward pass costs what is really there. In the working regime almost every neuron is
off, so each step starts from the nonzero neuron slots of each sample and reaches, through
the slot -> circuit incidence, only the circuits that touch one of them (:class:`Touched`):
their input sums ``e[l-1,t]^T A`` are the only per-circuit work, each circuit's value goes
to its S receiving slots, and the capped pattern is applied as that per-circuit sum minus
the few pairs two circuits share (``E``). A circuit none of whose neurons is on reads
exactly zero (or, for the older methods, the same constant as every other such circuit), so
read-outs of inactive circuits need no ``(B, T, d)`` array either. A sample whose neurons
are mostly on (a seizure) is cheaper to handle densely: every circuit at once, through
sparse products with the incidence matrices. Inside, the pass works in the slot-major
layout ``(B, D/d, d)``; the public methods take and return ``(B, d, D/d)``. On the CPU the
work for one sample is done in the same order whatever else is in the batch, so results do
not depend on how a batch is chunked.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch

from ._assignment import Assignment
from ._errors import require
from ._families import CircuitFamily

#: Most (circuit, nonzero slot) incidences expanded at once (bounds the memory of one step).
PAIR_BUDGET = 1 << 21
#: A sample whose nonzero slots reach more than this fraction of the ``T S`` (circuit, slot)
#: incidences has every circuit read directly (cheaper than walking the incidences).
DENSE_FRACTION = 0.1


class Touched(NamedTuple):
    """The circuits that touch a nonzero neuron slot at one layer, for a chunk of samples.

    Every other circuit has all its neurons off there. Samples with many nonzero slots are
    held densely instead: every circuit's sum (``dense``, ``dense_sums``).

    Attributes:
        sample: ``(Q,)`` row of the chunk (samples not in ``dense``).
        circuit: ``(Q,)`` circuit index.
        sums: ``(Q, d)`` ``e[l,t]^T A`` per group (the read-out before the 1/S scaling).
        total: ``(b, d)`` sum of the activations over all slots, per group.
        rows: ``(n,)`` flat index ``sample * D/d + slot`` of the nonzero slots (all samples).
        values: ``(n, d)`` their activations.
        dense: ``(m,)`` rows of the chunk held densely.
        dense_sums: ``(T, m, d)`` ``e[l,t]^T A`` of every circuit for those samples.
    """

    sample: torch.Tensor
    circuit: torch.Tensor
    sums: torch.Tensor
    total: torch.Tensor
    rows: torch.Tensor
    values: torch.Tensor
    dense: torch.Tensor
    dense_sums: torch.Tensor


def _slot_major(acts: torch.Tensor) -> torch.Tensor:
    """``(B, d, N) -> (B, N, d)``, contiguous."""
    return acts.transpose(1, 2).contiguous()


def _group_major(acts: torch.Tensor) -> torch.Tensor:
    """``(B, N, d) -> (B, d, N)``, contiguous."""
    return acts.transpose(1, 2).contiguous()


def _matvec(w: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """``w @ r`` for many vectors, each computed the same way whatever the batch.

    Args:
        w: ``(d, d)`` one matrix for every vector, or ``(Q, d, d)`` one per row of ``r``.
        r: ``(Q, d)`` or ``(Q, k, d)`` vectors (``k`` per matrix when ``w`` is ``(Q, d, d)``).

    Returns:
        the products, shaped like ``r``.

    One shared matrix is applied as ``d`` elementwise multiply-adds. Per-row matrices go
    through ``torch.bmm`` on blocks of at most 16 vectors per matrix, small enough that
    torch uses its plain loop (no size-dependent kernel); either way a vector's result does
    not depend on how many others are computed with it.
    """
    if w.dim() == 2:
        out = w[:, 0] * r[..., 0:1]
        for j in range(1, r.shape[-1]):
            out = out + w[:, j] * r[..., j:j + 1]
        return out
    wt = w.transpose(1, 2)
    if r.dim() == 2:
        return torch.bmm(r[:, None, :], wt)[:, 0, :]
    return torch.cat([torch.bmm(r[:, lo:lo + 16], wt) for lo in range(0, r.shape[1], 16)], 1)


def _expand(indptr: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Walk a CSR row for every key: returns ``(which key, position in the CSR arrays)``."""
    start = indptr[keys]
    count = indptr[keys + 1] - start
    which = torch.repeat_interleave(torch.arange(len(keys), device=keys.device), count)
    offset = torch.arange(len(which), device=keys.device) - torch.repeat_interleave(torch.cumsum(count, 0) - count,
                                                                                    count)
    return which, start.index_select(0, which) + offset


def _budget_groups(fan: torch.Tensor, budget: int):
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


@dataclass(frozen=True, eq=False)
class Network:
    """A large network computing T small circuits in superposition (made by :func:`build`).

    Attributes:
        family: the small circuits.
        config: the :class:`NetworkConfig` it was built with.
        assignment: the neuron sets of every circuit in every layer.
        patterns: per layer, the capped 0/1 pattern ``C[l]`` (scipy CSR, ``None`` at layer 0
            and for methods without a cap).
        chi: per layer, the chi correction (0 at layer 0 and without a cap).
        corrections: per layer, ``c`` of the corrected read-out vector (older methods).
        device: torch device of the forward pass.
        excess: per layer, ``E[l] = sum_t e[l,t] e[l-1,t]^T - C[l]`` (scipy CSR of the
            multiplicities above one of the pairs that several circuits share, ``None``
            where ``C`` is); made from the assignment when not given. The forward pass
            applies ``C`` as the per-circuit sum minus ``E``.
        graph: cross-circuit edges (:class:`circuits.CircuitGraph`) or ``None``; each adds
            ``e[l,u] (B / S) e[l-1,t]^T`` to ``W[l]`` (see ``circuits/_graph.py``).
    """

    family: CircuitFamily
    config: object
    assignment: Assignment
    patterns: tuple
    chi: tuple
    corrections: tuple
    device: str = "cpu"
    excess: tuple | None = None
    graph: object | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ sizes
    @property
    def n_circuits(self) -> int:
        """T."""
        return self.family.n_circuits

    @property
    def circuit_width(self) -> int:
        """d."""
        return self.family.circuit_width

    @property
    def width(self) -> int:
        """D."""
        return self.config.width

    @property
    def redundancy(self) -> int:
        """S."""
        return self.config.redundancy

    @property
    def n_layers(self) -> int:
        """L."""
        return self.config.n_layers

    @property
    def n_slots(self) -> int:
        """D/d."""
        return self.config.width // self.circuit_width

    @property
    def load(self) -> float:
        """``T (d/D)^2``."""
        from theory import load

        return load(self.n_circuits, self.width, self.circuit_width)

    # ------------------------------------------------------------ torch state
    def _t(self, key: str):
        """Tensors on ``self.device``, made once."""
        if key not in self._cache:
            self._cache[key] = self._make(key)
        return self._cache[key]

    def _make(self, key: str):
        dev = torch.device(self.device)
        f32 = torch.float32
        if key == "sets":
            return torch.as_tensor(self.assignment.sets, dtype=torch.long, device=dev)
        if key == "bias":
            return torch.as_tensor(self.family.bias, dtype=f32, device=dev)
        if key.startswith("w"):
            mean, diff = self.family.layer_weights(int(key[1:]))
            # a family without per-layer weights shares one copy across layers
            diff_key = f"diff{key[1:]}" if self.family.per_layer else "diff"
            if diff_key not in self._cache:
                self._cache[diff_key] = torch.as_tensor(diff, dtype=f32, device=dev)
            return torch.as_tensor(mean, dtype=f32, device=dev), self._cache[diff_key]
        if key.startswith("inc"):
            layer = int(key[3:])
            if layer == 0 and np.array_equal(self.assignment.sets[0], self.assignment.sets[1]):
                return self._t("inc1")
            sets = self.assignment.sets[layer]
            order = np.argsort(sets.ravel(), kind="stable")
            counts = np.bincount(sets.ravel(), minlength=self.n_slots)
            indptr = np.concatenate([[0], np.cumsum(counts)])
            return (torch.as_tensor(indptr, dtype=torch.long, device=dev),
                    torch.as_tensor(order // self.redundancy, dtype=torch.long, device=dev))
        if key.startswith("spread"):
            # w'_t: capped (diff_t + (1 + chi) mean) / S; uncorrected (1/S + c)(mean + diff_t);
            # split (1/S + c) mean + diff_t / S
            layer = int(key[6:])
            mean, diff = self.family.layer_weights(layer)
            S = self.redundancy
            if self.config.method == "capped":
                w = (diff + (1.0 + self.chi[layer]) * mean) / S
            elif self.config.method == "uncorrected":
                w = (1.0 / S + self.corrections[layer]) * (mean + diff)
            else:
                w = (1.0 / S + self.corrections[layer]) * mean + diff / S
            return torch.as_tensor(w, dtype=f32, device=dev)
        if key.startswith("csr_in") or key.startswith("csr_out"):
            # incidence e[l] as sparse matrices: (T, D/d) to sum each circuit's slots,
            # (D/d, T) to write each circuit's value into its slots
            layer = int(key.split("_")[1][2 if key.startswith("csr_in") else 3:])
            T, S, N = self.n_circuits, self.redundancy, self.n_slots
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                if key.startswith("csr_in"):
                    cols = torch.as_tensor(np.sort(self.assignment.sets[layer], axis=1).ravel(), device=dev)
                    crow = torch.arange(0, T * S + 1, S, device=dev)
                    return torch.sparse_csr_tensor(crow, cols, torch.ones(T * S, device=dev), size=(T, N),
                                                   check_invariants=False)
                indptr, users = self._t(f"inc{layer}")
                return torch.sparse_csr_tensor(indptr, users, torch.ones(T * S, device=dev), size=(N, T),
                                               check_invariants=False)
        if key.startswith("ex"):
            layer = int(key[2:])
            if self.excess is not None:
                excess = self.excess[layer]
            else:
                from ._builder import pattern_and_excess

                sets = self.assignment.sets
                excess = pattern_and_excess(sets[layer], sets[layer - 1], self.n_slots)[1]
            e_t = sp.csr_array(excess.T)  # row = sending slot
            e_t.sum_duplicates()
            return (torch.as_tensor(e_t.indptr, dtype=torch.long, device=dev),
                    torch.as_tensor(e_t.indices, dtype=torch.long, device=dev),
                    torch.as_tensor(e_t.data, dtype=f32, device=dev))
        raise KeyError(key)  # pragma: no cover

    # -------------------------------------------------- slot-major internals
    def _place(self, active: np.ndarray, values: np.ndarray, layer: int) -> torch.Tensor:
        """:meth:`place` in the slot-major layout ``(B, D/d, d)``."""
        active = torch.as_tensor(np.asarray(active), dtype=torch.long, device=self.device)
        values = torch.as_tensor(np.asarray(values), dtype=torch.float32, device=self.device)
        B, z = active.shape
        d, N, S = self.circuit_width, self.n_slots, self.redundancy
        slots = self._t("sets")[layer][active]  # (B, z, S)
        rows = (torch.arange(B, device=self.device)[:, None, None] * N + slots).reshape(-1)
        out = torch.zeros(B * N, d, device=self.device)
        out.index_add_(0, rows, values[:, :, None, :].expand(B, z, S, d).reshape(-1, d))
        return out.view(B, N, d)

    def _embed(self, active: np.ndarray, inputs: np.ndarray) -> torch.Tensor:
        """:meth:`embed` in the slot-major layout."""
        mean, diff = self.family.layer_weights(1)
        active = np.asarray(active)
        pre = np.einsum("bzij,bzj->bzi", mean + diff[active], np.asarray(inputs, dtype=np.float64))
        return self._place(active, pre, 0)

    def _mask(self, active: np.ndarray, layer: int) -> torch.Tensor:
        """``(B, D/d, 1)`` 0/1 mask of the slots the active circuits own at ``layer``."""
        return self.active_mask(active, layer).transpose(1, 2)

    def _touched(self, acts: torch.Tensor, layer: int) -> Touched:
        """The circuits touching a nonzero slot of ``acts`` (``(b, D/d, d)``) at ``layer``.

        A sample with few nonzero slots visits each (nonzero slot, circuit using it)
        incidence once, keeps a circuit at the lowest of its nonzero slots and sums its
        slots in set order. A sample whose incidences exceed :data:`DENSE_FRACTION` of all
        ``T S`` has every circuit summed at once by a sparse product with the incidence
        matrix (``dense``). The choice depends on the sample alone, so each sample's sums
        are the same whatever else is in the chunk.
        """
        b, N, d = acts.shape
        dev = acts.device
        flat = acts.reshape(b * N, d)
        rows = (flat != 0).any(1).nonzero().squeeze(1)
        values = flat.index_select(0, rows)
        sample_of_row = torch.div(rows, N, rounding_mode="floor")
        total = torch.zeros(b, d, device=dev).index_add_(0, sample_of_row, values)
        indptr, _ = self._t(f"inc{layer}")
        slot_of_row = rows - sample_of_row * N
        fan = indptr[slot_of_row + 1] - indptr[slot_of_row]
        visits = torch.zeros(b, dtype=torch.long, device=dev).index_add_(0, sample_of_row, fan)
        is_dense = visits > DENSE_FRACTION * self.n_circuits * self.redundancy
        dense = is_dense.nonzero().squeeze(1)
        if len(dense):
            keep = (~is_dense).index_select(0, sample_of_row).nonzero().squeeze(1)
            x = acts.index_select(0, dense).transpose(0, 1).reshape(N, -1)  # (N, m d)
            dense_sums = (self._t(f"csr_in{layer}") @ x).view(self.n_circuits, len(dense), d)
        else:
            keep = None
            dense_sums = torch.zeros(self.n_circuits, 0, d, device=dev)
        sample, circuit, sums = self._visit_incidences(flat, rows, sample_of_row, slot_of_row, fan, keep, layer)
        return Touched(sample, circuit, sums, total, rows, values, dense, dense_sums)

    def _visit_incidences(self, flat, rows, sample_of_row, slot_of_row, fan, subset, layer):
        """Sparse part of :meth:`_touched`: walk the circuits of each nonzero row (``subset`` of rows).

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
        N = self.n_slots
        where = torch.full((flat.shape[0],), n, dtype=torch.long, device=dev)
        where[rows] = torch.arange(n, device=dev)
        values_ext = torch.cat([flat.index_select(0, rows), flat.new_zeros(1, d)])
        indptr, users = self._t(f"inc{layer}")
        sets = self._t("sets")[layer]
        for lo, hi in _budget_groups(fan, PAIR_BUDGET):
            which, pos = _expand(indptr, slot_of_row[lo:hi])
            which = which + lo
            circ = users.index_select(0, pos)
            base = sample_of_row.index_select(0, which)
            at = (base[:, None] * N + sets.index_select(0, circ)).view(-1)
            found = where.index_select(0, at).view(len(circ), -1)  # (P, S): row of each slot, n if off
            keep = (found.min(1).values == which).nonzero().squeeze(1)  # the circuit's lowest nonzero row
            found = found.index_select(0, keep)
            acc = values_ext.index_select(0, found[:, 0])
            for s in range(1, found.shape[1]):
                acc = acc + values_ext.index_select(0, found[:, s])
            samples.append(base.index_select(0, keep))
            circuits.append(circ.index_select(0, keep))
            sums.append(acc)
        return torch.cat(samples), torch.cat(circuits), torch.cat(sums)

    def _pre(self, layer: int, acts: torch.Tensor, touched: Touched | None) -> torch.Tensor:
        """Pre-activations of ``layer`` (``(b, D/d, d)``) from the previous layer's activations.

        ``touched`` is ``self._touched(acts, layer - 1)`` (computed here when ``None``).
        Every touched circuit's value is written into its ``e[layer]`` slots; for the capped
        method ``C = sum_t e[l,t] e[l-1,t]^T - E`` then removes the pairs counted twice.
        """
        bias = self._t("bias")
        if layer == 1:  # layer 0 already holds the first pre-activations
            return acts + bias
        if touched is None:
            touched = self._touched(acts, layer - 1)
        b, N, d = acts.shape
        S, T = self.redundancy, self.n_circuits
        dev = acts.device
        mean, diff = self._t(f"w{layer}")
        spread, summed = self._spread(layer, touched.sums, touched.circuit)
        m = len(touched.dense)
        if m:
            spread_dense, summed_dense = self._spread(layer, touched.dense_sums, None)
        if self.config.method == "capped":
            const = _matvec(mean, touched.total) * (-self.chi[layer] / S) + bias
        else:
            per_sample = torch.zeros(b, d, device=dev).index_add_(0, touched.sample, summed)
            if m:  # sum over circuits in circuit order
                over = torch.zeros(1, m * d, device=dev).index_add_(
                    0, torch.zeros(T, dtype=torch.long, device=dev), summed_dense.reshape(T, m * d))
                per_sample.index_copy_(0, touched.dense, over.view(m, d))
            const = per_sample * (-self.corrections[layer]) + bias
        out = const[:, None, :].expand(b, N, d).contiguous()
        flat = out.view(b * N, d)
        slots = self._t("sets")[layer]
        step = max(1, PAIR_BUDGET // S)
        for lo in range(0, len(spread), step):  # in order: the sums do not depend on the step
            hi = lo + step
            at = touched.sample[lo:hi, None] * N + slots.index_select(0, touched.circuit[lo:hi])  # (q, S)
            flat.index_add_(0, at.view(-1), spread[lo:hi, None, :].expand(-1, S, d).reshape(-1, d))
        if m:
            written = self._t(f"csr_out{layer}") @ spread_dense.reshape(T, m * d)  # (N, m d)
            out.index_add_(0, touched.dense, written.view(N, m, d).transpose(0, 1))
        if self.config.method == "capped" and len(touched.rows):
            indptr, receivers, counts = self._t(f"ex{layer}")
            sample_of_row = torch.div(touched.rows, N, rounding_mode="floor")
            which, pos = _expand(indptr, touched.rows - sample_of_row * N)
            if len(which):
                fix = _matvec(mean, touched.values) * (-(1.0 + self.chi[layer]) / S)
                at = sample_of_row.index_select(0, which) * N + receivers.index_select(0, pos)
                flat.index_add_(0, at, fix.index_select(0, which) * counts.index_select(0, pos)[:, None])
        if self.graph is not None:
            from ._graph import add_edge_term

            add_edge_term(self, layer, touched, out)
        return out

    def _spread(self, layer: int, sums: torch.Tensor, circuits: torch.Tensor | None):
        """Per-circuit values written into the receiving slots, from the input sums ``r``.

        Args:
            sums: ``(Q, d)`` ``e[l-1,t]^T A`` of the circuits ``circuits`` (``(Q,)``), or
                ``(T, m, d)`` of every circuit (``circuits`` is ``None``).

        Returns:
            ``(spread, summed)``: the values ``w'_t r`` (``w'_t`` per method, made once in
            ``_make("spread<layer>")``), and for the older methods the per-circuit term whose
            sum over circuits enters the ``-c`` correction (``None`` for the capped method).
        """
        weights = self._t(f"spread{layer}")
        if circuits is not None:
            weights = weights.index_select(0, circuits)
        spread = _matvec(weights, sums)
        method = self.config.method
        if method == "capped":
            return spread, None
        mean, diff = self._t(f"w{layer}")
        if method == "split":
            return spread, _matvec(mean, sums)
        if circuits is not None:
            diff = diff.index_select(0, circuits)
        return spread, _matvec(mean + diff, sums)  # uncorrected

    def _advance(self, layer: int, acts: torch.Tensor, touched: Touched | None, active=None) -> torch.Tensor:
        """:meth:`step` in the slot-major layout."""
        pre = self._pre(layer, acts, touched)
        if active is None:
            return torch.relu(pre)
        return pre * self._mask(active, layer)

    def _read_touched(self, touched: Touched, layer: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Read-outs at ``layer`` from :meth:`_touched`.

        Returns:
            ``(Q, d)`` of the touched circuits, ``(b, d)`` of every untouched circuit of each
            sample, and ``(T, m, d)`` of every circuit of the dense samples.
        """
        S = self.redundancy
        if self.config.method == "capped":
            return touched.sums / S, torch.zeros_like(touched.total), touched.dense_sums / S
        c = self.corrections[layer]
        return ((1.0 / S + c) * touched.sums - c * touched.total.index_select(0, touched.sample),
                0.0 - c * touched.total,
                (1.0 / S + c) * touched.dense_sums - c * touched.total.index_select(0, touched.dense))

    def _read_circuits(self, acts: torch.Tensor, layer: int, circuits: np.ndarray,
                       total: torch.Tensor | None = None) -> torch.Tensor:
        """Read-outs ``(b, m, d)`` of given circuits ``(b, m)`` from slot-major ``acts``."""
        b, N, d = acts.shape
        idx = self._t("sets")[layer][torch.as_tensor(np.asarray(circuits), dtype=torch.long, device=acts.device)]
        rows = torch.arange(b, device=acts.device)[:, None, None] * N + idx  # (b, m, S)
        flat = acts.reshape(b * N, d)
        sums = flat[rows[..., 0]]
        for s in range(1, idx.shape[-1]):
            sums = sums + flat[rows[..., s]]
        S = self.redundancy
        if self.config.method == "capped":
            return sums / S
        if total is None:
            total = acts.sum(1)
        c = self.corrections[layer]
        return (1.0 / S + c) * sums - c * total[:, None, :]

    # ----------------------------------------------------------- forward pass
    def place(self, active: np.ndarray, values: np.ndarray, layer: int = 0) -> torch.Tensor:
        """Write each active circuit's small activations into its ``e[layer]`` neurons.

        Args:
            active: ``(B, z)`` circuit indices (distinct within a row).
            values: ``(B, z, d)`` their small-circuit values.
            layer: whose layout to use.

        Returns:
            ``(B, d, D/d)`` float32 tensor (values of circuits that share a neuron add up).
        """
        return _group_major(self._place(active, values, layer))

    def embed(self, active: np.ndarray, inputs: np.ndarray) -> torch.Tensor:
        """Layer 0: the active circuits' first pre-activations ``w_t[1] @ a_t[0]`` in ``e[0]``.

        Args:
            active: ``(B, z)`` circuit indices.
            inputs: ``(B, z, d)`` their inputs ``a[0]`` (see ``family.encode``).
        """
        return _group_major(self._embed(active, inputs))

    def active_mask(self, active: np.ndarray, layer: int) -> torch.Tensor:
        """``(B, 1, D/d)`` 0/1 mask of the slots that the active circuits own at ``layer``."""
        active = torch.as_tensor(np.asarray(active), dtype=torch.long, device=self.device)
        B = active.shape[0]
        slots = self._t("sets")[layer][active].reshape(B, -1)
        mask = torch.zeros(B, self.n_slots, device=self.device)
        mask.scatter_(1, slots, 1.0)
        return mask.unsqueeze(1)

    def step(self, layer: int, prev: torch.Tensor, *, active=None) -> torch.Tensor:
        """One computation step: activations of ``layer`` from those of ``layer - 1``.

        Args:
            layer: 1..L (layer 1 adds the bias to layer 0's pre-activations).
            prev: ``(B, d, D/d)`` activations of layer ``layer - 1``.
            active: if given (``(B, z)`` indices), the "ideal" mode: instead of ReLU, keep
                exactly the neurons owned by the active circuits (pre-activations unchanged).

        Returns:
            ``(B, d, D/d)`` activations.
        """
        require(1 <= layer <= self.n_layers, f"layer must be in 1..{self.n_layers}, got {layer}")
        return _group_major(self._advance(layer, _slot_major(prev), None, active))

    def preactivation(self, layer: int, prev: torch.Tensor) -> torch.Tensor:
        """Pre-activations ``W[layer] @ prev + b`` computed from the structured weights.

        Args:
            layer: 1..L.
            prev: ``(B, d, D/d)`` activations of layer ``layer - 1``.

        Returns:
            ``(B, d, D/d)``.
        """
        require(1 <= layer <= self.n_layers, f"layer must be in 1..{self.n_layers}, got {layer}")
        return _group_major(self._pre(layer, _slot_major(prev), None))

    def forward(self, active: np.ndarray, inputs: np.ndarray, *, ideal: bool = False) -> list[torch.Tensor]:
        """Run the network on a batch; returns the activations of layers ``0..L``.

        Args:
            active: ``(B, z)`` active circuit indices.
            inputs: ``(B, z, d)`` their inputs ``a[0]`` (see ``family.encode``).
            ideal: use the mask instead of ReLU (isolates the error ReLUs fail to remove).

        Returns:
            list of ``L+1`` tensors ``(B, d, D/d)``.
        """
        acts = [self._embed(active, inputs)]
        for layer in range(1, self.n_layers + 1):
            acts.append(self._advance(layer, acts[-1], None, active if ideal else None))
        return [_group_major(a) for a in acts]

    # ----------------------------------------------------------------- readout
    def read_out(self, acts: torch.Tensor, layer: int, circuits: np.ndarray | None = None) -> torch.Tensor:
        """Read circuits' small activations at ``layer``: ``e[l,t]^T A / S`` per group.

        Args:
            acts: ``(B, d, D/d)`` activations of ``layer``.
            layer: 0..L.
            circuits: ``(B, m)`` indices per sample, or ``None`` for all T circuits.

        Returns:
            ``(B, m, d)`` (or ``(B, T, d)``) estimated small-circuit activations.
        """
        sets = self._t("sets")[layer]
        S = self.redundancy
        if circuits is None:
            sums = acts[:, :, sets].sum(-1).transpose(1, 2)  # (B, T, d)
        else:
            idx = sets[torch.as_tensor(np.asarray(circuits), dtype=torch.long, device=acts.device)]  # (B, m, S)
            B, m, _ = idx.shape
            g = torch.gather(acts, 2, idx.reshape(B, 1, m * S).expand(B, acts.shape[1], m * S))
            sums = g.reshape(B, -1, m, S).sum(-1).transpose(1, 2)
        if self.config.method == "capped":
            return sums / S
        c = self.corrections[layer]
        return (1.0 / S + c) * sums - c * acts.sum(-1)[:, None, :]

    # ------------------------------------------------------------ dense form
    def dense_weights(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``(D, D)`` weight matrix and ``(D,)`` bias of ``layer``, written out densely.

        Built straight from the formulas of DESIGN.md section 1 (independently of the
        structured forward pass), for checks and export. Costs ``O(D^2)`` memory. Layer 1
        is the identity (layer 0 already holds the first pre-activations).
        """
        require(1 <= layer <= self.n_layers, f"layer must be in 1..{self.n_layers}, got {layer}")
        N, S, d, T = self.n_slots, self.redundancy, self.circuit_width, self.n_circuits
        bias = np.repeat(self.family.bias, N)
        if layer == 1:
            return np.eye(d * N), bias
        e_out = np.zeros((T, N))
        e_in = np.zeros((T, N))
        rows = np.arange(T)[:, None]
        e_out[rows, self.assignment.sets[layer]] = 1.0
        e_in[rows, self.assignment.sets[layer - 1]] = 1.0
        mean, diff = self.family.layer_weights(layer)

        def per_circuit(weights, left):  # block (i, j): sum_t weights[t, i, j] left[t] e_in[t]^T
            return np.stack([np.stack([(left * weights[:, i, j, None]).T @ e_in for j in range(d)])
                             for i in range(d)])

        method = self.config.method
        if method == "capped":
            cap = np.minimum(1.0, e_out.T @ e_in)
            shared = cap - self.chi[layer] * (1.0 - cap)
            blocks = (per_circuit(diff, e_out) + mean[:, :, None, None] * shared) / S
        else:
            c = self.corrections[layer]
            u = e_out * (1.0 / S + c) - c
            if method == "uncorrected":
                blocks = per_circuit(mean + diff, u)
            else:
                blocks = mean[:, :, None, None] * (u.T @ e_in) + per_circuit(diff, e_out) / S
        if self.graph is not None:
            from ._graph import dense_edge_blocks

            blocks = blocks + dense_edge_blocks(self, layer)
        return blocks.transpose(0, 2, 1, 3).reshape(d * N, d * N), bias

    def to(self, device: str) -> "Network":
        """The same network with its forward pass on ``device``."""
        from ._builder import _check_device

        _check_device(device)
        return Network(self.family, self.config, self.assignment, self.patterns, self.chi,
                       self.corrections, device, self.excess, self.graph)

    # ----------------------------------------------------------------- export
    def to_module(self, **kwargs):
        """The network as a plain ``torch.nn.Module`` (see :func:`circuits._export.to_module`)."""
        from ._export import to_module

        return to_module(self, **kwargs)

    def save(self, path, **kwargs):
        """Write the network to a directory (see :func:`circuits.save` / :func:`circuits.load`)."""
        from ._export import save

        return save(self, path, **kwargs)
