"""As payload-scatter, one row per number of active circuits z = 1 (purple), 2 (red), 3 (orange)."""

from __future__ import annotations

import pandas as pd

from ._data import STUDY_ACTIVE, study_label
from ._scatter import PANELS, draw_panel, payload_frame
from ._style import ESTIMATE, TRUTH, dot_legend, new_figure, save

#: The figure of the published study that this one regenerates.
STUDY_FIGURE = 4


def make(ctx):
    frame = pd.concat([payload_frame(ctx, z) for z in STUDY_ACTIVE], ignore_index=True)
    fig, axes = new_figure(len(STUDY_ACTIVE), PANELS, panel=(1.9, 2.0))
    for row, z in zip(axes, STUDY_ACTIVE):
        for ax, (_, panel) in zip(row, frame[frame.n_active == z].groupby("panel")):
            draw_panel(ax, panel, ESTIMATE[z], label_layers=False)
        row[0].set_ylabel(f"z = {z}")
    colors = {"true x": TRUTH, **{f"read-out x_hat, z = {z}": ESTIMATE[z] for z in STUDY_ACTIVE}}
    dot_legend(fig, colors)
    fig.suptitle(f"Figure {STUDY_FIGURE}: payload of 10 active circuits (one of the z active per sample), "
                 "a dot per layer 0..5\n"
                 f"{study_label()}; rows z = 1, 2, 3")
    return save(fig, frame, ctx.out_dir, __name__)
