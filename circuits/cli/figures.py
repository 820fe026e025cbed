"""``cis figures``: regenerate the figures of the "Rotations in Superposition" study (and ours)."""

from __future__ import annotations

NAME = "figures"
HELP = "regenerate the study's figures (PNG, with the data behind each as CSV)"


def add_arguments(p) -> None:
    p.add_argument("--only", default=None, metavar="NAMES",
                   help="comma-separated figure names to make, e.g. 5,8 (default: all; see figures/README.md)")
    p.add_argument("--out", default="figures/out", metavar="DIR", help="output directory (default: figures/out)")
    p.add_argument("--quick", action="store_true", help="small batches: the same figures in seconds, for CI")
    p.add_argument("--seed", type=int, default=0, help="seeds every random choice (default: 0)")


def run(args) -> int:
    import figures  # the figures package sits beside the library, on top of its public API

    only = None if args.only is None else [name for name in args.only.split(",") if name.strip()]
    figures.render(args.out, only=only, quick=args.quick, seed=args.seed)
    return 0
