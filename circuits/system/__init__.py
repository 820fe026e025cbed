"""Small-system layer: circuit families, couplings, the small system, error-correction transforms, named systems.

Example:
    >>> from circuits.system import make_system, with_error_correction
    >>> with_error_correction(make_system("rotation", 10, seed=0), "cleanup", n_layers=3).network_layers(3)
    5
"""

from ._corrections import ErrorCorrection
from ._couplings import Couplings
from ._families import CircuitFamily
from ._system import CLEANUP, COMPUTATION, ActivationGroups, SmallSystem, draw_payloads
from ._systems import (SYSTEMS, all_system_params, custom_circuits, make_system, rotation3_circuits, rotation_chains,
                       rotation_circuits, rotation_fan_in, step_circuits, system_params)
from ._transforms import ERROR_CORRECTIONS, parse_error_correction, with_error_correction

__all__ = ["ActivationGroups", "all_system_params", "CircuitFamily", "CLEANUP", "COMPUTATION", "Couplings",
           "custom_circuits", "draw_payloads", "ERROR_CORRECTIONS", "ErrorCorrection", "make_system",
           "parse_error_correction", "rotation3_circuits", "rotation_chains", "rotation_circuits", "rotation_fan_in",
           "SmallSystem", "step_circuits", "system_params", "SYSTEMS", "with_error_correction"]
