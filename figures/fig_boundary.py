"""The regime boundary: the critical load against the width D, one panel per failure criterion, a line per z.

The critical load is T (d/D)^2 at the crossing; theory is dashed.

Panels: ``payload`` (active payload MSE at the last layer above 2x theory: the default),
``compounding`` (spurious on-indicator mass more than doubles from layer 2 to the last layer) and
``worst-readout`` (1% of passes read some on-indicator off by more than 0.25, the old criterion,
kept for comparison: for z >= 2 it lies on the load d/(S D) below which no two circuits share a
neuron, drawn dashed grey, because an inactive circuit that shares one neuron with each of two
active ones reads 2/S). Each line is the median over seeds, the band its order-statistic interval,
the dots each seed's crossing; theory's prediction (:meth:`circuits.ExperimentSpec.predicted_critical_load`) is
dashed in the line's colour where a constant was fitted. A fixed working load would be flat.

Each (criterion, D, z) is one :func:`circuits.find_boundary` of the spec in the CSV's columns (all
spec fields but ``n_circuits``, which is searched) with the search's parameters beside them
(``criterion``, ``level``, ``on_error``, ``n_seeds``, ``rtol``, ``confidence``): ``cis boundary`` with
those columns as flags reproduces a row's ``critical_load``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from circuits import ExperimentSpec

from ._data import boundary, boundary_rows
from ._style import Z_PALETTE, new_figure, params, save, seeds_phrase

#: The published study has no such figure.
STUDY_FIGURE = None

#: The criteria shown, one panel each.
CRITERIA = ("payload", "compounding", "worst-readout")
#: The full computation: the widths, z values, and the search at each.
FULL = {"widths": (1000, 2000, 4000, 8000), "active": (1, 2, 3), "layers": 4, "redundancy": 6,
        "batch": 500, "seeds": 3, "rtol": 0.05}
#: Quick mode (seconds): two widths, two z, small batches, coarse bisection.
QUICK = {"widths": (1000, 2000), "active": (1, 2), "layers": 4, "redundancy": 6,
         "batch": 100, "seeds": 1, "rtol": 0.2}


def boundary_spec(setting: dict, width: int, n_active: int, seed: int) -> ExperimentSpec:
    """The spec searched at (D, z) (its ``n_circuits`` is ignored by the search)."""
    return ExperimentSpec(system="rotation", width=width, n_circuits=n_active, redundancy=setting["redundancy"],
                          n_layers=setting["layers"], n_active=n_active,
                          batch_size=setting["batch"], seed=seed)


def boundary_frame(ctx, setting: dict) -> pd.DataFrame:
    """One row per (criterion, width, n_active, seed of the search): see :func:`figures._data.boundary_rows`,
    plus ``disjoint_load`` (the load d/(S D) up to which no two circuits share a neuron) and ``predicted``
    (theory's critical load, NaN where no constant was fitted)."""
    rows = []
    for criterion in CRITERIA:
        for D in setting["widths"]:
            for z in setting["active"]:
                spec = boundary_spec(setting, D, z, ctx.seed)
                found = boundary(ctx, spec, criterion=criterion, n_seeds=setting["seeds"], rtol=setting["rtol"])
                d = spec.base_width
                rows += boundary_rows(found, spec, disjoint_load=(D // d // setting["redundancy"]) * (d / D) ** 2,
                                      predicted=spec.predicted_critical_load(criterion))
    return pd.DataFrame(rows)


def make(ctx):
    setting = QUICK if ctx.quick else FULL
    frame = boundary_frame(ctx, setting)
    fig, axes = new_figure(1, len(CRITERIA), panel=(3.9, 3.6), sharey=True)
    palette = {z: Z_PALETTE[z] for z in setting["active"]}
    widths = np.array(sorted(frame.width.unique()))
    for ax, criterion in zip(axes[0], CRITERIA):
        part = frame[frame.criterion == criterion]
        summary = part.drop_duplicates(["width", "n_active"])
        for z, grp in summary.groupby("n_active"):
            grp = grp.sort_values("width")
            high = np.minimum(grp.interval_high.fillna(np.inf), grp.capacity_load)
            ax.fill_between(grp.width, grp.interval_low, high, color=palette[z], alpha=0.2, linewidth=0)
            ax.plot(grp.width, grp.critical_load, "o-", color=palette[z], ms=4)
            if np.isfinite(grp.predicted).any():
                ax.plot(grp.width, grp.predicted, "--", color=palette[z], lw=1.0)
            dots = part[part.n_active == z]
            ax.plot(dots.width, dots.crossing_load.fillna(dots.capacity_load), ".", color=palette[z], alpha=0.5,
                    ms=3)
        per_width = summary.drop_duplicates("width").set_index("width").loc[widths]
        ax.plot(widths, per_width.disjoint_load, "--", color="0.55", lw=0.9)
        ax.set(xscale="log", yscale="log", xlabel="D (width)", title=criterion)
        ax.set_xticks(widths, [str(D) for D in widths])
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0, 0].set_ylabel("critical load T (d/D)$^2$")
    handles = [Line2D([], [], color=c, marker="o", label=f"z = {z}") for z, c in palette.items()]
    handles += [Line2D([], [], ls="--", color="0.2", lw=1.0, label="theory (where fitted)"),
                Line2D([], [], ls="--", color="0.55", lw=0.9, label="d/(S D): no shared neuron below")]
    fig.legend(handles=handles, loc="outside right center")
    S = setting["redundancy"]
    fig.suptitle(f"Regime boundary by failure criterion: rotation circuits, {params(S=S, L=setting['layers'])}, "
                 f"capped, {setting['batch']} samples per point\nline and band: "
                 f"{seeds_phrase(setting['seeds'], frame.coverage.min())}; dots: each seed's crossing. payload: "
                 "active payload MSE > 2x theory; compounding: spurious mass x2 from layer 2;\nworst-readout: 1% of "
                 f"passes read an on-indicator off by > 0.25 (for z >= 2 pinned at the first shared neuron: 2/S = "
                 f"{2 / S:.2f})", fontsize="medium")
    return save(fig, frame, ctx.out_dir, __name__)
