"""Composed computation across circuits (chains and fan-in): the error against edges, load and depth.

Circuits form chains of K (system ``rotation-chains``: at layer j the circuit at position j
rotates the vector of the circuit at position j - 1, (K - 1)/K incoming edges per circuit) or
fan-in triples (system ``rotation-fan-in``: at layer 2 a receiver rotates the mean of two
senders' vectors, 2/3 edges per circuit, as many as chains of 3, on another topology). With
z = 6 active circuits held fixed (6/K whole chains or two whole triples), the figure shows the
active payload error at the last layer against the number of edges per circuit (one line per
load, fan-in as its own marker), against the load ``T (d/D)^2`` (one line per system), and by
depth in the coupling graph (a chain position).

The runs are one :func:`circuits.sweep`; the CSV has the active payload MSE rows of its table
(layers 0..L): the spec's columns (``system``, ``chain_length``, empty for fan-in, ...),
``load``, ``edges_per_circuit``, and ``layer, circuit_state, depth, quantity, stat, measured``,
with ``depth`` empty on the rows of all active circuits together.
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from circuits import make_system

from ._data import run_sweep, spec_columns
from ._style import new_figure, params, save

#: The published study has no such figure.
STUDY_FIGURE = None
#: The networks: width D, redundancy S, layers L, active circuits z (a multiple of every K and
#: of 3), chain lengths K, whether to add the fan-in system, circuit counts T.
#: (D = 2000 keeps the errors at z = 6 below saturation; loads T (4/D)^2 = 0.0008 .. 0.0032.)
CHAINS = {"width": 2000, "redundancy": 6, "n_layers": 4, "active": 6, "chain_lengths": (1, 2, 3),
          "fan_in": True, "circuits": (200, 400, 800)}
#: Columns of the CSV after the spec's.
COLUMNS = ["load", "edges_per_circuit", "layer", "circuit_state", "depth", "quantity", "stat", "measured"]


def chain_grid(*, width: int, redundancy: int, n_layers: int, active: int, chain_lengths, circuits,
               batch_size: int, seed: int, fan_in: bool = False) -> list[dict]:
    """The sweep grid: ``rotation-chains`` for every K, and ``rotation-fan-in`` if ``fan_in``.

    Example:
        >>> g = chain_grid(width=96, redundancy=2, n_layers=3, active=6, chain_lengths=(1, 2), circuits=(12,),
        ...                batch_size=5, seed=0, fan_in=True)
        >>> [(p["system"], p.get("chain_length")) for p in g]
        [('rotation-chains', [1, 2]), ('rotation-fan-in', None)]
    """
    common = {"width": width, "n_circuits": list(circuits), "redundancy": redundancy, "n_layers": n_layers,
              "n_active": active, "batch_size": batch_size, "seed": seed}
    grid = [{"system": "rotation-chains", "chain_length": list(chain_lengths), **common}]
    if fan_in:
        grid.append({"system": "rotation-fan-in", **common})
    return grid


def edges_per_circuit(system: str, n_circuits: int, chain_length=None) -> float:
    """Incoming cross-circuit edges per circuit of a system (its coupling graph does not depend on the seed)."""
    params_ = {} if chain_length is None or pd.isna(chain_length) else {"chain_length": int(chain_length)}
    couplings = make_system(system, int(n_circuits), seed=0, **params_).couplings
    return 0.0 if couplings is None else couplings.edges_per_circuit()


def chain_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The CSV rows from a sweep table of :func:`chain_grid` (see the module docstring).

    Example:
        >>> import tempfile
        >>> from circuits import sweep
        >>> grid = chain_grid(width=96, redundancy=2, n_layers=2, active=6, chain_lengths=(1, 2), circuits=(12,),
        ...                   batch_size=5, seed=0, fan_in=True)  # T S <= D/d: exact
        >>> f = chain_frame(sweep(grid, tempfile.mkdtemp(), progress=False))
        >>> sorted(f.edges_per_circuit.unique().tolist()), float(f["measured"].max()) < 1e-10
        ([0.0, 0.5, 0.6666666666666666], True)
    """
    rows = table[(table.circuit_state == "active") & (table.quantity == "payload") & (table.stat == "mse")]
    if "chain_length" not in rows.columns:
        rows = rows.assign(chain_length=pd.NA)
    runs = rows.drop_duplicates("run")
    edges = {r.run: edges_per_circuit(r.system, r.n_circuits, r.chain_length) for r in runs.itertuples()}
    rows = rows.assign(edges_per_circuit=rows.run.map(edges))
    return rows[[*spec_columns(rows), *COLUMNS]].reset_index(drop=True)


