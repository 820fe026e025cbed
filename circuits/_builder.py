"""Builder: turn a family of small circuits and an assignment into one large network.

The weights are kept in structured form (see ``DESIGN.md`` section 1):

- the per-circuit blocks ``diff_w[t]`` acting through the S-sets ``e[l-1, t] -> e[l, t]``;
- the shared part ``mean_w`` acting through the capped 0/1 pattern ``C[l]`` (a sparse
  ``(D/d) x (D/d)`` matrix: slot ``k`` receives from slot ``j`` when some circuit owns ``k``
  at layer ``l`` and ``j`` at layer ``l-1``);
- the chi term ``-chi[l] mean_w (J - C[l])``, applied as the rank-one ``J`` minus ``C``;
- the excess ``E[l] = sum_t e[l,t] e[l-1,t]^T - C[l]`` (sparse, a few percent of C's entries: the pairs
  that more than one circuit covers), so that the forward pass can apply ``C`` as the per-circuit
  sum minus ``E`` and needs no ``(D/d) x (D/d)`` product.

``C`` and ``E`` come from one sort of the ``T S^2`` pair keys (32-bit while ``(D/d)^2`` fits):
at ``T = 10^6``, ``S = 6``, ``D/d = 25,000`` that is 36M keys: per layer about 3.5 s on one core,
0.6 GB at the peak and 0.28 GB kept (``C``, 35M entries).

Layer 0 holds the active circuits' first pre-activations ``w_t[1] @ a_t[0]`` in their
``e[0]`` neurons, layer 1 is ``ReLU(layer 0 + b)`` (identity weights), and layer ``l >= 2``
applies ``W[l]`` (built from ``w_t[l]``) from the ``e[l-1]`` layout to the ``e[l]`` layout.

A dense ``D x D`` matrix is only made by :meth:`Network.dense_weights`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

from ._assignment import ASSIGNMENTS, Assignment, assign
from ._errors import CircuitsError, require, require_int
from ._families import CircuitFamily

#: Weight constructions: ``capped`` (default, DESIGN.md), ``uncorrected`` (no cap, corrected
#: read-out vector for every weight), ``split`` (corrected read-out for ``mean_w`` only).
METHODS = ("capped", "uncorrected", "split")


@dataclass(frozen=True)
class NetworkConfig:
    """Everything that determines a network besides the family.

    Attributes:
        width: D, the network width; a multiple of the circuit width d.
        redundancy: S, network neurons per small-circuit neuron, 1 <= S <= D/d.
        n_layers: L, the number of computation steps (layers 1..L; layer 0 is the input).
        method: one of :data:`METHODS`.
        chi_scale: multiplier on the chi correction (capped method), finite and >= 0.
        assignment: the assignment method (see ``circuits.ASSIGNMENTS``).
        seed: seeds the per-layer permutations of the assignment.
    """

    width: int
    redundancy: int
    n_layers: int
    method: str = "capped"
    chi_scale: float = 1.0
    assignment: str = "prime-step"
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


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
    """The capped pattern ``C`` and the excess ``E = sum_t e_out[t] e_in[t]^T - C``.

    Args:
        sets_out: ``(T, S)`` slots of every circuit at the receiving layer.
        sets_in: ``(T, S)`` slots at the sending layer.
        n_slots: D/d.

    Returns:
        ``(C, E)``: ``(n_slots, n_slots)`` CSR arrays; ``C`` holds ones (float32), ``E`` how
        many times beyond the first each pair is covered (float32; few entries: a pair is
        covered twice only where two circuits share both a receiving and a sending slot).

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
    from theory import chi_from_counts

    T, S = sets_out.shape
    n_out = np.bincount(sets_out.ravel(), minlength=n_slots).astype(np.float64)
    n_in = np.bincount(sets_in.ravel(), minlength=n_slots).astype(np.float64)
    hits = float(n_out @ (pattern @ n_in)) - T * S * S
    return chi_from_counts(hits, T, S)


