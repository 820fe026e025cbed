"""The figures of the "Rotations in Superposition" study, regenerated from the public API.

Each figure is a module ``figures/fig_<something>.py`` that defines ``NAME`` (what
``cis figures --only`` selects it by) and ``make(ctx) -> list[pathlib.Path]`` (the files it
wrote: a PNG and, beside it, the tidy data behind it as CSV). ``ctx`` is a :class:`Context`:
``out_dir``, ``quick``, ``seed`` and ``cache``, a dict shared by all figures of one run so that
common measurements (the study's network, the load sweep) are computed once.
:data:`FIGURES` lists the modules in order; :func:`render` runs them.

Every number comes from a :class:`circuits.ExperimentSpec` (through :func:`circuits.sweep`,
:func:`circuits.evaluate` or :func:`circuits.find_boundary`), and every CSV row that comes from
an evaluation carries the spec's columns, so ``cis evaluate`` with them as flags reproduces it
(see ``figures/README.md``).

Example:
    >>> from figures import FIGURES, figure_names
    >>> figure_names()[:3]
    ['1', '2', '3']
"""

from ._runner import FIGURES, Context, figure_modules, figure_names, render

__all__ = ["FIGURES", "Context", "figure_modules", "figure_names", "render"]
