"""Figure "boundary" (not in the study): the regime boundary, the critical load T (d/D)^2 at
which 1% of forward passes fail (some on-indicator read off by more than 0.25), against the
width D, one line per z. If the boundary were a fixed load, as the MSE analysis suggests, the
lines would be flat.

Left: the critical load (median over seeds, the order-statistic interval as a band, each seed's
crossing as a dot), with the load d/(S D) below which no two circuits share a neuron (dashed)
and the assignment's capacity (dotted). Right: the same crossing as T S d / D, the critical
number of circuits over the largest number that fit without sharing.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import NullFormatter, ScalarFormatter

from circuits import SEIZURE_THRESHOLD, find_boundary

from ._style import Z_PALETTE, new_figure, params, save

NAME = "boundary"

#: The full computation: the widths, z values, and the search at each.
FULL = {"widths": (1000, 2000, 4000, 8000), "active": (1, 2, 3, 4), "layers": 4, "redundancy": 6,
        "batch": 1000, "seeds": 6, "rtol": 0.02}
#: Quick mode (seconds): two widths, two z, small batches, coarse bisection.
QUICK = {"widths": (1000, 2000), "active": (1, 2), "layers": 4, "redundancy": 6,
         "batch": 100, "seeds": 2, "rtol": 0.1}


def boundary_frame(setting: dict, seed: int, progress: bool = False) -> pd.DataFrame:
    """One row per (width, n_active, seed): that seed's crossing and the (width, z) summary."""
    from tqdm.auto import tqdm

    rows = []
    combos = [(D, z) for D in setting["widths"] for z in setting["active"]]
    for D, z in tqdm(combos, desc="boundary", disable=not progress):
        b = find_boundary(D, z, setting["layers"], redundancy=setting["redundancy"], batch_size=setting["batch"],
                          n_seeds=setting["seeds"], seed=seed, rtol=setting["rtol"])
        d = b.config["circuit_width"]
        scale = (d / D) ** 2
        for i, c in enumerate(b.crossings):
            rows.append({"width": D, "n_active": z, "n_layers": setting["layers"],
                         "redundancy": setting["redundancy"], "batch_size": setting["batch"], "seed": i, "seed_critical_load": c.estimate * scale,
                         "seed_below": c.below, "seed_above": c.above, "critical_load": b.critical_load,
                         "low": b.interval[0], "high": b.interval[1], "coverage": b.coverage,
                         "critical_circuits": b.critical_circuits, "capacity": b.capacity,
                         "capacity_load": b.capacity_load, "capacity_reached": b.capacity_reached,
                         "disjoint_load": (D // d // setting["redundancy"]) * scale})
    return pd.DataFrame(rows)


def make(ctx):
    setting = QUICK if ctx.quick else FULL
    key = ("boundary", ctx.quick, ctx.seed)
    if key not in ctx.cache:
        ctx.cache[key] = boundary_frame(setting, ctx.seed, progress=not ctx.quick)
    frame = ctx.cache[key]
    summary = frame.drop_duplicates(["width", "n_active"])
    S = setting["redundancy"]
    fig, axes = new_figure(1, 2, panel=(4.6, 3.8))
    ax, ax_ratio = axes.flat
    palette = {z: Z_PALETTE[z] for z in setting["active"]}
    for z, grp in summary.groupby("n_active"):
        ax.fill_between(grp.width, grp.low, np.minimum(grp.high, grp.capacity_load), color=palette[z], alpha=0.2,
                        linewidth=0)
    sns.lineplot(summary, x="width", y="critical_load", hue="n_active", palette=palette, marker="o", ax=ax)
    sns.stripplot(frame, x="width", y="seed_critical_load", hue="n_active", palette=palette, native_scale=True,
                  size=3, alpha=0.5, legend=False, jitter=False, ax=ax)
    widths = np.array(sorted(summary.width.unique()))
    ax.plot(widths, [summary[summary.width == D].disjoint_load.iloc[0] for D in widths], "--", color="grey",
            label="no sharing below: d/(S D)")
    ax.plot(widths, [summary[summary.width == D].capacity_load.iloc[0] for D in widths], ":", color="grey",
            label="capacity")
    first = summary[summary.width == widths[0]].critical_load.max()
    ax.plot(widths, first * np.sqrt(widths[0] / widths), "-.", color="silver", label="guide: $\\propto D^{-1/2}$")
    ax.set(xscale="log", yscale="log", xlabel="D (width)", ylabel="critical load T (d/D)$^2$",
           title="1% of forward passes fail")
    ax.set_xticks(widths, [str(D) for D in widths])
    ax.legend(title="z", fontsize=7, title_fontsize=7, loc="upper right", bbox_to_anchor=(1.0, 0.93), ncol=2)
    ratio = summary.assign(ratio=summary.critical_load / summary.disjoint_load)
    sns.lineplot(ratio, x="width", y="ratio", hue="n_active", palette=palette, marker="o", ax=ax_ratio, legend=False)
    ax_ratio.axhline(1.0, ls="--", color="grey")
    ax_ratio.set(xscale="log", yscale="log", xlabel="D (width)", ylabel="critical T / (D / (d S))",
                 title="over the most circuits that share no neuron")
    ax_ratio.set_xticks(widths, [str(D) for D in widths])
    ax_ratio.yaxis.set_major_formatter(ScalarFormatter())
    ax_ratio.yaxis.set_minor_formatter(ScalarFormatter())
    for a in (ax, ax_ratio):
        a.xaxis.set_minor_formatter(NullFormatter())
    censored = " (dots at capacity: no crossing)" if summary.capacity_reached.any() else ""
    fig.suptitle(f"Regime boundary: a forward pass fails if some on-indicator is off by > {SEIZURE_THRESHOLD} "
                 f"at a layer 1..L; rotation circuits, {params(S=S, L=setting['layers'], B=setting['batch'])}, "
                 f"{setting['seeds']} seeds, band: {100 * summary.coverage.min():.0f}% interval{censored}",
                 fontsize=8)
    frame = frame.replace([math.inf], np.nan)
    return save(fig, frame, ctx.out_dir, "fig_boundary")
