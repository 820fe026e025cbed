#!/usr/bin/env python
"""``cis demo`` with the default thread setting against ``--threads 1``, idle and with one core busy.

    python scripts/timing/thread_timing.py                 # 3 repeats of each, both conditions
    python scripts/timing/thread_timing.py --repeats 5 --max-load 0.5 --json timing.json

The machine is shared: before measuring, it waits (up to ``--wait`` seconds) until the one-minute
load average is below ``--max-load`` and reports the load it measured at (before and after each
condition). Runs alternate (default, 1, 1, default, ...) so that a drift in the machine's load
falls on both settings alike. "One core busy" is a ``python -c 'while True: pass'`` process
started for the condition (pinned to the last core; ``--no-pin`` lets it move) and stopped after it. Each time is the demo's own
(its last line, ``(X s)``: building and evaluating, without the interpreter's start); the
wall time of the whole process is recorded too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load() -> float:
    return os.getloadavg()[0]


def wait_idle(max_load: float, wait: float) -> float:
    end = time.time() + wait
    while load() > max_load and time.time() < end:
        print(f"  load {load():.2f} > {max_load}: waiting", flush=True)
        time.sleep(30)
    return load()


def demo(threads: int | None) -> tuple[float, float, int]:
    argv = [sys.executable, "-m", "circuits.cli", "demo"] + ([] if threads is None else ["--threads", str(threads)])
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=True)
    wall = time.perf_counter() - start
    own = float(re.findall(r"\(([\d.]+) s\)", proc.stdout)[-1])
    return own, wall


def condition(name: str, repeats: int) -> dict:
    times = {"default": [], "1": []}
    walls = {"default": [], "1": []}
    before = load()
    for r in range(repeats):
        order = ("default", "1") if r % 2 == 0 else ("1", "default")
        for setting in order:
            own, wall = demo(None if setting == "default" else 1)
            times[setting].append(own)
            walls[setting].append(wall)
            print(f"  {name}: threads={setting:<7} {own:6.2f} s (process {wall:6.2f} s)", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    mean = {k: statistics.mean(v) for k, v in times.items()}
    return {"condition": name, "load_before": before, "load_after": load(), "times": times, "walls": walls,
            "median_default": med["default"], "median_1": med["1"], "ratio_default_over_1": med["default"] / med["1"],
            "mean_default": mean["default"], "mean_1": mean["1"], "mean_ratio": mean["default"] / mean["1"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-load", type=float, default=0.5, help="wait until the 1-min load average is below this")
    p.add_argument("--wait", type=float, default=1800, help="seconds to wait at most for that (default 1800)")
    p.add_argument("--no-pin", dest="pin", action="store_false", help="let the busy loop move between cores")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from circuits.base import free_cores, usable_cores  # noqa: E402 - after the path

    print(f"{usable_cores()} usable cores; load {load():.2f}", flush=True)
    results = []
    at = wait_idle(args.max_load, args.wait)
    print(f"idle: load {at:.2f}, free cores now {free_cores()}", flush=True)
    results.append(condition("idle", args.repeats))
    last = max(os.sched_getaffinity(0))  # the busy loop holds one core (pinned to the last one)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                            preexec_fn=(lambda: os.sched_setaffinity(0, {last})) if args.pin else None)
    try:
        time.sleep(2)
        print(f"one core busy: load {load():.2f}, free cores now {free_cores()}", flush=True)
        results.append(condition("one core busy", args.repeats))
    finally:
        busy.kill()
        busy.wait()
    print(f"\n{'condition':<15} {'load':>11} {'default (s)':>12} {'--threads 1 (s)':>16} {'median ratio':>13} "
          f"{'mean ratio':>11}")
    for r in results:
        print(f"{r['condition']:<15} {r['load_before']:5.2f}-{r['load_after']:<5.2f} {r['median_default']:12.2f} "
              f"{r['median_1']:16.2f} {r['ratio_default_over_1']:13.3f} {r['mean_ratio']:11.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
