"""Cross-circuit computation: circuits that read other circuits' activations.

A :class:`CircuitGraph` lists edges ``(layer l, receiver u, sender t, block B)``: at
computation layer ``l`` (2..L) circuit ``u`` adds ``B @ a_t[l-1]`` to its pre-activation,
besides its own ``w_u[l] @ a_u[l-1]``:

    a_u[l] = ReLU(w_u[l] a_u[l-1] + sum_{edges (l, u, t, B)} B a_t[l-1] + b)

Layer 1 carries no edges (in the large network layer 0 already holds the first
pre-activations and layer 1 only adds the bias). With no edges every circuit computes alone.
The receiver's own on-indicator gates what it computes: the blocks of :func:`rotation_chains`
read the sender's *decoded* payload ``x_t`` and add ``R_u x_t`` to the payload rows only, so an
inactive receiver's payload pre-activation is ``R_u x_t - b <= 0`` (``|x_t| <= 1``, ``b >= 1``)
and it stays exactly zero. :func:`rotation_fan_in` has a receiver read two senders with
half-weight blocks (it rotates the mean of their vectors, norm <= 1, so the same holds).
Evaluation reports errors by the depth of a circuit in the graph (:meth:`CircuitGraph.depth`,
the ``chain_position`` of the rows of :func:`chain_rows`).

In the large network each edge is the read-out of ``t``'s neurons written into ``u``'s
neurons through the S-sets of both:

    W[l] += sum_edges e[l,u] (B / S) e[l-1,t]^T      (per group pair (i, j): B[i, j])

It is a per-pair term like ``diff_w`` (no cap). The forward pass applies it structurally
(:func:`add_edge_term`: the sender's input sums ``e[l-1,t]^T A``, already gathered for the
touched circuits, times ``B / S``, scattered into the receiver's ``e[l,u]`` slots);
:func:`dense_edge_blocks` writes the same term densely for :meth:`Network.dense_weights`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ._errors import CircuitsError, require, require_int
from ._families import CircuitFamily, rotation_circuits


@dataclass(frozen=True, eq=False)
class CircuitGraph:
    """Cross-circuit edges of a family of ``T`` circuits of width ``d``.

    Attributes:
        n_circuits: T.
        circuit_width: d.
        layer: ``(E,)`` computation layer of each edge, in ``2..L``.
        receiver: ``(E,)`` circuit ``u`` that adds the term to its pre-activation.
        sender: ``(E,)`` circuit ``t`` whose activations ``a_t[l-1]`` are read (``t != u``).
        block: ``(E, d, d)`` the matrix ``B`` applied to ``a_t[l-1]``.

    Example:
        >>> import numpy as np
        >>> g = CircuitGraph(3, 2, layer=[2], receiver=[1], sender=[0], block=np.eye(2)[None])
        >>> g.n_edges, g.max_layer
        (1, 2)
    """

    n_circuits: int
    circuit_width: int
    layer: np.ndarray
    receiver: np.ndarray
    sender: np.ndarray
    block: np.ndarray

    def __post_init__(self):
        T = require_int("n_circuits", self.n_circuits, 1)
        d = require_int("circuit_width", self.circuit_width, 1)
        arrays = {}
        for name in ("layer", "receiver", "sender"):
            arr = np.asarray(getattr(self, name))
            require(arr.ndim == 1, f"{name} must have shape (E,), got {arr.shape}")
            require(arr.size == 0 or np.issubdtype(arr.dtype, np.integer), f"{name} must hold integers")
            arrays[name] = arr.astype(np.int64)
        E = len(arrays["layer"])
        require(len(arrays["receiver"]) == E and len(arrays["sender"]) == E,
                f"layer, receiver and sender must have the same length E, got "
                f"{[len(a) for a in arrays.values()]}")
        block = np.asarray(self.block, dtype=np.float64)
        if E == 0 and block.size == 0:
            block = block.reshape(0, d, d)
        require(block.shape == (E, d, d), f"block must have shape (E, d, d) = {(E, d, d)}, got {block.shape}")
        require(bool(np.all(np.isfinite(block))), "block must be finite (found NaN or inf)")
        if E:
            require(arrays["layer"].min() >= 2, f"layer must be >= 2 (layer 1 carries no edges), "
                                                f"got {int(arrays['layer'].min())}")
            for name in ("receiver", "sender"):
                a = arrays[name]
                require(a.min() >= 0 and a.max() < T, f"{name} must hold circuit indices in 0..{T - 1}")
            require(not np.any(arrays["receiver"] == arrays["sender"]),
                    "an edge must join two different circuits (receiver != sender)")
        object.__setattr__(self, "n_circuits", T)
        object.__setattr__(self, "circuit_width", d)
        for name, arr in arrays.items():
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        block.setflags(write=False)
        object.__setattr__(self, "block", block)

    @property
    def n_edges(self) -> int:
        """E."""
        return len(self.layer)

    @property
    def max_layer(self) -> int:
        """The last layer that carries an edge (1 when there are none)."""
        return int(self.layer.max()) if self.n_edges else 1

    def edges_at(self, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(receiver, sender, block)`` of the edges of ``layer``, sorted by sender."""
        sel = np.nonzero(self.layer == layer)[0]
        sel = sel[np.argsort(self.sender[sel], kind="stable")]
        return self.receiver[sel], self.sender[sel], self.block[sel]

    def edges_per_circuit(self) -> float:
        """Mean number of incoming edges per circuit, ``E / T``."""
        return self.n_edges / self.n_circuits

    def depth(self) -> np.ndarray:
        """``(T,)`` depth of every circuit: 1 for a circuit that receives no edge, else 1 + the
        largest depth of its senders (the number of circuits on the longest path of edges
        ending at it, whatever the layers of the edges).

        Raises :class:`CircuitsError` when the edges form a cycle (no depth is defined).

        Example:
            >>> g = CircuitGraph(4, 1, layer=[2, 3, 2], receiver=[1, 2, 2], sender=[0, 1, 3],
            ...                  block=np.ones((3, 1, 1)))
            >>> g.depth().tolist()
            [1, 2, 3, 1]
        """
        depth = np.ones(self.n_circuits, dtype=np.int64)
        for _ in range(self.n_circuits):  # a path has at most T - 1 edges
            longer = depth.copy()
            np.maximum.at(longer, self.receiver, depth[self.sender] + 1)
            if np.array_equal(longer, depth):
                return depth
            depth = longer
        raise CircuitsError("the edges of the graph form a cycle: circuit depth is defined for acyclic graphs only")


