"""Ground truth: which neurons carry which circuit, each circuit's share of the weights, encode and decode.

A method that decomposes networks (sparse dictionaries, attribution, circuit discovery) needs
test models whose computation is known exactly. :func:`ground_truth` says, for a constructed
network, where every small circuit lives at every network layer, its small weights, its share
of every weight matrix, the cross-circuit couplings (which receiver reads which sender at which
layer, through which block and which neurons), how to encode inputs and decode outputs of the
module of :func:`circuits.export.to_module`, and what the small system itself computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from ..base import require, require_int
from ..construction import Network, block_entries, circuit_pairs
from ..system import Couplings
from ._dataset import Dataset, make_dataset


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """What the network computes and where, to score a method that tries to recover it.

    ``L`` below is ``net.network_layers`` (``2 n_layers - 1`` with clean-up layers), ``N = D/d``.

    Attributes:
        network: the :class:`circuits.Network`.
        neurons: ``(L+1, T, d, S)`` int64: the network neurons (``i N + slot``, as in the
            module's ``(B, D)`` layout) that carry small neuron ``i`` of circuit ``t`` at
            network layer ``l`` (``neurons[0] == neurons[1]``).
        circuit_weights: ``(L+1, T, d, d)`` float64: the small weights whose product lands in
            network layer ``l``. Entry 0 is ``w_t[1]`` (applied by :meth:`encode`: layer 0 holds
            the first pre-activations), entry 1 the identity (layer 1 is ``ReLU(layer 0 + b)``),
            entry ``l >= 2`` is ``w_t[l] = mean_w[l] + diff_w[l][t]``.
        bias: ``(d,)`` the small circuits' bias (every layer; network bias ``b_i`` on group ``i``).
        couplings: the system's cross-circuit edges (:class:`circuits.Couplings`: ``layer``,
            ``receiver``, ``sender`` ``(E,)``, ``block`` ``(E, d, d)``), or ``None``.
        receiver_neurons: ``(E, d, S)`` int64: the neurons edge ``e`` writes into (the
            receiver's at the edge's layer); ``E = 0`` without couplings.
        sender_neurons: ``(E, d, S)`` int64: the neurons it reads (the sender's one layer before).

    Shares. The weight scheme (:data:`circuits.WEIGHT_SCHEMES`) says which part of ``W[l]``
    (``l >= 2``) is circuit ``t``'s (:meth:`contribution`). Capped: at entry (row ``i N + n``,
    column ``j N + m``) ``W`` holds ``(sum_{u in K} diff_w[u, i, j] + mean_w[i, j]) / S``, ``K``
    the circuits owning slot ``n`` at layer ``l`` and slot ``m`` at ``l - 1``; circuit ``t`` in
    ``K`` gets ``(diff_w[t, i, j] + mean_w[i, j] / |K|) / S`` (its own part plus an equal share
    of the shared part). The read-out-vector schemes write ``W[l]`` as a sum over circuits of
    ``w_t (x) u_t e[l-1, t]^T`` (``u_t`` the corrected read-out vector); circuit ``t``'s share
    is its term. Layer 1 (identity): the diagonal entry of a slot, split equally among the
    circuits that own it. What no circuit owns is :meth:`residual` (capped: the chi term
    ``-chi mean_w (J - C) / S`` off every circuit's pairs; zero for the others; the identity on
    unowned slots at layer 1).

    Couplings. Edge ``e`` says that at layer ``l = couplings.layer[e]`` circuit
    ``u = couplings.receiver[e]`` adds ``couplings.block[e] @ a_t[l-1]`` of circuit
    ``t = couplings.sender[e]`` to its pre-activation. In the network it is the term
    ``e[l, u] (B / S) e[l-1, t]^T`` of ``W[l]`` (:meth:`edge_contribution`), no circuit's share, so

        sum_t contribution(t, l) + sum_{e at l} edge_contribution(e) + residual(l) == W[l].

    :meth:`reference` runs the small system with its couplings.
    """

    network: Network = field(repr=False)
    neurons: np.ndarray = field(repr=False)
    circuit_weights: np.ndarray = field(repr=False)
    bias: np.ndarray = field(repr=False)
    couplings: Couplings | None = field(default=None, repr=False)
    receiver_neurons: np.ndarray | None = field(default=None, repr=False)
    sender_neurons: np.ndarray | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        net = self.network
        edges = 0 if self.couplings is None else self.couplings.n_edges
        return (f"GroundTruth(T={net.n_circuits}, d={net.circuit_width}, S={net.redundancy}, "
                f"layers={net.network_layers}, edges={edges})")

    # ------------------------------------------------------------------ weights
    def contribution(self, circuit: int, layer: int) -> sp.csr_array:
        """Circuit ``circuit``'s share of ``W[layer]`` (see the class doc).

        Args:
            circuit: t, 0..T-1.
            layer: network layer 1..L.

        Returns:
            ``(D, D)`` float64 CSR.
        """
        net = self.network
        N, d = net.n_slots, net.circuit_width
        t = require_int("circuit", circuit, 0, net.n_circuits - 1)
        layer = require_int("layer", layer, 1, net.network_layers)
        if layer == 1:
            slots = net.assignment.sets[1, t]
            idx = (np.arange(d)[:, None] * N + slots).ravel()
            vals = np.tile(1.0 / net.assignment.slot_counts(1)[slots], d)
            return sp.csr_array((vals, (idx, idx)), shape=(d * N, d * N))
        rows, cols, vals = net.scheme.share(net.layer_weights(layer), t)
        return sp.csr_array((vals, (rows, cols)), shape=(d * N, d * N))

    def residual(self, layer: int) -> np.ndarray:
        """The part of ``W[layer]`` that no circuit's share holds (see the class doc).

        Args:
            layer: network layer 1..L.

        Returns:
            dense ``(D, D)`` float64.
        """
        net = self.network
        layer = require_int("layer", layer, 1, net.network_layers)
        if layer == 1:
            unowned = (net.assignment.slot_counts(1) == 0).astype(np.float64)
            return np.kron(np.eye(net.circuit_width), np.diag(unowned))
        return net.scheme.residual(net.layer_weights(layer))

    def edge_contribution(self, edge: int) -> sp.csr_array:
        """Edge ``edge``'s term ``e[l,u] (B / S) e[l-1,t]^T`` of ``W[l]`` (see the class doc).

        Args:
            edge: 0..E-1, an index into ``couplings.layer`` / ``receiver`` / ``sender`` / ``block``.

        Returns:
            ``(D, D)`` float64 CSR: ``B[i, j] / S`` at (row ``i N + n``, column ``j N + m``) for
            ``n`` in the receiver's slots at ``l`` and ``m`` in the sender's at ``l - 1``.
        """
        net, g = self.network, self.couplings
        require(g is not None and g.n_edges > 0, "edge_contribution needs a system with cross-circuit couplings; "
                                                 "this network has none", parameter="edge")
        e = require_int("edge", edge, 0, g.n_edges - 1)
        layer, sets = int(g.layer[e]), net.assignment.sets
        rows, cols = circuit_pairs(sets[layer, g.receiver[e]][None], sets[layer - 1, g.sender[e]][None])
        r, c, v = block_entries(rows, cols, g.block[e][None] / net.redundancy, net.n_slots)
        return sp.csr_array((v, (r, c)), shape=(net.width, net.width))

    def edges_at(self, layer: int) -> np.ndarray:
        """``(E_l,)`` the indices of the edges at network layer ``layer`` (empty without couplings)."""
        layer = require_int("layer", layer, 1, self.network.network_layers)
        if self.couplings is None:
            return np.zeros(0, dtype=np.int64)
        return np.nonzero(np.asarray(self.couplings.layer) == layer)[0].astype(np.int64)

    def components(self, layers=None) -> dict[int, list[sp.csr_array]]:
        """The truth's own decomposition: per layer, every circuit's share and every edge's term.

        At layer ``l`` the list is ``[contribution(0, l), ..., contribution(T-1, l)]`` followed by
        ``edge_contribution(e)`` for the edges at ``l`` (:meth:`edges_at`), in that order; they add
        up to ``W[l] - residual(l)``. :func:`circuits.score_decomposition` scores this perfectly.

        Args:
            layers: network layers (1..L) to include; default ``2..L``, the constructed weights
                (layer 1 is the identity; ``[1]`` for a one-layer network).

        Returns:
            ``{layer: [(D, D) float64 CSR, ...]}``.
        """
        L = self.network.network_layers
        layers = (list(range(2, L + 1)) or [1]) if layers is None else [require_int("layers", v, 1, L) for v in layers]
        return {layer: [self.contribution(t, layer) for t in range(self.network.n_circuits)]
                + [self.edge_contribution(int(e)) for e in self.edges_at(layer)] for layer in layers}

    def arrays(self) -> dict[str, np.ndarray]:
        """The ground truth as named arrays (written to ``truth.safetensors`` in a zoo entry).

        ``neurons`` ``(L+1, T, d, S)`` int64, ``circuit_weights`` ``(L+1, T, d, d)`` and ``bias``
        ``(d,)`` float64 (see the class doc); with couplings also ``couplings.layer``,
        ``couplings.receiver``, ``couplings.sender`` ``(E,)`` int64, ``couplings.block``
        ``(E, d, d)`` float64, ``receiver_neurons`` and ``sender_neurons`` ``(E, d, S)`` int64.
        The shares :meth:`contribution` are not stored: they follow from the saved network.
        """
        out = {"neurons": self.neurons, "circuit_weights": self.circuit_weights, "bias": self.bias}
        g = self.couplings
        if g is not None:
            out.update({"couplings.layer": np.asarray(g.layer, dtype=np.int64),
                        "couplings.receiver": np.asarray(g.receiver, dtype=np.int64),
                        "couplings.sender": np.asarray(g.sender, dtype=np.int64),
                        "couplings.block": np.asarray(g.block, dtype=np.float64),
                        "receiver_neurons": self.receiver_neurons, "sender_neurons": self.sender_neurons})
        return {k: np.ascontiguousarray(v) for k, v in out.items()}

    # ------------------------------------------------------------ inputs, outputs
    def dataset(self, batch_size: int, *, seed: int = 0, n_active: int | None = None, activations: bool = False,
                reference: bool = False) -> Dataset:
        """A data set of ``batch_size`` samples: the module's inputs and what they mean.

        Samples are drawn as :func:`circuits.evaluate` draws them (whole activation groups, a
        uniform unit payload for each member that takes one) from ``numpy.random.default_rng(seed)``.

        Args:
            batch_size: B, the number of samples.
            seed: seeds the draws (an integer; the same seed gives the same data set).
            n_active: z, circuits active per sample; default the ``n_active`` of the spec the
                network was built from, else 2 (or one activation group).
            activations: also every network layer ``(L+1, B, D)`` (the framework's forward pass).
            reference: also the small circuits' own run, its on-indicators and payloads.

        Returns:
            :class:`circuits.export.Dataset` (``.save(path)`` writes it as safetensors; the schema
            is in ``circuits/export/_dataset.py`` and the README).

        Example:
            >>> from circuits import build, ground_truth, rotation_circuits
            >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
            >>> data = ground_truth(net).dataset(16, seed=0, activations=True, reference=True)
            >>> data.inputs.shape, data.active.shape, data.payloads.shape, data.activations.shape
            (torch.Size([16, 160]), (16, 2), (16, 2, 2), torch.Size([4, 16, 160]))
            >>> float(data.reference_on[3].min())   # every active circuit is on at layer 3
            1.0
        """
        return make_dataset(self.network, batch_size, seed=seed, n_active=n_active, activations=activations,
                            reference=reference)

    def encode(self, active, payloads=None) -> torch.Tensor:
        """Layer 0, the module's input: the active circuits' first pre-activations in their neurons.

        Args:
            active: ``(B, z)`` active circuit indices (distinct within a row).
            payloads: ``(B, z, k)`` their payloads (``None`` for a system without payload).

        Returns:
            ``(B, D)`` float32 tensor on the network's device.
        """
        active, inputs = self._inputs(active, payloads)
        return self.network.embed(active, inputs).reshape(len(active), self.network.width)

    def decode(self, acts, layer: int, circuits=None) -> tuple[np.ndarray, np.ndarray]:
        """Read circuits' on-indicators and payloads from ``(B, D)`` activations of ``layer``.

        Args:
            acts: ``(B, D)`` activations of network layer ``layer`` (tensor or array).
            layer: network layer 1..L.
            circuits: ``(B, m)`` circuit indices per sample, or ``None`` for all T.

        Returns:
            ``on`` ``(B, m)`` (or ``(B, T)``) and ``payload`` ``(B, m, k)`` (or ``(B, T, k)``), float64.
        """
        net = self.network
        layer = require_int("layer", layer, 1, net.network_layers)
        acts = torch.as_tensor(acts, device=net.device)
        require(acts.ndim == 2 and acts.shape[1] == net.width,
                f"acts must have shape (B, {net.width}), got {tuple(acts.shape)}", parameter="acts")
        if circuits is not None:
            circuits = np.asarray(circuits)
            require(circuits.ndim == 2 and circuits.shape[0] == acts.shape[0],
                    f"circuits must have shape (B, m) with B = {acts.shape[0]}, got {circuits.shape}",
                    parameter="circuits")
        small = net.read_out(acts.reshape(acts.shape[0], net.circuit_width, net.n_slots), layer, circuits)
        small = small.detach().double().cpu().numpy()
        family = net.system.family
        return family.read_on(small), family.read_payload(small)

    def reference(self, active, payloads=None) -> tuple[np.ndarray, np.ndarray]:
        """What the small system itself computes (with its couplings): the truth :meth:`decode` estimates.

        Args:
            active: ``(B, z)`` active circuit indices.
            payloads: ``(B, z, k)`` their payloads (``None`` for a system without payload).

        Returns:
            ``on`` ``(L+1, B, z)`` and ``payload`` ``(L+1, B, z, k)`` float64; entry 0 is the input ``a[0]``.
        """
        net = self.network
        active, inputs = self._inputs(active, payloads)
        run = net.system.run(active, inputs, net.n_layers)
        family = net.system.family
        return family.read_on(run), family.read_payload(run)

    def _inputs(self, active, payloads) -> tuple[np.ndarray, np.ndarray]:
        """Checked ``(B, z)`` active circuits and their inputs ``a[0]`` ``(B, z, d)``."""
        system = self.network.system
        active = system.check_active(active)
        B, z = active.shape
        k = system.payload_dim
        require(not k or payloads is not None, f"payloads of shape {(B, z, k)} are needed for this system",
                parameter="payloads")
        return active, system.encode(payloads, (B, z))


def ground_truth(net: Network) -> GroundTruth:
    """The :class:`GroundTruth` of ``net``: neurons, weights and shares of every circuit and edge.

    Args:
        net: the network.

    Example:
        >>> from circuits import build, ground_truth, rotation_circuits
        >>> net = build(rotation_circuits(n_circuits=20, seed=0), width=200, redundancy=3, n_layers=3, seed=0)
        >>> truth = ground_truth(net)
        >>> truth.neurons.shape, truth.circuit_weights.shape
        ((4, 20, 4, 3), (4, 20, 4, 4))
    """
    require(isinstance(net, Network), f"net must be a circuits.Network, got {type(net).__name__}", parameter="net")
    T, d, N, L = net.n_circuits, net.circuit_width, net.n_slots, net.network_layers
    system = net.system
    sets = net.assignment.sets.astype(np.int64)
    neurons = np.arange(d)[None, None, :, None] * N + sets[:, :, None, :]
    weights = np.empty((L + 1, T, d, d))
    weights[1] = np.eye(d)
    for layer in range(1, L + 1):
        mean, diff = system.layer_weights(layer)
        weights[0 if layer == 1 else layer] = mean + diff
    g = system.couplings
    if g is None:
        receivers = senders = np.zeros((0, d, net.redundancy), dtype=np.int64)
    else:
        receivers, senders = neurons[g.layer, g.receiver], neurons[g.layer - 1, g.sender]
    return GroundTruth(network=net, neurons=neurons, circuit_weights=weights,
                       bias=np.array(system.family.bias, dtype=np.float64), couplings=g,
                       receiver_neurons=receivers, sender_neurons=senders)
