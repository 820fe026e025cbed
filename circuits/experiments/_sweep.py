"""Sweeps: evaluate every spec of a grid into one tidy, resumable table.

A *grid* maps spec keys (:func:`circuits.experiments.spec_keys`: ``system``, ``chain_length``,
``error_correction``, ``width``, ``n_circuits``, ..., ``seed``; dashes allowed as on the command
line) to a value or a list of values; its specs are the Cartesian product of the lists, in
the order of the spec keys. A list of such mappings is the union of their products (the load
sweep of the study's figures is one: its T range differs per width). A *run* is one spec:
one system, one network, one evaluation, with the seeds the spec derives
(:meth:`ExperimentSpec.seeds`), so a run's numbers do not depend on the grid it sits in, on
its position, or on the number of workers, and ``cis evaluate`` with the row's columns as flags
prints the same numbers.

Storage (``circuits/base/_storage.py``). ``out_dir/parts/<run id>.parquet`` holds one finished
run, written atomically, so a killed sweep leaves finished runs whole and nothing half-written
under a final name. Each part is sealed (Parquet page checksums, and a SHA-256 over its content and
its identity, the run's spec): a part damaged, edited, or moved from another run is noticed when
the table is assembled and run again, with a warning naming it. A rerun skips every run whose part
exists; what killed writers left in ``parts/`` is removed. ``out_dir/results.parquet``
(and ``results.csv`` on request) is assembled from the parts when all runs are done, rows in
grid order; ``out_dir/sweep.json`` records the grid, and a sweep refuses to write into a
directory that another grid made, or that another sweep is writing into (``out_dir/.lock``).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import fcntl
import hashlib
import itertools
import json
import math
import os
import pathlib
import time
import warnings
from typing import Callable, Iterable, Iterator, Mapping

import torch

from ..base import (CircuitsError, check_target, choose_threads, lazy_module, read_bytes, read_table, remove_stale_in,
                    require, require_bool, require_int, require_path, using_threads, write_file, write_table)
from ..construction import check_device
from ._budget import check_cost, check_total, estimate_cost
from ..measurement import failure_rate
from ._experiment import evaluate
from ._spec import ExperimentSpec, spec_keys

pd = lazy_module("pandas")

#: The most runs one grid may have (checked before any spec is made).
MAX_RUNS = 10000
#: Bump when the rows a run produces change (columns, or the numbers of the same spec), so old parts
#: are not reused.
PART_FORMAT = 4


# ----------------------------------------------------------------------------- the grid
def read_grid(path) -> dict | list:
    """Read a grid from a TOML (``.toml``) or JSON (any other suffix) file.

    Example file (TOML)::

        width = [800, 1000]
        n_circuits = [100, 200]
        n_active = [1, 2]
        batch_size = 200
        seed = [0, 1]
    """
    raw = read_bytes(require_path("grid", path), "grid", what="grid file")
    path = pathlib.Path(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CircuitsError(f"grid file {str(path)!r} cannot be read as text: {err}", parameter="grid") from err
    if path.suffix.lower() == ".toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError) as err:
            raise CircuitsError(f"grid file {str(path)!r} is not valid TOML: {err}", parameter="grid") from err
    try:
        grid = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise CircuitsError(f"grid file {str(path)!r} is not valid JSON: {err}", parameter="grid") from err
    require(isinstance(grid, (dict, list)), f"grid file {str(path)!r} must hold an object of key: [values] (or a "
                                            "list of them)", parameter="grid")
    return grid


def grid_specs(grid: Mapping | list) -> list[ExperimentSpec]:
    """Every spec of a grid (a mapping, or a list of mappings for a union), checked before any work.

    Raises:
        CircuitsError: an unknown key, a value out of range, or a spec that cannot be built,
            naming the key and the spec.

    Example:
        >>> specs = grid_specs({"width": [800, 1000], "n_circuits": 100, "n_layers": 2, "seed": [0, 1]})
        >>> len(specs), specs[-1].width, specs[-1].seed
        (4, 1000, 1)
        >>> grid_specs({"widht": [800]})
        Traceback (most recent call last):
        ...
        circuits.CircuitsError: unknown grid key 'widht'; allowed: system, chain_length, preset, error_correction, width, n_circuits, redundancy, n_layers, weight_scheme, chi_scale, assignment, n_active, batch_size, ideal, seed
    """
    parts = grid if isinstance(grid, list) else [grid]
    require(len(parts) >= 1, "a grid needs at least one mapping of key: [values]", parameter="grid")
    keys = spec_keys()
    specs, seen, runs = [], set(), 0
    for part in parts:
        require(isinstance(part, Mapping), f"a grid is a mapping of key: [values] (or a list of them), got "
                                           f"{type(part).__name__}", parameter="grid")
        require(len(part) >= 1, "a grid's mapping needs at least one key (an empty one is a mistake: write the "
                                "spec's fields)", parameter="grid")
        axes = {}
        for raw, values in part.items():
            key = str(raw).replace("-", "_")
            if key not in keys:
                raise CircuitsError(f"unknown grid key {raw!r}; allowed: {', '.join(keys)}", parameter="grid")
            require(key not in axes, f"grid key {key!r} is given twice", parameter="grid")
            values = list(values) if isinstance(values, (list, tuple)) else [values]
            require(len(values) >= 1, f"grid key {key!r} has an empty list of values", parameter="grid")
            axes[key] = values
        ordered = [k for k in keys if k in axes]
        runs += math.prod(len(axes[k]) for k in ordered)
        require(runs <= MAX_RUNS, f"the grid has more than {MAX_RUNS} runs ({runs} so far); split it into several "
                                  "sweeps", parameter="grid")
    for part in parts:
        axes = {str(raw).replace("-", "_"): list(v) if isinstance(v, (list, tuple)) else [v] for raw, v in part.items()}
        ordered = [k for k in keys if k in axes]
        for combo in itertools.product(*(axes[k] for k in ordered)):
            values = dict(zip(ordered, combo))
            try:
                spec = ExperimentSpec.from_dict(values)
            except CircuitsError as err:
                where = ", ".join(f"{k}={v}" for k, v in values.items())
                raise CircuitsError(f"grid key {err.parameter!r}: {err} (spec {where})", parameter="grid") from err
            ident = json.dumps(spec.to_dict(), sort_keys=True)
            if ident not in seen:
                seen.add(ident)
                specs.append(spec)
    return specs


def run_id(spec: ExperimentSpec) -> str:
    """The name of a run's part file: a hash of the part format and the spec."""
    text = json.dumps([PART_FORMAT, spec.to_dict()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


# ----------------------------------------------------------------------------- one run
def run_rows(spec: ExperimentSpec, device: str = "cpu") -> pd.DataFrame:
    """Build and evaluate one spec on the current threads; its long-form rows (see :func:`sweep`)."""
    ev = evaluate(spec, device=device, threads=torch.get_num_threads(), allow_large=True)
    c = ev.config
    front = {**spec.to_dict(), "circuit_width": c["circuit_width"], "base_width": c["base_width"],
             "network_layers": c["network_layers"], "load": float(ev.load), "tuned_chi_scale": c["tuned_chi_scale"],
             "failure_rate": failure_rate(ev), "seizure_layer": ev.seizure_layer,
             **{k: c[k] for k in ("system_seed", "network_seed", "evaluation_seed", "calibration_seed")}}
    table = ev.table.reset_index(drop=True)
    rows = pd.DataFrame({k: [v] * len(table) for k, v in front.items()})
    rows["seizure_layer"] = rows["seizure_layer"].astype("Int64")
    return pd.concat([rows, table], axis=1)


def _run_task(task: tuple) -> tuple[str, pd.DataFrame]:
    """One run for a worker (module level, so process pools can pickle it), on its share of threads."""
    spec, device, threads = task
    with using_threads(threads):
        return run_id(spec), run_rows(spec, device)


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

        yield from Parallel(n_jobs=min(workers, len(tasks)), return_as="generator_unordered")(
            delayed(fn)(t) for t in tasks)


def _part_identity(spec: ExperimentSpec) -> dict:
    """What a sweep part belongs to: its run's spec."""
    return {"run": spec.to_dict()}


def _read_part(path: pathlib.Path, spec: ExperimentSpec) -> pd.DataFrame | None:
    """A run's part, or ``None`` (with a warning naming it) when it is damaged, edited or another run's."""
    try:
        return read_table(path, "sweep-part", PART_FORMAT, identity=_part_identity(spec))
    except CircuitsError as err:
        warnings.warn(f"sweep: {err}; running it again", stacklevel=3)
        return None


# ------------------------------------------------------------------------------- sweep
def sweep(grid, out_dir, *, workers: int = 1, executor=None, progress: bool = True, csv: bool = False,
          device: str = "cpu", threads: int | None = None, wait: bool = False, allow_large: bool = False
          ) -> pd.DataFrame:
    """Evaluate every spec of ``grid``; resumable; returns the table.

    Args:
        grid: a mapping of spec keys to a value or a list of values, a list of such mappings (a
            union), or the path of a TOML/JSON file holding one (:func:`read_grid`).
        out_dir: folder for ``parts/``, ``results.parquet`` (``results.csv``) and ``sweep.json``.
        workers: processes on this machine (joblib); the table does not depend on it.
        executor: run through this ``concurrent.futures``-like executor instead (e.g. Dask:
            ``distributed.Client(...).get_executor()``).
        progress: tqdm bar over runs, with the estimated time left.
        csv: also write ``results.csv``.
        device: torch device of the forward passes (not part of a run's identity).
        threads: torch threads per worker; default: the cores free now, shared among the workers
            (one each when there are as many workers as cores). The table does not depend on it.
        wait: when another sweep is writing into ``out_dir``, wait for it instead of refusing.
        allow_large: run specs whose estimated cost exceeds the machine (refused otherwise).

    Returns:
        The long-form table, one row per (spec, layer, circuit_state, depth, quantity, stat):
        ``run`` (position in the grid), every spec key (:meth:`ExperimentSpec.to_dict`; a system
        parameter is empty on rows of systems without it), ``circuit_width``, ``base_width``,
        ``network_layers``, ``load`` (T (d/D)^2, base d), ``tuned_chi_scale`` (chi's multiplier
        as built), ``failure_rate`` (fraction of samples with an on-indicator error > 0.25 at some
        layer), ``seizure_layer``, the derived seeds, and the evaluation table's columns
        (``layer``, ``computation_layer``, ``role``, ``circuit_state``, ``depth``, ``quantity``,
        ``stat``, ``measured``, ``predicted``).

    Raises:
        CircuitsError: a bad grid (unknown key, bad value, a spec that cannot be built), an
            output folder another grid made, or a bad argument, before any work.

    Example:
        >>> import tempfile
        >>> table = sweep({"width": 400, "n_circuits": [40, 80], "n_layers": 2, "n_active": 1,
        ...                "batch_size": 20}, tempfile.mkdtemp(), progress=False)
        >>> table.groupby("n_circuits").size().to_dict()
        {40: 32, 80: 32}
    """
    if isinstance(grid, (str, os.PathLike)):
        grid = read_grid(grid)
    specs = grid_specs(grid)
    progress, csv, wait = require_bool("progress", progress), require_bool("csv", csv), require_bool("wait", wait)
    workers = require_int("workers", workers, 1, 1024)
    require(executor is None or callable(getattr(executor, "submit", None)),
            "executor must have a submit(fn, *args) method (a concurrent.futures-like executor)", parameter="executor")
    device = check_device(device)
    for spec in specs:  # every run measured against the machine before any work
        check_cost(spec, allow=allow_large)
    check_total(sum(estimate_cost(spec).seconds_ceiling for spec in specs), f"sweep of {len(specs)} runs",
                allow=allow_large)
    per_task = (threads or 1) if executor is not None else choose_threads(threads, workers=min(workers, len(specs)))
    out = check_target(require_path("out", out_dir), "out", folder=True)
    record = {"grid": grid, "runs": [run_id(s) for s in specs], "part_format": PART_FORMAT}
    try:
        parts = out / "parts"
        check_target(parts, "out", folder=True)
        parts.mkdir(parents=True, exist_ok=True)
        with folder_lock(out, wait=wait):
            _check_record(out / "sweep.json", record)
            remove_stale_in(parts)
            for name in ("results.parquet", "results.csv", *(f"parts/{i}.parquet" for i in record["runs"])):
                check_target(out / name, "out")  # a folder or a special file where a file goes: refused, before work
            write_file(out / "sweep.json", json.dumps(record, indent=2, default=str).encode())
            by_id = {run_id(s): s for s in specs}
            todo = [s for s in specs if not (parts / f"{run_id(s)}.parquet").exists()]
            tasks = [(s, device, per_task) for s in todo]
            for name, rows in map_completed(_run_task, tasks, workers=workers, executor=executor,
                                            progress="sweep" if progress else None, done=len(specs) - len(todo)):
                write_table(rows, parts / f"{name}.parquet", "sweep-part", PART_FORMAT, _part_identity(by_id[name]))
            frames = []
            for i, spec in enumerate(specs):
                rows = _read_part(parts / f"{run_id(spec)}.parquet", spec)
                if rows is None:  # damaged or moved after it was written: run it again (the same numbers)
                    name, rows = _run_task((spec, device, per_task))
                    write_table(rows, parts / f"{name}.parquet", "sweep-part", PART_FORMAT, _part_identity(spec))
                rows.insert(0, "run", i)
                frames.append(rows)
            table = pd.concat(frames, ignore_index=True)
            first = ["run", *[k for k in spec_keys() if k in table.columns]]
            table = table[first + [c for c in table.columns if c not in first]]
            write_table(table, out / "results.parquet", "sweep-table", PART_FORMAT, {"runs": record["runs"]})
            if csv:
                write_file(out / "results.csv", lambda p: table.to_csv(p, index=False))
    except OSError as err:
        raise CircuitsError(f"cannot write the sweep into {str(out)!r}: {err.strerror or err}", parameter="out") from err
    return table


def _check_record(made: pathlib.Path, record: dict) -> None:
    """Refuse a folder whose ``sweep.json`` lists other runs (another grid made it)."""
    if not os.path.lexists(made):
        return
    text = read_bytes(made, "out")  # a FIFO, a device or a folder there is refused by what it is
    try:
        before = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise CircuitsError(f"{made} is not readable ({err}); remove the folder or choose another out_dir",
                            parameter="out") from err
    require(isinstance(before, dict) and before.get("runs") == record["runs"],
            f"{made.parent} holds a sweep of another grid (its sweep.json lists other runs); give another out_dir or "
            "remove that folder", parameter="out")


@contextlib.contextmanager
def folder_lock(folder: pathlib.Path, *, wait: bool = False):
    """Hold an exclusive lock on ``folder`` (``folder/.lock``, ``fcntl.flock``) for the block.

    Another holder makes this refuse at once, naming it (process id and start time), or, with
    ``wait``, block until it is done. The lock goes with the process, so a killed sweep leaves none.
    """
    path = check_target(folder / ".lock", "out")  # a FIFO or a device there would block or fail
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise CircuitsError(f"another sweep ({holder}) is writing into {str(folder)!r}; wait for it to finish "
                                "or pass wait=True", parameter="out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
