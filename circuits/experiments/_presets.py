"""Presets: named rules that fill a spec's construction fields from its sizes (D, T, z).

A preset decides ``redundancy``, ``assignment``, ``weight_scheme`` and ``error_correction`` from
``width``, ``n_circuits``, ``n_active`` and the system; the spec records the preset's name and the
values it chose, so every output (tables, JSON, saved networks, figure CSVs) says what was built,
and the same spec gives the same choice everywhere (a sweep, the boundary finder, ``cis scaling``
re-decide at each T). A new preset is one :class:`Preset` in :data:`PRESETS`.

``scalable``: the construction this project recommends at large width. It uses the
``inhibited:X`` weights (X = :data:`SCALABLE_INHIBITION`: an unowned slot's on-indicator then needs
nearly all ``S`` slots of an active circuit to pass the step, whatever z), the finite-field
assignment (even slot use, near the packing bound), and picks ``S`` and the step's margin ``A``
that minimise theory's layer-2 spurious mass (:func:`theory.spurious_layer2`) among the ``S`` the
assignment can hold ``T`` circuits with. Why S depends on the width: with ``k`` hits out of ``z S``
trials at density ``rho ~ lambda S^2``, a spurious on-indicator needs ``k >= S``, probability about
``(c z lambda S^2)^S``; a larger S makes each slot harder to fool but the pattern denser, and the
best S grows like ``1/sqrt(lambda)`` at a fixed number of spurious slots, i.e. slowly with n at the
loads that work.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from theory import spurious_layer2

from ..assignment import capacity
from ..base import Registry, require
from ..system import SYSTEMS, make_system

#: The inhibition of the ``scalable`` preset's on-indicator rows.
SCALABLE_INHIBITION = 8.0  # the default of inhibited (circuits.construction._schemes.Inhibited.DEFAULT)
#: The redundancies and step margins the ``scalable`` preset chooses among.
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


def scalable(values: dict) -> dict:
    """The ``scalable`` preset's choice for a flat spec mapping (see the module docstring).

    Example:
        >>> scalable({"system": "rotation", "width": 100000, "n_circuits": 10**6, "n_active": 1})
        {'redundancy': 10, 'assignment': 'finite-field', 'weight_scheme': 'inhibited:8', 'error_correction': 'none'}
    """
    system = values.get("system", "rotation")
    params = {k: v for k, v in values.items() if k in SYSTEMS.get(system, SYSTEMS["rotation"]).params}
    probe = make_system(system, SYSTEMS[system].min_circuits({**{k: p.default for k, p in SYSTEMS[system].params.items()},
                                                              **params}), seed=0, **params)
    z = values.get("n_active") or (2 if probe.groups.size == 1 else probe.groups.size)
    return _scalable(int(values.get("width", 1000)), int(values.get("n_circuits", 557)), int(z), probe.circuit_width)


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
    Preset("scalable", scalable, "the construction recommended at large width: inhibited on-indicators, "
                                 "finite-field assignment, S and the step margin from theory"),
])
#: The fields a preset decides (giving them beside a preset is refused on the command line).
PRESET_FIELDS = ("redundancy", "assignment", "weight_scheme", "error_correction")
