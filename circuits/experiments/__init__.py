"""Experiments layer: the spec and its seeds, building and evaluating it, sweeps and the boundary finder.

Example:
    >>> from circuits.experiments import ExperimentSpec
    >>> ExperimentSpec(system="rotation-chains", params={"chain_length": 3}, n_circuits=30).n_active
    3
"""

from ._boundary import Boundary, Crossing, bisect_threshold, find_boundary, median_interval
from ._grids import LOAD_SWEEP, LOAD_SWEEP_ROWS, load_sweep_grid, load_sweep_networks
from ._experiment import CALIBRATION_BATCH, CHI_GRID, build_network, build_system, evaluate, tune_chi
from ._scaling import STUDY_LOAD, Scaling, fit_power_law, scaling
from ._budget import Cost, check_cost, estimate_cost
from ._presets import PRESET_FIELDS, PRESETS, SCALABLE_INHIBITION
from ._spec import FIELDS, LIMITS, MAX_SEED, ExperimentSpec, FieldInfo, Seeds, keyed_seed, spec_keys, spec_value
from ._sweep import grid_specs, map_completed, read_grid, run_id, run_rows, sweep

__all__ = ["PRESET_FIELDS", "PRESETS", "SCALABLE_INHIBITION", "STUDY_LOAD", "Scaling", "fit_power_law", "scaling", "Cost", "check_cost",
           "estimate_cost", "CALIBRATION_BATCH", "CHI_GRID", "FIELDS", "MAX_SEED", "Boundary", "Crossing", "ExperimentSpec",
           "FieldInfo", "LIMITS", "LOAD_SWEEP", "LOAD_SWEEP_ROWS", "Seeds", "bisect_threshold", "build_network", "build_system", "evaluate", "find_boundary",
           "grid_specs", "keyed_seed", "load_sweep_grid", "load_sweep_networks", "map_completed", "median_interval", "read_grid", "run_id", "run_rows",
           "spec_keys", "spec_value", "sweep", "tune_chi"]
