"""``cis figures``: regenerate the figures of the "Rotations in Superposition" study (and ours)."""

from __future__ import annotations

import circuits
import figures
from circuits.base import require_path, using_threads
from circuits.experiments import MAX_SEED

from ._args import add_output_arguments, add_run_arguments, count_of, to_json

NAME = "figures"
HELP = ("regenerate the study's figures and ours (PNG, with the data behind each as CSV), each under its name; "
        "--list shows the names")

#: Where the figures go without ``--out``.
DEFAULT_OUT = "figures/out"


def add_arguments(p) -> None:
    p.add_argument("--only", default=None, nargs="+", metavar="NAME",
                   help="the figures to make or list, by name, e.g. --only payload-error seizure (default: all; "
                        "see --list)")
    p.add_argument("--list", action="store_true",
                   help="print each figure's name, the number of the study's figure it regenerates and what it "
                        "shows (makes nothing; takes no --out)")
    p.add_argument("--out", default=None, metavar="DIR", help=f"output directory (default: {DEFAULT_OUT})")
    p.add_argument("--quick", action="store_true", help="small batches: the same figures in seconds, for CI")
    p.add_argument("--seed", type=count_of("seed", 0, MAX_SEED), default=0,
                   help="seeds every random choice (default: 0)")
    add_output_arguments(p, progress=False)
    add_run_arguments(p, large=False)


def run(args) -> int:
    names = figures.select_figures(args.only)  # unknown names and the study's numbers: refused before any work
    if args.list:
        if args.out is not None:
            raise circuits.CircuitsError("list makes nothing: leave out --out", parameter="list")
        entries = [entry for entry in figures.list_figures() if entry["name"] in names]
        if args.format == "json":
            print(to_json(entries))
            return 0
        for e in entries:
            study = f"study figure {e['study_figure']}" if e["study_figure"] is not None else "not in the study"
            print(f"{e['name']:<21} {study:<16}  {e['description']}")
        return 0
    out = require_path("out", DEFAULT_OUT if args.out is None else args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)  # an output the system refuses is refused before any work
        with using_threads(args.threads):
            written = figures.render(out, only=names, quick=args.quick, seed=args.seed,
                                     log=print if args.format == "table" else None)
    except OSError as err:
        raise circuits.CircuitsError(f"cannot write the figures into {str(out)!r}: {err.strerror or err}",
                                     parameter="out") from err
    if args.format == "json":
        print(to_json({name: [str(path) for path in paths] for name, paths in written.items()}))
    return 0
