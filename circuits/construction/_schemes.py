"""Weight schemes: how the large network's weights are set from the small circuits, one class each.

Every scheme writes ``W[l]`` (layer ``l >= 2``, block ``(i, j)`` of size ``D/d x D/d``) as

    W[l] = sum_t  own_t (x) e[l,t] e[l-1,t]^T   +   sum_edges (B / S) (x) e[l,u] e[l-1,t]^T   +   shared part

The first two sums are the *couplings* ``(receiver, sender, block)``: a circuit's own block and a
cross-circuit edge are the same thing to the builder, the forward pass, the dense matrix and
the export. The scheme chooses the own blocks, the shared part and the read-out:

- ``capped`` (the default, docs/design.md section 1): ``own_t = (diff_w[t] + (1 + chi) mean_w) / S``; the
  shared part is ``mean_w (C - chi (J - C)) / S`` written as the own blocks' ``(1 + chi) mean_w / S``
  on every circuit's pairs, minus the same on the pairs covered more than once (the excess
  ``E = sum_t e e^T - C``), minus ``chi mean_w J / S``. Chi makes the shared part add no net
  interference between different circuits. Read-out ``e[l,t]^T A / S``.
- ``uncorrected``: ``W = sum_t (mean_w + diff_w[t]) (x) u[l,t] e[l-1,t]^T`` with the corrected read-out
  vector ``u = e/S + c (e - 1)`` (``c`` makes different circuits read zero on average).
- ``split``: the corrected read-out vector for ``mean_w`` only, ``diff_w[t] / S`` on the own pairs.

A scheme owns its per-layer constants (chi, or the correction ``c``), its read-out, the
sparse structure of ``W`` for export, the dense blocks written straight from its formula (an
independent check of the forward pass) and each circuit's share of ``W`` (ground truth); its
:class:`SchemeKernel` adds the shared part in the forward pass. :data:`WEIGHT_SCHEMES` is the
registry; a new scheme is one class here.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from theory import BoundaryModel, chi_from_counts

from ..base import Option, Registry, lazy_module, require
from ._kernels import add_slot_pairs, make_slot_pairs, matvec

sp = lazy_module("scipy.sparse")


# ------------------------------------------------------------------------ structures
def _pair_keys(sets_out: np.ndarray, sets_in: np.ndarray, n_slots: int) -> np.ndarray:
    """Sorted keys ``k * n_slots + j`` of every (receiving slot k, sending slot j) pair of every circuit.

    ``T S^2`` keys, with repeats where several circuits cover the same pair; 32-bit when
    ``n_slots^2`` fits (36M pairs at T = 10^6, S = 6 take 144 MB).
    """
    dtype = np.uint32 if n_slots * (n_slots + 1) < 2**32 else np.int64
    out = sets_out.astype(dtype) * dtype(n_slots)
    keys = (out[:, :, None] + sets_in.astype(dtype)[:, None, :]).ravel()
    del out
    keys.sort()
    return keys


def pattern_and_excess(sets_out: np.ndarray, sets_in: np.ndarray, n_slots: int) -> tuple[sp.csr_array, sp.csr_array]:
    """The capped pattern ``C`` and the excess ``E = sum_t e_out[t] e_in[t]^T - C``, from one sort.

    Args:
        sets_out: ``(T, S)`` slots of every circuit at the receiving layer.
        sets_in: ``(T, S)`` slots at the sending layer.
        n_slots: D/d.

    Returns:
        ``(C, E)``: ``(n_slots, n_slots)`` CSR arrays; ``C`` holds ones (float32), ``E`` how
        many times beyond the first each pair is covered (float32; few entries: a pair is
        covered twice only where two circuits share both a receiving and a sending slot).
        At ``T = 10^6``, ``S = 6``, ``D/d = 25,000``: 36M keys, about 3.5 s on one core.

    Example:
        >>> C, E = pattern_and_excess(np.array([[0, 1], [0, 2]]), np.array([[0, 1], [0, 2]]), 3)
        >>> C.toarray().astype(int).tolist(), E.toarray().astype(int).tolist()
        ([[1, 1, 1], [1, 1, 0], [1, 0, 1]], [[1, 0, 0], [0, 0, 0], [0, 0, 0]])
    """
    keys = _pair_keys(sets_out, sets_in, n_slots)
    first = np.empty(len(keys), dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    extra = keys[~first]
    keys = keys[first]
    counts = np.bincount(keys // keys.dtype.type(n_slots), minlength=n_slots)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = keys % keys.dtype.type(n_slots)
    del keys
    index_dtype = np.int32 if len(indices) < 2**31 else np.int64
    pattern = sp.csr_array((np.ones(len(indices), dtype=np.float32), indices.astype(index_dtype, copy=False),
                            indptr.astype(index_dtype)), shape=(n_slots, n_slots))
    rows, cols = np.divmod(extra.astype(np.int64), n_slots)
    excess = sp.csr_array((np.ones(len(extra), dtype=np.float32), (rows, cols)), shape=(n_slots, n_slots))
    excess.sum_duplicates()
    return pattern, excess


def exact_chi(pattern: sp.csr_array, sets_out: np.ndarray, sets_in: np.ndarray, n_slots: int) -> float:
    """Chi for which ``sum over t != u of e_out[t]^T (C - chi (J - C)) e_in[u] = 0``.

    Uses ``sum_{t,u} e_out[t]^T C e_in[u] = n_out^T C n_in`` (``n``: circuits per slot) and
    ``e_out[t]^T C e_in[t] = S^2`` for every t, so no ``T x T`` work is needed.
    """
    T, S = sets_out.shape
    n_out = np.bincount(sets_out.ravel(), minlength=n_slots).astype(np.float64)
    n_in = np.bincount(sets_in.ravel(), minlength=n_slots).astype(np.float64)
    hits = float(n_out @ (pattern @ n_in)) - T * S * S
    return chi_from_counts(hits, T, S)


def readout_correction(sets: np.ndarray, n_slots: int) -> float:
    """``c`` in the read-out vector ``u = e/S + c (e - 1)``: ``u[t]^T e[u] = 0`` on average over
    ordered pairs ``t != u`` at this layer; ``c = m / (S (S - m))``, ``m`` the mean number of slots
    two circuits share."""
    T, S = sets.shape
    if T < 2:
        return 0.0
    n = np.bincount(sets.ravel(), minlength=n_slots).astype(np.float64)
    m = float((n * (n - 1)).sum()) / (T * (T - 1))
    return m / (S * (S - m))


def circuit_pairs(s_out: np.ndarray, s_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(K, S*S)`` receiving and sending slots of every ``e_out[k] e_in[k]^T``."""
    S = s_out.shape[1]
    return np.repeat(s_out, S, axis=1), np.tile(s_in, (1, s_in.shape[1]))


