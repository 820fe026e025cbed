"""Measurement layer: evaluate a network against its small system (``evaluate -> Evaluation``).

Example:
    >>> from circuits.measurement import TABLE_COLUMNS
    >>> TABLE_COLUMNS[:4]
    ['layer', 'computation_layer', 'role', 'circuit_state']
"""

from ._criteria import CRITERIA, MASS_FLOOR, PAYLOAD_FLOOR, Criterion, criterion, fraction_on_ratio, payload_ratio, \
    spurious_growth, worst_readout
from ._evaluate import (INPUT, ON_THRESHOLD, SEIZURE_THRESHOLD, TABLE_COLUMNS, Evaluation, default_chunk_size,
                        boundary_model, describe, evaluate, failure_rate, payload_row, predicted_critical_load,
                        spurious_prediction, unowned_payload_prediction)

__all__ = ["CRITERIA", "MASS_FLOOR", "PAYLOAD_FLOOR", "Criterion", "criterion", "fraction_on_ratio", "payload_ratio",
           "spurious_growth", "worst_readout", "boundary_model", "payload_row", "spurious_prediction", "unowned_payload_prediction", "predicted_critical_load", "INPUT", "ON_THRESHOLD", "SEIZURE_THRESHOLD", "TABLE_COLUMNS", "Evaluation", "default_chunk_size",
           "describe", "evaluate", "failure_rate"]
