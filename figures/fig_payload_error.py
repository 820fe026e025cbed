"""Payload error per layer, inactive and active circuits, MSE and worst case, z = 1, 2, 3."""

from __future__ import annotations

from ._error_lines import error_figure

#: The figure of the published study that this one regenerates.
STUDY_FIGURE = 5


def make(ctx):
    return error_figure(ctx, "payload", STUDY_FIGURE, "payload x", __name__)
