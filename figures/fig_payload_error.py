"""Figure 5: payload error per layer, inactive and active circuits, MSE and worst case, z = 1, 2, 3."""

from __future__ import annotations

from ._error_lines import error_figure

NAME = "5"


def make(ctx):
    return error_figure(ctx, "payload", 5, "payload x", "fig05_payload_error")
