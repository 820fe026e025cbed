"""``cis build``: build one network and save it to a directory (weights.safetensors + config.json)."""

from __future__ import annotations

import circuits

from ._args import add_run_arguments, add_spec_arguments, as_flag, spec_from_args

NAME = "build"
HELP = "build a network and save it to a directory that circuits.load_network and cis evaluate --load read"


def add_arguments(p) -> None:
    add_spec_arguments(p, exclude=("batch_size", "ideal"))
    g = p.add_argument_group("output")
    g.add_argument("--out", required=True, metavar="DIR", help="directory to write (created; must be empty)")
    g.add_argument("--force", action="store_true", help="replace the saved network in a non-empty DIR")
    add_run_arguments(p)


def run(args) -> int:
    spec = spec_from_args(args)
    net = circuits.build(spec, allow_large=args.yes, threads=args.threads)
    with as_flag("path", "out"):
        path = circuits.save_network(net, args.out, overwrite=args.force, metadata={"built_by": "cis build"})
    print(f"saved {net!r} to {path} (evaluate it with: cis evaluate --load {path} --seed {spec.seed})")
    return 0
