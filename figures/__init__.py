"""The figures of the "Rotations in Superposition" study, regenerated from the public API.

Each figure is a module ``figures/fig_<something>.py`` that defines ``NAME`` (what
``cis figures --only`` selects it by) and ``make(ctx) -> list[pathlib.Path]`` (the files it
wrote: a PNG and, beside it, the tidy data behind it as CSV). ``ctx`` is a :class:`Context`:
``out_dir``, ``quick``, ``seed`` and ``cache``, a dict shared by all figures of one run so that
common measurements (the study's network, the load sweep) are computed once.
:data:`FIGURES` lists the modules in order; :func:`render` runs them.

Example:
    >>> from figures import FIGURES, figure_names
    >>> figure_names()[:3]
    ['1', '2', '3']
"""

from ._runner import Context, figure_modules, figure_names, render

#: The figure modules, in the order ``cis figures`` makes them.
FIGURES = [
    "fig_payload_scatter",
    "fig_rotation",
    "fig_step",
    "fig_payload_scatter_z",
    "fig_payload_error",
    "fig_on_error",
    "fig_fraction_on",
    "fig_load_active_payload",
    "fig_load_inactive_payload",
    "fig_load_active_on",
    "fig_load_inactive_on",
    "fig_seizure",
    "fig_capacity",
    "fig_boundary",
    "fig_error_correction",
    "fig_chains",
]

__all__ = ["FIGURES", "Context", "figure_modules", "figure_names", "render"]
