"""What each error-correction option buys: errors, failure rate and regime boundary at equal D and T.

The options (``error_correction`` of :class:`circuits.ExperimentSpec`), each at the same D and T
(so an option that widens circuits pays with fewer neuron slots): ``none``, ``redundant:2``,
``cleanup``, ``tuned-chi``, ``step:0.45`` and ``step:0.45+tuned-chi``; rotation circuits, L = 4
computation layers, S = 6, prime-step assignment, capped weights.

Rows 1-3, against the load T (d/D)^2 (d = 4, the base circuit's width, for every option), one
column per z: the failure rate (a pass fails when some on-indicator, active or inactive, is read
off by more than 0.25 at some layer, clean-up layers included), the inactive circuits'
on-indicator MSE and the active circuits' payload MSE at the last computation layer. The runs
are one :func:`circuits.sweep` over the networks of the load sweep (the ``load-*`` figures) at D = 1200
and 1800, the widths of that sweep that ``redundant:2`` (d = 6) can use too (a width must be a
multiple of the circuit width); with the same spec, ``none`` repeats their numbers. Quick mode:
the smaller D = 600 (T = 60, 150) and 20 samples. ``redundant:2`` is missing where T exceeds
the assignment's capacity at its D/6 slots.

Row 4: the regime boundary (:func:`circuits.find_boundary`, the load where the failure rate
crosses 1%) per option at the same widths, median over seeds with the order-statistic interval;
the two rightmost use S = 4z + 1 (finite-field assignment, which holds more circuits at that S
than prime-step), for which an inactive circuit can share at most z neurons with active ones
and so reads at most z/S < 0.25 at layer 1. Dashed: d/(S D), below which no two circuits share
a neuron at S = 6; dotted: the loads 0.004 and 0.008.

CSV: ``kind`` = ``sweep`` rows (one per run and quantity: the spec's columns, ``load``,
``circuit_width``, ``tuned_chi_scale`` (chi's multiplier as built), and the evaluation table's
``layer, computation_layer, role, circuit_state, quantity, stat, measured, predicted``; a run's
failure rate is a row with ``stat`` = ``failure_rate`` and ``circuit_state`` = ``any``) and
``boundary`` rows (one per seed of each search: the spec's columns but ``n_circuits``, the
search's parameters and the crossing, see :func:`figures._data.boundary_rows`; ``label`` names
the series drawn).
"""

from __future__ import annotations

import math

import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from circuits import ON_ERROR, CircuitsError, ExperimentSpec
from circuits.experiments import LOAD_SWEEP_ROWS

from ._data import boundary, boundary_rows, run_sweep, spec_columns
from ._style import new_figure, params, save, seeds_phrase

#: The published study has no such figure.
STUDY_FIGURE = None

#: The boundary's criterion: a forward pass fails when some on-indicator is read off by more than 0.25.
CRITERION = "worst-readout"
#: The options compared, at S = 6.
OPTIONS = ("none", "redundant:2", "cleanup", "tuned-chi", "step:0.45", "step:0.45+tuned-chi")
#: Options also searched at S = 4z + 1 (finite-field assignment) in the boundary row.
SPREAD_OPTIONS = ("none", "step:0.45+tuned-chi")
#: The study's S and L.
S, L = 6, 4
#: Full run: widths and T of the load sweep (every T of those widths), z, samples; the boundary search.
FULL = {"networks": {D: list(range(first, last + 1, step)) for D, first, last, step in LOAD_SWEEP_ROWS
                     if D in (1200, 1800)},
        "active": (1, 2, 3), "batch": 500, "boundary_widths": (1200, 1800), "seeds": 3, "boundary_batch": 500,
        "rtol": 0.05}
#: Quick mode (seconds): one small network width, two T, z = 1, 2, tiny batches; one seed, coarse.
QUICK = {"networks": {600: [60, 150]}, "active": (1, 2), "batch": 20, "boundary_widths": (600,), "seeds": 1,
         "boundary_batch": 20, "rtol": 0.5}
#: Columns of the sweep rows (after the spec's).
SWEEP_COLUMNS = ["load", "circuit_width", "tuned_chi_scale", "layer", "computation_layer", "role", "circuit_state",
                 "quantity", "stat", "measured", "predicted"]


