"""Inactive on-indicator MSE against the load T (d/D)^2, layers 1..4 by z = 1..4, 41 networks."""

from __future__ import annotations

from ._load import load_figure

#: The figure of the published study that this one regenerates.
STUDY_FIGURE = 11


def make(ctx):
    return load_figure(ctx, "inactive", "on", STUDY_FIGURE, "inactive on-indicator",
                       theory_label="z p, p = d/D - 1/(S T)", module=__name__)
