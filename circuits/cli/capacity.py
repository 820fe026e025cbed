"""``cis capacity``: how many circuits each assignment method fits, beside the packing bound.

With ``N = D/d`` slots per neuron group and redundancy ``S``, no family of S-sets that pairwise
share at most one slot has more than ``N (N-1) / (S (S-1))`` sets (``theory.packing_bound``).
The ``random`` method gives no guarantee; its capacity is the number of distinct S-subsets.
``--n-circuits T`` adds, for every method that fits T circuits, how evenly its first T sets use
the slots, the largest number of slots two of them share (:func:`circuits.assignment.max_shared`), and
how long building those sets and that check took (wall-clock seconds).
"""

from __future__ import annotations

import time

from theory import packing_bound

from circuits.assignment import ASSIGNMENTS, capacity, max_shared, slot_use
from circuits.base import CircuitsError, available_memory, require_int
from circuits.experiments import LIMITS, ExperimentSpec
from circuits.system import SYSTEMS, all_system_params, system_params

from ._args import add_output_arguments, add_run_arguments, add_spec_arguments, given_values, to_json

NAME = "capacity"
HELP = ("how many circuits each assignment method fits at width D and redundancy S, beside the packing bound; "
        "the circuit width d (slots per group N = D/d) is the system's, after its error correction")
#: The spec fields this command reads (``--n-circuits``, if given, adds the first sets' slot use).
KEYS = ("system", "error_correction", "width", "redundancy", "n_circuits")


def add_arguments(p) -> None:
    add_spec_arguments(p, include=KEYS, defaults={"n_circuits": None}, title="the network (the spec's fields)")
    add_output_arguments(p, progress=False)
    add_run_arguments(p, large=False)  # --threads, as every command has (the sets are made with numpy)


def capacities(width: int, redundancy: int, circuit_width: int = 4, n_circuits: int | None = None) -> dict:
    """The numbers ``cis capacity`` prints, as the dict of its ``--format json``.

    Example:
        >>> out = capacities(1000, 6)
        >>> out["packing_bound"], out["capacity"]["prime-step"], out["capacity"]["finite-field"]
        (2075, 557, 1969)
    """
    d = require_int("circuit_width", circuit_width, 1, 1000)
    n_slots = require_int("width", width, d, LIMITS["width"]) // d
    S = require_int("redundancy", redundancy, 1, n_slots)
    out = {"width": width, "circuit_width": d, "n_slots": n_slots, "redundancy": S,
           "packing_bound": packing_bound(n_slots, S),
           "capacity": {method: capacity(n_slots, S, method) for method in ASSIGNMENTS}}
    if n_circuits is not None:
        T = require_int("n_circuits", n_circuits, 1, LIMITS["n_circuits"])
        need = 4 * T * S * 8  # the sets, their pair keys and sorting
        if need > available_memory():
            raise CircuitsError(f"n_circuits = {T} needs about {need / 2**30:.1f} GiB to build and check its sets, "
                                f"more than is free here; lower n_circuits", parameter="n_circuits")
        out["n_circuits"] = T
        out["first_sets"] = {}
        for method, entry in ASSIGNMENTS.items():
            sets_of = entry.sets
            if T <= out["capacity"][method]:
                start = time.perf_counter()
                sets = sets_of(n_slots, S, limit=T)
                built = time.perf_counter()
                shared = max_shared(sets, n_slots)
                checked = time.perf_counter()
                out["first_sets"][method] = {"slot_use": slot_use(sets, n_slots), "max_shared": shared,
                                             "seconds_to_build": built - start, "seconds_to_check": checked - built}
    return out


def circuit_width_of(args) -> int:
    """d of the system the flags name, after its error correction (the width checked as a multiple of it)."""
    given = given_values(args)
    system = given.get("system", args.spec_defaults["system"])
    params = {k: v for k, v in given.items() if k in all_system_params()}
    entry = SYSTEMS.entry(system)
    smallest = entry.min_circuits(system_params(system, params))
    spec = ExperimentSpec.from_dict({"system": system, **params, "n_active": smallest, "n_circuits": smallest,
                                     "redundancy": 1, "n_layers": 64,  # any L the system takes: d does not depend on it
                                     "error_correction": given.get("error_correction", "none"),
                                     "width": given.get("width", args.spec_defaults["width"])})
    return spec.circuit_width


def run(args) -> int:
    given = given_values(args, KEYS)
    width = given.get("width", args.spec_defaults["width"])
    redundancy = given.get("redundancy", args.spec_defaults["redundancy"])
    out = capacities(width, redundancy, circuit_width_of(args), given.get("n_circuits"))
    if args.format == "json":
        print(to_json(out))
        return 0
    bound = out["packing_bound"]
    print(f"D={out['width']} d={out['circuit_width']} N=D/d={out['n_slots']} S={out['redundancy']}: "
          f"packing bound N(N-1)/(S(S-1)) = {bound}")
    print(f"{'method':<14} {'capacity':>12} {'/ bound':>9}")
    for method, cap in out["capacity"].items():
        share = f"{cap / bound:9.1%}" if method != "random" and bound else "       - "
        note = "  (no guarantee: distinct random S-subsets)" if method == "random" else ""
        print(f"{method:<14} {cap:>12} {share}{note}")
    if "first_sets" in out:
        T = out["n_circuits"]
        print(f"first T={T} sets: circuits per slot (min / max / mean / std), largest number of shared slots, "
              "seconds to build the sets / to check them")
        for method in out["capacity"]:
            if method not in out["first_sets"]:
                print(f"{method:<14} T={T} does not fit (capacity {out['capacity'][method]})")
                continue
            first = out["first_sets"][method]
            use, shared = first["slot_use"], first["max_shared"]
            shared_txt = f"{shared}" if shared < 2 else ">= 2 (guarantee broken)"
            print(f"{method:<14} {use['min']:>4} / {use['max']:>4} / {use['mean']:7.2f} / {use['std']:6.2f}   "
                  f"max shared {shared_txt:<24} {first['seconds_to_build']:6.2f} s / {first['seconds_to_check']:6.2f} s")
    return 0