def check_graph(graph: CircuitGraph | None, family: CircuitFamily, n_layers: int) -> None:
    """Check that ``graph`` fits ``family`` and a network of ``n_layers`` layers (``None`` fits)."""
    if graph is None:
        return
    require(isinstance(graph, CircuitGraph), f"graph must be a CircuitGraph or None, got {type(graph).__name__}")
    require(graph.n_circuits == family.n_circuits,
            f"graph has {graph.n_circuits} circuits but the family has {family.n_circuits}")
    require(graph.circuit_width == family.circuit_width,
            f"graph has circuit width {graph.circuit_width} but the family has {family.circuit_width}")
    require(graph.max_layer <= n_layers,
            f"graph has edges at layer {graph.max_layer} but n_layers = {n_layers}; give n_layers >= {graph.max_layer}")
    from ._error_correction import parse_error_correction  # (it imports this module)

    spec = family.params.get("error_correction", "none")
    if parse_error_correction(spec).cleanup:  # network layers 2, 4, ... are clean-up layers: they carry no edges
        clean = sorted({int(l) for l in graph.layer if l % 2 == 0})
        require(not clean, f"the family has clean-up layers (error_correction {spec!r}) but the graph has "
                           f"edges at clean-up layers {clean}: give the base graph to build_with_error_correction "
                           "(or graph_with_error_correction), which moves each edge to its network layer")


