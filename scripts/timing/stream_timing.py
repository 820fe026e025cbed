#!/usr/bin/env python
"""Streaming activations: 10^6 samples of a zoo network's layer activations, on one thread and on two.

    python scripts/timing/stream_timing.py                          # rotation-working, layer 2, 10^6 samples, 1 and 2 threads
    python scripts/timing/stream_timing.py --hooks 4 --threads 2 --json stream.json
    python scripts/timing/stream_timing.py --no-labels              # activations only, no on-states

Each condition runs in a fresh process (so its peak memory is its own): it builds the network
(``circuits.zoo.load_model(name, dataset=False)``), makes an :class:`circuits.export.ActivationStream`
and iterates it to the end, touching every batch. Reported: the stream's wall time (without the
build), samples per second, the peak resident memory of the process (``ru_maxrss``) and the
memory held before streaming, and where one batch's time goes (drawing the samples, encoding layer
0, each layer's forward pass, the read-out of every circuit that gives the on-states), measured
on 20 batches with the same public functions the stream calls. The machine is shared: the
one-minute load average is printed before and after every condition.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def child(args) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    import circuits
    from circuits.export import ActivationStream

    model = circuits.zoo.load_model(args.name, dataset=False)
    hooks = [int(h) for h in args.hooks.split(",")]
    stream = ActivationStream(model.truth, hooks=hooks, batch_size=args.batch_size, n_samples=args.samples, seed=0,
                              n_active=model.spec.n_active, labels=not args.no_labels)
    stream.batch(0)  # warm up (weights in cache, tables built)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    total = 0
    checksum = 0.0
    for batch in stream:
        total += len(batch)
        checksum += float(batch.layer(hooks[-1])[:, :8].sum())
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # where one batch's time goes: the stream's steps, one by one
    truth, net, module = model.truth, model.network, stream.module
    phases = {"draw": 0.0, "encode": 0.0, "read-out": 0.0}
    phases.update({f"layer {l}": 0.0 for l in range(1, max(hooks) + 1)})
    for i in range(20):
        t0 = time.perf_counter()
        active, payloads = net.system.draw(stream.n_active, args.batch_size, np.random.default_rng([1, i]))
        t1 = time.perf_counter()
        with torch.no_grad():
            x = truth.encode(active, payloads)
            t2 = time.perf_counter()
            phases["draw"] += t1 - t0
            phases["encode"] += t2 - t1
            for layer in range(1, max(hooks) + 1):
                t = time.perf_counter()
                linear = module.layers[layer]
                x = torch.relu(x + linear.bias if layer == 1 else linear(x))
                phases[f"layer {layer}"] += time.perf_counter() - t
                if layer in hooks and not args.no_labels:
                    t = time.perf_counter()
                    truth.on_state(x, layer)
                    phases["read-out"] += time.perf_counter() - t
    per_million = {k: v / (20 * args.batch_size) * 1e6 for k, v in phases.items()}
    return {"name": args.name, "hooks": hooks, "threads": args.threads, "samples": total, "seconds": seconds,
            "samples_per_second": total / seconds, "peak_rss_mib": peak, "rss_before_stream_mib": before,
            "batch_size": args.batch_size, "labels": not args.no_labels,
            "seconds_per_million_by_phase": per_million, "checksum": checksum}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="rotation-working")
    parser.add_argument("--hooks", default="2", help="network layers, comma-separated")
    parser.add_argument("--samples", type=int, default=10**6)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--threads", default="1,2", help="thread counts to compare, comma-separated")
    parser.add_argument("--no-labels", action="store_true")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.threads = int(args.threads)
        print(json.dumps(child(args)))
        return
    results = []
    for threads in [int(t) for t in args.threads.split(",")]:
        load_before = os.getloadavg()[0]
        cmd = [sys.executable, __file__, "--child", "--name", args.name, "--hooks", args.hooks, "--samples",
               str(args.samples), "--batch-size", str(args.batch_size), "--threads", str(threads)]
        if args.no_labels:
            cmd.append("--no-labels")
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["load_before"], result["load_after"] = load_before, os.getloadavg()[0]
        results.append(result)
        phases = ", ".join(f"{k} {v:.1f}" for k, v in result["seconds_per_million_by_phase"].items())
        print(f"{args.name} hooks {result['hooks']} threads {threads}: {result['samples']} samples in "
              f"{result['seconds']:.1f} s ({result['samples_per_second']:.0f}/s), peak RSS {result['peak_rss_mib']:.0f} "
              f"MiB ({result['rss_before_stream_mib']:.0f} before streaming); s per 10^6 samples: {phases}; load "
              f"{result['load_before']:.2f} -> {result['load_after']:.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