def _fits(values: dict) -> bool:
    """Whether the spec of ``values`` can be built (T within the assignment's capacity, D a
    multiple of the circuit width)."""
    try:
        ExperimentSpec.from_dict(values)
    except CircuitsError:
        return False
    return True


def sweep_grid(setting: dict, seed: int) -> list[dict]:
    """The sweep's grid: one mapping per (option, D), with the T that fit."""
    grid = []
    for option in OPTIONS:
        for D, ts in setting["networks"].items():
            base = {"system": "rotation", "error_correction": option, "width": D, "redundancy": S, "n_layers": L,
                    "batch_size": setting["batch"], "seed": seed}
            fits = [T for T in ts if _fits({**base, "n_circuits": T, "n_active": max(setting["active"])})]
            if fits:
                grid.append({**base, "n_circuits": fits, "n_active": list(setting["active"])})
    return grid


def sweep_frame(ctx, setting: dict) -> pd.DataFrame:
    """The ``sweep`` rows of the CSV (see the module docstring)."""
    table = run_sweep(ctx, "error-correction", sweep_grid(setting, ctx.seed))
    cols = [*spec_columns(table), *SWEEP_COLUMNS]
    mse = table[(table.stat == "mse") & (table.role == "computation") & table.depth.isna()]
    runs = table.drop_duplicates("run")
    rates = runs[[c for c in cols if c in SWEEP_COLUMNS[:3] or c not in SWEEP_COLUMNS] + ["run"]].assign(
        circuit_state="any", quantity="on", stat="failure_rate", measured=runs.failure_rate, first=0)
    frame = pd.concat([rates, mse.assign(first=1)]).sort_values(["run", "first"], kind="stable")
    frame = frame[cols].reset_index(drop=True)
    frame.insert(0, "kind", "sweep")
    return frame


def boundary_specs(setting: dict, seed: int) -> list[tuple[str, ExperimentSpec]]:
    """``(label, spec)`` of every boundary search of row 4."""
    jobs = [(o, o, S, "prime-step") for o in OPTIONS] + [(f"{o}, S=4z+1", o, None, "finite-field")
                                                          for o in SPREAD_OPTIONS]
    out = []
    for D in setting["boundary_widths"]:
        for z in setting["active"]:
            for label, option, redundancy, assignment in jobs:
                out.append((label, ExperimentSpec(system="rotation", error_correction=option, width=D, n_circuits=z,
                                                  redundancy=4 * z + 1 if redundancy is None else redundancy,
                                                  n_layers=L, assignment=assignment, n_active=z,
                                                  batch_size=setting["boundary_batch"], seed=seed)))
    return out


