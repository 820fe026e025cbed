"""One read-out error against the load T (d/D)^2 over the networks of the load sweep (the load-* figures)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from circuits import make_system
from circuits.experiments import LOAD_SWEEP, LOAD_SWEEP_ROWS, load_sweep_networks
from theory import load, predicted_mse

from ._data import load_sweep, spec_columns
from ._style import EXACT, MARKERS, log_floor, mark_exact, new_figure, params, save

#: d of the load sweep's rotation circuits (the d of the load).
CIRCUIT_WIDTH = make_system(LOAD_SWEEP["system"], 1, seed=0).base_width


def width_palette() -> dict[int, tuple]:
    """A colour per network width D of the sweep."""
    widths = [D for D, *_ in LOAD_SWEEP_ROWS]
    return dict(zip(widths, sns.color_palette("colorblind", len(widths))))


def theory_frame(state: str, quantity: str) -> pd.DataFrame:
    """``width, n_active, layer, n_circuits, load, predicted``: theory per D over that D's T range."""
    rows = []
    for D, first, last, _ in LOAD_SWEEP_ROWS:
        for T in map(int, np.unique(np.linspace(first, last, 60).round())):
            for z in LOAD_SWEEP["n_active"]:
                for layer in range(1, LOAD_SWEEP["n_layers"] + 1):
                    pred = predicted_mse(state, quantity, layer, T, D, CIRCUIT_WIDTH, LOAD_SWEEP["redundancy"], z)
                    rows.append((D, z, layer, T, load(T, D, CIRCUIT_WIDTH), pred))
    return pd.DataFrame(rows, columns=["width", "n_active", "layer", "n_circuits", "load", "predicted"])


def load_frame(ctx, state: str, quantity: str) -> pd.DataFrame:
    """The MSE rows of ``state`` / ``quantity`` at computation layers 1..L of the load sweep.

    Columns: the spec's, ``load``, ``shares_neurons``, ``layer, circuit_state, quantity, stat,
    measured, predicted``: each row is one row of ``cis evaluate`` with the spec's columns as flags.
    """
    table = load_sweep(ctx)
    rows = table[(table.circuit_state == state) & (table.quantity == quantity) & (table.stat == "mse")
                 & (table.role == "computation") & table.depth.isna()]
    columns = [*spec_columns(table), "load", "shares_neurons", "layer", "circuit_state", "quantity", "stat",
               "measured", "predicted"]
    return rows[columns].reset_index(drop=True)


def load_figure(ctx, state: str, quantity: str, number: int, label: str, theory_label: str, module: str):
    """Rows = layers 1..L, columns = z; a point per network (colour = D, circle if T d > D,
    triangle otherwise) and a dashed theory curve per D. MSE on a log axis; a measured value
    below :data:`EXACT` (zero up to float32 round-off) is drawn as an open marker at the floor
    of the axis (the CSV keeps the measured value).

    Args:
        number: the study's figure number, for the title.
        module: the figure module's ``__name__``, which names the files (:func:`figures._style.save`).
    """
    frame = load_frame(ctx, state, quantity)
    theory = theory_frame(state, quantity)
    palette = width_palette()
    layers, zs = range(1, LOAD_SWEEP["n_layers"] + 1), LOAD_SWEEP["n_active"]
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
            ax.set(yscale="log", xlabel="load T (d/D)$^2$" if layer == layers[-1] else "",
                   ylabel=f"layer {layer}\nMSE" if z == zs[0] else "")
            if layer == layers[0]:
                ax.set_title(f"z = {z}")
    handles = [Line2D([], [], ls="", marker="o", color=c, label=f"D = {D}") for D, c in palette.items()]
    handles += [Line2D([], [], ls="", marker=MARKERS[True], color="0.4", label="T d > D"),
                Line2D([], [], ls="", marker=MARKERS[False], color="0.4", label="T d <= D"),
                Line2D([], [], ls="--", color="0.4", label=f"theory: {theory_label}")]
    fig.legend(handles=handles, loc="outside lower center", ncols=5)
    batch = int(frame.batch_size.iloc[0])
    n_networks = len(load_sweep_networks(quick=ctx.quick))
    fig.suptitle(f"Figure {number}: {label} MSE vs load, {n_networks} networks (D = 800..2000, T = 200..2000)\n"
                 f"rotation circuits, {params(S=LOAD_SWEEP['redundancy'], L=LOAD_SWEEP['n_layers'])}, capped, "
                 f"{batch} samples per network and z; "
                 f"open marker at the bottom: MSE < {EXACT:g} (exact up to round-off)")
    return save(fig, frame, ctx.out_dir, module)
