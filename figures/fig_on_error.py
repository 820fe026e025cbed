"""On-indicator error per layer, inactive and active circuits, MSE and worst case, z = 1, 2, 3."""

from __future__ import annotations

from ._error_lines import error_figure

#: The figure of the published study that this one regenerates.
STUDY_FIGURE = 6


def make(ctx):
    return error_figure(ctx, "on", STUDY_FIGURE, "on-indicator alpha", __name__)
