"""Presets: named rules that fill a spec's construction fields from its sizes (D, T, z).

A preset decides ``redundancy``, ``assignment``, ``weight_scheme`` and ``error_correction`` from
``width``, ``n_circuits``, ``n_active`` and the system; the spec records the preset's name and the
values it chose, so every output (tables, JSON, saved networks, figure CSVs) says what was built,
and the same spec gives the same choice everywhere (a sweep, the boundary finder, ``cis scaling``
re-decide at each T). A new preset is one :class:`Preset` in :data:`PRESETS`; when the recommended
construction changes, ``scalable`` moves to it and the rule it had stays under a versioned name.

``scalable``: the construction this project recommends at large width, the ``gated:G`` weights
(G = :data:`GATED_GATE`): every circuit keeps its slots at every layer, on-indicators are carried
slot by slot (exact: no slot is ever falsely on, at any z) and each payload neuron is switched by
its own slot's on-indicator. Theory (:class:`theory.BoundaryModel` ``"gated"``) leaves one active
circuit exact at any load and, with several, only first-order cross-talk: through inactive circuits
that join two active ones, a mean square of about ``lambda S / (S - 1)`` per layer and per other
active circuit (the ``1 / (S - 1)`` of a circuit's own pairs over ``S - 1`` distinct slots), plus the
slots two active circuits share (independent of S). No spurious mass is left for S to suppress, so S
only trades that factor against capacity and work (``T S^2`` pairs): the preset takes the largest
S <= :data:`GATED_REDUNDANCY` (within 20% of S -> infinity) that the finite-field assignment holds
``T`` circuits with, smaller S only where the load needs the capacity (down to 2).

``scalable-1``: the rule ``scalable`` had before: ``inhibited:X`` weights (X =
:data:`SCALABLE_INHIBITION`: an unowned slot's on-indicator then needs nearly all ``S`` slots of an
active circuit to pass the step, whatever z), the finite-field assignment, and the ``S`` and step
margin ``A`` that minimise theory's layer-2 spurious mass (:func:`theory.spurious_layer2`) among the
``S`` the assignment can hold ``T`` circuits with. Why S depends on the width there: with ``k`` hits
out of ``z S`` trials at density ``rho ~ lambda S^2``, a spurious on-indicator needs ``k >= S``,
probability about ``(c z lambda S^2)^S``; a larger S makes each slot harder to fool but the pattern
denser, and the best S grows like ``1/sqrt(lambda)`` at a fixed number of spurious slots, i.e.
slowly with n at the loads that work.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from theory import spurious_layer2

from ..assignment import capacity
from ..base import Registry, require
from ..system import SYSTEMS, make_system

#: The inhibition of the ``scalable-1`` preset's on-indicator rows.
SCALABLE_INHIBITION = 8.0  # the default of inhibited (circuits.construction._schemes.Inhibited.DEFAULT)
#: The gate of the ``scalable`` preset's payload rows (the default of gated, circuits.construction._schemes.Gated.DEFAULT).
GATED_GATE = 4.0
#: The largest redundancy the ``scalable`` preset takes (its cross-talk factor S / (S - 1) is then within 20%
#: of its limit).
GATED_REDUNDANCY = 6
#: The redundancies and step margins the ``scalable-1`` preset chooses among.
SCALABLE_REDUNDANCY = tuple(range(3, 13))
SCALABLE_MARGINS = (0.25, 0.35, 0.45)


@functools.lru_cache(maxsize=4096)
def _fits(n_slots: int, redundancy: int, n_circuits: int) -> bool:
    """Whether the finite-field assignment holds ``n_circuits`` circuits at these sizes."""
    return n_circuits * redundancy <= n_slots or capacity(n_slots, redundancy, "finite-field") >= n_circuits


@functools.lru_cache(maxsize=4096)
def _scalable(width: int, n_circuits: int, n_active: int, circuit_width: int) -> dict:
    n_slots = width // circuit_width
    best = None
    for S in SCALABLE_REDUNDANCY:
        if S > n_slots or not _fits(n_slots, S, n_circuits):
            continue
        for A in SCALABLE_MARGINS:
            mass = spurious_layer2(n_slots, n_circuits, S, n_active, margin=A, inhibition=SCALABLE_INHIBITION)[1]
            key = (round(mass, 9), S, A)  # least mass; then the smaller S, the study's step
            if best is None or key < best[0]:
                best = (key, S, A)
    if best is None:  # nothing fits: leave S = 3 and let the spec's capacity check say so
        best = (None, 3, 0.25)
    _, S, A = best
    return {"redundancy": S, "assignment": "finite-field", "weight_scheme": f"inhibited:{SCALABLE_INHIBITION:g}",
            "error_correction": "none" if A == 0.25 else f"step:{A:g}"}


def _probe(values: dict):
    """A small system of the spec's kind (its circuit width and groups; its size does not matter) and z."""
    system = values.get("system", "rotation")
    params = {k: v for k, v in values.items() if k in SYSTEMS.get(system, SYSTEMS["rotation"]).params}
    probe = make_system(system, SYSTEMS[system].min_circuits({**{k: p.default for k, p in SYSTEMS[system].params.items()},
                                                              **params}), seed=0, **params)
    z = values.get("n_active") or (2 if probe.groups.size == 1 else probe.groups.size)
    return probe, int(z)


