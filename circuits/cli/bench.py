"""``cis bench``: how long building and evaluating takes, how much memory, and whether the
structured forward pass agrees with the dense weight matrices.

One network (the spec flags, ``--n-active 1 2 3 4``): build time, evaluation time (all z together
and per z), peak resident memory and, when ``D <= --dense-limit``, the largest absolute
difference between the read-outs (every circuit, every layer) of the structured forward pass
and of a float64 forward pass through :meth:`Network.dense_weights`. ``--figure-sweep``: the
same timings for the load sweep of figures 8-11 (41 networks, rotation circuits, z = 1..4,
batch 500), run through :func:`circuits.sweep` exactly as the figures run it.

Peak memory is the resident set size of this process, ``getrusage(RUSAGE_SELF).ru_maxrss``
(the interpreter and torch included, about 0.3 GB before any work); on CUDA also
``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time

import numpy as np
import torch

import circuits
from circuits.base import available_memory, choose_threads, require_int, using_threads
from circuits.experiments import load_sweep_grid, load_sweep_networks
from circuits.measurement import CRITERIA

from ._args import (MAX_THREADS, add_output_arguments, add_run_arguments, add_spec_arguments, count_of,
                    show_progress, spec_from_args, to_json)

NAME = "bench"
HELP = "time build and evaluation, peak memory, and agreement with the dense weights"
DEFAULTS = {"width": 2000, "n_circuits": 600, "n_layers": 4, "batch_size": 1000}


def add_arguments(p) -> None:
    add_spec_arguments(p, defaults=DEFAULTS, exclude=("n_active",))
    g = p.add_argument_group("benchmark")
    g.add_argument("--n-active", type=int, nargs="+", default=[1, 2, 3, 4],
                   help="z, one or more: each z is one evaluation (default: 1 2 3 4)")
    g.add_argument("--chunk-size", type=count_of("chunk_size", 1), default=None,
                   help="samples per forward pass (default: automatic)")
    g.add_argument("--dense-limit", type=count_of("dense_limit", 0), default=4000,
                   help="compare with the dense weights when D is at most this (default: 4000)")
    g.add_argument("--dense-batch", type=count_of("dense_batch", 1), default=100,
                   help="samples per z for the dense comparison (default: 100)")
    g.add_argument("--figure-sweep", action="store_true",
                   help="time the figure-8..11 load sweep (41 networks, z = 1..4, batch 500) instead")
    g.add_argument("--workers", type=count_of("workers", 1, MAX_THREADS), default=1,
                   help="processes for --figure-sweep (default: 1)")
    g.add_argument("--device", default="cpu", help="torch device of the forward pass (default: cpu)")
    add_output_arguments(p)
    add_run_arguments(p)


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
    active, payloads = net.system.draw(n_active, batch_size, rng)
    inputs = net.system.encode(payloads, active.shape)
    B, d, N = batch_size, net.circuit_width, net.n_slots
    dense = [None] + [net.dense_weights(layer) for layer in range(1, net.network_layers + 1)]
    with torch.no_grad():
        acts = net.forward(active, inputs)
        x = acts[0].cpu().double().reshape(B, d * N).numpy()
        diff = scale = 0.0
        for layer, a in enumerate(acts):
            if layer >= 1:
                weights, bias = dense[layer]
                x = np.maximum(x @ weights.T + bias, 0.0)
            ours = net.read_out(a, layer).cpu().double()
            ref = net.read_out(torch.as_tensor(x.reshape(B, d, N), device=a.device), layer).cpu().double()
            diff = max(diff, float((ours - ref).abs().max()))
            scale = max(scale, float(ref.abs().max()))
    return diff, scale


def _summary(ev) -> dict:
    """The criteria's scores (payload MSE over theory, spurious mass growth), the seizure layer, and the MSE
    per layer of each (circuit state, quantity) of one evaluation."""
    table = ev.table[(ev.table.stat == "mse") & ev.table.depth.isna() & (ev.table.layer >= 1)].sort_values("layer")
    out = {"payload_ratio": CRITERIA["payload"].score(ev), "compounding": CRITERIA["compounding"].score(ev),
           "load": ev.load, "predicted_critical_load": ev.critical_load, "seizure_layer": ev.seizure_layer}
    theory = table[(table.circuit_state == "active") & (table.quantity == "payload")]
    if len(theory):
        out["active_payload_theory"] = theory["predicted"].tolist()
    mass = ev.table[(ev.table.circuit_state == "unowned") & (ev.table.quantity == "on")
                    & (ev.table.stat == "mass")].sort_values("layer")
    out["spurious_mass"] = mass["measured"].tolist()
    for (state, quantity), rows in table.groupby(["circuit_state", "quantity"], sort=True):
        out[f"{state}_{quantity}_mse"] = rows["measured"].tolist()
    return out


def _bench_network(args, zs: list[int]) -> dict:
    specs = [spec_from_args(args, n_active=z) for z in zs]  # every spec checked before any work
    if specs[0].width <= args.dense_limit:  # the dense check holds D x D float64 matrices, one per layer
        need = (specs[0].network_layers + 1) * specs[0].width ** 2 * 8
        if need > available_memory():
            raise circuits.CircuitsError(f"the dense check at width {specs[0].width} needs about "
                                         f"{need / 2**30:.3g} GiB, more than is available here; lower --dense-limit "
                                         "below the width to skip it", parameter="dense_limit")
    t0 = time.perf_counter()
    net = circuits.build(specs[0], device=args.device, allow_large=args.yes,
                                 threads=torch.get_num_threads())  # the threads chosen for the run
    _sync(args.device)
    build_seconds = time.perf_counter() - t0
    per_z, results = {}, {}
    for spec in specs:
        t = time.perf_counter()
        ev = circuits.evaluate(spec, network=net, chunk_size=args.chunk_size, progress=show_progress(args),
                               threads=torch.get_num_threads())
        _sync(args.device)
        per_z[spec.n_active] = time.perf_counter() - t
        results[spec.n_active] = _summary(ev)
        del ev
    spec = specs[0]
    out = {**{k: v for k, v in spec.to_dict().items() if k != "n_active"}, "n_active": zs, "load": net.load,
           "build_seconds": build_seconds, "evaluate_seconds": sum(per_z.values()), "evaluate_seconds_per_z": per_z,
           "total_seconds": build_seconds + sum(per_z.values()), "peak_memory_mb": peak_memory_mb(),
           "peak_memory_kind": "resident (getrusage ru_maxrss, whole process)"}
    if torch.device(args.device).type == "cuda":
        out["cuda_peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    if spec.width <= args.dense_limit:
        t = time.perf_counter()
        batch = min(spec.batch_size, require_int("dense_batch", args.dense_batch, 1))
        checks = [dense_max_abs_diff(net, z, batch, spec.seeds().evaluation + z) for z in zs]
        out["dense_max_abs_diff"] = max(c[0] for c in checks)
        out["dense_max_abs_readout"] = max(c[1] for c in checks)
        out["dense_check_batch"] = batch
        out["dense_seconds"] = time.perf_counter() - t
    out["results"] = results
    out["device"] = str(torch.device(args.device))
    out["torch_threads"] = torch.get_num_threads()
    return out


def _bench_sweep(args, zs: list[int]) -> dict:
    overrides = {"n_active": zs, "seed": spec_from_args(args, n_active=zs[0]).seed}
    if "batch_size" in getattr(args, "given", ()):
        overrides["batch_size"] = args.batch_size
    grid = load_sweep_grid(**overrides)
    n_runs = len(circuits.experiments.grid_specs(grid))
    per_run = choose_threads(args.threads, workers=min(args.workers, n_runs))  # what sweep gives each run
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        table = circuits.sweep(grid, out, workers=args.workers, progress=show_progress(args), device=args.device,
                               threads=per_run, allow_large=args.yes)
    total = time.perf_counter() - t0
    runs = table.drop_duplicates("run")
    return {"n_networks": len(load_sweep_networks()), "n_evaluations": len(runs), "n_active": zs,
            "batch_size": int(runs.batch_size.iloc[0]), "total_seconds": total, "peak_memory_mb": peak_memory_mb(),
            "peak_memory_kind": "resident (getrusage ru_maxrss, whole process)",
            "seizures": int(runs.seizure_layer.notna().sum()), "device": str(torch.device(args.device)),
            "torch_threads": per_run, "workers": args.workers}


def run(args) -> int:
    zs = [require_int("n_active", z, 1) for z in args.n_active]
    if args.figure_sweep:
        out = _bench_sweep(args, zs)
    else:
        with using_threads(args.threads):
            out = _bench_network(args, zs)
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
