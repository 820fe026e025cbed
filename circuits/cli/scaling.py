"""``cis scaling``: the critical load at every width, the fitted law, theory beside it, a table and a figure."""

from __future__ import annotations

import json
import math
import pathlib

import circuits
from circuits import CircuitsError
from circuits.base import lazy_module
from circuits.measurement import CRITERIA

from ._args import (MAX_THREADS, add_dask_argument, add_output_arguments, add_run_arguments, add_spec_arguments,
                    count_of, dask_executor, given_values, grid_flags_checked, show_progress, to_json)

NAME = "scaling"
HELP = ("the critical load at each width (bisection over n_circuits, several seeds), its power law with the "
        "exponent's uncertainty, theory's prediction beside it; a tidy table and a figure")
DEFAULTS = {"n_layers": 4, "batch_size": 200}
WIDTHS = [1000, 2000, 4000, 8000, 16000, 32000, 64000]
#: The figure (matplotlib and seaborn: seconds to import), imported when the study is done and drawn.
fig_scaling = lazy_module("figures.fig_scaling")


def add_arguments(p) -> None:
    p.add_argument("--widths", type=count_of("widths", 1), nargs="+", default=WIDTHS, metavar="D",
                   help=f"the widths D, two or more (default: {' '.join(map(str, WIDTHS))})")
    p.add_argument("--criterion", default="payload", choices=list(CRITERIA), help="what failing means (default: "
                                                                                   "payload; see cis boundary --help)")
    p.add_argument("--level", type=float, default=None, help="the criterion's score to cross (default: its own)")
    p.add_argument("--n-seeds", type=int, default=2, help="independent bisections per width (default: 2)")
    p.add_argument("--rtol", type=float, default=0.05, help="relative resolution in T (default: 0.05)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for parts/ (finished widths, kept: a rerun resumes), results.parquet, fits.parquet "
                        "and scaling.png")
    p.add_argument("--workers", type=count_of("workers", 1, MAX_THREADS), default=1, help="processes (default: 1)")
    add_dask_argument(p)
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    add_output_arguments(p)
    add_run_arguments(p)
    add_spec_arguments(p, defaults=DEFAULTS, exclude=("width", "n_circuits"), many=True,
                       title="constructions (each flag takes one or more values; every combination is one line)")


def run(args) -> int:
    widths = args.widths
    if len(set(widths)) < 2:
        raise CircuitsError(f"widths must list at least two different widths, got {' '.join(map(str, widths))}",
                            parameter="widths")
    given = given_values(args)
    placeholder = max([64, *given.get("n_active", [])])  # n_circuits is searched; any valid value will do
    specs = grid_flags_checked({**DEFAULTS, **given, "width": widths[0], "n_circuits": placeholder},
                               {**given, "widths": widths}, aliases={"n_circuits": "n_active", "width": "widths"})
    if "n_active" not in given:  # one activation group unless asked (z = 1 for independent circuits)
        unique = {}
        for spec in specs:
            spec = spec.replace(n_active=spec.probe().groups.size)
            unique.setdefault(json.dumps(spec.to_dict(), sort_keys=True), spec)
        specs = list(unique.values())
    with dask_executor(args.dask) as executor:
        result = circuits.scaling(specs, widths, args.out, criterion=args.criterion, level=args.level,
                                  n_seeds=args.n_seeds, rtol=args.rtol, workers=args.workers, executor=executor,
                                  progress=show_progress(args), device=args.device, threads=args.threads,
                                  allow_large=args.yes)
    # the figures' drawing code (matplotlib, seaborn) is imported only now, so that a refused command stays quick
    import figures.fig_scaling as fig_scaling
    try:
        figure = fig_scaling.draw(result.table, result.fits, pathlib.Path(args.out) / "scaling.png")
    except OSError as err:  # the tables are written; the figure is not (a full disk): nothing half-written is left
        raise CircuitsError(f"cannot write the figure {pathlib.Path(args.out) / 'scaling.png'}: "
                            f"{err.strerror or err} (the tables are written)", parameter="out") from err
    if args.format == "json":
        print(to_json({"rows": result.table.to_dict("records"), "fits": result.fits.to_dict("records"),
                       "figure": str(figure) if figure else None}))
        return 0
    t = result.table
    print(f"criterion {args.criterion}; critical load T(d/D)^2 per width (median of {args.n_seeds} seeds, interval), "
          "theory's prediction beside ('never': not crossed below the assignment's capacity)")
    print(f"{'construction':<40} {'D':>7} {'critical':>10} {'low':>10} {'high':>10} {'theory':>10}")
    for r in t.to_dict("records"):
        high = "inf" if not math.isfinite(r["high"]) else f"{r['high']:.6f}"
        pred = ("never" if r["predicted"] == math.inf else "-" if not math.isfinite(r["predicted"])
                else f"{r['predicted']:.6f}")
        mark = " (no crossing: lower bound)" if r["capacity_reached"] else ""
        print(f"{r['construction'][:40]:<40} {r['width']:>7} {r['critical_load']:10.6f} {r['low']:10.6f} {high:>10} "
              f"{pred:>10}{mark}")
    for f in result.fits.to_dict("records"):
        if f["n_widths"] < 2:  # censored widths are left out of the fit
            crossed = int((~t[t.construction == f["construction"]].capacity_reached).sum())
            print(f"{f['construction']}: no power law: the criterion was crossed at {crossed} of the widths "
                  f"D = {f['min_width']}..{f['max_width']} (the others' critical loads are lower bounds)")
            continue
        print(f"{f['construction']}: critical load ~ D^{_number(f['exponent'], '.3f')} "
              f"+- {_number(f['exponent_se'], '.3f', 'n/a (needs 3 widths)')} over D = {f['min_width']}..{f['max_width']} "
              f"({f['n_widths']} widths with a crossing); theory's exponent "
              f"{_number(f['predicted_exponent'], '.3f', 'n/a (no prediction)')}")
    print(f"table: {args.out}/results.parquet, fits: {args.out}/fits.parquet"
          + (f", figure: {figure}" if figure else ""))
    return 0


def _number(value, fmt: str, missing: str = "n/a") -> str:
    """``value`` formatted, or ``missing`` where it is not a finite number."""
    return format(value, fmt) if value is not None and math.isfinite(value) else missing
