"""The figures of the "Rotations in Superposition" study, regenerated from the public API.

Each figure is a module ``figures/fig_<something>.py``; its one name is the module's
(:func:`figure_name`: ``fig_payload_error`` is ``payload-error``): what ``cis figures --only``
selects, the key of :func:`render`'s result and the stem of its files (``payload-error.png`` and,
beside it, the tidy data behind it, ``payload-error.csv``). The module defines ``STUDY_FIGURE``
(the number of the study's figure it regenerates, ``None`` for figures of our own), a docstring
whose first line says what it shows (``cis figures --list``) and ``make(ctx) -> list[pathlib.Path]``
(the files it wrote). ``ctx`` is a :class:`Context`: ``out_dir``, ``quick``, ``seed`` and ``cache``,
a dict shared by all figures of one run so that common measurements (the study's network, the load
sweep) are computed once. :data:`FIGURES` lists the modules in order; :func:`render` runs them.

Every number comes from a :class:`circuits.ExperimentSpec` (through :func:`circuits.sweep`,
:func:`circuits.evaluate` or :func:`circuits.find_boundary`), and every CSV row that comes from
an evaluation carries the spec's columns, so ``cis evaluate`` with them as flags reproduces it
(see ``figures/README.md``).

Example:
    >>> from figures import FIGURES, figure_names
    >>> figure_names()[:5]
    ['payload-scatter', 'rotation', 'step', 'payload-scatter-z', 'payload-error']
"""

from ._runner import FIGURES, Context, figure_modules, figure_name, figure_names, list_figures, render, select_figures

__all__ = ["FIGURES", "Context", "figure_modules", "figure_name", "figure_names", "list_figures", "render",
           "select_figures"]
