"""How many circuits each assignment method fits, against the slots per neuron group, beside the packing bound.

The slots per neuron group are N = D/d; the packing bound is N (N-1) / (S (S-1)).

Top row: capacity (log-log), one panel per redundancy S. Bottom row: capacity as a fraction
of the packing bound, with the 75% target. The ``random`` method has no capacity limit short
of C(N, S) (it gives up the at-most-one-shared guarantee), so it is not drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from circuits import ASSIGNMENTS, capacity
from theory import packing_bound

from ._style import new_figure, save

#: The published study has no such figure.
STUDY_FIGURE = None
#: Redundancies shown, one panel each.
REDUNDANCIES = (3, 6, 10)
#: Range of N = D/d (slots per neuron group).
N_RANGE = (50, 25_000)
#: Assignment methods drawn (every method with the guarantee), and the bound's label.
METHODS = tuple(m for m in ASSIGNMENTS if m != "random")
BOUND = "packing bound"
#: The share of the packing bound the finite-field method aims at.
TARGET = 0.75


def capacity_frame(n_points: int = 160, redundancies=REDUNDANCIES, n_range=N_RANGE) -> pd.DataFrame:
    """Tidy ``n_slots, redundancy, assignment, capacity, packing_bound, fraction_of_bound``.

    ``n_points`` values of N on a log grid over ``n_range`` (rounded, duplicates dropped);
    one row per (N, S, assignment method of :data:`METHODS`).

    Example:
        >>> f = capacity_frame(n_points=3, redundancies=(6,), n_range=(250, 1000))
        >>> f[f.assignment == "finite-field"][["n_slots", "capacity", "packing_bound"]].values.tolist()
        [[250, 1969, 2075], [500, 8017, 8316], [1000, 32949, 33300]]
    """
    grid = np.unique(np.round(np.geomspace(n_range[0], n_range[1], n_points)).astype(int))
    rows = []
    for S in redundancies:
        for n in grid.tolist():
            bound = packing_bound(n, S)
            for method in METHODS:
                cap = capacity(n, S, method)
                rows.append({"n_slots": n, "redundancy": S, "assignment": method, "capacity": cap,
                             "packing_bound": bound, "fraction_of_bound": cap / bound})
    return pd.DataFrame(rows)


def make(ctx):
    frame = capacity_frame(n_points=40 if ctx.quick else 160)
    fig, axes = new_figure(2, len(REDUNDANCIES), panel=(3.6, 3.1), sharex=True)
    palette = dict(zip(METHODS, sns.color_palette("deep", len(METHODS))))
    for col, S in enumerate(REDUNDANCIES):
        part = frame[frame.redundancy == S]
        top, bottom = axes[0, col], axes[1, col]
        sns.lineplot(data=part, x="n_slots", y="capacity", hue="assignment", palette=palette, ax=top, legend=False)
        bound = part.drop_duplicates("n_slots")
        top.plot(bound.n_slots, bound.packing_bound, color="black", ls=(0, (3, 2)), lw=1.2)
        top.set(xscale="log", yscale="log", title=f"S = {S}", xlabel="",
                ylabel="capacity (circuits)" if col == 0 else "")
        sns.lineplot(data=part, x="n_slots", y="fraction_of_bound", hue="assignment", palette=palette, ax=bottom,
                     legend=False)
        bottom.axhline(TARGET, color="0.5", lw=0.8, ls=":")
        bottom.set(xscale="log", ylim=(0, 1.02), xlabel="N = D/d (slots per neuron group)",
                   ylabel="capacity / packing bound" if col == 0 else "")
        worst = part[(part.assignment == "finite-field") & (part.n_slots >= 100)]
        low = worst.loc[worst.fraction_of_bound.idxmin()]
        bottom.annotate(f"finite-field lowest on this grid (N >= 100):\n"
                        f"{low.fraction_of_bound:.1%} at N = {low.n_slots}",
                        xy=(0.97, 0.05), xycoords="axes fraction", ha="right", va="bottom", fontsize=7)
    handles = [Line2D([], [], color=palette[m], label=m) for m in METHODS]
    handles += [Line2D([], [], color="black", ls=(0, (3, 2)), label=BOUND),
                Line2D([], [], color="0.5", ls=":", label=f"{TARGET:.0%} of the bound")]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    fig.suptitle("Assignment capacity: sets of S slots that pairwise share at most one slot\n"
                 "packing bound N(N-1)/(S(S-1)); random S-subsets (no guarantee) are not limited and not drawn")
    return save(fig, frame, ctx.out_dir, __name__)
