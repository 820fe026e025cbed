"""Reading every circuit out of ``(B, D)`` activations at once, and which circuits are actually on.

The framework reads circuit ``t`` at layer ``l`` as ``a e[l, t]^T A_i - c sum_slots A_i`` for each
group ``i`` (``a``, ``c`` from the weight scheme: ``1/S`` and 0 for capped). Here the sums
``e[l, t]^T A_i`` of all ``T`` circuits are one matrix product with the ``(D/d, T)`` incidence of
the layer (dense while it is small, a sparse CSR product above), so a batch of a million samples
reads out in seconds instead of gathering ``T S`` entries per group and sample.

A circuit is *actually on* at a layer when its read-out on-indicator (the family's
``decode_on`` of its read-out) exceeds :data:`ACTUAL_ON_THRESHOLD` (0.5: the midpoint of the 0..1 range
of the on-indicator; the 2-ReLU step sends everything at or below 0.25 to 0 and everything at or
above 0.75 to 1, so 0.5 is where a value stops being corrected toward 0). It is *intended to be
on* when the sample made it active. The two differ where superposition fails: an active circuit
switched off, or an inactive one switched on by interference (a spurious on-indicator).
Layer 0 holds exactly the active circuits' inputs, so there the actual on-state is the intended one.
"""

from __future__ import annotations

import numpy as np
import torch

from ..base import require_float
from ..construction import Network

#: A circuit is actually on at a layer when its read-out on-indicator exceeds this.
ACTUAL_ON_THRESHOLD = 0.5
#: Above this many entries the ``(D/d, T)`` incidence is used as a sparse matrix.
_DENSE_INCIDENCE = 1 << 24


def incidence(net: Network, layer: int, *, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """``(D/d, T)`` 0/1 incidence of ``layer``'s circuits on slots (dense), or its ``(T, D/d)`` transpose
    as a sparse CSR tensor when ``T D/d`` exceeds ``2^24``."""
    sets = torch.as_tensor(np.asarray(net.assignment.sets[layer], dtype=np.int64))
    T, S = sets.shape
    N = net.n_slots
    if N * T <= _DENSE_INCIDENCE:
        out = torch.zeros(N, T, dtype=dtype, device=device)
        out[sets.to(device), torch.arange(T, device=device)[:, None].expand(T, S)] = 1.0
        return out
    rows = torch.arange(T)[:, None].expand(T, S).reshape(-1)
    coo = torch.sparse_coo_tensor(torch.stack([rows, sets.reshape(-1)]), torch.ones(T * S, dtype=dtype), (T, N),
                                  check_invariants=True)
    return coo.coalesce().to_sparse_csr().to(device)


def read_all(net: Network, acts: torch.Tensor, layer: int, table: torch.Tensor | None = None) -> torch.Tensor:
    """Every circuit's read-out ``(B, T, d)`` from ``(B, D)`` activations of ``layer`` (float as ``acts``).

    Args:
        net: the network.
        acts: ``(B, D)`` activations of network layer ``layer`` (torch).
        layer: 0..L.
        table: :func:`incidence` of the layer (computed when ``None``).
    """
    B = acts.shape[0]
    d, N = net.circuit_width, net.n_slots
    if table is None:
        table = incidence(net, layer, dtype=acts.dtype, device=acts.device)
    grouped = acts.reshape(B, d, N)
    if table.layout == torch.strided:
        sums = (grouped @ table.to(acts.dtype)).transpose(1, 2)  # (B, T, d)
    else:
        sums = (table.to(acts.dtype) @ grouped.reshape(B * d, N).T).T.reshape(B, d, -1).transpose(1, 2)
    a, c = net.scheme.read_coefficients(net.constants[layer], net.redundancy)
    out = a * sums
    if c:
        out = out - c * grouped.sum(-1)[:, None, :]
    return out


def on_readout(net: Network, acts: torch.Tensor, layer: int, table: torch.Tensor | None = None) -> np.ndarray:
    """``(B, T)`` float64: every circuit's read-out on-indicator at ``layer`` (layers 1..L)."""
    small = read_all(net, acts, layer, table).detach().double().cpu().numpy()
    return net.system.family.read_on(small)


def intended_on(active: np.ndarray, n_circuits: int) -> np.ndarray:
    """``(B, T)`` bool: the circuits each sample made active."""
    active = np.asarray(active)
    out = np.zeros((active.shape[0], n_circuits), dtype=bool)
    out[np.arange(active.shape[0])[:, None], active] = True
    return out


def check_threshold(threshold) -> float:
    """The on-threshold, a finite number (the on-indicator's scale is 0..1)."""
    return require_float("on_threshold", threshold, 0.0, 1.0, open_low=True, open_high=True)
