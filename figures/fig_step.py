"""The 2-ReLU step that cleans the on-indicator at every layer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from ._style import new_figure, save

#: The figure of the published study that this one regenerates.
STUDY_FIGURE = 3


def step_frame(n: int = 241) -> pd.DataFrame:
    """Tidy ``a, curve, value`` for ``a`` in [-0.1, 1.1]: the two ReLUs and their difference.

    Example:
        >>> f = step_frame(n=13).pivot(index="a", columns="curve", values="value")
        >>> float(f.loc[f.index <= 0.25, "difference"].abs().max()), float(f.loc[f.index >= 0.75, "difference"].min())
        (0.0, 1.0)
    """
    a = np.linspace(-0.1, 1.1, n)
    curves = {"ReLU(2a - 0.5)": np.maximum(2 * a - 0.5, 0.0), "ReLU(2a - 1.5)": np.maximum(2 * a - 1.5, 0.0)}
    curves["difference"] = curves["ReLU(2a - 0.5)"] - curves["ReLU(2a - 1.5)"]
    return pd.concat([pd.DataFrame({"a": a, "curve": name, "value": v}) for name, v in curves.items()],
                     ignore_index=True)


def make(ctx):
    frame = step_frame()
    fig, axes = new_figure(1, 1, panel=(5.6, 3.8))
    ax = axes[0, 0]
    ax.axvspan(-0.1, 0.25, color="0.92", zorder=0)
    ax.axvspan(0.75, 1.1, color="0.92", zorder=0)
    ax.text(0.075, 0.55, "a <= 0.25\n-> 0", ha="center", fontsize=8, color="0.35")
    ax.text(0.925, 0.55, "a >= 0.75\n-> 1", ha="center", fontsize=8, color="0.35")
    sns.lineplot(data=frame, x="a", y="value", hue="curve", style="curve", ax=ax,
                 palette={"ReLU(2a - 0.5)": "#1f77b4", "ReLU(2a - 1.5)": "#ff7f0e", "difference": "black"},
                 dashes={"ReLU(2a - 0.5)": (4, 2), "ReLU(2a - 1.5)": (1, 1.5), "difference": ""})
    ax.set(xlim=(-0.1, 1.1), ylim=(-0.05, 1.6), xlabel="a: on-indicator alpha at the previous layer", ylabel="value")
    ax.legend(title=None, loc="upper center", bbox_to_anchor=(0.42, 1.0))
    fig.suptitle(f"Figure {STUDY_FIGURE}: the 2-ReLU step that cleans the on-indicator\n"
                 "ReLU(2a - 0.5) - ReLU(2a - 1.5)")
    return save(fig, frame, ctx.out_dir, __name__)
