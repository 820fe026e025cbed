"""Flags shared by the subcommands that build a network, and output helpers."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from .._assignment import ASSIGNMENTS
from .._builder import METHODS
from .._error_correction import build_with_error_correction, computation_layers
from .._errors import CircuitsError
from .._export import load
from .._errors import require
from .._families import FAMILIES, make_family
from .._graph import rotation_chains, rotation_fan_in

#: Families with cross-circuit edges (``cis evaluate``, ``cis build``): name -> ``(family, graph)``
#: from ``(T, seed, args)``; whole groups (a chain of ``--chain-length``, a fan-in triple) are active.
GRAPH_FAMILIES = {
    "rotation-chains": lambda T, seed, args: rotation_chains(T, chain_length=args.chain_length, seed=seed),
    "rotation-fan-in": lambda T, seed, args: rotation_fan_in(T, seed=seed),
}
CHAIN_FAMILY = "rotation-chains"


def add_network_arguments(p: argparse.ArgumentParser, *, width=1000, circuits=557, redundancy=6, layers=5,
                          graphs: bool = False) -> None:
    """``--family --width --circuits --redundancy --layers --method --chi-scale --assignment --device --seed``
    (and, with ``graphs``, the families of :data:`GRAPH_FAMILIES` and ``--chain-length``)."""
    p.register("action", None, _StoreGiven)  # plain flags remember being given (for --load)
    g = p.add_argument_group("network")
    names = sorted([*FAMILIES, *(GRAPH_FAMILIES if graphs else ())])
    g.add_argument("--family", default="rotation", choices=names, help="circuit family (default: rotation)")
    if graphs:
        g.add_argument("--chain-length", type=int, default=None,
                       help=f"K, circuits per chain with --family {CHAIN_FAMILY} (default: 2); --active then "
                            "counts circuits and must be a multiple of K")
    g.add_argument("--width", type=int, default=width, help=f"D, network width (default: {width})")
    g.add_argument("--circuits", type=int, default=circuits, help=f"T, number of circuits (default: {circuits})")
    g.add_argument("--redundancy", type=int, default=redundancy, help=f"S, neurons per circuit neuron (default: {redundancy})")
    g.add_argument("--layers", type=int, default=layers, help=f"L, computation steps (default: {layers})")
    g.add_argument("--method", default="capped", choices=METHODS, help="weight construction (default: capped)")
    g.add_argument("--chi-scale", type=float, default=1.0, help="multiplier on chi (default: 1)")
    g.add_argument("--assignment", default="prime-step", choices=sorted(ASSIGNMENTS),
                   help="assignment method (default: prime-step)")
    g.add_argument("--device", default="cpu", help="torch device of the forward pass (default: cpu)")
    g.add_argument("--seed", type=int, default=0, help="seeds everything: circuits, assignment, draws (default: 0)")


def split_seed(seed: int) -> tuple[int, int, int]:
    """Three independent seeds (circuits, assignment, evaluation) derived from one."""
    children = np.random.SeedSequence(seed).spawn(3)
    return tuple(int(c.generate_state(1)[0]) for c in children)


class _StoreGiven(argparse.Action):
    """``store``, and remember in ``namespace.given_flags`` that the flag was on the command line."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given_flags = getattr(namespace, "given_flags", frozenset()) | {self.dest}


def add_error_correction_argument(p: argparse.ArgumentParser) -> None:
    """``--error-correction NAME``: one of ``circuits.ERROR_CORRECTIONS``, or several joined by ``+``."""
    p.add_argument("--error-correction", default="none", metavar="NAME",
                   help="none (default), redundant:K, cleanup, tuned-chi (calibrated for --active), step:A, "
                        "or several joined by + (e.g. step:0.45+tuned-chi)")


def add_load_argument(p: argparse.ArgumentParser) -> None:
    """``--load DIR``: use a saved network instead of building one."""
    p.add_argument("--load", metavar="DIR", default=None,
                   help="use the network saved in DIR (by cis build) instead of building one; --seed then "
                        "seeds only the evaluation draws, and network flags, if given, must match the saved network")


#: Network flags and how to read each from a loaded network (to refuse conflicting flags).
_LOADED_VALUES = {
    "family": lambda net: net.family.name, "width": lambda net: net.width,
    "circuits": lambda net: net.n_circuits, "redundancy": lambda net: net.redundancy,
    "layers": lambda net: len(computation_layers(net)), "method": lambda net: net.config.method,
    "chi_scale": lambda net: net.config.chi_scale, "assignment": lambda net: net.config.assignment,
    "error_correction": lambda net: net.family.params.get("error_correction", "none"),
}


def network_from_args(args):
    """Build (or, with ``--load``, load) the network the flags describe; returns ``(net, eval_seed)``."""
    fam_seed, build_seed, eval_seed = split_seed(args.seed)
    if getattr(args, "load", None) is not None:
        require(getattr(args, "chain_length", None) is None,
                "--chain-length cannot be given with --load (the saved network has its graph)")
        net = load(args.load, device=args.device)
        given = getattr(args, "given_flags", frozenset())
        for dest, value_of in _LOADED_VALUES.items():
            if dest in given and hasattr(args, dest) and getattr(args, dest) != value_of(net):
                raise CircuitsError(f"--{dest.replace('_', '-')} {getattr(args, dest)} conflicts with the network "
                                    f"loaded from {args.load} ({value_of(net)}); leave it out with --load")
        return net, eval_seed
    chain_length = getattr(args, "chain_length", None)
    require(args.family == CHAIN_FAMILY or chain_length is None, f"--chain-length needs --family {CHAIN_FAMILY}")
    if args.family in GRAPH_FAMILIES:
        if args.family == CHAIN_FAMILY and chain_length is None:
            args.chain_length = 2
        family, graph = GRAPH_FAMILIES[args.family](args.circuits, fam_seed, args)
    else:
        family, graph = make_family(args.family, args.circuits, seed=fam_seed), None
    net = build_with_error_correction(
        family, getattr(args, "error_correction", "none"), width=args.width, redundancy=args.redundancy,
        n_layers=args.layers, seed=build_seed, method=args.method, chi_scale=args.chi_scale,
        assignment=args.assignment, device=args.device, n_active=getattr(args, "active", None), graph=graph)
    return net, eval_seed


def to_json(obj) -> str:
    """JSON with NaN/inf written as null."""
    def clean(o):
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, (np.integer,)):
            return int(o)
        if isinstance(o, (float, np.floating)):
            return None if not math.isfinite(float(o)) else float(o)
        return o
    return json.dumps(clean(obj), indent=2)


def format_table(table, fraction_on=None) -> str:
    """A measured-vs-theory table for a terminal: one line per (layer, group, quantity)."""
    wide = table.pivot_table(index=["layer", "group", "quantity"], columns="stat", values="measured").reset_index()
    pred = table[table.stat == "mse"].set_index(["layer", "group", "quantity"])["predicted"]
    lines = [f"{'layer':>5}  {'group':<8} {'quantity':<8} {'mse':>10} {'theory':>10} {'worst':>8}"]
    for rec in wide.to_dict("records"):
        p = pred.get((rec["layer"], rec["group"], rec["quantity"]))
        p_txt = "-" if p is None or not np.isfinite(p) else f"{p:10.5f}"
        lines.append(f"{rec['layer']:>5}  {rec['group']:<8} {rec['quantity']:<8} {rec['mse']:10.5f} "
                     f"{p_txt:>10} {rec['worst']:8.4f}")
    return "\n".join(lines)