def readout_correction(sets: np.ndarray, n_slots: int) -> float:
    """``c`` in the read-out vector ``u = e/S + c (e - 1)`` of the older variants.

    Chosen so that ``u[t]^T e[u] = 0`` on average over ordered pairs ``t != u`` at this layer:
    ``c = m / (S (S - m))`` with ``m`` the mean number of slots two circuits share.
    """
    T, S = sets.shape
    if T < 2:
        return 0.0
    n = np.bincount(sets.ravel(), minlength=n_slots).astype(np.float64)
    m = float((n * (n - 1)).sum()) / (T * (T - 1))
    return m / (S * (S - m))


def build(family: CircuitFamily, *, width: int, redundancy: int, n_layers: int, seed,
          method: str = "capped", chi_scale: float = 1.0, assignment: str = "prime-step",
          device: str = "cpu", graph=None):
    """Construct the large network that computes every circuit of ``family`` at once.

    Args:
        family: the small circuits (T circuits of width d).
        width: D, a multiple of d with ``D/d >= S``.
        redundancy: S, network neurons per small-circuit neuron (>= 1).
        n_layers: L >= 1 computation steps; a per-layer family must have at least L layers.
        seed: seeds the assignment's per-layer permutations.
        method: ``"capped"`` (default), ``"uncorrected"`` or ``"split"``.
        chi_scale: multiplier on chi (capped method only), >= 0.
        assignment: the assignment method.
        device: torch device of the forward pass (``"cpu"``, ``"cuda"``).
        graph: cross-circuit edges (:class:`circuits.CircuitGraph`, edges at layers <= L), or
            ``None`` for independent circuits.

    Returns:
        :class:`circuits.Network`.

    Raises:
        CircuitsError: on any inconsistent or out-of-range argument, before any work.

    Example:
        >>> from circuits import rotation_circuits, build
        >>> net = build(rotation_circuits(n_circuits=557, seed=0), width=1000, redundancy=6,
        ...             n_layers=5, seed=0)
        >>> net.n_slots, round(net.load, 4)
        (250, 0.0089)
    """
    from ._graph import check_graph
    from ._network import Network

    d = family.circuit_width
    T = family.n_circuits
    width = require_int("width", width, d)
    require(width % d == 0, f"width must be a multiple of the circuit width d = {d}, got {width}")
    n_slots = width // d
    redundancy = require_int("redundancy", redundancy, 1, n_slots)
    n_layers = require_int("n_layers", n_layers, 1)
    if family.per_layer:
        require(family.diff_w.shape[0] >= n_layers,
                f"n_layers must be <= {family.diff_w.shape[0]} (the family's layers), got {n_layers}")
    if method not in METHODS:
        raise CircuitsError(f"method must be one of {list(METHODS)}, got {method!r}")
    require(np.isfinite(chi_scale) and chi_scale >= 0, f"chi_scale must be finite and >= 0, got {chi_scale}")
    if assignment not in ASSIGNMENTS:
        raise CircuitsError(f"assignment must be one of {sorted(ASSIGNMENTS)}, got {assignment!r}")
    _check_device(device)
    check_graph(graph, family, n_layers)

    asg: Assignment = assign(T, n_slots, redundancy, n_layers, seed=seed, method=assignment)
    config = NetworkConfig(width=width, redundancy=redundancy, n_layers=n_layers, method=method,
                           chi_scale=float(chi_scale), assignment=assignment, seed=seed)
    patterns, excess, chis = [None], [None], [0.0]
    corrections = [readout_correction(asg.sets[0], n_slots)]
    for layer in range(1, n_layers + 1):
        corrections.append(readout_correction(asg.sets[layer], n_slots))
        if method == "capped" and layer >= 2:
            pattern, extra = pattern_and_excess(asg.sets[layer], asg.sets[layer - 1], n_slots)
            patterns.append(pattern)
            excess.append(extra)
            chis.append(chi_scale * exact_chi(pattern, asg.sets[layer], asg.sets[layer - 1], n_slots))
        else:
            patterns.append(None)
            excess.append(None)
            chis.append(0.0)
    return Network(family=family, config=config, assignment=asg, patterns=tuple(patterns),
                   chi=tuple(chis), corrections=tuple(corrections), device=device, excess=tuple(excess),
                   graph=graph)


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise CircuitsError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CircuitsError("device 'cuda' was asked for but torch sees no CUDA device here")
