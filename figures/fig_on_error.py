"""Figure 6: on-indicator error per layer, inactive and active circuits, MSE and worst case, z = 1, 2, 3."""

from __future__ import annotations

from ._error_lines import error_figure

NAME = "6"


def make(ctx):
    return error_figure(ctx, "on", 6, "on-indicator alpha", "fig06_on_error")
