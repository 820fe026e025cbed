"""``cis demo``: the default network (D = 1000, T = 557, S = 6, L = 5) at z = 1, 2, 3."""

from __future__ import annotations

import time

from .._evaluate import evaluate
from ._common import add_network_arguments, format_table, network_from_args

NAME = "demo"
HELP = "the study's default network at z = 1, 2, 3: measured errors beside theory"


def add_arguments(p) -> None:
    add_network_arguments(p)
    p.add_argument("--batch", type=int, default=2000, help="samples per z (default: 2000)")


def run(args) -> int:
    t0 = time.perf_counter()
    net, eval_seed = network_from_args(args)
    print(f"Rotation circuits in superposition: T={net.n_circuits} circuits of width d={net.circuit_width} "
          f"in a network of width D={net.width} (S={net.redundancy}, L={net.n_layers}, "
          f"load T(d/D)^2={net.load:.4f}).")
    for z in (1, 2, 3):
        ev = evaluate(net, n_active=z, batch_size=args.batch, seed=eval_seed + z)
        print(f"\nz = {z} active circuits, {args.batch} samples")
        print(format_table(ev.table))
        print("first seizure layer (worst on-indicator error > 0.25):", ev.seizure_layer or "none")
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    return 0
