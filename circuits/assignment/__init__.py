"""Assignment layer: which S of the D/d neuron slots each circuit owns, in each layer.

Methods (:data:`ASSIGNMENTS`): ``prime-step`` (the published construction), ``finite-field``
(lines over GF(q), near the packing bound) and ``random`` (no guarantee, for comparison).

Example:
    >>> from circuits.assignment import capacity
    >>> capacity(250, 6, "prime-step"), capacity(250, 6, "finite-field")
    (557, 1969)
"""

from ._assignment import (ASSIGNMENTS, Assignment, assign, capacity, max_shared, prime_step_capacity, prime_step_sets,
                          random_capacity, random_sets, repeated_pairs, slot_use)
from ._geometry import finite_field_capacity, finite_field_sets

__all__ = ["ASSIGNMENTS", "Assignment", "assign", "capacity", "finite_field_capacity", "finite_field_sets",
           "max_shared", "prime_step_capacity", "prime_step_sets", "random_capacity", "random_sets", "repeated_pairs",
           "slot_use"]
