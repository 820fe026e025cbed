"""``cis evaluate``: build one network and measure it against theory."""

from __future__ import annotations

from .._builder import build
from .._error_correction import computation_layers, parse_error_correction
from .._errors import require
from .._evaluate import evaluate
from .._graph import evaluate_chains, rotation_chains
from ._common import (add_error_correction_argument, add_load_argument, add_network_arguments, format_table,
                      network_from_args, split_seed, to_json)

#: Families with cross-circuit edges (``cis evaluate`` only): built with their graph.
CHAIN_FAMILY = "rotation-chains"

NAME = "evaluate"
HELP = "build (or --load) a network and measure its errors per layer beside the theory"


def add_arguments(p) -> None:
    add_network_arguments(p)
    family = next(a for a in p._actions if a.dest == "family")
    family.choices = sorted([*family.choices, CHAIN_FAMILY])
    add_error_correction_argument(p)
    add_load_argument(p)
    g = p.add_argument_group("evaluation")
    g.add_argument("--active", type=int, default=2, help="z, circuits active per sample (default: 2)")
    g.add_argument("--batch", type=int, default=5000, help="B, samples (default: 5000)")
    g.add_argument("--ideal", action="store_true", help="replace ReLU by the active-neuron mask")
    g.add_argument("--chunk", type=int, default=None, help="samples per forward pass (memory bound)")
    g.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    g.add_argument("--progress", action="store_true", help="show a progress bar")
    g.add_argument("--chain-length", type=int, default=None,
                   help=f"K, circuits per chain with --family {CHAIN_FAMILY} (default: 2); --active then "
                        "counts circuits and must be a multiple of K")


def _chain_network(args):
    """The rotation-chains network the flags describe, built with its graph; ``(net, eval_seed)``."""
    require(args.load is None, f"--load is not supported with --family {CHAIN_FAMILY} (a saved network has no graph)")
    require(args.error_correction == "none", f"--error-correction is not supported with --family {CHAIN_FAMILY}")
    fam_seed, build_seed, eval_seed = split_seed(args.seed)
    family, graph = rotation_chains(args.circuits, chain_length=args.chain_length, seed=fam_seed)
    net = build(family, width=args.width, redundancy=args.redundancy, n_layers=args.layers, seed=build_seed,
                method=args.method, chi_scale=args.chi_scale, assignment=args.assignment, device=args.device,
                graph=graph)
    return net, eval_seed


def run(args) -> int:
    args.error_correction = parse_error_correction(args.error_correction).spec
    chains = args.family == CHAIN_FAMILY
    require(chains or args.chain_length is None, f"--chain-length needs --family {CHAIN_FAMILY}")
    if chains and args.chain_length is None:
        args.chain_length = 2
    net, eval_seed = _chain_network(args) if chains else network_from_args(args)
    compute = computation_layers(net)
    run_eval = evaluate_chains if chains else evaluate
    ev = run_eval(net, n_active=args.active, batch_size=args.batch, seed=eval_seed, ideal=args.ideal,
                  chunk_size=args.chunk, progress=args.progress)
    ev, chain = ev if chains else (ev, None)
    if args.format == "json":
        out = ev.to_dict()
        if chains:  # payload rows carry chain_position: None on the totals, 1..K per position
            out["rows"] = [{**r, "chain_position": None} if r["quantity"] == "payload" else r
                           for r in out["rows"]] + chain
            out["config"]["chain_length"] = args.chain_length
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
        print("active payload by chain position (position p holds p composed rotations from layer p on)")
        print(f"{'layer':>5}  {'position':>8} {'mse':>10} {'worst':>8}")
        for mse, worst in zip(chain[0::2], chain[1::2]):
            print(f"{mse['layer']:>5}  {mse['chain_position']:>8} {mse['measured']:10.5f} {worst['measured']:8.4f}")
    print("first seizure layer (worst on-indicator error > 0.25):", ev.seizure_layer or "none")
    return 0
