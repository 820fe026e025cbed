"""Sweeps: evaluate every configuration of a grid into one tidy, resumable table.

A *grid* maps the CLI's long flag names to lists of values (see :data:`GRID_KEYS`), plus
``seeds``, the number of independent seeds per configuration. Its configurations are the
Cartesian product of the lists, in the order of :data:`GRID_KEYS`; a *run* is one
(configuration, seed): one family, one network, one evaluation.

Seeds. Every run's three seeds (circuits, network, draws) come from the one root seed
through ``numpy.random.SeedSequence(root_seed, spawn_key=...)``, the spawn key made of a
hash of the parameters the seed is for and the seed index. The circuits depend on
``(family, circuits)``, the network on the network's parameters, the draws on everything:
so two configurations that differ only in ``active`` share their network (paired
comparisons), and a run's numbers do not depend on the grid it sits in, on its position, or
on the number of workers.

Storage. ``out_dir/parts/<run id>.parquet`` holds one finished run; it is written to a
temporary file and moved into place with ``os.replace``, so a killed sweep leaves finished
runs whole and nothing half-written under a final name. A rerun skips every run whose part
exists. ``out_dir/results.parquet`` (and ``results.csv`` on request) is assembled from the
parts when all runs are done, rows in grid order; ``out_dir/sweep.json`` records the grid.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import itertools
import json
import math
import os
import pathlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np
import pandas as pd

from ._assignment import ASSIGNMENTS, capacity
from ._builder import METHODS, build
from ._errors import CircuitsError, require, require_int
from ._evaluate import evaluate
from ._families import FAMILIES, make_family

#: Grid keys (the CLI's long flag names) and their defaults (the CLI's defaults).
GRID_KEYS: dict[str, Any] = {
    "family": "rotation",
    "width": 1000,
    "circuits": 557,
    "redundancy": 6,
    "layers": 5,
    "method": "capped",
    "chi-scale": 1.0,
    "assignment": "prime-step",
    "active": 2,
    "batch": 5000,
    "ideal": False,
}
#: Keys that determine the network (and so its seed); the rest only the evaluation.
_NETWORK_KEYS = ("family", "width", "circuits", "redundancy", "layers", "method", "chi-scale", "assignment")
_FAMILY_KEYS = ("family", "circuits")
#: Bump when the rows a run produces change, so old parts are not reused.
_PART_FORMAT = 1


def column_name(key: str) -> str:
    """The table column of a grid key: ``chi-scale`` -> ``chi_scale``."""
    return key.replace("-", "_")


# ----------------------------------------------------------------------------- the grid
def read_grid(path) -> dict:
    """Read a grid from a TOML (``.toml``) or JSON (any other suffix) file.

    Example file (TOML)::

        width = [800, 1000]
        circuits = [100, 200]
        active = [1, 2]
        batch = 200
        seeds = 2
    """
    path = pathlib.Path(path)
    require(path.is_file(), f"grid file {str(path)!r} does not exist")
    text = path.read_text()
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # pragma: no cover (Python 3.10)
            try:
                import tomli as tomllib
            except ImportError as err:
                raise CircuitsError("reading a TOML grid needs Python >= 3.11 or tomli; use JSON") from err
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise CircuitsError(f"grid file {str(path)!r} is not valid TOML: {err}") from err
    try:
        grid = json.loads(text)
    except json.JSONDecodeError as err:
        raise CircuitsError(f"grid file {str(path)!r} is not valid JSON: {err}") from err
    require(isinstance(grid, dict), f"grid file {str(path)!r} must hold an object of key: [values]")
    return grid


@dataclass(frozen=True)
class Grid:
    """A checked grid: the values of every key (defaults filled in) and the seed count.

    Attributes:
        axes: ``(key, values)`` for every key of :data:`GRID_KEYS`, in that order.
        seeds: independent seeds per configuration (>= 1).
    """

    axes: tuple[tuple[str, tuple], ...]
    seeds: int

    def configurations(self) -> list[dict]:
        """Every configuration (key -> value), the Cartesian product in key order."""
        keys = [k for k, _ in self.axes]
        return [dict(zip(keys, values)) for values in itertools.product(*(v for _, v in self.axes))]

    def to_dict(self) -> dict:
        return {**{k: list(v) for k, v in self.axes}, "seeds": self.seeds}


def check_grid(grid: Mapping) -> Grid:
    """Check a grid mapping and fill in defaults; every configuration is checked too.

    Keys may be spelt with ``-`` or ``_``. Raises :class:`CircuitsError` naming the key (and
    the configuration) on an unknown key, a value of the wrong type or range, or a
    configuration that cannot be built (e.g. ``circuits`` above the assignment's capacity).

    Example:
        >>> g = check_grid({"width": [800, 1000], "circuits": 100, "seeds": 2})
        >>> len(g.configurations()), g.seeds
        (2, 2)
        >>> check_grid({"widht": [800]})
        Traceback (most recent call last):
        ...
        circuits._errors.CircuitsError: unknown grid key 'widht'; allowed: family, width, circuits, redundancy, layers, method, chi-scale, assignment, active, batch, ideal, seeds
    """
    require(isinstance(grid, Mapping), f"grid must be a mapping of key: [values], got {type(grid).__name__}")
    given: dict[str, Any] = {}
    for raw_key, value in grid.items():
        key = str(raw_key).replace("_", "-")
        if key not in GRID_KEYS and key != "seeds":
            raise CircuitsError(f"unknown grid key {raw_key!r}; allowed: {', '.join([*GRID_KEYS, 'seeds'])}")
        require(key not in given, f"grid key {key!r} is given twice")
        given[key] = value
    seeds = require_int("grid key 'seeds'", given.pop("seeds", 1), 1)
    axes = []
    for key, default in GRID_KEYS.items():
        values = given.get(key, [default])
        if not isinstance(values, (list, tuple)):
            values = [values]
        require(len(values) >= 1, f"grid key {key!r} has an empty list of values")
        values = tuple(_check_value(key, v) for v in values)
        dup = [v for v in values if values.count(v) > 1]
        if dup:
            raise CircuitsError(f"grid key {key!r} lists the value {dup[0]!r} more than once")
        axes.append((key, values))
    checked = Grid(axes=tuple(axes), seeds=seeds)
    for config in checked.configurations():
        _check_configuration(config)
    return checked


def _check_value(key: str, value):
    kind = type(GRID_KEYS[key])
    if kind is bool:
        require(isinstance(value, bool), f"grid key {key!r} takes true/false, got {value!r}")
        return value
    if kind is int:
        return require_int(f"grid key {key!r}", value, 1)
    if kind is float:
        require(isinstance(value, (int, float)) and not isinstance(value, bool),
                f"grid key {key!r} takes numbers, got {value!r}")
        require(math.isfinite(value) and value >= 0, f"grid key {key!r} must be finite and >= 0, got {value!r}")
        return float(value)
    registry = {"family": FAMILIES, "method": METHODS, "assignment": ASSIGNMENTS}[key]
    require(isinstance(value, str) and value in registry,
            f"grid key {key!r} must be one of {sorted(registry)}, got {value!r}")
    return value


def _check_configuration(c: dict) -> None:
    """The checks :func:`build` and :func:`evaluate` make, done before any work."""
    where = f" (configuration {_describe(c)})"
    probe = make_family(c["family"], 1, seed=0)
    d = probe.circuit_width
    require(c["width"] % d == 0, f"grid key 'width' must be a multiple of the circuit width d = {d}, "
                                 f"got {c['width']}{where}")
    n_slots = c["width"] // d
    require(c["redundancy"] <= n_slots, f"grid key 'redundancy' must be <= D/d = {n_slots}, "
                                        f"got {c['redundancy']}{where}")
    if c["circuits"] * c["redundancy"] > n_slots:
        cap = capacity(n_slots, c["redundancy"], c["assignment"])
        require(c["circuits"] <= cap, f"grid key 'circuits' = {c['circuits']} exceeds the capacity {cap} of "
                                      f"the {c['assignment']!r} assignment at D/d = {n_slots}, "
                                      f"S = {c['redundancy']}{where}")
    require(c["active"] <= c["circuits"], f"grid key 'active' must be <= circuits = {c['circuits']}, "
                                          f"got {c['active']}{where}")
    if probe.per_layer:
        n = probe.diff_w.shape[0]
        require(c["layers"] <= n, f"grid key 'layers' must be <= {n} for family {c['family']!r}{where}")


def _describe(c: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in c.items())


# ------------------------------------------------------------------------------- seeds
def keyed_seed(root_seed: int, purpose: str, identity: Mapping, seed_index: int) -> int:
    """A 32-bit seed for ``purpose`` from the root seed, keyed by ``identity`` and the seed index.

    ``SeedSequence(root_seed, spawn_key=(hash words..., seed_index))``: the child of the root
    that a spawn keyed by this identity gives, independent of every other identity.

    Example:
        >>> a = keyed_seed(0, "network", {"width": 800}, 0)
        >>> a == keyed_seed(0, "network", {"width": 800}, 0), a == keyed_seed(0, "network", {"width": 800}, 1)
        (True, False)
    """
    text = json.dumps([purpose, dict(identity)], sort_keys=True)
    words = np.frombuffer(hashlib.sha256(text.encode()).digest()[:16], dtype="<u4")
    seq = np.random.SeedSequence(root_seed, spawn_key=(*(int(w) for w in words), int(seed_index)))
    return int(seq.generate_state(1)[0])


@dataclass(frozen=True)
class Run:
    """One (configuration, seed) of a sweep: everything a worker needs.

    Attributes:
        config: key -> value (every key of :data:`GRID_KEYS`).
        seed_index: 0 .. seeds-1.
        family_seed, build_seed, eval_seed: derived from the root seed (see :func:`keyed_seed`).
        run_id: names the part file; a hash of the root seed, the configuration and the seed index.
        device: torch device of the forward pass.
    """

    config: tuple
    seed_index: int
    family_seed: int
    build_seed: int
    eval_seed: int
    run_id: str
    device: str = "cpu"


def plan_runs(grid: Grid, root_seed: int, device: str = "cpu") -> list[Run]:
    """The runs of a grid in table order: configurations in grid order, then seeds."""
    runs = []
    for config in grid.configurations():
        pick = lambda keys: {k: config[k] for k in keys}  # noqa: E731
        for s in range(grid.seeds):
            ident = json.dumps([_PART_FORMAT, int(root_seed), config, s], sort_keys=True)
            runs.append(Run(config=tuple(config.items()), seed_index=s,
                            family_seed=keyed_seed(root_seed, "family", pick(_FAMILY_KEYS), s),
                            build_seed=keyed_seed(root_seed, "network", pick(_NETWORK_KEYS), s),
                            eval_seed=keyed_seed(root_seed, "evaluation", config, s),
                            run_id=hashlib.sha256(ident.encode()).hexdigest()[:24], device=device))
    return runs


# ----------------------------------------------------------------------------- one run
def evaluate_run(run: Run) -> tuple[Run, pd.DataFrame]:
    """Build and evaluate one run; returns it with its rows (see :func:`sweep` for the columns)."""
    from ._boundary import failure_rate

    c = dict(run.config)
    family = make_family(c["family"], c["circuits"], seed=run.family_seed)
    net = build(family, width=c["width"], redundancy=c["redundancy"], n_layers=c["layers"], seed=run.build_seed,
                method=c["method"], chi_scale=c["chi-scale"], assignment=c["assignment"], device=run.device)
    ev = evaluate(net, n_active=c["active"], batch_size=c["batch"], seed=run.eval_seed, ideal=c["ideal"])
    front = {"seed": run.seed_index, **{column_name(k): v for k, v in c.items()},
             "circuit_width": family.circuit_width, "family_seed": run.family_seed,
             "build_seed": run.build_seed, "eval_seed": run.eval_seed, "load": float(ev.load),
             "failure_rate": failure_rate(ev), "seizure_layer": ev.seizure_layer}
    table = ev.table
    rows = pd.DataFrame({k: [v] * len(table) for k, v in front.items()})
    rows["seizure_layer"] = rows["seizure_layer"].astype("Int64")
    rows = pd.concat([rows, table.reset_index(drop=True)], axis=1)
    return run, rows


# ------------------------------------------------------------------------ parallel map
def map_completed(fn: Callable, tasks: Iterable, *, workers: int = 1, executor=None,
                  progress: str | None = None, done: int = 0) -> Iterator:
    """``fn(task)`` for every task, yielded as each finishes (order not guaranteed).

    ``executor`` is anything with ``submit(fn, arg)`` returning a future with ``result()``
    (``concurrent.futures`` executors; for Dask, ``client.get_executor()``); otherwise
    ``workers`` > 1 uses joblib processes and 1 runs here, in order. ``progress``, if given,
    labels a tqdm bar (with the time left) that counts ``done`` tasks as already finished.
    """
    tasks = list(tasks)
    if progress is None:
        yield from _map_completed(fn, tasks, workers, executor)
        return
    from tqdm.auto import tqdm

    with tqdm(total=len(tasks) + done, initial=done, desc=progress) as bar:
        for result in _map_completed(fn, tasks, workers, executor):
            yield result
            bar.update(1)


def _map_completed(fn, tasks, workers, executor):
    if executor is not None:
        futures = [executor.submit(fn, t) for t in tasks]
        if all(isinstance(f, cf.Future) for f in futures):
            for f in cf.as_completed(futures):
                yield f.result()
        else:
            for f in futures:
                yield f.result()
    elif workers == 1 or len(tasks) <= 1:
        for t in tasks:
            yield fn(t)
    else:
        from joblib import Parallel, delayed

        yield from Parallel(n_jobs=workers, return_as="generator_unordered")(delayed(fn)(t) for t in tasks)


def _write_atomic(path: pathlib.Path, write: Callable[[pathlib.Path], None]) -> None:
    """Write through a temporary file in the same folder, then move it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# ------------------------------------------------------------------------------- sweep
def sweep(grid, out_dir, *, root_seed: int, workers: int = 1, executor=None, progress: bool = True,
          csv: bool = False, device: str = "cpu") -> pd.DataFrame:
    """Evaluate every (configuration, seed) of ``grid``; resumable; returns the table.

    Args:
        grid: a mapping of grid keys (:data:`GRID_KEYS`, the CLI's long flag names) to a value
            or a list of values, plus ``seeds`` (runs per configuration, default 1); or the
            path of a TOML/JSON file holding one (:func:`read_grid`).
        out_dir: folder for ``parts/``, ``results.parquet`` (``results.csv``) and ``sweep.json``.
        root_seed: every run's seeds derive from it (see the module docstring).
        workers: processes on this machine (joblib); the table does not depend on it.
        executor: run through this ``concurrent.futures``-like executor instead (e.g. Dask:
            ``distributed.Client(...).get_executor()``).
        progress: tqdm bar over runs, with the estimated time left.
        csv: also write ``results.csv``.
        device: torch device of the forward passes (not part of a run's identity: parts made
            on one device are reused on another).

    Returns:
        The long-form table, one row per (configuration, seed, layer, group, quantity, stat):
        ``config`` (position in the grid), ``seed`` (index), one column per grid key
        (``chi-scale`` as ``chi_scale``), ``circuit_width`` (d), ``family_seed``,
        ``build_seed``, ``eval_seed``, ``load`` (T (d/D)^2), ``failure_rate`` (fraction of
        samples with an on-indicator error > 0.25 at some layer), ``seizure_layer``,
        ``layer``, ``group``, ``quantity``, ``stat``, ``measured``, ``predicted``.

    Raises:
        CircuitsError: a bad grid (unknown key, bad value, a configuration that cannot be
            built) or argument, before any work.

    Example:
        >>> import tempfile
        >>> table = sweep({"width": 400, "circuits": [40, 80], "layers": 2, "active": 1,
        ...                "batch": 20}, tempfile.mkdtemp(), root_seed=0, progress=False)
        >>> table.groupby("circuits").size().to_dict()
        {40: 16, 80: 16}
    """
    if isinstance(grid, (str, os.PathLike)):
        grid = read_grid(grid)
    checked = check_grid(grid)
    root_seed = require_int("root_seed", root_seed, 0)
    workers = require_int("workers", workers, 1)
    require(executor is None or callable(getattr(executor, "submit", None)),
            "executor must have a submit(fn, *args) method (a concurrent.futures-like executor)")
    out = pathlib.Path(out_dir)
    require(not out.exists() or out.is_dir(), f"out_dir {str(out)!r} exists and is not a folder")
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    for stale in parts.glob(".*.tmp"):  # left by a killed sweep; never read
        stale.unlink(missing_ok=True)
    _write_atomic(out / "sweep.json", lambda p: p.write_text(
        json.dumps({"grid": checked.to_dict(), "root_seed": root_seed}, indent=2)))

    runs = plan_runs(checked, root_seed, device)
    todo = [r for r in runs if not (parts / f"{r.run_id}.parquet").exists()]
    for run, rows in map_completed(evaluate_run, todo, workers=workers, executor=executor,
                                   progress="sweep" if progress else None, done=len(runs) - len(todo)):
        _write_atomic(parts / f"{run.run_id}.parquet", lambda p: rows.to_parquet(p, index=False))

    frames = []
    per_config = checked.seeds
    for i, run in enumerate(runs):
        rows = pd.read_parquet(parts / f"{run.run_id}.parquet")
        rows.insert(0, "config", i // per_config)
        frames.append(rows)
    table = pd.concat(frames, ignore_index=True)
    _write_atomic(out / "results.parquet", lambda p: table.to_parquet(p, index=False))
    if csv:
        _write_atomic(out / "results.csv", lambda p: table.to_csv(p, index=False))
    return table
