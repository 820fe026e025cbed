"""Figure "boundary" (not in the study): the regime boundary, the critical load T (d/D)^2 at
which 1% of forward passes fail (some on-indicator read off by more than 0.25), against the
width D, one line per z. If the boundary were a fixed load, as the MSE analysis suggests, the
lines would be flat.

Left: the critical load (median over seeds, the order-statistic interval as a band, each seed's
crossing as a dot), with the load d/(S D) below which no two circuits share a neuron (dashed),
the assignment's capacity (dotted) and a D^-1/2 guide. Right: the same crossing as T S d / D,
the critical number of circuits over the largest number that fit without sharing.

Each (D, z) is one :func:`circuits.find_boundary` of the spec in the CSV's columns (all spec
fields but ``n_circuits``, which is searched) with the search's parameters beside them
(``criterion`` = ``worst-readout``, ``level``, ``on_error``, ``n_seeds``, ``rtol``,
``confidence``): ``cis boundary`` with those columns as flags reproduces a row's ``critical_load``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter, ScalarFormatter

from circuits import SEIZURE_THRESHOLD, ExperimentSpec

from ._data import boundary, boundary_rows
from ._style import Z_PALETTE, new_figure, params, save, seeds_phrase

NAME = "boundary"

#: The boundary's criterion: a forward pass fails when some on-indicator is read off by more than 0.25.
CRITERION = "worst-readout"
#: The full computation: the widths, z values, and the search at each.
FULL = {"widths": (1000, 2000, 4000, 8000), "active": (1, 2, 3, 4), "layers": 4, "redundancy": 6,
        "batch": 1000, "seeds": 6, "rtol": 0.02}
#: Quick mode (seconds): two widths, two z, small batches, coarse bisection.
QUICK = {"widths": (1000, 2000), "active": (1, 2), "layers": 4, "redundancy": 6,
         "batch": 100, "seeds": 2, "rtol": 0.1}


def boundary_spec(setting: dict, width: int, n_active: int, seed: int) -> ExperimentSpec:
    """The spec searched at (D, z) (its ``n_circuits`` is ignored by the search)."""
    return ExperimentSpec(system="rotation", width=width, n_circuits=n_active, redundancy=setting["redundancy"],
                          n_layers=setting["layers"], n_active=n_active,
                          batch_size=setting["batch"], seed=seed)


def boundary_frame(ctx, setting: dict) -> pd.DataFrame:
    """One row per (width, n_active, seed of the search): see :func:`figures._data.boundary_rows`,
    plus ``disjoint_load``, the load d/(S D) up to which no two circuits share a neuron."""
    rows = []
    for D in setting["widths"]:
        for z in setting["active"]:
            spec = boundary_spec(setting, D, z, ctx.seed)
            found = boundary(ctx, spec, criterion=CRITERION, n_seeds=setting["seeds"], rtol=setting["rtol"])
            d = spec.base_width
            rows += boundary_rows(found, spec, disjoint_load=(D // d // setting["redundancy"]) * (d / D) ** 2)
    return pd.DataFrame(rows)


def make(ctx):
    setting = QUICK if ctx.quick else FULL
    frame = boundary_frame(ctx, setting)
    summary = frame.drop_duplicates(["width", "n_active"])
    fig, axes = new_figure(1, 2, panel=(4.6, 3.8))
    ax, ax_ratio = axes.flat
    palette = {z: Z_PALETTE[z] for z in setting["active"]}
    for z, grp in summary.groupby("n_active"):
        high = np.minimum(grp.interval_high.fillna(np.inf), grp.capacity_load)
        ax.fill_between(grp.width, grp.interval_low, high, color=palette[z], alpha=0.2, linewidth=0)
    sns.lineplot(summary, x="width", y="critical_load", hue="n_active", palette=palette, marker="o", ax=ax,
                 legend=False)
    seeds = frame.assign(shown=frame.crossing_load.fillna(frame.capacity_load))
    sns.stripplot(seeds, x="width", y="shown", hue="n_active", palette=palette, native_scale=True,
                  size=3, alpha=0.5, legend=False, jitter=False, ax=ax)
    widths = np.array(sorted(summary.width.unique()))
    per_width = summary.drop_duplicates("width").set_index("width").loc[widths]
    ax.plot(widths, per_width.disjoint_load, "--", color="grey")
    ax.plot(widths, per_width.capacity_load, ":", color="grey")
    first = summary[summary.width == widths[0]].critical_load.max()
    ax.plot(widths, first * np.sqrt(widths[0] / widths), "-.", color="silver")
    ax.set(xscale="log", yscale="log", xlabel="D (width)", ylabel="critical load T (d/D)$^2$",
           title="load at which 1% of forward passes fail")
    ratio = summary.assign(ratio=summary.critical_load / summary.disjoint_load)
    sns.lineplot(ratio, x="width", y="ratio", hue="n_active", palette=palette, marker="o", ax=ax_ratio, legend=False)
    ax_ratio.axhline(1.0, ls="--", color="grey")
    ax_ratio.set(xscale="log", yscale="log", xlabel="D (width)", ylabel="critical T / (D / (d S))",
                 title="over the most circuits that share no neuron")
    ax_ratio.yaxis.set_major_formatter(ScalarFormatter())
    ax_ratio.yaxis.set_minor_formatter(ScalarFormatter())
    for a in (ax, ax_ratio):
        a.set_xticks(widths, [str(D) for D in widths])
        a.xaxis.set_minor_formatter(NullFormatter())
    z_handles = [Line2D([], [], color=c, marker="o", label=f"z = {z}") for z, c in palette.items()]
    fig.legend(handles=z_handles, loc="outside right center", title="active\ncircuits")
    guides = [Line2D([], [], ls="--", color="grey", label="d/(S D): no two circuits share a neuron below"),
              Line2D([], [], ls=":", color="grey", label="assignment capacity"),
              Line2D([], [], ls="-.", color="silver", label="guide $\\propto D^{-1/2}$")]
    fig.legend(handles=guides, loc="outside lower center", ncols=3,
               title="reference lines (the dashed one is 1 on the right)")
    censored = "; a dot at capacity: no crossing up to capacity" if summary.capacity_reached.any() else ""
    S = setting["redundancy"]
    pinned = (f"\nz >= 2 lies on d/(S D): once neurons are shared, an inactive circuit can read 2/S = {2 / S:.2f}"
              if max(setting["active"]) >= 2 else "")
    fig.suptitle(f"Regime boundary: a forward pass fails if some on-indicator is off by > {SEIZURE_THRESHOLD} "
                 f"at a layer 1..L\nrotation circuits, {params(S=S, L=setting['layers'])}, "
                 f"capped, {setting['batch']} samples per point\nline and band: "
                 f"{seeds_phrase(setting['seeds'], summary.coverage.min())}; dots: each seed's crossing{censored}"
                 f"{pinned}",
                 fontsize="medium")
    return save(fig, frame, ctx.out_dir, "fig_boundary")
