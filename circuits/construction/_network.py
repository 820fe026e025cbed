"""Network: the constructed large network, its forward pass, its read-out and its dense form.

Activations are ``(B, d, D/d)`` tensors in the public methods: group ``i`` (small neuron ``i`` of
every circuit) is ``A[:, i, :]``; flattening the last two axes gives the ``(B, D)`` layout in
which group ``i`` occupies neurons ``i D/d .. (i+1) D/d - 1``. Inside, the pass works slot-major
(``(B, D/d, d)``, see ``circuits/construction/_kernels.py``).

Layer 0 holds the active circuits' first pre-activations ``w_t[1] @ a_t[0]`` in their ``e[0]``
neurons, layer 1 is ``ReLU(layer 0 + b)`` (identity weights), and each layer ``l >= 2`` applies
``W[l]``: the couplings (every circuit's own block and every cross-circuit edge, one code path)
scattered from the touched senders into their receivers' slots, plus the weight scheme's
shared part (``circuits/construction/_schemes.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Iterator, Mapping, NamedTuple

import numpy as np
import torch

from theory import load as theory_load

from ..assignment import Assignment
from ..base import CircuitsError, digest, jsonable_seed, require, require_array, require_int
from ._kernels import (CouplingTable, Incidence, Touched, add_couplings, make_incidence, place, slot_sums,
                       sparse_columns, touched)
from ._schemes import LayerWeights, WeightScheme, weight_scheme
from ..system import SmallSystem


@dataclass(frozen=True)
class NetworkConfig:
    """Everything that determines a network besides the small system.

    Attributes:
        width: D, the network width; a multiple of the circuit width d.
        redundancy: S, network neurons per small-circuit neuron, 1 <= S <= D/d.
        n_layers: L, computation layers (network layers: ``system.network_layers(L)``).
        weight_scheme: the weight scheme (:data:`circuits.WEIGHT_SCHEMES`; a text such as ``"inhibited:2"``
            is parsed once, here).
        chi_scale: multiplier on chi (capped scheme), finite and >= 0.
        assignment: the assignment method (a key of :data:`circuits.ASSIGNMENTS`).
        seed: seeds the per-layer permutations of the assignment.
    """

    width: int
    redundancy: int
    n_layers: int
    weight_scheme: WeightScheme | str = "capped"
    chi_scale: float = 1.0
    assignment: str = "prime-step"
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "weight_scheme", weight_scheme(self.weight_scheme))

    def to_dict(self) -> dict:
        """JSON-able form (the scheme as its text)."""
        return {**asdict(self), "weight_scheme": self.weight_scheme.text}


class LayerState(NamedTuple):
    """One layer of a forward pass as :meth:`Network.trace` yields it.

    Attributes:
        layer: network layer 0..L.
        acts: ``(b, D/d, d)`` slot-major activations.
        touched: the circuits touching a nonzero slot (:class:`circuits.construction._kernels.Touched`).
    """

    layer: int
    acts: torch.Tensor
    touched: Touched


def check_device(device) -> str:
    """``device`` as a string, after checking that torch knows it and can use it here."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise CircuitsError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}",
                            parameter="device") from err
    require(dev.type in ("cpu", "cuda"), f"device must be 'cpu' or 'cuda' (the forward pass uses sparse kernels "
                                         f"that other backends lack), got {device!r}", parameter="device")
    require(dev.type != "cuda" or torch.cuda.is_available(),
            "device 'cuda' was asked for but torch sees no CUDA device here", parameter="device")
    return str(device)


def _slot_major(acts: torch.Tensor) -> torch.Tensor:
    return acts.transpose(1, 2).contiguous()


def _group_major(acts: torch.Tensor) -> torch.Tensor:
    return acts.transpose(1, 2).contiguous()