def block_entries(rows: np.ndarray, cols: np.ndarray, blocks: np.ndarray, n_slots: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-zero COO entries of ``sum_k blocks[k] (x) (slot pairs rows[k], cols[k])``.

    Args:
        rows, cols: ``(K, P)`` receiving and sending slots of the ``P`` slot pairs of term ``k``.
        blocks: ``(K, d, d)`` the weight that entry ``(i, j)`` of every pair of term ``k`` gets.
        n_slots: D/d (neuron ``i N + slot``).

    Returns:
        ``(row, col, value)`` flat arrays (repeats where terms cover the same entry; zeros dropped).
    """
    d = blocks.shape[1]
    groups = np.arange(d)
    all_rows = (groups[:, None, None, None] * n_slots + rows).repeat(d, 1)  # (d, d, K, P)
    all_cols = (groups[None, :, None, None] * n_slots + cols).repeat(d, 0)
    vals = np.broadcast_to(blocks.transpose(1, 2, 0)[..., None], all_rows.shape)
    keep = vals != 0
    return all_rows[keep], all_cols[keep], vals[keep]


def incidence(sets: np.ndarray, n_slots: int) -> np.ndarray:
    """``(T, N)`` dense 0/1 matrix of ``e[t]`` (for dense checks only)."""
    e = np.zeros((len(sets), n_slots))
    e[np.arange(len(sets))[:, None], sets] = 1.0
    return e


@dataclass(frozen=True, eq=False)
class LayerWeights:
    """What a scheme needs about one network layer ``l >= 2``.

    Attributes:
        layer: l.
        mean: ``(d, d)`` the shared part ``mean_w`` of layer l.
        diff: ``(T, d, d)`` the circuits' parts ``diff_w``.
        sets_out: ``(T, S)`` every circuit's slots at layer l.
        sets_in: ``(T, S)`` at layer l - 1.
        n_slots: N = D/d.
        constants: the scheme's constants at layer l (:meth:`WeightScheme.layer_constants`).
        structure: the scheme's derived structure at layer l (capped: ``(C, E)``), or ``None``.
        on_rows: the rows that read only on-indicator neurons (:attr:`circuits.SmallSystem.on_rows`).
        on_state: ``(d,)`` a clean active circuit's on-indicator neurons at a layer >= 1 (zero elsewhere:
            :attr:`circuits.SmallSystem.on_state`).
        on_neurons: the family's on-indicator neurons (:attr:`circuits.CircuitFamily.on_neurons`).
        on_read: ``(d,)`` the linear read of the on-indicator (:attr:`circuits.SmallSystem.on_read`), or ``None``.
    """

    layer: int
    mean: np.ndarray
    diff: np.ndarray
    sets_out: np.ndarray
    sets_in: np.ndarray
    n_slots: int
    constants: dict
    structure: object = None
    on_rows: tuple = ()
    on_state: np.ndarray | None = None
    on_neurons: tuple = ()
    on_read: np.ndarray | None = None

    @property
    def redundancy(self) -> int:
        return self.sets_out.shape[1]

    @cached_property
    def pair_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """``(keys, counts)``: every (slot at ``l``, slot at ``l - 1``) pair ``n N + m`` that some circuit
        owns, sorted, and how many circuits own it (computed once per layer)."""
        rows, cols = circuit_pairs(self.sets_out, self.sets_in)
        return np.unique(rows.astype(np.int64) * self.n_slots + cols, return_counts=True)


# ------------------------------------------------------------------------ torch side
class SchemeKernel:
    """The shared part of one layer's pre-activations in the forward pass (torch).

    ``constant(touched, b)`` returns ``(b, d)`` added to every slot of each sample;
    ``correct(touched, flat, n_slots)`` adds sparse corrections in place.
    """

    def constant(self, touched, b: int) -> torch.Tensor:
        raise NotImplementedError

    def correct(self, touched, flat: torch.Tensor, n_slots: int) -> None:
        """Nothing by default."""


class _CappedKernel(SchemeKernel):
    """``mean (C (1 + chi') - chi J) / S`` beside the own blocks: ``-chi mean / S`` times the sum over every slot,
    and ``-(1 + chi') mean / S`` on each excess pair (receiving slot, sending slot) as often as it is repeated."""

    def __init__(self, mean: np.ndarray, excess: sp.csr_array, pattern_chi: np.ndarray, shared_chi: np.ndarray,
                 S: float, device):
        # -chi_i mean[i, :] / S on every slot, -(1 + chi'_i) mean[i, :] / S on the excess pairs (per row i)
        self.shared = torch.as_tensor(-shared_chi[:, None] * mean / S, dtype=torch.float32, device=device)
        self.excess = torch.as_tensor(-(1.0 + pattern_chi[:, None]) * mean / S, dtype=torch.float32,
                                      device=device)
        e_t = sp.csr_array(excess.T)  # excess, row = sending slot
        e_t.sum_duplicates()
        self.pairs = make_slot_pairs(e_t.indptr, e_t.indices, e_t.data, device)

    def constant(self, touched, b):
        return matvec(self.shared, touched.total)

    def correct(self, touched, flat, n_slots):
        add_slot_pairs(flat, touched, self.pairs, self._message, n_slots)

    def _message(self, values: torch.Tensor) -> torch.Tensor:
        return matvec(self.excess, values)


class _ReadVectorKernel(SchemeKernel):
    """``-c sum_t read_t r_t`` on every slot (uncorrected: ``read_t = mean + diff_t``; split: ``mean``)."""

    def __init__(self, lw: LayerWeights, device, per_circuit: bool):
        self.c = lw.constants["correction"]
        self.mean = torch.as_tensor(lw.mean, dtype=torch.float32, device=device)
        self.read = torch.as_tensor(lw.mean + lw.diff, dtype=torch.float32, device=device) if per_circuit else None

    def constant(self, touched, b):
        dev = touched.total.device
        d = touched.total.shape[1]
        if self.read is None:
            summed = matvec(self.mean, touched.sums)
        else:
            summed = matvec(self.read.index_select(0, touched.circuit), touched.sums)
        per_sample = torch.zeros(b, d, device=dev).index_add_(0, touched.sample, summed)
        m = len(touched.dense)
        if m:  # every circuit of the dense samples, summed in circuit order
            T = touched.dense_sums.shape[0]
            every = matvec(self.mean, touched.dense_sums) if self.read is None else matvec(self.read, touched.dense_sums)
            over = torch.zeros(1, m * d, device=dev).index_add_(
                0, torch.zeros(T, dtype=torch.long, device=dev), every.reshape(T, m * d))
            per_sample.index_copy_(0, touched.dense, over.view(m, d))
        return per_sample * (-self.c)


def off_diagonal_pattern(sets: np.ndarray, n_slots: int) -> tuple[sp.csr_array, sp.csr_array]:
    """The pattern ``C`` of every circuit's pairs of *distinct* slots of one set family, and its excess.

    ``C = min(1, sum_t (e[t] e[t]^T - diag e[t]))`` and ``E = sum_t (e e^T - diag e) - C``. When any two sets
    share at most one slot, no pair ``(k, m)``, ``k != m``, belongs to two circuits and ``E`` is empty.

    Example:
        >>> C, E = off_diagonal_pattern(np.array([[0, 1], [1, 2]]), 3)
        >>> C.toarray().astype(int).tolist(), E.nnz
        ([[0, 1, 0], [1, 0, 1], [0, 1, 0]], 0)
    """
    pattern, excess = pattern_and_excess(sets, sets, n_slots)
    counts = np.bincount(np.asarray(sets).ravel(), minlength=n_slots)
    pattern = sp.csr_array(pattern - sp.diags_array((counts > 0).astype(np.float32)))
    excess = sp.csr_array(excess - sp.diags_array(np.maximum(counts - 1, 0).astype(np.float32)))
    pattern.eliminate_zeros()
    excess.eliminate_zeros()
    return pattern, excess


def off_diagonal_chi(pattern: sp.csr_array, sets: np.ndarray, n_slots: int) -> float:
    """Chi for which ``sum over t != u of e[t]^T (C - chi (J - I - C)) e[u] = 0`` (``C`` of
    :func:`off_diagonal_pattern`): the shared part on the pairs of distinct slots adds no net interference.

    Uses ``e[t]^T C e[t] = S (S - 1)`` and ``sum_{t != u} e[t]^T I e[u] = sum_k n_k (n_k - 1)`` (``n_k``:
    circuits per slot).
    """
    T, S = sets.shape
    n = np.bincount(np.asarray(sets).ravel(), minlength=n_slots).astype(np.float64)
    hits = float(n @ (pattern @ n)) - T * S * (S - 1)
    pairs = T * (T - 1) * S * S - float((n * (n - 1)).sum())
    return 0.0 if hits <= 0 or pairs <= hits else hits / (pairs - hits)


class _GatedKernel(SchemeKernel):
    """The gated scheme's shared part: the payload rows' capped part (if any) and the slot-local term.

    ``local[k]`` ``(d, d)`` multiplies slot ``k``'s activations at layer ``l - 1`` into its own pre-activations
    at layer ``l`` (the on-indicator's step, the gate, minus the diagonal of the circuits' own blocks).
    """

    def __init__(self, part: "_CappedKernel | None", local: np.ndarray, d: int, device):
        self.part = part
        self.d = d
        self.local = torch.as_tensor(local, dtype=torch.float32, device=device)

    def constant(self, touched, b):
        if self.part is None:
            return torch.zeros(b, self.d, device=touched.total.device)
        return self.part.constant(touched, b)

    def correct(self, touched, flat, n_slots):
        if self.part is not None:
            self.part.correct(touched, flat, n_slots)
        if len(touched.rows):
            slots = touched.rows - torch.div(touched.rows, n_slots, rounding_mode="floor") * n_slots
            flat.index_add_(0, touched.rows, matvec(self.local.index_select(0, slots), touched.values))


# ------------------------------------------------------------------------- schemes
class WeightScheme(Option):
    """A way to set the weights (base class; see the module docstring).

    Class attributes: ``name`` (registry key), ``help`` (one line), ``argument`` (how its argument is
    written, ``""`` for none), ``constant_names`` (the per-layer constants it saves), ``has_chi``
    (whether its shared part carries chi, so that ``chi_scale`` and ``tuned-chi`` act on it).
    The layers above ask a scheme what they need (:meth:`boundary_model`), never its class.
    """

    parameter = "weight_scheme"
    constant_names: tuple = ()
    has_chi: bool = False
    #: Whether every network layer must use the same sets (each circuit keeps one set for the whole depth):
    #: the builder then draws one permutation for all layers (:func:`circuits.assignment.assign`).
    same_sets: bool = False

    def boundary_model(self) -> BoundaryModel | None:
        """What the boundary theory needs to know about these weights (:class:`theory.BoundaryModel`: the
        failure mechanism and the on-indicator rows' inhibition), or ``None`` where it has no model."""
        return None

    def check_build(self, system, redundancy: int) -> None:
        """Refuse (:class:`circuits.CircuitsError`, before any work) a small system or redundancy these weights
        cannot carry (nothing is refused by default)."""

    def structure(self, sets_out: np.ndarray, sets_in: np.ndarray, n_slots: int, system, layer: int):
        """Derived structure of network layer ``layer >= 2`` of ``system`` kept with the network (``None`` by
        default), from the sets of that layer and the one before."""
        return None

    def layer_constants(self, sets: np.ndarray, layer: int, n_slots: int, chi_scale: float, structure) -> dict:
        """The constants of network layer ``layer`` (0..L) from the sets ``(L+1, T, S)``."""
        raise NotImplementedError

    def own_blocks(self, lw: LayerWeights) -> np.ndarray:
        """``(T, d, d)`` each circuit's own coupling block."""
        raise NotImplementedError

    def read_coefficients(self, constants: dict, redundancy: int) -> tuple[float, float]:
        """``(a, c)``: a circuit reads ``a e[l,t]^T A - c sum_slots A`` per group."""
        return 1.0 / redundancy, 0.0

    def kernel(self, lw: LayerWeights, device) -> SchemeKernel:
        """The torch kernel that adds the shared part in the forward pass."""
        raise NotImplementedError

    def dense(self, lw: LayerWeights) -> np.ndarray:
        """``(d, d, N, N)`` blocks of ``W[l]`` without edges, straight from the formula."""
        raise NotImplementedError

    def extra_entries(self, lw: LayerWeights) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The shared part beside the coupling blocks: COO entries ``(row, col, value)`` and a
        ``(d, D)`` broadcast ``R`` (every neuron of group ``i`` also receives ``R[i] @ A``)."""
        raise NotImplementedError

    def share(self, lw: LayerWeights, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Circuit ``t``'s share of ``W[l]`` as COO entries (see :class:`circuits.export.GroundTruth`)."""
        raise NotImplementedError

    def bias_offset(self, lw: LayerWeights) -> np.ndarray:
        """``(d,)`` what the scheme adds to the family's bias at layer ``l >= 2`` (nothing by default)."""
        return np.zeros(lw.mean.shape[0])

    def residual(self, lw: LayerWeights) -> np.ndarray:
        """``(D, D)`` the part of ``W[l]`` (without edges) that no circuit's share holds."""
        N, d = lw.n_slots, lw.mean.shape[0]
        return np.zeros((d * N, d * N))


def _number_argument(arg: str | None, default: float, text: str) -> float:
    """The number after ``NAME:`` in a weight scheme's text (``default`` when there is none); NaN (refused by the
    caller's range check) when it is not a finite number."""
    try:
        x = float(arg) if arg is not None else default
    except ValueError:
        return math.nan
    return x if math.isfinite(x) else math.nan


def _per_circuit_dense(weights: np.ndarray, left: np.ndarray, e_in: np.ndarray) -> np.ndarray:
    """Blocks ``(i, j)``: ``sum_t weights[t, i, j] left[t] e_in[t]^T``, ``(d, d, N, N)``."""
    d = weights.shape[1]
    return np.stack([np.stack([(left * weights[:, i, j, None]).T @ e_in for j in range(d)]) for i in range(d)])


def _coo(rows, cols, block, d: int, N: int):
    """Entries of ``block (d, d, R, C)`` at neurons ``(i N + rows, j N + cols)``, zeros dropped."""
    groups = np.arange(d)
    all_rows = np.broadcast_to(groups[:, None, None, None] * N + rows, block.shape)
    all_cols = np.broadcast_to(groups[None, :, None, None] * N + cols, block.shape)
    keep = block != 0
    return all_rows[keep], all_cols[keep], block[keep]


class Capped(WeightScheme):
    name = "capped"
    help = "shared part on the capped pattern C with the chi correction (the default)"
    constant_names = ("chi",)
    has_chi = True

    def boundary_model(self):
        return BoundaryModel(mechanism="spurious-on")

    def structure(self, sets_out, sets_in, n_slots, system, layer):
        return pattern_and_excess(sets_out, sets_in, n_slots)

    def layer_constants(self, sets, layer, n_slots, chi_scale, structure):
        if layer < 2:
            return {"chi": 0.0}
        return {"chi": chi_scale * exact_chi(structure[0], sets[layer], sets[layer - 1], n_slots)}

    def pattern_chi(self, lw) -> np.ndarray:
        """``(d,)`` chi' of each row: the shared part is ``(1 + chi') mean C / S`` on the capped pattern."""
        return np.full(lw.mean.shape[0], lw.constants["chi"])

    def shared_chi(self, lw) -> np.ndarray:
        """``(d,)`` chi of each row in the rank-one term ``-chi mean J / S``."""
        return np.full(lw.mean.shape[0], lw.constants["chi"])

    def own_blocks(self, lw):
        return (lw.diff + (1.0 + self.pattern_chi(lw))[:, None] * lw.mean) / lw.redundancy

    def kernel(self, lw, device):
        return _CappedKernel(lw.mean, lw.structure[1], self.pattern_chi(lw), self.shared_chi(lw), lw.redundancy,
                             device)

    def dense(self, lw):
        S, N = lw.redundancy, lw.n_slots
        pc, sc = self.pattern_chi(lw)[:, None, None, None], self.shared_chi(lw)[:, None, None, None]
        e_out, e_in = incidence(lw.sets_out, N), incidence(lw.sets_in, N)
        cap = np.minimum(1.0, e_out.T @ e_in)
        shared = (1.0 + pc) * cap - sc  # (d, 1, N, N): C - chi (J - C) with row i's chi
        return (_per_circuit_dense(lw.diff, e_out, e_in) + lw.mean[:, :, None, None] * shared) / S

    def extra_entries(self, lw):
        S, N, d = lw.redundancy, lw.n_slots, lw.mean.shape[0]
        pc, sc = self.pattern_chi(lw)[:, None], self.shared_chi(lw)[:, None]
        excess = lw.structure[1].tocoo()
        block = (-(1.0 + pc) / S * lw.mean)[:, :, None] * excess.data[None, None, :].astype(np.float64)
        rows, cols, vals = _coo(excess.row[None, :], excess.col[None, :], block[:, :, None, :], d, N)
        broadcast = np.repeat(-sc / S * lw.mean, N, axis=1)  # R[i, j N + m] = -chi_i mean[i, j] / S
        return rows, cols, vals, broadcast

    def share(self, lw, t):
        """``(diff_w[t, i, j] + mean_w[i, j] / |K|) / S`` at every pair of ``t``, ``|K|`` the circuits
        owning that pair (its own part plus an equal share of the shared part)."""
        S, N, d = lw.redundancy, lw.n_slots, lw.mean.shape[0]
        s_out, s_in = lw.sets_out[t], lw.sets_in[t]
        counts = _pair_counts(lw, s_out[:, None] * N + s_in[None, :])  # (S, S) |K|
        block = (lw.diff[t][:, :, None, None] + lw.mean[:, :, None, None] / counts) / S  # (d, d, S, S)
        return _coo(s_out[:, None].repeat(S, 1), s_in[None, :].repeat(S, 0), block, d, N)

    def residual(self, lw):
        cap = lw.structure[0].toarray()
        pc, sc = self.pattern_chi(lw)[:, None], self.shared_chi(lw)[:, None]
        return (np.kron(pc * lw.mean, cap) - np.kron(sc * lw.mean, np.ones_like(cap))) / lw.redundancy


class Inhibited(Capped):
    """``inhibited:X``: capped weights whose on-indicator rows need more hits to switch on.

    On the on-indicator rows (the rows that read nothing but on-indicator neurons,
    :attr:`circuits.SmallSystem.on_rows`) the capped pattern carries ``1 + chi + X`` instead of
    ``1 + chi``, and every slot gets the constant ``-X`` (times the row's response to one clean
    active slot) at layers >= 2; the rank-one term keeps chi. A slot that no active circuit owns then
    reads, on its on-indicator, ``k (1 + chi + X) / S - chi z - X`` from ``k`` hits of the ``z S``
    active slots: a large X means it takes nearly all ``S`` slots of one active circuit to pass the
    step, so spurious on-indicators (whose number grows with the width at a fixed load, and which
    cascade) become rare. An active circuit's own slots read ``1 + chi (1 - z)`` as before, whatever X
    and z: the inhibition is a threshold, not a term proportional to the total activity, so it does
    not bias the active circuits. The payload rows keep chi and carry no bias either.
    ``inhibited:0`` is ``capped``. (Theory: :func:`theory.spurious_layer2` with ``inhibition=X``.)
    """

    name = "inhibited"
    argument = "X"
    help = "capped, with on-indicator rows that need nearly all S hits to switch on (X in 0..100; default 8)"
    constant_names = ("chi",)

    def __init__(self, strength: float = 0.0):
        self.strength = float(strength)

    #: X when the spec writes ``inhibited`` alone.
    DEFAULT = 8.0

    @classmethod
    def parse(cls, arg: str | None, text: str) -> "Inhibited":
        x = _number_argument(arg, cls.DEFAULT, text)
        require(0.0 <= x <= MAX_INHIBITION,
                f"weight_scheme inhibited:X needs a number X in 0..{MAX_INHIBITION:g}, got {text!r}",
                parameter="weight_scheme")
        return cls(x + 0.0)  # -0 is 0

    @property
    def text(self) -> str:
        return f"inhibited:{self.strength:g}"

    def boundary_model(self):
        return BoundaryModel(mechanism="unowned-payload", inhibition=self.strength)

    def _row_inhibition(self, lw) -> np.ndarray:
        """``(d,)``: X on the on-indicator rows, 0 on the others."""
        x = np.zeros(lw.mean.shape[0])
        x[list(lw.on_rows)] = self.strength
        return x

    def pattern_chi(self, lw):
        return super().pattern_chi(lw) + self._row_inhibition(lw)

    def bias_offset(self, lw):
        return -self._row_inhibition(lw) * (lw.mean @ lw.on_state)


class Gated(WeightScheme):
    """``gated:G``: every circuit keeps its slots at every layer; its on-indicator is carried slot by slot and each
    payload neuron is switched by its own slot's on-indicator.

    Layout. One permutation of the set family serves every layer (:attr:`same_sets`): circuit ``t`` owns the
    same ``S`` slots ``e[t]`` at every layer. So the on-indicator of slot ``k`` at layer ``l - 1`` says whether
    an active circuit owns slot ``k`` at layer ``l`` too.

    Weights of layer ``l >= 2`` (``S >= 2``, ``G`` the gate, ``u`` the linear read of the on-indicator,
    :attr:`circuits.SmallSystem.on_read`: ``a0 - a1`` for a 2-ReLU step):

    - on-indicator rows (the rows of :attr:`circuits.SmallSystem.on_rows` that every circuit shares, the
      on-indicator's own neurons among them): the small circuits' weights on the identity pattern, slot
      ``k`` reading only its own on-indicator neurons;
    - payload rows (every other row): each circuit's own block ``(diff_w[t] + (1 + chi) mean_w) / (S - 1)``
      on the pairs of *distinct* slots of its set, ``e e^T - diag e`` (the shared weights on payload
      columns with their chi term on the same pairs, as ``capped`` does on its pattern; chi is 0 where
      there are none, as in rotation circuits); its shared weights on on-indicator columns on the
      identity pattern, plus the gate ``G u``, and bias ``b_i - G``.

    Why it works. Nothing ever interferes with an on-indicator (each slot sees only itself), so at every layer
    slot ``k``'s on-indicator is exactly 1 where an active circuit owns ``k`` and 0 elsewhere: the support is
    restored with no false-on slot at all (for a 2-ReLU step; a one-neuron on-indicator is carried the same
    way, with its instability where two active circuits share a slot). A payload row at an owned slot reads
    ``G u @ a - G = 0`` from the gate, and the small circuit's own weights otherwise (no gain); at an unowned
    slot it sits ``G + |b_i|`` below its threshold, more
    than its cross-talk (for rotation each of its ``k`` hits adds ``R_u x / (S - 1)``, at most
    ``k / (S - 1)`` in all), so it stays off. A circuit's own terms sit on pairs that no other circuit
    holds (with an assignment that guarantees two sets share at most one slot; the diagonal carries only
    the slot-local terms), and they
    read the payload and the on-indicator on the same pairs, so the payload's alpha offset cancels pair by
    pair as in ``capped``. With one active circuit the network is therefore exact at any load the
    assignment holds; with several, what remains is first-order cross-talk through inactive circuits that
    join two active ones, and the slots two active circuits share. Cost: no neuron, no layer; the price
    is that circuits no longer move between layers (interference between two circuits recurs at every
    layer; with the payload rotating, its mean square adds up layer by layer as before).
    Cross-circuit couplings are placed as in every scheme. Needs ``S >= 2``, an on-indicator read linearly
    and on-indicator neurons whose weights every circuit shares. Theory (independent circuits with a
    2-ReLU step): :class:`theory.BoundaryModel` with ``mechanism="gated"``.

    Example:
        >>> from circuits import build, evaluate, rotation_circuits
        >>> net = build(rotation_circuits(6000, seed=0), width=2000, redundancy=4, n_layers=3, seed=0,
        ...             weight_scheme="gated", assignment="finite-field")
        >>> ev = evaluate(net, n_active=1, batch_size=20, seed=0)  # load 0.024, 48 circuits per slot
        >>> float(abs(ev.estimate_payload - ev.truth_payload).max()) < 1e-5
        True
    """

    name = "gated"
    argument = "G"
    help = ("each circuit keeps its slots at every layer; on-indicators carried slot by slot, every payload neuron "
            "switched by its own slot's on-indicator (G in (0, 100]; default 4)")
    constant_names = ("chi",)
    same_sets = True
    #: G when the spec writes ``gated`` alone.
    DEFAULT = 4.0

    def __init__(self, gate: float = DEFAULT):
        self.gate = float(gate)

    @classmethod
    def parse(cls, arg: str | None, text: str) -> "Gated":
        g = _number_argument(arg, cls.DEFAULT, text)
        require(0.0 < g <= MAX_GATE,
                f"weight_scheme gated:G needs a number G in (0, {MAX_GATE:g}], got {text!r}", parameter="weight_scheme")
        return cls(g)

    @property
    def text(self) -> str:
        return f"gated:{self.gate:g}"

    def boundary_model(self):
        return BoundaryModel(mechanism="gated", gate=self.gate)

    def check_build(self, system, redundancy):
        require(redundancy >= 2, f"weight_scheme gated needs redundancy >= 2 (a circuit's own terms sit on pairs of "
                                 f"its distinct slots), got {redundancy}", parameter="redundancy")
        require(system.on_read is not None, f"weight_scheme gated needs an on-indicator read linearly from the "
                                            f"neurons; the {system.name!r} system's decode_on is not linear",
                parameter="weight_scheme")
        fam = system.family
        n_weights = fam.n_weight_layers or (fam.mean_w.shape[0] if fam.mean_w.ndim == 3 else 1)
        for layer in range(1, n_weights + 1):  # every distinct layer of weights
            on, _ = _carried(system.on_rows, *system.layer_weights(layer))
            require(all(on[list(fam.on_neurons)]) and not np.any(system.on_read[~on]),
                    f"weight_scheme gated carries the on-indicator slot by slot: the {system.name!r} system's "
                    f"on-indicator neurons must read only on-indicator neurons, with weights every circuit shares "
                    f"(layer {layer} differs)", parameter="weight_scheme")

    @staticmethod
    def _masks(lw) -> tuple[np.ndarray, np.ndarray]:
        """``(on, payload)`` ``(d,)`` bools: the rows carried slot by slot (on-indicator rows every circuit shares)
        and every other row."""
        return _carried(lw.on_rows, lw.mean, lw.diff)

    def structure(self, sets_out, sets_in, n_slots, system, layer):
        """The pattern of the circuits' pairs of distinct slots (:func:`off_diagonal_pattern`), where the payload
        rows share weights on payload columns (``None`` otherwise: rotation circuits)."""
        mean, diff = system.layer_weights(layer)
        _, payload = _carried(system.on_rows, mean, diff)
        return off_diagonal_pattern(sets_out, n_slots) if np.any(mean[np.ix_(payload, payload)] != 0) else None

    def layer_constants(self, sets, layer, n_slots, chi_scale, structure):
        if layer < 2 or structure is None:
            return {"chi": 0.0}
        return {"chi": chi_scale * off_diagonal_chi(structure[0], sets[layer], n_slots)}

    def _payload_mean(self, lw) -> np.ndarray:
        """``mean_w`` kept on the payload rows' payload columns (the part on the pattern of distinct pairs)."""
        _, payload = self._masks(lw)
        return np.where(payload[:, None] & payload[None, :], lw.mean, 0.0)

    def own_blocks(self, lw):
        """``(diff_w[t] + (1 + chi) mean_w) / (S - 1)`` on the payload rows' payload columns, ``diff_w[t] / (S - 1)``
        on their on-indicator columns, zero on the on-indicator rows."""
        on, payload = self._masks(lw)
        chi, S = lw.constants["chi"], lw.redundancy
        blocks = (lw.diff + (1.0 + chi) * self._payload_mean(lw)) / (S - 1)
        blocks[:, on, :] = 0.0
        return blocks

    def _slot_local(self, lw) -> np.ndarray:
        """``(d, d)`` what every slot reads from itself: the on rows' weights, the payload rows' shared weights on
        on-indicator columns plus the gate ``G u`` (and chi's diagonal share of the payload part)."""
        on, payload = self._masks(lw)
        out = np.where(on[:, None] | on[None, :], lw.mean, 0.0)  # on rows; payload rows' on-indicator columns
        out[payload] += self.gate * lw.on_read
        return out + lw.constants["chi"] * self._payload_mean(lw) / (lw.redundancy - 1)

    def local(self, lw) -> np.ndarray:
        """``(N, d, d)`` the slot-local term of every slot: :meth:`_slot_local` minus the own blocks of the
        circuits owning the slot (the diagonal, which the own blocks cover and the scheme leaves out)."""
        own = self.own_blocks(lw)
        N, d, S = lw.n_slots, lw.mean.shape[0], lw.redundancy
        slots = lw.sets_out.ravel()
        diagonal = np.zeros((N, d, d))
        for i, j in zip(*np.nonzero(np.any(own != 0, axis=0))):
            diagonal[:, i, j] = np.bincount(slots, weights=np.repeat(own[:, i, j], S), minlength=N)
        return self._slot_local(lw)[None] - diagonal

    def kernel(self, lw, device):
        part = None
        if lw.structure is not None:
            chi = np.full(lw.mean.shape[0], lw.constants["chi"])
            part = _CappedKernel(self._payload_mean(lw), lw.structure[1], chi, chi, lw.redundancy - 1, device)
        return _GatedKernel(part, self.local(lw), lw.mean.shape[0], device)

    def bias_offset(self, lw):
        _, payload = self._masks(lw)
        return -self.gate * payload

    def dense(self, lw):
        S, N = lw.redundancy, lw.n_slots
        e = incidence(lw.sets_out, N)
        mean, chi = self._payload_mean(lw), lw.constants["chi"]
        cap = np.minimum(1.0, e.T @ e) - np.diag((e.sum(0) > 0).astype(np.float64))  # distinct pairs, capped
        own = _per_circuit_dense(lw.diff, e, e) - np.einsum("tij,tn->ijn", lw.diff, e)[..., None] * np.eye(N)
        _, payload = self._masks(lw)
        out = np.where(payload[:, None, None, None], own, 0.0) / (S - 1)
        out += mean[:, :, None, None] * ((1.0 + chi) * cap - chi * (1.0 - np.eye(N))) / (S - 1)
        return out + self._slot_local(lw)[:, :, None, None] * np.eye(N) - (
            chi * mean[:, :, None, None] * np.eye(N) / (S - 1))

    def extra_entries(self, lw):
        S, N, d = lw.redundancy, lw.n_slots, lw.mean.shape[0]
        mean, chi = self._payload_mean(lw), lw.constants["chi"]
        rows, cols, vals = [], [], []
        if lw.structure is not None:
            excess = lw.structure[1].tocoo()
            block = (-(1.0 + chi) / (S - 1) * mean)[:, :, None] * excess.data[None, None, :].astype(np.float64)
            r, c, v = _coo(excess.row[None, :], excess.col[None, :], block[:, :, None, :], d, N)
            rows.append(r), cols.append(c), vals.append(v)
        local = self.local(lw)
        k, i, j = np.nonzero(local)
        rows.append(i * N + k), cols.append(j * N + k), vals.append(local[k, i, j])
        broadcast = np.repeat(-chi / (S - 1) * mean, N, axis=1)
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), broadcast

    def share(self, lw, t):
        """Circuit ``t``'s share: its own block plus an equal share of the shared payload weights on each pair of
        its distinct slots (``(diff_w[t] + mean_w / |K|) / (S - 1)``, ``|K|`` the circuits owning the pair), and on
        the diagonal of each of its slots an equal share (among the circuits owning the slot) of the slot-local
        step and gate."""
        S, N, d = lw.redundancy, lw.n_slots, lw.mean.shape[0]
        on, payload = self._masks(lw)
        slots = lw.sets_out[t]
        owners = _pair_counts(lw, slots[:, None] * N + slots[None, :])  # (S, S) circuits owning each pair
        distinct = ~np.eye(S, dtype=bool)
        block = (lw.diff[t][:, :, None, None] + self._payload_mean(lw)[:, :, None, None] / owners) / (S - 1)
        block = np.where(payload[:, None, None, None] & distinct, block, 0.0)
        n_k = np.bincount(lw.sets_out.ravel(), minlength=N)[slots].astype(np.float64)
        step_gate = self._slot_local(lw) - lw.constants["chi"] * self._payload_mean(lw) / (S - 1)
        block = block + step_gate[:, :, None, None] * np.eye(S) / n_k[:, None]
        return _coo(slots[:, None].repeat(S, 1), slots[None, :].repeat(S, 0), block, d, N)

    def residual(self, lw):
        N, S = lw.n_slots, lw.redundancy
        mean, chi = self._payload_mean(lw), lw.constants["chi"]
        out = np.zeros((lw.mean.shape[0] * N,) * 2)
        if lw.structure is not None:
            out += chi * np.kron(mean, lw.structure[0].toarray() - (1.0 - np.eye(N))) / (S - 1)
        unowned = (np.bincount(lw.sets_out.ravel(), minlength=N) == 0).astype(np.float64)
        step_gate = self._slot_local(lw) - chi * mean / (S - 1)
        return out + np.kron(step_gate, np.diag(unowned))


def _carried(on_rows, mean: np.ndarray, diff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(on, payload)`` ``(d,)`` bools of one layer: the on-indicator rows (:attr:`circuits.SmallSystem.on_rows`)
    whose weights every circuit shares (``gated`` carries them slot by slot), and every other row."""
    on = np.zeros(mean.shape[0], dtype=bool)
    on[list(on_rows)] = True
    on &= ~np.any(diff != 0, axis=(0, 2))
    return on, ~on


def _pair_counts(lw: LayerWeights, keys: np.ndarray) -> np.ndarray:
    """How many circuits own each (slot at ``l``, slot at ``l - 1``) pair ``n N + m``."""
    unique, counts = lw.pair_counts
    return counts[np.searchsorted(unique, keys)].astype(np.float64)


class _ReadVector(WeightScheme):
    """The two older schemes: a corrected read-out vector ``u = e/S + c (e - 1)``."""

    constant_names = ("correction",)
    #: whether the read-out vector multiplies the whole weight (``uncorrected``) or ``mean_w`` only.
    whole = True

    def layer_constants(self, sets, layer, n_slots, chi_scale, structure):
        return {"correction": readout_correction(sets[layer], n_slots)}

    def read_coefficients(self, constants, redundancy):
        c = constants["correction"]
        return 1.0 / redundancy + c, c

    def own_blocks(self, lw):
        S, c = lw.redundancy, lw.constants["correction"]
        if self.whole:
            return (1.0 / S + c) * (lw.mean + lw.diff)
        return (1.0 / S + c) * lw.mean + lw.diff / S

    def kernel(self, lw, device):
        return _ReadVectorKernel(lw, device, per_circuit=self.whole)

    def _read_weights(self, lw):
        return lw.mean + lw.diff if self.whole else np.broadcast_to(lw.mean, lw.diff.shape)

    def dense(self, lw):
        S, N, c = lw.redundancy, lw.n_slots, lw.constants["correction"]
        e_out, e_in = incidence(lw.sets_out, N), incidence(lw.sets_in, N)
        u = e_out * (1.0 / S + c) - c
        if self.whole:
            return _per_circuit_dense(lw.mean + lw.diff, u, e_in)
        return lw.mean[:, :, None, None] * (u.T @ e_in) + _per_circuit_dense(lw.diff, e_out, e_in) / S

    def extra_entries(self, lw):
        S, N, d, c = lw.redundancy, lw.n_slots, lw.mean.shape[0], lw.constants["correction"]
        per_slot = np.zeros((N, d, d))  # sum of the read weights of every circuit owning each input slot
        np.add.at(per_slot, lw.sets_in.ravel(), np.repeat(self._read_weights(lw), S, axis=0))
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0), -c * per_slot.transpose(1, 2, 0).reshape(d, d * N)

    def share(self, lw, t):
        """Circuit ``t``'s term of ``sum_t w_t (x) u_t e[l-1,t]^T`` (its whole column block)."""
        S, N, d, c = lw.redundancy, lw.n_slots, lw.mean.shape[0], lw.constants["correction"]
        e_out = np.zeros(N)
        e_out[lw.sets_out[t]] = 1.0
        u = (1.0 / S + c) * e_out - c  # (N,) corrected read-out vector
        if self.whole:
            block = (lw.mean + lw.diff[t])[:, :, None, None] * u[:, None]
        else:
            block = lw.mean[:, :, None, None] * u[:, None] + lw.diff[t][:, :, None, None] * e_out[:, None] / S
        block = np.broadcast_to(block, (d, d, N, S))
        return _coo(np.arange(N)[:, None].repeat(S, 1), lw.sets_in[t][None, :].repeat(N, 0), block, d, N)


class Uncorrected(_ReadVector):
    name = "uncorrected"
    help = "no cap: the corrected read-out vector on every weight"
    whole = True


class Split(_ReadVector):
    name = "split"
    help = "the corrected read-out vector for the shared part only"
    whole = False


#: The largest inhibition ``inhibited:X`` accepts.
MAX_INHIBITION = 100.0
#: The largest gate ``gated:G`` accepts.
MAX_GATE = 100.0

#: Weight schemes by name: one class each (``name`` or ``name:argument`` in a spec, see :func:`weight_scheme`).
WEIGHT_SCHEMES = Registry("weight_scheme", [Capped, Uncorrected, Split, Inhibited, Gated])


@functools.lru_cache(maxsize=256)
def _parse_scheme(text: str) -> WeightScheme:
    return WEIGHT_SCHEMES.parse(text)


def weight_scheme(text) -> WeightScheme:
    """The scheme a spec names: ``"capped"``, ``"split"``, ``"inhibited:2"``, ... (a scheme is returned as it is).

    Raises:
        CircuitsError: an unknown name or a bad argument, naming ``weight_scheme``.

    Example:
        >>> weight_scheme("inhibited:2").text, weight_scheme("capped").text
        ('inhibited:2', 'capped')
    """
    if isinstance(text, WeightScheme):
        return text
    require(isinstance(text, str), f"weight_scheme must be a string such as 'capped', got {text!r}",
            parameter="weight_scheme")
    return _parse_scheme(text)