# ------------------------------------------------------------------ reference run
def run_graph(family: CircuitFamily, graph: CircuitGraph, active: np.ndarray, inputs: np.ndarray,
              n_layers: int, *, full: bool = False, chunk_size: int | None = None) -> np.ndarray:
    """Exact reference run of the small system with its edges, all T circuits jointly.

    Inactive circuits start at zero; every layer computes
    ``a_u = ReLU(w_u a_u + sum_edges B a_t + b)`` for all circuits at once.

    Args:
        family: the small circuits.
        graph: their edges (``None``: no edges).
        active: ``(B, z)`` active circuit indices per sample (distinct).
        inputs: ``(B, z, d)`` their inputs ``a[0]``.
        n_layers: L.
        full: return every circuit (``(L+1, B, T, d)``) instead of the active ones. Without
            it, an inactive circuit that switches on (an active sender's input exceeds the
            receiver's bias) raises :class:`CircuitsError`: evaluation scores inactive
            circuits against zero.
        chunk_size: samples run at once (memory ``chunk T d``); default about 4M values.

    Returns:
        ``(L+1, B, z, d)`` activations of the active circuits (``(L+1, B, T, d)`` with ``full``).

    Example:
        >>> fam, g = rotation_chains(4, chain_length=2, seed=0)
        >>> a = run_graph(fam, g, np.array([[0, 1]]), fam.encode(np.array([[[1.0, 0], [0, 0]]]), (1, 2)), 2)
        >>> bool(np.allclose(fam.decode_payload(a[2, 0, 1]),
        ...                  fam.diff_w[1, 2:, 2:] @ fam.diff_w[0, 2:, 2:] @ [1.0, 0]))
        True
    """
    active = np.asarray(active)
    inputs = np.asarray(inputs, dtype=np.float64)
    B, z = active.shape
    T, d = family.n_circuits, family.circuit_width
    require(inputs.shape == (B, z, d), f"inputs must have shape {(B, z, d)}, got {inputs.shape}")
    if graph is not None:
        check_graph(graph, family, n_layers)
    if chunk_size is None:
        chunk_size = max(1, (1 << 22) // (T * d))
    per_layer = {l: graph.edges_at(l) for l in range(2, n_layers + 1)} if graph is not None else {}
    out = np.zeros((n_layers + 1, B, T if full else z, d))
    for lo in range(0, B, chunk_size):
        hi = min(B, lo + chunk_size)
        b = hi - lo
        rows = np.arange(b)[:, None]
        state = np.zeros((b, T, d))
        state[rows, active[lo:hi]] = inputs[lo:hi]
        out[0, lo:hi] = state if full else inputs[lo:hi]
        for layer in range(1, n_layers + 1):
            mean, diff = family.layer_weights(layer)
            pre = state @ mean.T + np.einsum("tij,btj->bti", diff, state)
            if layer in per_layer and len(per_layer[layer][0]):
                recv, send, block = per_layer[layer]
                msgs = np.einsum("eij,bej->ebi", block, state[:, send])  # (E, b, d)
                pre_t = pre.transpose(1, 0, 2)  # view (T, b, d)
                np.add.at(pre_t, recv, msgs)
            state = np.maximum(pre + family.bias, 0.0)
            if not full:
                _require_inactive_zero(state, active[lo:hi], layer, lo)
            out[layer, lo:hi] = state if full else state[rows, active[lo:hi]]
    return out


def _require_inactive_zero(state: np.ndarray, active: np.ndarray, layer: int, offset: int) -> None:
    """Refuse a run in which an inactive circuit (a receiver of an active sender) switched on.

    The construction assumes inactive circuits are exactly zero, and evaluation scores them
    against zero; a receiver whose input from an active sender exceeds its bias breaks that.
    """
    inactive = np.ones(state.shape[:2], dtype=bool)
    inactive[np.arange(len(active))[:, None], active] = False
    on = np.argwhere(inactive & np.any(state != 0, axis=2))
    if len(on):
        b, t = on[0]
        raise CircuitsError(
            f"inactive circuit {t} is not zero at layer {layer} of sample {offset + b} of the small system "
            f"(active: {active[b].tolist()}): an active sender's input exceeds its bias. Inactive circuits must "
            "stay zero; activate whole groups (evaluate draws them for rotation_chains / rotation_fan_in "
            "networks) or keep the senders' payloads small enough for the receivers' bias")


# ------------------------------------------------------------ large network term
def _edge_tensors(net, layer: int):
    """Torch tensors of the edges of ``layer`` (cached on the network): CSR by sender."""
    key = ("graph", layer)
    if key not in net._cache:
        recv, send, block = net.graph.edges_at(layer)
        dev = torch.device(net.device)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(send, minlength=net.n_circuits))])
        net._cache[key] = (torch.as_tensor(indptr, dtype=torch.long, device=dev),
                           torch.as_tensor(recv, dtype=torch.long, device=dev),
                           torch.as_tensor(send, dtype=torch.long, device=dev),
                           torch.as_tensor(block / net.redundancy, dtype=torch.float32, device=dev))
    return net._cache[key]


