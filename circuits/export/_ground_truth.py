"""Ground truth: which neurons carry which circuit, each circuit's share of the weights, encode and decode.

A method that decomposes networks (sparse dictionaries, attribution, circuit discovery) needs
test models whose computation is known exactly. :func:`ground_truth` says, for a constructed
network, where every small circuit lives at every network layer, its small weights, its share
of every weight matrix, the cross-circuit couplings (which receiver reads which sender at which
layer, through which block and which neurons), how to encode inputs and decode outputs of the
module of :func:`circuits.export.to_module`, and what the small system itself computes.

In activation space it says the same: every circuit's neuron directions at every layer
(:meth:`GroundTruth.directions`), the read-out of every circuit from a batch of activations
(:meth:`GroundTruth.read_out`) and which circuits are actually on (:meth:`GroundTruth.on_state`,
read-out on-indicator above :data:`ACTUAL_ON_THRESHOLD`) beside which were meant to be
(:meth:`GroundTruth.intended`), and the truth as a dictionary (:meth:`GroundTruth.dictionary`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..base import lazy_module, require, require_int
from ..construction import Network, block_entries, circuit_pairs
from ..system import Couplings
from ._dataset import Dataset, make_dataset
from ._dictionary import Dictionary
from ._module import feature_embedding
from ._readout import ACTUAL_ON_THRESHOLD, check_threshold, incidence, intended_on, on_readout, read_all

sp = lazy_module("scipy.sparse")


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

    Activations. At network layer ``l`` small neuron ``i`` of circuit ``t`` lives on the ``S``
    neurons ``neurons[l, t, i]``; its *direction* is the unit vector with ``1/sqrt(S)`` on each of
    them (:meth:`directions`), so circuit ``t`` with small activations ``a`` adds
    ``sqrt(S) sum_i a_i directions[t d + i]`` to the layer (directions of one circuit are
    orthonormal; two circuits share at most one neuron per group, so theirs have cosine at most
    ``1/S``). :meth:`read_out` inverts this for every circuit at once (interference included);
    :meth:`on_state` says which circuits are actually on (their read-out on-indicator above
    :data:`ACTUAL_ON_THRESHOLD`, 0.5), :meth:`intended` which were made active.
    """

    network: Network = field(repr=False)
    neurons: np.ndarray = field(repr=False)
    circuit_weights: np.ndarray = field(repr=False)
    bias: np.ndarray = field(repr=False)
    couplings: Couplings | None = field(default=None, repr=False)
    receiver_neurons: np.ndarray | None = field(default=None, repr=False)
    sender_neurons: np.ndarray | None = field(default=None, repr=False)
    _tables: dict = field(default_factory=dict, init=False, repr=False, compare=False)

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

    # ------------------------------------------------------------ activations
    def directions(self, layer: int) -> sp.csr_array:
        """Every circuit's neuron directions at ``layer`` (see the class doc).

        Args:
            layer: network layer 0..L.

        Returns:
            ``(T d, D)`` float64 CSR: row ``t d + i`` has ``1/sqrt(S)`` on ``neurons[layer, t, i]``
            (unit norm).

        Example:
            >>> from circuits import build, ground_truth, rotation_circuits
            >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
            >>> dirs = ground_truth(net).directions(2)
            >>> dirs.shape, dirs[0].nnz, float(dirs[0].multiply(dirs[0]).sum())
            ((160, 160), 4, 1.0)
        """
        net = self.network
        layer = require_int("layer", layer, 0, net.network_layers)
        T, d, S = net.n_circuits, net.circuit_width, net.redundancy
        cols = self.neurons[layer].reshape(T * d, S)
        rows = np.repeat(np.arange(T * d), S)
        return sp.csr_array((np.full(T * d * S, 1.0 / np.sqrt(S)), (rows, cols.ravel())), shape=(T * d, net.width))

    def _table(self, layer: int, dtype, device) -> torch.Tensor:
        key = (layer, dtype, str(device))
        if key not in self._tables:
            self._tables[key] = incidence(self.network, layer, dtype=dtype, device=device)
        return self._tables[key]

    def _acts(self, acts, layer: int) -> torch.Tensor:
        net = self.network
        acts = torch.as_tensor(acts)
        require(acts.ndim == 2 and acts.shape[1] == net.width,
                f"acts must have shape (B, {net.width}), got {tuple(acts.shape)}", parameter="acts")
        return acts if acts.dtype.is_floating_point else acts.float()

    def read_out(self, acts, layer: int) -> torch.Tensor:
        """Every circuit's small activations read from ``(B, D)`` activations of ``layer``, at once.

        The same read-out as :meth:`decode` (the weight scheme's ``e[l, t]^T A / S`` per group for
        capped), computed as one product with the layer's incidence: fast enough for millions of
        samples (float round-off aside, it equals :meth:`decode`'s).

        Args:
            acts: ``(B, D)`` activations of network layer ``layer`` (torch or numpy).
            layer: network layer 0..L.

        Returns:
            ``(B, T, d)`` tensor of ``acts``' float type (float32 for integer input), on its device.
        """
        layer = require_int("layer", layer, 0, self.network.network_layers)
        acts = self._acts(acts, layer)
        return read_all(self.network, acts, layer, self._table(layer, acts.dtype, acts.device))

    def on_readout(self, acts, layer: int) -> np.ndarray:
        """``(B, T)`` float64: every circuit's read-out on-indicator (``decode_on`` of :meth:`read_out`) at ``layer``.

        Args:
            acts: ``(B, D)`` activations of network layer ``layer`` (1..L).
            layer: network layer 1..L.
        """
        layer = require_int("layer", layer, 1, self.network.network_layers)
        acts = self._acts(acts, layer)
        return on_readout(self.network, acts, layer, self._table(layer, acts.dtype, acts.device))

    def on_state(self, acts, layer: int, *, on_threshold: float = ACTUAL_ON_THRESHOLD) -> np.ndarray:
        """Which circuits are actually on: ``(B, T)`` bool, read-out on-indicator above ``threshold``.

        Where superposition works this is :meth:`intended`; where it fails, an active circuit
        reads off (its on-indicator lost) or an inactive one reads on (switched on by
        interference), and a method that finds the network's features finds these.

        Args:
            acts: ``(B, D)`` activations of network layer ``layer``.
            layer: network layer 1..L.
            on_threshold: in (0, 1); default :data:`ACTUAL_ON_THRESHOLD` (0.5, the midpoint of the step that
                error-corrects on-indicators: at or below 0.25 goes to 0, at or above 0.75 to 1).

        Example:
            >>> import numpy as np
            >>> from circuits import build, ground_truth, rotation_circuits
            >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
            >>> truth = ground_truth(net)
            >>> data = truth.dataset(100, seed=0, activations=True)   # 2 of 40 circuits on per sample
            >>> intended = truth.intended(data.active)
            >>> for layer in (1, 2, 3):   # this small network is overloaded: spurious circuits switch on
            ...     actual = truth.on_state(data.activations[layer], layer)
            ...     print(layer, int((actual & ~intended).sum()), int((intended & ~actual).sum()))
            1 0 0
            2 154 0
            3 343 48
        """
        on_threshold = check_threshold(on_threshold)
        return self.on_readout(acts, layer) > on_threshold

    def intended(self, active) -> np.ndarray:
        """``(B, T)`` bool: the circuits each sample made active (``active`` ``(B, z)`` indices)."""
        active = self.network.system.check_active(active)
        return intended_on(active, self.network.n_circuits)

    def dictionary(self, layer: int, *, on_threshold: float = ACTUAL_ON_THRESHOLD) -> Dictionary:
        """The truth as a dictionary of ``layer``'s activations: what a perfect method would return.

        Its features are :meth:`directions` (``T d`` of them, feature ``t d + i`` for small neuron
        ``i`` of circuit ``t``); its encoder gives feature ``t d + i`` the code
        ``sqrt(S) read_out[t, i]`` where circuit ``t`` is actually on (:meth:`on_state` at
        ``on_threshold``) and 0 where it is not, so ``codes @ directions`` rebuilds the on circuits'
        activations (their read-outs placed on their neurons).

        Args:
            layer: network layer 1..L.
            on_threshold: the on-threshold of the encoder's gate.

        Returns:
            :class:`circuits.export.Dictionary` named ``"truth"``.
        """
        net = self.network
        layer = require_int("layer", layer, 1, net.network_layers)
        on_threshold = check_threshold(on_threshold)
        scale = float(np.sqrt(net.redundancy))

        def encode(acts: torch.Tensor) -> torch.Tensor:
            small = self.read_out(acts, layer)  # (B, T, d)
            on = net.system.family.read_on(small.detach().double().cpu().numpy()) > on_threshold  # as on_state
            return (scale * small * torch.as_tensor(on, device=small.device)[:, :, None]).reshape(small.shape[0], -1)

        return Dictionary(self.directions(layer), layer=layer, encoder=encode, name="truth")

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

    def encode_features(self, active, payloads=None) -> torch.Tensor:
        """The sparse-feature input of ``to_module(net, feature_input=True)``: ``(B, T (1 + k))`` float32.

        Circuit ``t``'s slot is ``[t (1+k), (t+1)(1+k))``: its on-indicator (1 if active, else 0)
        then its payload (0 when inactive or without one). The module's embedding
        (:func:`circuits.export.feature_embedding`) maps it to what :meth:`encode` gives.

        Args:
            active: ``(B, z)`` active circuit indices.
            payloads: ``(B, z, k)`` their payloads (``None`` for a system without payload).
        """
        net = self.network
        active, _ = self._inputs(active, payloads)
        B, z = active.shape
        k = net.system.payload_dim
        out = np.zeros((B, net.n_circuits, 1 + k), dtype=np.float32)
        rows = np.arange(B)[:, None]
        out[rows, active, 0] = 1.0
        if k:
            given = np.asarray(payloads, dtype=np.float64) * net.system.takes_payload(active)[..., None]
            out[rows, active, 1:] = given
        return torch.from_numpy(out.reshape(B, -1)).to(net.device)

    def feature_embedding(self) -> sp.csr_array:
        """``(D, T (1 + k))``: the embedding of :meth:`encode_features` (:func:`circuits.export.feature_embedding`)."""
        return feature_embedding(self.network)

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
