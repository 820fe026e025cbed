"""``cis demo``: the study's network (D = 1000, T = 557, S = 6, L = 5) at z = 1, 2, 3."""

from __future__ import annotations

import time

import circuits
from circuits.base import choose_threads

from ._args import add_run_arguments, add_spec_arguments, format_table, spec_from_args, where_it_stands

NAME = "demo"
HELP = "the study's network at z = 1, 2, 3: measured errors beside theory"


def add_arguments(p) -> None:
    add_spec_arguments(p, defaults={"batch_size": 2000}, exclude=("n_active",))
    add_run_arguments(p)


def run(args) -> int:
    t0 = time.perf_counter()
    specs = [spec_from_args(args, n_active=z) for z in (1, 2, 3)]  # every spec checked before any work
    threads = choose_threads(args.threads)  # the free cores, measured once for the whole demo
    net = circuits.build(specs[-1], allow_large=args.yes, threads=threads)
    print(f"Rotation circuits in superposition: T={net.n_circuits} circuits of width d={net.circuit_width} "
          f"in a network of width D={net.width} (S={net.redundancy}, L={net.n_layers}, "
          f"load T(d/D)^2={net.load:.4f}).")
    for spec in specs:
        ev = circuits.evaluate(spec, network=net if not net.system.error_correction.tuned_chi else None,
                               threads=threads, allow_large=args.yes)
        print(f"\nz = {spec.n_active} active circuits, {spec.batch_size} samples; {where_it_stands(ev, spec)}")
        print(format_table(ev.table))
        print("first seizure layer (worst on-indicator error > 0.25):", ev.seizure_layer or "none")
    print(f"\n({time.perf_counter() - t0:.2f} s)")
    return 0