def add_edge_term(net, layer: int, touched, out: torch.Tensor) -> None:
    """Add ``sum_edges e[l,u] (B / S) e[l-1,t]^T A`` to the pre-activations ``out`` in place.

    Args:
        net: the :class:`Network` (with ``net.graph``).
        layer: 2..L.
        touched: the :class:`circuits._network.Touched` circuits of the previous layer's
            activations (their sums ``e[l-1,t]^T A``; an untouched sender reads exactly 0).
        out: ``(b, D/d, d)`` slot-major pre-activations of ``layer``.
    """
    from ._network import _expand, _matvec

    if net.graph is None or layer < 2:
        return
    indptr, recv, send, block = _edge_tensors(net, layer)
    if len(recv) == 0:
        return
    b, N, d = out.shape
    S = net.redundancy
    flat = out.view(b * N, d)
    slots = net._t("sets")[layer]
    which, pos = _expand(indptr, touched.circuit)  # (touched row, edge whose sender it is)
    if len(which):
        msgs = _matvec(block.index_select(0, pos), touched.sums.index_select(0, which))  # (P, d)
        at = touched.sample.index_select(0, which)[:, None] * N + slots.index_select(0, recv.index_select(0, pos))
        flat.index_add_(0, at.reshape(-1), msgs[:, None, :].expand(-1, S, d).reshape(-1, d))
    m = len(touched.dense)
    if m:
        msgs = _matvec(block, touched.dense_sums.index_select(0, send))  # (E, m, d)
        written = torch.zeros(N, m * d, device=out.device)
        at = slots.index_select(0, recv)  # (E, S)
        written.index_add_(0, at.reshape(-1), msgs.reshape(len(recv), 1, m * d).expand(-1, S, -1).reshape(-1, m * d))
        out.index_add_(0, touched.dense, written.view(N, m, d).transpose(0, 1))


def dense_edge_blocks(net, layer: int) -> np.ndarray:
    """The edge term of ``W[layer]`` written densely: ``(d, d, D/d, D/d)`` blocks ``(i, j)``.

    Block ``(i, j)`` is ``sum_edges B[i, j] e[l,u] e[l-1,t]^T / S`` (straight from the formula,
    independently of :func:`add_edge_term`).
    """
    N, S, d = net.n_slots, net.redundancy, net.circuit_width
    blocks = np.zeros((d, d, N, N))
    if net.graph is None or layer < 2:
        return blocks
    recv, send, block = net.graph.edges_at(layer)
    e_out = np.zeros((len(recv), N))
    e_in = np.zeros((len(recv), N))
    e_out[np.arange(len(recv))[:, None], net.assignment.sets[layer][recv]] = 1.0
    e_in[np.arange(len(recv))[:, None], net.assignment.sets[layer - 1][send]] = 1.0
    for i in range(d):
        for j in range(d):
            blocks[i, j] = (e_out * block[:, i, j, None]).T @ e_in / S
    return blocks


