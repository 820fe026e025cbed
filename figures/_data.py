"""The measurements behind the figures: specs, evaluated once per run and shared through ``ctx.cache``.

Every number a figure draws comes from an :class:`circuits.ExperimentSpec`, through the public
API, and every CSV row that comes from an evaluation carries that spec's columns (the keys of
:meth:`ExperimentSpec.to_dict`), so that ``cis evaluate`` with those columns as flags, or
``circuits.evaluate(ExperimentSpec.from_dict(columns))``, prints the same numbers:

- the study's network (rotation circuits, D = 1000, T = 557, S = 6, L = 5, capped weights),
  one spec per z = 1, 2, 3 (:func:`study_spec`), evaluated by :func:`circuits.evaluate` where
  the figures need per-sample arrays (``payload-scatter``, ``rotation``, ``payload-scatter-z``,
  ``payload-error``, ``on-error``, ``fraction-on``);
- sweeps over spec grids (:func:`run_sweep`, :func:`circuits.sweep`): the study's load sweep
  of 41 networks (:func:`circuits.experiments.load_sweep_grid`, the four ``load-*`` figures and
  ``seizure``), the error-correction options, the chains; their finished runs are kept on disk
  under ``ctx.out_dir / "sweeps"``, so a rerun resumes;
- regime boundaries (:func:`boundary`, :func:`circuits.find_boundary`), kept on disk the same way.

Seeds: every spec's seed is ``ctx.seed`` (the library derives the system's, the network's and
the draws' seeds from the spec), so the same seed gives the same files. Figure-level choices
(which samples a panel shows) come from :func:`rng`.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from circuits import ExperimentSpec, build, evaluate, find_boundary, sweep
from circuits.base import write_file
from circuits.experiments import load_sweep_grid, spec_keys

from ._style import params

#: The study's network (every field of the spec but n_active, batch_size and seed).
STUDY = {"system": "rotation", "width": 1000, "n_circuits": 557, "redundancy": 6, "n_layers": 5}
#: Numbers of active circuits z evaluated on the study's network.
STUDY_ACTIVE = (1, 2, 3)
#: Random draws per z >= 2 on the study's network: a multiple of T (full run), or a number (--quick).
DRAWS_PER_CIRCUIT = 100
QUICK_DRAWS = 200
#: Samples of the load sweep per (network, z) in --quick (the full run uses the library's 500).
QUICK_SWEEP_BATCH = 20

# Independent figure-level random streams derived from the one seed.
_PICK = 4


def derive_seed(root: int, *keys: int) -> int:
    """A seed for the stream named by ``keys`` (small non-negative ints), derived from ``root``.

    Example:
        >>> derive_seed(0, 1) == derive_seed(0, 1) != derive_seed(0, 2)
        True
    """
    return int(np.random.SeedSequence([int(root), *map(int, keys)]).generate_state(1)[0])


def rng(ctx, *keys: int) -> np.random.Generator:
    """A generator for the figure-level choice named by ``keys`` (e.g. which samples to show)."""
    return np.random.default_rng(derive_seed(ctx.seed, _PICK, *keys))


# ---------------------------------------------------------------------- spec columns
def spec_columns(table: pd.DataFrame) -> list[str]:
    """The spec keys among ``table``'s columns, in the spec's order.

    Example:
        >>> spec_columns(pd.DataFrame(columns=["layer", "seed", "width", "system"]))
        ['system', 'width', 'seed']
    """
    return [k for k in spec_keys() if k in table.columns]


def with_spec(frame: pd.DataFrame, spec: ExperimentSpec, **extra) -> pd.DataFrame:
    """``frame`` with the spec's columns (and ``extra`` columns) in front, on every row.

    Example:
        >>> f = with_spec(pd.DataFrame({"layer": [0, 1]}), ExperimentSpec(width=800, n_circuits=100), load=0.0025)
        >>> list(f.columns)[:4], list(f.columns)[-2:], f.width.tolist()
        (['system', 'preset', 'error_correction', 'width'], ['load', 'layer'], [800, 800])
    """
    head = {**spec.to_dict(), **extra}
    front = pd.DataFrame({k: [v] * len(frame) for k, v in head.items()}, index=frame.index)
    return pd.concat([front, frame.drop(columns=[c for c in head if c in frame.columns])], axis=1)


def row_spec(row) -> ExperimentSpec:
    """The spec of one CSV row (a mapping or a pandas row): its spec columns, blanks dropped.

    Example:
        >>> row_spec({"system": "rotation", "width": 800, "n_circuits": 100, "layer": 3}).width
        800
    """
    values = {k: row[k] for k in spec_keys() if k in row.keys()}
    values = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in values.items()
              if not (isinstance(v, float) and math.isnan(v))}
    return ExperimentSpec.from_dict(values)


# ------------------------------------------------------------------ the study's network
def study_spec(ctx, n_active: int) -> ExperimentSpec:
    """The study's network at z = ``n_active``: ``T`` random draws for z = 1,
    ``100 T`` for z >= 2 (``--quick``: 200)."""
    T = STUDY["n_circuits"]
    batch = T if n_active == 1 else (QUICK_DRAWS if ctx.quick else DRAWS_PER_CIRCUIT * T)
    return ExperimentSpec(**STUDY, n_active=n_active, batch_size=batch, seed=ctx.seed)


def study_network(ctx):
    """The study's network (cached; the same for every z: the network's seed does not depend on z)."""
    if "study_network" not in ctx.cache:
        ctx.cache["study_network"] = build(study_spec(ctx, STUDY_ACTIVE[0]))
    return ctx.cache["study_network"]


def study_label() -> str:
    """``"rotation circuits, D = 1000, T = 557, S = 6, L = 5, capped"``: the study's network in a title."""
    sizes = params(D=STUDY["width"], T=STUDY["n_circuits"], S=STUDY["redundancy"], L=STUDY["n_layers"])
    return f"rotation circuits, {sizes}, capped"


