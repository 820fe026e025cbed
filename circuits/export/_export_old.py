"""Export: a network as a plain torch module, its ground truth, and saving/loading it.

A method that decomposes networks (sparse dictionaries, attribution, circuit discovery) needs
test models whose computation is known exactly. A constructed network is one:

- :func:`to_module` turns a :class:`~circuits.Network` into a ``torch.nn.Module``, a stack of
  ``L`` (Linear + ReLU) layers acting on ``(B, D)`` tensors, dense or sparse;
- :func:`ground_truth` says which neurons carry which circuit at every layer, each circuit's
  small weights, each circuit's share of every network weight, the cross-circuit edges (which
  receiver reads which sender at which layer, through which block and which neurons), and how
  to encode inputs and decode outputs;
- :func:`save` / :func:`load` write and read a directory ``weights.safetensors`` +
  ``config.json`` that reproduces the network bit for bit.

Layer convention (as in the framework): module input = layer 0 = the active circuits' first
pre-activations (``GroundTruth.encode``); module layer ``l`` (``l = 1..L``) computes network
layer ``l`` from layer ``l - 1``: ``ReLU(W[l] A + b)`` with ``W[1]`` the identity. Neuron
``i N + n`` (``N = D/d``) is slot ``n`` of group ``i``.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ..assignment import Assignment
from ..base import CircuitsError, require, require_int
from ..system import FAMILIES, CircuitFamily

#: The newest saved directory layout. Version 2 adds the cross-circuit edges (``graph.*``
#: arrays, ``"graph"`` in the config). A file records the oldest version that can read it: 1
#: for a network without edges (older circuits still read it), 2 with edges (so that an older
#: circuits refuses it instead of loading the network without its edges).
FORMAT_VERSION = 2
#: The versions :func:`load` reads; it refuses any other.
READABLE_VERSIONS = (1, 2)
#: ``to_module(dense=None)`` uses dense weights up to this width D, sparse ones above.
DENSE_WIDTH = 4096
#: ``to_module(dense=True)`` is refused above this width (one float32 layer would exceed 1 GiB).
MAX_DENSE_WIDTH = 16384

_FORMAT_NAME = "circuits-network"
_WEIGHTS, _CONFIG = "weights.safetensors", "config.json"
_GRAPH_ARRAYS = ("layer", "receiver", "sender", "block")


# ============================================================ weights of one layer
def layer_structure(net, layer: int) -> tuple[sp.csr_array, np.ndarray]:
    """``W[layer]`` as a sparse part plus a group-broadcast part, without going dense.

    ``W[layer][i N + n, :] = P[i N + n, :] + R[i, :]``: every neuron of group ``i`` also
    receives ``R[i] @ A`` (the chi term of the capped method, the read-out correction of the
    older methods). ``P`` holds the per-circuit blocks, the shared part on the pattern and
    the cross-circuit edges of ``net.graph`` (:func:`edge_entries`).

    Args:
        net: the network.
        layer: 1..L (layer 1 is the identity).

    Returns:
        ``P``: ``(D, D)`` float64 CSR with at most ``d^2 (T + E) S^2`` entries (``E`` edges at
        this layer; fewer where the weights are zero); ``R``: ``(d, D)`` float64.
    """
    L = net.n_layers
    layer = require_int("layer", layer, 1, L)
    N, S, d = net.n_slots, net.redundancy, net.circuit_width
    D = d * N
    if layer == 1:
        return sp.csr_array(sp.identity(D, dtype=np.float64, format="csr")), np.zeros((d, D))
    s_out, s_in = net.assignment.sets[layer], net.assignment.sets[layer - 1]
    mean, diff = net.family.layer_weights(layer)
    method = net.config.method
    groups = np.arange(d)
    extra_rows = extra_cols = extra_vals = np.zeros(0)
    if method == "capped":
        chi = net.chi[layer]
        per_circuit = diff / S
        pattern = net.patterns[layer].tocoo()
        extra_rows = (groups[:, None, None] * N + pattern.row[None, None, :]).repeat(d, 1).ravel()
        extra_cols = (groups[None, :, None] * N + pattern.col[None, None, :]).repeat(d, 0).ravel()
        extra_vals = np.broadcast_to(((1 + chi) / S * mean)[:, :, None], (d, d, len(pattern.row))).ravel()
        broadcast = np.repeat(-chi / S * mean, N, axis=1)  # R[i, j N + m] = -chi mean[i, j] / S
    else:
        c = net.corrections[layer]
        read_weights = mean + diff if method == "uncorrected" else np.broadcast_to(mean, diff.shape)
        per_circuit = (1.0 / S + c) * read_weights if method == "uncorrected" else (1.0 / S + c) * mean + diff / S
        per_slot = np.zeros((N, d, d))  # sum of the read weights of every circuit owning each input slot
        np.add.at(per_slot, s_in.ravel(), np.repeat(read_weights, S, axis=0))
        broadcast = -c * per_slot.transpose(1, 2, 0).reshape(d, D)
    rows, cols = _circuit_pairs(s_out, s_in)  # (T, S*S) slot pairs of every circuit
    own = _block_entries(rows, cols, per_circuit, N)
    edges = edge_entries(net, layer)
    p = sp.coo_array((np.concatenate([own[2], edges[2], extra_vals]),
                      (np.concatenate([own[0], edges[0], extra_rows]).astype(np.int64),
                       np.concatenate([own[1], edges[1], extra_cols]).astype(np.int64))), shape=(D, D)).tocsr()
    p.sum_duplicates()
    p.eliminate_zeros()
    p.sort_indices()
    return p, broadcast


def _block_entries(rows: np.ndarray, cols: np.ndarray, blocks: np.ndarray, n_slots: int
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


def edge_entries(net, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COO entries ``(row, col, value)`` of the cross-circuit edge term of ``W[layer]``.

    Every edge ``(l, u, t, B)`` of ``net.graph`` at ``layer`` writes ``B[i, j] / S`` at every
    (row ``i N + n``, column ``j N + m``) with ``n`` in ``u``'s set at ``layer`` and ``m`` in
    ``t``'s set at ``layer - 1``: the term ``e[l,u] (B / S) e[l-1,t]^T`` of ``circuits/_graph.py``.
    Empty without a graph and at layer 1. Repeats (edges covering the same entry) are to be summed.
    """
    graph = getattr(net, "graph", None)
    if graph is None or layer < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    recv, send, block = graph.edges_at(layer)
    rows, cols = _circuit_pairs(net.assignment.sets[layer][recv], net.assignment.sets[layer - 1][send])
    return _block_entries(rows, cols, block / net.redundancy, net.n_slots)


