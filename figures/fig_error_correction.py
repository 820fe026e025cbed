"""Figure "error-correction" (not in the study): what each error-correction option buys.

Options of :func:`circuits.build_with_error_correction`, each at the same D and T (so an
option that widens circuits pays with fewer neuron slots): ``none``, ``redundant:2``,
``cleanup``, ``tuned-chi``, ``step:0.45`` and ``step:0.45+tuned-chi``; rotation circuits, L = 4
computation layers, S = 6, prime-step assignment, capped weights.

Rows 1-3, against the load T (d/D)^2 (d = 4, the base circuit's width, for every option), one
column per z, on the D = 1000 and 2000 networks of figures 8-11 (T = 200..500 and 200..2000;
the same seeds, so ``none`` repeats their numbers; quick mode: two other networks): the failure rate (a pass fails when some on-indicator, active or inactive, is
read off by more than 0.25 at some layer, clean-up layers included), the inactive circuits'
on-indicator MSE and the active circuits' payload MSE at the last computation layer. Row 4:
the regime boundary (:func:`circuits.find_boundary`, the load where the failure rate crosses 1%)
per option at D = 1000 and 2000, median over seeds with the order-statistic interval; the two
rightmost options use S = 4z + 1 (finite-field assignment, which holds more circuits at that
S than prime-step), for which an inactive circuit can share at most z neurons with active ones
and so reads at most z/S < 0.25 at layer 1. Dashed: d/(S D), below which no two circuits share a
neuron at S = 6; dotted: the loads 0.004 and 0.008 that issue 7 names. ``redundant:2`` is
missing where its T exceeds the assignment's capacity at D/6 slots.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from circuits import (SEIZURE_THRESHOLD, build_with_error_correction, capacity, computation_layers, evaluate,
                      failure_rate, find_boundary, parse_error_correction, rotation_circuits)

from ._data import LOAD_GRID, derive_seed
from ._style import new_figure, params, save

NAME = "error-correction"

#: The options compared, at S = 6.
OPTIONS = ("none", "redundant:2", "cleanup", "tuned-chi", "step:0.45", "step:0.45+tuned-chi")
#: Options also measured at S = 4z + 1 in the boundary row.
SPREAD_OPTIONS = ("none", "step:0.45+tuned-chi")
#: Base circuit width d (rotation circuits) and the study's S and L.
D_SMALL, S, L = 4, 6, 4
#: Full run: the sweep's widths (all their T of figures 8-11), z, samples; the boundary search.
FULL = {"sweep_widths": (1000, 2000), "active": (1, 2, 3), "batch": 500, "calibration": 200,
        "boundary_widths": (1000, 2000), "boundary_active": (1, 2, 3), "seeds": 3, "boundary_batch": 500,
        "rtol": 0.05}
#: Quick mode (seconds): two networks, z = 1, 2, tiny batches; boundaries at z = 2, one seed, coarse.
QUICK = {"sweep_grid": ((800, 200), (1200, 700)), "active": (1, 2), "batch": 20, "calibration": 20,
         "boundary_widths": (1000,), "boundary_active": (2,), "seeds": 1, "boundary_batch": 20, "rtol": 0.5}
#: Seed streams of figures._data (family, build, evaluation) so that ``none`` repeats figures 8-11.
_FAMILY, _BUILD, _EVAL = 1, 2, 3


def _grid(setting: dict) -> list[tuple[int, int]]:
    if "sweep_grid" in setting:
        return list(setting["sweep_grid"])
    return [(D, T) for D, T in LOAD_GRID if D in setting["sweep_widths"]]


def sweep_frame(setting: dict, seed: int, progress: bool = False) -> pd.DataFrame:
    """Tidy rows per (option, D, T, z): the failure rate and the four MSEs at computation layers 1..L."""
    from tqdm.auto import tqdm

    rows = []
    jobs = [(o, D, T) for D, T in _grid(setting) for o in OPTIONS]
    for option, D, T in tqdm(jobs, desc="error correction sweep", disable=not progress, leave=False):
        if T > capacity(D // parse_error_correction(option).circuit_width(D_SMALL), S):
            continue  # wider circuits, fewer slots: T does not fit (the point is missing from the figure)
        fam = rotation_circuits(T, seed=derive_seed(seed, _FAMILY, D, T))
        for z in setting["active"]:
            net = build_with_error_correction(fam, option, width=D, redundancy=S, n_layers=L,
                                              seed=derive_seed(seed, _BUILD, D, T), n_active=z,
                                              calibration_batch=setting["calibration"])
            ev = evaluate(net, n_active=z, batch_size=setting["batch"], seed=derive_seed(seed, _EVAL, D, T, z))
            head = {"kind": "sweep", "option": option, "redundancy": S, "width": D, "n_circuits": T, "n_active": z,
                    "load": T * (D_SMALL / D) ** 2, "circuit_width": net.circuit_width, "net_width": net.width,
                    "chi_scale": net.config.chi_scale}
            rows.append({**head, "layer": np.nan, "group": "any", "quantity": "on", "stat": "failure_rate",
                         "measured": failure_rate(ev)})
            mse = ev.table[ev.table.stat == "mse"]
            for layer, net_layer in enumerate(computation_layers(net), 1):
                for r in mse[mse.layer == net_layer].itertuples():
                    rows.append({**head, "layer": layer, "group": r.group, "quantity": r.quantity, "stat": "mse",
                                 "measured": r.measured})
    return pd.DataFrame(rows)


def boundary_frame(setting: dict, seed: int, progress: bool = False) -> pd.DataFrame:
    """One row per (option, S, D, z): the critical load, its interval, and the critical T."""
    from tqdm.auto import tqdm

    jobs = [(o, S, "prime-step") for o in OPTIONS] + [(o, None, "finite-field") for o in SPREAD_OPTIONS]
    combos = [(job, D, z) for D in setting["boundary_widths"] for z in setting["boundary_active"] for job in jobs]
    rows = []
    for (option, redundancy, assignment), D, z in tqdm(combos, desc="error correction boundary",
                                                       disable=not progress, leave=False):
        s = 4 * z + 1 if redundancy is None else redundancy
        b = find_boundary(D, z, L, redundancy=s, assignment=assignment, batch_size=setting["boundary_batch"],
                          n_seeds=setting["seeds"], seed=seed, rtol=setting["rtol"],
                          error_correction=option)
        label = option if redundancy is not None else f"{option}, S=4z+1"
        rows.append({"kind": "boundary", "option": label, "redundancy": s, "assignment": assignment, "width": D,
                     "n_active": z, "stat": "critical_load", "measured": b.critical_load, "low": b.interval[0],
                     "high": b.interval[1], "n_circuits": b.critical_circuits, "capacity": b.capacity,
                     "capacity_reached": b.capacity_reached, "seeds": setting["seeds"],
                     "batch_size": setting["boundary_batch"], "disjoint_load": (D // D_SMALL // S) * (D_SMALL / D) ** 2})
    return pd.DataFrame(rows)


def make(ctx):
    setting = QUICK if ctx.quick else FULL
    key = ("error-correction", ctx.quick, ctx.seed)
    if key not in ctx.cache:
        ctx.cache[key] = pd.concat([sweep_frame(setting, ctx.seed, progress=not ctx.quick),
                                    boundary_frame(setting, ctx.seed, progress=not ctx.quick)], ignore_index=True)
    frame = ctx.cache[key]
    sweep, bound = frame[frame.kind == "sweep"], frame[frame.kind == "boundary"]
    zs = setting["active"]
    labels = list(bound.option.drop_duplicates())
    palette = dict(zip(labels, sns.color_palette("colorblind", len(labels))))
    widths = sorted(sweep.width.unique())
    markers = dict(zip(widths, "osD^v<>"))
    fig, axes = new_figure(4, len(zs), panel=(3.6, 2.7))
    panels = [("failure rate", sweep[sweep.stat == "failure_rate"], "linear"),
              ("inactive on MSE", _at_last(sweep, "inactive", "on"), "log"),
              ("active payload MSE", _at_last(sweep, "active", "payload"), "log")]
    for row, (label, part, scale) in enumerate(panels):
        for ax, z in zip(axes[row], zs):
            sub = part[part.n_active == z].sort_values("load")
            if scale == "log":
                sub = sub[sub.measured > 0]
            sns.lineplot(sub, x="load", y="measured", hue="option", style="width", markers=markers, dashes=False,
                         units="width", estimator=None, palette=palette, hue_order=list(OPTIONS), ax=ax,
                         legend=False, lw=0.9, markersize=4)
            ax.set(xscale="log", yscale=scale, xlabel="load T (d/D)$^2$", ylabel=label if z == zs[0] else "",
                   xlim=(6e-4, 1.1e-2))
            ax.set_xticks([0.001, 0.002, 0.004, 0.008], ["0.001", "0.002", "0.004", "0.008"])
            ax.xaxis.set_minor_formatter(NullFormatter())
            for goal in (0.004, 0.008):
                ax.axvline(goal, ls=":", lw=0.8, color="0.3")
            if row == 0:
                ax.set_title(f"z = {z}")
                ax.set_ylim(-0.03, 1.03)
    for ax, z in zip(axes[3], zs):
        sub = bound[bound.n_active == z]
        if not len(sub):
            ax.set_axis_off()
            continue
        for i, lab in enumerate(labels):
            for j, D in enumerate(setting["boundary_widths"]):
                r = sub[(sub.option == lab) & (sub.width == D)]
                if not len(r):
                    continue
                r = r.iloc[0]
                x = i + (j - (len(setting["boundary_widths"]) - 1) / 2) * 0.3
                high = r.high if math.isfinite(r.high) else r.measured
                ax.errorbar([x], [r.measured], yerr=[[r.measured - r.low], [high - r.measured]], fmt="os"[j % 2],
                            color=palette[lab], ms=5, capsize=2, mfc="white" if r.capacity_reached else palette[lab])
        for j, D in enumerate(setting["boundary_widths"]):
            ax.axhline((D // D_SMALL // S) * (D_SMALL / D) ** 2, ls="--", lw=0.7, color="0.5")
        for goal in (0.004, 0.008):
            ax.axhline(goal, ls=":", lw=0.8, color="0.3")
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
        ax.set(yscale="log", ylabel="critical load" if z == zs[0] else "", xlabel="")
    handles = [Line2D([], [], color=palette[o], lw=2, label=o) for o in labels]
    handles += [Line2D([], [], ls="", marker=markers[D], color="0.4", label=f"sweep D = {D}") for D in widths]
    handles += [Line2D([], [], ls="", marker="os"[j % 2], color="0.4", label=f"boundary D = {D}")
                for j, D in enumerate(setting["boundary_widths"])]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=7)
    fig.suptitle(f"Error-correction options at equal D and T: rotation circuits, {params(S=S, L=L)} computation "
                 f"layers, capped\nrows 1-3: {setting['batch']} samples per network and z; failure: an "
                 f"on-indicator off by > {SEIZURE_THRESHOLD}; MSEs at computation layer {L}\n"
                 f"row 4: load where 1% of passes fail, median of {setting['seeds']} seeds x "
                 f"{setting['boundary_batch']} samples, interval bars (open: no crossing up to capacity);\n"
                 f"dashed: d/(S D), no sharing below; dotted: the loads 0.004 and 0.008", fontsize=8)
    return save(fig, frame, ctx.out_dir, "fig_error_correction")


def _at_last(sweep: pd.DataFrame, group: str, quantity: str) -> pd.DataFrame:
    """MSE rows of ``group``/``quantity`` at the last computation layer."""
    return sweep[(sweep.stat == "mse") & (sweep.group == group) & (sweep.quantity == quantity)
                 & (sweep.layer == L)]
