"""``cis figures``: regenerate the figures of the "Rotations in Superposition" study (and ours)."""

from __future__ import annotations

import circuits
import figures
from circuits.base import require_path, using_threads
from circuits.experiments import MAX_SEED

from ._args import add_run_arguments, count_of

NAME = "figures"
HELP = "regenerate the study's figures (PNG, with the data behind each as CSV)"


def add_arguments(p) -> None:
    p.add_argument("--only", default=None, nargs="+", metavar="NAME",
                   help="the figures to make, e.g. --only 5 8 (default: all; see figures/README.md)")
    p.add_argument("--out", default="figures/out", metavar="DIR", help="output directory (default: figures/out)")
    p.add_argument("--quick", action="store_true", help="small batches: the same figures in seconds, for CI")
    p.add_argument("--seed", type=count_of("seed", 0, MAX_SEED), default=0,
                   help="seeds every random choice (default: 0)")
    add_run_arguments(p, large=False)


def run(args) -> int:
    out = require_path("out", args.out)
    only = args.only
    known = figures.figure_names()
    unknown = [name for name in only or () if name not in known]
    if unknown:
        raise circuits.CircuitsError(f"only must name figures among {', '.join(known)}; got {unknown[0]!r}",
                                     parameter="only")
    try:
        out.mkdir(parents=True, exist_ok=True)  # an output the system refuses is refused before any work
        with using_threads(args.threads):
            figures.render(out, only=only, quick=args.quick, seed=args.seed)
    except OSError as err:
        raise circuits.CircuitsError(f"cannot write the figures into {str(out)!r}: {err.strerror or err}",
                                     parameter="out") from err
    return 0