#: How the figure labels each system's series (a system not listed is labelled by its chain length).
SERIES_LABELS = {"rotation-fan-in": "fan-in triples"}


def series_label(system: str, chain_length) -> str:
    """``"chains of K = 3"`` or ``"fan-in triples"``: a system as a reader reads it."""
    return SERIES_LABELS.get(system) or f"chains of K = {int(chain_length)}"


def make(ctx):
    batch = 100 if ctx.quick else 2000
    grid = chain_grid(**{k: v for k, v in CHAINS.items() if k not in ("chain_lengths", "circuits")},
                      chain_lengths=CHAINS["chain_lengths"], circuits=CHAINS["circuits"], batch_size=batch,
                      seed=ctx.seed)
    frame = chain_frame(run_sweep(ctx, "chains", grid))
    L, K = CHAINS["n_layers"], max(CHAINS["chain_lengths"])
    last = frame[frame.layer == L].assign(series=lambda f: [series_label(s, k) for s, k in
                                                            zip(f.system, f.chain_length)])
    overall = last[last.depth.isna()]  # all active circuits together
    by_depth = last[last.depth.notna()]
    loads = sorted(overall.load.unique())
    load_colors = dict(zip(loads, sns.color_palette("viridis", len(loads))))
    series = list(dict.fromkeys([*(series_label("rotation-chains", k) for k in CHAINS["chain_lengths"]),
                                 *(["fan-in triples"] if CHAINS["fan_in"] else [])]))
    series_colors = dict(zip(series, sns.color_palette("colorblind", len(series))))
    fig, axes = new_figure(1, 3, panel=(4.0, 3.4), sharey=True)
    ax_edges, ax_load, ax_depth = axes.flat
    fan = "fan-in triples"
    for load, color in load_colors.items():
        chains = overall[(overall.load == load) & (overall.series != fan)].sort_values("edges_per_circuit")
        ax_edges.plot(chains.edges_per_circuit, chains.measured, "o-", color=color)
        tri = overall[(overall.load == load) & (overall.series == fan)]
        ax_edges.plot(tri.edges_per_circuit, tri.measured, "X", color=color, ms=8)
        for name, style in ((series_label("rotation-chains", K), "o-"), (fan, "X--")):
            part = by_depth[(by_depth.load == load) & (by_depth.series == name)].sort_values("depth")
            ax_depth.plot(part.depth, part.measured, style, color=color, ms=6)
    for name, color in series_colors.items():
        part = overall[overall.series == name].sort_values("load")
        ax_load.plot(part.load, part.measured, "X--" if name == fan else "o-", color=color, ms=6)
    ax_edges.set(xlabel="incoming edges per circuit\n(chains (K - 1)/K; fan-in 2/3)",
                 ylabel=f"active payload MSE at layer {L}", title="against edges per circuit", yscale="log")
    ax_load.set(xlabel="load T (d/D)$^2$", title="against the load", yscale="log")
    ax_depth.set(xlabel="depth in the coupling graph (chain position)", title=f"by depth: K = {K} and fan-in",
                 yscale="log", xticks=range(1, K + 1))
    load_handles = [Line2D([], [], color=c, lw=2, label=f"{v:.4f}") for v, c in load_colors.items()]
    style = {"fontsize": "small", "title_fontsize": "small"}
    fig.legend(handles=load_handles, title="load T (d/D)$^2$ (left, right)", loc="outside lower left", ncols=3, **style)
    fig.legend(handles=[Line2D([], [], color=c, marker="X" if n == fan else "o", ls="--" if n == fan else "-",
                               label=n) for n, c in series_colors.items()],
               title="system (middle)", loc="outside lower center", ncols=2, **style)
    shapes = [Line2D([], [], color="0.4", marker="o", ls="-", label="chains"),
              Line2D([], [], color="0.4", marker="X", ls="--", label="fan-in triples")]
    fig.legend(handles=shapes, title="shape (left, right)", loc="outside lower right", ncols=2, **style)
    fig.suptitle(f"Chains and fan-in: error of composed rotations against the exact small system\n"
                 f"{params(D=CHAINS['width'], S=CHAINS['redundancy'], L=L, z=CHAINS['active'])}, capped, "
                 f"{batch} samples per network")
    return save(fig, frame, ctx.out_dir, __name__)
