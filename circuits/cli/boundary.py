"""``cis boundary``: the critical load T (d/D)^2 where the failure rate crosses 1%."""

from __future__ import annotations

import math

from .._assignment import ASSIGNMENTS
from .._boundary import find_boundary
from .._builder import METHODS
from .._families import FAMILIES
from ._common import add_error_correction_argument, to_json

NAME = "boundary"
HELP = "find the critical load T (d/D)^2 at which forward passes start to fail (rate > 1%), by bisection over T"


def add_arguments(p) -> None:
    g = p.add_argument_group("network")
    g.add_argument("--family", default="rotation", choices=sorted(FAMILIES), help="circuit family (default: rotation)")
    g.add_argument("--width", type=int, default=1000, help="D, network width (default: 1000)")
    g.add_argument("--redundancy", type=int, default=6, help="S (default: 6)")
    g.add_argument("--layers", type=int, default=4, help="L (default: 4)")
    g.add_argument("--method", default="capped", choices=METHODS, help="weight construction (default: capped)")
    g.add_argument("--chi-scale", type=float, default=1.0, help="multiplier on chi (default: 1)")
    g.add_argument("--assignment", default="prime-step", choices=sorted(ASSIGNMENTS),
                   help="assignment method (default: prime-step)")
    g.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    add_error_correction_argument(g)
    g = p.add_argument_group("search")
    g.add_argument("--active", type=int, default=2, help="z, circuits active per sample (default: 2)")
    g.add_argument("--batch", type=int, default=1000, help="B, forward passes per tested T (default: 1000)")
    g.add_argument("--seeds", type=int, default=6, help="independent bisections (default: 6)")
    g.add_argument("--seed", type=int, default=0, help="root seed (default: 0)")
    g.add_argument("--level", type=float, default=0.01, help="failure rate to cross (default: 0.01)")
    g.add_argument("--threshold", type=float, default=0.25,
                   help="on-indicator error that makes a pass fail (default: 0.25)")
    g.add_argument("--rtol", type=float, default=0.02, help="relative resolution in T (default: 0.02)")
    g.add_argument("--confidence", type=float, default=0.95, help="confidence of the interval (default: 0.95)")
    g.add_argument("--workers", type=int, default=1, help="processes (default: 1)")
    g.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    g.add_argument("--progress", action="store_true", help="show a progress bar")


def run(args) -> int:
    b = find_boundary(args.width, args.active, args.layers, redundancy=args.redundancy, family=args.family,
                      method=args.method, chi_scale=args.chi_scale, assignment=args.assignment,
                      batch_size=args.batch, n_seeds=args.seeds, seed=args.seed, level=args.level,
                      threshold=args.threshold, error_correction=args.error_correction,
                      rtol=args.rtol, confidence=args.confidence, workers=args.workers, device=args.device,
                      progress=args.progress)
    if args.format == "json":
        print(to_json(b.to_dict()))
        return 0
    c = b.config
    print(f"family={c['family']} D={c['width']} d={c['circuit_width']} S={c['redundancy']} L={c['n_layers']} "
          f"z={c['n_active']} B={c['batch_size']} seeds={c['n_seeds']} level={c['level']} "
          f"threshold={c['threshold']} error_correction={c['error_correction']}")
    print(f"{'seed':>4} {'T below':>8} {'T above':>8} {'critical load':>14}")
    scale = (c["circuit_width"] / c["width"]) ** 2
    for i, cr in enumerate(b.crossings):
        est = cr.estimate * scale
        print(f"{i:>4} {cr.below if cr.below is not None else '-':>8} {cr.above if cr.above is not None else '-':>8} "
              f"{'> capacity' if math.isinf(est) else f'{est:.6f}':>14}")
    low, high = b.interval
    high_txt = "inf" if math.isinf(high) else f"{high:.6f}"
    bound = " (lower bound: no crossing up to capacity)" if b.capacity_reached else ""
    print(f"critical load T(d/D)^2 = {b.critical_load:.6f}{bound}, T = {b.critical_circuits:.1f}; "
          f"{100 * b.coverage:.1f}% interval [{low:.6f}, {high_txt}]; "
          f"capacity T = {b.capacity} (load {b.capacity_load:.6f})")
    return 0
