"""Circuits in superposition: one large ReLU network that computes many small circuits at once.

The verbs and values most users need are here; the layers below have their own namespaces
(``circuits.system``, ``circuits.assignment``, ``circuits.construction``, ``circuits.measurement``,
``circuits.export``, ``circuits.experiments``); ``circuits.zoo`` is the catalogue of ready-made networks.

Example:
    >>> import circuits
    >>> spec = circuits.ExperimentSpec(width=1000, n_circuits=557, redundancy=6, n_layers=5, n_active=2,
    ...                                batch_size=200, seed=1)
    >>> result = circuits.evaluate(spec)
    >>> list(result.table.columns)
    ['layer', 'computation_layer', 'role', 'circuit_state', 'depth', 'quantity', 'stat', 'measured', 'predicted']
"""

from .assignment import ASSIGNMENTS, capacity
from .base import CircuitsError, __version__
from .construction import WEIGHT_SCHEMES, Network, build
from .experiments import Boundary, ExperimentSpec, build_network, evaluate, find_boundary, sweep
from .export import GroundTruth, ground_truth, load, save, score_decomposition, to_module
from .measurement import SEIZURE_THRESHOLD, Evaluation, failure_rate
from .system import (ERROR_CORRECTIONS, SYSTEMS, ActivationGroups, CircuitFamily, Couplings, ErrorCorrection,
                     SmallSystem, custom_circuits, make_system, parse_error_correction, rotation3_circuits,
                     rotation_chains, rotation_circuits, rotation_fan_in, step_circuits, with_error_correction)
from . import zoo

__all__ = [
    "ASSIGNMENTS", "ERROR_CORRECTIONS", "SEIZURE_THRESHOLD", "SYSTEMS", "WEIGHT_SCHEMES",
    "ActivationGroups", "Boundary", "CircuitFamily", "CircuitsError", "Couplings", "ErrorCorrection", "Evaluation",
    "ExperimentSpec", "GroundTruth", "Network", "SmallSystem",
    "build", "build_network", "capacity", "custom_circuits", "evaluate", "failure_rate", "find_boundary",
    "ground_truth", "load", "make_system", "parse_error_correction", "rotation3_circuits", "rotation_chains",
    "rotation_circuits", "rotation_fan_in", "save", "score_decomposition", "step_circuits", "sweep", "to_module",
    "with_error_correction", "zoo",
]
