"""The library's one exception class and the checks that raise it (the base layer)."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np


class CircuitsError(ValueError):
    """Bad input to the library: the message names the parameter and the allowed range.

    Attributes:
        parameter: the name of the offending parameter when the message starts with it
            (the command line rewrites it as the flag the user typed), else ``None``.
    """

    def __init__(self, message: str, *, parameter: str | None = None):
        super().__init__(message)
        self.parameter = parameter


CircuitsError.__module__ = "circuits"  # shown as circuits.CircuitsError, where users import it from


def require(condition: bool, message: str, *, parameter: str | None = None) -> None:
    """Raise :class:`CircuitsError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CircuitsError(message, parameter=parameter)


def require_int(name: str, value, low: int, high: int | None = None) -> int:
    """Check that ``value`` is an integer in ``[low, high]`` and return it as ``int``.

    Example:
        >>> require_int("n_layers", 3, 1)
        3
        >>> require_int("n_layers", 0, 1)
        Traceback (most recent call last):
        ...
        circuits.CircuitsError: n_layers must be >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
            value = int(value)
        else:
            raise CircuitsError(f"{name} must be an integer, got {value!r}", parameter=name)
    value = int(value)
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in {low}..{high}"
        raise CircuitsError(f"{name} must be {allowed}, got {value}", parameter=name)
    return value


def require_float(name: str, value, low: float | None = None, high: float | None = None, *,
                  open_low: bool = False, open_high: bool = False) -> float:
    """Check that ``value`` is a finite number in the given range and return it as ``float``.

    Example:
        >>> require_float("chi_scale", 2, 0.0)
        2.0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise CircuitsError(f"{name} must be a number, got {value!r}", parameter=name)
    value = float(value)
    bad = not math.isfinite(value)
    if low is not None:
        bad = bad or value < low or (open_low and value == low)
    if high is not None:
        bad = bad or value > high or (open_high and value == high)
    if bad:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        allowed = f"{'(' if open_low or low is None else '['}{lo}, {hi}{')' if open_high or high is None else ']'}"
        raise CircuitsError(f"{name} must be a finite number in {allowed}, got {value!r}", parameter=name)
    return value


def require_choice(name: str, value, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices`` (a registry's names) and return it."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise CircuitsError(f"{name} must be one of {', '.join(choices)}; got {value!r}", parameter=name)
    return value
