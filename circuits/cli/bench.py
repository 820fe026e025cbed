"""``cis bench``: how long building and evaluating takes, how much memory, and whether the
structured forward pass agrees with the dense weight matrices.

One network (``--width --circuits ... --active 1,2,3,4 --batch B``): build time, evaluation
time (all z together and per z), peak resident memory and, when ``D <= --dense-limit``, the
largest absolute difference between the read-outs (every circuit, every layer) of the
structured forward pass and of a float64 forward pass through :meth:`Network.dense_weights`.
``--figure-sweep``: the same timings for the load sweep of figures 8-11 (41 networks, rotation
circuits, z = 1..4, batch 500).

Peak memory is the resident set size of this process, ``getrusage(RUSAGE_SELF).ru_maxrss``
(the interpreter and torch included, about 0.3 GB before any work); on CUDA also
``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np
import torch

from .._errors import CircuitsError, require, require_int
from .._evaluate import draw_active, draw_payloads, evaluate
from ._common import add_network_arguments, network_from_args, to_json

NAME = "bench"
HELP = "time build and evaluation, peak memory, and agreement with the dense weights"

#: The load sweep of figures 8-11: (D, first T, last T, step of T); 41 networks.
FIGURE_SWEEP_ROWS = ((800, 200, 300, 100), (1000, 200, 500, 100), (1200, 200, 700, 100), (1400, 200, 1000, 200),
                     (1600, 300, 1300, 200), (1800, 300, 1700, 200), (2000, 200, 2000, 200))
#: z values, samples per (network, z), S and L of the figure sweep.
FIGURE_SWEEP = {"active": (1, 2, 3, 4), "batch": 500, "redundancy": 6, "n_layers": 4}


def figure_sweep_grid() -> list[tuple[int, int]]:
    """The 41 ``(D, T)`` networks of the figure-8..11 load sweep.

    Example:
        >>> grid = figure_sweep_grid()
        >>> len(grid), grid[0], grid[-1]
        (41, (800, 200), (2000, 2000))
    """
    return [(D, T) for D, first, last, step in FIGURE_SWEEP_ROWS for T in range(first, last + 1, step)]


def parse_active(text: str) -> list[int]:
    """``"2"`` -> ``[2]``; ``"1,2,3,4"`` -> ``[1, 2, 3, 4]``; ``"1-4"`` -> ``[1, 2, 3, 4]``."""
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-"))
            values = list(range(lo, hi + 1))
        else:
            values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    require(len(values) >= 1 and all(v >= 1 for v in values),
            f"active must be z, a list z1,z2,... or a range z1-z2 of integers >= 1, got {text!r}")
    return values


def add_arguments(p) -> None:
    add_network_arguments(p, width=2000, circuits=600, redundancy=6, layers=4)
    g = p.add_argument_group("benchmark")
    g.add_argument("--active", default="1,2,3,4",
                   help="z, or several: 1,2,3,4 or 1-4; each z is one evaluation (default: 1,2,3,4)")
    g.add_argument("--batch", type=int, default=None,
                   help="B, samples per z (default: 1000; 500 with --figure-sweep)")
    g.add_argument("--chunk", type=int, default=None, help="samples per forward pass (default: automatic)")
    g.add_argument("--dense-limit", type=int, default=4000,
                   help="compare with the dense weights when D is at most this (default: 4000)")
    g.add_argument("--dense-batch", type=int, default=100, help="samples per z for the dense comparison (default: 100)")
    g.add_argument("--figure-sweep", action="store_true",
                   help="time the figure-8..11 load sweep (41 networks, z = 1..4, batch 500) instead")
    g.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    g.add_argument("--progress", action="store_true", help="show progress bars")
    g.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default: 1; the per-chunk tensors are small, and on a shared "
                        "machine threads that wait for a busy core slow every operation down)")


def peak_memory_mb() -> float:
    """Peak resident set size of this process so far, in MB (``ru_maxrss``)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def dense_max_abs_diff(net, n_active: int, batch_size: int, seed) -> tuple[float, float]:
    """Largest ``|structured - dense|`` over the read-outs of all circuits at all layers 0..L.

    The dense pass starts from the same layer-0 activations and applies
    ``ReLU(W[l] A + b)`` with :meth:`Network.dense_weights` in float64.

    Returns:
        ``(max abs difference, max abs read-out)`` (the second gives the scale).
    """
    rng = np.random.default_rng(seed)
    fam = net.family
    active = draw_active(net.n_circuits, n_active, batch_size, rng)
    inputs = fam.encode(draw_payloads((batch_size, n_active), fam.payload_dim, rng), (batch_size, n_active))
    B, d, N = batch_size, net.circuit_width, net.n_slots
    with torch.no_grad():
        acts = net.forward(active, inputs)
        x = acts[0].cpu().double().reshape(B, d * N).numpy()
        diff = scale = 0.0
        for layer, a in enumerate(acts):
            if layer >= 1:
                weights, bias = _dense_cache(net, layer)
                x = np.maximum(x @ weights.T + bias, 0.0)
            ours = net.read_out(a, layer).cpu().double()
            dense = net.read_out(torch.as_tensor(x.reshape(B, d, N), device=a.device), layer).cpu().double()
            diff = max(diff, float((ours - dense).abs().max()))
            scale = max(scale, float(dense.abs().max()))
    return diff, scale


