#!/usr/bin/env python
"""The benchmark suite: every speed and memory figure the project reports, measured in one run.

    python scripts/timing/suite.py                       # start-up, the D = 2000 case, the demo, the figure sweep
    python scripts/timing/suite.py --scaling --large     # also cis scaling (seven widths) and D = 100,000
    python scripts/timing/suite.py --reference ../Rot-in-Sup   # also the study's own code, side by side
    python scripts/timing/suite.py --json suite.json --repeats 5

Each figure is measured ``--repeats`` times; the repeats of figures that are compared with each other
are interleaved (A B A B ...), each in a fresh process, and every line says the minimum and the median
and the machine's load average before and after (machines are shared: compare ratios measured in one
run, not seconds across runs). The figures:

- ``import``: seconds to ``import torch``, and to ``import circuits`` (which imports torch), as processes;
  the difference is what the package adds.
- ``case``: the D = 2000, T = 2000, z = 1..4, B = 500, L = 4 network: build plus evaluation inside the
  process (``cis bench``'s own timer) and the whole ``cis bench`` process (start-up included).
- ``demo``: ``cis demo`` wall time with the default threads and with ``--threads 1``, interleaved.
- ``figure-sweep``: ``cis bench --figure-sweep`` (41 networks, z = 1..4, B = 500), and its peak memory.
- ``scaling`` (``--scaling``): ``cis scaling`` with its defaults (seven widths to 64,000, B = 200, 2 seeds).
- ``large`` (``--large``): D = 100,000, T = 1,000,000, L = 4, the scalable preset, z = 1, B = 1000: build
  plus evaluation and peak memory.
- ``reference`` (``--reference DIR``, a checkout of the study's code that is not part of this
  repository): the study's own network for the D = 2000 case, timed in its own process beside ours.

Nothing is mounted and nothing on the machine is changed; outputs go to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
CASE = ["--width", "2000", "--n-circuits", "2000", "--n-layers", "4", "--batch-size", "500",
        "--n-active", "1", "2", "3", "4", "--dense-limit", "0", "--format", "json"]
LARGE = ["--preset", "scalable", "--width", "100000", "--n-circuits", "1000000", "--n-layers", "4",
         "--batch-size", "1000", "--n-active", "1", "--dense-limit", "0", "--yes", "--format", "json"]
#: The study's network of the D = 2000 case, run by its own code (a checkout given by --reference).
REFERENCE = """
import sys, time, torch
sys.path.insert(0, {path!r})
torch.set_num_threads({threads})
from classes_and_functions import RotSmallCircuits_4d, CompInSup
start = time.perf_counter()
net = CompInSup(2000, 4, 6, RotSmallCircuits_4d(2000, b=1))
for z in (1, 2, 3, 4):
    net.run(4, z=z, bs=500, capped=True)
print(time.perf_counter() - start)
"""


def load() -> float:
    """The one-minute load average."""
    return os.getloadavg()[0]


def timed(argv: list[str], env: dict | None = None) -> tuple[float, str]:
    """``(wall seconds, stdout)`` of a fresh process."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return wall, done.stdout


def cis(*args: str) -> list[str]:
    return [PY, "-m", "circuits.cli", *args]


def summary(name: str, values: list[float], before: float, after: float, unit: str = "s") -> dict:
    """One figure: its repeats, minimum, median and the load around them."""
    return {"figure": name, "unit": unit, "values": values, "min": min(values), "median": statistics.median(values),
            "load_before": before, "load_after": after}


def interleaved(named: dict[str, callable], repeats: int) -> dict[str, list[float]]:
    """Run each measurement ``repeats`` times, the measurements in turn (A B A B ...)."""
    out = {name: [] for name in named}
    for _ in range(repeats):
        for name, measure in named.items():
            out[name].append(measure())
    return out


def compared(named: dict[str, callable], repeats: int, combined: str, combine, unit: str = "s") -> list[dict]:
    """Two measurements interleaved (A B A B ...): a row for each (named by its key) and a row ``combined`` of
    ``combine(a, b)`` over the pairs (a difference in seconds, or a ratio with ``unit="x"``)."""
    before = load()
    got = interleaved(named, repeats)
    after = load()
    (first, a), (second, b) = got.items()
    return [summary(first, a, before, after), summary(second, b, before, after),
            summary(combined, [combine(x, y) for x, y in zip(a, b)], before, after, unit=unit)]


