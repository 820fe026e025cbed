"""``cis figures``: regenerate the figures of the "Rotations in Superposition" study (and ours)."""

from __future__ import annotations

import circuits
from circuits.base import require_path, using_threads
from circuits.experiments import MAX_SEED

from ._args import add_run_arguments, count_of

NAME = "figures"
HELP = "regenerate the study's figures (PNG, with the data behind each as CSV)"


def add_arguments(p) -> None:
    p.add_argument("--only", default=None, metavar="NAMES",
                   help="comma-separated figure names to make, e.g. 5,8 (default: all; see figures/README.md)")
    p.add_argument("--out", default="figures/out", metavar="DIR", help="output directory (default: figures/out)")
    p.add_argument("--quick", action="store_true", help="small batches: the same figures in seconds, for CI")
    p.add_argument("--seed", type=count_of("seed", 0, MAX_SEED), default=0,
                   help="seeds every random choice (default: 0)")
    add_run_arguments(p, large=False)


def run(args) -> int:
    import figures  # the figures package sits beside the library, on top of its public API

    out = require_path("out", args.out)
    only = None if args.only is None else [name.strip() for name in args.only.split(",") if name.strip()]
    known = figures.figure_names()
    unknown = [name for name in only or () if name not in known]
    if unknown or only == []:
        raise circuits.CircuitsError(f"only must name figures among {', '.join(known)}; got "
                                     f"{unknown[0] if unknown else args.only!r}", parameter="only")
    try:
        out.mkdir(parents=True, exist_ok=True)  # an output the system refuses is refused before any work
        with using_threads(args.threads):
            figures.render(out, only=only, quick=args.quick, seed=args.seed)
    except OSError as err:
        raise circuits.CircuitsError(f"cannot write the figures into {str(out)!r}: {err.strerror or err}",
                                     parameter="out") from err
    return 0
