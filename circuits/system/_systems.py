"""The named small systems: one registry for every system the command line and the specs can name.

Each entry of :data:`SYSTEMS` makes a :class:`circuits.SmallSystem` from ``(n_circuits, seed,
**params)`` and declares its parameters (name, default, allowed range), which the experiment
spec, the command line (``--chain-length``) and the tables pick up without naming any system.
A new system is one function and one entry here.

- ``rotation`` (d = 4): the 2-ReLU step on-indicator and a unit 2-vector rotated each layer.
- ``rotation-3`` (d = 3): a one-neuron on-indicator, the instructive failure.
- ``step`` (d = 2): the on-indicator alone.
- ``rotation-chains``: chains of K rotation circuits that compose their rotations.
- ``rotation-fan-in``: triples in which a receiver rotates the mean of two senders' vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ._couplings import Couplings
from ..base import CircuitsError, Registry, require, require_choice, require_int
from ._families import custom_family, rotation3_family, rotation_family, step_family
from ._system import ActivationGroups, SmallSystem


def rotation_circuits(n_circuits: int, *, seed: int, b: float = 1.0) -> SmallSystem:
    """Independent rotation circuits (d = 4) with the 2-ReLU step on-indicator.

    Neurons 0, 1 hold the on-indicator ``alpha = a0 - a1`` (input ``1.5, 0.5``; each layer
    ``ReLU(2 alpha - 0.5)``, ``ReLU(2 alpha - 1.5)``); neurons 2, 3 hold ``x + alpha (1, 1)``
    where ``x`` is a unit 2-vector rotated each layer by the circuit's own random rotation.

    Args:
        n_circuits: T >= 1.
        seed: seeds the rotation angles (uniform in [0, 2 pi)).
        b: the payload bias magnitude (bias ``-b`` on neurons 2, 3), b > 0.

    Example:
        >>> s = rotation_circuits(n_circuits=3, seed=0)
        >>> s.circuit_width, s.n_circuits, s.couplings is None
        (4, 3, True)
    """
    return SmallSystem(rotation_family(n_circuits, seed=seed, b=b), name="rotation", params={"b": b}, seed=seed)


def rotation3_circuits(n_circuits: int, *, seed: int, b: float = 1.0) -> SmallSystem:
    """Independent rotation circuits (d = 3) with a one-neuron on-indicator: the instructive failure.

    Neuron 0 is ``ReLU((1+b) a0 - b)``, which has an unstable fixed point at 1 (noise on the
    on-indicator is amplified by ``1+b`` each layer); neurons 1, 2 hold ``x + a0 (1, 1)``.
    """
    return SmallSystem(rotation3_family(n_circuits, seed=seed, b=b), name="rotation-3", params={"b": b}, seed=seed)


def step_circuits(n_circuits: int, *, seed: int | None = None) -> SmallSystem:
    """Step circuits (d = 2): the 2-ReLU on-indicator alone, no payload (every circuit the same;
    ``seed`` is recorded and draws nothing)."""
    return SmallSystem(step_family(n_circuits), name="step", seed=seed)


def _rotation_coupled(n_circuits: int, *, name: str, seed: int, b: float, groups: ActivationGroups, layer, receiver,
                      sender, weight: float, params: dict) -> SmallSystem:
    """Rotation circuits with edges that add ``weight * R_u x_t`` to the receiver's payload.

    Each block is ``weight`` times ``R_u`` on the payload columns, ``-R_u (1,1)`` on column 0 and
    ``+R_u (1,1)`` on column 1, so ``B a_t = weight R_u x_t`` whatever the sender's on-offset.
    """
    require(np.isfinite(b) and b >= 1, f"b must be >= 1 (an inactive receiver must stay zero), got {b}",
            parameter="b")
    family = rotation_family(n_circuits, seed=seed, b=b)
    receiver = np.asarray(receiver, dtype=np.int64)
    block = np.zeros((len(receiver), 4, 4))
    block[:, 2:, :] = weight * family.diff_w[receiver, 2:, :]
    couplings = Couplings(n_circuits, 4, layer=layer, receiver=receiver, sender=sender, block=block)
    return SmallSystem(family, couplings=couplings, groups=groups, name=name, params={**params, "b": b}, seed=seed)


def rotation_chains(n_circuits: int, *, chain_length: int = 2, seed: int, b: float = 1.0) -> SmallSystem:
    """Rotation circuits grouped into chains of ``K = chain_length`` that compose rotations.

    Chain ``c`` is circuits ``c K, c K + 1, ..., c K + K - 1`` (positions 1..K; the last
    ``T mod K`` circuits belong to no chain). At layer ``j`` (j = 2..K) the circuit at
    position ``j`` reads the decoded payload ``x`` of the circuit at position ``j - 1`` and adds
    ``R_u x`` to its payload pre-activation. A chain is active as a whole: its head gets a unit
    payload, the other circuits payload 0, so position ``j`` holds ``R_j ... R_1 x`` at layer
    ``j`` and keeps rotating by its own ``R_j`` after that. An inactive receiver's payload
    pre-activation is ``R_u x_t - b <= 0`` (``|x_t| <= 1``, ``b >= 1``): it stays exactly zero.
    Needs ``L >= K``. The chain position is the circuit's depth in the coupling graph.

    Args:
        n_circuits: T >= chain_length.
        chain_length: K >= 1 (1: no edges).
        seed: seeds the rotation angles.
        b: payload bias magnitude; b >= 1 keeps an inactive receiver at zero.

    Example:
        >>> s = rotation_chains(7, chain_length=3, seed=0)
        >>> g = s.couplings
        >>> g.layer.tolist(), g.receiver.tolist(), g.sender.tolist(), s.groups.size
        ([2, 3, 2, 3], [1, 2, 4, 5], [0, 1, 3, 4], 3)
    """
    n_circuits = require_int("n_circuits", n_circuits, 1)
    K = require_int("chain_length", chain_length, 1, n_circuits)
    pos = np.arange(2, K + 1)
    receiver = (np.arange(n_circuits // K)[:, None] * K + pos - 1).ravel()
    return _rotation_coupled(n_circuits, name="rotation-chains", seed=seed, b=b,
                             groups=ActivationGroups(K, (True,) + (False,) * (K - 1)),
                             layer=np.tile(pos, n_circuits // K), receiver=receiver, sender=receiver - 1,
                             weight=1.0, params={"chain_length": K})


def rotation_fan_in(n_circuits: int, *, seed: int, b: float = 1.0) -> SmallSystem:
    """Rotation circuits in groups of three where one circuit rotates the mean of two others.

    Group ``g`` is circuits ``3g`` and ``3g + 1`` (the senders, depth 1) and ``3g + 2`` (the
    receiver, depth 2); the last ``T mod 3`` circuits belong to no group. At layer 2 the receiver
    ``u`` reads both senders' decoded payloads and adds ``R_u x_t / 2`` from each: it rotates the
    *mean* of the two vectors. The halving keeps the construction's assumptions: the mean of two
    unit vectors has norm <= 1, so an active receiver keeps ``x + alpha (1,1) >= 0`` and an
    inactive one stays exactly zero (``R_u (x_t1 + x_t2) / 2 - b <= 0``, b >= 1); the sum (norm up
    to 2) would break both. A group is active as a whole: the senders get unit payloads, the
    receiver payload 0. Needs ``L >= 2``.

    Example:
        >>> s = rotation_fan_in(7, seed=0)
        >>> g = s.couplings
        >>> g.layer.tolist(), g.receiver.tolist(), g.sender.tolist(), s.depth().tolist()
        ([2, 2, 2, 2], [2, 2, 5, 5], [0, 1, 3, 4], [1, 1, 2, 1, 1, 2, 1])
    """
    n_circuits = require_int("n_circuits", n_circuits, 3)
    start = 3 * np.arange(n_circuits // 3)
    return _rotation_coupled(n_circuits, name="rotation-fan-in", seed=seed, b=b,
                             groups=ActivationGroups(3, (True, True, False)),
                             layer=np.full(2 * len(start), 2), receiver=np.repeat(start + 2, 2),
                             sender=(start[:, None] + [0, 1]).ravel(), weight=0.5, params={})


def custom_circuits(weights: np.ndarray, bias: np.ndarray, *, on_neurons: tuple[int, ...], active_input: np.ndarray,
                    couplings: Couplings | None = None, groups: ActivationGroups | None = None,
                    **codecs) -> SmallSystem:
    """A hand-specified system from arrays (see :func:`circuits.system._families.custom_family` for the
    family's arguments: ``decode_on``, ``payload_neurons``, ``payload_dim``, ``encode_payload``,
    ``decode_payload``, ``mean_w``).

    Args:
        weights: ``(T, d, d)`` or per layer ``(L, T, d, d)`` circuit weights.
        bias: ``(d,)`` shared bias, every entry <= 0.
        on_neurons: the on-indicator's neurons.
        active_input: ``(d,)`` input of an active circuit when there is no payload.
        couplings: cross-circuit edges, or ``None``.
        groups: which circuits are active together (default: each alone).

    Example:
        >>> w = np.array([[[2.0, -2.0], [2.0, -2.0]]] * 5)
        >>> s = custom_circuits(w, np.array([-0.5, -1.5]), on_neurons=(0, 1), active_input=np.array([1.5, 0.5]),
        ...                     decode_on=lambda a: a[..., 0] - a[..., 1])
        >>> s.n_circuits, s.circuit_width, s.name
        (5, 2, 'custom')
    """
    family = custom_family(weights, bias, on_neurons=on_neurons, active_input=active_input, **codecs)
    return SmallSystem(family, couplings=couplings, groups=groups or ActivationGroups(), name="custom")


@dataclass(frozen=True)
class SystemParam:
    """A parameter of a named system: its default and its check (returns the checked value)."""

    default: object
    check: Callable
    help: str


@dataclass(frozen=True)
class SystemEntry:
    """A named system (an entry of :data:`SYSTEMS`): the function that makes it and the parameters it takes.

    Attributes:
        name: the name a spec writes (``system``).
        make: ``(n_circuits, *, seed, **params) -> SmallSystem``.
        help: one line for help texts.
        params: name -> :class:`SystemParam` (the spec, the tables and the command line use the names).
        min_circuits: ``params -> int``, the fewest circuits it can be made with.
    """

    name: str
    make: Callable[..., SmallSystem]
    help: str
    params: dict = field(default_factory=dict)
    min_circuits: Callable[[dict], int] = lambda params: 1

    def parse(self, arg: str | None, text: str) -> "SystemEntry":
        """The entry itself (a system's parameters are spec fields of their own, not an argument)."""
        require(arg is None, f"system {self.name!r} takes no argument (its parameters are flags of their own), "
                             f"got {text!r}", parameter="system")
        return self


#: Systems that specs and the command line can name.
SYSTEMS = Registry("system", [
    SystemEntry("rotation", rotation_circuits, "rotation circuits, d = 4, 2-ReLU step on-indicator"),
    SystemEntry("rotation-3", rotation3_circuits, "rotation circuits, d = 3, one-neuron on-indicator (unstable)"),
    SystemEntry("step", step_circuits, "the 2-ReLU step on-indicator alone, d = 2"),
    SystemEntry(
        "rotation-chains", rotation_chains,
        "chains of K rotation circuits composing their rotations (whole chains active)",
        {"chain_length": SystemParam(2, lambda v: require_int("chain_length", v, 1, 64),
                                     "K, circuits per chain of rotation-chains")},
        min_circuits=lambda p: p["chain_length"]),
    SystemEntry(
        "rotation-fan-in", rotation_fan_in,
        "triples: a receiver rotates the mean of two senders' vectors (whole triples active)",
        min_circuits=lambda p: 3),
])


def system_params(name: str, params: dict | None = None) -> dict:
    """The checked parameters of system ``name``: given ones checked, the rest defaults.

    Raises:
        CircuitsError: unknown system, unknown parameter, or a value out of range.

    Example:
        >>> system_params("rotation-chains", {"chain_length": 3})
        {'chain_length': 3}
    """
    require_choice("system", name, SYSTEMS)
    entry = SYSTEMS[name]
    params = dict(params or {})
    unknown = sorted(set(params) - set(entry.params))
    if unknown:
        takes = ", ".join(entry.params) or "no parameters"
        raise CircuitsError(f"{unknown[0]} is not a parameter of the {name!r} system (it takes {takes})",
                            parameter=unknown[0])
    return {key: p.check(params[key]) if params.get(key) is not None else p.default
            for key, p in entry.params.items()}


def make_system(name: str, n_circuits: int, *, seed, **params) -> SmallSystem:
    """Make a registered system by name (see :data:`SYSTEMS`).

    Example:
        >>> make_system("rotation-chains", 6, seed=0, chain_length=3)
        SmallSystem('rotation-chains', T=6, d=4, chain_length=3, edges=4, seed=0)
    """
    params = system_params(name, params)
    entry = SYSTEMS[name]
    n_circuits = require_int("n_circuits", n_circuits, entry.min_circuits(params))
    return entry.make(n_circuits, seed=seed, **params)


def all_system_params() -> dict[str, SystemParam]:
    """Every parameter any registered system takes, by name (the first declaration's help)."""
    out: dict[str, SystemParam] = {}
    for entry in SYSTEMS.values():
        for key, p in entry.params.items():
            out.setdefault(key, p)
    return out