@dataclass(frozen=True, eq=False)
class Network:
    """A large network computing a small system in superposition (made by :func:`circuits.build`).

    Attributes:
        system: the small system (circuits, couplings, layer roles, groups).
        config: the :class:`NetworkConfig` it was built with.
        assignment: the neuron sets of every circuit in every network layer.
        constants: per network layer 0..L, the weight scheme's constants (``{"chi": ...}`` for
            capped, ``{"correction": ...}`` for the read-out-vector schemes).
        structures: per network layer, the scheme's derived structure (capped: the pattern ``C``
            and the excess ``E``; ``None`` at layers 0, 1 and for the other schemes).
        device: torch device of the forward pass.
        provenance: what the network was built from (for a spec's network, the spec's fields:
            :func:`circuits.build` sets it; saving keeps it), else empty.
    """

    system: SmallSystem
    config: NetworkConfig
    assignment: Assignment
    constants: tuple
    structures: tuple
    device: str = "cpu"
    provenance: Mapping = field(default_factory=dict, repr=False)
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    def __repr__(self) -> str:
        c = self.config
        return (f"Network({self.system.name!r}, D={self.width}, T={self.n_circuits}, d={self.circuit_width}, "
                f"S={self.redundancy}, L={self.n_layers}, scheme={c.weight_scheme.text!r}, assignment={c.assignment!r}, "
                f"load={self.load:.4g}, device={self.device!r})")

    # ------------------------------------------------------------------ sizes
    @property
    def scheme(self) -> WeightScheme:
        """The weight scheme (:data:`circuits.WEIGHT_SCHEMES`)."""
        return self.config.weight_scheme

    @property
    def n_circuits(self) -> int:
        """T."""
        return self.system.n_circuits

    @property
    def circuit_width(self) -> int:
        """d of the circuits as built (error correction may have widened them)."""
        return self.system.circuit_width

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
        """L, computation layers."""
        return self.config.n_layers

    @property
    def network_layers(self) -> int:
        """Network layers (L, or 2L - 1 with clean-up layers)."""
        return self.assignment.sets.shape[0] - 1

    @property
    def n_slots(self) -> int:
        """D/d."""
        return self.config.width // self.circuit_width

    @property
    def load(self) -> float:
        """``T (d/D)^2`` with the base circuit width d."""
        return theory_load(self.n_circuits, self.width, self.system.base_width)

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of everything that determines this network's weights: the small system's arrays,
        couplings and description, the config and the assignment's sets (not its provenance: two specs that
        differ only in how they are evaluated share a network and its fingerprint). Data sets, ground truth
        and saved files carry it, so each is bound to the network it belongs to."""
        def make():
            system, fam, g = self.system, self.system.family, self.system.couplings
            described = {"system": {"name": system.name, "params": dict(system.params),
                                    "seed": jsonable_seed(system.seed), "error_correction": system.error_correction.spec,
                                    "base_width": int(system.base_width),
                                    "layer_roles": None if system.layer_roles is None else list(system.layer_roles),
                                    "groups": [int(system.groups.size), [bool(p) for p in system.groups.payload]]},
                         "network": {**self.config.to_dict(), "seed": jsonable_seed(self.config.seed)}}
            arrays = [fam.mean_w, fam.diff_w, fam.bias, self.assignment.sets]
            if g is not None:
                arrays += [g.layer, g.receiver, g.sender, g.block]
            return digest(described, *[np.asarray(a) for a in arrays])
        return self._get(("fingerprint",), make)

    def layer_weights(self, layer: int) -> LayerWeights:
        """What the weight scheme needs about network layer ``layer`` (2..L)."""
        layer = require_int("layer", layer, 2, self.network_layers)

        def make():
            mean, diff = self.system.layer_weights(layer)
            sets = self.assignment.sets
            return LayerWeights(layer=layer, mean=mean, diff=diff, sets_out=sets[layer], sets_in=sets[layer - 1],
                                n_slots=self.n_slots, constants=self.constants[layer],
                                structure=self.structures[layer], on_rows=self.system.on_rows,
                                on_state=self.system.on_state, on_neurons=self.system.family.on_neurons,
                                on_read=self.system.on_read)
        return self._get(("layer_weights", layer), make)

    def couplings_at(self, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(receiver (C,), sender (C,), block (C, d, d))`` of every coupling of ``W[layer]``, by sender:
        each circuit's own block (the scheme's) and each cross-circuit edge's ``B / S``."""
        lw = self.layer_weights(layer)
        T = self.n_circuits
        recv, send, blocks = [np.arange(T)], [np.arange(T)], [self.scheme.own_blocks(lw)]
        if self.system.couplings is not None:
            r, s, b = self.system.couplings.edges_at(layer)
            recv.append(r)
            send.append(s)
            blocks.append(b / self.redundancy)
        recv, send, blocks = np.concatenate(recv), np.concatenate(send), np.concatenate(blocks)
        order = np.argsort(send, kind="stable")
        return recv[order], send[order], blocks[order]

    # ------------------------------------------------------------ torch state
    def _get(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _incidence(self, layer: int) -> Incidence:
        sets = self.assignment.sets
        if layer == 0 and np.array_equal(sets[0], sets[1]):
            return self._incidence(1)
        if layer >= 2 and self._get(("same_sets", layer), lambda: np.array_equal(sets[layer], sets[layer - 1])):
            return self._incidence(layer - 1)  # every circuit keeps its slots (a scheme with same_sets)
        return self._get(("incidence", layer), lambda: make_incidence(sets[layer], self.n_slots, self.device))

    def _couplings(self, layer: int) -> CouplingTable:
        def make():
            recv, send, block = self.couplings_at(layer)
            dev = torch.device(self.device)
            indptr = np.concatenate([[0], np.cumsum(np.bincount(send, minlength=self.n_circuits))])
            return CouplingTable(torch.as_tensor(indptr, dtype=torch.long, device=dev),
                              torch.as_tensor(recv, dtype=torch.long, device=dev),
                              torch.as_tensor(send, dtype=torch.long, device=dev),
                              torch.as_tensor(block, dtype=torch.float32, device=dev),
                              sparse_columns(self.assignment.sets[layer][recv], self.n_slots, dev),
                              bool(np.array_equal(send, np.arange(self.n_circuits))))
        return self._get(("couplings", layer), make)

    def _kernel(self, layer: int):
        return self._get(("kernel", layer), lambda: self.scheme.kernel(self.layer_weights(layer), self.device))

    def layer_bias(self, layer: int) -> np.ndarray:
        """``(d,)`` the bias of every slot at network layer ``layer``: the family's, plus the weight scheme's
        offset at layers >= 2 (``inhibited:X``)."""
        layer = require_int("layer", layer, 1, self.network_layers)
        bias = np.asarray(self.system.family.bias, dtype=np.float64)
        return bias if layer == 1 else bias + self.scheme.bias_offset(self.layer_weights(layer))

    def _bias(self, layer: int) -> torch.Tensor:
        return self._get(("bias", layer), lambda: torch.as_tensor(self.layer_bias(layer), dtype=torch.float32,
                                                                  device=self.device))

    # -------------------------------------------------- slot-major internals
    def _embed(self, active: np.ndarray, inputs: np.ndarray) -> torch.Tensor:
        mean, diff = self.system.layer_weights(1)
        active = np.asarray(active)
        pre = np.einsum("bzij,bzj->bzi", mean + diff[active], np.asarray(inputs, dtype=np.float64))
        return self._place(active, pre, 0)

    def _place(self, active, values, layer: int) -> torch.Tensor:
        act = torch.as_tensor(np.asarray(active), dtype=torch.long, device=self.device)
        vals = torch.as_tensor(np.asarray(values), dtype=torch.float32, device=self.device)
        return place(self._incidence(layer).sets, act, vals, self.n_slots)

    def _pre(self, layer: int, acts: torch.Tensor, prev: Touched | None) -> torch.Tensor:
        """Pre-activations of ``layer`` (slot-major) from the previous layer's activations."""
        bias = self._bias(layer)
        if layer == 1:  # layer 0 already holds the first pre-activations
            return acts + bias
        if prev is None:
            prev = touched(acts, self._incidence(layer - 1))
        b, N, d = acts.shape
        kernel = self._kernel(layer)
        out = (kernel.constant(prev, b) + bias)[:, None, :].expand(b, N, d).contiguous()
        flat = out.view(b * N, d)
        add_couplings(out, prev, self._couplings(layer), self._incidence(layer).sets)
        kernel.correct(prev, flat, N)
        return out

    def _mask(self, active, layer: int) -> torch.Tensor:
        return self.active_mask(active, layer).transpose(1, 2)

    def _advance(self, layer: int, acts: torch.Tensor, prev: Touched | None, active=None) -> torch.Tensor:
        pre = self._pre(layer, acts, prev)
        return torch.relu(pre) if active is None else pre * self._mask(active, layer)

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
        active = self.system.check_active(active)
        layer = require_int("layer", layer, 0, self.network_layers)
        return _group_major(self._place(active, self._check_inputs(active, values, "values"), layer))

    def embed(self, active: np.ndarray, inputs: np.ndarray) -> torch.Tensor:
        """Layer 0: the active circuits' first pre-activations ``w_t[1] @ a_t[0]`` in ``e[0]``.

        Args:
            active: ``(B, z)`` circuit indices.
            inputs: ``(B, z, d)`` their inputs ``a[0]`` (see ``system.encode``).
        """
        active = self.system.check_active(active)
        return _group_major(self._embed(active, self._check_inputs(active, inputs)))

    def active_mask(self, active: np.ndarray, layer: int) -> torch.Tensor:
        """``(B, 1, D/d)`` 0/1 mask of the slots that the active circuits own at ``layer``."""
        layer = require_int("layer", layer, 0, self.network_layers)
        active = torch.as_tensor(self.system.check_active(active), dtype=torch.long, device=self.device)
        B = active.shape[0]
        slots = self._incidence(layer).sets[active].reshape(B, -1)
        mask = torch.zeros(B, self.n_slots, device=self.device)
        mask.scatter_(1, slots, 1.0)
        return mask.unsqueeze(1)

    def _check_acts(self, acts: torch.Tensor, name: str = "prev") -> torch.Tensor:
        require(isinstance(acts, torch.Tensor) and acts.ndim == 3 and tuple(acts.shape[1:]) == (self.circuit_width,
                                                                                              self.n_slots),
                f"{name} must be a (B, {self.circuit_width}, {self.n_slots}) tensor, got "
                f"{tuple(acts.shape) if isinstance(acts, torch.Tensor) else type(acts).__name__}", parameter=name)
        require(acts.dtype.is_floating_point, f"{name} must hold real floating-point activations, got {acts.dtype}",
                parameter=name)
        require(bool(torch.isfinite(acts).all()), f"{name} must be finite (found NaN or inf)", parameter=name)
        return acts.to(device=self.device, dtype=torch.float32)

    def _check_inputs(self, active: np.ndarray, inputs, name: str = "inputs") -> np.ndarray:
        return require_array(name, inputs, shape=active.shape + (self.circuit_width,))

    def _check_circuits(self, circuits, batch: int) -> np.ndarray:
        circuits = np.asarray(circuits)
        require(circuits.ndim == 2 and circuits.shape[0] == batch
                and (circuits.size == 0 or np.issubdtype(circuits.dtype, np.integer))
                and (circuits.size == 0 or (circuits.min() >= 0 and circuits.max() < self.n_circuits)),
                f"circuits must be an integer array (B, m) of indices in 0..{self.n_circuits - 1} with "
                f"B = {batch}", parameter="circuits")
        return circuits

    def step(self, layer: int, prev: torch.Tensor, *, active=None) -> torch.Tensor:
        """One network layer: activations of ``layer`` from those of ``layer - 1``.

        Args:
            layer: 1..L (layer 1 adds the bias to layer 0's pre-activations).
            prev: ``(B, d, D/d)`` activations of layer ``layer - 1``.
            active: if given (``(B, z)`` indices), the "ideal" mode: instead of ReLU, keep
                exactly the neurons owned by the active circuits (pre-activations unchanged).

        Returns:
            ``(B, d, D/d)`` activations.
        """
        layer = require_int("layer", layer, 1, self.network_layers)
        prev = self._check_acts(prev)
        if active is not None:
            active = self.system.check_active(active)
            require(active.shape[0] == prev.shape[0],
                    f"active must have one row per sample of prev (B = {prev.shape[0]}), got {active.shape[0]}",
                    parameter="active")
        return _group_major(self._advance(layer, _slot_major(prev), None, active))

    def preactivation(self, layer: int, prev: torch.Tensor) -> torch.Tensor:
        """Pre-activations ``W[layer] @ prev + b`` from the structured weights, ``(B, d, D/d)``."""
        layer = require_int("layer", layer, 1, self.network_layers)
        return _group_major(self._pre(layer, _slot_major(self._check_acts(prev)), None))

    def trace(self, active: np.ndarray, inputs: np.ndarray, *, ideal: bool = False) -> Iterator[LayerState]:
        """Run a batch and yield every layer's :class:`LayerState`, layers 0..L (slot-major).

        Layer 0 is the input ``a[0]`` written into the ``e[0]`` neurons (what a read-out of the
        input sees); the pass itself starts from the first pre-activations (:meth:`embed`).

        Args:
            active: ``(B, z)`` active circuit indices.
            inputs: ``(B, z, d)`` their inputs ``a[0]``.
            ideal: keep the active circuits' neurons instead of applying ReLU.
        """
        active = self.system.check_active(active)
        inputs = self._check_inputs(active, inputs)
        placed = self._place(active, inputs, 0)
        yield LayerState(0, placed, touched(placed, self._incidence(0)))
        del placed
        acts, prev = self._embed(active, inputs), None
        for layer in range(1, self.network_layers + 1):
            acts = self._advance(layer, acts, prev, active if ideal else None)
            prev = touched(acts, self._incidence(layer))
            yield LayerState(layer, acts, prev)

    def forward(self, active: np.ndarray, inputs: np.ndarray, *, ideal: bool = False) -> list[torch.Tensor]:
        """Run the network on a batch; returns the activations of layers ``0..L`` (``(B, d, D/d)`` each).

        Args:
            active: ``(B, z)`` active circuit indices.
            inputs: ``(B, z, d)`` their inputs ``a[0]`` (see ``system.encode``).
            ideal: use the mask instead of ReLU (isolates the error ReLUs fail to remove).
        """
        active = self.system.check_active(active)
        acts = [self._embed(active, self._check_inputs(active, inputs))]
        for layer in range(1, self.network_layers + 1):
            acts.append(self._advance(layer, acts[-1], None, active if ideal else None))
        return [_group_major(a) for a in acts]

    # ----------------------------------------------------------------- read-out
    def _coefficients(self, layer: int) -> tuple[float, float]:
        return self.scheme.read_coefficients(self.constants[layer], self.redundancy)

    def read(self, state: LayerState, circuits: np.ndarray) -> torch.Tensor:
        """Read-outs ``(b, m, d)`` of given circuits ``(b, m)`` from a :class:`LayerState`."""
        circuits = self._check_circuits(circuits, state.acts.shape[0])
        idx = torch.as_tensor(circuits, dtype=torch.long, device=state.acts.device)
        sums = slot_sums(state.acts, self._incidence(state.layer).sets, idx)
        a, c = self._coefficients(state.layer)
        return a * sums - c * state.touched.total[:, None, :] if c else a * sums

    def read_touched(self, state: LayerState) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Read-outs of every circuit from a :class:`LayerState`, without a ``(b, T, d)`` array.

        Returns:
            ``(Q, d)`` of the touched circuits (``state.touched.sample/circuit``), ``(b, d)`` the
            one value every untouched circuit of each sample reads (zero for capped), and
            ``(T, m, d)`` every circuit of the samples held densely.
        """
        t = state.touched
        a, c = self._coefficients(state.layer)
        return (a * t.sums - c * t.total.index_select(0, t.sample), -c * t.total,
                a * t.dense_sums - c * t.total.index_select(0, t.dense))

    def read_out(self, acts: torch.Tensor, layer: int, circuits: np.ndarray | None = None) -> torch.Tensor:
        """Read circuits' small activations at ``layer`` (``e[l,t]^T A / S`` per group for capped).

        Args:
            acts: ``(B, d, D/d)`` activations of ``layer``.
            layer: 0..L.
            circuits: ``(B, m)`` indices per sample, or ``None`` for all T circuits.

        Returns:
            ``(B, m, d)`` (or ``(B, T, d)``) estimated small-circuit activations.
        """
        layer = require_int("layer", layer, 0, self.network_layers)
        acts = self._check_acts(acts, "acts")
        sets = self._incidence(layer).sets
        if circuits is None:
            sums = acts[:, :, sets].sum(-1).transpose(1, 2)  # (B, T, d)
        else:
            circuits = self._check_circuits(circuits, acts.shape[0])
            sums = slot_sums(_slot_major(acts), sets, torch.as_tensor(circuits, dtype=torch.long, device=acts.device))
        a, c = self._coefficients(layer)
        return a * sums - c * acts.sum(-1)[:, None, :]

    # ------------------------------------------------------------ dense form
    def dense_weights(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``(D, D)`` weight matrix and ``(D,)`` bias of network layer ``layer``, written out densely.

        Built straight from the scheme's formula plus the edges (independently of the structured
        forward pass), for checks and export. Costs ``O(D^2)`` memory. Layer 1 is the identity.
        """
        layer = require_int("layer", layer, 1, self.network_layers)
        N, S, d = self.n_slots, self.redundancy, self.circuit_width
        bias = np.repeat(self.layer_bias(layer), N)
        if layer == 1:
            return np.eye(d * N), bias
        blocks = self.scheme.dense(self.layer_weights(layer))
        if self.system.couplings is not None:
            recv, send, block = self.system.couplings.edges_at(layer)
            sets = self.assignment.sets
            e_out, e_in = np.zeros((len(recv), N)), np.zeros((len(recv), N))
            e_out[np.arange(len(recv))[:, None], sets[layer][recv]] = 1.0
            e_in[np.arange(len(recv))[:, None], sets[layer - 1][send]] = 1.0
            for i in range(d):
                for j in range(d):
                    blocks[i, j] += (e_out * block[:, i, j, None]).T @ e_in / S
        return blocks.transpose(0, 2, 1, 3).reshape(d * N, d * N), bias

    def to(self, device: str) -> "Network":
        """The same network with its forward pass on ``device``."""
        return replace(self, device=check_device(device))
