"""Figure 9: inactive payload MSE against the load T (d/D)^2, layers 1..4 by z = 1..4, 41 networks."""

from __future__ import annotations

from ._load import load_figure

NAME = "9"


def make(ctx):
    return load_figure(ctx, "inactive", "payload", 9, "inactive payload",
                       theory_label="z p, p = d/D - 1/(S T)", stem="fig09_load_inactive_payload")
