"""Assignment layer: which S of the D/d neuron slots each circuit owns, in each layer.

Methods (:data:`ASSIGNMENTS`): ``prime-step`` (the published construction), ``finite-field``
(lines over GF(q), near the packing bound) and ``random`` (no guarantee, for comparison).

Example:
    >>> from circuits.assignment import capacity
    >>> capacity(250, 6, "prime-step"), capacity(250, 6, "finite-field")
    (557, 1969)
"""

from ._assignment import ASSIGNMENTS, Assignment, assign, capacity, max_shared, slot_use

__all__ = ["assign", "Assignment", "ASSIGNMENTS", "capacity", "max_shared", "slot_use"]
