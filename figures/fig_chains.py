"""Figure "chains" (not in the study): composed rotations across circuits (rotation chains).

Circuits form chains of K; at layer j the circuit at position j rotates the vector of the
circuit at position j - 1, so each circuit has (K - 1)/K incoming edges on average. With z
active circuits held fixed (z / K whole chains), the figure shows the active payload error at
the last layer against the number of edges per circuit (one line per load) and against the
load ``T (d/D)^2`` (one line per K), and by chain position.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from circuits import build, evaluate_chains, rotation_chains

from ._style import new_figure, params, save

NAME = "chains"
#: The networks: width D, redundancy S, layers L, active circuits z, chain lengths K, circuit counts T.
CHAINS = {"width": 1000, "redundancy": 6, "n_layers": 4, "active": 4, "chain_lengths": (1, 2, 4),
          "circuits": (100, 200, 400)}


def chain_frame(*, width: int, redundancy: int, n_layers: int, active: int, chain_lengths, circuits,
                batch_size: int, seed: int) -> pd.DataFrame:
    """Tidy per-(T, K, layer, chain position) active payload mse of rotation-chain networks.

    Args:
        width, redundancy, n_layers: D, S, L of every network (L >= max K).
        active: z, active circuits per sample (a multiple of every K).
        chain_lengths: the K to try.
        circuits: the T to try (the load is ``T (4/D)^2``).
        batch_size: samples per network.
        seed: root seed (each network and draw gets its own child seed).

    Returns:
        columns ``n_circuits, load, chain_length, edges_per_circuit, layer, chain_position, mse``.

    Example:
        >>> f = chain_frame(width=96, redundancy=2, n_layers=2, active=2, chain_lengths=(1, 2),
        ...                 circuits=(12,), batch_size=5, seed=0)  # T S <= D/d: exact
        >>> len(f), float(f["mse"].max()) < 1e-10
        (6, True)
    """
    records = []
    seeds = np.random.SeedSequence(seed).spawn(len(circuits) * len(chain_lengths))
    for (T, K), child in zip([(T, K) for T in circuits for K in chain_lengths], seeds):
        fam_seed, build_seed, eval_seed = (int(s.generate_state(1)[0]) for s in child.spawn(3))
        family, graph = rotation_chains(T, chain_length=K, seed=fam_seed)
        net = build(family, width=width, redundancy=redundancy, n_layers=n_layers, seed=build_seed, graph=graph)
        _, rows = evaluate_chains(net, n_active=active, batch_size=batch_size, seed=eval_seed)
        for r in rows:
            if r["stat"] == "mse":
                records.append({"n_circuits": T, "load": net.load, "chain_length": K,
                                "edges_per_circuit": graph.edges_per_circuit(), "layer": r["layer"],
                                "chain_position": r["chain_position"], "mse": r["measured"]})
    return pd.DataFrame(records)


def make(ctx):
    batch = 100 if ctx.quick else 2000
    frame = chain_frame(**{k: v for k, v in CHAINS.items() if k not in ("chain_lengths", "circuits")},
                        chain_lengths=CHAINS["chain_lengths"], circuits=CHAINS["circuits"], batch_size=batch,
                        seed=ctx.seed)
    L = CHAINS["n_layers"]
    last = frame[frame.layer == L]
    # mean over positions (equal counts per position): the mse of all active circuits
    overall = last.groupby(["n_circuits", "load", "chain_length", "edges_per_circuit"], as_index=False)["mse"].mean()
    overall["load_label"] = overall["load"].map(lambda v: f"{v:.4f}")
    fig, axes = new_figure(1, 3, panel=(4.0, 3.4))
    sns.lineplot(data=overall, x="edges_per_circuit", y="mse", hue="load_label", marker="o", ax=axes[0, 0])
    axes[0, 0].set(xlabel="edges per circuit (K - 1)/K", ylabel=f"active payload MSE at layer {L}",
                   title="vs edges per circuit", yscale="log")
    axes[0, 0].legend(title="load T(d/D)^2")
    sns.lineplot(data=overall, x="load", y="mse", hue="chain_length", marker="o", palette="viridis", ax=axes[0, 1])
    axes[0, 1].set(xlabel="load T(d/D)^2", ylabel="", title="vs load", yscale="log")
    axes[0, 1].legend(title="chain length K")
    longest = last[last.chain_length == max(CHAINS["chain_lengths"])]
    sns.lineplot(data=longest, x="chain_position", y="mse", hue=longest["load"].map(lambda v: f"{v:.4f}"),
                 marker="o", ax=axes[0, 2])
    axes[0, 2].set(xlabel="chain position (rotations composed)", ylabel="",
                   title=f"by position, K = {max(CHAINS['chain_lengths'])}", yscale="log")
    axes[0, 2].legend(title="load T(d/D)^2")
    fig.suptitle(f"Rotation chains: error of composed rotations against the exact small system\n"
                 f"{params(D=CHAINS['width'], S=CHAINS['redundancy'], L=L, z=CHAINS['active'])}, capped, "
                 f"{batch} samples per network")
    return save(fig, frame, ctx.out_dir, "fig_chains")
