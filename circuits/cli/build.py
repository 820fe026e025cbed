"""``cis build``: build one network and save it to a directory (weights.safetensors + config.json)."""

from __future__ import annotations

import circuits

from ._args import add_run_arguments, add_spec_arguments, as_flag, spec_from_args

NAME = "build"
HELP = ("build a network and save it to a folder (weights.safetensors + config.json) that circuits.load_network "
        "and cis evaluate --network read")


def add_arguments(p) -> None:
    add_spec_arguments(p, exclude=("batch_size", "ideal"))
    g = p.add_argument_group("output")
    g.add_argument("--out", required=True, metavar="DIR", help="folder to write (created; must be empty)")
    g.add_argument("--overwrite", action="store_true", help="replace the network saved in DIR")
    add_run_arguments(p)


def run(args) -> int:
    spec = spec_from_args(args)
    net = circuits.build(spec, allow_large=args.yes, threads=args.threads)
    with as_flag("path", "out"):
        path = circuits.save_network(net, args.out, overwrite=args.overwrite, metadata={"built_by": "cis build"})
    print(f"saved {net!r} to {path} (evaluate it with: cis evaluate --network {path} --seed {spec.seed})")
    return 0
