"""``cis sweep``: evaluate every spec of a grid into DIR/results.parquet (resumable)."""

from __future__ import annotations

import circuits
from circuits.experiments import read_grid

from ._args import (MAX_THREADS, add_dask_argument, add_output_arguments, add_run_arguments, add_spec_arguments,
                    count_of, dask_executor, given_values, grid_flags_checked, show_progress, to_json)

NAME = "sweep"
HELP = "evaluate every spec of a grid (TOML/JSON file and/or flags) into DIR/results.parquet; resumable"


def add_arguments(p) -> None:
    p.add_argument("--grid", default=None, help="grid file: TOML (.toml) or JSON, keys = the spec's field names "
                                                "(the flags below without --)")
    p.add_argument("--out", required=True, help="output folder (parts/, results.parquet, sweep.json)")
    p.add_argument("--workers", type=count_of("workers", 1, MAX_THREADS), default=1,
                   help="processes on this machine (default: 1)")
    add_dask_argument(p)
    p.add_argument("--device", default="cpu", help="torch device of the forward passes (default: cpu)")
    p.add_argument("--csv", action="store_true", help="also write results.csv")
    p.add_argument("--wait", action="store_true", help="if another sweep is writing into --out, wait for it "
                                                       "(default: refuse)")
    add_output_arguments(p)
    add_run_arguments(p)
    add_spec_arguments(p, many=True, title="grid (each flag takes one or more values and overrides the file)")


def run(args) -> int:
    grid = read_grid(args.grid) if args.grid else {}
    flags = given_values(args)
    if flags:
        if isinstance(grid, list):
            grid = [{**{k: v for k, v in part.items() if k.replace("-", "_") not in flags}, **flags} for part in grid]
        else:
            grid = {**{k: v for k, v in grid.items() if k.replace("-", "_") not in flags}, **flags}
    grid_flags_checked(grid, flags)  # every spec checked before any work; a flag's bad value names the flag
    with dask_executor(args.dask) as executor:
        table = circuits.sweep(grid, args.out, workers=args.workers, executor=executor,
                               progress=show_progress(args), csv=args.csv, device=args.device,
                               threads=args.threads, wait=args.wait, allow_large=args.yes)
    runs = table.drop_duplicates("run")
    summary = {"out": str(args.out), "runs": len(runs), "rows": len(table)}
    if args.format == "json":
        print(to_json(summary))
        return 0
    print(f"{summary['rows']} rows from {summary['runs']} runs in {args.out}/results.parquet")
    cols = [c for c in ("run", "system", "width", "n_circuits", "n_active", "n_layers", "error_correction", "seed",
                        "load", "failure_rate") if c in runs.columns]
    print(runs[cols].to_string(index=False))
    return 0
