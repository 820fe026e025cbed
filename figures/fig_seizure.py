"""Figure "seizure" (not in the study): the first layer where an on-indicator is read off by
more than 0.25, over the (D, T) grid of the load sweep, one heatmap per z."""

from __future__ import annotations

import numpy as np
import seaborn as sns

from circuits import SEIZURE_THRESHOLD

from ._data import SWEEP, load_sweep, sweep_batch, sweep_grid
from ._style import new_figure, params, save

NAME = "seizure"
#: Heatmap rows: the column of the seizure frame and what it counts.
ROWS = {"seizure_layer": "any circuit (active or inactive)", "active_seizure_layer": "active circuits only"}


def make(ctx):
    _, frame = load_sweep(ctx)
    L = SWEEP["n_layers"]
    zs = SWEEP["active"]
    fig, axes = new_figure(len(ROWS), len(zs), panel=(4.3, 3.4), sharex=True, sharey=True)
    cmap = sns.color_palette("rocket", L + 1)  # layers 1..L dark to light, "none" lightest
    for row, (column, who) in zip(axes, ROWS.items()):
        for ax, z in zip(row, zs):
            part = frame[frame.n_active == z].assign(shown=lambda f: f[column].fillna(L + 1))
            table = part.pivot(index="width", columns="n_circuits", values="shown").sort_index(ascending=False)
            labels = table.map(lambda v: "" if np.isnan(v) else ("none" if v > L else str(int(v))))
            sns.heatmap(table, ax=ax, cmap=cmap, vmin=0.5, vmax=L + 1.5, annot=labels, fmt="", cbar=False,
                        linewidths=0.5, linecolor="white", annot_kws={"fontsize": 6})
            ax.set(title=f"z = {z}: {who}", xlabel="T (circuits)" if column == list(ROWS)[-1] else "",
                   ylabel="D (width)" if z == zs[0] else "")
            ax.tick_params(axis="x", labelsize=7, rotation=90)
            ax.tick_params(axis="y", rotation=0)
    batch, grid = sweep_batch(ctx), sweep_grid(ctx)
    fig.suptitle(f"First seizure layer: first layer 1..{L} whose worst on-indicator error exceeds {SEIZURE_THRESHOLD} "
                 f"('none': not within L = {L}; blank: not in the grid)\n"
                 f"rotation circuits, {params(S=SWEEP['redundancy'], L=L)}, capped, {len(grid)} networks, "
                 f"worst over {batch} samples per network and z")
    return save(fig, frame, ctx.out_dir, "fig12_seizure")
