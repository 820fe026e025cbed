"""One look for every figure: the seaborn theme, the colours, and how a figure is saved.

Every figure is drawn on a :class:`matplotlib.figure.Figure` made here (no pyplot, so no GUI
backend and no global figure state) and saved with :func:`save`, which writes the PNG and,
beside it, the tidy frame the figure was drawn from as CSV, both named after the figure and each
written atomically through the storage module (:func:`circuits.base.write_file`: a killed or
failed write leaves no partial file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from circuits.base import write_file
from circuits.experiments import FIELDS, spec_keys

from ._runner import figure_name

#: Colour of a true value (the small circuits' own run).
TRUTH = "#2ca02c"
#: Colour of the network's read-out, per number of active circuits z (``payload-scatter``, ``payload-scatter-z``).
ESTIMATE = {1: "#7b3fb5", 2: "#d62728", 3: "#ff7f0e", 4: "#8c564b"}
#: Line colours per z in the error and fraction-on figures (same hues as :data:`ESTIMATE`).
Z_PALETTE = ESTIMATE
#: Marker of a network whose circuits must share neurons (T d > D) and of one where they need not.
MARKERS = {True: "o", False: "^"}
#: An MSE below this is zero up to float32 round-off: log axes do not draw it as a value.
EXACT = 1e-10
#: Resolution of the PNGs.
DPI = 130


def apply_style() -> None:
    """Set the seaborn theme used by every figure (idempotent)."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1,
                  rc={"axes.titlesize": "medium", "figure.titlesize": "large", "legend.frameon": False})


def new_figure(nrows: int = 1, ncols: int = 1, *, panel: tuple[float, float] = (3.2, 3.0), **kwargs):
    """A figure with an ``nrows x ncols`` grid of axes, ``panel`` inches each.

    Returns:
        ``(fig, axes)`` with ``axes`` a 2-D array (``squeeze=False``).
    """
    apply_style()
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


#: Columns that hold integers (written without a decimal point, blank where missing): the spec's
#: integer fields, the system parameters, and the integer columns of tables and boundaries.
INTEGER_COLUMNS = ({k for k, info in FIELDS.items() if info.kind is int}
                   | {k for k in spec_keys() if k not in FIELDS}
                   | {"layer", "computation_layer", "depth", "circuit_width", "base_width", "network_layers",
                      "seizure_layer", "active_seizure_layer", "n_seeds", "crossing_seed", "crossing_below",
                      "crossing_above", "capacity"})


def integer_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its :data:`INTEGER_COLUMNS` as nullable integers (a blank, not ``1.0``, in a CSV).

    Example:
        >>> integer_columns(pd.DataFrame({"n_circuits": [60.0, None], "measured": [1.0, 2.0]})).to_csv(index=False)
        'n_circuits,measured\\n60,1.0\\n,2.0\\n'
    """
    frame = frame.copy()
    for col in INTEGER_COLUMNS & set(frame.columns):
        if frame[col].dtype.kind == "f" or frame[col].dtype == object:
            frame[col] = pd.array(frame[col], dtype="Float64").astype("Int64")
    return frame


def figure_path(out_dir, module: str, suffix: str) -> Path:
    """Where a figure's file goes: ``out_dir / (name + suffix)``, ``name`` the figure's (:func:`figures.figure_name`).

    Example:
        >>> figure_path("out", "figures.fig_payload_error", ".csv").as_posix()
        'out/payload-error.csv'
    """
    return Path(out_dir) / f"{figure_name(module)}{suffix}"


def save(fig: Figure, data: pd.DataFrame, out_dir: Path, module: str) -> list[Path]:
    """Write the figure's PNG and, beside it, its CSV (the tidy frame behind the figure, integer columns as
    integers: :func:`integer_columns`) into ``out_dir``, both named after the figure (:func:`figure_path`).

    The PNG carries no timestamp, so the same data give the same file. Both are written atomically
    (:func:`save_png`).

    Args:
        module: the figure module's ``__name__`` (its figure's name is made from it, in one place).

    Returns:
        the two paths, PNG first.
    """
    png, csv = figure_path(out_dir, module, ".png"), figure_path(out_dir, module, ".csv")
    save_png(fig, png)
    write_file(csv, lambda p: integer_columns(data).to_csv(p, index=False))
    return [png, csv]


def save_png(fig: Figure, path, dpi: int = DPI) -> Path:
    """Write ``fig`` as the PNG ``path``, atomically (:func:`circuits.base.write_file`: drawn into a sibling file
    and renamed into place, so a killed or failed write, a full disk say, leaves no partial or empty PNG), without
    a timestamp.

    Returns:
        ``path`` as a :class:`pathlib.Path`.
    """
    return write_file(path, lambda p: fig.savefig(p, format="png", dpi=dpi, metadata={"Software": None}))


def log_floor(values) -> float:
    """Where a log axis shows values that are zero up to round-off: a third of the least other."""
    values = np.asarray(values, dtype=float)
    positive = values[values > EXACT]
    return float(positive.min()) / 3 if len(positive) else EXACT


def mark_exact(ax, x, floor: float, colors, marker: str = "o") -> None:
    """Open markers at height ``floor`` for values that are zero up to round-off."""
    ax.scatter(x, np.full(len(x), floor), marker=marker, s=28, facecolors="none", edgecolors=colors, lw=0.8)


def dot_legend(fig, colors: dict[str, str]) -> None:
    """A legend under the figure with a dot per ``{label: colour}``."""
    handles = [Line2D([], [], ls="", marker="o", color=c, label=label) for label, c in colors.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))


def z_legend(fig, zs, theory_style: str, theory_label: str) -> None:
    """A legend under the figure: a line per z (colours of :data:`Z_PALETTE`) and the theory's style."""
    handles = [Line2D([], [], color=Z_PALETTE[z], marker="o", label=f"z = {z}") for z in zs]
    handles.append(Line2D([], [], color="0.3", ls=theory_style, label=theory_label))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))


def params(**values) -> str:
    """``"D = 1000, T = 557, S = 6"`` from ``D=1000, T=557, S=6`` (the symbols of docs/design.md)."""
    return ", ".join(f"{k} = {v}" for k, v in values.items())


def seeds_phrase(n_seeds: int, coverage: float) -> str:
    """How a boundary over ``n_seeds`` seeds is summarised, for a title.

    Example:
        >>> seeds_phrase(6, 0.96875), seeds_phrase(1, 0.0)
        ('median of 6 seeds with its 97% interval', 'one seed (no interval)')
    """
    if n_seeds == 1:
        return "one seed (no interval)"
    return f"median of {n_seeds} seeds with its {100 * coverage:.0f}% interval"