# --------------------------------------------------------- rotation graph families
def _rotation_graph(n_circuits: int, *, name: str, seed: int, b: float, group_size: int, layer, receiver, sender,
                    weight: float, params: dict) -> tuple[CircuitFamily, CircuitGraph]:
    """Rotation circuits with edges that add ``weight * R_u x_t`` to the receiver's payload.

    Each block is ``weight`` times ``R_u`` on the payload columns, ``-R_u (1,1)`` on column 0 and
    ``+R_u (1,1)`` on column 1, so ``B a_t = weight R_u x_t`` whatever the sender's on-offset.
    ``params`` of the family: ``b``, ``group_size`` (the circuits ``g G .. g G + G - 1`` form group
    ``g``, active together) and the given ``params``.
    """
    require(np.isfinite(b) and b >= 1, f"b must be >= 1 (an inactive receiver must stay zero), got {b}")
    base = rotation_circuits(n_circuits, seed=seed, b=b)
    family = replace(base, name=name, params={"b": b, **params, "group_size": group_size})
    receiver = np.asarray(receiver, dtype=np.int64)
    block = np.zeros((len(receiver), 4, 4))
    block[:, 2:, :] = weight * base.diff_w[receiver, 2:, :]
    graph = CircuitGraph(n_circuits, 4, layer=layer, receiver=receiver, sender=sender, block=block)
    return family, graph


