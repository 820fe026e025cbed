"""Circuits in superposition: one large ReLU network that computes many small circuits at once.

Everything a user needs is here (:data:`__all__`, listed in the README); the subpackages are the
library's layers (``circuits.system``, ``circuits.assignment``, ``circuits.construction``,
``circuits.measurement``, ``circuits.export``, ``circuits.experiments``), whose namespaces hold what
the layers above them use; ``circuits.zoo`` is the catalogue of ready-made networks.

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
from .construction import WEIGHT_SCHEMES, Network
from .experiments import PRESETS, Boundary, ExperimentSpec, Scaling, build, evaluate, find_boundary, scaling, sweep
from .export import (ActivationStream, Dataset, DecompositionScore, ExportedNetwork, FeatureScore, GroundTruth,
                     from_components, from_sae, ground_truth, load_dataset, load_network, save_network,
                     score_decomposition, score_features, to_module)
from .measurement import CRITERIA, ON_ERROR, Evaluation, failure_rate
from .system import (ERROR_CORRECTIONS, SYSTEMS, ActivationGroups, CircuitFamily, Couplings, ErrorCorrection,
                     SmallSystem, custom_circuits, make_system, rotation3_circuits, rotation_chains, rotation_circuits,
                     rotation_fan_in, step_circuits, with_error_correction)
from . import zoo

__all__ = [
    # the spec and the verbs
    "ExperimentSpec", "build", "evaluate", "sweep", "find_boundary", "scaling",
    # what they return
    "Network", "Evaluation", "Boundary", "Scaling",
    # small systems
    "SmallSystem", "CircuitFamily", "Couplings", "ActivationGroups", "ErrorCorrection", "make_system",
    "rotation_circuits", "rotation3_circuits", "step_circuits", "rotation_chains", "rotation_fan_in",
    "custom_circuits", "with_error_correction",
    # export, ground truth and scoring
    "save_network", "load_network", "to_module", "ExportedNetwork", "ground_truth", "GroundTruth", "Dataset",
    "load_dataset", "ActivationStream", "score_features", "FeatureScore", "from_sae", "score_decomposition",
    "DecompositionScore", "from_components",
    # measures
    "capacity", "failure_rate", "ON_ERROR",
    # the registries of named options
    "SYSTEMS", "WEIGHT_SCHEMES", "ERROR_CORRECTIONS", "ASSIGNMENTS", "CRITERIA", "PRESETS",
    # the library's error, the model zoo
    "CircuitsError", "zoo",
]