def _circuit_pairs(s_out: np.ndarray, s_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(T, S*S)`` row and column slots of every circuit's ``e_out e_in^T``."""
    S = s_out.shape[1]
    return np.repeat(s_out, S, axis=1), np.tile(s_in, (1, S))


def dense_from_structure(p: sp.csr_array, broadcast: np.ndarray) -> np.ndarray:
    """``(D, D)`` dense ``P + R`` broadcast over each group's rows (see :func:`layer_structure`)."""
    n_slots = p.shape[0] // broadcast.shape[0]
    return p.toarray() + np.repeat(broadcast, n_slots, axis=0)


# ================================================================= torch module
class SparseLinear(nn.Module):
    """``y = P x + b`` plus, for every neuron of group ``i``, ``R[i] @ x``: a sparse Linear layer.

    ``P`` is stored as the three CSR tensors ``crow_indices``, ``col_indices``, ``values``
    (buffers, so the state dict holds plain dense tensors); ``broadcast`` is ``R`` ``(d, D)``.
    """

    def __init__(self, p: sp.csr_array, broadcast: np.ndarray, bias: np.ndarray, *, dtype, device):
        super().__init__()
        self.width = p.shape[0]
        self.n_groups = broadcast.shape[0]
        self.register_buffer("crow_indices", torch.as_tensor(p.indptr, dtype=torch.int64, device=device))
        self.register_buffer("col_indices", torch.as_tensor(p.indices, dtype=torch.int64, device=device))
        self.register_buffer("values", torch.as_tensor(p.data, dtype=dtype, device=device))
        self.register_buffer("broadcast", torch.as_tensor(broadcast, dtype=dtype, device=device))
        self.register_buffer("bias", torch.as_tensor(bias, dtype=dtype, device=device))

    def sparse_weight(self) -> torch.Tensor:
        """``P`` as a ``(D, D)`` sparse CSR tensor."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(self.crow_indices, self.col_indices, self.values,
                                           size=(self.width, self.width), check_invariants=False)

    def dense_weight(self) -> torch.Tensor:
        """The full ``(D, D)`` weight ``P + R`` (costs ``D^2`` memory)."""
        n_slots = self.width // self.n_groups
        return self.sparse_weight().to_dense() + self.broadcast.repeat_interleave(n_slots, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        y = (self.sparse_weight() @ x.T).T
        shared = x @ self.broadcast.T  # (B, d)
        y = (y.reshape(B, self.n_groups, -1) + shared[:, :, None]).reshape(B, self.width)
        return y + self.bias

    def extra_repr(self) -> str:
        return f"width={self.width}, nnz={self.values.numel()}, groups={self.n_groups}"


class ExportedNetwork(nn.Module):
    """The constructed network as a plain module: ``L`` layers ``x <- ReLU(layer(x))``.

    ``layers[l - 1]`` maps network layer ``l - 1`` to the pre-activations of layer ``l``: an
    ``nn.Linear`` (dense) or a :class:`SparseLinear`; all weights are frozen (no gradients).

    Input: ``(B, D)`` layer 0 (see :meth:`GroundTruth.encode`). ``forward`` returns the last
    layer ``(B, D)``; :meth:`activations` returns all ``L + 1`` layers.
    """

    def __init__(self, layers: list[nn.Module], *, width: int, circuit_width: int):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.width = width
        self.circuit_width = circuit_width

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Layers ``0..L`` as ``(B, D)`` tensors (entry 0 is ``x`` itself)."""
        if x.ndim != 2 or x.shape[1] != self.width:
            raise CircuitsError(f"input must have shape (B, {self.width}), got {tuple(x.shape)}")
        out = [x]
        for layer in self.layers:
            out.append(torch.relu(layer(out[-1])))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activations(x)[-1]


def to_module(net, *, dense: bool | None = None, dtype: torch.dtype = torch.float32,
              device: str | None = None) -> ExportedNetwork:
    """The network as a plain ``torch.nn.Module`` whose forward equals ``net.forward``.

    Args:
        net: the network.
        dense: ``nn.Linear`` layers with the full ``(D, D)`` weight (``True``), or
            :class:`SparseLinear` layers built from the structure (``False``); ``None``:
            dense when ``D <= 4096``. Dense is refused above ``D = 16384``. A sparse layer
            stores at most ``d^2 (T + E) S^2`` weights (see :func:`layer_structure`).
        dtype: ``torch.float32`` (as the framework) or ``torch.float64``.
        device: torch device of the module (default: the network's).

    Returns:
        :class:`ExportedNetwork` with ``L`` layers; its state dict holds dense tensors only.
        Cross-circuit edges (``net.graph``) are part of the weights like everything else.
    """
    D = net.width
    if dense is None:
        dense = D <= DENSE_WIDTH
    require(not dense or D <= MAX_DENSE_WIDTH,
            f"dense weights need width <= {MAX_DENSE_WIDTH}, got {D}: use dense=False")
    require(dtype in (torch.float32, torch.float64), f"dtype must be torch.float32 or torch.float64, got {dtype}")
    device = net.device if device is None else device
    bias = np.repeat(net.family.bias, net.n_slots)
    layers = []
    for layer in range(1, net.n_layers + 1):
        p, broadcast = layer_structure(net, layer)
        if dense:
            linear = nn.utils.skip_init(nn.Linear, D, D, dtype=dtype, device=device)
            with torch.no_grad():
                linear.weight.copy_(torch.as_tensor(dense_from_structure(p, broadcast), dtype=dtype))
                linear.bias.copy_(torch.as_tensor(bias, dtype=dtype))
            linear.requires_grad_(False)
            layers.append(linear)
        else:
            layers.append(SparseLinear(p, broadcast, bias, dtype=dtype, device=device))
    return ExportedNetwork(layers, width=D, circuit_width=net.circuit_width)


# ================================================================= ground truth
@dataclass(frozen=True, eq=False)
class GroundTruth:
    """What the network computes and where, to score a method that tries to recover it.

    Attributes:
        network: the :class:`~circuits.Network`.
        neurons: ``(L+1, T, d, S)`` int64: the network neurons (``i N + slot``, as in the
            module's ``(B, D)`` layout) that carry small neuron ``i`` of circuit ``t`` at
            layer ``l`` (``neurons[0] == neurons[1]``).
        circuit_weights: ``(L+1, T, d, d)``: the small weights whose product lands in network
            layer ``l``. Entry 0 is ``w_t[1]`` (applied by :meth:`encode`: layer 0 holds the
            first pre-activations), entry 1 the identity (layer 1 is ``ReLU(layer 0 + b)``),
            entry ``l >= 2`` is ``w_t[l] = mean_w[l] + diff_w[l][t]``.
        bias: ``(d,)`` the small circuits' bias (every layer; network bias ``b_i`` on group ``i``).

    The *share* of circuit ``t`` in ``W[l]`` (:meth:`contribution`): the capped method puts at
    entry (row ``i N + n``, column ``j N + m``) ``(sum_{u in K} diff_w[u, i, j] + mean_w[i, j]) / S``,
    where ``K`` is the set of circuits owning slot ``n`` at layer ``l`` and slot ``m`` at layer
    ``l - 1``; circuit ``t in K`` gets ``(diff_w[t, i, j] + mean_w[i, j] / |K|) / S`` (its own
    part plus an equal share of the shared part). The older methods write ``W[l]`` as a sum over
    circuits of ``w_t ⊗ u_t e[l-1, t]^T`` (``u_t`` the corrected read-out vector); circuit
    ``t``'s share is its term. Layer 1 (identity): the diagonal entry of a slot, split equally
    among the circuits that own it. What no circuit owns is :meth:`residual`: the chi term
    ``-chi mean_w (J - C) / S`` off every circuit's entries (capped), zero for the older
    methods, the identity on unowned slots at layer 1.

    Cross-circuit edges (a network built with ``graph=``; see ``circuits/_graph.py``): edge
    ``e`` says that at layer ``l = graph.layer[e]`` circuit ``u = graph.receiver[e]`` adds
    ``graph.block[e] @ a_t[l-1]`` of circuit ``t = graph.sender[e]`` to its own pre-activation
    (in the small system; the receiver's own on-indicator gates the result). In the network it
    is the term ``e[l,u] (B / S) e[l-1,t]^T`` of ``W[l]``: it writes into the receiver's
    neurons ``receiver_neurons[e] == neurons[l, u]`` from the sender's neurons
    ``sender_neurons[e] == neurons[l - 1, t]``, entry ``(i N + n, j N + m)`` getting
    ``B[i, j] / S``. The edges are no circuit's share: :meth:`edge_contribution` gives each
    edge's term, and ``sum_t contribution(t, l) + sum_{e at l} edge_contribution(e) +
    residual(l) == W[l]``. :meth:`reference` runs the small system with its edges.

    Attributes (edges; ``E = 0`` without a graph):
        graph: the network's :class:`~circuits.CircuitGraph` (``layer``, ``receiver``,
            ``sender``, ``block`` ``(E, d, d)``), or ``None``.
        receiver_neurons: ``(E, d, S)`` int64: the neurons edge ``e`` writes into (the
            receiver's at the edge's layer).
        sender_neurons: ``(E, d, S)`` int64: the neurons it reads (the sender's one layer before).
    """

    network: object = field(repr=False)
    neurons: np.ndarray = field(repr=False)
    circuit_weights: np.ndarray = field(repr=False)
    bias: np.ndarray = field(repr=False)
    graph: object = field(default=None, repr=False)
    receiver_neurons: np.ndarray | None = field(default=None, repr=False)
    sender_neurons: np.ndarray | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    def edge_contribution(self, edge: int) -> sp.csr_array:
        """Edge ``edge``'s term ``e[l,u] (B / S) e[l-1,t]^T`` of ``W[l]`` (see the class doc), ``(D, D)`` CSR.

        Args:
            edge: ``0..E-1``, an index into ``graph.layer`` / ``receiver`` / ``sender`` / ``block``.
        """
        net, graph = self.network, self.graph
        require(graph is not None and graph.n_edges > 0, "edge_contribution needs a network with cross-circuit "
                                                         "edges (built with graph=...); this one has none")
        e = require_int("edge", edge, 0, graph.n_edges - 1)
        layer, S = int(graph.layer[e]), net.redundancy
        rows, cols = _circuit_pairs(net.assignment.sets[layer, graph.receiver[e]][None],
                                    net.assignment.sets[layer - 1, graph.sender[e]][None])
        r, c, v = _block_entries(rows, cols, graph.block[e][None] / S, net.n_slots)
        return sp.csr_array((v, (r, c)), shape=(net.width, net.width))

    def contribution(self, circuit: int, layer: int) -> sp.csr_array:
        """Circuit ``circuit``'s share of ``W[layer]`` (see the class doc), ``(D, D)`` float64 CSR."""
        net = self.network
        T, N, S, d = net.n_circuits, net.n_slots, net.redundancy, net.circuit_width
        t = require_int("circuit", circuit, 0, T - 1)
        layer = require_int("layer", layer, 1, net.n_layers)
        s_out, s_in = net.assignment.sets[layer, t], net.assignment.sets[layer - 1, t]
        groups = np.arange(d)
        if layer == 1:
            idx = (groups[:, None] * N + s_out).ravel()
            vals = np.tile(1.0 / net.assignment.slot_counts(1)[s_out], d)
            return sp.csr_array((vals, (idx, idx)), shape=(d * N, d * N))
        mean, diff = net.family.layer_weights(layer)
        if net.config.method == "capped":
            counts = self._pair_counts(layer, s_out[:, None] * N + s_in[None, :])  # (S, S) |K|
            block = (diff[t][:, :, None, None] + mean[:, :, None, None] / counts) / S  # (d, d, S, S)
            rows, cols = s_out[:, None].repeat(S, 1), s_in[None, :].repeat(S, 0)
        else:
            c = net.corrections[layer]
            e_out = np.zeros(N)
            e_out[s_out] = 1.0
            u = (1.0 / S + c) * e_out - c  # (N,) corrected read-out vector
            if net.config.method == "uncorrected":
                block = (mean + diff[t])[:, :, None, None] * u[:, None]
            else:
                block = mean[:, :, None, None] * u[:, None] + diff[t][:, :, None, None] * e_out[:, None] / S
            block = np.broadcast_to(block, (d, d, N, S))
            rows, cols = np.arange(N)[:, None].repeat(S, 1), s_in[None, :].repeat(N, 0)
        all_rows = np.broadcast_to(groups[:, None, None, None] * N + rows, block.shape)
        all_cols = np.broadcast_to(groups[None, :, None, None] * N + cols, block.shape)
        keep = block != 0
        return sp.csr_array((block[keep], (all_rows[keep], all_cols[keep])), shape=(d * N, d * N))

    def _pair_counts(self, layer: int, keys: np.ndarray) -> np.ndarray:
        """How many circuits own each (slot at ``layer``, slot at ``layer - 1``) pair ``n N + m``."""
        if layer not in self._cache:
            net = self.network
            rows, cols = _circuit_pairs(net.assignment.sets[layer], net.assignment.sets[layer - 1])
            self._cache[layer] = np.unique(rows.astype(np.int64) * net.n_slots + cols, return_counts=True)
        unique, counts = self._cache[layer]
        return counts[np.searchsorted(unique, keys)].astype(np.float64)

    def residual(self, layer: int) -> np.ndarray:
        """The part of ``W[layer]`` that no circuit owns (see the class doc), dense ``(D, D)``."""
        net = self.network
        layer = require_int("layer", layer, 1, net.n_layers)
        N, d = net.n_slots, net.circuit_width
        if layer == 1:
            return np.kron(np.eye(d), np.diag((net.assignment.slot_counts(1) == 0).astype(np.float64)))
        if net.config.method != "capped":
            return np.zeros((d * N, d * N))
        mean, _ = net.family.layer_weights(layer)
        unowned = 1.0 - net.patterns[layer].toarray()
        return np.kron(-net.chi[layer] / net.redundancy * mean, unowned)

    def encode(self, active: np.ndarray, payloads: np.ndarray | None = None) -> torch.Tensor:
        """Layer 0, the module's input: ``(B, D)`` float32 on the network's device.

        Args:
            active: ``(B, z)`` active circuit indices (distinct within a row).
            payloads: ``(B, z, k)`` their payloads (``None`` for a family without payload).
        """
        active, inputs = self._inputs(active, payloads)
        return self.network.embed(active, inputs).reshape(len(active), self.network.width)

    def decode(self, acts, layer: int, circuits: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Read circuits' on-indicators and payloads from ``(B, D)`` activations of ``layer``.

        Args:
            acts: ``(B, D)`` activations of network layer ``layer`` (tensor or array).
            layer: 1..L.
            circuits: ``(B, m)`` circuit indices per sample, or ``None`` for all T.

        Returns:
            ``on`` ``(B, m)`` (or ``(B, T)``) and ``payload`` ``(B, m, k)`` (or ``(B, T, k)``), float64.
        """
        net = self.network
        layer = require_int("layer", layer, 1, net.n_layers)
        acts = torch.as_tensor(acts, device=net.device)
        require(acts.ndim == 2 and acts.shape[1] == net.width,
                f"acts must have shape (B, {net.width}), got {tuple(acts.shape)}")
        if circuits is not None:
            circuits = _check_active(circuits, net.n_circuits, distinct=False)
            require(circuits.shape[0] == acts.shape[0],
                    f"circuits must have {acts.shape[0]} rows, got {circuits.shape[0]}")
        small = net.read_out(acts.reshape(acts.shape[0], net.circuit_width, net.n_slots), layer, circuits)
        small = small.detach().double().cpu().numpy()
        return net.family.decode_on(small), net.family.decode_payload(small)

    def reference(self, active: np.ndarray, payloads: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """What the small circuits themselves compute (with their edges): the truth :meth:`decode` estimates.

        Returns:
            ``on`` ``(L+1, B, z)`` and ``payload`` ``(L+1, B, z, k)``; entry 0 is the input ``a[0]``.
        """
        fam, graph = self.network.family, self.graph
        active, inputs = self._inputs(active, payloads)
        if graph is None:
            run = fam.run(active, inputs, self.network.n_layers)
        else:  # the small system with its edges, run jointly
            from ._graph import run_graph

            run = run_graph(fam, graph, active, inputs, self.network.n_layers)
        return fam.decode_on(run), fam.decode_payload(run)

    def _inputs(self, active, payloads) -> tuple[np.ndarray, np.ndarray]:
        """Checked ``(B, z)`` active circuits and their inputs ``a[0]`` ``(B, z, d)``."""
        fam = self.network.family
        active = _check_active(active, self.network.n_circuits)
        B, z = active.shape
        k = fam.payload_dim
        if k:
            require(payloads is not None, f"payloads of shape {(B, z, k)} are needed for this family")
            payloads = np.asarray(payloads, dtype=np.float64)
            require(payloads.shape == (B, z, k), f"payloads must have shape {(B, z, k)}, got {payloads.shape}")
        return active, fam.encode(payloads, (B, z))


def _check_active(active, n_circuits: int, *, distinct: bool = True) -> np.ndarray:
    active = np.asarray(active)
    require(active.ndim == 2 and active.shape[0] >= 1 and active.shape[1] >= 1
            and np.issubdtype(active.dtype, np.integer),
            f"circuit indices must be an integer array of shape (B, z), got {active.dtype} {active.shape}")
    require(active.min() >= 0 and active.max() < n_circuits, f"circuit indices must be in 0..{n_circuits - 1}")
    if distinct:
        srt = np.sort(active, axis=1)
        require(not np.any(srt[:, 1:] == srt[:, :-1]), "active circuits must be distinct within a sample")
    return active


def ground_truth(net) -> GroundTruth:
    """The :class:`GroundTruth` of ``net``: neurons, weights and shares of every circuit and edge.

    Example:
        >>> from circuits import build, ground_truth, rotation_circuits
        >>> net = build(rotation_circuits(n_circuits=20, seed=0), width=200, redundancy=3,
        ...             n_layers=3, seed=0)
        >>> truth = ground_truth(net)
        >>> truth.neurons.shape, truth.circuit_weights.shape
        ((4, 20, 4, 3), (4, 20, 4, 4))
    """
    T, d, N, L = net.n_circuits, net.circuit_width, net.n_slots, net.n_layers
    neurons = (np.arange(d)[None, None, :, None] * N + net.assignment.sets[:, :, None, :]).astype(np.int64)
    weights = np.empty((L + 1, T, d, d))
    weights[1] = np.eye(d)
    for layer in range(1, L + 1):
        mean, diff = net.family.layer_weights(layer)
        weights[0 if layer == 1 else layer] = mean + diff
    graph = getattr(net, "graph", None)
    if graph is None:
        receivers = senders = np.zeros((0, d, net.redundancy), dtype=np.int64)
    else:
        receivers, senders = neurons[graph.layer, graph.receiver], neurons[graph.layer - 1, graph.sender]
    return GroundTruth(network=net, neurons=neurons, circuit_weights=weights,
                       bias=np.array(net.family.bias, dtype=np.float64), graph=graph,
                       receiver_neurons=receivers, sender_neurons=senders)


# ================================================================ save and load
def save(net, path, *, overwrite: bool = False, metadata: dict | None = None) -> Path:
    """Write ``net`` to the directory ``path``: ``weights.safetensors`` and ``config.json``.

    The weights file holds the family's arrays, the assignment's sets, chi, the read-out
    corrections and, for a network with cross-circuit edges, the graph's ``layer``,
    ``receiver``, ``sender`` and ``block`` arrays (float64 / int64, exact; the config then has
    format version 2, see :data:`FORMAT_VERSION`). ``config.json`` holds every parameter (family name,
    parameters and seed; network config with the assignment seed; the package version; the
    format version) and the SHA-256 of the weights file. A registered family is rebuilt from its
    name and seed on load (and checked against the saved arrays); any other family is restored
    from its arrays, its encode/decode functions stored as affine maps (they must be affine).

    Args:
        net: the network.
        path: the directory (created; must be empty or absent unless ``overwrite``).
        overwrite: replace the two files in an existing directory.
        metadata: extra JSON-able information stored under ``"metadata"``.

    Returns:
        the directory as a :class:`pathlib.Path`.
    """
    from . import __version__

    path = Path(path)
    if path.exists():
        require(path.is_dir(), f"path must be a directory, got the file {path}")
        require(overwrite or not any(path.iterdir()),
                f"path {path} exists and is not empty; pass overwrite=True (cis build --force) to replace it")
    fam = net.family
    arrays = {"family.mean_w": fam.mean_w, "family.diff_w": fam.diff_w, "family.bias": fam.bias,
              "assignment.sets": net.assignment.sets, "network.chi": np.array(net.chi, dtype=np.float64),
              "network.corrections": np.array(net.corrections, dtype=np.float64)}
    rebuild = _registered_twin(fam) is not None
    if not rebuild:
        arrays.update(_affine_codecs(fam))
    graph = getattr(net, "graph", None)
    if graph is not None:
        arrays.update({f"graph.{name}": getattr(graph, name) for name in _GRAPH_ARRAYS})
    config = {
        "format": _FORMAT_NAME,
        "format_version": 1 if graph is None else 2,
        "circuits_version": __version__,
        "family": {"name": fam.name, "rebuild": rebuild, "seed": _jsonable_seed(fam.seed), "params": fam.params,
                   "n_circuits": fam.n_circuits, "circuit_width": fam.circuit_width,
                   "on_neurons": list(fam.on_neurons), "payload_neurons": list(fam.payload_neurons),
                   "payload_dim": fam.payload_dim},
        "network": {**net.config.to_dict(), "seed": _jsonable_seed(net.config.seed)},
        "graph": None if graph is None else {"n_edges": graph.n_edges},
        "metadata": metadata or {},
    }
    from safetensors.numpy import save as st_save

    blob = st_save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
    config["weights"] = {"file": _WEIGHTS, "sha256": hashlib.sha256(blob).hexdigest()}
    try:
        text = json.dumps(config, indent=2, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise CircuitsError(f"family params and metadata must be JSON-able finite values: {err}") from err
    path.mkdir(parents=True, exist_ok=True)
    (path / _CONFIG).unlink(missing_ok=True)  # without config.json a half-written directory is refused
    _write_atomic(path / _WEIGHTS, blob)
    _write_atomic(path / _CONFIG, text.encode())
    return path


def _write_atomic(target: Path, data: bytes) -> None:
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _jsonable_seed(seed):
    if seed is None or isinstance(seed, (int, str)):
        return seed
    if isinstance(seed, np.integer):
        return int(seed)
    return repr(seed)


def _registered_twin(fam: CircuitFamily) -> CircuitFamily | None:
    """The registered family of the same name, seed and params, if it equals ``fam`` exactly."""
    if fam.name not in FAMILIES or not (fam.seed is None or isinstance(fam.seed, (int, np.integer))):
        return None
    try:
        twin = FAMILIES[fam.name](fam.n_circuits, seed=fam.seed, **fam.params)
    except (TypeError, CircuitsError):
        return None
    return twin if _same_family(fam, twin) else None


def _same_family(a: CircuitFamily, b: CircuitFamily) -> bool:
    """Arrays bit for bit, neuron roles, and encode/decode equal on probe inputs."""
    if not all(np.array_equal(x, y) and x.dtype == y.dtype
               for x, y in ((a.mean_w, b.mean_w), (a.diff_w, b.diff_w), (a.bias, b.bias))):
        return False
    if (a.on_neurons, a.payload_neurons, a.payload_dim) != (b.on_neurons, b.payload_neurons, b.payload_dim):
        return False
    acts, payloads = _probes(a.circuit_width, a.payload_dim)
    return all(np.array_equal(f(x), g(x)) for f, g, x in (
        (a.decode_on, b.decode_on, acts), (a.decode_payload, b.decode_payload, acts),
        (lambda p: a.encode(p, (len(p),)), lambda p: b.encode(p, (len(p),)), payloads)))


def _probes(d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed probe activations ``(8, d)`` and payloads ``(8, k)``."""
    rng = np.random.default_rng(20240607)
    return rng.uniform(-2.0, 2.0, (8, d)), rng.uniform(-2.0, 2.0, (8, k))


def _affine_codecs(fam: CircuitFamily) -> dict[str, np.ndarray]:
    """encode/decode_on/decode_payload as affine maps ``x @ matrix + offset``, checked on probes."""
    d, k = fam.circuit_width, fam.payload_dim
    acts, payloads = _probes(d, k)
    maps = {
        "encode": (lambda p: fam.encode(p, (len(p),)), k, payloads),
        "decode_on": (lambda a: fam.decode_on(a)[:, None], d, acts),
        "decode_payload": (fam.decode_payload, d, acts),
    }
    out = {}
    for name, (fn, n_in, probe) in maps.items():
        offset = np.asarray(fn(np.zeros((1, n_in))), dtype=np.float64)[0]
        matrix = np.asarray(fn(np.eye(n_in)), dtype=np.float64).reshape(n_in, offset.size) - offset
        if not np.allclose(fn(probe), probe @ matrix + offset, rtol=1e-9, atol=1e-9):
            raise CircuitsError(
                f"cannot save the {fam.name!r} family: its {name} function is not affine, so it cannot be "
                "stored as arrays; save works for registered families and for families whose encode/decode "
                "functions are affine")
        out[f"codec.{name}.matrix"], out[f"codec.{name}.offset"] = matrix, offset
    return out


def _affine_family(cfg: dict, arrays: dict) -> CircuitFamily:
    def affine(name, squeeze=False):
        matrix, offset = arrays[f"codec.{name}.matrix"], arrays[f"codec.{name}.offset"]

        def fn(x):
            y = np.asarray(x, dtype=np.float64) @ matrix + offset
            return y[..., 0] if squeeze else y
        return fn

    return CircuitFamily(cfg["name"], arrays["family.mean_w"], arrays["family.diff_w"], arrays["family.bias"],
                         tuple(cfg["on_neurons"]), tuple(cfg["payload_neurons"]), int(cfg["payload_dim"]),
                         affine("encode"), affine("decode_on", squeeze=True), affine("decode_payload"),
                         cfg["seed"], dict(cfg["params"]))


def load(path, *, device: str = "cpu"):
    """Read a network written by :func:`save` (or ``cis build``); bit for bit the saved one.

    Format version 1 (no edges) and 2 (with its cross-circuit edges, ``net.graph``) are read.

    Args:
        path: the directory.
        device: torch device of the forward pass.

    Raises:
        CircuitsError: the directory is incomplete (a file missing), corrupt (bad JSON, checksum
            mismatch, unreadable or inconsistent arrays) or of another format version.
    """
    from ..construction import NetworkConfig, _check_device, pattern_and_excess
    from ..construction import Network

    path = Path(path)
    require(path.is_dir(), f"path must be a directory written by save/cis build, got {path}")
    for name in (_CONFIG, _WEIGHTS):
        require((path / name).is_file(), f"incomplete saved network: {path / name} is missing")
    _check_device(device)
    try:
        config = json.loads((path / _CONFIG).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CircuitsError(f"corrupt saved network: {path / _CONFIG} is not valid JSON ({err})") from err
    require(isinstance(config, dict) and config.get("format") == _FORMAT_NAME,
            f"{path / _CONFIG} is not the config of a saved network (no \"format\": \"{_FORMAT_NAME}\")")
    version = config.get("format_version")
    require(version in READABLE_VERSIONS,
            f"{path} has format version {version!r} (written by circuits {config.get('circuits_version')}); "
            f"this circuits reads format versions {', '.join(map(str, READABLE_VERSIONS))} only")
    blob = (path / _WEIGHTS).read_bytes()
    try:
        expected = config["weights"]["sha256"]
    except (KeyError, TypeError) as err:
        raise CircuitsError(f"corrupt saved network: {path / _CONFIG} lacks the weights checksum") from err
    require(hashlib.sha256(blob).hexdigest() == expected,
            f"corrupt saved network: the SHA-256 of {path / _WEIGHTS} does not match the one in {_CONFIG}")
    try:
        from safetensors.numpy import load as st_load

        arrays = st_load(blob)
        fam_cfg, net_cfg = config["family"], config["network"]
        if fam_cfg["rebuild"]:
            family = FAMILIES[fam_cfg["name"]](fam_cfg["n_circuits"], seed=fam_cfg["seed"], **fam_cfg["params"])
            saved = _with_saved_arrays(family, arrays)
            require(_same_family(family, saved),
                    f"the {fam_cfg['name']!r} family rebuilt from seed {fam_cfg['seed']} differs from the saved arrays "
                    f"(saved by circuits {config.get('circuits_version')}): refusing to load a different network")
        else:
            family = _affine_family(fam_cfg, arrays)
        net_config = NetworkConfig(**net_cfg)
        sets = arrays["assignment.sets"]
        L, N = net_config.n_layers, net_config.width // family.circuit_width
        require(sets.shape == (L + 1, family.n_circuits, net_config.redundancy) and sets.min() >= 0
                and sets.max() < N, f"assignment.sets has shape {sets.shape}, inconsistent with {_CONFIG}")
        chi, corrections = arrays["network.chi"], arrays["network.corrections"]
        require(chi.shape == corrections.shape == (L + 1,), "network.chi / network.corrections have the wrong shape")
        patterns, excess = [None, None], [None, None]
        for layer in range(2, L + 1):  # one sort of the pair keys gives both C and its excess E
            both = (pattern_and_excess(sets[layer], sets[layer - 1], N) if net_config.method == "capped"
                    else (None, None))
            patterns.append(both[0])
            excess.append(both[1])
        assignment = Assignment(sets=sets, n_slots=N, method=net_config.assignment, seed=net_config.seed)
        graph = _saved_graph(config, arrays, family, L)
    except CircuitsError as err:
        raise CircuitsError(f"cannot load {path}: {err}") from err
    except Exception as err:  # noqa: BLE001 - any malformed content is a corrupt directory
        raise CircuitsError(f"corrupt saved network in {path}: {type(err).__name__}: {err}") from err
    return Network(family=family, config=net_config, assignment=assignment, patterns=tuple(patterns),
                   chi=tuple(float(x) for x in chi), corrections=tuple(float(x) for x in corrections),
                   device=device, excess=tuple(excess), graph=graph)


def _saved_graph(config: dict, arrays: dict, family: CircuitFamily, n_layers: int):
    """The :class:`~circuits.CircuitGraph` of a saved network (``None`` for one without edges).

    Version 1 files have no graph; version 2 files must have one (config and arrays agree).
    """
    from ._graph import CircuitGraph, check_graph

    info = config.get("graph")
    names = [f"graph.{name}" for name in _GRAPH_ARRAYS]
    if config["format_version"] == 1:
        require(info is None and not any(n in arrays for n in names),
                "a format version 1 file cannot hold cross-circuit edges (graph)")
        return None
    require(isinstance(info, dict) and all(n in arrays for n in names),
            f"format version 2 holds cross-circuit edges: the config's \"graph\" and the arrays {names} are needed")
    graph = CircuitGraph(family.n_circuits, family.circuit_width,
                         **{name: arrays[f"graph.{name}"] for name in _GRAPH_ARRAYS})
    require(graph.n_edges == info.get("n_edges"),
            f"the saved graph has {graph.n_edges} edges but {_CONFIG} says {info.get('n_edges')}")
    check_graph(graph, family, n_layers)
    return graph


def _with_saved_arrays(family: CircuitFamily, arrays: dict) -> CircuitFamily:
    """``family`` with the saved arrays in place of its own (to compare them)."""
    from dataclasses import replace

    return replace(family, mean_w=arrays["family.mean_w"], diff_w=arrays["family.diff_w"], bias=arrays["family.bias"])
