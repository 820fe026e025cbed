"""The library's one exception class and the checks that raise it (the base layer)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import torch


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


def require_bool(name: str, value) -> bool:
    """Check that ``value`` is ``True`` or ``False`` (a numpy bool too) and return it as ``bool``; a string such
    as ``"no"`` or a number is refused (it would count as true).

    Example:
        >>> require_bool("overwrite", False)
        False
        >>> require_bool("overwrite", "no")
        Traceback (most recent call last):
        ...
        circuits.CircuitsError: overwrite must be True or False, got 'no'
    """
    require(isinstance(value, (bool, np.bool_)), f"{name} must be True or False, got {value!r}", parameter=name)
    return bool(value)


def jsonable_seed(seed):
    """A seed as JSON can hold it: ``None``, an int or a string (numpy integers become ints, anything
    else its ``repr``)."""
    if seed is None or isinstance(seed, (int, str)):
        return seed
    if isinstance(seed, np.integer):
        return int(seed)
    return repr(seed)


def require_array(name: str, value, *, shape: tuple | None = None, ndim: int | None = None,
                  finite: bool = True, parameter: str | None = None) -> np.ndarray:
    """``value`` as a float64 array, checked: real numbers (not strings, objects or complex), of ``shape``
    (``None`` entries match any size) or ``ndim`` dimensions, and finite unless ``finite=False``.

    ``name`` is what messages call it (``components[2][0]``), ``parameter`` the argument a refusal names
    (default: ``name``). A torch tensor is read on the CPU; one without data (the ``meta`` device) is refused.

    Example:
        >>> require_array("inputs", [[1, 2]], shape=(None, 2)).dtype
        dtype('float64')
        >>> require_array("inputs", [1.0, float("nan")])
        Traceback (most recent call last):
        ...
        circuits.CircuitsError: inputs must be finite (found NaN or inf)
    """
    parameter = name if parameter is None else parameter
    value = _host_array(name, value, parameter)
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as err:  # ragged nested lists and other things numpy cannot hold
        raise CircuitsError(f"{name} must be an array of real numbers, got {type(value).__name__} ({err})",
                            parameter=parameter) from None
    if raw.dtype.kind not in "biuf":
        raise CircuitsError(f"{name} must be an array of real numbers, got dtype {raw.dtype}", parameter=parameter)
    arr = raw.astype(np.float64, copy=False)
    if shape is not None:
        want = tuple(shape)
        ok = arr.ndim == len(want) and all(w is None or w == s for w, s in zip(want, arr.shape))
        text = "(" + ", ".join("any" if w is None else str(w) for w in want) + ("," if len(want) == 1 else "") + ")"
        require(ok, f"{name} must have shape {text}, got {arr.shape}", parameter=parameter)
    if ndim is not None:
        require(arr.ndim == ndim, f"{name} must have {ndim} dimensions, got shape {arr.shape}", parameter=parameter)
    if finite:
        require(bool(np.all(np.isfinite(arr))), f"{name} must be finite (found NaN or inf)", parameter=parameter)
    return arr


def _host_array(name: str, value, parameter: str):
    """A torch tensor as a numpy array on the CPU (refusing a tensor without data, on the ``meta`` device, and a
    complex one); anything else as it is."""
    if not isinstance(value, torch.Tensor):
        return value
    require(value.device.type != "meta", f"{name} is a tensor on the 'meta' device, which holds no values",
            parameter=parameter)
    require(not value.is_complex(), f"{name} must be an array of real numbers, got dtype {value.dtype}",
            parameter=parameter)
    value = value.detach()
    if value.layout != torch.strided:
        value = value.to_dense()
    if value.dtype == torch.bfloat16:  # numpy has no bfloat16
        value = value.float()
    return value.cpu().numpy()


def require_path(name: str, value) -> Path:
    """``value`` as a :class:`pathlib.Path`, refusing what no file system takes: an empty name (which would
    mean the current folder) and a NUL character.

    Example:
        >>> require_path("out", "")
        Traceback (most recent call last):
        ...
        circuits.CircuitsError: out must name a file or folder, got ''
    """
    require(isinstance(value, (str, os.PathLike)), f"{name} must be a path, got {type(value).__name__}",
            parameter=name)
    text = os.fspath(value)
    require(isinstance(text, str) and text.strip() != "", f"{name} must name a file or folder, got {text!r}",
            parameter=name)
    require("\0" not in text, f"{name} must not contain a NUL character, got {text!r}", parameter=name)
    return Path(text)


def require_choice(name: str, value, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices`` (a registry's names) and return it."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise CircuitsError(f"{name} must be one of {', '.join(choices)}; got {value!r}", parameter=name)
    return value