def run_suite(args) -> list[dict]:
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="cis-suite-"))

    rows += compared({"import torch": lambda: timed([PY, "-c", "import torch"])[0],
                      "import circuits": lambda: timed([PY, "-c", "import circuits"])[0]}, args.repeats,
                     "import circuits beyond torch", lambda torch_s, circuits_s: circuits_s - torch_s)

    before = load()
    inside, process = [], []
    for _ in range(args.repeats):
        wall, out = timed(cis("bench", *CASE))
        data = json.loads(out)
        inside.append(data["total_seconds"])
        process.append(wall)
    after = load()
    rows.append(summary("case D=2000 T=2000 z=1..4 B=500 L=4: inside the process", inside, before, after))
    rows.append(summary("case D=2000 T=2000 z=1..4 B=500 L=4: as a process", process, before, after))
    if args.reference:
        ref = Path(args.reference).resolve()
        script = REFERENCE.format(path=str(ref), threads=1)
        rows += compared(
            {"case, one thread: ours inside the process":
                lambda: json.loads(timed(cis("bench", *CASE, "--threads", "1"))[1])["total_seconds"],
             "case, one thread: the study's code inside its process":
                lambda: float(timed([PY, "-c", script])[1].strip().splitlines()[-1])},
            args.repeats, "case, one thread: the study's time over ours", lambda ours, study: study / ours, unit="x")

    rows += compared({"cis demo (default threads)": lambda: timed(cis("demo"))[0],
                      "cis demo --threads 1": lambda: timed(cis("demo", "--threads", "1"))[0]}, args.repeats,
                     "cis demo: default over --threads 1", lambda default, one: default / one, unit="x")

    before = load()
    sweep, memory, threads = [], [], []
    for _ in range(args.sweep_repeats):
        data = json.loads(timed(cis("bench", "--figure-sweep", "--format", "json"))[1])
        sweep.append(data["total_seconds"])
        memory.append(data["peak_memory_mb"])
        threads.append(data["torch_threads"])
    after = load()
    rows.append(summary("figure sweep (41 networks, z = 1..4, B = 500)", sweep, before, after))
    rows.append(summary("figure sweep: peak memory", memory, before, after, unit="MB"))
    rows[-1]["threads"] = threads

    if args.scaling:
        before = load()
        walls = [timed(cis("scaling", "--out", str(tmp / f"scaling-{i}"), "--no-progress"))[0]
                 for i in range(args.sweep_repeats)]
        rows.append(summary("cis scaling (defaults: seven widths to 64,000)", walls, before, load()))
    if args.large:
        before = load()
        data = json.loads(timed(cis("bench", *LARGE))[1])
        rows.append(summary("D=100,000 T=1,000,000 scalable z=1 B=1000: build + evaluation",
                            [data["total_seconds"]], before, load()))
        rows.append(summary("D=100,000 T=1,000,000: peak memory", [data["peak_memory_mb"]], before, load(), "MB"))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="repeats of each short figure (default 3)")
    p.add_argument("--sweep-repeats", type=int, default=1, help="repeats of the long figures (default 1)")
    p.add_argument("--scaling", action="store_true", help="also time cis scaling with its defaults")
    p.add_argument("--large", action="store_true", help="also the D = 100,000, T = 1,000,000 network")
    p.add_argument("--reference", default=None, metavar="DIR",
                   help="a checkout of the study's code (classes_and_functions.py) to time beside ours")
    p.add_argument("--json", default=None, metavar="FILE", help="also write every figure as JSON")
    args = p.parse_args(argv)
    if args.repeats < 1 or args.sweep_repeats < 1:
        p.error("--repeats and --sweep-repeats must be at least 1")
    if args.reference and not (Path(args.reference) / "classes_and_functions.py").is_file():
        p.error(f"--reference {args.reference} does not hold the study's classes_and_functions.py")
    print(f"{os.cpu_count()} cores; load {load():.2f}; python {sys.version.split()[0]}", flush=True)
    rows = run_suite(args)
    width = max(len(r["figure"]) for r in rows)
    print(f"\n{'figure':<{width}} {'min':>9} {'median':>9}  unit  load before-after")
    for r in rows:
        print(f"{r['figure']:<{width}} {r['min']:9.3f} {r['median']:9.3f}  {r['unit']:<4}  "
              f"{r['load_before']:.2f}-{r['load_after']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
