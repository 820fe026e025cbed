"""Active payload MSE against the load T (d/D)^2, layers 1..4 by z = 1..4, 41 networks."""

from __future__ import annotations

from ._load import load_figure

#: The figure of the published study that this one regenerates.
STUDY_FIGURE = 8


def make(ctx):
    return load_figure(ctx, "active", "payload", STUDY_FIGURE, "active payload",
                       theory_label="(l-1) T p^2 (z + 8(z-1)) + 9 l p (z-1)", module=__name__)
