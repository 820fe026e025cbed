"""``cis evaluate``: build one network and measure it against theory."""

from __future__ import annotations

from .._error_correction import computation_layers, parse_error_correction
from .._evaluate import evaluate
from .._graph import chain_rows
from ._common import (CHAIN_FAMILY, add_error_correction_argument, add_load_argument,
                      add_network_arguments, format_table, network_from_args, to_json)

FAN_IN_FAMILY = "rotation-fan-in"

NAME = "evaluate"
HELP = "build (or --load) a network and measure its errors per layer beside the theory"


def add_arguments(p) -> None:
    add_network_arguments(p, graphs=True)
    add_error_correction_argument(p)
    add_load_argument(p)
    g = p.add_argument_group("evaluation")
    g.add_argument("--active", type=int, default=None,
                   help=f"z, circuits active per sample (default: 2; with --family {CHAIN_FAMILY} or "
                        f"{FAN_IN_FAMILY}, one whole group: K, or 3 = two senders and a receiver; z must then be "
                        "a multiple of the group size)")
    g.add_argument("--batch", type=int, default=5000, help="B, samples (default: 5000)")
    g.add_argument("--ideal", action="store_true", help="replace ReLU by the active-neuron mask")
    g.add_argument("--chunk", type=int, default=None, help="samples per forward pass (memory bound)")
    g.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    g.add_argument("--progress", action="store_true", help="show a progress bar")


def run(args) -> int:
    args.error_correction = parse_error_correction(args.error_correction).spec
    if args.active is None and args.load is None:  # 2, or one whole group of a graph family
        args.active = {CHAIN_FAMILY: args.chain_length or 2, FAN_IN_FAMILY: 3}.get(args.family, 2)
    net, eval_seed = network_from_args(args)
    if args.active is None:
        args.active = net.family.params.get("group_size", 2) if net.graph is not None else 2
    chains = net.graph is not None
    compute = computation_layers(net)
    ev = evaluate(net, n_active=args.active, batch_size=args.batch, seed=eval_seed, ideal=args.ideal,
                  chunk_size=args.chunk, progress=args.progress)  # whole groups on a chains / fan-in network
    chain = chain_rows(ev, net.graph) if chains else None
    if args.format == "json":
        out = ev.to_dict()
        if chains:  # payload rows carry chain_position (depth in the graph): None on the totals
            out["rows"] = [{**r, "chain_position": None} if r["quantity"] == "payload" else r
                           for r in out["rows"]] + chain
            out["config"]["group_size"] = net.family.params.get("group_size")
            if "chain_length" in net.family.params:
                out["config"]["chain_length"] = net.family.params["chain_length"]
        out["config"]["cli_seed"] = args.seed
        out["config"]["error_correction"] = net.family.params.get("error_correction", "none")
        out["config"]["computation_layers"] = list(compute)
        print(to_json(out))
        return 0
    c = ev.config
    print(f"family={c['family']} T={c['n_circuits']} d={c['circuit_width']} D={c['width']} S={c['redundancy']} "
          f"L={c['n_layers']} z={c['n_active']} batch={c['batch_size']} method={c['method']} "
          f"load T(d/D)^2={ev.load:.5f}")
    correction = net.family.params.get("error_correction", "none")
    if correction != "none":
        clean = sorted(set(range(1, net.n_layers + 1)) - set(compute))
        base_d = net.circuit_width - 2 * (parse_error_correction(correction).redundant - 1)
        print(f"error correction {correction}: d={net.circuit_width} (base d={base_d}, load with it "
              f"{net.n_circuits * (base_d / net.width) ** 2:.5f}), chi_scale={net.config.chi_scale:g}; "
              f"computation layers {', '.join(map(str, compute))}"
              + (f"; clean-up layers {', '.join(map(str, clean))}" if clean else ""))
    print(format_table(ev.table))
    if chains:
        print("active payload by chain position = depth in the graph (a chain's position p holds p composed "
              "rotations from layer p on; a fan-in receiver, depth 2, the rotated mean of its two senders)")
        print(f"{'layer':>5}  {'position':>8} {'mse':>10} {'worst':>8}")
        for mse, worst in zip(chain[0::2], chain[1::2]):
            print(f"{mse['layer']:>5}  {mse['chain_position']:>8} {mse['measured']:10.5f} {worst['measured']:8.4f}")
    print("first seizure layer (worst on-indicator error > 0.25):", ev.seizure_layer or "none")
    return 0
