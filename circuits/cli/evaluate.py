"""``cis evaluate``: build (or read with --network) one network and measure it against theory."""

from __future__ import annotations

import circuits
from circuits import CircuitsError
from circuits.experiments import ExperimentSpec

from ._args import (add_output_arguments, add_run_arguments, add_spec_arguments, as_flag, count_of, flag, format_table,
                    given_values, show_progress, spec_from_args, to_json, where_it_stands)

NAME = "evaluate"
HELP = ("build (or read with --network) a network and measure its errors per layer beside the theory: the active "
        "circuits' read-outs, the inactive circuits' (which should be 0), and the unowned slots that switched on")

#: The spec keys that only the evaluation uses (with --network, the rest come from the saved network).
EVALUATION_KEYS = ("n_active", "batch_size", "ideal", "seed")


def add_arguments(p) -> None:
    add_spec_arguments(p)
    g = p.add_argument_group("running")
    g.add_argument("--network", metavar="DIR", default=None,
                   help="use the network saved in DIR (by cis build or cis zoo) instead of building one; --n-active, "
                        "--batch-size, --ideal and --seed set the evaluation (--seed defaults to the saved spec's), "
                        "the spec's other fields come from the saved network (flags, if given, must match it)")
    g.add_argument("--device", default="cpu", help="torch device of the forward pass (default: cpu)")
    g.add_argument("--chunk-size", type=count_of("chunk_size", 1), default=None,
                   help="samples per forward pass (memory bound; results do not depend on it)")
    add_output_arguments(p)
    add_run_arguments(p)


def loaded_spec(args):
    """``(spec, network)`` for ``--network``: the saved network's spec with the evaluation flags typed."""
    with as_flag(("path", None), "network"):  # whatever is wrong with the directory is about --network
        net = circuits.load_network(args.network, device=args.device)
    saved = dict(net.provenance)
    if not saved:
        raise CircuitsError(f"the network in {args.network} was not built from a spec (no provenance in its "
                            "config.json); evaluate it from Python with circuits.evaluate(net, ...)",
                            parameter="network")
    given = given_values(args)
    for key, value in given.items():
        if key not in EVALUATION_KEYS and saved.get(key) != value:
            raise CircuitsError(f"{flag(key)} {value} conflicts with the network read from {args.network} "
                                f"({saved.get(key)}); leave it out with --network", parameter="network")
    values = {**saved, **{k: v for k, v in given.items() if k in EVALUATION_KEYS}}
    if "n_active" not in given:
        values["n_active"] = None
    if "batch_size" not in given:
        values["batch_size"] = args.spec_defaults["batch_size"]
    if "ideal" not in given:  # like z and B, the mode of evaluation is this command's, not the saved spec's
        values["ideal"] = False
    return ExperimentSpec.from_dict(values), net


def run(args) -> int:
    if args.network is not None:
        spec, net = loaded_spec(args)
    else:
        spec, net = spec_from_args(args), None
    with as_flag("network", "network"):  # a saved network that does not match the spec it records
        ev = circuits.evaluate(spec, network=net, device=args.device, chunk_size=args.chunk_size,
                               progress=show_progress(args), threads=args.threads, allow_large=args.yes)
    if args.format == "json":
        print(to_json(ev.to_dict()))
        return 0
    c = ev.config
    print(" ".join(f"{k}={c[k]}" for k in spec.to_dict()))
    print(where_it_stands(ev, spec))
    if spec.error_correction != "none":
        print(f"error correction {spec.error_correction}: d={c['circuit_width']} (base d={c['base_width']}), "
              f"{c['network_layers']} network layers, chi_scale as built {c['tuned_chi_scale']:g}")
    print(format_table(ev.table))
    print("first seizure layer (worst on-indicator error > 0.25):", ev.seizure_layer or "none")
    return 0
