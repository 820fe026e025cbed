"""``cis dataset``: draw a data set for a network (--network DIR, or built from the flags) into a safetensors file."""

from __future__ import annotations

import circuits
from circuits.base import check_target, require_path, using_threads

from ._args import add_output_arguments, add_run_arguments, add_spec_arguments, as_flag, spec_from_args, to_json
from .evaluate import loaded_spec

NAME = "dataset"
HELP = ("draw a data set for a network (--network DIR, or built from the spec's flags): inputs, active circuits, "
        "payloads, optionally every layer's activations and the small circuits' reference run, as safetensors")
DEFAULTS = {"batch_size": 1000}


def add_arguments(p) -> None:
    add_spec_arguments(p, defaults=DEFAULTS, exclude=("ideal",))
    g = p.add_argument_group("data set")
    g.add_argument("--network", metavar="DIR", default=None,
                   help="the network saved in DIR (by cis build or cis zoo); the spec's other flags, if given, must "
                        "match it; --batch-size, --n-active and --seed set the draws")
    g.add_argument("--out", required=True, metavar="FILE", help="the .safetensors file to write")
    g.add_argument("--activations", action="store_true", help="also every network layer's activations (L+1, B, D)")
    g.add_argument("--reference", action="store_true", help="also the small circuits' own run (on-indicators, "
                                                            "payloads, activations)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing FILE")
    add_output_arguments(p, progress=False)
    add_run_arguments(p)
    p.set_defaults(device="cpu")  # --network reads the network onto the CPU


def run(args) -> int:
    if check_target(require_path("out", args.out), "out").exists() and not args.overwrite:
        raise circuits.CircuitsError(f"out {args.out} exists; pass --overwrite to replace it", parameter="out")
    if args.network is not None:
        spec, net = loaded_spec(args)
    else:
        spec = spec_from_args(args)
        net = circuits.build(spec, allow_large=args.yes, threads=args.threads)
    truth = circuits.ground_truth(net)
    with using_threads(args.threads):
        data = truth.dataset(spec.batch_size, seed=spec.seed, n_active=spec.n_active, activations=args.activations,
                             reference=args.reference)
    with as_flag("path", "out"):
        path = data.save(args.out, overwrite=args.overwrite)
    if args.format == "json":
        print(to_json({"path": str(path), "info": data.info}))
    else:
        print(f"wrote {data!r} to {path}")
    return 0
