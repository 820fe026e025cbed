"""Errors of one read-out quantity per layer on the study's network, per z (payload-error, on-error)."""

from __future__ import annotations

import seaborn as sns

from ._data import STUDY, STUDY_ACTIVE, draws_label, study_errors, study_label
from ._style import EXACT, Z_PALETTE, log_floor, mark_exact, new_figure, save, z_legend

STATES = ("inactive", "active")
STATS = {"mse": "mean squared error", "worst": "worst-case |error|"}


def error_figure(ctx, quantity: str, number: int, label: str, module: str):
    """A 2 x 2 grid for ``quantity`` ("on" or "payload"): rows MSE / worst case, columns
    inactive / active; x = layer 0..L, one line per z, theory (MSE rows) dashed.

    Layer 0 is measured by :func:`circuits.evaluate`: the input written into the network and
    read back (exact for the active circuit at z = 1; shared neurons leak at z >= 2 and into
    inactive circuits). The CSV has the rows of the three evaluations' tables, each with its spec.

    Args:
        number: the study's figure number, for the title.
        module: the figure module's ``__name__``, which names the files (:func:`figures._style.save`).
    """
    frame = study_errors(ctx)
    frame = frame[frame.quantity == quantity].reset_index(drop=True)
    fig, axes = new_figure(2, 2, panel=(4.6, 3.2), sharex=True)
    hue = {"hue": "n_active", "palette": {z: Z_PALETTE[z] for z in STUDY_ACTIVE}, "legend": False}
    for row, stat in zip(axes, STATS):
        for ax, state in zip(row, STATES):
            part = frame[(frame.circuit_state == state) & (frame.stat == stat)]
            if stat == "worst":
                sns.lineplot(data=part, x="layer", y="measured", marker="o", ax=ax, **hue)
                ax.set_ylim(bottom=0)
            else:  # log axis: a value that is zero up to round-off breaks the line, open marker below
                if (part.predicted > 0).any():
                    sns.lineplot(data=part[part.predicted > 0], x="layer", y="predicted", ax=ax, linestyle="--",
                                 **hue)
                floor = log_floor(frame[frame.stat == "mse"].measured)
                for z, series in part.groupby("n_active"):
                    ax.plot(series.layer, series.measured.where(series.measured > EXACT), marker="o", ms=5,
                            color=Z_PALETTE[z])
                    mark_exact(ax, series.layer[series.measured <= EXACT], floor, Z_PALETTE[z])
                ax.set_yscale("log")
            ax.set(title=f"{state} circuits", xlabel="layer" if stat == "worst" else "", ylabel=STATS[stat])
            ax.set_xticks(range(STUDY["n_layers"] + 1))
    z_legend(fig, STUDY_ACTIVE, "--", "theory (MSE)")
    fig.suptitle(f"Figure {number}: {label} error per layer\n{study_label()}\n{draws_label(ctx)}; "
                 "layer 0: the input written in, read back\n"
                 f"log axis: zero theory not drawn; open marker at the bottom: MSE < {EXACT:g} (exact up to round-off)")
    return save(fig, frame, ctx.out_dir, module)
