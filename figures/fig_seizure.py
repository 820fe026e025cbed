"""The first layer where an on-indicator is read off by more than 0.25, one heatmap per z.

Over the (D, T) grid of the load sweep (the networks of load-active-payload and its three siblings).

Top row: any circuit, active or inactive (``Evaluation.seizure_layer``, the criterion of
:func:`circuits.failure_rate`). For z >= 2 it reads "1" on every network, and it would read "2"
if layer 1 were skipped: an inactive circuit that shares one neuron with each of two active
circuits reads 2/S = 0.33 > 0.25 at *every* layer (each layer has its own assignment, so such
a circuit exists at every layer in almost every batch). That is the assignment's overlap, not
errors compounding, so the row is kept with a title that says so. Bottom row: the active
circuits alone, whose on-indicator the step function restores until errors compound: the row
that shows where the construction breaks down.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from circuits import ON_ERROR
from circuits.experiments import LOAD_SWEEP, load_sweep_networks

from ._data import load_sweep, run_table
from ._style import new_figure, params, save

#: The published study has no such figure.
STUDY_FIGURE = None
#: Heatmap rows: the column of the seizure frame and what it counts.
ROWS = {"seizure_layer": "any circuit", "active_seizure_layer": "active circuits"}


def first_layer_over(table: pd.DataFrame, states, first: int = 1) -> pd.Series:
    """Per run of a sweep table: the first layer >= ``first`` whose worst on-indicator error over
    the circuits of ``states`` exceeds :data:`circuits.ON_ERROR` (NaN: none).

    Example:
        >>> t = pd.DataFrame({"run": [0, 0, 0, 0], "layer": [1, 1, 2, 2], "quantity": "on", "stat": "worst",
        ...                   "circuit_state": ["active", "inactive"] * 2, "measured": [0.1, 0.3, 0.1, 0.2]})
        >>> first_layer_over(t, ("active", "inactive")).tolist(), first_layer_over(t, ("inactive",), 2).tolist()
        ([1.0], [nan])
    """
    rows = table[(table.quantity == "on") & (table.stat == "worst") & table.circuit_state.isin(states)
                 & (table.layer >= first)]
    over = rows[rows.measured > ON_ERROR].groupby("run").layer.min()
    return over.reindex(sorted(table.run.unique())).astype("float64")


def seizure_frame(ctx) -> pd.DataFrame:
    """One row per run of the load sweep: the spec's columns, ``load``, ``shares_neurons``,
    ``failure_rate``, ``seizure_layer`` (the library's: layers 1..L, any circuit) and
    ``active_seizure_layer`` (layers 1..L, active circuits only); NaN where no layer exceeds 0.25."""
    table = load_sweep(ctx)
    frame = run_table(table, ["shares_neurons", "failure_rate", "seizure_layer"])
    frame["seizure_layer"] = frame.seizure_layer.astype("float64")
    frame["active_seizure_layer"] = first_layer_over(table, ("active",)).to_numpy()
    return frame


def make(ctx):
    frame = seizure_frame(ctx)
    L = LOAD_SWEEP["n_layers"]
    zs = LOAD_SWEEP["n_active"]
    fig, axes = new_figure(len(ROWS), len(zs), panel=(4.3, 3.4), sharex=True, sharey=True)
    cmap = sns.color_palette("rocket", L + 1)  # layers 1..L dark to light, "none" lightest
    for row, (column, who) in zip(axes, ROWS.items()):
        for ax, z in zip(row, zs):
            part = frame[frame.n_active == z].assign(shown=lambda f: f[column].fillna(L + 1))
            table = part.pivot(index="width", columns="n_circuits", values="shown").sort_index(ascending=False)
            labels = table.map(lambda v: "" if np.isnan(v) else ("none" if v > L else str(int(v))))
            sns.heatmap(table, ax=ax, cmap=cmap, vmin=0.5, vmax=L + 1.5, annot=labels, fmt="", cbar=False,
                        linewidths=0.5, linecolor="white", annot_kws={"fontsize": 6})
            ax.grid(False)
            pinned = " (1: overlap 2/S)" if column == "seizure_layer" and z >= 2 else ""
            ax.set(title=f"z = {z}: {who}{pinned}", xlabel="T (circuits)" if column == list(ROWS)[-1] else "",
                   ylabel="D (width)" if z == zs[0] else "")
            ax.tick_params(axis="x", labelsize=7, rotation=90)
            ax.tick_params(axis="y", rotation=0)
    batch = int(frame.batch_size.iloc[0])
    S = LOAD_SWEEP["redundancy"]
    fig.suptitle(f"First layer whose worst on-indicator error exceeds {ON_ERROR} "
                 f"('none': none up to L = {L}; blank: not in the grid)\n"
                 f"top, any circuit: for z >= 2 pinned at 1, since an inactive circuit sharing a neuron with two "
                 f"active ones reads 2/S = {2 / S:.2f} at every layer (overlap, not compounding)\n"
                 f"bottom, active circuits only: where errors compound\n"
                 f"rotation circuits, {params(S=S, L=L)}, capped, {len(load_sweep_networks(quick=ctx.quick))} "
                 f"networks, worst over {batch} samples per network and z")
    return save(fig, frame, ctx.out_dir, __name__)
