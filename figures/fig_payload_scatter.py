"""True payload x (green) and its read-out x_hat (purple) for 10 active circuits, z = 1."""

from __future__ import annotations

from ._data import study_label, study_spec
from ._scatter import draw_panel, payload_frame
from ._style import ESTIMATE, TRUTH, dot_legend, new_figure, save

#: The figure of the published study that this one regenerates.
STUDY_FIGURE = 1


def make(ctx):
    frame = payload_frame(ctx, 1)
    fig, axes = new_figure(2, 5, panel=(2.3, 2.4))
    for ax, (_, panel) in zip(axes.flat, frame.groupby("panel")):
        draw_panel(ax, panel, ESTIMATE[1])
    dot_legend(fig, {"true x": TRUTH, "read-out x_hat": ESTIMATE[1]})
    fig.suptitle(f"Figure {STUDY_FIGURE}: payload of 10 active circuits, a dot per layer 0..5 (number = layer)\n"
                 f"{study_label()}, z = 1; 10 of {study_spec(ctx, 1).batch_size} random samples")
    return save(fig, frame, ctx.out_dir, __name__)
