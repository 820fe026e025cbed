"""Figure "chains" (not in the study): composed computation across circuits (chains and fan-in).

Circuits form chains of K (at layer j the circuit at position j rotates the vector of the
circuit at position j - 1: (K - 1)/K incoming edges per circuit) or fan-in groups of three (at
layer 2 a receiver rotates the mean of two senders' vectors: 2/3 edges per circuit, as many as
chains of 3, on another topology). With z active circuits held fixed (z / K whole chains or
z / 3 whole groups), the figure shows the active payload error at the last layer against the
number of edges per circuit (one line per load, fan-in as its own marker) and against the
load ``T (d/D)^2`` (one line per family), and by chain position (the depth of a circuit in the
graph).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from circuits import build, evaluate_graph, rotation_chains, rotation_fan_in

from ._style import new_figure, params, save

NAME = "chains"
#: The networks: width D, redundancy S, layers L, active circuits z (a multiple of every K and
#: of 3), chain lengths K, whether to add the fan-in family, circuit counts T.
#: (D = 2000 keeps the errors at z = 6 below saturation; loads T (4/D)^2 = 0.0008 .. 0.0032.)
CHAINS = {"width": 2000, "redundancy": 6, "n_layers": 4, "active": 6, "chain_lengths": (1, 2, 3),
          "fan_in": True, "circuits": (200, 400, 800)}


def _families(chain_lengths, fan_in: bool):
    """``(family name, K or None, maker(T, seed) -> (family, graph))`` of every series."""
    series = [("rotation-chains", K, lambda T, s, K=K: rotation_chains(T, chain_length=K, seed=s))
              for K in chain_lengths]
    if fan_in:
        series.append(("rotation-fan-in", None, lambda T, s: rotation_fan_in(T, seed=s)))
    return series


def chain_frame(*, width: int, redundancy: int, n_layers: int, active: int, chain_lengths, circuits,
                batch_size: int, seed: int, fan_in: bool = False) -> pd.DataFrame:
    """Tidy per-(family, T, K, layer, chain position) active payload mse of graph networks.

    Args:
        width, redundancy, n_layers: D, S, L of every network (L >= max K, and >= 2 with fan-in).
        active: z, active circuits per sample (a multiple of every K, and of 3 with fan-in).
        chain_lengths: the K of the :func:`circuits.rotation_chains` networks.
        circuits: the T to try (the load is ``T (4/D)^2``).
        batch_size: samples per network.
        seed: root seed (each network and draw gets its own child seed).
        fan_in: also the :func:`circuits.rotation_fan_in` networks.

    Returns:
        columns ``family, series, n_circuits, load, chain_length (empty for fan-in),
        edges_per_circuit, layer, chain_position, mse``: ``chain_position`` is the depth in the
        graph, empty on the rows of all active circuits together.

    Example:
        >>> f = chain_frame(width=96, redundancy=2, n_layers=2, active=6, chain_lengths=(1, 2),
        ...                 circuits=(12,), batch_size=5, seed=0, fan_in=True)  # T S <= D/d: exact
        >>> len(f), sorted(f.series.unique()), float(f["mse"].max()) < 1e-10
        (16, ['K = 1', 'K = 2', 'fan-in'], True)
    """
    records = []
    series = _families(chain_lengths, fan_in)
    seeds = np.random.SeedSequence(seed).spawn(len(circuits) * len(series))
    for (T, (name, K, make_graph)), child in zip([(T, s) for T in circuits for s in series], seeds):
        fam_seed, build_seed, eval_seed = (int(s.generate_state(1)[0]) for s in child.spawn(3))
        family, graph = make_graph(T, fam_seed)
        net = build(family, width=width, redundancy=redundancy, n_layers=n_layers, seed=build_seed, graph=graph)
        ev, rows = evaluate_graph(net, n_active=active, batch_size=batch_size, seed=eval_seed)
        total = ev.table.query("group == 'active' and quantity == 'payload' and stat == 'mse'")
        rows = rows + [{"layer": layer, "stat": "mse", "measured": m, "chain_position": None}
                       for layer, m in zip(total.layer, total.measured)]
        for r in rows:
            if r["stat"] == "mse":
                records.append({"family": name, "series": "fan-in" if K is None else f"K = {K}", "n_circuits": T,
                                "load": net.load, "chain_length": K, "edges_per_circuit": graph.edges_per_circuit(),
                                "layer": r["layer"], "chain_position": r["chain_position"], "mse": r["measured"]})
    return pd.DataFrame(records)


def make(ctx):
    batch = 100 if ctx.quick else 2000
    frame = chain_frame(**{k: v for k, v in CHAINS.items() if k not in ("chain_lengths", "circuits")},
                        chain_lengths=CHAINS["chain_lengths"], circuits=CHAINS["circuits"], batch_size=batch,
                        seed=ctx.seed)
    L, K = CHAINS["n_layers"], max(CHAINS["chain_lengths"])
    last = frame[frame.layer == L].assign(load_label=lambda f: f["load"].map(lambda v: f"{v:.4f}"))
    overall = last[last.chain_position.isna()]  # all active circuits together
    last = last[last.chain_position.notna()]
    fig, axes = new_figure(1, 3, panel=(4.0, 3.4))
    sns.lineplot(data=overall, x="edges_per_circuit", y="mse", hue="load_label", style="family", markers=True,
                 dashes=False, ax=axes[0, 0])
    axes[0, 0].set(xlabel="edges per circuit ((K - 1)/K; fan-in 2/3)", ylabel=f"active payload MSE at layer {L}",
                   title="vs edges per circuit", yscale="log")
    axes[0, 0].legend(title="load T(d/D)^2 / family", fontsize="x-small")
    sns.lineplot(data=overall, x="load", y="mse", hue="series", marker="o", palette="viridis", ax=axes[0, 1])
    axes[0, 1].set(xlabel="load T(d/D)^2", ylabel="", title="vs load", yscale="log")
    axes[0, 1].legend(title="chain length / fan-in")
    deep = last[(last.chain_length == K) | (last.family == "rotation-fan-in")]
    sns.lineplot(data=deep, x="chain_position", y="mse", hue="load_label", style="series", markers=True,
                 ax=axes[0, 2])
    axes[0, 2].set(xlabel="chain position = depth in the graph", ylabel="",
                   title=f"by position: K = {K} and fan-in", yscale="log", xticks=range(1, K + 1))
    axes[0, 2].legend(title="load / series", fontsize="x-small")
    fig.suptitle(f"Chains and fan-in: error of composed rotations against the exact small system\n"
                 f"{params(D=CHAINS['width'], S=CHAINS['redundancy'], L=L, z=CHAINS['active'])}, capped, "
                 f"{batch} samples per network")
    return save(fig, frame, ctx.out_dir, "fig_chains")
