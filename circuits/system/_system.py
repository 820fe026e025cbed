"""The small system: everything the large network computes, as one value with its own exact run.

A :class:`SmallSystem` is a family of T small circuits (their arrays and codecs,
:class:`circuits.CircuitFamily`), the cross-circuit couplings between them
(:class:`circuits.Couplings`; none for independent circuits), the role of each network layer
(a computation layer, or a clean-up layer that an error correction inserted), which circuits
are drawn active together (:class:`ActivationGroups`), the base circuit width ``d`` (before
any error correction widened the circuits) and the record of the error correction applied.
Every error-correction option is a transform ``SmallSystem -> SmallSystem``
(``circuits/system/_transforms.py``); the named systems live in ``circuits/system/_systems.py``.

:meth:`SmallSystem.run` is the reference the network is measured against: the active circuits
of each sample run exactly, with the couplings between them. An inactive circuit stays exactly
zero (its biases are <= 0); a coupling from an active sender to an inactive receiver must leave
the receiver at zero, and a run in which it would not is refused (evaluation scores inactive
circuits against zero).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Mapping

import numpy as np

from ._corrections import ErrorCorrection
from ._couplings import Couplings
from ..base import CircuitsError, require, require_array, require_int
from ._families import CircuitFamily, step_neurons

#: The role of a network layer that computes a layer of the small circuits.
COMPUTATION = "computation"
#: The role of a network layer that an error correction inserted to clean the on-indicator.
CLEANUP = "cleanup"


@dataclass(frozen=True)
class ActivationGroups:
    """Which circuits are active together: groups of ``size`` consecutive circuits.

    Group ``g`` is circuits ``g G .. g G + G - 1`` (``floor(T / G)`` groups; the last ``T mod G``
    circuits belong to none and are never drawn). A group is active as a whole; its members with
    ``payload[i]`` true get a random unit payload, the others payload 0.

    Attributes:
        size: G >= 1 (1: independent circuits, each its own group).
        payload: ``(G,)`` which members get a payload.

    Example:
        >>> ActivationGroups(3, (True, True, False))
        ActivationGroups(size=3, payload=(True, True, False))
    """

    size: int = 1
    payload: tuple = (True,)

    def __post_init__(self):
        G = require_int("group size", self.size, 1)
        payload = tuple(bool(p) for p in self.payload)
        require(len(payload) == G, f"payload must name each of the {G} members of a group, got {len(payload)}")
        object.__setattr__(self, "size", G)
        object.__setattr__(self, "payload", payload)


def draw_active(n_circuits: int, n_active: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """``(B, z)`` circuit indices, each row z distinct circuits drawn uniformly.

    Rows with a repeat are redrawn whole (rejection), so every z-subset is equally likely.
    """
    active = rng.integers(n_circuits, size=(batch_size, n_active))
    while True:
        srt = np.sort(active, axis=1)
        bad = np.any(srt[:, 1:] == srt[:, :-1], axis=1)
        if not bad.any():
            return active
        active[bad] = rng.integers(n_circuits, size=(int(bad.sum()), n_active))


def draw_payloads(shape: tuple[int, ...], dim: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors ``shape + (dim,)``: at a uniform angle for dim 2, else uniform on the sphere."""
    if dim == 0:
        return np.zeros(shape + (0,))
    if dim == 2:
        theta = rng.uniform(0.0, 2 * np.pi, size=shape)
        return np.stack([np.cos(theta), np.sin(theta)], -1)
    v = rng.standard_normal(shape + (dim,))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@dataclass(frozen=True, eq=False)