def draws_label(ctx) -> str:
    """``"samples for z = 1, 2, 3: 557, 55700, 55700"``: the evaluations' sizes in a title."""
    return (f"samples for z = {', '.join(map(str, STUDY_ACTIVE))}: "
            + ", ".join(str(study_spec(ctx, z).batch_size) for z in STUDY_ACTIVE))


def study_evaluation(ctx, n_active: int):
    """:class:`circuits.Evaluation` of :func:`study_spec` ``(ctx, n_active)`` (cached)."""
    key = ("study_evaluation", n_active)
    if key not in ctx.cache:
        ctx.cache[key] = evaluate(study_spec(ctx, n_active), network=study_network(ctx), progress=not ctx.quick)
    return ctx.cache[key]


def study_errors(ctx) -> pd.DataFrame:
    """The evaluation tables of the study's network for z = 1, 2, 3, layers 0..L (cached).

    Columns: the spec's, ``load``, then the table's (``layer, computation_layer, role,
    circuit_state, quantity, stat, measured, predicted``; layer 0, role ``input``, is the input
    written into the network and read back, with no prediction).
    """
    if "study_errors" not in ctx.cache:
        frames = []
        for z in STUDY_ACTIVE:
            ev = study_evaluation(ctx, z)
            frames.append(with_spec(ev.table.drop(columns="depth"), study_spec(ctx, z), load=ev.load))
        ctx.cache["study_errors"] = pd.concat(frames, ignore_index=True)
    return ctx.cache["study_errors"]


# ----------------------------------------------------------------------------- sweeps
def sweep_dir(ctx, name: str) -> Path:
    """Where the sweep ``name`` keeps its runs: ``out_dir/sweeps/<name>[-quick]-seed<seed>``."""
    return Path(ctx.out_dir) / "sweeps" / f"{name}{'-quick' if ctx.quick else ''}-seed{ctx.seed}"


def run_sweep(ctx, name: str, grid) -> pd.DataFrame:
    """:func:`circuits.sweep` of ``grid`` into :func:`sweep_dir` (cached; resumes from disk)."""
    key = ("sweep", name)
    if key not in ctx.cache:
        ctx.cache[key] = sweep(grid, sweep_dir(ctx, name), progress=not ctx.quick)
    return ctx.cache[key]


