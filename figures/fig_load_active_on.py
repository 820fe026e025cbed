"""Active on-indicator MSE against the load T (d/D)^2, layers 1..4 by z = 1..4, 41 networks."""

from __future__ import annotations

from ._load import load_figure

#: The figure of the published study that this one regenerates.
STUDY_FIGURE = 10


def make(ctx):
    return load_figure(ctx, "active", "on", STUDY_FIGURE, "active on-indicator",
                       theory_label="0 (off the log axis)", module=__name__)
