"""Run the figure modules: select them by name, make them in order, report what was written."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from circuits import CircuitsError

#: The figure modules, in the order ``cis figures`` makes them. A figure's name is its module's
#: (:func:`figure_name`): ``fig_payload_error`` is ``payload-error``, written as ``payload-error.png``
#: and ``payload-error.csv``. Each module has ``STUDY_FIGURE``, the number of the published study's
#: figure it regenerates (``None`` for the figures the study does not have).
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
    "fig_scaling",
    "fig_error_correction",
    "fig_chains",
]


@dataclass(frozen=True)
class Context:
    """What every figure's ``make(ctx)`` gets.

    Attributes:
        out_dir: where the PNG and CSV files go (created by :func:`render`).
        quick: small batches (seconds, not minutes): the same figures, noisier numbers.
        seed: the one seed every random choice of the run is derived from.
        cache: shared by all figures of one run (e.g. the study's evaluations, the load sweep).
            Sweeps also keep their finished runs on disk, under ``out_dir / "sweeps"``, so a
            rerun into the same folder resumes instead of starting again.
    """

    out_dir: Path
    quick: bool = False
    seed: int = 0
    cache: dict = field(default_factory=dict, repr=False)


def figure_name(module) -> str:
    """A figure's one name, from its module: the module's stem without ``fig_``, ``_`` written ``-``.

    The name is what ``cis figures --only`` selects, the key of :func:`render`'s result and the stem of the
    figure's files (``payload-error.png``, ``payload-error.csv``).

    Args:
        module: the figure's module or its name (``__name__``, dotted or not).

    Example:
        >>> figure_name("figures.fig_payload_error"), figure_name("fig_seizure")
        ('payload-error', 'seizure')
    """
    dotted = module if isinstance(module, str) else module.__name__
    stem = dotted.rpartition(".")[2]
    if not stem.startswith("fig_") or len(stem) == len("fig_"):
        raise CircuitsError(f"module must be a figure module named fig_<something>, got {dotted!r}",
                            parameter="module")
    return stem[len("fig_"):].replace("_", "-")


def figure_modules() -> list:
    """The modules listed in :data:`FIGURES`, imported, in order."""
    return [importlib.import_module(f".{name}", __package__) for name in FIGURES]


def figure_names() -> list[str]:
    """The name of every figure, in order (what ``--only`` accepts; :func:`figure_name`)."""
    return [figure_name(module) for module in FIGURES]


def describe(module) -> str:
    """The one-line description of a figure module: the first line of its docstring (``""`` without one)."""
    doc = (module.__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


def list_figures() -> list[dict]:
    """Every figure, in order: its ``name``, ``study_figure`` (the number of the figure in the published
    study that it regenerates; ``None`` for figures the study does not have) and ``description``.

    Example:
        >>> list_figures()[4]["name"], list_figures()[4]["study_figure"]
        ('payload-error', 5)
    """
    return [{"name": figure_name(mod), "study_figure": mod.STUDY_FIGURE, "description": describe(mod)}
            for mod in figure_modules()]


def select_figures(only=None) -> list[str]:
    """The names of the figures ``only`` selects, in the order of :data:`FIGURES`, checked before any work.

    Args:
        only: figure names (e.g. ``["payload-error", "seizure"]``); ``None`` for all.

    Raises:
        circuits.CircuitsError: (parameter ``only``) a name that no figure has, with the known names; the number
            of a study figure, with the name that figure has.

    Example:
        >>> select_figures(["seizure", "payload-error"])
        ['payload-error', 'seizure']
        >>> select_figures(["5"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        circuits.CircuitsError: only selects figures by name, ...: figure 5 of the study is 'payload-error'
    """
    known = figure_names()
    if only is None:
        return known
    if isinstance(only, str):
        only = [only]
    only = [str(name).strip() for name in only]
    if not only:
        raise CircuitsError(f"only must name at least one figure among {', '.join(known)}", parameter="only")
    unknown = [name for name in only if name not in known]
    if any(name.isdigit() for name in unknown):  # a study's figure number, perhaps: say which name it has now
        named = {str(mod.STUDY_FIGURE): figure_name(mod) for mod in figure_modules() if mod.STUDY_FIGURE is not None}
        hints = [f"figure {name} of the study is {named[name]!r}" for name in unknown if name in named]
        if hints:
            raise CircuitsError(f"only selects figures by name, not by the study's number: {'; '.join(hints)}",
                                parameter="only")
    if unknown:
        raise CircuitsError(f"only must name figures among {', '.join(known)}; got {unknown[0]!r}", parameter="only")
    return [name for name in known if name in only]


def render(out_dir, *, only=None, quick: bool = False, seed: int = 0,
           log: Callable[[str], None] | None = print) -> dict[str, list[Path]]:
    """Make the figures and return the files written, per figure name (:func:`figure_name`).

    Args:
        out_dir: output directory (created if missing).
        only: figure names to make (e.g. ``["payload-error", "seizure"]``); ``None`` for all. Unknown names
            and study numbers raise :class:`circuits.CircuitsError` before any work (:func:`select_figures`).
        quick: small batches, for CI.
        seed: root seed of every random choice (same seed, same pictures).
        log: called with one line per file written and per figure's time; ``None`` for silence.
    """
    names = select_figures(only)
    modules = [mod for mod in figure_modules() if figure_name(mod) in names]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise CircuitsError(f"seed must be an integer >= 0, got {seed!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(out_dir=out_dir, quick=bool(quick), seed=seed)
    written = {}
    start = time.perf_counter()
    for mod in modules:
        t0 = time.perf_counter()
        paths = [Path(p) for p in mod.make(ctx)]
        name = figure_name(mod)
        written[name] = paths
        if log is not None:
            for path in paths:
                log(f"  {path}")
            log(f"figure {name}: {time.perf_counter() - t0:.1f} s")
    if log is not None:
        log(f"{len(modules)} figures in {time.perf_counter() - start:.1f} s")
    return written
