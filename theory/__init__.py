"""Closed-form predictions for circuits in superposition.

This package is pure arithmetic on the construction's parameters; it imports nothing from
``circuits``. Symbols, as everywhere in the project:

- ``n_circuits`` (T): number of small circuits;
- ``width`` (D): width of the large network; ``circuit_width`` (d): width of a small circuit;
- ``redundancy`` (S): network neurons per small-circuit neuron;
- ``n_active`` (z): circuits active on one forward pass;
- ``layer`` (l): computation step, 1..L (layer 0 is the input).

Example:
    >>> from theory import overlap_probability, load
    >>> round(overlap_probability(n_circuits=600, width=2000, circuit_width=4, redundancy=6), 6)
    0.001722
    >>> load(n_circuits=557, width=1000, circuit_width=4)
    0.008912
"""

from ._formulas import (
    load,
    overlap_probability,
    chi_closed_form,
    chi_from_counts,
    packing_bound,
    predicted_mse,
    gated_payload_mse,
    PAYLOAD_MSE_LEVEL,
    QUANTITIES,
)
from ._boundary import FITTED_MASS, BoundaryModel, PayloadRow, critical_load, distinct_pair_probability, hit_distribution, predicted_critical_load, hit_probability, pattern_density, spurious_layer2, step_output, unowned_payload_layer2

__all__ = [
    "load",
    "overlap_probability",
    "chi_closed_form",
    "chi_from_counts",
    "packing_bound",
    "predicted_mse",
    "gated_payload_mse",
    "PAYLOAD_MSE_LEVEL",
    "QUANTITIES",
    "FITTED_MASS",
    "BoundaryModel",
    "PayloadRow",
    "critical_load",
    "distinct_pair_probability",
    "hit_distribution",
    "hit_probability",
    "predicted_critical_load",
    "pattern_density",
    "spurious_layer2",
    "step_output",
    "unowned_payload_layer2",
]
