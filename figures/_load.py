"""Figures 8-11: one read-out error against the load T (d/D)^2 over the 41 networks of the sweep."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from theory import load, predicted_mse

from ._data import CIRCUIT_WIDTH, LOAD_GRID, SWEEP, load_sweep, sweep_batch, sweep_grid
from ._style import EXACT, MARKERS, log_floor, mark_exact, new_figure, params, save



def width_palette() -> dict[int, tuple]:
    """A colour per network width D of the sweep."""
    widths = sorted({D for D, _ in LOAD_GRID})
    return dict(zip(widths, sns.color_palette("colorblind", len(widths))))


def theory_frame(group: str, quantity: str) -> pd.DataFrame:
    """``width, n_active, layer, n_circuits, load, predicted``: theory per D over that D's T range."""
    rows = []
    for D in sorted({D for D, _ in LOAD_GRID}):
        ts = [T for D_, T in LOAD_GRID if D_ == D]
        for T in map(int, np.unique(np.linspace(min(ts), max(ts), 60).round())):
            for z in SWEEP["active"]:
                for layer in range(1, SWEEP["n_layers"] + 1):
                    pred = predicted_mse(group, quantity, layer, T, D, CIRCUIT_WIDTH, SWEEP["redundancy"], z)
                    rows.append((D, z, layer, T, load(T, D, CIRCUIT_WIDTH), pred))
    return pd.DataFrame(rows, columns=["width", "n_active", "layer", "n_circuits", "load", "predicted"])


def load_figure(ctx, group: str, quantity: str, number: int, label: str, theory_label: str, stem: str):
    """Rows = layers 1..L, columns = z; a point per network (colour = D, circle if T d > D,
    triangle otherwise) and a dashed theory curve per D. MSE on a log axis; a measured value
    below :data:`EXACT` (zero up to float32 round-off) is drawn as an open marker at the floor
    of the axis (the CSV keeps the measured value).
    """
    errors, _ = load_sweep(ctx)
    frame = errors[(errors.group == group) & (errors.quantity == quantity) & (errors.stat == "mse")]
    frame = frame.drop(columns=["group", "quantity", "stat"]).reset_index(drop=True)
    theory = theory_frame(group, quantity)
    palette = width_palette()
    layers, zs = range(1, SWEEP["n_layers"] + 1), SWEEP["active"]
    fig, axes = new_figure(len(layers), len(zs), panel=(3.1, 2.5), sharex=True, sharey=True)
    floor = log_floor(frame.measured)
    for row, layer in zip(axes, layers):
        for ax, z in zip(row, zs):
            part = frame[(frame.layer == layer) & (frame.n_active == z)]
            curve = theory[(theory.layer == layer) & (theory.n_active == z) & (theory.predicted > 0)]
            if len(curve):
                sns.lineplot(data=curve, x="load", y="predicted", hue="width", palette=palette, ax=ax,
                             linestyle="--", lw=0.9, legend=False, estimator=None, sort=False)
            for shares, marker in MARKERS.items():
                pts = part[part.shares_neurons == shares]
                if (pts.measured > EXACT).any():
                    sns.scatterplot(data=pts[pts.measured > EXACT], x="load", y="measured", hue="width",
                                    palette=palette, marker=marker, s=28, ax=ax, legend=False, edgecolor="none")
                zero = pts[pts.measured <= EXACT]
                mark_exact(ax, zero.load, floor, [palette[D] for D in zero.width], marker)
            ax.set(yscale="log", xlabel="load T (d/D)^2" if layer == layers[-1] else "",
                   ylabel=f"layer {layer}\nMSE" if z == zs[0] else "")
            if layer == layers[0]:
                ax.set_title(f"z = {z}")
    handles = [Line2D([], [], ls="", marker="o", color=c, label=f"D = {D}") for D, c in palette.items()]
    handles += [Line2D([], [], ls="", marker=MARKERS[True], color="0.4", label="T d > D"),
                Line2D([], [], ls="", marker=MARKERS[False], color="0.4", label="T d <= D"),
                Line2D([], [], ls="--", color="0.4", label=f"theory: {theory_label}")]
    fig.legend(handles=handles, loc="outside lower center", ncols=5)
    batch, grid = sweep_batch(ctx), sweep_grid(ctx)
    fig.suptitle(f"Figure {number}: {label} MSE vs load, {len(grid)} networks (D = 800..2000, T = 200..2000)\n"
                 f"rotation circuits, {params(S=SWEEP['redundancy'], L=SWEEP['n_layers'])}, capped, "
                 f"{batch} samples per network and z; "
                 f"open marker at the bottom: MSE < {EXACT:g} (exact up to round-off)")
    return save(fig, frame, ctx.out_dir, stem)
