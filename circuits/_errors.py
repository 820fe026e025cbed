"""The library's one exception class."""


class CircuitsError(ValueError):
    """Bad input to the library: the message names the parameter and the allowed range."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`CircuitsError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CircuitsError(message)


def require_int(name: str, value, low: int, high: int | None = None) -> int:
    """Check that ``value`` is an integer in ``[low, high]`` and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not _is_integral(value):
        raise CircuitsError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in {low}..{high}"
        raise CircuitsError(f"{name} must be {allowed}, got {value}")
    return value


def _is_integral(value) -> bool:
    try:
        import numpy as np

        return isinstance(value, np.integer)
    except ImportError:  # pragma: no cover
        return False
