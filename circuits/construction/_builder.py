"""Builder: turn a small system and an assignment into one large network.

:func:`construct` checks its arguments, draws the assignment and hands over to :func:`assemble`,
which :func:`circuits.load_network` uses too: from the sets of every layer it makes the weight
scheme's structures and constants (for capped: the pattern ``C``, its excess ``E`` and chi).
The weights themselves stay in structured form; a dense ``D x D`` matrix is only made by
:meth:`Network.dense_weights`.
"""

from __future__ import annotations

import numpy as np

from ..assignment import ASSIGNMENTS, Assignment, assign
from ..base import require, require_choice, require_float, require_int
from ._network import Network, NetworkConfig, check_device
from ._schemes import weight_scheme as scheme_of
from ..system import SmallSystem

#: The largest chi multiplier accepted (tuned-chi tries up to 32; far beyond, float32 overflows).
MAX_CHI_SCALE = 1000.0


def check_width(width: int, circuit_width: int, base_width: int | None = None) -> int:
    """``width`` checked as a multiple of the circuit width; the refusal names the nearest widths that work.

    Example:
        >>> check_width(1000, 6, base_width=4)
        Traceback (most recent call last):
        ...
        circuits.CircuitsError: width must be a multiple of the circuit width d = 6 (base d = 4 widened by error correction): use 996 or 1002, got 1000
    """
    d = circuit_width
    width = require_int("width", width, d)
    if width % d:
        lower, upper = width - width % d, width - width % d + d
        why = "" if base_width in (None, d) else f" (base d = {base_width} widened by error correction)"
        require(False, f"width must be a multiple of the circuit width d = {d}{why}: use {lower} or {upper}, "
                       f"got {width}", parameter="width")
    return width


def assemble(system: SmallSystem, config: NetworkConfig, assignment: Assignment, device: str = "cpu") -> Network:
    """The network of ``system`` with the given config and assignment (shared by build and load).

    Makes, per network layer ``l >= 2``, the weight scheme's structure (capped: ``C`` and ``E``
    from one sort of the ``T S^2`` pair keys) and its constants (chi, or the read-out correction).
    """
    scheme = config.weight_scheme
    sets, n_slots = assignment.sets, assignment.n_slots
    structures, constants = [], []
    scheme.check_build(system, config.redundancy)
    require(not scheme.same_sets or all(np.array_equal(sets[0], layer) for layer in sets),
            f"weight_scheme {scheme.text} needs the same sets at every layer (each circuit keeps its slots); "
            "this assignment draws new ones per layer", parameter="weight_scheme")
    for layer in range(sets.shape[0]):
        structure = scheme.structure(sets[layer], sets[layer - 1], n_slots, system, layer) if layer >= 2 else None
        structures.append(structure)
        constants.append(scheme.layer_constants(sets, layer, n_slots, config.chi_scale, structure))
    return Network(system=system, config=config, assignment=assignment, constants=tuple(constants),
                   structures=tuple(structures), device=device)


def construct(system: SmallSystem, *, width: int, redundancy: int, n_layers: int, seed, weight_scheme: str = "capped",
          chi_scale: float = 1.0, assignment: str = "prime-step", device: str = "cpu") -> Network:
    """Construct the large network that computes every circuit of ``system`` at once (``circuits.build`` of a
    system calls this).

    Args:
        system: the small system (T circuits of width d, couplings, layer roles).
        width: D, a multiple of the system's circuit width d with ``D/d >= S``.
        redundancy: S, network neurons per small-circuit neuron (>= 1).
        n_layers: L >= 1 computation layers (the network has ``system.network_layers(L)``).
        seed: seeds the assignment's per-layer permutations.
        weight_scheme: a scheme of :data:`circuits.WEIGHT_SCHEMES`: ``capped``, ``uncorrected``, ``split``,
            ``inhibited:X``.
        chi_scale: multiplier on chi (capped scheme), >= 0.
        assignment: the assignment method (a key of :data:`circuits.ASSIGNMENTS`).
        device: torch device of the forward pass (``"cpu"``, ``"cuda"``).

    Returns:
        :class:`circuits.Network`.

    Raises:
        CircuitsError: on any inconsistent or out-of-range argument, before any work.

    Example:
        >>> from circuits import rotation_circuits, build
        >>> net = build(rotation_circuits(n_circuits=557, seed=0), width=1000, redundancy=6, n_layers=5, seed=0)
        >>> net
        Network('rotation', D=1000, T=557, d=4, S=6, L=5, scheme='capped', assignment='prime-step', load=0.008912, device='cpu')
    """
    require(isinstance(system, SmallSystem), f"system must be a SmallSystem (see circuits.SYSTEMS), got "
                                             f"{type(system).__name__}", parameter="system")
    width = check_width(width, system.circuit_width, system.base_width)
    n_slots = width // system.circuit_width
    redundancy = require_int("redundancy", redundancy, 1, n_slots)
    layers = system.network_layers(n_layers)
    weight_scheme = scheme_of(weight_scheme)
    chi_scale = require_float("chi_scale", chi_scale, 0.0, MAX_CHI_SCALE)
    require_choice("assignment", assignment, ASSIGNMENTS)
    device = check_device(device)
    config = NetworkConfig(width=width, redundancy=redundancy, n_layers=int(n_layers), weight_scheme=weight_scheme,
                           chi_scale=chi_scale, assignment=assignment, seed=seed)
    weight_scheme.check_build(system, redundancy)
    sets = assign(system.n_circuits, n_slots, redundancy, layers, seed=seed, method=assignment,
                  same_every_layer=weight_scheme.same_sets)
    net = assemble(system, config, sets, device)
    require(all(np.isfinite(v) for c in net.constants for v in c.values()),
            f"chi_scale = {chi_scale} makes the weight scheme's constants non-finite", parameter="chi_scale")
    return net
