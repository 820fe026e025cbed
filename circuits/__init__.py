"""Circuits in superposition: one large ReLU network that computes many small circuits at once.

Example:
    >>> from circuits import rotation_circuits, build, evaluate
    >>> family = rotation_circuits(n_circuits=557, seed=0)
    >>> net = build(family, width=1000, redundancy=6, n_layers=5, seed=0)
    >>> result = evaluate(net, n_active=2, batch_size=200, seed=1)
    >>> sorted(result.table.columns)
    ['group', 'layer', 'measured', 'predicted', 'quantity', 'stat']
"""

from ._assignment import (
    ASSIGNMENTS,
    Assignment,
    assign,
    capacity,
    max_shared,
    prime_step_sets,
    random_sets,
    repeated_pairs,
    slot_use,
)
from ._geometry import finite_field_sets
from ._boundary import Boundary, failure_rate, find_boundary
from ._builder import METHODS, NetworkConfig, build
from ._errors import CircuitsError
from ._error_correction import (
    ERROR_CORRECTIONS,
    ErrorCorrection,
    build_with_error_correction,
    computation_layers,
    graph_with_error_correction,
    parse_error_correction,
    with_error_correction,
)
from ._evaluate import ON_THRESHOLD, SEIZURE_THRESHOLD, Evaluation, draw_active, evaluate
from ._export import ExportedNetwork, GroundTruth, ground_truth, load, save
from ._families import (
    FAMILIES,
    CircuitFamily,
    custom_circuits,
    make_family,
    rotation3_circuits,
    rotation_circuits,
    step_circuits,
)
from ._graph import (CircuitGraph, chain_rows, evaluate_chains, evaluate_graph, rotation_chains,
                     rotation_fan_in, run_graph)
from ._network import Network
from ._sweep import GRID_KEYS, read_grid, sweep

__version__ = "0.1.0"

__all__ = [
    "ASSIGNMENTS",
    "Assignment",
    "Boundary",
    "CircuitFamily",
    "CircuitGraph",
    "CircuitsError",
    "ERROR_CORRECTIONS",
    "ErrorCorrection",
    "Evaluation",
    "ExportedNetwork",
    "FAMILIES",
    "GRID_KEYS",
    "GroundTruth",
    "METHODS",
    "Network",
    "NetworkConfig",
    "ON_THRESHOLD",
    "SEIZURE_THRESHOLD",
    "assign",
    "build",
    "build_with_error_correction",
    "computation_layers",
    "capacity",
    "chain_rows",
    "custom_circuits",
    "draw_active",
    "evaluate",
    "evaluate_chains",
    "evaluate_graph",
    "failure_rate",
    "find_boundary",
    "finite_field_sets",
    "graph_with_error_correction",
    "ground_truth",
    "load",
    "make_family",
    "max_shared",
    "parse_error_correction",
    "prime_step_sets",
    "random_sets",
    "repeated_pairs",
    "slot_use",
    "read_grid",
    "rotation3_circuits",
    "rotation_chains",
    "rotation_circuits",
    "rotation_fan_in",
    "run_graph",
    "save",
    "step_circuits",
    "sweep",
    "with_error_correction",
]
