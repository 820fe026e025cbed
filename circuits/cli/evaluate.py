"""``cis evaluate``: build one network and measure it against theory."""

from __future__ import annotations

from .._evaluate import evaluate
from ._common import add_network_arguments, format_table, network_from_args, to_json

NAME = "evaluate"
HELP = "build a network and measure its errors per layer beside the theory"


def add_arguments(p) -> None:
    add_network_arguments(p)
    g = p.add_argument_group("evaluation")
    g.add_argument("--active", type=int, default=2, help="z, circuits active per sample (default: 2)")
    g.add_argument("--batch", type=int, default=5000, help="B, samples (default: 5000)")
    g.add_argument("--ideal", action="store_true", help="replace ReLU by the active-neuron mask")
    g.add_argument("--chunk", type=int, default=None, help="samples per forward pass (memory bound)")
    g.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    g.add_argument("--progress", action="store_true", help="show a progress bar")


def run(args) -> int:
    net, eval_seed = network_from_args(args)
    ev = evaluate(net, n_active=args.active, batch_size=args.batch, seed=eval_seed, ideal=args.ideal,
                  chunk_size=args.chunk, progress=args.progress)
    if args.format == "json":
        out = ev.to_dict()
        out["config"]["cli_seed"] = args.seed
        print(to_json(out))
        return 0
    c = ev.config
    print(f"family={c['family']} T={c['n_circuits']} d={c['circuit_width']} D={c['width']} S={c['redundancy']} "
          f"L={c['n_layers']} z={c['n_active']} batch={c['batch_size']} method={c['method']} "
          f"load T(d/D)^2={ev.load:.5f}")
    print(format_table(ev.table))
    print("first seizure layer (worst on-indicator error > 0.25):", ev.seizure_layer or "none")
    return 0
