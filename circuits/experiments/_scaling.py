"""The scaling study: the critical load at every width, the law it follows, and theory beside it.

:func:`scaling` runs :func:`circuits.find_boundary` for each construction (a spec: everything
but ``width`` and ``n_circuits``) at each width, fits ``critical load = a D^b`` by least squares
on the logarithms (the exponent ``b`` with its standard error from the residuals, censored
widths left out), and puts theory's prediction beside every measurement
(:func:`theory.critical_load` with the criterion's fitted mass, where one was fitted). Each
(construction, width) is one part file under ``out_dir`` written atomically as it finishes, so
an interrupted study resumes; processes and Dask as for :func:`circuits.sweep`.
"""

from __future__ import annotations

import hashlib
import json
import math
import pathlib
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..base import (CircuitsError, check_target, choose_threads, lazy_module, open_json, remove_stale_in, require,
                    require_array, require_bool, require_float, require_int, require_path, sealed_json, write_file,
                    write_table)
from ..construction import check_device
from ._boundary import checked_criterion, find_boundary, search_range
from ._budget import check_total, search_seconds
from ._presets import PRESET_FIELDS
from ._spec import ExperimentSpec
from ._sweep import folder_lock, map_completed

pd = lazy_module("pandas")

#: Bump when a part's content changes (or the numbers of the same spec), so old parts are not reused.
PART_FORMAT = 3
#: The most widths one study takes.
MAX_WIDTHS = 64
#: The study's working load, marked on the figure.
STUDY_LOAD = 0.004


@dataclass(frozen=True)
class Scaling:
    """What :func:`scaling` found.

    Attributes:
        table: one row per (construction, width): the spec's fields but ``width``/``n_circuits``,
            ``construction`` (a label), ``width``, ``criterion``, ``critical_load``, ``low``,
            ``high``, ``coverage``, ``critical_circuits``, ``capacity_reached``, ``seed_loads``
            (each seed's crossing, JSON), ``predicted`` (theory's critical load or NaN).
        fits: one row per construction: ``construction``, ``exponent``, ``exponent_se``,
            ``prefactor`` (the load at D = 1), ``n_widths`` used, ``widths`` range.
    """

    table: pd.DataFrame
    fits: pd.DataFrame = field(repr=False)


def construction_label(spec: ExperimentSpec, varied: list[str]) -> str:
    """A short label of a construction: its preset (``baseline`` without one) and the other fields that vary
    between the constructions of a study (z written ``z=``).

    Example:
        >>> construction_label(ExperimentSpec(n_active=2), ["n_active"])
        'baseline, z=2'
    """
    d = spec.to_dict()
    parts = [d["preset"] or "baseline"]
    for key in varied:
        if key == "preset" or (key in PRESET_FIELDS and "preset" in varied):
            continue  # a preset's choices (or their absence) are said by its name
        parts.append(f"z={d[key]}" if key == "n_active" else f"{key}={d[key]}")
    return ", ".join(parts)


def fit_power_law(widths, loads) -> tuple[float, float, float]:
    """``(b, se(b), a)`` of ``load = a D^b`` fitted by least squares on ``(log D, log load)``.

    The standard error comes from the residuals (NaN with fewer than three points).

    Example:
        >>> b, se, a = fit_power_law([1000, 2000, 4000], [0.004, 0.002, 0.001])
        >>> round(b, 6), round(a * 1000 ** b, 6)
        (-1.0, 0.004)
    """
    widths = require_array("widths", widths, ndim=1)
    loads = require_array("loads", loads, ndim=1)
    require(len(loads) == len(widths), f"loads must hold one load per width: {len(widths)} widths, got {len(loads)} "
                                       "loads", parameter="loads")
    require(bool(np.all(widths > 0)) and bool(np.all(loads > 0)),
            "a power law needs positive widths and loads (its fit is on their logarithms)", parameter="loads")
    require(len(np.unique(widths)) >= 2, f"a power law needs at least two different widths with a crossing, got "
                                        f"{len(np.unique(widths))}", parameter="widths")
    x, y = np.log(widths), np.log(loads)
    n = len(x)
    slope, intercept = np.polyfit(x, y, 1)
    if n < 3:
        return float(slope), math.nan, float(math.exp(intercept))
    resid = y - (slope * x + intercept)
    se = math.sqrt(float(resid @ resid) / (n - 2) / float(((x - x.mean()) ** 2).sum()))
    return float(slope), se, float(math.exp(intercept))


