"""Measurement layer: evaluate a network against its small system (``evaluate -> Evaluation``).

Example:
    >>> from circuits.measurement import TABLE_COLUMNS
    >>> TABLE_COLUMNS[:4]
    ['layer', 'computation_layer', 'role', 'circuit_state']
"""

from ._evaluate import (INPUT, ON_THRESHOLD, SEIZURE_THRESHOLD, TABLE_COLUMNS, Evaluation, default_chunk_size,
                        describe, evaluate, failure_rate)

__all__ = ["INPUT", "ON_THRESHOLD", "SEIZURE_THRESHOLD", "TABLE_COLUMNS", "Evaluation", "default_chunk_size",
           "describe", "evaluate", "failure_rate"]
