"""``cis sweep``: evaluate every configuration of a grid into DIR/results.parquet (resumable)."""

from __future__ import annotations

import argparse

from .._errors import CircuitsError
from .._sweep import GRID_KEYS, column_name, read_grid, sweep
from ._common import to_json

NAME = "sweep"
HELP = "evaluate every configuration of a grid (TOML/JSON file or flags) into DIR/results.parquet; resumable"


def _bool(text: str) -> bool:
    low = text.lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_arguments(p) -> None:
    p.add_argument("--grid", default=None, help="grid file: TOML (.toml) or JSON, keys = the long flag names below")
    p.add_argument("--out", required=True, help="output folder (parts/, results.parquet, sweep.json)")
    p.add_argument("--seed", type=int, default=0, help="root seed of every run (default: 0)")
    p.add_argument("--workers", type=int, default=1, help="processes on this machine (default: 1)")
    p.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="run on this Dask scheduler instead (needs the [dask] extra)")
    p.add_argument("--device", default="cpu", help="torch device of the forward passes (default: cpu)")
    p.add_argument("--csv", action="store_true", help="also write results.csv")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--format", choices=("table", "json"), default="table", help="summary format (default: table)")
    g = p.add_argument_group("grid (each flag takes one or more values and overrides the file)")
    for key, default in GRID_KEYS.items():
        kind = _bool if isinstance(default, bool) else type(default)
        g.add_argument(f"--{key}", type=kind, nargs="+", default=None, help=f"default: {default}")
    g.add_argument("--seeds", type=int, default=None, help="seeds per configuration (default: 1)")


def run(args) -> int:
    grid = dict(read_grid(args.grid)) if args.grid else {}
    for key in [*GRID_KEYS, "seeds"]:
        value = getattr(args, column_name(key))
        if value is not None:
            grid = {k: v for k, v in grid.items() if k.replace("_", "-") != key}
            grid[key] = value
    executor = None
    client = None
    if args.dask:
        try:
            from distributed import Client
        except ImportError as err:
            raise CircuitsError("--dask needs the optional extra: pip install 'circuits-in-superposition[dask]'") \
                from err
        client = Client(args.dask)
        executor = client.get_executor()
    try:
        table = sweep(grid, args.out, root_seed=args.seed, workers=args.workers, executor=executor,
                      progress=not args.no_progress, csv=args.csv, device=args.device)
    finally:
        if client is not None:
            client.close()
    runs = table[["config", "seed"]].drop_duplicates()
    summary = {"out": str(args.out), "configurations": int(runs["config"].nunique()), "runs": len(runs),
               "rows": len(table)}
    if args.format == "json":
        print(to_json(summary))
        return 0
    print(f"{summary['rows']} rows from {summary['runs']} runs ({summary['configurations']} configurations) "
          f"in {args.out}/results.parquet")
    per_run = table.drop_duplicates(["config", "seed"])
    cols = [c for c in ("config", "seed", "width", "circuits", "active", "layers", "load", "failure_rate")]
    print(per_run[cols].to_string(index=False))
    return 0
