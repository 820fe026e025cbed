"""Experiments layer: the spec and its seeds, building and evaluating it, sweeps and the boundary finder.

Example:
    >>> from circuits.experiments import ExperimentSpec
    >>> ExperimentSpec(system="rotation-chains", params={"chain_length": 3}, n_circuits=30).n_active
    3
"""

from ._boundary import Boundary, find_boundary
from ._grids import LOAD_SWEEP, LOAD_SWEEP_ROWS, load_sweep_grid, load_sweep_networks
from ._experiment import build, evaluate
from ._scaling import STUDY_LOAD, Scaling, scaling
from ._presets import PRESET_FIELDS, PRESETS
from ._spec import FIELDS, LIMITS, MAX_SEED, ExperimentSpec, spec_keys, spec_value
from ._sweep import grid_specs, read_grid, sweep

__all__ = ["Boundary", "build", "evaluate", "ExperimentSpec", "FIELDS", "find_boundary", "grid_specs", "LIMITS",
           "LOAD_SWEEP", "load_sweep_grid", "load_sweep_networks", "LOAD_SWEEP_ROWS", "MAX_SEED", "PRESET_FIELDS",
           "PRESETS", "read_grid", "Scaling", "scaling", "spec_keys", "spec_value", "STUDY_LOAD", "sweep"]
