"""``cis build``: build one network and save it to a directory (weights.safetensors + config.json)."""

from __future__ import annotations

from ._common import add_network_arguments, network_from_args

NAME = "build"
HELP = "build a network and save it to a directory that circuits.load and cis evaluate --load read"


def add_arguments(p) -> None:
    add_network_arguments(p, graphs=True)
    g = p.add_argument_group("output")
    g.add_argument("--out", required=True, metavar="DIR", help="directory to write (created; must be empty)")
    g.add_argument("--force", action="store_true", help="replace the saved network in a non-empty DIR")


def run(args) -> int:
    net, _ = network_from_args(args)
    path = net.save(args.out, overwrite=args.force, metadata={"built_by": "cis build", "cli_seed": args.seed})
    print(f"saved family={net.family.name} T={net.n_circuits} d={net.circuit_width} D={net.width} "
          f"S={net.redundancy} L={net.n_layers} method={net.config.method} to {path} "
          f"(evaluate it with: cis evaluate --load {path} --seed {args.seed})")
    return 0
