"""``cis boundary``: the critical load T (d/D)^2 where the failure rate crosses 1%."""

from __future__ import annotations

import math

import circuits
from circuits import CircuitsError
from circuits.measurement import CRITERIA
from circuits.system import SYSTEMS, make_system, system_params

from ._args import (MAX_THREADS, add_dask_argument, add_output_arguments, add_run_arguments, add_spec_arguments,
                    count_of, dask_executor, given_values, show_progress, spec_from_args, to_json)

NAME = "boundary"
HELP = ("find the critical load T (d/D)^2 at which the construction stops working (by a failure criterion), by "
        "bisection over n_circuits")
DEFAULTS = {"width": 1000, "n_layers": 4, "batch_size": 1000}


def add_arguments(p) -> None:
    add_spec_arguments(p, defaults=DEFAULTS, exclude=("n_circuits",))
    g = p.add_argument_group("search")
    g.add_argument("--n-seeds", type=int, default=6, help="independent bisections, seeds --seed .. --seed + n - 1 "
                                                           "(default: 6)")
    g.add_argument("--criterion", default="payload", choices=list(CRITERIA),
                   help="what failing means (default: payload): " + "; ".join(f"{c.name}: {c.help}"
                                                                              for c in CRITERIA.values()))
    g.add_argument("--level", type=float, default=None,
                   help="the criterion's score to cross (default: 2 for the ratio criteria, 0.01 for worst-readout)")
    g.add_argument("--on-error", type=float, default=None,
                   help="on-indicator error that makes a pass fail, for --criterion worst-readout (default: 0.25)")
    g.add_argument("--rtol", type=float, default=0.02, help="relative resolution in T (default: 0.02)")
    g.add_argument("--confidence", type=float, default=0.95, help="confidence of the interval (default: 0.95)")
    g.add_argument("--workers", type=count_of("workers", 1, MAX_THREADS), default=1, help="processes (default: 1)")
    add_dask_argument(g)
    g.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    add_output_arguments(p)
    add_run_arguments(p)


def _placeholder_circuits(args) -> int:
    """A valid ``n_circuits`` for the spec (the search replaces it): the spec's z."""
    given = given_values(args)
    system = given.get("system", args.spec_defaults["system"])
    params = {k: v for k, v in given.items() if k in SYSTEMS.get(system, SYSTEMS["rotation"]).params}
    try:
        entry = SYSTEMS[system]
        group = make_system(system, entry.min_circuits(system_params(system, params)), seed=0, **params).groups.size
    except (KeyError, CircuitsError):
        return 2  # the spec itself then says what is wrong
    z = given.get("n_active")
    return z if isinstance(z, int) and z >= 1 else (2 if group == 1 else group)


def run(args) -> int:
    try:
        spec = spec_from_args(args, n_circuits=_placeholder_circuits(args))
    except CircuitsError as err:  # n_circuits is the search's, not the user's: a placeholder of z circuits
        if err.parameter != "n_circuits":
            raise
        text = str(err)
        raise CircuitsError("n_active" + text[len("n_circuits"):] if text.startswith("n_circuits ") else text,
                            parameter="n_active") from err
    extra = {} if args.on_error is None else {"on_error": args.on_error}
    with dask_executor(args.dask) as executor:
        b = circuits.find_boundary(spec, criterion=args.criterion, n_seeds=args.n_seeds, level=args.level,
                                   rtol=args.rtol, confidence=args.confidence, workers=args.workers,
                                   executor=executor, device=args.device, progress=show_progress(args),
                                   threads=args.threads, allow_large=args.yes, **extra)
    if args.format == "json":
        print(to_json(b.to_dict()))
        return 0
    c = b.config
    print(" ".join(f"{k}={v}" for k, v in c.items()))
    print(f"{'seed':>6} {'T below':>8} {'T above':>8} {'critical load':>14}")
    scale = b.capacity_load / b.capacity
    for row in b.to_dict()["seeds"]:
        est = row["critical_load"]
        print(f"{row['seed']:>6} {row['below'] if row['below'] is not None else '-':>8} "
              f"{row['above'] if row['above'] is not None else '-':>8} "
              f"{'> capacity' if est is None or math.isinf(est) else f'{est:.6f}':>14}")
    low, high = b.interval
    high_txt = "inf" if math.isinf(high) else f"{high:.6f}"
    bound = " (lower bound: no crossing up to capacity)" if b.capacity_reached else ""
    print(f"critical load T(d/D)^2 = {b.critical_load:.6f}{bound}, T = {b.critical_circuits:.1f}; "
          f"{100 * b.coverage:.1f}% interval [{low:.6f}, {high_txt}]; capacity T = {b.capacity} "
          f"(load {b.capacity * scale:.6f})")
    return 0
