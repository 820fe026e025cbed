"""Modules imported on first use: what a command does not use, it does not pay for.

pandas, ``scipy.stats`` and ``scipy.optimize`` take from a quarter of a second to more than a second to
import; most commands never touch them. A module that needs one binds it with :func:`lazy_module` at
module level and uses it as usual (``pd.DataFrame(...)``); the import happens at the first attribute read.

Example:
    >>> json = lazy_module("json")
    >>> json.dumps([1])
    '[1]'
"""

from __future__ import annotations

import importlib


class LazyModule:
    """Stands for the module ``name`` and imports it at the first attribute read (then every read goes to it)."""

    def __init__(self, name: str):
        self._name = name
        self._module = None

    def __getattr__(self, attr: str):
        if attr.startswith("__") and attr.endswith("__"):  # copy, pickle and doctest probes: not the module's
            raise AttributeError(attr)
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name: str) -> LazyModule:
    """A stand-in for ``import name`` that imports the module at its first use."""
    return LazyModule(name)
