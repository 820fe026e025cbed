"""The true payload x beside the network's read-out x_hat, one panel per circuit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from ._data import rng, study_evaluation, study_spec, with_spec
from ._style import TRUTH

#: Circuits shown per row.
PANELS = 10
#: Axis limits of every panel (the payload is a unit vector; read-out errors spill a little).
LIMIT = 1.3


def pick_samples(ctx, n_active: int, n: int = PANELS) -> np.ndarray:
    """``n`` samples of the z = ``n_active`` evaluation whose first active circuits differ, drawn
    from the run's seed, in batch order."""
    return distinct_samples(study_evaluation(ctx, n_active).active, n, rng(ctx, 1, n_active))


def distinct_samples(active: np.ndarray, n: int, generator: np.random.Generator) -> np.ndarray:
    """``n`` samples, in random order drawn by ``generator``, whose first active circuits differ; sorted.

    Example:
        >>> sorted(np.array([[3], [3], [5], [3]])[distinct_samples(np.array([[3], [3], [5], [3]]), 2,
        ...                                                        np.random.default_rng(0)), 0].tolist())
        [3, 5]
    """
    picked, seen = [], set()
    for b in generator.permutation(len(active)).tolist():
        if int(active[b, 0]) not in seen:
            seen.add(int(active[b, 0]))
            picked.append(b)
            if len(picked) == n:
                break
    return np.sort(np.array(picked, dtype=np.int64))


def payload_frame(ctx, n_active: int) -> pd.DataFrame:
    """Tidy true and read-out payloads of the first active circuit of :func:`pick_samples`.

    Columns: the spec's (:func:`figures._data.study_spec`), then ``panel, sample, circuit,
    layer, kind ("true x" / "read-out x_hat"), x0, x1``; layers 0..L (layer 0: the input
    written into the network, read back). ``sample`` indexes the evaluation's batch:
    ``circuits.evaluate(spec).estimate_payload[layer, sample, 0]`` is the read-out.
    """
    ev = study_evaluation(ctx, n_active)
    rows = []
    for panel, b in enumerate(pick_samples(ctx, n_active)):
        for kind, values in (("true x", ev.truth_payload), ("read-out x_hat", ev.estimate_payload)):
            for layer in range(values.shape[0]):
                x = values[layer, b, 0]
                rows.append((panel, int(b), int(ev.active[b, 0]), layer, kind, x[0], x[1]))
    frame = pd.DataFrame(rows, columns=["panel", "sample", "circuit", "layer", "kind", "x0", "x1"])
    return with_spec(frame, study_spec(ctx, n_active))


def draw_panel(ax, frame: pd.DataFrame, color: str, *, legend: bool = False, label_layers: bool = True) -> None:
    """One circuit: the unit circle, true x (green) and x_hat (``color``), a dot per layer,
    a thin line from each layer's x to its x_hat."""
    theta = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(theta), np.sin(theta), color="0.85", lw=0.8, zorder=0)
    true, est = (frame[frame.kind == k].sort_values("layer") for k in ("true x", "read-out x_hat"))
    for (x0, y0), (x1, y1) in zip(true[["x0", "x1"]].to_numpy(), est[["x0", "x1"]].to_numpy()):
        ax.plot([x0, x1], [y0, y1], color=color, lw=0.6, alpha=0.6, zorder=1)  # pairs x and x_hat of a layer
    sns.scatterplot(data=frame, x="x0", y="x1", hue="kind", size="kind", sizes={"true x": 55, "read-out x_hat": 22},
                    palette={"true x": TRUTH, "read-out x_hat": color}, hue_order=["true x", "read-out x_hat"],
                    ax=ax, legend=legend, edgecolor="none", zorder=2)
    if label_layers:
        for rec in frame[frame.kind == "true x"].itertuples():
            ax.annotate(str(rec.layer), (rec.x0, rec.x1), xytext=(1.16 * rec.x0, 1.16 * rec.x1),
                        ha="center", va="center", fontsize=7, color="0.3")
    ax.set(xlim=(-LIMIT, LIMIT), ylim=(-LIMIT, LIMIT), xlabel="", ylabel="", xticks=[-1, 0, 1], yticks=[-1, 0, 1])
    ax.set_aspect("equal")
    ax.set_title(f"circuit {frame.circuit.iloc[0]}", fontsize="small")