def _summary(ev) -> dict:
    """The seizure layer and the MSE per layer of each (group, quantity) of one evaluation."""
    table = ev.table[ev.table.stat == "mse"].sort_values("layer")
    out = {"seizure_layer": ev.seizure_layer}
    for (group, quantity), rows in table.groupby(["group", "quantity"], sort=True):
        out[f"{group}_{quantity}_mse"] = rows["measured"].tolist()
    return out


def _seed(*keys: int) -> int:
    """A seed for the stream named by ``keys`` (non-negative ints)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def _dense_cache(net, layer):
    key = ("dense", layer)
    if key not in net._cache:
        net._cache[key] = net.dense_weights(layer)
    return net._cache[key]


def _bench_network(args, zs: list[int], batch: int) -> dict:
    t0 = time.perf_counter()
    net, eval_seed = network_from_args(args)
    _sync(args.device)
    build_seconds = time.perf_counter() - t0
    per_z, results = {}, {}
    for z in zs:
        t = time.perf_counter()
        ev = evaluate(net, n_active=z, batch_size=batch, seed=eval_seed + z, chunk_size=args.chunk,
                      progress=args.progress)
        _sync(args.device)
        per_z[z] = time.perf_counter() - t
        results[z] = _summary(ev)
        del ev
    out = {
        "width": args.width, "n_circuits": args.circuits, "redundancy": args.redundancy, "n_layers": args.layers,
        "method": args.method, "family": args.family, "n_active": zs, "batch_size": batch, "seed": args.seed,
        "load": net.load, "build_seconds": build_seconds, "evaluate_seconds": sum(per_z.values()),
        "evaluate_seconds_per_z": per_z, "total_seconds": build_seconds + sum(per_z.values()),
        "peak_memory_mb": peak_memory_mb(), "peak_memory_kind": "resident (getrusage ru_maxrss, whole process)",
    }
    if torch.device(args.device).type == "cuda":
        out["cuda_peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    if args.width <= args.dense_limit:
        t = time.perf_counter()
        checks = [dense_max_abs_diff(net, z, min(batch, args.dense_batch), eval_seed + 1000 + z) for z in zs]
        out["dense_max_abs_diff"] = max(c[0] for c in checks)
        out["dense_max_abs_readout"] = max(c[1] for c in checks)
        out["dense_check_batch"] = min(batch, args.dense_batch)
        out["dense_seconds"] = time.perf_counter() - t
    out["results"] = results
    out["device"] = str(torch.device(args.device))
    out["torch_threads"] = torch.get_num_threads()
    return out


def _bench_sweep(args, zs: list[int], batch: int) -> dict:
    from .._builder import build
    from .._families import make_family

    grid = figure_sweep_grid()
    if len(grid) != 41:  # pragma: no cover - guards the definition above
        raise CircuitsError(f"the figure sweep must have 41 networks, found {len(grid)}")
    build_seconds = evaluate_seconds = 0.0
    seizures = []
    networks = grid
    if args.progress:
        from tqdm.auto import tqdm

        networks = tqdm(grid, desc="figure sweep", unit="net")
    t0 = time.perf_counter()
    for D, T in networks:
        t = time.perf_counter()
        net = build(make_family(args.family, T, seed=_seed(args.seed, 1, D, T)), width=D,
                    redundancy=args.redundancy, n_layers=args.layers, seed=_seed(args.seed, 2, D, T),
                    method=args.method, chi_scale=args.chi_scale, assignment=args.assignment, device=args.device)
        build_seconds += time.perf_counter() - t
        for z in zs:
            t = time.perf_counter()
            ev = evaluate(net, n_active=z, batch_size=batch, seed=_seed(args.seed, 3, D, T, z), chunk_size=args.chunk)
            _sync(args.device)
            evaluate_seconds += time.perf_counter() - t
            seizures.append({"width": D, "n_circuits": T, "n_active": z, "seizure_layer": ev.seizure_layer})
    total = time.perf_counter() - t0
    return {
        "n_networks": len(grid), "n_evaluations": len(grid) * len(zs), "n_active": zs, "batch_size": batch,
        "redundancy": args.redundancy, "n_layers": args.layers, "method": args.method, "family": args.family,
        "seed": args.seed, "total_seconds": total, "build_seconds": build_seconds,
        "evaluate_seconds": evaluate_seconds, "peak_memory_mb": peak_memory_mb(),
        "peak_memory_kind": "resident (getrusage ru_maxrss, whole process)",
        "seizures": sum(s["seizure_layer"] is not None for s in seizures),
        "device": str(torch.device(args.device)), "torch_threads": torch.get_num_threads(),
    }


def run(args) -> int:
    zs = parse_active(args.active)
    torch.set_num_threads(require_int("threads", args.threads, 1))
    if args.figure_sweep:
        batch = FIGURE_SWEEP["batch"] if args.batch is None else args.batch
        out = _bench_sweep(args, zs, batch)
    else:
        batch = 1000 if args.batch is None else args.batch
        out = _bench_network(args, zs, batch)
    if args.format == "json":
        print(to_json(out))
        return 0
    for key, value in out.items():
        if key == "results":
            for z, res in value.items():
                print(f"z = {z}: " + ", ".join(f"{k} {v}" if not isinstance(v, list)
                                                 else f"{k} " + " ".join(f"{x:.3g}" for x in v)
                                                 for k, v in res.items()))
        elif isinstance(value, float):
            print(f"{key}: {value:.4g}")
        elif isinstance(value, dict):
            print(f"{key}: " + ", ".join(f"{k}: {v:.4g}" for k, v in value.items()))
        else:
            print(f"{key}: {value}")
    return 0
