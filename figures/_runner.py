"""Run the figure modules: select them by name, make them in order, report what was written."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from circuits import CircuitsError

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


def figure_modules() -> list:
    """The modules listed in :data:`FIGURES`, imported, in order."""
    return [importlib.import_module(f".{name}", __package__) for name in FIGURES]


def figure_names() -> list[str]:
    """The ``NAME`` of every figure, in order (what ``--only`` accepts)."""
    return [mod.NAME for mod in figure_modules()]


def render(out_dir, *, only=None, quick: bool = False, seed: int = 0,
           log: Callable[[str], None] | None = print) -> dict[str, list[Path]]:
    """Make the figures and return the files written, per figure ``NAME``.

    Args:
        out_dir: output directory (created if missing).
        only: figure names to make (e.g. ``["5", "8"]``); ``None`` for all. Unknown names
            raise :class:`circuits.CircuitsError` before any work.
        quick: small batches, for CI.
        seed: root seed of every random choice (same seed, same pictures).
        log: called with one line per file written and per figure's time; ``None`` for silence.
    """
    modules = figure_modules()
    known = [mod.NAME for mod in modules]
    if only is not None:
        only = [str(name).strip() for name in only]
        unknown = [name for name in only if name not in known]
        if unknown or not only:
            raise CircuitsError(f"only must name figures among {known}, got {unknown or only}")
        modules = [mod for mod in modules if mod.NAME in only]
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
        written[mod.NAME] = paths
        if log is not None:
            for path in paths:
                log(f"  {path}")
            log(f"figure {mod.NAME}: {time.perf_counter() - t0:.1f} s")
    if log is not None:
        log(f"{len(modules)} figures in {time.perf_counter() - start:.1f} s")
    return written
