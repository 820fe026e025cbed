"""``cis scaling``: the critical load at every width, the fitted law, theory beside it, a table and a figure."""

from __future__ import annotations

import json
import math
import pathlib

import circuits
from circuits import CircuitsError
from circuits.measurement import CRITERIA

from ._args import (MAX_THREADS, add_run_arguments, add_spec_arguments, count_of, given_values, grid_flags_checked,
                    to_json)

NAME = "scaling"
HELP = ("the critical load at each width (bisection over n_circuits, several seeds), its power law with the "
        "exponent's uncertainty, theory's prediction beside it; a tidy table and a figure")
DEFAULTS = {"n_layers": 4, "batch_size": 200}
WIDTHS = "1000,2000,4000,8000,16000,32000,64000"


def _widths(text: str) -> list[int]:
    try:
        values = [int(float(v)) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if len(values) < 2:
        raise CircuitsError(f"widths must list at least two widths separated by commas, got {text!r}",
                            parameter="widths")
    return values


def add_arguments(p) -> None:
    p.add_argument("--widths", default=WIDTHS, help=f"the widths D, comma-separated (default: {WIDTHS})")
    p.add_argument("--criterion", default="payload", choices=list(CRITERIA), help="what failing means (default: "
                                                                                   "payload; see cis boundary --help)")
    p.add_argument("--level", type=float, default=None, help="the criterion's score to cross (default: its own)")
    p.add_argument("--n-seeds", type=int, default=2, help="independent bisections per width (default: 2)")
    p.add_argument("--rtol", type=float, default=0.05, help="relative resolution in T (default: 0.05)")
    p.add_argument("--out", default="scaling-out", metavar="DIR",
                   help="folder for parts/, results.parquet, fits.parquet and scaling.png (default: scaling-out)")
    p.add_argument("--workers", type=count_of("workers", 1, MAX_THREADS), default=1, help="processes (default: 1)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_run_arguments(p)
    add_spec_arguments(p, defaults=DEFAULTS, exclude=("width", "n_circuits"), many=True,
                       title="constructions (each flag takes one or more values; every combination is one line)")


def run(args) -> int:
    widths = _widths(args.widths)
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
    result = circuits.experiments.scaling(specs, widths, args.out, criterion=args.criterion, level=args.level,
                                          n_seeds=args.n_seeds, rtol=args.rtol, workers=args.workers,
                                          progress=not args.no_progress, device=args.device,
                                          threads=args.threads, allow_large=args.yes)
    figure = None
    try:
        import figures.fig_scaling as fig  # the plotting package sits beside the library

        figure = fig.draw(result.table, result.fits, pathlib.Path(args.out) / "scaling.png")
    except ImportError:  # pragma: no cover - figures not installed
        pass
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
        print(f"{f['construction']}: critical load ~ D^{f['exponent']:.3f} +- {f['exponent_se']:.3f} over "
              f"D = {f['min_width']}..{f['max_width']} ({f['n_widths']} widths); theory's exponent "
              f"{f['predicted_exponent']:.3f}")
    print(f"table: {args.out}/results.parquet, fits: {args.out}/fits.parquet"
          + (f", figure: {figure}" if figure else ""))
    return 0
