"""The critical load against the width D, log-log, one line per construction.

One line per construction (median over seeds, the order-statistic interval as a band, each seed's
crossing as a dot), the fitted exponent in its legend entry, theory's prediction dashed in the same
colour, and the study's working load 0.004 as a grey line. A fixed load would be a flat line. Two
black curves show the shapes the literature gives, scaled to pass through the D = 2000 point
(:func:`limit_anchor`): ``1 / log D`` (n neurons compute at most about n^2 / log n features in
superposition) and ``1 / log^2 D`` (what thresholded recovery at every layer reaches). A construction
whose line stays flat (or is censored at the assignment's capacity) is not limited by interference at
these widths.
:func:`draw` is also what ``cis scaling`` calls for its own figure.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import NullFormatter

from circuits.base import write_file
from circuits.experiments import STUDY_LOAD, ExperimentSpec, scaling

from ._style import figure_path, integer_columns, new_figure, save_png

#: The published study has no such figure.
STUDY_FIGURE = None

#: The full study: widths, constructions (the baseline, the earlier and today's ``scalable`` presets, z = 1 and 2), seeds, search.
FULL = {"widths": (1000, 2000, 4000, 8000, 16000, 32000, 64000), "n_active": (1, 2), "presets": (None, "scalable-1", "scalable"),
        "n_seeds": 2, "batch_size": 200, "rtol": 0.05, "criterion": "payload"}
#: Quick mode (seconds): three small widths, z = 1, both constructions, one seed, a coarse search.
QUICK = {"widths": (1000, 2000, 4000), "n_active": (1,), "presets": (None, "scalable"), "n_seeds": 1,
         "batch_size": 50, "rtol": 0.3, "criterion": "payload"}


#: The width through which the limit shapes are drawn.
ANCHOR_WIDTH = 2000


def limit_anchor(table: pd.DataFrame) -> tuple[float, float] | None:
    """``(width, load)`` the limit shapes pass through: the largest measured (not censored) critical load at
    :data:`ANCHOR_WIDTH` (at the smallest width when the study has no D = 2000), or, where every construction is
    censored there, the largest lower bound; ``None`` for an empty table.

    Example:
        >>> t = pd.DataFrame({"width": [2000, 2000, 4000], "critical_load": [0.01, 0.004, 0.002],
        ...                   "capacity_reached": [False, False, False]})
        >>> limit_anchor(t)
        (2000, 0.01)
    """
    if not len(table):
        return None
    width = ANCHOR_WIDTH if (table.width == ANCHOR_WIDTH).any() else int(table.width.min())
    at = table[table.width == width]
    measured = at[~at.capacity_reached.astype(bool)]
    return width, float((measured if len(measured) else at).critical_load.max())


def limit_shapes(widths, anchor: tuple[float, float]) -> dict[str, np.ndarray]:
    """The loads ``c / log D`` and ``c / log^2 D`` at ``widths``, each scaled through ``anchor = (D0, load0)``.

    Example:
        >>> shapes = limit_shapes([2000, 64000], (2000, 0.01))
        >>> [round(float(v), 5) for v in shapes["1/log D"]], [round(float(v), 5) for v in shapes["1/log² D"]]
        ([0.01, 0.00687], [0.01, 0.00472])
    """
    w = np.log(np.asarray(widths, dtype=float))
    w0, load0 = math.log(anchor[0]), anchor[1]
    return {"1/log D": load0 * w0 / w, "1/log² D": load0 * (w0 / w) ** 2}


def draw(table: pd.DataFrame, fits: pd.DataFrame, path) -> Path:
    """Draw the scaling figure of a :func:`circuits.experiments.scaling` result into ``path`` (PNG)."""
    fig, axes = new_figure(1, 1, panel=(8.4, 4.6))  # the legend sits right of the axes
    ax = axes[0, 0]
    labels = list(dict.fromkeys(table.construction))
    palette = dict(zip(labels, sns.color_palette("colorblind", len(labels))))
    fit_of = {f["construction"]: f for f in fits.to_dict("records")}
    for label in labels:
        grp = table[table.construction == label].sort_values("width")
        colour = palette[label]
        f = fit_of.get(label, {})
        exponent = f.get("exponent", math.nan)
        se = f.get("exponent_se", math.nan)
        name = label if not math.isfinite(exponent) else (
            f"{label}: D^{exponent:.2f}" + (f" ± {se:.2f}" if math.isfinite(se) else ""))
        high = np.where(np.isfinite(grp.high), grp.high, grp.critical_load)
        ax.fill_between(grp.width, grp.low, high, color=colour, alpha=0.18, linewidth=0)
        ax.plot(grp.width, grp.critical_load, "o-", color=colour, label=name, ms=4)
        for w, loads in zip(grp.width, grp.seed_loads):
            seeds = [v for v in json.loads(loads) if v is not None]
            ax.plot([w] * len(seeds), seeds, ".", color=colour, alpha=0.5, ms=3)
        if np.isfinite(grp.predicted).any():
            ax.plot(grp.width, grp.predicted, "--", color=colour, lw=1.0, label=f"{label}: theory")
        censored = grp[grp.capacity_reached]
        ax.plot(censored.width, censored.critical_load, "^", mfc="white", color=colour, ms=6)
    ax.axhline(STUDY_LOAD, color="0.5", lw=1.0, ls=":", label=f"the study's working load {STUDY_LOAD}")
    widths = sorted(table.width.unique())
    anchor = limit_anchor(table)
    if anchor is not None:
        for (name, loads), style in zip(limit_shapes(widths, anchor).items(), (":", "-.")):
            what = "most features per neuron" if name == "1/log D" else "thresholded recovery"
            ax.plot(widths, loads, style, color="black", lw=1.0, label=f"{name} ({what}), through D = {anchor[0]:,}")
    ax.set(xscale="log", yscale="log", xlabel="network width D", ylabel="critical load T (d/D)$^2$")
    ax.set_xticks(widths, [f"{w:,}" for w in widths])
    ax.xaxis.set_minor_formatter(NullFormatter())
    criterion = table.criterion.iloc[0]
    first = table.iloc[0]
    S = f"S = {first.redundancy}, " if table.redundancy.nunique() == 1 else ""
    fig.suptitle(f"Where the construction stops working (criterion: {criterion}); "
                 f"{first.system}, {S}L = {first.n_layers}, B = {first.batch_size}\n"
                 "band: interval over seeds; dots: each seed; open triangle: no crossing (lower bound)",
                 fontsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_png(fig, Path(path))


def make(ctx):
    setting = QUICK if ctx.quick else FULL
    specs = [ExperimentSpec(width=setting["widths"][0], n_circuits=64, n_layers=4, n_active=z, preset=preset,
                            batch_size=setting["batch_size"], seed=ctx.seed)
             for preset in setting["presets"] for z in setting["n_active"]]
    folder = Path(ctx.out_dir) / "sweeps" / f"scaling{'-quick' if ctx.quick else ''}-seed{ctx.seed}"
    result = scaling(specs, setting["widths"], folder,
                     criterion=setting["criterion"], n_seeds=setting["n_seeds"], rtol=setting["rtol"],
                     progress=not ctx.quick)
    png = draw(result.table, result.fits, figure_path(ctx.out_dir, __name__, ".png"))
    return [png, save_table(result.table, ctx.out_dir)]


def save_table(table: pd.DataFrame, out_dir) -> Path:
    """The figure's data as CSV (the study's table, integer columns as integers), beside its PNG."""
    return write_file(figure_path(out_dir, __name__, ".csv"), lambda p: integer_columns(table).to_csv(p, index=False))