def rotation_chains(n_circuits: int, *, chain_length: int, seed: int, b: float = 1.0
                    ) -> tuple[CircuitFamily, CircuitGraph]:
    """Rotation circuits grouped into chains of ``K = chain_length`` that compose rotations.

    Chain ``c`` is circuits ``c K, c K + 1, ..., c K + K - 1`` (positions 1..K; the last
    ``T mod K`` circuits belong to no chain). At layer ``j`` (j = 2..K) the circuit at
    position ``j`` reads the decoded payload ``x`` of the circuit at position ``j - 1`` and adds
    ``R_u x`` to its payload pre-activation (block: ``R_u`` on the payload columns,
    ``-R_u (1,1)`` on column 0 and ``+R_u (1,1)`` on column 1, so ``B a_t = R_u x_t`` whatever
    the sender's on-offset). A chain is active as a whole: its head gets a unit payload, the
    other circuits payload 0, so position ``j`` holds ``R_j ... R_1 x`` at layer ``j`` (the
    composition of ``j`` rotations; each layer applies the rotation of the holder) and keeps
    rotating by its own ``R_j`` after that. Needs ``L >= K``. The chain position is the
    circuit's depth in the graph (:meth:`CircuitGraph.depth`).

    Args:
        n_circuits: T >= chain_length.
        chain_length: K >= 1 (1: no edges, plain rotation circuits).
        seed: seeds the rotation angles.
        b: payload bias magnitude; b >= 1 keeps an inactive receiver at zero.

    Returns:
        ``(family, graph)``: the rotation family (name ``"rotation-chains"``, params with
        ``chain_length`` and ``group_size`` = K) and its :class:`CircuitGraph`.

    Example:
        >>> fam, g = rotation_chains(7, chain_length=3, seed=0)
        >>> g.n_edges, g.layer.tolist(), g.receiver.tolist(), g.sender.tolist()
        (4, [2, 3, 2, 3], [1, 2, 4, 5], [0, 1, 3, 4])
    """
    n_circuits = require_int("n_circuits", n_circuits, 1)
    K = require_int("chain_length", chain_length, 1, n_circuits)
    pos = np.arange(2, K + 1)
    receiver = (np.arange(n_circuits // K)[:, None] * K + pos - 1).ravel()
    return _rotation_graph(n_circuits, name="rotation-chains", seed=seed, b=b, group_size=K,
                           layer=np.tile(pos, n_circuits // K), receiver=receiver, sender=receiver - 1,
                           weight=1.0, params={"chain_length": K})


def rotation_fan_in(n_circuits: int, *, seed: int, b: float = 1.0) -> tuple[CircuitFamily, CircuitGraph]:
    """Rotation circuits in groups of three where one circuit rotates the mean of two others.

    Group ``g`` is circuits ``3g`` and ``3g + 1`` (the senders, depth 1) and ``3g + 2`` (the
    receiver, depth 2); the last ``T mod 3`` circuits belong to no group. At layer 2 the receiver
    ``u`` reads the decoded payloads of both senders and adds ``R_u x_t / 2`` from each (blocks
    as in :func:`rotation_chains`, halved): it rotates the *mean* ``(x_t1 + x_t2) / 2`` of the
    senders' vectors. The halving keeps the construction's assumptions: the mean of two unit
    vectors has norm <= 1, so an active receiver (payload 0 before the edge) keeps
    ``x + alpha (1,1) >= 0``, and an inactive one has payload pre-activation
    ``R_u (x_t1 + x_t2) / 2 - b <= 0`` (b >= 1) and stays exactly zero, whichever senders are
    active; the sum of the two vectors (norm up to 2) would break both. The receiver's own
    on-indicator gates what it computes. A group is active as a whole: the senders get unit
    payloads ``x1, x2``, the receiver payload 0, so at layer ``l >= 2`` the receiver holds
    ``R_u^(l-1) (R_t1 x1 + R_t2 x2) / 2`` (the senders rotate their vectors at layer 1).
    Needs ``L >= 2``.

    Args:
        n_circuits: T >= 3.
        seed: seeds the rotation angles.
        b: payload bias magnitude; b >= 1 keeps an inactive receiver at zero.

    Returns:
        ``(family, graph)``: the rotation family (name ``"rotation-fan-in"``, params with
        ``group_size`` = 3) and its :class:`CircuitGraph` (``2 floor(T/3)`` edges, all at layer 2).

    Example:
        >>> fam, g = rotation_fan_in(7, seed=0)
        >>> g.layer.tolist(), g.receiver.tolist(), g.sender.tolist(), g.depth().tolist()
        ([2, 2, 2, 2], [2, 2, 5, 5], [0, 1, 3, 4], [1, 1, 2, 1, 1, 2, 1])
    """
    n_circuits = require_int("n_circuits", n_circuits, 3)
    start = 3 * np.arange(n_circuits // 3)
    return _rotation_graph(n_circuits, name="rotation-fan-in", seed=seed, b=b, group_size=3,
                           layer=np.full(2 * len(start), 2), receiver=np.repeat(start + 2, 2),
                           sender=(start[:, None] + [0, 1]).ravel(), weight=0.5, params={})


def draw_groups(n_circuits: int, group_size: int, n_active: int, batch_size: int, seed, *,
                senders=None) -> tuple[np.ndarray, np.ndarray]:
    """Active circuits and payloads for whole groups (chains, fan-in triples).

    Args:
        n_circuits: T.
        group_size: G; group ``g`` is circuits ``g G .. g G + G - 1`` (``floor(T / G)`` groups).
        n_active: z, active *circuits* per sample: a multiple of G (z / G whole groups).
        batch_size: B.
        seed: seeds the draws.
        senders: ``(G,)`` bool, the members of a group that get a payload (depth 1 in the
            graph); default the first (a chain's head).

    Returns:
        ``(active (B, z), payloads (B, z, 2))``: groups drawn uniformly without repeats within
        a sample; every sender a uniform unit vector, the other members 0.
    """
    from ._evaluate import draw_active, draw_payloads

    G = require_int("group_size", group_size, 1, n_circuits)
    n_groups = n_circuits // G
    z = require_int("n_active", n_active, G, n_groups * G)
    require(z % G == 0, f"n_active must be a multiple of the group size {G} (whole chains or fan-in groups "
                        f"are active), got {z}")
    B = require_int("batch_size", batch_size, 1)
    senders = np.arange(G) == 0 if senders is None else np.asarray(senders, dtype=bool)
    require(senders.shape == (G,), f"senders must have shape ({G},), got {senders.shape}")
    rng = np.random.default_rng(seed)
    groups = draw_active(n_groups, z // G, B, rng)
    active = (groups[:, :, None] * G + np.arange(G)).reshape(B, z)
    payloads = np.zeros((B, z // G, G, 2))
    payloads[:, :, senders] = draw_payloads((B, z // G, int(senders.sum())), 2, rng)
    return active, payloads.reshape(B, z, 2)


def draw_chains(n_circuits: int, chain_length: int, n_active: int, batch_size: int, seed
                ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`draw_groups` for whole chains of ``chain_length`` (unit payload on each head)."""
    return draw_groups(n_circuits, chain_length, n_active, batch_size, seed)


def evaluate_graph(net, *, n_active: int, batch_size: int, seed=0, **kwargs):
    """:func:`circuits.evaluate` on whole active groups of a :func:`rotation_chains` or
    :func:`rotation_fan_in` network.

    Whole groups (``family.params["group_size"]`` consecutive circuits) are active together;
    circuits of depth 1 in the graph get uniform unit payloads, the others payload 0.

    Args:
        net: a network built with the family's graph.
        n_active: z, active circuits per sample (a multiple of the group size).
        batch_size: B.
        seed: seeds the draws.
        **kwargs: passed to :func:`circuits.evaluate` (``ideal``, ``chunk_size``, ``progress``).

    Returns:
        ``(evaluation, rows)``: the :class:`Evaluation` and :func:`chain_rows` of it.
    """
    from ._evaluate import evaluate

    if net.family.params.get("group_size") is None or net.graph is None:
        raise CircuitsError("evaluate_graph needs a network built from rotation_chains(...) or "
                            "rotation_fan_in(...) with its graph")
    ev = evaluate(net, n_active=n_active, batch_size=batch_size, seed=seed, **kwargs)  # draws whole groups
    return ev, chain_rows(ev, net.graph)


#: The name of :func:`evaluate_graph` when only chains existed.
evaluate_chains = evaluate_graph


def chain_rows(ev, graph: CircuitGraph) -> list[dict]:
    """Active payload error per (layer, chain position), in the core row schema.

    The chain position of a circuit is its depth in the graph (:meth:`CircuitGraph.depth`):
    the position 1..K in a chain of :func:`rotation_chains`; 1 for the senders and 2 for the
    receiver of :func:`rotation_fan_in`.

    Args:
        ev: an :class:`Evaluation` of a network with ``graph``.
        graph: the network's :class:`CircuitGraph`.

    Returns:
        rows ``{layer, group: "active", quantity: "payload", stat: "mse"|"worst", measured,
        predicted: None, chain_position}`` for layers 1..L and the positions present; the mse
        is the mean over samples and circuits at that position of the squared L2 error.
    """
    err = np.linalg.norm(ev.estimate_payload - ev.truth_payload, axis=-1)  # (L+1, B, z)
    pos = graph.depth()[ev.active]  # (B, z)
    rows = []
    for layer in range(1, err.shape[0]):
        for p in np.unique(pos).tolist():
            e = err[layer][pos == p]
            for stat, value in (("mse", float(np.mean(e ** 2))), ("worst", float(e.max()))):
                rows.append({"layer": layer, "group": "active", "quantity": "payload", "stat": stat,
                             "measured": value, "predicted": None, "chain_position": p})
    return rows
