"""Base layer: the library's exception and the checks that raise it."""

from ._errors import CircuitsError, require, require_choice, require_float, require_int

__all__ = ["CircuitsError", "require", "require_choice", "require_float", "require_int"]
