"""Measurement layer: evaluate a network against its small system (``evaluate_network -> Evaluation``).

The names here are what the layers above use; users import from ``circuits``.

Example:
    >>> from circuits.measurement import CRITERIA
    >>> list(CRITERIA)
    ['payload', 'payload-mse', 'compounding', 'fraction-on', 'worst-readout']
"""

from ._criteria import CRITERIA, Setting, criterion
from ._evaluate import (ON_THRESHOLD, ON_ERROR, Evaluation, describe, evaluate_network, failure_rate,
                        predicted_critical_load)

__all__ = ["CRITERIA", "criterion", "Setting", "describe", "evaluate_network", "Evaluation", "failure_rate", "ON_ERROR",
           "ON_THRESHOLD", "predicted_critical_load"]
