"""The true payload x of 5 circuits over layers 0..5, arrows in the direction of rotation.

The circuits are those of 5 samples of the study's z = 1 evaluation (distinct circuits); the CSV
row's ``sample`` indexes that evaluation's batch (``truth_payload[layer, sample, 0]``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from ._data import rng, study_evaluation, study_label, study_spec, with_spec
from ._scatter import LIMIT, distinct_samples
from ._style import TRUTH, new_figure, save

#: The figure of the published study that this one regenerates.
STUDY_FIGURE = 2
#: Circuits shown.
CIRCUITS = 5


def make(ctx):
    ev = study_evaluation(ctx, 1)
    samples = distinct_samples(ev.active, CIRCUITS, rng(ctx, 2))
    rows = []
    for panel, b in enumerate(samples):
        x = ev.truth_payload[:, b, 0]  # (L+1, 2)
        angle = np.arctan2(x[:, 1], x[:, 0])
        turn = np.angle(np.exp(1j * np.diff(angle, prepend=angle[0])))  # step angle in (-pi, pi]
        for layer in range(len(x)):
            rows.append((panel, int(b), int(ev.active[b, 0]), layer, x[layer, 0], x[layer, 1],
                         np.degrees(angle[layer]), np.degrees(turn[layer])))
    frame = pd.DataFrame(rows, columns=["panel", "sample", "circuit", "layer", "x0", "x1", "angle_deg", "turn_deg"])
    frame = with_spec(frame, study_spec(ctx, 1))

    fig, axes = new_figure(1, CIRCUITS, panel=(2.6, 2.8))
    for ax, (_, panel) in zip(axes.flat, frame.groupby("panel")):
        _draw(ax, panel)
    fig.suptitle(f"Figure {STUDY_FIGURE}: true payload x of 5 circuits, layers 0..5 (number = layer); "
                 "arrows follow each circuit's rotation\n"
                 f"{study_label()}, z = 1")
    return save(fig, frame, ctx.out_dir, __name__)


def _draw(ax, panel: pd.DataFrame) -> None:
    theta = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(theta), np.sin(theta), color="0.85", lw=0.8, zorder=0)
    angles = np.radians(panel.angle_deg.to_numpy())
    turns = np.radians(panel.turn_deg.to_numpy())
    for layer in range(1, len(panel)):
        # Arc at radius 0.85 from the previous layer's angle through this layer's turn.
        arc = angles[layer - 1] + np.linspace(0.0, turns[layer], 40)
        r = 0.85 - 0.07 * layer
        ax.plot(r * np.cos(arc[:-3]), r * np.sin(arc[:-3]), color=TRUTH, lw=1.0, alpha=0.7)
        tip, tail = (r * np.array([np.cos(arc[i]), np.sin(arc[i])]) for i in (-1, -4))
        ax.annotate("", xy=tip, xytext=tail,
                    arrowprops={"arrowstyle": "-|>", "color": TRUTH, "lw": 1.0, "mutation_scale": 9})
    sns.scatterplot(data=panel, x="x0", y="x1", color=TRUTH, s=45, ax=ax, edgecolor="none", zorder=2)
    for rec in panel.itertuples():
        ax.annotate(str(rec.layer), (rec.x0, rec.x1), xytext=(1.15 * rec.x0, 1.15 * rec.x1),
                    ha="center", va="center", fontsize=8, color="0.3")
    turn = panel.turn_deg.iloc[1]
    ax.set(xlim=(-LIMIT, LIMIT), ylim=(-LIMIT, LIMIT), xlabel="", ylabel="", xticks=[-1, 0, 1], yticks=[-1, 0, 1])
    ax.set_aspect("equal")
    ax.set_title(f"circuit {panel.circuit.iloc[0]}: {turn:+.0f}° per layer", fontsize="small")
