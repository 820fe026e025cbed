"""Failure criteria: when does an evaluated network stop doing what the construction promises?

Each criterion turns one :class:`circuits.Evaluation` into a score and fails it when the score
exceeds a level (its default, or one the caller gives); the boundary finder searches the load
where the score crosses the level. All five read the same evaluation:

- ``payload`` (default): the active circuits' payload MSE at the last computation layer over
  the theory's value (the ``predicted`` column: the construction's own formula where it has one,
  :func:`theory.gated_payload_mse`, else :func:`theory.predicted_mse`): the computation no longer
  follows theory (what the study's figures 8-11 show). Level 2. Theory's value counts as at least
  :data:`PAYLOAD_FLOOR` (an RMS payload error of 0.014 on a unit vector): just above the load where
  circuits first share neurons, theory's MSE is tiny and the measured one is a handful of rare
  sharing events, whose ratio to theory says nothing about compounding (and float32 round-off,
  where no neuron is shared, must not fail either).
- ``payload-mse``: the same MSE, absolute (level :data:`theory.PAYLOAD_MSE_LEVEL`, 0.05, an RMS error of
  0.22 on a unit payload): for a construction that follows its theory at every load (``gated``),
  where the relative criterion is never crossed, the load at which the error itself becomes too large.
- ``compounding``: the spurious on-indicator mass (``sum alpha^2`` over slots no active circuit
  owns, per sample) at the last layer over the mass at layer 2: spurious activity grows from
  layer to layer instead of being cleaned. Level 2 (more than doubles). The layer-2 mass counts
  as at least :data:`MASS_FLOOR` (a twentieth of one fully-on spurious indicator per sample), so
  at tiny loads, where a stray indicator or two makes the ratio of two near-zero masses large,
  it does not fail.
- ``fraction-on``: the fraction of neurons on at the last layer (mean over neuron groups) over
  the active circuits' share ``z S / (D/d)``. Level 2.
- ``worst-readout``: the fraction of samples in which some on-indicator, active or inactive, is
  read off by more than 0.25 at some layer (today's criterion, kept for comparison). Level 0.01.
  Caveat: with z >= 2 an inactive circuit that shares one neuron with each of two active ones
  reads 2/S (0.33 at S = 6); each layer permutes the circuits anew, so some inactive circuit reads
  it at every layer, and at S <= 8 this criterion fails as soon as circuits must share neurons at
  all, whatever the construction: it measures overlap, not compounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from theory import PAYLOAD_MSE_LEVEL

from ..base import Registry, require
from ._evaluate import ON_ERROR, Evaluation, failure_rate

#: The least predicted payload MSE the ``payload`` ratio divides by (see the module docstring).
PAYLOAD_FLOOR = 2e-4
#: The least layer-2 spurious mass the ``compounding`` ratio divides by (per sample).
MASS_FLOOR = 0.05


def _last_computation(ev: Evaluation) -> int:
    table = ev.table
    return int(table.loc[table.role == "computation", "layer"].max())


def _last_active_payload(ev: Evaluation):
    """The active payload MSE rows of the last computation layer (the whole set, and by depth where circuits couple)."""
    t = ev.table
    layer = _last_computation(ev)
    return t[(t.layer == layer) & (t.circuit_state == "active") & (t.quantity == "payload") & (t.stat == "mse")]


def payload_ratio(ev: Evaluation, on_error: float = ON_ERROR) -> float:
    """Active payload MSE at the last computation layer over theory (the depth-1 circuits where
    circuits receive couplings; NaN for a system without payload or without a formula)."""
    rows = _last_active_payload(ev)
    if not len(rows):
        return math.nan
    whole = rows[rows.depth.isna()]
    row = whole.iloc[0] if np.isfinite(whole.predicted.iloc[0]) else rows[rows.depth == 1].iloc[0]
    if not np.isfinite(row.predicted):
        return math.nan
    return float(row.measured / max(row.predicted, PAYLOAD_FLOOR))


def payload_mse(ev: Evaluation, on_error: float = ON_ERROR) -> float:
    """Active payload MSE at the last computation layer (the depth-1 circuits where circuits receive couplings;
    NaN for a system without payload): an absolute measure, whatever theory says."""
    rows = _last_active_payload(ev)
    if not len(rows):
        return math.nan
    whole = rows[rows.depth.isna()]
    return float(whole.measured.iloc[0] if not rows.depth.notna().any() else rows[rows.depth == 1].measured.iloc[0])


def spurious_growth(ev: Evaluation, on_error: float = ON_ERROR) -> float:
    """Spurious on-indicator mass at the last layer over the mass at layer 2 (at least :data:`MASS_FLOOR`)."""
    t = ev.table
    mass = t[(t.circuit_state == "unowned") & (t.quantity == "on") & (t.stat == "mass")].set_index("layer").measured
    last = float(mass.loc[mass.index.max()])
    return last / max(float(mass.get(2, 0.0)), MASS_FLOOR)


def fraction_on_ratio(ev: Evaluation, on_error: float = ON_ERROR) -> float:
    """Fraction of neurons on at the last layer (mean over neuron groups) over ``z S / (D/d)``."""
    frac = ev.fraction_on
    last = frac[frac.layer == frac.layer.max()].fraction.mean()
    c = ev.config
    n_slots = c["width"] // c["circuit_width"]
    return float(last / (c["n_active"] * c["redundancy"] / n_slots))


def worst_readout(ev: Evaluation, on_error: float = ON_ERROR) -> float:
    """Fraction of samples with an on-indicator read off by more than ``on_error`` (0.25) at some layer 1..L."""
    return failure_rate(ev, on_error)


class Setting(NamedTuple):
    """What decides whether a criterion can apply to a construction (see :meth:`Criterion.cannot_apply`).

    Attributes:
        network_layers: the network's layers (clean-up layers included).
        ideal: whether ReLU is replaced by the active-neuron mask (then no unowned slot is ever on).
        payload_theory: whether theory predicts the active payload's error for this system.
        payload: whether the system's circuits carry a payload at all.
    """

    network_layers: int
    ideal: bool
    payload_theory: bool
    payload: bool = True


def _needs_payload_theory(s: Setting) -> str | None:
    return None if s.payload_theory else ("this system has no theory for its active payload (theory.predicted_mse "
                                          "covers rotation circuits), so its ratio to theory is undefined")


def _needs_a_payload(s: Setting) -> str | None:
    return None if s.payload else "this system's circuits carry no payload"


def _needs_spurious_activity(s: Setting) -> str | None:
    if s.ideal:
        return "ideal mode keeps only the active circuits' slots, so no unowned slot is ever on"
    return None


def _needs_three_layers(s: Setting) -> str | None:
    if s.network_layers < 3:
        return f"it compares the last layer with layer 2, which needs at least 3 network layers (got {s.network_layers})"
    return _needs_spurious_activity(s)


def _always(s: Setting) -> str | None:
    return None


@dataclass(frozen=True)
class Criterion:
    """A failure criterion: ``score(evaluation, on_error=0.25)`` and the ``level`` above which it fails.

    Attributes:
        name, help: as every registry entry.
        score: ``(evaluation, on_error) -> float``.
        level: the default level.
        cannot_apply: ``Setting -> reason or None``: why the criterion says nothing for a construction
            (asked before any search, so a search that could never cross is refused, not run).
        uses_on_error: whether the score reads ``on_error`` (the on-indicator error that counts).
        max_level: the largest level the score can exceed (a fraction of samples never exceeds 1), or None.
    """

    name: str
    score: Callable[[Evaluation], float]
    level: float
    help: str
    cannot_apply: Callable[[Setting], str | None] = _always
    uses_on_error: bool = False
    max_level: float | None = None

    def fails(self, ev: Evaluation, level: float | None = None, on_error: float = ON_ERROR) -> bool:
        """Whether ``ev`` fails (score above ``level``, the default level if ``None``)."""
        return self.score(ev, on_error) > (self.level if level is None else level)

    def parse(self, arg: str | None, text: str) -> "Criterion":
        """The criterion itself (a criterion takes no argument: its level is a flag of its own)."""
        require(arg is None, f"criterion {self.name!r} takes no argument (its level is an argument of its own: level), got "
                             f"{text!r}", parameter="criterion")
        return self


#: The criteria by name (the command line's ``--criterion``).
CRITERIA = Registry("criterion", (
    Criterion("payload", payload_ratio, 2.0, "active payload MSE at the last computation layer above 2x theory",
              cannot_apply=_needs_payload_theory),
    Criterion("payload-mse", payload_mse, PAYLOAD_MSE_LEVEL,
              f"active payload MSE at the last computation layer above {PAYLOAD_MSE_LEVEL} (an absolute level, "
              "for constructions that follow their theory at every load)", cannot_apply=_needs_a_payload),
    Criterion("compounding", spurious_growth, 2.0, "spurious on-indicator mass more than doubles from layer 2 "
                                                   "to the last layer", cannot_apply=_needs_three_layers),
    Criterion("fraction-on", fraction_on_ratio, 2.0, "neurons on at the last layer above 2x the active circuits' "
                                                     "share z S d / D", cannot_apply=_needs_spurious_activity),
    Criterion("worst-readout", worst_readout, 0.01, "more than a hundredth of the samples read some on-indicator off "
                                                    "by more than on_error (0.25; trips at the first shared neuron "
                                                    "for z >= 2)", uses_on_error=True, max_level=1.0),
))


def criterion(name: str) -> Criterion:
    """The criterion called ``name`` (see :data:`CRITERIA`)."""
    return CRITERIA.parse(name)
