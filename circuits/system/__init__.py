"""Small-system layer: circuit families, couplings, the small system, error-correction transforms, named systems.

Example:
    >>> from circuits.system import make_system, with_error_correction
    >>> with_error_correction(make_system("rotation", 10, seed=0), "cleanup", n_layers=3).network_layers(3)
    5
"""

from ._corrections import BASE_STEP, CorrectionOption, ErrorCorrection
from ._couplings import Couplings
from ._families import (CircuitFamily, custom_family, rotation3_family, rotation_family, step_family,
                        validate_family)
from ._system import CLEANUP, COMPUTATION, ActivationGroups, SmallSystem, draw_active, draw_payloads
from ._systems import (SYSTEMS, SystemEntry, SystemParam, all_system_params, custom_circuits, make_system,
                       rotation3_circuits, rotation_chains, rotation_circuits, rotation_fan_in, step_circuits,
                       system_params)
from ._transforms import ERROR_CORRECTIONS, parse_error_correction, step_neurons, with_error_correction

__all__ = [
    "BASE_STEP", "CLEANUP", "COMPUTATION", "ERROR_CORRECTIONS", "SYSTEMS",
    "ActivationGroups", "CircuitFamily", "CorrectionOption", "Couplings", "ErrorCorrection", "SmallSystem",
    "SystemEntry", "SystemParam",
    "all_system_params", "custom_circuits", "custom_family", "draw_active", "draw_payloads", "make_system",
    "parse_error_correction", "rotation3_circuits", "rotation3_family", "rotation_chains", "rotation_circuits",
    "rotation_fan_in", "rotation_family", "step_circuits", "step_family", "step_neurons", "system_params",
    "validate_family", "with_error_correction",
]