def load_sweep_setting(ctx) -> dict:
    """The overrides of the load sweep's grid: ``--quick`` runs 20 samples per run instead of 500."""
    return {"batch_size": QUICK_SWEEP_BATCH} if ctx.quick else {}


def load_sweep(ctx) -> pd.DataFrame:
    """The study's load sweep (:func:`circuits.experiments.load_sweep_grid`): 41 networks (14 in
    ``--quick``), z = 1..4; the long-form table of :func:`circuits.sweep`, ``shares_neurons``
    (``T d > D``: the circuits cannot all have neurons of their own) added."""
    table = run_sweep(ctx, "load", load_sweep_grid(quick=ctx.quick, seed=ctx.seed, **load_sweep_setting(ctx)))
    return table.assign(shares_neurons=table.n_circuits * table.base_width > table.width)


def run_table(table: pd.DataFrame, extra=()) -> pd.DataFrame:
    """One row per run of a sweep table: the spec's columns, ``load``, ``extra`` columns."""
    return table.drop_duplicates("run")[[*spec_columns(table), "load", *extra]].reset_index(drop=True)


# --------------------------------------------------------------------------- boundaries
#: Entries of a boundary's ``config`` that are neither the spec's fields nor the search's parameters.
_DERIVED = ("circuit_width", "base_width", "low", "high")


def boundary(ctx, spec: ExperimentSpec, **search) -> dict:
    """:func:`circuits.find_boundary` ``(spec, **search)``, kept on disk (cached; a rerun reads it back).

    Returns:
        :meth:`circuits.Boundary.to_dict`.
    """
    config = {**{k: v for k, v in spec.to_dict().items() if k != "n_circuits"}, **search}
    name = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:24]
    path = Path(ctx.out_dir) / "sweeps" / "boundaries" / f"{name}.json"
    key = ("boundary", name)
    if key not in ctx.cache:
        if path.exists():
            found = json.loads(path.read_text())
        else:
            found = find_boundary(spec, progress=not ctx.quick, **search).to_dict()
            path.parent.mkdir(parents=True, exist_ok=True)
            write_file(path, json.dumps(found, indent=1).encode())
        ctx.cache[key] = found
    return ctx.cache[key]


def boundary_rows(found: dict, spec: ExperimentSpec, **extra) -> list[dict]:
    """One row per seed of a boundary (:func:`boundary`): the spec's columns but ``n_circuits``,
    the search's parameters, that seed's crossing and the median over seeds.

    Columns: spec columns (``seed``: the first seed, as given to ``cis boundary --seed``), the
    search's parameters as :func:`circuits.find_boundary` names them (``criterion, level,
    on_error, n_seeds, rtol, confidence``), ``crossing_seed`` (the seed of this row's bisection),
    ``crossing_below``, ``crossing_above`` (the largest T that passed, the smallest that failed),
    ``crossing_load`` (the load at their geometric mean; empty when no T up to capacity failed),
    ``critical_load``, ``interval_low``, ``interval_high``, ``coverage``, ``critical_circuits``,
    ``capacity``, ``capacity_load``, ``capacity_reached``, then ``extra``.
    """
    head = {k: v for k, v in spec.to_dict().items() if k != "n_circuits"}
    head.update({k: v for k, v in found["config"].items() if k not in head and k not in _DERIVED})
    low, high = found["interval"]
    summary = {"critical_load": found["critical_load"], "interval_low": low,
               "interval_high": math.nan if high is None or math.isinf(high) else high,
               "coverage": found["coverage"], "critical_circuits": found["critical_circuits"],
               "capacity": found["capacity"], "capacity_load": found["capacity_load"],
               "capacity_reached": found["capacity_reached"]}
    rows = []
    for s in found["seeds"]:
        load = s["critical_load"]
        rows.append({**head, "crossing_seed": s["seed"], "crossing_below": s["below"], "crossing_above": s["above"],
                     "crossing_load": math.nan if load is None or math.isinf(load) else load, **summary, **extra})
    return rows