def _part_id(spec: ExperimentSpec, search: dict) -> str:
    text = json.dumps([PART_FORMAT, spec.to_dict(), search], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _boundary_task(task: tuple) -> tuple[str, dict]:
    """One (construction, width) boundary (module level, so process pools can pickle it)."""
    part, spec, search, device, threads = task
    b = find_boundary(spec, criterion=search["criterion"], level=search["level"], n_seeds=search["n_seeds"],
                      rtol=search["rtol"], device=device, threads=threads, allow_large=search["allow_large"])
    scale = b.capacity_load / b.capacity
    return part, {"critical_load": b.critical_load, "low": b.interval[0],
                  "high": b.interval[1] if math.isfinite(b.interval[1]) else None,
                  "coverage": b.coverage, "critical_circuits": b.critical_circuits,
                  "capacity_reached": b.capacity_reached, "capacity": b.capacity,
                  "seed_loads": [c.estimate * scale if math.isfinite(c.estimate) else None for c in b.crossings],
                  "search_high": b.config["high"]}


def scaling(specs, widths, out_dir, *, criterion: str = "payload", level: float | None = None, n_seeds: int = 2,
            rtol: float = 0.05, workers: int = 1, executor=None, progress: bool = True, device: str = "cpu",
            threads: int | None = None, allow_large: bool = False) -> Scaling:
    """Find the critical load of every construction at every width and fit its power law.

    Args:
        specs: one :class:`ExperimentSpec` or a list (one construction each; their ``width`` and
            ``n_circuits`` are replaced).
        widths: the widths D (each a multiple of every construction's circuit width).
        out_dir: folder for ``parts/``, ``results.parquet``, ``fits.parquet`` and ``scaling.json``.
        criterion, level, n_seeds, rtol: as for :func:`circuits.find_boundary`.
        workers, executor, progress, device: as for :func:`circuits.sweep` (one task per
            construction and width).
        threads: torch threads per task (default: the cores free now, shared among the workers, as for
            :func:`circuits.sweep`); the numbers do not depend on it.
        allow_large: search up to sizes whose estimated cost exceeds the machine.

    Returns:
        :class:`Scaling`.
    """
    specs = [specs] if isinstance(specs, ExperimentSpec) else list(specs)
    require(len(specs) >= 1 and all(isinstance(s, ExperimentSpec) for s in specs),
            "specs must be an ExperimentSpec or a list of them", parameter="specs")
    widths = sorted({require_int("widths", w, 1) for w in widths})
    require(2 <= len(widths) <= MAX_WIDTHS, f"widths must name 2..{MAX_WIDTHS} widths, got {len(widths)}",
            parameter="widths")
    n_seeds = require_int("n_seeds", n_seeds, 1, 1000)
    workers = require_int("workers", workers, 1, 1024)
    progress = require_bool("progress", progress)
    threads = None if threads is None else require_int("threads", threads, 1, 1024)
    device = check_device(device)
    for spec in specs:  # a criterion that cannot apply to a construction is refused before any work
        checked_criterion(spec, criterion, level)
    rtol = require_float("rtol", rtol, 0.0)
    dicts = [s.to_dict() for s in specs]
    varied = [k for k in dicts[0] if k not in ("width", "n_circuits") and len({json.dumps(d.get(k)) for d in dicts}) > 1]
    search = {"criterion": criterion, "level": level, "n_seeds": n_seeds, "rtol": rtol, "allow_large": allow_large}
    tasks, rows, seconds = [], [], 0.0
    for spec in specs:  # every spec checked (widths valid for every construction) before any work
        label = construction_label(spec, varied)
        for width in widths:
            try:
                at = spec.replace(width=width, n_circuits=max(spec.n_active, 1))
            except CircuitsError as err:
                raise CircuitsError(f"widths: {err}", parameter="widths") from err
            low, _, high = search_range(at, allow_large=allow_large)  # refuses what the machine cannot run
            seconds += search_seconds(at, low, high, n_seeds, rtol)
            part = _part_id(at, search)
            tasks.append((part, at, search, device, None))
            rows.append({**{k: v for k, v in at.to_dict().items() if k != "n_circuits"}, "construction": label,
                         "criterion": criterion, "part": part})
    check_total(seconds, "scaling study", allow=allow_large)
    per_task = (threads or 1) if executor is not None else choose_threads(threads, workers=min(workers, len(tasks)))
    tasks = [(part, at, search_, dev, per_task) for part, at, search_, dev, _ in tasks]
    by_part = {t[0]: t for t in tasks}
    out = check_target(require_path("out", out_dir), "out", folder=True)
    try:
        parts = out / "parts"
        check_target(parts, "out", folder=True)
        parts.mkdir(parents=True, exist_ok=True)
        with folder_lock(out):
            remove_stale_in(parts)
            for name in ("scaling.json", "results.parquet", "fits.parquet", *(f"parts/{p}.json" for p in by_part)):
                check_target(out / name, "out")  # a folder or a special file where a file goes: refused, before work
            write_file(out / "scaling.json", json.dumps({"specs": dicts, "widths": widths, "search": search},
                                                        indent=2).encode())
            todo = [t for t in tasks if not (parts / f"{t[0]}.json").exists()]
            for part, result in map_completed(_boundary_task, todo, workers=workers, executor=executor,
                                              progress="scaling" if progress else None, done=len(tasks) - len(todo)):
                _write_part(parts, part, by_part[part], result)
            for row, task in zip(rows, tasks):
                result = _read_part(parts, row["part"], task)
                if result is None:  # damaged, edited or another task's: run it again (the same numbers)
                    _, result = _boundary_task(task)
                    _write_part(parts, row["part"], task, result)
                row.update(result)
            table = pd.DataFrame(rows).drop(columns="part")
            table["seed_loads"] = table["seed_loads"].map(json.dumps)
            table["high"] = table["high"].astype(float)
            table["predicted"] = [ExperimentSpec.from_dict(
                {k: r[k] for k in dicts[0] if k != "n_circuits"} | {"n_circuits": max(r["n_active"], 1)}
            ).predicted_critical_load(criterion) for r in table.to_dict("records")]
            fits = _fits(table)
            study = {"specs": dicts, "widths": widths, "search": search}
            write_table(table, out / "results.parquet", "scaling-table", PART_FORMAT, study)
            write_table(fits, out / "fits.parquet", "scaling-fits", PART_FORMAT, study)
    except OSError as err:
        raise CircuitsError(f"cannot write the scaling study into {str(out)!r}: {err.strerror or err}",
                            parameter="out") from err
    return Scaling(table=table, fits=fits)


def _task_identity(task: tuple) -> dict:
    """What a part belongs to: the construction at its width (the spec) and the search."""
    _, spec, search, _, _ = task
    return {"spec": spec.to_dict(), "search": search}


def _write_part(parts: pathlib.Path, part: str, task: tuple, result: dict) -> None:
    write_file(parts / f"{part}.json", sealed_json("scaling-part", PART_FORMAT, _task_identity(task), result).encode())


def _read_part(parts: pathlib.Path, part: str, task: tuple) -> dict | None:
    """A task's finished part, or ``None`` (with a warning naming it) when it is damaged, edited or another
    task's (moved or swapped: its identity differs)."""
    try:
        result = open_json(parts / f"{part}.json", "scaling-part", PART_FORMAT, identity=_task_identity(task))
    except CircuitsError as err:
        warnings.warn(f"scaling: {err}; running it again", stacklevel=3)
        return None
    return result if isinstance(result, dict) else None


def _fits(table: pd.DataFrame) -> pd.DataFrame:
    """One power-law fit per construction over its uncensored widths."""
    out = []
    for label, grp in table.groupby("construction", sort=False):
        used = grp[~grp.capacity_reached]
        row = {"construction": label, "n_widths": len(used), "min_width": int(grp.width.min()),
               "max_width": int(grp.width.max()), "exponent": math.nan, "exponent_se": math.nan,
               "prefactor": math.nan, "predicted_exponent": math.nan}
        if len(used) >= 2:
            row["exponent"], row["exponent_se"], row["prefactor"] = fit_power_law(used.width, used.critical_load)
            pred = used[np.isfinite(used.predicted)]
            if len(pred) >= 2:
                row["predicted_exponent"] = fit_power_law(pred.width, pred.predicted)[0]
        out.append(row)
    return pd.DataFrame(out)
