"""Figure 10: active on-indicator MSE against the load T (d/D)^2, layers 1..4 by z = 1..4, 41 networks."""

from __future__ import annotations

from ._load import load_figure

NAME = "10"


def make(ctx):
    return load_figure(ctx, "active", "on", 10, "active on-indicator",
                       theory_label="0 (off the log axis)", stem="fig10_load_active_on")