class SmallSystem:
    """T small circuits with their couplings, layer roles and activation groups.

    Attributes:
        family: the circuits' arrays and codecs (weights for every network layer).
        couplings: cross-circuit edges at network layers, or ``None`` (independent circuits).
        layer_roles: the role (:data:`COMPUTATION` or :data:`CLEANUP`) of network layers 1..L,
            or ``None``: every layer is a computation layer and any L works.
        groups: which circuits are drawn active together.
        base_width: d before error correction (the d of the load ``T (d/D)^2``).
        error_correction: the options applied (:class:`circuits.ErrorCorrection`).
        name: the registry name (``"rotation"``, ...) or ``"custom"``.
        params: the registry parameters it was made with (``chain_length``, ``b``).
        seed: the seed of its random draws (``None`` for a hand-specified system).

    Example:
        >>> from circuits import rotation_circuits
        >>> rotation_circuits(557, seed=0)
        SmallSystem('rotation', T=557, d=4, seed=0)
    """

    family: CircuitFamily
    couplings: Couplings | None = None
    layer_roles: tuple | None = None
    groups: ActivationGroups = field(default_factory=ActivationGroups)
    base_width: int | None = None
    error_correction: ErrorCorrection = field(default_factory=ErrorCorrection)
    name: str = "custom"
    params: Mapping = field(default_factory=dict)
    seed: int | None = None

    def __post_init__(self):
        fam = self.family
        require(isinstance(fam, CircuitFamily), f"family must be a CircuitFamily, got {type(fam).__name__}")
        base = fam.circuit_width if self.base_width is None else require_int("base_width", self.base_width, 1)
        object.__setattr__(self, "base_width", base)
        object.__setattr__(self, "params", dict(self.params))
        if self.layer_roles is not None:
            roles = tuple(self.layer_roles)
            require(len(roles) >= 1 and all(r in (COMPUTATION, CLEANUP) for r in roles) and roles[0] == COMPUTATION,
                    f"layer_roles must list '{COMPUTATION}' or '{CLEANUP}' per network layer, the first a "
                    f"computation layer; got {roles}")
            require(fam.n_weight_layers is None or fam.n_weight_layers >= len(roles),
                    f"the family has weights for {fam.n_weight_layers} layers but layer_roles lists {len(roles)}")
            object.__setattr__(self, "layer_roles", roles)
        g = self.couplings
        if g is not None:
            require(isinstance(g, Couplings), f"couplings must be Couplings or None, got {type(g).__name__}")
            require(g.n_circuits == fam.n_circuits,
                    f"the couplings have {g.n_circuits} circuits but the family has {fam.n_circuits}")
            require(g.circuit_width == fam.circuit_width,
                    f"the couplings have circuit width {g.circuit_width} but the family has {fam.circuit_width}")
            if self.layer_roles is not None:
                clean = sorted({int(layer) for layer in g.layer if layer > len(self.layer_roles)
                                or self.layer_roles[layer - 1] != COMPUTATION})
                require(not clean, f"couplings must sit on computation layers of the system; edges at network "
                                   f"layers {clean} are not (apply error correction to the base system, which "
                                   "moves each edge to its network layer)")
            g.depth()  # refuses a cycle
        require(isinstance(self.groups, ActivationGroups),
                f"groups must be ActivationGroups, got {type(self.groups).__name__}")
        require(self.groups.size <= fam.n_circuits,
                f"n_circuits must be >= the activation group size {self.groups.size}, got {fam.n_circuits}",
                parameter="n_circuits")

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self.params.items() if k != "b" or v != 1.0)
        ec = "" if self.error_correction.spec == "none" else f", error_correction={self.error_correction.spec!r}"
        edges = "" if self.couplings is None else f", edges={self.couplings.n_edges}"
        return (f"SmallSystem({self.name!r}, T={self.n_circuits}, d={self.circuit_width}{extra}{edges}{ec}, "
                f"seed={self.seed})")

    # ----------------------------------------------------------------------- sizes
    @property
    def n_circuits(self) -> int:
        """T."""
        return self.family.n_circuits

    @property
    def circuit_width(self) -> int:
        """d of the circuits as built (the base width plus what error correction added)."""
        return self.family.circuit_width

    @property
    def payload_dim(self) -> int:
        """Size of a decoded payload (0 for none)."""
        return self.family.payload_dim

    @cached_property
    def on_rows(self) -> tuple:
        """The rows of the circuits' weights that read nothing but on-indicator neurons (every layer):
        the on-indicator's own rows, with ``redundant:K`` every pair's. The on-indicator neurons are
        :attr:`CircuitFamily.on_neurons` and every column those rows read.

        Example:
            >>> from circuits import rotation_circuits, with_error_correction
            >>> rotation_circuits(3, seed=0).on_rows, with_error_correction(rotation_circuits(3, seed=0),
            ...                                                              "redundant:2", n_layers=2).on_rows
            ((0, 1), (0, 1, 4, 5))
        """
        fam = self.family
        mean = np.asarray(fam.mean_w).reshape(-1, fam.circuit_width, fam.circuit_width)
        diff = np.asarray(fam.diff_w).reshape(-1, fam.circuit_width, fam.circuit_width)
        reads = (np.abs(mean).sum(0) + np.abs(diff).sum(0)) != 0  # (d, d): row i reads column j somewhere
        columns = reads[list(fam.on_neurons)].any(0) | np.isin(np.arange(fam.circuit_width), fam.on_neurons)
        return tuple(int(i) for i in np.nonzero(reads.any(1) & ~(reads & ~columns).any(1))[0])

    @cached_property
    def on_state(self) -> np.ndarray:
        """``(d,)``: the on-indicator neurons of a clean active circuit at layer 1 (the step's output for
        alpha = 1, e.g. ``(1.5, 0.5)`` for the study's step), zero on every other neuron.

        Example:
            >>> from circuits import rotation_circuits
            >>> rotation_circuits(3, seed=0).on_state.tolist()
            [1.5, 0.5, 0.0, 0.0]
        """
        fam = self.family
        mean, diff = fam.layer_weights(1)
        start = fam.encode(np.zeros((1, fam.payload_dim)) if fam.payload_dim else None, (1,))[0]
        first = np.maximum((mean + diff[0]) @ start + fam.bias, 0.0)
        out = np.zeros(fam.circuit_width)
        out[list(self.on_rows)] = first[list(self.on_rows)]
        return out

    @cached_property
    def on_read(self) -> np.ndarray | None:
        """``(d,)`` the vector ``u`` with ``decode_on(a) = u @ a`` when the family reads its on-indicator linearly
        (``(1, -1, 0, 0)`` for rotation circuits: ``a0 - a1``), else ``None``.

        Example:
            >>> from circuits import rotation_circuits
            >>> rotation_circuits(3, seed=0).on_read.tolist()
            [1.0, -1.0, 0.0, 0.0]
        """
        fam = self.family
        d = fam.circuit_width
        u = np.asarray(fam.read_on(np.eye(d)), dtype=np.float64)
        probe = np.random.default_rng(0).uniform(0.0, 2.0, (8, d))  # a fixed probe: linear (and 0 at 0) or not
        linear = np.allclose(fam.read_on(probe), probe @ u, rtol=1e-9, atol=1e-12)
        return u if linear and float(fam.read_on(np.zeros(d))) == 0.0 else None

    @cached_property
    def payload_read(self) -> np.ndarray | None:
        """``(k, d)`` the matrix ``P`` with ``decode_payload(a) = P @ a`` when the family reads its payload linearly
        (``k = payload_dim``; for rotation circuits ``a[2:] - (a0 - a1)``), else ``None`` (also with no payload).

        Example:
            >>> from circuits import rotation_circuits
            >>> rotation_circuits(3, seed=0).payload_read.tolist()
            [[-1.0, 1.0, 1.0, 0.0], [-1.0, 1.0, 0.0, 1.0]]
        """
        fam = self.family
        d, k = fam.circuit_width, fam.payload_dim
        if k == 0:
            return None
        p = np.asarray(fam.read_payload(np.eye(d)), dtype=np.float64).T  # (k, d)
        probe = np.random.default_rng(0).uniform(0.0, 2.0, (8, d))  # a fixed probe: linear (and 0 at 0) or not
        linear = np.allclose(fam.read_payload(probe), probe @ p.T, rtol=1e-9, atol=1e-12)
        return p if linear and not np.any(fam.read_payload(np.zeros((1, d)))) else None

    @cached_property
    def step_theory(self) -> bool:
        """Whether the layer-2 boundary theory (:mod:`theory`) applies to this system: independent circuits
        (no couplings) whose on-indicator is a 2-ReLU step (:func:`step_neurons` accepts the family)."""
        if self.couplings is not None:
            return False
        try:
            step_neurons(self.family)
        except CircuitsError:
            return False
        return True

    def network_layers(self, n_layers: int) -> int:
        """Network layers for ``n_layers`` computation layers; checks that the system has them.

        Raises:
            CircuitsError: too few or too many layers for the family's per-layer weights, the
                couplings' last layer or the layer roles.
        """
        n_layers = require_int("n_layers", n_layers, 1)
        roles = self.layer_roles
        if roles is not None:
            n_compute = roles.count(COMPUTATION)
            require(n_layers == n_compute, f"n_layers must be {n_compute} for this system (its error correction "
                                           f"fixed {n_compute} computation layers), got {n_layers}",
                    parameter="n_layers")
            return len(roles)
        weights = self.family.n_weight_layers
        require(weights is None or n_layers <= weights,
                f"n_layers must be <= {weights} (the family's layers), got {n_layers}", parameter="n_layers")
        if self.couplings is not None:
            require(self.couplings.max_layer <= n_layers,
                    f"n_layers must be >= {self.couplings.max_layer} (the couplings have edges at layer "
                    f"{self.couplings.max_layer}), got {n_layers}", parameter="n_layers")
        return n_layers

    def roles(self, n_layers: int) -> tuple:
        """The role of network layers 1..L for ``n_layers`` computation layers."""
        return self.layer_roles if self.layer_roles is not None else (COMPUTATION,) * self.network_layers(n_layers)

    def computation_layers(self, n_layers: int) -> tuple:
        """``(L_net,)`` the computation layer (1..n_layers) of each network layer 1..L_net, 0 for a
        clean-up layer (it counts the computation layers up to and including it)."""
        out, count = [], 0
        for role in self.roles(n_layers):
            count += role == COMPUTATION
            out.append(count if role == COMPUTATION else 0)
        return tuple(out)

    def layer_weights(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """``(mean_w (d, d), diff_w (T, d, d))`` of network layer ``layer`` (1-based)."""
        return self.family.layer_weights(layer)

    def depth(self) -> np.ndarray:
        """``(T,)`` depth of each circuit in the coupling graph (1 for every circuit without couplings)."""
        if self.couplings is None:
            return np.ones(self.n_circuits, dtype=np.int64)
        return self.couplings.depth()

    # ---------------------------------------------------------------------- draws
    def max_active(self) -> int:
        """The largest z that can be drawn: whole groups only."""
        G = self.groups.size
        return (self.n_circuits // G) * G

    def check_n_active(self, n_active: int) -> int:
        """Check z against the groups (a multiple of the group size, at most :meth:`max_active`)."""
        G = self.groups.size
        z = require_int("n_active", n_active, G, self.max_active())
        require(z % G == 0, f"n_active must be a multiple of the group size {G} (whole groups are active "
                            f"together in the {self.name!r} system), got {z}", parameter="n_active")
        return z

    def draw(self, n_active: int, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Active circuits and payloads for a batch: whole groups, payloads on the members that take one.

        Args:
            n_active: z, active circuits per sample (a multiple of the group size).
            batch_size: B.
            rng: the generator of the draws.

        Returns:
            ``(active (B, z), payloads (B, z, k))``: distinct groups within a sample, drawn
            uniformly; each payload a uniform unit vector (0 for members without one).
        """
        G = self.groups.size
        z = self.check_n_active(n_active)
        B = require_int("batch_size", batch_size, 1)
        groups = draw_active(self.n_circuits // G, z // G, B, rng)
        active = (groups[:, :, None] * G + np.arange(G)).reshape(B, z)
        takes = np.asarray(self.groups.payload)
        payloads = np.zeros((B, z // G, G, self.payload_dim))
        payloads[:, :, takes] = draw_payloads((B, z // G, int(takes.sum())), self.payload_dim, rng)
        return active, payloads.reshape(B, z, self.payload_dim)

    def takes_payload(self, circuits: np.ndarray) -> np.ndarray:
        """Bool array like ``circuits``: whether each circuit gets a payload when active (its member
        position in its activation group says; a circuit in no group takes one)."""
        G = self.groups.size
        circuits = np.asarray(circuits)
        member = np.asarray(self.groups.payload)[circuits % G]
        return np.where(circuits < (self.n_circuits // G) * G, member, True)

    def check_active(self, active) -> np.ndarray:
        """``active`` as a checked ``(B, z)`` int64 array of distinct circuit indices per row."""
        arr = np.asarray(active)
        require(arr.ndim == 2 and (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)),
                f"active must be an integer array of shape (B, z), got {arr.dtype} {arr.shape}", parameter="active")
        require(arr.shape[0] >= 1, f"active is empty: it holds no sample (shape {arr.shape}); give at least one "
                                   "sample (B >= 1)", parameter="active")
        require(arr.shape[1] >= 1, f"active is empty: its samples hold no circuit (shape {arr.shape}); give at least "
                                   "one active circuit per sample (z >= 1)", parameter="active")
        T = self.n_circuits
        require(arr.min() >= 0 and arr.max() < T, f"active must hold circuit indices in 0..{T - 1}, got values in "
                                                  f"{int(arr.min())}..{int(arr.max())}", parameter="active")
        srt = np.sort(arr, axis=1)
        require(not np.any(srt[:, 1:] == srt[:, :-1]), "active circuits must be distinct within a sample",
                parameter="active")
        return arr.astype(np.int64)

    def encode(self, payloads, batch_shape: tuple[int, ...]) -> np.ndarray:
        """Inputs ``a[0]`` ``batch_shape + (d,)`` of active circuits with the given payloads."""
        k = self.payload_dim
        if k:
            payloads = require_array("payloads", payloads, shape=tuple(batch_shape) + (k,))
        return self.family.encode(payloads, tuple(batch_shape))

    # ---------------------------------------------------------------- reference
    def run(self, active: np.ndarray, inputs: np.ndarray, n_layers: int) -> np.ndarray:
        """Exact reference run of the active circuits with the couplings between them.

        Every network layer ``l`` computes ``a_u = ReLU(w_u[l] a_u + sum_edges B a_t + b)`` for the
        active circuits ``u`` of each sample (``t`` over the active senders of ``u``'s edges at
        ``l``). An inactive receiver of an active sender stays zero; a run in which it would not
        is refused.

        Args:
            active: ``(B, z)`` active circuit indices (distinct per row).
            inputs: ``(B, z, d)`` their inputs ``a[0]`` (:meth:`encode`).
            n_layers: computation layers (the run has :meth:`network_layers` layers).

        Returns:
            ``(L+1, B, z, d)`` float64 activations; entry 0 is the input.

        Example:
            >>> from circuits import rotation_chains
            >>> system = rotation_chains(4, chain_length=2, seed=0)
            >>> a = system.run(np.array([[0, 1]]), system.encode(np.array([[[1.0, 0], [0, 0]]]), (1, 2)), 2)
            >>> R = system.family.diff_w[:, 2:, 2:]
            >>> bool(np.allclose(system.family.decode_payload(a[2, 0, 1]), R[1] @ R[0] @ [1.0, 0]))
            True
        """
        active = self.check_active(active)
        B, z = active.shape
        d = self.circuit_width
        inputs = np.asarray(inputs, dtype=np.float64)
        require(inputs.shape == (B, z, d), f"inputs must have shape {(B, z, d)}, got {inputs.shape}",
                parameter="inputs")
        L = self.network_layers(n_layers)
        bias = self.family.bias
        out = np.empty((L + 1, B, z, d))
        out[0] = state = inputs
        for layer in range(1, L + 1):
            mean, diff = self.layer_weights(layer)
            pre = state @ mean.T + np.einsum("bzij,bzj->bzi", diff[active], state)
            if self.couplings is not None:
                self._add_messages(layer, active, state, pre)
            out[layer] = state = np.maximum(pre + bias, 0.0)
        return out

    def _add_messages(self, layer: int, active: np.ndarray, state: np.ndarray, pre: np.ndarray) -> None:
        """Add ``B a_t`` of every edge at ``layer`` from an active sender; refuse an inactive receiver
        that it would switch on."""
        recv, send, block = self.couplings.edges_at(layer)  # sorted by sender
        if not len(recv):
            return
        B, z, d = state.shape
        T = self.n_circuits
        indptr = np.searchsorted(send, np.arange(T + 1))
        flat_active = active.ravel()
        count = indptr[flat_active + 1] - indptr[flat_active]
        position = np.repeat(np.arange(B * z), count)  # (sample, slot k) of each message's sender
        edge = indptr[flat_active][position] + (np.arange(len(position)) - np.repeat(np.cumsum(count) - count, count))
        if not len(edge):
            return
        msgs = np.einsum("eij,ej->ei", block[edge], state.reshape(B * z, d)[position])
        sample = position // z
        receiver = recv[edge]
        match = active[sample] == receiver[:, None]  # (P, z)
        inside = match.any(1)
        np.add.at(pre.reshape(B * z, d), sample[inside] * z + match[inside].argmax(1), msgs[inside])
        if inside.all():
            return
        keys, where = np.unique(sample[~inside] * T + receiver[~inside], return_inverse=True)
        summed = np.zeros((len(keys), d))
        np.add.at(summed, where, msgs[~inside])
        on = np.nonzero(np.any(np.maximum(summed + self.family.bias, 0.0) != 0, axis=1))[0]
        if len(on):
            b, t = divmod(int(keys[on[0]]), T)
            raise CircuitsError(
                f"inactive circuit {t} is not zero at layer {layer} of sample {b} of the small system "
                f"(active: {active[b].tolist()}): an active sender's input exceeds its bias. Inactive circuits must "
                "stay zero; activate whole groups (evaluation draws them for systems with activation groups) or "
                "keep the senders' payloads small enough for the receivers' bias")

    def with_changes(self, **changes) -> "SmallSystem":
        """A copy with some fields replaced (validated again)."""
        return replace(self, **changes)