def boundary_frame(ctx, setting: dict) -> pd.DataFrame:
    """The ``boundary`` rows of the CSV: one per seed of each search."""
    rows = []
    for label, spec in boundary_specs(setting, ctx.seed):
        found = boundary(ctx, spec, criterion=CRITERION, n_seeds=setting["seeds"], rtol=setting["rtol"])
        d = spec.base_width
        rows += boundary_rows(found, spec, label=label, disjoint_load=(spec.width // d // S) * (d / spec.width) ** 2)
    frame = pd.DataFrame(rows)
    frame.insert(0, "kind", "boundary")
    return frame


def make(ctx):
    setting = QUICK if ctx.quick else FULL
    frame = pd.concat([sweep_frame(ctx, setting), boundary_frame(ctx, setting)], ignore_index=True)
    sweep = frame[frame.kind == "sweep"]
    bound = frame[frame.kind == "boundary"].drop_duplicates(["label", "width", "n_active"])
    zs = setting["active"]
    labels = list(bound.label.drop_duplicates())
    palette = dict(zip(labels, sns.color_palette("colorblind", len(labels))))
    b_widths = list(setting["boundary_widths"])
    markers = dict(zip(sorted({*sweep.width.unique().tolist(), *b_widths}), "osD^v<>"))  # a marker per D, all rows
    fig, axes = new_figure(4, len(zs), panel=(3.7, 2.8))
    panels = [("failure rate", sweep[sweep.stat == "failure_rate"], "linear"),
              (f"inactive on-indicator\nMSE at layer {L}", _at_last(sweep, "inactive", "on"), "log"),
              (f"active payload\nMSE at layer {L}", _at_last(sweep, "active", "payload"), "log")]
    loads = sweep.load
    xlim = (loads.min() / 1.3, loads.max() * 1.3)
    for row, (label, part, scale) in enumerate(panels):
        for ax, z in zip(axes[row], zs):
            sub = part[part.n_active == z].sort_values("load")
            if scale == "log":
                sub = sub[sub.measured > 0]
            sns.lineplot(sub, x="load", y="measured", hue="error_correction", style="width",
                         markers={D: m for D, m in markers.items() if D in set(sub.width)},
                         dashes=False, units="width", estimator=None, palette=palette, hue_order=list(OPTIONS),
                         ax=ax, legend=False, lw=0.9, markersize=4)
            ax.set(xscale="log", yscale=scale, xlabel="load T (d/D)$^2$", ylabel=label if z == zs[0] else "",
                   xlim=xlim)
            ticks = [t for t in (0.001, 0.002, 0.004, 0.008, 0.016) if xlim[0] <= t <= xlim[1]]
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.xaxis.set_minor_formatter(NullFormatter())
            for goal in (0.004, 0.008):
                ax.axvline(goal, ls=":", lw=0.8, color="0.3")
            if row == 0:
                ax.set_title(f"z = {z}")
                ax.set_ylim(-0.03, 1.03)
    for ax, z in zip(axes[3], zs):
        sub = bound[bound.n_active == z]
        for i, lab in enumerate(labels):
            for j, D in enumerate(b_widths):
                r = sub[(sub.label == lab) & (sub.width == D)]
                if not len(r):
                    continue
                r = r.iloc[0]
                x = i + (j - (len(b_widths) - 1) / 2) * 0.3
                high = r.interval_high if math.isfinite(r.interval_high) else r.critical_load
                ax.errorbar([x], [r.critical_load], yerr=[[r.critical_load - r.interval_low],
                                                          [high - r.critical_load]],
                            fmt=markers[D], color=palette[lab], ms=5, capsize=2,
                            mfc="white" if r.capacity_reached else palette[lab])
        for D in b_widths:
            ax.axhline(bound[bound.width == D].disjoint_load.iloc[0], ls="--", lw=0.7, color="0.5")
        for goal in (0.004, 0.008):
            ax.axhline(goal, ls=":", lw=0.8, color="0.3")
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
        ax.set(yscale="log", ylabel="critical load T (d/D)$^2$\n(1% of passes fail)" if z == zs[0] else "",
               xlabel="error-correction option", title=f"regime boundary, z = {z}")
    handles = [Line2D([], [], color=palette[o], lw=2, label=o) for o in labels]
    handles += [Line2D([], [], ls="", marker=m, color="0.4", label=f"D = {D}") for D, m in markers.items()]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=7, title_fontsize=7,
               title="option (colour), width (marker)")
    n = setting["seeds"]
    fig.suptitle(f"Error-correction options at equal D and T: rotation circuits, {params(S=S, L=L)} computation "
                 f"layers, capped\nrows 1-3: {setting['batch']} samples per network and z; failure: an "
                 f"on-indicator off by > {ON_ERROR} at some layer\n"
                 f"row 4: load where 1% of passes fail, {seeds_phrase(n, bound.coverage.min())}"
                 f"{', as bars' if n > 1 else ''}, {setting['boundary_batch']} samples per point "
                 f"(open marker: no crossing up to capacity)\n"
                 f"dashed: d/(S D), no two circuits share a neuron below; dotted: the loads 0.004 and 0.008",
                 fontsize=8)
    return save(fig, frame, ctx.out_dir, __name__)


def _at_last(sweep: pd.DataFrame, state: str, quantity: str) -> pd.DataFrame:
    """MSE rows of ``state``/``quantity`` at the last computation layer."""
    return sweep[(sweep.stat == "mse") & (sweep.circuit_state == state) & (sweep.quantity == quantity)
                 & (sweep.computation_layer == L)]
