"""Fraction of the network's neurons that are on, per layer and neuron group, z = 1, 2, 3.

The CSV has :attr:`circuits.Evaluation.fraction_on` (``layer, neuron_group, fraction``) of the
three evaluations, each row with its spec, and the fraction the active circuits own (``predicted``).
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns

from circuits.measurement import ON_THRESHOLD

from ._data import (STUDY, STUDY_ACTIVE, draws_label, study_evaluation, study_label, study_network, study_spec,
                    with_spec)
from ._style import Z_PALETTE, new_figure, save, z_legend

#: The figure of the published study that this one regenerates.
STUDY_FIGURE = 7


def make(ctx):
    net = study_network(ctx)
    frames = []
    for z in STUDY_ACTIVE:
        ev = study_evaluation(ctx, z)
        # Every active circuit owns S of the D/d slots of each group: z S d / D of them.
        frac = ev.fraction_on.assign(predicted=z * net.redundancy * net.circuit_width / net.width)
        frames.append(with_spec(frac, study_spec(ctx, z), load=ev.load))
    frame = pd.concat(frames, ignore_index=True)
    groups = sorted(frame.neuron_group.unique())
    fig, axes = new_figure(1, len(groups), panel=(3.0, 3.0), sharey=True)
    hue = {"hue": "n_active", "palette": {z: Z_PALETTE[z] for z in STUDY_ACTIVE}, "legend": False}
    for ax, group in zip(axes.flat, groups):
        part = frame[frame.neuron_group == group]
        sns.lineplot(data=part, x="layer", y="fraction", marker="o", ax=ax, **hue)
        sns.lineplot(data=part, x="layer", y="predicted", linestyle=":", ax=ax, **hue)
        ax.set(title=f"neuron group {group} (small neuron {group})", xlabel="layer", ylabel="fraction of neurons on")
        ax.set_xticks(range(STUDY["n_layers"] + 1))
        ax.set_ylim(bottom=0)
    z_legend(fig, STUDY_ACTIVE, ":", "theory z S d / D")
    fig.suptitle(f"Figure {STUDY_FIGURE}: fraction of neurons on (> {ON_THRESHOLD:g}) "
                 f"per group of D/d = {net.n_slots} neurons\n"
                 f"{study_label()}; {draws_label(ctx)}")
    return save(fig, frame, ctx.out_dir, __name__)
