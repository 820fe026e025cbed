"""Circuits in superposition: one large ReLU network that computes many small circuits at once.

Example:
    >>> from circuits import rotation_circuits, build, evaluate
    >>> family = rotation_circuits(n_circuits=557, seed=0)
    >>> net = build(family, width=1000, redundancy=6, n_layers=5, seed=0)
    >>> result = evaluate(net, n_active=2, batch_size=200, seed=1)
    >>> sorted(result.table.columns)
    ['group', 'layer', 'measured', 'predicted', 'quantity', 'stat']
"""

from ._assignment import ASSIGNMENTS, Assignment, assign, capacity, max_shared, prime_step_sets
from ._builder import METHODS, NetworkConfig, build
from ._errors import CircuitsError
from ._evaluate import ON_THRESHOLD, SEIZURE_THRESHOLD, Evaluation, draw_active, evaluate
from ._families import (
    FAMILIES,
    CircuitFamily,
    custom_circuits,
    make_family,
    rotation3_circuits,
    rotation_circuits,
    step_circuits,
)
from ._network import Network

__version__ = "0.1.0"

__all__ = [
    "ASSIGNMENTS",
    "Assignment",
    "CircuitFamily",
    "CircuitsError",
    "Evaluation",
    "FAMILIES",
    "METHODS",
    "Network",
    "NetworkConfig",
    "ON_THRESHOLD",
    "SEIZURE_THRESHOLD",
    "assign",
    "build",
    "capacity",
    "custom_circuits",
    "draw_active",
    "evaluate",
    "make_family",
    "max_shared",
    "prime_step_sets",
    "rotation3_circuits",
    "rotation_circuits",
    "step_circuits",
]