def scalable_1(values: dict) -> dict:
    """The ``scalable-1`` preset's choice for a flat spec mapping (see the module docstring).

    Example:
        >>> scalable_1({"system": "rotation", "width": 100000, "n_circuits": 10**6, "n_active": 1})
        {'redundancy': 10, 'assignment': 'finite-field', 'weight_scheme': 'inhibited:8', 'error_correction': 'none'}
    """
    probe, z = _probe(values)
    return _scalable(int(values.get("width", 1000)), int(values.get("n_circuits", 557)), z, probe.circuit_width)


@functools.lru_cache(maxsize=4096)
def _gated(width: int, n_circuits: int, circuit_width: int) -> dict:
    n_slots = width // circuit_width
    fits = [S for S in range(2, GATED_REDUNDANCY + 1) if S <= n_slots and _fits(n_slots, S, n_circuits)]
    S = max(fits) if fits else 2  # nothing fits: let the spec's capacity check say so
    return {"redundancy": S, "assignment": "finite-field", "weight_scheme": f"gated:{GATED_GATE:g}",
            "error_correction": "none"}


def scalable(values: dict) -> dict:
    """The ``scalable`` preset's choice for a flat spec mapping (see the module docstring).

    Example:
        >>> scalable({"system": "rotation", "width": 100000, "n_circuits": 10**6, "n_active": 1})
        {'redundancy': 6, 'assignment': 'finite-field', 'weight_scheme': 'gated:4', 'error_correction': 'none'}
        >>> scalable({"system": "rotation", "width": 2000, "n_circuits": 40000, "n_active": 2})["redundancy"]
        3
    """
    probe, _ = _probe(values)
    return _gated(int(values.get("width", 1000)), int(values.get("n_circuits", 557)), probe.circuit_width)


@dataclass(frozen=True)
class Preset:
    """A preset (an entry of :data:`PRESETS`): a rule that fills the construction fields from the sizes.

    Attributes:
        name: the name a spec writes (``preset``).
        choose: ``flat spec mapping -> {field: value}`` for the fields of :data:`PRESET_FIELDS`.
        help: one line for help texts.
    """

    name: str
    choose: Callable[[dict], dict]
    help: str

    def parse(self, arg: str | None, text: str) -> "Preset":
        """The preset itself (a preset takes no argument)."""
        require(arg is None, f"preset {self.name!r} takes no argument, got {text!r}", parameter="preset")
        return self


#: Presets by name.
PRESETS = Registry("preset", [
    Preset("scalable", scalable, "the construction recommended at large width: gated weights (circuits keep their "
                                 "slots, exact on-indicators, payloads gated by them), finite-field assignment, "
                                 "S = 6 where it fits"),
    Preset("scalable-1", scalable_1, "the earlier scalable rule: inhibited on-indicators, finite-field assignment, "
                                     "S and the step margin from theory's spurious mass"),
])
#: The fields a preset decides (giving them beside a preset is refused on the command line).
PRESET_FIELDS = ("redundancy", "assignment", "weight_scheme", "error_correction")
