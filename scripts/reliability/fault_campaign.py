#!/usr/bin/env python
"""Fault campaign: bad command lines, bad API calls and faults, each run and classified.

    python scripts/reliability/fault_campaign.py                  # cli, api, faults (a few minutes on 2 cores)
    python scripts/reliability/fault_campaign.py --only cli,api   # some sections
    python scripts/reliability/fault_campaign.py --only new       # the newest features' sections (about 4 minutes)
    python scripts/reliability/fault_campaign.py --json out.json  # also every case's outcome as JSON
    python scripts/reliability/fault_campaign.py --mount          # also cases that mount a tmpfs or a bind mount (root)

Each bad command line runs ``circuits.cli.main(argv)`` in a forked copy of this process (the
package is imported once, so a case costs milliseconds; the fork is killed after ``--timeout``
seconds or when it holds more than ``--memory`` GiB). Each bad API call runs the same way.
Outcomes:

- ``refused``: exit status 2 with exactly one line on stderr naming the flag as typed (API: a
  ``circuits.CircuitsError`` whose ``parameter`` or message names the parameter), within the
  time limit, having created no output;
- ``unclear``: refused, but the message does not name the flag, is not one line, or the
  command created its output before refusing;
- ``traceback``: any other exception;
- ``accepted``: it ran (exit 0) on input it should have refused;
- ``wrong``: it ran and the result is wrong (NaN rows, rows dropped, another circuit's values);
- ``slow``: no answer within the time limit (or beyond the memory limit).

Faults run real ``cis`` processes (``python -m circuits.cli``) or forked writers that are killed
at every step of a save: kill -9 during a sweep, a ``build --overwrite`` and a scaling study; two
sweeps on one folder; every field of a saved ``config.json`` edited (with and without a
recomputed checksum); truncated and flipped saved files and sweep parts; a full disk; a
closed standard output; Ctrl-C. Each is ``survived`` (nothing lost, the outcome as documented)
or ``lost`` (with what went wrong).

The newest features' sections (``identity``, ``interrupted``, ``conflicts``, ``applicability``,
``special-files``, ``newest-api``, ``newest-cli``; ``--only new`` for all) add the classes
``survived`` (a run that is the correct outcome), ``mixed`` (a silent mix of two stored artefacts),
``lost`` (finished work lost, a partial or stray file left) and ``hang`` (no answer: killed), and
split ``slow`` into ``slow`` (answered after its limit) and ``hang``; see the comment above
``API_NAMES``, which also lists every library name those sections call. Nothing is mounted
without ``--mount``: a full disk is then an injected ENOSPC, and the cases that need a real one
are skipped and listed as such.

Not part of the test run (it takes minutes); tests/ holds a fast test per class of defect.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import json
import math
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import circuits  # noqa: E402  (after the path: the working tree's package)
from circuits import CircuitsError  # noqa: E402
from circuits.cli import main as cli_main  # noqa: E402
from circuits.experiments import FIELDS, spec_keys  # noqa: E402

OUTCOMES = ["refused", "unclear", "traceback", "accepted", "wrong", "slow"]
IS_ROOT = os.geteuid() == 0
PY = sys.executable


# =============================================================================== running in a fork
def forked(fn, timeout: float, memory: float) -> dict:
    """Run ``fn()`` in a forked child; its stdout/stderr captured, killed after ``timeout`` s or above
    ``memory`` bytes resident. ``fn`` returns an exit code (int) or a JSON-able result (dict)."""
    files = [tempfile.TemporaryFile() for _ in range(3)]
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            os.setpgid(0, 0)
            os.dup2(files[0].fileno(), 1)
            os.dup2(files[1].fileno(), 2)
            result = fn()
            if isinstance(result, dict):
                files[2].write(json.dumps(result, default=str).encode())
                files[2].flush()
            else:
                code = int(result or 0)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except BaseException:  # noqa: BLE001 - an uncaught exception is what cis shows as a traceback
            traceback.print_exc()
            code = 99
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except BaseException:  # noqa: BLE001
                pass
            os._exit(code)
    status, peak = None, 0
    while True:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(raw)
            break
        rss = _rss(pid)
        peak = max(peak, rss)
        elapsed = time.perf_counter() - start
        if elapsed > timeout or rss > memory:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = "timeout" if elapsed > timeout else "memory"
            break
        time.sleep(0.005 if elapsed < 0.2 else 0.05)
    seconds = time.perf_counter() - start
    texts = []
    for f in files:
        f.seek(0)
        texts.append(f.read().decode(errors="replace"))
        f.close()
    result = json.loads(texts[2]) if texts[2] else None
    return {"status": status, "stdout": texts[0], "stderr": texts[1], "seconds": seconds, "result": result,
            "peak_gb": peak / 2**30}


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


# ================================================================================ the bad command lines
SMALL = ["--width", "400", "--n-circuits", "50", "--n-layers", "2", "--batch-size", "20"]
COMMAND_BASE = {  # flags that make each command cheap, before the bad one (argparse: the last one wins)
    "demo": SMALL,
    "evaluate": SMALL,
    "build": ["--width", "400", "--n-circuits", "50", "--n-layers", "2"],
    "sweep": SMALL + ["--no-progress"],
    "boundary": ["--width", "400", "--n-layers", "2", "--batch-size", "20", "--n-seeds", "1", "--rtol", "0.5"],
    "scaling": ["--widths", "400", "800", "--n-layers", "2", "--batch-size", "20", "--n-seeds", "1", "--rtol", "0.5",
                "--no-progress"],
    "bench": SMALL + ["--n-active", "1"],
    "dataset": SMALL,
}
SPEC_EXCLUDES = {"demo": {"n_active"}, "build": {"batch_size", "ideal"}, "boundary": {"n_circuits"},
                 "scaling": {"width", "n_circuits"}, "bench": {"n_active"}, "dataset": {"ideal"}}
INT_BAD = ["-1", "0", "-0", "2.5", "nan", "inf", "-inf", "1e12", "99999999999999999996", "abc", "", "0x10", "1e-3"]
FLOAT_BAD = ["-1", "nan", "inf", "-inf", "1e308", "1e400", "abc", "", "1001"]
CHOICE_BAD = ["bogus", "", "CAPPED", "capped "]
EC_BAD = ["redundant:99999999999999999999", "redundant:1000", "redundant:0", "redundant:nan", "step:-1", "step:nan",
          "step:inf", "step:", "bogus", "", "none+none", "step:0.4+step:0.3", "redundant:2.5", "cleanup:3"]
WS_BAD = ["bogus", "", "inhibited:nan", "inhibited:-1", "inhibited:inf", "inhibited:", "inhibited:1e400", "capped:2"]
SEED_BAD = ["-1", "9223372036854775808", "18446744073709551616", "1.5", "nan", "inf", "abc", "-9223372036854775809"]
HUGE = {  # absurd sizes: refused (by the spec's limits or by the cost guard) in well under a second
    "width": ["10000000000", "1e12"], "n_circuits": ["1000000000", "1e9"], "n_layers": ["1000000"],
    "batch_size": ["1e12", "1000000000000"], "redundancy": ["100000"],
}
COST_FLAGS = ("--batch-size", "--n-circuits", "--width", "--n-layers", "--yes")


class Case:
    """One case: a command line (or an API call) and what a clean refusal must name."""

    def __init__(self, section, name, argv=None, flags=(), call=None, parameter=None, out=None, setup=None,
                 wrong=None, limit=None, accept_ok=False):
        self.section, self.name, self.argv, self.flags = section, name, argv, tuple(flags)
        self.call, self.parameter, self.out, self.setup, self.wrong = call, parameter, out, setup, wrong
        self.limit, self.accept_ok = limit, accept_ok


def spec_flag_cases(tmp: pathlib.Path) -> list[Case]:
    """Every spec flag of every command that has them, with bad values of its kind."""
    cases = []
    keys = spec_keys()
    for cmd, base in COMMAND_BASE.items():
        full = cmd == "evaluate"  # every value for evaluate; a rotating sample of them for the others
        for i, key in enumerate(keys):
            if key in SPEC_EXCLUDES.get(cmd, ()):
                continue
            info = FIELDS.get(key)
            kind = info.kind if info is not None else int
            flag = "--" + key.replace("_", "-")
            if kind is bool:
                if cmd in ("sweep", "scaling"):  # these take values: true/false/yes/no/1/0
                    values = ["maybe", "2", ""]
                else:
                    values = ["=yes"]
            elif key == "seed":
                values = SEED_BAD
            elif key == "error_correction":
                values = EC_BAD
            elif key == "weight_scheme":
                values = WS_BAD
            elif kind is float:
                values = FLOAT_BAD
            elif kind is str:
                values = CHOICE_BAD
            else:
                values = INT_BAD + HUGE.get(key, [])
            if not full:
                values = [values[(i + j) % len(values)] for j in range(min(3, len(values)))]
                values += [v for v in HUGE.get(key, [])[:1] if v not in values]
            for v in values:
                argv = [cmd, *base]
                if cmd == "sweep":
                    argv += ["--out", str(tmp / f"sweep-{len(cases)}")]
                if cmd == "scaling":
                    argv += ["--out", str(tmp / f"scaling-{len(cases)}")]
                if cmd == "build":
                    argv += ["--out", str(tmp / f"build-{len(cases)}")]
                if cmd == "dataset":
                    argv += ["--out", str(tmp / f"data-{len(cases)}.safetensors")]
                argv += [flag + v] if v.startswith("=") else [flag, v]
                huge = v in HUGE.get(key, [])
                out = argv[argv.index("--out") + 1] if "--out" in argv else None
                cases.append(Case("cli", f"{cmd} {flag} {v!r}", argv, (flag,) + (COST_FLAGS if huge else ()),
                                  out=out, limit=1.0 if huge else None))
    return cases


def _write(path: pathlib.Path, data) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
    return path


def bad_dir_paths(tmp: pathlib.Path) -> dict:
    """Output paths the operating system refuses: name -> (path, flags it must name)."""
    a_file = _write(tmp / "a-file", "x")
    paths = {"under /proc": "/proc/circuits-campaign/out", "a file": str(a_file), "under a file": f"{a_file}/out",
             "/dev/null/x": "/dev/null/x", "empty": "", "nul byte": "out\x00x"}
    ro = tmp / "read-only"
    ro.mkdir(exist_ok=True)
    os.chmod(ro, 0o555)
    if not IS_ROOT:
        paths["read-only folder (chmod 555)"] = str(ro / "out")
    else:  # chmod does not stop root: an immutable folder, else (with --mount) a read-only bind mount
        imm = tmp / "immutable"
        imm.mkdir(exist_ok=True)
        if subprocess.run(["chattr", "+i", str(imm)], capture_output=True).returncode == 0:
            paths["immutable folder (chattr +i)"] = str(imm / "out")
        rom = tmp / "ro-mount"
        rom.mkdir(exist_ok=True)
        if MOUNT and subprocess.run(["mount", "--bind", "-o", "ro", str(rom), str(rom)],
                                    capture_output=True).returncode == 0:
            paths["read-only mount"] = str(rom / "out")
    full = tmp / "full"
    full.mkdir(exist_ok=True)
    if IS_ROOT and MOUNT and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)],
                                            capture_output=True).returncode == 0:
        with contextlib.suppress(OSError):
            with open(full / "filler", "wb") as f:
                f.write(b"\0" * (1 << 20))
        paths["full disk (tmpfs)"] = str(full / "out")
    return paths


def undo_mounts(tmp: pathlib.Path) -> None:
    for name in ("ro-mount", "full"):
        subprocess.run(["umount", str(tmp / name)], capture_output=True)
    subprocess.run(["chattr", "-i", str(tmp / "immutable")], capture_output=True)
    with contextlib.suppress(OSError):
        os.chmod(tmp / "read-only", 0o755)


def command_cases(tmp: pathlib.Path) -> list[Case]:
    """Each command's own flags, grid files, output paths, devices, registries."""
    cases = []

    def add(name, argv, flags, **kw):
        cases.append(Case("cli", name, argv, flags, **kw))

    # output paths the OS refuses, for every command that writes
    paths = bad_dir_paths(tmp)
    net_dir = tmp / "saved-net"
    for what, path in paths.items():
        add(f"build --out {what}", ["build", *COMMAND_BASE["build"], "--out", path], ("--out",))
        add(f"build --overwrite --out {what}", ["build", *COMMAND_BASE["build"], "--overwrite", "--out", path],
            ("--out",))
        add(f"sweep --out {what}", ["sweep", *COMMAND_BASE["sweep"], "--out", path], ("--out",))
        add(f"scaling --out {what}", ["scaling", *COMMAND_BASE["scaling"], "--out", path], ("--out",))
        add(f"dataset --out {what}", ["dataset", *SMALL, "--out", path], ("--out",))
        add(f"zoo --out {what}", ["zoo", "--only", "rotation-exact", "--out", path], ("--out",))
        add(f"figures --out {what}", ["figures", "--quick", "--only", "payload-error", "--out", path], ("--out",))
    # devices
    for dev in ("mps", "meta", "bogus", "cuda:99", "", "xla", "cpu:-1"):
        for cmd in ("evaluate", "bench", "boundary"):
            add(f"{cmd} --device {dev!r}", [cmd, *COMMAND_BASE[cmd], "--device", dev], ("--device",))
        add(f"sweep --device {dev!r}", ["sweep", *COMMAND_BASE["sweep"], "--out", str(tmp / f"dev-{dev}"), "--device",
                                       dev], ("--device",), out=str(tmp / f"dev-{dev}"))
        add(f"scaling --device {dev!r}", ["scaling", *COMMAND_BASE["scaling"], "--out", str(tmp / f"sdev-{dev}"),
                                         "--device", dev], ("--device",), out=str(tmp / f"sdev-{dev}"))
    # threads and workers
    for v in ("0", "-1", "100000", "1.5", "abc", "nan"):
        for cmd in ("demo", "evaluate", "build", "bench", "boundary", "dataset", "sweep", "scaling", "zoo", "capacity",
                    "figures"):
            argv = [cmd, *COMMAND_BASE.get(cmd, [])]
            if cmd in ("build", "dataset", "sweep", "scaling"):
                argv += ["--out", str(tmp / f"thr-{cmd}-{v}")]
            if cmd == "zoo":
                argv += ["--list"]
            if cmd == "figures":
                argv += ["--quick", "--only", "payload-error", "--out", str(tmp / f"thr-fig-{v}")]
            out = argv[argv.index("--out") + 1] if "--out" in argv else None
            add(f"{cmd} --threads {v}", argv + ["--threads", v], ("--threads",), out=out)
        for cmd in ("sweep", "boundary", "scaling"):
            argv = [cmd, *COMMAND_BASE[cmd]] + (["--out", str(tmp / f"wk-{cmd}-{v}")] if cmd != "boundary" else [])
            add(f"{cmd} --workers {v}", argv + ["--workers", v], ("--workers",))
        add(f"bench --figure-sweep --workers {v}", ["bench", "--figure-sweep", "--workers", v], ("--workers",))
    for v in ("0", "-1", "1.5", "abc", "nan", ""):
        add(f"evaluate --chunk-size {v}", ["evaluate", *SMALL, "--chunk-size", v], ("--chunk-size",))
        add(f"bench --chunk-size {v}", ["bench", *COMMAND_BASE["bench"], "--chunk-size", v], ("--chunk-size",))
    # bench
    for v in ("0", "-1", "1e9", "abc"):
        add(f"bench --dense-batch {v}", ["bench", *COMMAND_BASE["bench"], "--dense-batch", v], ("--dense-batch",))
        add(f"bench --n-active {v}", [*["bench", *SMALL], "--n-active", v], ("--n-active",))
    add("bench --dense-limit -1", ["bench", *COMMAND_BASE["bench"], "--dense-limit", "-1"], ("--dense-limit",))
    add("bench --n-active 1 1000000", ["bench", *SMALL, "--n-active", "1", "1000000"], ("--n-active",))
    add("bench --dense-limit 10000000 --width 1000000", ["bench", "--width", "1000000", "--n-circuits", "50",
                                                          "--n-layers", "2", "--batch-size", "10", "--n-active", "1",
                                                          "--dense-limit", "10000000"],
        ("--dense-limit", "--width"), limit=1.0)
    # boundary / scaling search parameters
    for flag, values in (("--n-seeds", ["0", "-1", "1e9", "100000"]), ("--rtol", ["-1", "-0.5", "nan", "inf", "abc"]),
                         ("--confidence", ["0", "1", "1.5", "nan", "-0.5"]), ("--level", ["0", "-1", "nan", "inf"]),
                         ("--on-error", ["0", "-1", "nan", "inf"]), ("--criterion", ["bogus", ""])):
        for v in values:
            add(f"boundary {flag} {v}", ["boundary", *COMMAND_BASE["boundary"], flag, v], (flag,))
            if flag not in ("--confidence", "--on-error"):
                out = str(tmp / f"sc-{flag}-{v}")
                add(f"scaling {flag} {v}", ["scaling", *COMMAND_BASE["scaling"], "--out", out, flag, v], (flag,),
                    out=out)
    for v in ("", "abc", "400", "400,-400", "400,1e12", "400,401", "400,800,nan", "0,400", "400,400",
              ",".join(str(400 * (i + 1)) for i in range(2000))):
        out = str(tmp / f"sw-{len(cases)}")
        add(f"scaling --widths {v.replace(',', ' ')[:30]!r}", ["scaling", *COMMAND_BASE["scaling"], "--out", out,
                                                               "--widths", *v.split(",")], ("--widths",), out=out)
    # capacity
    for flag, values in (("--width", ["0", "-4", "1e12", "10000000000", "99999999999999999996", "abc", "3"]),
                         ("--redundancy", ["0", "-1", "1000", "1e9"]),
                         ("--circuit-width", ["0", "-1", "100000", "abc"]),
                         ("--n-circuits", ["0", "-1", "1000000000", "1e9", "abc"])):
        for v in values:
            add(f"capacity {flag} {v}", ["capacity", flag, v], (flag,), limit=1.0)
    add("capacity --format xml", ["capacity", "--format", "xml"], ("--format",))
    # sweep grid files
    grids = {
        "binary": bytes(range(256)) * 4, "invalid JSON": "{\"width\": [400,", "invalid TOML (.toml)": "width = [400,",
        "wrong key": json.dumps({"widht": [400]}), "empty list": json.dumps({"width": []}),
        "empty object": "{}", "empty array": "[]", "a number": "42", "a string": "\"width\"", "null": "null",
        "list of numbers": "[1, 2]", "nested list value": json.dumps({"width": [[400]]}),
        "string for int": json.dumps({"width": "abc"}), "NaN value": '{"width": NaN}',
        "Infinity": '{"chi_scale": Infinity}', "bool for int": json.dumps({"width": True}),
        "huge list (1e6 seeds)": json.dumps({"width": 400, "n_circuits": 50, "n_layers": 2, "batch_size": 20,
                                             "seed": list(range(1000000))}),
        "key twice (dash and underscore)": json.dumps({"n_circuits": 50, "n-circuits": 60}),
        "duplicate JSON key": '{"width": 400, "width": 800}', "empty file": "",
        "TOML binary (.toml)": bytes(range(256)), "deep nesting": "[" * 100000 + "]" * 100000,
        "object for value": json.dumps({"width": {"a": 1}}), "negative width": json.dumps({"width": -400}),
        "huge n_circuits": json.dumps({"n_circuits": 10**12}), "unknown system": json.dumps({"system": "bogus"}),
    }
    for what, content in grids.items():
        suffix = ".toml" if "TOML" in what else ".json"
        path = _write(tmp / "grids" / (what.replace(" ", "-").replace("/", "") + suffix), content)
        out = str(tmp / f"grid-{len(cases)}")
        add(f"sweep --grid ({what})", ["sweep", "--grid", str(path), "--out", out, "--no-progress"],
            ("--grid",), out=out, limit=2.0)
    for what, path in (("missing", str(tmp / "no-such.json")), ("a directory", str(tmp)), ("/dev/zero", "/dev/zero"),
                       ("/proc/self/mem", "/proc/self/mem")):
        out = str(tmp / f"grid-{len(cases)}")
        add(f"sweep --grid {what}", ["sweep", "--grid", path, "--out", out, "--no-progress"], ("--grid",), out=out,
            limit=2.0)
    huge = str(tmp / "huge-sweep")
    add("sweep --seed with 100000 values", ["sweep", *COMMAND_BASE["sweep"], "--out", huge, "--seed",
                                             *[str(i) for i in range(100000)]], ("--seed", "--grid", "runs"),
        out=huge, limit=10.0)
    # --network of bad directories
    bad_net = _write(tmp / "bad-net" / "config.json", "{}").parent
    for what, path in (("missing", str(tmp / "nothing")), ("a file", str(tmp / "a-file")), ("not a network", str(bad_net)),
                       ("/proc", "/proc"), ("empty", "")):
        add(f"evaluate --network {what}", ["evaluate", "--network", path], ("--network",))
        add(f"dataset --network {what}", ["dataset", "--network", path, "--out", str(tmp / f"dl-{len(cases)}.st")],
            ("--network",))
    # existing outputs without --overwrite
    _write(tmp / "exists.safetensors", b"x")
    add("dataset --out existing file", ["dataset", *SMALL, "--out", str(tmp / "exists.safetensors")], ("--out",))
    add("dataset --out a directory", ["dataset", *SMALL, "--out", str(tmp)], ("--out",))
    add("dataset --batch-size 1e9 --activations", ["dataset", *SMALL, "--batch-size", "1000000000", "--activations",
                                                    "--out", str(tmp / "big.st")],
        ("--batch-size", "--yes"), limit=1.0, out=str(tmp / "big.st"))
    add("dataset --n-active 0", ["dataset", *SMALL, "--n-active", "0", "--out", str(tmp / "z0.st")], ("--n-active",),
        out=str(tmp / "z0.st"))
    # registries and names
    add("zoo --only bogus", ["zoo", "--only", "bogus", "--list"], ("--only",))
    add("zoo --only ','", ["zoo", "--only", ",", "--list"], ("--only",))
    add("zoo without --out", ["zoo"], ("--out",))
    add("figures --only bogus", ["figures", "--only", "bogus", "--out", str(tmp / "fig-bogus")], ("--only",),
        out=str(tmp / "fig-bogus"))
    add("figures --only ','", ["figures", "--only", ",", "--out", str(tmp / "fig-comma")], ("--only",),
        out=str(tmp / "fig-comma"))
    add("figures --only 5 (a study figure's number)", ["figures", "--only", "5", "--out", str(tmp / "fig-five")],
        ("--only",), out=str(tmp / "fig-five"))
    add("figures --list --out", ["figures", "--list", "--out", str(tmp / "fig-list")], ("--list",),
        out=str(tmp / "fig-list"))
    for v in ("-1", "9223372036854775808", "abc", "1.5"):
        add(f"figures --seed {v}", ["figures", "--quick", "--only", "payload-error", "--seed", v, "--out",
                                    str(tmp / f"fs{v}")], ("--seed",), out=str(tmp / f"fs{v}"))
    for cmd in ("demo", "evaluate", "build", "boundary", "bench", "dataset"):
        argv = [cmd, *COMMAND_BASE[cmd]] + (["--out", str(tmp / f"seed-{cmd}")] if cmd in ("build", "dataset") else [])
        add(f"{cmd} --seed -1 (reported)", argv + ["--seed", "-1"], ("--seed",))
    add("evaluate --format xml", ["evaluate", *SMALL, "--format", "xml"], ("--format",))
    add("evaluate --widht (typo)", ["evaluate", "--widht", "400"], ("--widht",))
    add("no command", [], ("COMMAND", "command"))
    add("bogus command", ["bogus"], ("bogus",))
    # the reported examples
    add("demo --n-circuits 2 (reported)", ["demo", "--n-circuits", "2", "--batch-size", "20"], ("--n-circuits", "--n-active"))
    add("evaluate 21-hour job (reported)", ["evaluate", "--width", "100000", "--n-circuits", "1000000", "--batch-size",
                                         "100000"], COST_FLAGS, limit=1.0)
    add("evaluate --n-layers 1000 at T=557 (cost)", ["evaluate", "--n-layers", "1000", "--batch-size", "1000000"],
        COST_FLAGS, limit=1.0)
    add("sweep 1e9 batch (cost)", ["sweep", *COMMAND_BASE["sweep"], "--batch-size", "1000000000", "--out",
                                   str(tmp / "cost-sweep")], COST_FLAGS, out=str(tmp / "cost-sweep"), limit=1.0)
    add("boundary huge width (cost)", ["boundary", "--width", "10000000", "--n-layers", "2", "--batch-size",
                                       "1000000"], COST_FLAGS + ("--n-seeds",), limit=1.0)
    add("scaling huge widths (cost)", ["scaling", "--widths", "400", "10000000", "--n-layers", "2", "--batch-size",
                                       "1000000000", "--out", str(tmp / "cost-scaling"), "--no-progress"],
        COST_FLAGS + ("--widths",), out=str(tmp / "cost-scaling"), limit=1.0)
    add("build tuned-chi huge (cost)", ["build", "--width", "10000000", "--n-circuits", "100000000", "--error-correction",
                                        "tuned-chi", "--out", str(tmp / "cost-build")], COST_FLAGS,
        out=str(tmp / "cost-build"), limit=1.0)
    add("evaluate --chi-scale 1000 (finite-looking)", ["evaluate", *SMALL, "--n-layers", "5", "--chi-scale", "1000",
                                                       "--format", "json"], ("--chi-scale",), accept_ok=True,
        wrong=lambda out: any(r["measured"] is None for r in json.loads(out)["rows"]))
    net_argv = ["build", *COMMAND_BASE["build"], "--out", str(net_dir)]
    add("evaluate --network NET with a conflicting --width", ["evaluate", "--network", str(net_dir), "--width",
                                                               "800"], ("--width", "--network"), setup=net_argv)
    add("build --out NET (not empty, no --overwrite)", ["build", *COMMAND_BASE["build"], "--out", str(net_dir)], ("--out",),
        setup=net_argv)
    return cases


def _run_cli(case: Case) -> dict:
    if case.setup and not os.path.exists(case.argv[case.argv.index("--out") + 1] if "--out" in case.argv else ""):
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            forked(lambda: cli_main(case.setup), 120, 8 << 30)
    existed = case.out is not None and os.path.lexists(case.out)
    r = forked(lambda: cli_main(case.argv), TIMEOUT, MEMORY)
    r["created_output"] = case.out is not None and not existed and os.path.lexists(case.out)
    return r


def classify_cli(case: Case, r: dict) -> tuple[str, str]:
    err = r["stderr"].strip()
    lines = err.splitlines()
    limit = case.limit or TIMEOUT
    if r["status"] in ("timeout", "memory"):
        return "slow", f"no answer after {r['seconds']:.1f} s" + (" (memory limit)" if r["status"] == "memory" else "")
    if r["status"] == 99 or "Traceback (most recent call last)" in err:
        last = [ln for ln in lines if ln and not ln.startswith(" ")][-1:] or ["?"]
        return "traceback", last[0][:160]
    if r["status"] == 0:
        if case.wrong is not None and case.wrong(r["stdout"]):
            return "wrong", "ran and printed a wrong result"
        if case.accept_ok:
            return "refused", "ran correctly"
        return "accepted", f"exit 0 in {r['seconds']:.1f} s"
    message = lines[-1] if lines else ""
    problems = []
    if r["status"] != 2:
        problems.append(f"exit status {r['status']}")
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr")
    if case.flags and not any(f in message for f in case.flags):
        problems.append(f"does not name {case.flags[0]}")
    if r.get("created_output"):
        problems.append("created its output before refusing")
    if r["seconds"] > limit:
        return "slow", f"refused after {r['seconds']:.1f} s (limit {limit:g} s): {message[:120]}"
    if problems:
        return "unclear", "; ".join(problems) + f": {message[:140]}"
    return "refused", message[:160]


# ===================================================================================== bad API calls
def api_cases() -> list[Case]:
    cases = []

    def add(name, parameter, call, wrong=None, limit=None, accept_ok=False):
        cases.append(Case("api", name, call=call, parameter=parameter, wrong=wrong, limit=limit, accept_ok=accept_ok))

    S = circuits.ExperimentSpec
    base = dict(width=400, n_circuits=50, n_layers=2, batch_size=20)
    bad_values = {"width": [-1, 0, 10**12, 10**20, 2.5, math.nan, math.inf, "400", None, True, 401],
                  "n_circuits": [0, -5, 10**12, 1.5, math.nan, "50", None, 10**30],
                  "redundancy": [0, -1, 1000, 2.5, 101], "n_layers": [0, -1, 10**6, math.inf],
                  "n_active": [0, -1, 51, 1.5, math.nan], "batch_size": [0, -1, 10**12, math.inf, "20"],
                  "seed": [-1, 2**63, 2**64, 1.5, math.nan, "0"], "chi_scale": [-1, math.nan, math.inf, 1e308, "1"],
                  "system": ["bogus", None, 3], "error_correction": ["redundant:99999999999999999999", "bogus", None,
                                                                     "step:nan", 5],
                  "weight_scheme": ["bogus", None, "inhibited:nan"], "assignment": ["bogus", None],
                  "ideal": ["yes", 2, None], "preset": ["bogus", 3]}
    for key, values in bad_values.items():
        for v in values:
            if v is None and key in ("error_correction", "weight_scheme", "assignment"):
                # None is how a spec says "not given": the construction's default, or the preset's choice
                add(f"ExperimentSpec({key}=None) (not given: the default)", key,
                    lambda key=key: S(**{**base, key: None}), accept_ok=True,
                    wrong=lambda spec: spec != S(**base))
                continue
            add(f"ExperimentSpec({key}={v!r})", key, lambda key=key, v=v: S(**{**base, key: v}))
    add("ExperimentSpec(params={'chain_length': 0})", "chain_length",
        lambda: S(system="rotation-chains", params={"chain_length": 0}, **base))
    add("ExperimentSpec.from_dict(unknown key)", "widht", lambda: S.from_dict({"widht": 400}))
    add("ExperimentSpec.from_dict(chain_length for rotation)", "chain_length",
        lambda: S.from_dict({**base, "chain_length": 3}))

    def net(**kw):
        return circuits.build(circuits.rotation_circuits(50, seed=0), width=400, redundancy=3, n_layers=2, seed=0, **kw)

    def system():
        return circuits.rotation_circuits(50, seed=0)

    for key, v in (("width", 402), ("width", -400), ("redundancy", 0), ("redundancy", 101), ("n_layers", 0),
                   ("chi_scale", 1e308), ("chi_scale", -1.0), ("chi_scale", math.nan), ("weight_scheme", "bogus"),
                   ("assignment", "bogus"), ("device", "meta"), ("device", "mps"), ("device", "cuda:99")):
        kw = {"width": 400, "redundancy": 3, "n_layers": 2, "seed": 0, key: v}
        add(f"build({key}={v!r})", key, lambda kw=kw: circuits.build(system(), **kw))
    add("build(not a system)", "target",
        lambda: circuits.build("rotation", width=400, redundancy=3, n_layers=2, seed=0))

    def finite_table(ev):
        return not np.isfinite(ev.table["measured"].to_numpy(dtype=float)).all()

    add("evaluate(net, chi_scale=1000 at L=6): finite or refused", "chi_scale",
        lambda: circuits.evaluate(circuits.build(system(), width=400, redundancy=3, n_layers=6, seed=0,
                                                 chi_scale=1000.0), n_active=3, batch_size=50),
        wrong=finite_table, accept_ok=True)
    acts_bad = {"-1": [[-1, 1], [2, 3]], "T": [[50, 1], [2, 3]], "duplicate": [[1, 1], [2, 3]], "1-D": [1, 2],
                "3-D": [[[1, 2]]], "float": [[0.5, 1.0], [2.0, 3.0]], "bool": [[True, False], [False, True]],
                "empty": np.zeros((0, 2), dtype=int), "no columns": np.zeros((2, 0), dtype=int),
                "strings": [["a", "b"], ["c", "d"]], "huge index": [[2**62, 1], [2, 3]], "NaN": [[math.nan, 1], [2, 3]],
                "object": np.array([[1, None], [2, 3]], dtype=object)}
    for what, a in acts_bad.items():
        add(f"evaluate(net, active={what})", "active", lambda a=a: circuits.evaluate(net(), active=np.asarray(a)))
        add(f"net.forward(active={what})", "active",
            lambda a=a: (lambda n: n.forward(np.asarray(a), np.zeros(np.shape(a) + (4,))))(net()))
        add(f"net.trace(active={what})", "active",
            lambda a=a: (lambda n: list(n.trace(np.asarray(a), np.zeros(np.shape(a) + (4,)))))(net()))
        add(f"net.active_mask(active={what})", "active", lambda a=a: net().active_mask(np.asarray(a), 1))
        add(f"net.place(active={what})", "active",
            lambda a=a: net().place(np.asarray(a), np.zeros(np.shape(a) + (4,))))
    good = np.array([[0, 1], [2, 3]])

    def inputs(n, shape=(2, 2, 4), fill=0.0):
        return np.full(shape, fill)

    add("evaluate(net, payloads with NaN)", "payloads",
        lambda: circuits.evaluate(net(), active=good, payloads=np.full((2, 2, 2), np.nan)))
    add("evaluate(net, payloads of shape (2, 2, 3))", "payloads",
        lambda: circuits.evaluate(net(), active=good, payloads=np.zeros((2, 2, 3))))
    add("evaluate(net, payloads as strings)", "payloads",
        lambda: circuits.evaluate(net(), active=good, payloads=np.full((2, 2, 2), "a")))
    add("evaluate(net, n_active=3 with active z=2)", "n_active", lambda: circuits.evaluate(net(), n_active=3, active=good))
    for key, v in (("n_active", 0), ("n_active", -1), ("n_active", 51), ("batch_size", 0), ("batch_size", -3),
                   ("batch_size", 10**12), ("seed", -1), ("seed", "x"), ("chunk_size", 0), ("chunk_size", -1),
                   ("threads", 0), ("threads", -2), ("threads", 10**6)):
        kw = {"n_active": 2, "batch_size": 10, key: v}
        add(f"evaluate(net, {key}={v!r})", key, lambda kw=kw: circuits.evaluate(net(), **kw),
            limit=1.0 if v == 10**12 else None)
    spec = S(**base)
    for key, v in (("n_active", 2), ("threads", 0), ("chunk_size", 0), ("device", "meta"), ("network", "x")):
        add(f"evaluate(spec, {key}={v!r})", key, lambda key=key, v=v: circuits.evaluate(spec, **{key: v}))
    add("evaluate(spec, network of another spec)", "network",
        lambda: circuits.evaluate(spec, network=circuits.build(spec.replace(width=800))))
    add("evaluate('rotation')", "target", lambda: circuits.evaluate("rotation"))
    add("build(huge spec)", None, lambda: circuits.build(S(width=10**7, n_circuits=10**8,
                                                                           redundancy=6, n_layers=5)), limit=1.0)
    add("evaluate(spec 21-hour job)", None,
        lambda: circuits.evaluate(S(width=100000, n_circuits=1000000, batch_size=100000)), limit=1.0)
    # Network methods
    for what, fn, param in (
            ("net.forward(inputs wrong shape)", lambda n: n.forward(good, np.zeros((2, 2, 3))), "inputs"),
            ("net.forward(inputs NaN)", lambda n: n.forward(good, np.full((2, 2, 4), np.nan)), "inputs"),
            ("net.forward(inputs inf)", lambda n: n.forward(good, np.full((2, 2, 4), np.inf)), "inputs"),
            ("net.forward(inputs strings)", lambda n: n.forward(good, np.full((2, 2, 4), "a")), "inputs"),
            ("net.forward(inputs other batch)", lambda n: n.forward(good, np.zeros((3, 2, 4))), "inputs"),
            ("net.embed(inputs NaN)", lambda n: n.embed(good, np.full((2, 2, 4), np.nan)), "inputs"),
            ("net.place(values wrong shape)", lambda n: n.place(good, np.zeros((2, 2, 5))), "values"),
            ("net.place(values NaN)", lambda n: n.place(good, np.full((2, 2, 4), np.nan)), "values"),
            ("net.place(layer=-1)", lambda n: n.place(good, np.zeros((2, 2, 4)), layer=-1), "layer"),
            ("net.active_mask(layer=-1)", lambda n: n.active_mask(good, -1), "layer"),
            ("net.active_mask(layer=L+1)", lambda n: n.active_mask(good, 3), "layer"),
            ("net.step(layer=0)", lambda n: n.step(0, n.forward(good, inputs(n))[0]), "layer"),
            ("net.step(layer=-1)", lambda n: n.step(-1, n.forward(good, inputs(n))[0]), "layer"),
            ("net.step(layer=L+1)", lambda n: n.step(3, n.forward(good, inputs(n))[0]), "layer"),
            ("net.step(prev trailing size +1)", lambda n: n.step(1, __import__("torch").zeros(2, 4, 101)), "prev"),
            ("net.step(prev (B, D))", lambda n: n.step(1, __import__("torch").zeros(2, 400)), "prev"),
            ("net.step(prev numpy)", lambda n: n.step(1, np.zeros((2, 4, 100))), "prev"),
            ("net.step(prev NaN)", lambda n: n.step(2, __import__("torch").full((2, 4, 100), float("nan"))), "prev"),
            ("net.step(prev inf)", lambda n: n.step(2, __import__("torch").full((2, 4, 100), float("inf"))), "prev"),
            ("net.step(prev int64)", lambda n: n.step(2, __import__("torch").zeros(2, 4, 100, dtype=__import__(
                "torch").int64)), "prev"),
            ("net.step(prev complex)", lambda n: n.step(2, __import__("torch").zeros(2, 4, 100, dtype=__import__(
                "torch").complex64)), "prev"),
            ("net.step(active=-1)", lambda n: n.step(1, n.forward(good, inputs(n))[0], active=[[-1, 1], [2, 3]]),
             "active"),
            ("net.step(active other batch)", lambda n: n.step(1, n.forward(good, inputs(n))[0],
                                                              active=np.array([[0, 1]])), "active"),
            ("net.preactivation(layer=0)", lambda n: n.preactivation(0, n.forward(good, inputs(n))[0]), "layer"),
            ("net.preactivation(prev NaN)", lambda n: n.preactivation(2, __import__("torch").full((2, 4, 100), float(
                "nan"))), "prev"),
            ("net.read_out(layer=-1)", lambda n: n.read_out(n.forward(good, inputs(n))[1], -1), "layer"),
            ("net.read_out(layer=L+1)", lambda n: n.read_out(n.forward(good, inputs(n))[1], 3), "layer"),
            ("net.read_out(layer=1.5)", lambda n: n.read_out(n.forward(good, inputs(n))[1], 1.5), "layer"),
            ("net.read_out(acts wrong trailing)", lambda n: n.read_out(__import__("torch").zeros(2, 4, 99), 1), "acts"),
            ("net.read_out(acts NaN)", lambda n: n.read_out(__import__("torch").full((2, 4, 100), float("nan")), 1),
             "acts"),
            ("net.read_out(circuits=-1)", lambda n: n.read_out(n.forward(good, inputs(n))[1], 1, [[-1], [0]]),
             "circuits"),
            ("net.read_out(circuits=T)", lambda n: n.read_out(n.forward(good, inputs(n))[1], 1, [[50], [0]]),
             "circuits"),
            ("net.read_out(circuits float)", lambda n: n.read_out(n.forward(good, inputs(n))[1], 1, [[0.5], [0]]),
             "circuits"),
            ("net.read_out(circuits 1-D)", lambda n: n.read_out(n.forward(good, inputs(n))[1], 1, [0, 1]),
             "circuits"),
            ("net.read_out(circuits other batch)", lambda n: n.read_out(n.forward(good, inputs(n))[1], 1, [[0]]),
             "circuits"),
            ("net.read(state, circuits=-1)", lambda n: n.read(next(iter(n.trace(good, inputs(n)))), [[-1], [0]]),
             "circuits"),
            ("net.dense_weights(layer=0)", lambda n: n.dense_weights(0), "layer"),
            ("net.dense_weights(layer=-1)", lambda n: n.dense_weights(-1), "layer"),
            ("net.layer_weights(layer=1)", lambda n: n.layer_weights(1), "layer"),
            ("net.to('meta')", lambda n: n.to("meta"), "device"),
            ("net.to('bogus')", lambda n: n.to("bogus"), "device"),
    ):
        add(what, param, lambda fn=fn: fn(net()))
    # custom systems and their codecs
    w = np.array([[[2.0, -2.0], [2.0, -2.0]]] * 20)
    b = np.array([-0.5, -1.5])
    on_in = np.array([1.5, 0.5])

    def custom(**kw):
        args = {"weights": w, "bias": b, "on_neurons": (0, 1), "active_input": on_in,
                "decode_on": lambda a: a[..., 0] - a[..., 1]}
        args.update(kw)
        return circuits.custom_circuits(args.pop("weights"), args.pop("bias"), **args)

    def run_custom(**kw):
        s = custom(**kw)
        n = circuits.build(s, width=80, redundancy=2, n_layers=2, seed=0)
        return circuits.evaluate(n, n_active=2, batch_size=10)

    def nan_rows(ev):
        return not np.isfinite(ev.table["measured"].to_numpy(dtype=float)).all()

    for what, kw, param in (
            ("weights NaN", {"weights": np.where(np.arange(4).reshape(1, 2, 2) == 0, np.nan, w)}, "weights"),
            ("weights inf", {"weights": w * np.inf}, "weights"),
            ("weights (T, d, d+1)", {"weights": np.zeros((20, 2, 3))}, "weights"),
            ("weights (d, d)", {"weights": np.zeros((2, 2))}, "weights"),
            ("weights strings", {"weights": np.full((20, 2, 2), "a")}, "weights"),
            ("bias positive", {"bias": np.array([0.5, -1.5])}, "bias"),
            ("bias NaN", {"bias": np.array([np.nan, -1.5])}, "bias"),
            ("bias wrong shape", {"bias": np.array([-0.5, -1.5, -1.0])}, "bias"),
            ("active_input NaN", {"active_input": np.array([np.nan, 0.5])}, "active_input"),
            ("active_input wrong shape", {"active_input": np.array([1.0])}, "active_input"),
            ("on_neurons out of range", {"on_neurons": (0, 5)}, "on_neurons"),
            ("on_neurons -1", {"on_neurons": (-1,)}, "on_neurons"),
            ("on_neurons empty", {"on_neurons": ()}, "on_neurons"),
            ("decode_on returns NaN", {"decode_on": lambda a: a[..., 0] * np.nan}, "decode_on"),
            ("decode_on returns inf", {"decode_on": lambda a: a[..., 0] + np.inf}, "decode_on"),
            ("decode_on NaN only when on", {"decode_on": lambda a: np.where(a[..., 0] > 0.5, np.nan, a[..., 0])},
             "decode_on"),
            ("decode_on wrong shape (..., d)", {"decode_on": lambda a: a}, "decode_on"),
            ("decode_on scalar", {"decode_on": lambda a: 1.0}, "decode_on"),
            ("decode_on None", {"decode_on": lambda a: None}, "decode_on"),
            ("decode_on strings", {"decode_on": lambda a: np.full(a.shape[:-1], "x")}, "decode_on"),
            ("decode_on raises", {"decode_on": lambda a: 1 / 0}, "decode_on"),
            ("decode_on not callable", {"decode_on": 3}, "decode_on"),
            ("decode_payload wrong shape", {"payload_dim": 1, "payload_neurons": (1,),
                                            "encode_payload": lambda p: np.broadcast_to(on_in, p.shape[:-1] + (2,))
                                            .copy(), "decode_payload": lambda a: a}, "decode_payload"),
            ("decode_payload NaN", {"payload_dim": 1, "payload_neurons": (1,),
                                    "encode_payload": lambda p: np.broadcast_to(on_in, p.shape[:-1] + (2,)).copy(),
                                    "decode_payload": lambda a: a[..., :1] * np.nan}, "decode_payload"),
            ("encode_payload NaN", {"payload_dim": 1, "payload_neurons": (1,),
                                    "encode_payload": lambda p: np.full(p.shape[:-1] + (2,), np.nan),
                                    "decode_payload": lambda a: a[..., :1]}, "encode_payload"),
            ("encode_payload wrong shape", {"payload_dim": 1, "payload_neurons": (1,),
                                            "encode_payload": lambda p: np.zeros(p.shape[:-1] + (3,)),
                                            "decode_payload": lambda a: a[..., :1]}, "encode_payload"),
            ("payload_dim -1", {"payload_dim": -1}, "payload_dim"),
            ("payload_dim without codecs", {"payload_dim": 2}, "payload_dim"),
    ):
        add(f"custom_circuits({what})", param, lambda kw=kw: run_custom(**kw), wrong=nan_rows)
    # save / load
    tmpd = pathlib.Path(tempfile.mkdtemp(prefix="campaign-api-"))
    _write(tmpd / "a-file", "x")
    for what, path in (("under /proc", "/proc/x/net"), ("a file", str(tmpd / "a-file")), ("/dev/null/x", "/dev/null/x"),
                       ("empty string", ""), ("nul byte", "a\x00b")):
        add(f"save(net, {what})", "path", lambda path=path: circuits.save_network(net(), path))
        add(f"load({what})", "path", lambda path=path: circuits.load_network(path))
    add("save('rotation', path)", "net", lambda: circuits.save_network("rotation", tmpd / "x"))
    add("save(net, metadata=set)", "metadata", lambda: circuits.save_network(net(), tmpd / "m1", metadata={"a": {1, 2}}))
    add("save(net, metadata NaN)", "metadata", lambda: circuits.save_network(net(), tmpd / "m2", metadata={"a": math.nan}))
    add("save(net, metadata list)", "metadata", lambda: circuits.save_network(net(), tmpd / "m3", metadata=[1]))
    add("load(path, device='meta')", "device", lambda: circuits.load_network(tmpd, device="meta"))
    add("save(custom non-affine decode)", None,
        lambda: circuits.save_network(circuits.build(custom(decode_on=lambda a: np.abs(a[..., 0]) ** 1.5), width=80,
                                             redundancy=2, n_layers=2, seed=0), tmpd / "nonaffine"))
    # experiments
    out = tmpd / "sweep"
    sw = {"width": 400, "n_circuits": 50, "n_layers": 2, "batch_size": 10}
    for what, args, param in (
            ("grid {}", ({}, out), "grid"), ("grid []", ([], out), "grid"),
            ("grid width=[]", ({"width": []}, out), "grid"), ("grid bad key", ({"widht": 4}, out), "grid"),
            ("grid 1e6 seeds", ({**sw, "seed": list(range(10**6))}, out), "grid"),
            ("grid not a mapping", (42, out), "grid"), ("grid list of numbers", ([1, 2], out), "grid"),
            ("out_dir a file", (sw, tmpd / "a-file"), "out"),
            ("out_dir under /proc", (sw, "/proc/x/y"), "out")):
        add(f"sweep({what})", param, lambda args=args: circuits.sweep(*args, progress=False),
            limit=2.0 if "1e6" in what else None)
    for key, v in (("workers", 0), ("threads", 0), ("device", "meta"), ("executor", object()), ("workers", 10**9)):
        add(f"sweep({key}={v!r})", key, lambda key=key, v=v: circuits.sweep(sw, out, progress=False, **{key: v}))
    bspec = S(width=400, n_circuits=50, n_layers=2, batch_size=10, n_active=1)
    for key, v in (("n_seeds", 0), ("n_seeds", 10**9), ("rtol", -1), ("rtol", math.nan), ("confidence", 1.5),
                   ("level", math.nan), ("level", 0), ("on_error", -1), ("criterion", "bogus"), ("workers", 0),
                   ("threads", 0), ("device", "meta")):
        add(f"find_boundary({key}={v!r})", key, lambda key=key, v=v: circuits.find_boundary(bspec, **{key: v}))
    add("find_boundary('spec')", "spec", lambda: circuits.find_boundary("spec"))
    from circuits.base import choose_threads, using_threads
    for v in (0, -1, 1.5, "2", 10**9):
        add(f"choose_threads({v!r})", "threads", lambda v=v: choose_threads(v))
    add("using_threads(workers=0)", "workers", lambda: using_threads(workers=0).__enter__())
    # export
    for what, fn, param in (
            ("ground_truth('net')", lambda n: circuits.ground_truth("net"), "net"),
            ("truth.contribution(-1, 2)", lambda n: circuits.ground_truth(n).contribution(-1, 2), "circuit"),
            ("truth.contribution(0, 0)", lambda n: circuits.ground_truth(n).contribution(0, 0), "layer"),
            ("truth.dataset(0)", lambda n: circuits.ground_truth(n).dataset(0), "batch_size"),
            ("truth.dataset(1e12 activations)", lambda n: circuits.ground_truth(n).dataset(10**12, activations=True),
             "batch_size"),
            ("truth.dataset(seed=-1)", lambda n: circuits.ground_truth(n).dataset(10, seed=-1), "seed"),
            ("truth.encode(active=-1)", lambda n: circuits.ground_truth(n).encode([[-1, 1]], np.zeros((1, 2, 2))),
             "active"),
            ("truth.decode(acts NaN)", lambda n: circuits.ground_truth(n).decode(np.full((2, 400), np.nan), 1),
             "acts"),
            ("truth.decode(circuits -1)", lambda n: circuits.ground_truth(n).decode(np.zeros((2, 400)), 1, [[-1], [0]]),
             "circuits"),
            ("to_module(net, dense='yes')", lambda n: circuits.to_module(n, dense="yes"), "dense"),
            ("to_module('net')", lambda n: circuits.to_module("net"), "net"),
    ):
        add(what, param, lambda fn=fn: fn(net()), limit=1.0 if "1e12" in what else None)
    return cases


def _run_api(case: Case) -> dict:
    def call():
        try:
            result = case.call()
        except CircuitsError as err:
            return {"kind": "error", "parameter": err.parameter, "message": str(err)}
        except BaseException as err:  # noqa: BLE001
            return {"kind": "exception", "type": type(err).__name__, "message": str(err)[:300],
                    "trace": traceback.format_exc()[-600:]}
        try:
            wrong = bool(case.wrong(result)) if case.wrong is not None else False
        except BaseException as err:  # noqa: BLE001
            wrong = f"check failed: {err}"
        return {"kind": "returned", "type": type(result).__name__, "wrong": wrong}
    return forked(call, TIMEOUT, MEMORY)


def classify_api(case: Case, r: dict) -> tuple[str, str]:
    limit = case.limit or TIMEOUT
    if r["status"] in ("timeout", "memory"):
        return "slow", f"no answer after {r['seconds']:.1f} s"
    res = r["result"]
    if res is None:
        return "traceback", (r["stderr"].strip().splitlines() or ["(child died)"])[-1][:160]
    if res["kind"] == "exception":
        return "traceback", f"{res['type']}: {res['message'][:140]}"
    if res["kind"] == "returned":
        if res["wrong"]:
            return "wrong", f"returned a {res['type']} with a wrong result"
        if case.accept_ok:
            return "refused", "returned a correct result"
        return "accepted", f"returned a {res['type']}"
    if r["seconds"] > limit:
        return "slow", f"refused after {r['seconds']:.1f} s: {res['message'][:120]}"
    names = case.parameter is None or res["parameter"] == case.parameter or case.parameter in res["message"]
    if not names:
        return "unclear", f"parameter {res['parameter']!r}: {res['message'][:140]}"
    return "refused", res["message"][:160]


# ============================================================================================ faults
def cis(*argv, timeout=300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "circuits.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, **kw)


def start_cis(*argv, **kw) -> subprocess.Popen:
    return subprocess.Popen([PY, "-m", "circuits.cli", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, **kw)


def wait_for(predicate, timeout=120.0, step=0.05) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(step)
    return False


def table_of(folder) -> "object":
    import pandas as pd
    return pd.read_parquet(pathlib.Path(folder) / "results.parquet")


def same_table(a, b) -> bool:
    import pandas as pd
    try:
        pd.testing.assert_frame_equal(a, b)
        return True
    except AssertionError:
        return False


SWEEP_GRID = {"width": 400, "n_circuits": [30, 50, 70, 86], "n_layers": 3, "n_active": [1, 2], "batch_size": 1500,
              "seed": 0}


def faults(tmp: pathlib.Path, quick: bool) -> list[dict]:
    results = []

    def record(name, ok, detail=""):
        results.append({"name": name, "outcome": "survived" if ok else "lost", "detail": detail})
        print(f"  {'survived' if ok else 'LOST    '}  {name}{': ' + detail if detail and not ok else ''}", flush=True)

    grid = _write(tmp / "grid.json", json.dumps(SWEEP_GRID))
    ref = tmp / "sweep-ref"
    p = cis("sweep", "--grid", grid, "--out", ref, "--no-progress")
    record("reference sweep runs", p.returncode == 0, p.stderr[-300:])
    reference = table_of(ref)

    # --- kill -9 during a sweep, at several moments; the rerun completes with the same table
    for delay in ([0.0, 2.5] if quick else [0.0, 2.5, 4.0, 6.0]):
        out = tmp / f"sweep-kill-{delay}"
        proc = start_cis("sweep", "--grid", grid, "--out", out, "--no-progress")
        if delay == 0.0:  # right after the first finished run
            wait_for(lambda: any((out / "parts").glob("*.parquet")) if (out / "parts").exists() else False)
        else:
            time.sleep(delay)
        proc.kill()
        proc.wait()
        parts = sorted((out / "parts").glob("*.parquet")) if (out / "parts").exists() else []
        readable = all(_readable_parquet(q) for q in parts)
        p = cis("sweep", "--grid", grid, "--out", out, "--no-progress")
        stale = [q.name for q in (out / "parts").iterdir() if q.name.startswith(".")] \
            if (out / "parts").exists() else []
        ok = readable and p.returncode == 0 and same_table(table_of(out), reference) and not stale
        when = "its first finished run" if delay == 0.0 else f"{delay} s"
        record(f"kill -9 during a sweep after {when} ({len(parts)} parts kept), rerun", ok,
               f"readable={readable} rc={p.returncode} stale={stale} {p.stderr[-200:]}")

    # --- Ctrl-C during a sweep: one line, nothing lost, the rerun completes (SIGINT restored to its default in the
    # child: a campaign started in the background of a shell has it ignored, and its children inherit that)
    out = tmp / "sweep-int"
    proc = start_cis("sweep", "--grid", grid, "--out", out, "--no-progress",
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for(lambda: any((out / "parts").glob("*.parquet")) if (out / "parts").exists() else False)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    p = cis("sweep", "--grid", grid, "--out", out, "--no-progress")
    record("Ctrl-C during a sweep: no traceback, rerun completes", "Traceback" not in err and proc.returncode != 0
           and p.returncode == 0 and same_table(table_of(out), reference), f"rc={proc.returncode} err={err[-300:]}")

    # --- two sweeps on one folder (a longer grid, so that the first is still running)
    out = tmp / "sweep-two"
    long_grid = _write(tmp / "long-grid.json", json.dumps({**SWEEP_GRID, "seed": list(range(6))}))  # 48 runs: the
    # first is still running when the second (a fresh process, seconds to start on a loaded machine) asks for the lock
    first = start_cis("sweep", "--grid", long_grid, "--out", out, "--no-progress")
    wait_for(lambda: (out / ".lock").exists() and (out / ".lock").read_text().strip() != "")
    second = cis("sweep", "--grid", long_grid, "--out", out, "--no-progress", timeout=60)
    overlapped = first.poll() is None
    refused = second.returncode == 2 and "another sweep" in second.stderr and str(first.pid) in second.stderr \
        and len(second.stderr.strip().splitlines()) == 1
    waiting = cis("sweep", "--grid", long_grid, "--out", out, "--no-progress", "--wait", timeout=600)
    first.wait(timeout=600)
    ref_long = cis("sweep", "--grid", long_grid, "--out", tmp / "sweep-two-ref", "--no-progress", timeout=600)
    ok = overlapped and refused and waiting.returncode == 0 and first.returncode == 0 and ref_long.returncode == 0 \
        and same_table(table_of(out), table_of(tmp / "sweep-two-ref"))
    record("two sweeps on one folder: the second refused naming the first; --wait waits and succeeds", ok,
           f"second rc={second.returncode} err={second.stderr[-200:]} wait rc={waiting.returncode}")

    # --- kill -9 during a scaling study; the rerun completes with the same table
    scal = ["--widths", "400", "800", "1200", "--n-layers", "2", "--batch-size", "100", "--n-seeds", "1", "--rtol", "0.3",
            "--no-progress", "--format", "json"]
    p = cis("scaling", *scal, "--out", tmp / "scaling-ref")
    ref_scaling = json.loads(p.stdout)["rows"] if p.returncode == 0 else None
    out = tmp / "scaling-kill"
    proc = start_cis("scaling", *scal, "--out", out)
    wait_for(lambda: any((out / "parts").glob("*.json")) if (out / "parts").exists() else False, timeout=120)
    proc.kill()
    proc.wait()
    p = cis("scaling", *scal, "--out", out)
    rows = json.loads(p.stdout)["rows"] if p.returncode == 0 else None
    record("kill -9 during a scaling study, rerun", ref_scaling is not None and rows == ref_scaling,
           f"rc={p.returncode} {p.stderr[-200:]}")

    # --- kill -9 at every step of cis build --overwrite (and of save): the folder holds the old or the new network
    results.extend(kill_during_save(tmp))

    # --- two build --overwrite at once
    net = tmp / "net-two"
    build_flags = ["--width", "400", "--n-circuits", "50", "--n-layers", "2"]
    cis("build", *build_flags, "--out", net)
    procs = [start_cis("build", *build_flags, "--seed", str(s), "--overwrite", "--out", net) for s in (1, 2)]
    codes = [q.wait(timeout=120) for q in procs]
    try:
        seed = circuits.load_network(net).provenance["seed"]
        ok = all(c == 0 for c in codes) and seed in (1, 2) and _siblings(net) == []
        detail = f"codes {codes}, seed {seed}, leftovers {_siblings(net)}"
    except CircuitsError as err:
        ok, detail = False, str(err)
    record("two cis build --overwrite on one folder at once: one of them wins, nothing left beside it", ok, detail)

    # --- truncated / flipped / missing saved files
    results.extend(damaged_files(tmp, grid, reference))

    # --- a full disk, an OS error after work
    results.extend(full_disk(tmp))

    # --- a closed standard output
    small = ["--width", "400", "--n-circuits", "50", "--n-layers", "2", "--batch-size", "20"]
    for name, argv, how in (
            ("cis capacity | true", ["capacity"], "close"),
            ("cis capacity | head -1", ["capacity"], "head"),
            ("cis evaluate | head -1", ["evaluate", *small], "head"),
            ("cis evaluate --format json | head -1", ["evaluate", *small, "--format", "json"], "head"),
            ("cis demo | head -1", ["demo", *small], "head"),
            ("cis zoo --list | head -1", ["zoo", "--list"], "head"),
            ("cis bench | true", ["bench", *small, "--n-active", "1"], "close"),
            ("cis sweep | head -1", ["sweep", *small, "--no-progress", "--out", str(tmp / "pipe-sweep")], "head"),
            ("cis evaluate >&- (stdout closed at start)", ["evaluate", *small], "closed-fd"),
    ):
        if how == "closed-fd":
            proc = subprocess.Popen([PY, "-m", "circuits.cli", *argv], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, cwd=ROOT, pass_fds=(), preexec_fn=lambda: os.close(1))
            _, err = proc.communicate(timeout=120)
        else:
            proc = subprocess.Popen([PY, "-m", "circuits.cli", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=ROOT)
            if how == "head":
                proc.stdout.readline()
            proc.stdout.close()
            err = proc.stderr.read()
            proc.wait(timeout=120)
        err = err.decode()
        record(f"closed stdout: {name}", proc.returncode == 0 and err.strip() == "",
               f"rc={proc.returncode} err={err[-300:]}")

    # --- config.json edits, with and without a recomputed checksum (last: it runs torch in this process,
    # after which forked children are not used any more)
    results.extend(config_edits(tmp))
    return results


def _readable_parquet(path) -> bool:
    import pandas as pd
    try:
        pd.read_parquet(path)
        return True
    except Exception:  # noqa: BLE001
        return False


def _siblings(path: pathlib.Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))


def kill_during_save(tmp: pathlib.Path) -> list[dict]:
    """Kill a writer (SIGKILL, as kill -9) at each file-system step of ``save_network(..., overwrite=True)`` (the
    storage module's steps: every artefact is written through it)."""
    from circuits.base import _storage
    results = []
    folder = tmp / "force"
    folder.mkdir()
    path = folder / "net"
    small = dict(width=400, redundancy=3, n_layers=2)
    old_spec = circuits.ExperimentSpec(n_circuits=50, **small, seed=0)
    new_spec = old_spec.replace(seed=1)
    forked(lambda: (circuits.save_network(circuits.build(old_spec), path), 0)[1], 120, 8 << 30)
    old_bytes = {p.name: p.read_bytes() for p in path.iterdir()}
    steps = ["os.mkdir", "_write_bytes", "os.rename", "os.replace", "shutil.rmtree", "_exchange", "os.fsync"]
    k = 0
    while True:
        k += 1

        def writer(k=k):
            new_net = circuits.build(new_spec)
            counter = {"n": 0}
            originals = {}

            def wrap(owner, attr):
                real = getattr(owner, attr)
                originals[(owner, attr)] = real

                def fn(*a, **kw):
                    counter["n"] += 1
                    if counter["n"] == k:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return real(*a, **kw)
                setattr(owner, attr, fn)
            for name in steps:
                if "." in name:
                    mod, attr = name.split(".")
                    owner = {"os": _storage.os, "shutil": _storage.shutil}[mod]
                    if hasattr(owner, attr):
                        wrap(owner, attr)
                elif hasattr(_storage, name):
                    wrap(_storage, name)
            # wrapping os.* in _storage wraps the os module itself: restore it after the save
            try:
                circuits.save_network(new_net, path, overwrite=True)
            finally:
                for (owner, attr), real in originals.items():
                    setattr(owner, attr, real)
            return {"steps": counter["n"]}
        r = forked(writer, 120, 8 << 30)
        finished = r["status"] == 0
        state = "?"
        try:
            seed = circuits.load_network(path).provenance["seed"]
            state = {0: "old", 1: "new"}.get(seed, f"seed {seed}")
            intact = True
        except CircuitsError as err:
            intact, state = False, str(err)[:200]
        # the next save over it cleans what the killed writer left
        leftovers_before = _siblings(path)
        again = forked(lambda: (circuits.save_network(circuits.build(old_spec), path, overwrite=True), 0)[1], 120,
                       8 << 30)
        cleaned = _siblings(path) == [] and again["status"] == 0
        same = {p.name: p.read_bytes() for p in path.iterdir()} == old_bytes
        ok = intact and cleaned and same
        results.append({"name": f"kill -9 at step {k} of save(overwrite=True)" + (" (finished)" if finished else ""),
                        "outcome": "survived" if ok else "lost",
                        "detail": f"after the kill: {state}; left beside it {leftovers_before}; "
                                  f"next save cleaned={cleaned} identical={same}"})
        print(f"  {'survived' if ok else 'LOST    '}  {results[-1]['name']}: {state}, left {len(leftovers_before)}"
              + ("" if ok else f"  {results[-1]['detail']}"), flush=True)
        if finished or k > 40:
            break
    # a killed cis build --overwrite (a real process), at several moments
    build_flags = ["--width", "2000", "--n-circuits", "2000", "--n-layers", "4", "--error-correction", "tuned-chi"]
    net = tmp / "force-cli"
    cis("build", *build_flags, "--out", net)
    for delay in (0.5, 2.0, 4.0):
        proc = start_cis("build", *build_flags, "--seed", "1", "--overwrite", "--out", net)
        time.sleep(delay)
        proc.kill()
        proc.wait()
        try:
            seed = circuits.load_network(net).provenance["seed"]
            ok, detail = seed in (0, 1), f"seed {seed}"
        except CircuitsError as err:
            ok, detail = False, str(err)
        results.append({"name": f"kill -9 during cis build --overwrite (a real process) after {delay} s", "outcome":
                        "survived" if ok else "lost", "detail": detail})
        print(f"  {'survived' if ok else 'LOST    '}  {results[-1]['name']}: {detail}", flush=True)
    return results


def _leaves(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, prefix + (k,))
    elif isinstance(obj, list) and obj:
        for i, v in enumerate(obj):
            yield from _leaves(v, prefix + (i,))
    else:
        yield prefix, obj


def _edited(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.5 + 0.25
    if isinstance(value, str):
        return value + "x" if not value.isdigit() else str(int(value) + 1)
    if value is None:
        return 0
    if isinstance(value, list):
        return [0]
    if isinstance(value, dict):
        return {"x": 1}
    return "x"


def _set(obj, keys, value):
    for k in keys[:-1]:
        obj = obj[k]
    obj[keys[-1]] = value


def _cli_json(path) -> str | None:
    """What ``cis evaluate --network PATH --batch-size 50 --format json`` prints (``None`` when it refuses)."""
    import io
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(["evaluate", "--network", str(path), "--batch-size", "50", "--format", "json"])
    if code != 0:
        raise CircuitsError(err.getvalue())
    return out.getvalue()


def config_edits(tmp: pathlib.Path) -> list[dict]:
    """Edit every field of a saved config.json: refused (checksum kept); with a recomputed checksum, refused
    or loading a network that evaluates identically."""
    from circuits.base import seal
    from circuits.export import _saving
    results = []
    specs = {"rotation": circuits.ExperimentSpec(width=400, n_circuits=50, n_layers=2, batch_size=50, seed=0),
             "chains+redundant": circuits.ExperimentSpec(system="rotation-chains", params={"chain_length": 3},
                                                         error_correction="redundant:2", width=480, n_circuits=30,
                                                         n_layers=3, batch_size=50, seed=0)}
    w = np.array([[[2.0, -2.0], [2.0, -2.0]]] * 20)
    for label, spec in specs.items():
        base = tmp / f"cfg-{label}"
        net = circuits.build(spec)
        circuits.save_network(net, base, metadata={"note": "original"})
        ev0 = circuits.evaluate(net, n_active=spec.n_active, batch_size=50, seed=3).table
        cli0 = _cli_json(base)
        config = json.loads((base / "config.json").read_text())
        blob = (base / "weights.safetensors").read_bytes()
        counts = {"kept": [0, 0], "forged": [0, 0, 0, 0]}  # edits, refused; forged: + refused when used, harmless
        bad, harmless_fields = [], []
        for keys, value in _leaves(config):
            if keys == ("sha256",):
                continue
            for forge in (False, True):
                edited = json.loads(json.dumps(config))
                _set(edited, keys, _edited(value))
                if forge:
                    rest = {k: v for k, v in edited.items() if k not in _saving._SEAL_KEYS}
                    edited["sha256"] = seal("network", _saving.FORMAT_VERSION, edited.get("identity"), rest,
                                            blob)["sha256"]
                path = tmp / "cfg-edit"
                shutil.rmtree(path, ignore_errors=True)
                shutil.copytree(base, path)
                (path / "config.json").write_text(json.dumps(edited, indent=2))
                kind = "forged" if forge else "kept"
                counts[kind][0] += 1
                try:
                    loaded = circuits.load_network(path)
                except CircuitsError:
                    counts[kind][1] += 1
                    continue
                except Exception as err:  # noqa: BLE001
                    bad.append(f"{'.'.join(map(str, keys))} ({kind}): traceback {type(err).__name__}: {err}")
                    continue
                if not forge:
                    bad.append(f"{'.'.join(map(str, keys))}: an edit with the old checksum loaded")
                    continue
                try:  # what Python and cis evaluate --network print with it, beside the original's
                    ev = circuits.evaluate(loaded, n_active=spec.n_active, batch_size=50, seed=3).table
                    harmless = same_table(ev, ev0) and _cli_json(path) == cli0
                except CircuitsError:  # refused when used (the network does not match the spec it records)
                    counts[kind][2] += 1
                    continue
                if harmless:
                    counts[kind][3] += 1
                    harmless_fields.append(".".join(map(str, keys)))
                else:
                    bad.append(f"{'.'.join(map(str, keys))}: a forged edit loaded and changes the result")
        for kind, c in counts.items():
            name = (f"config.json edits of {label} ({c[0]} fields), checksum kept: {c[1]} refused" if kind == "kept" else
                    f"config.json edits of {label} ({c[0]} fields), checksum recomputed: {c[1]} refused by load, "
                    f"{c[2]} by cis evaluate --network, {c[3]} loaded with every result unchanged")
            ok = (c[1] == c[0]) if kind == "kept" else (c[1] + c[2] + c[3] == c[0])
            results.append({"name": name, "outcome": "survived" if ok else "lost", "counts": c,
                            "detail": "; ".join(b for b in bad if ("forged" in b) == (kind == "forged"))[:2000],
                            "loaded_unchanged": harmless_fields if kind == "forged" else []})
            print(f"  {'survived' if ok else 'LOST    '}  {name}" + ("" if ok else f": {bad[:5]}"), flush=True)
    # a custom (non-registry) system: its affine codecs are stored as arrays
    custom = circuits.custom_circuits(w, np.array([-0.5, -1.5]), on_neurons=(0, 1), active_input=np.array([1.5, 0.5]),
                                      decode_on=lambda a: a[..., 0] - a[..., 1])
    path = circuits.save_network(circuits.build(custom, width=80, redundancy=2, n_layers=2, seed=0), tmp / "cfg-custom")
    config = json.loads((path / "config.json").read_text())
    refused = total = 0
    for keys, value in _leaves(config):
        if keys == ("sha256",):
            continue
        edited = json.loads(json.dumps(config))
        _set(edited, keys, _edited(value))
        p2 = tmp / "cfg-custom-edit"
        shutil.rmtree(p2, ignore_errors=True)
        shutil.copytree(path, p2)
        (p2 / "config.json").write_text(json.dumps(edited))
        total += 1
        try:
            circuits.load_network(p2)
        except CircuitsError:
            refused += 1
    results.append({"name": f"config.json edits of a custom system ({total} fields), checksum kept: {refused} refused",
                    "outcome": "survived" if refused == total else "lost", "counts": [total, refused]})
    print(f"  {'survived' if refused == total else 'LOST    '}  {results[-1]['name']}", flush=True)
    return results


def damaged_files(tmp: pathlib.Path, grid, reference) -> list[dict]:
    results = []

    def record(name, ok, detail=""):
        results.append({"name": name, "outcome": "survived" if ok else "lost", "detail": detail})
        print(f"  {'survived' if ok else 'LOST    '}  {name}{': ' + detail if detail and not ok else ''}", flush=True)

    base = circuits.save_network(circuits.build(circuits.ExperimentSpec(width=400, n_circuits=50, n_layers=2)),
                         tmp / "dmg-base")
    for fname in ("weights.safetensors", "config.json"):
        blob = (base / fname).read_bytes()
        variants = {"empty": b"", "1 byte": blob[:1], "half": blob[:len(blob) // 2], "all but two bytes": blob[:-2],
                    "one byte more": blob + b"\0", "first byte flipped": bytes([blob[0] ^ 1]) + blob[1:],
                    "middle byte flipped": blob[:len(blob) // 2] + bytes([blob[len(blob) // 2] ^ 4])
                    + blob[len(blob) // 2 + 1:], "binary garbage": os.urandom(len(blob)), "deleted": None,
                    "a directory": "dir"}
        for what, data in variants.items():
            path = tmp / "dmg"
            shutil.rmtree(path, ignore_errors=True)
            shutil.copytree(base, path)
            (path / fname).unlink()
            if data == "dir":
                (path / fname).mkdir()
            elif data is not None:
                (path / fname).write_bytes(data)
            r = forked(lambda: cli_main(["evaluate", "--network", str(path), "--batch-size", "10"]), 60, MEMORY)
            lines = r["stderr"].strip().splitlines()
            ok = r["status"] == 2 and len(lines) == 1 and "--network" in lines[0] or (
                r["status"] == 2 and len(lines) == 1 and str(path) in lines[0])
            record(f"cis evaluate --network with {fname} {what}: refused in one line", ok,
                   f"status {r['status']}: {r['stderr'][-300:]}")
    # sweep parts and results damaged: the rerun refuses or redoes them, never returns other numbers
    for what in ("part truncated", "part emptied", "part garbage", "results.parquet truncated", "sweep.json garbage",
                 "sweep.json deleted", "parts/ deleted", "lock file garbage"):
        out = tmp / f"dmg-sweep-{what.replace(' ', '-').replace('/', '')}"
        shutil.copytree(tmp / "sweep-ref", out)
        part = sorted((out / "parts").glob("*.parquet"))[1]
        if what == "part truncated":
            part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
        elif what == "part emptied":
            part.write_bytes(b"")
        elif what == "part garbage":
            part.write_bytes(os.urandom(part.stat().st_size))
        elif what == "results.parquet truncated":
            (out / "results.parquet").write_bytes((out / "results.parquet").read_bytes()[:100])
        elif what == "sweep.json garbage":
            (out / "sweep.json").write_bytes(os.urandom(64))
        elif what == "sweep.json deleted":
            (out / "sweep.json").unlink()
        elif what == "parts/ deleted":
            shutil.rmtree(out / "parts")
        elif what == "lock file garbage":
            (out / ".lock").write_bytes(os.urandom(64))
        p = cis("sweep", "--grid", grid, "--out", out, "--no-progress")
        lines = p.stderr.strip().splitlines()
        if p.returncode == 0:
            ok = same_table(table_of(out), reference)
            how = "redone" if ok else "OTHER NUMBERS"
        else:
            ok = p.returncode == 2 and len(lines) == 1 and "--out" in lines[0] and "Traceback" not in p.stderr
            how = "refused"
        record(f"sweep rerun with {what}: {how}", ok, f"rc={p.returncode} {p.stderr[-300:]}")
    # a data set file damaged
    data = tmp / "dmg-data.safetensors"
    cis("dataset", "--width", "400", "--n-circuits", "50", "--n-layers", "2", "--batch-size", "20", "--out", data)
    blob = data.read_bytes()
    from circuits.export import load_dataset
    for what, content in (("truncated", blob[: len(blob) // 2]), ("flipped", blob[:-9] + bytes([blob[-9] ^ 1])
                                                                   + blob[-8:]), ("empty", b"")):
        bad = tmp / f"dmg-data-{what}.safetensors"
        bad.write_bytes(content)
        try:
            load_dataset(bad)
            ok, detail = False, "loaded"
        except CircuitsError as err:
            ok, detail = True, str(err)[:100]
        except Exception as err:  # noqa: BLE001
            ok, detail = False, f"traceback {type(err).__name__}: {err}"
        record(f"load_dataset of a {what} data set file: refused", ok, detail)
    return results


def full_disk(tmp: pathlib.Path) -> list[dict]:
    """A full disk (a tmpfs with --mount, as root; otherwise the writes are made to fail with ENOSPC), over
    existing outputs."""
    results = []

    def record(name, ok, detail=""):
        results.append({"name": name, "outcome": "survived" if ok else "lost", "detail": detail})
        print(f"  {'survived' if ok else 'LOST    '}  {name}{': ' + detail if detail and not ok else ''}", flush=True)

    disk = tmp / "disk"
    disk.mkdir()
    mounted = IS_ROOT and MOUNT and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                                         capture_output=True).returncode == 0
    small = ["--width", "400", "--n-circuits", "50", "--n-layers", "2"]
    try:
        net = disk / "net"
        r0 = forked(lambda: cli_main(["build", *small, "--out", str(net)]), 120, MEMORY)
        old = {p.name: p.read_bytes() for p in net.iterdir()} if net.exists() else None
        sweep_out = disk / "sweep"
        r1 = forked(lambda: cli_main(["sweep", *small, "--batch-size", "20", "--no-progress", "--out", str(sweep_out)]),
                    120, MEMORY)
        if mounted:  # fill what is left
            with contextlib.suppress(OSError):
                with open(disk / "filler", "wb") as f:
                    while True:
                        f.write(b"\0" * 4096)
                        f.flush()
                        os.fsync(f.fileno())

        def enospc(fn):
            if mounted:
                return fn

            def failing():
                import builtins
                real_open = builtins.open

                def fake_open(file, mode="r", *a, **kw):
                    if any(c in mode for c in "wax") and str(disk) in str(file):
                        raise OSError(errno.ENOSPC, "No space left on device", str(file))
                    return real_open(file, mode, *a, **kw)
                builtins.open = fake_open
                return fn()
            return failing
        cases = [
            ("cis build --overwrite over a saved network", ["build", *small, "--seed", "1", "--overwrite", "--out",
                                                            str(net)]),
            ("cis build into a new folder", ["build", *small, "--out", str(disk / "net2")]),
            ("cis sweep (new runs into an existing sweep)", ["sweep", *small, "--batch-size", "20", "--seed", "1",
                                                             "--no-progress", "--out", str(disk / "sweep2")]),
            ("cis dataset", ["dataset", *small, "--batch-size", "2000", "--out", str(disk / "d.safetensors")]),
            ("cis scaling", ["scaling", "--widths", "400", "800", "--n-layers", "2", "--batch-size", "20", "--n-seeds",
                             "1", "--rtol", "0.5", "--no-progress", "--out", str(disk / "scaling")]),
            ("cis figures", ["figures", "--quick", "--only", "payload-error", "--out", str(disk / "fig")]),
        ]
        for name, argv in cases:
            r = forked(enospc(lambda argv=argv: cli_main(argv)), 300, MEMORY)
            lines = r["stderr"].strip().splitlines()
            ok = r["status"] == 2 and len(lines) == 1 and "--out" in lines[0]
            record(f"full disk ({'tmpfs' if mounted else 'ENOSPC injected'}): {name}: one line naming --out", ok,
                   f"status {r['status']}: {r['stderr'][-400:]}")
        if old is not None:
            now = {p.name: p.read_bytes() for p in net.iterdir()} if net.exists() else None
            record("full disk: the saved network is untouched and loads", now == old and
                   circuits.load_network(net).provenance.get("seed") == 0)
            record("full disk: nothing half-written left beside the network", _siblings(net) == [], str(_siblings(net)))
        if r1["status"] == 0:
            record("full disk: the finished sweep still loads", _readable_parquet(sweep_out / "results.parquet"))
        del r0
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], capture_output=True)
    return results


# ==================================================================================================
# The newest features: identity of stored files, interrupted writers, conflicts, criteria that cannot
# apply, special files, bad calls and command lines (sections identity, interrupted, conflicts,
# applicability, special-files, newest-api, newest-cli).
#
# Each case is one function run in a forked child (killed after its time limit: ``hang``); it returns
# its class and what happened. Classes (a superset of the ones above, same meanings):
#   refused    the correct refusal: one line / a CircuitsError naming the flag or parameter (and, where the
#              case asks, the file or what the input is), before any output;
#   survived   the correct outcome is to run (a rerun that resumes, a value equal to its canonical
#              form), and it ran with the reference's result;
#   unclear    refused, but the message does not name the flag, the file or what the input is, is not
#              one line, or output was created first;
#   traceback  any other exception;
#   accepted   it ran, silently, on input or a stored file it should have refused;
#   wrong      it ran and a result is wrong (an edited value comes back, NaN printed, other numbers
#              for an equal spec);
#   mixed      it ran and a result belongs to another artefact (a silent mix of two of the same kind);
#   lost       finished work lost, or a partial, 0-byte or stray file left under a final name or
#              beside it after a rerun;
#   slow       the correct answer, after its limit;
#   hang       no answer at all: killed at the time limit (or above the memory limit).
#
# The library names these cases call are in API_NAMES / ATTR_NAMES / CLI_FLAGS below: after a rename
# (a function renamed, say) edit the right-hand side and rerun.
# ==================================================================================================

NEW_SECTIONS = ("identity", "interrupted", "conflicts", "applicability", "special-files", "newest-api",
                "newest-cli")
NEW_OUTCOMES = ["refused", "survived", "unclear", "traceback", "accepted", "wrong", "mixed", "lost", "slow", "hang"]
#: The first sections (classes: refused, unclear, traceback, accepted, wrong, slow; faults: survived or lost).
OLD_SECTIONS = ("cli", "api", "faults")
CLEAN = ("refused", "survived")

#: Every library function, class or value the new sections call, by the role it plays.
API_NAMES = {
    "spec": "circuits.ExperimentSpec",
    "build_network": "circuits.build",
    "load_network": "circuits.load_network",
    "save_network": "circuits.save_network",
    "ground_truth": "circuits.ground_truth",
    "to_module": "circuits.to_module",
    "score_decomposition": "circuits.score_decomposition",
    "score_features": "circuits.score_features",
    "from_sae": "circuits.from_sae",
    "find_boundary": "circuits.find_boundary",
    "evaluate": "circuits.evaluate",
    "sweep": "circuits.sweep",
    "scaling": "circuits.scaling",
    "fit_power_law": "circuits.experiments._scaling.fit_power_law",
    "predicted_critical_load": "circuits.ExperimentSpec.predicted_critical_load",
    "load_dataset": "circuits.load_dataset",
    "zoo_catalogue": "circuits.zoo.CATALOGUE",
    "zoo_load": "circuits.zoo.load_model",
    "zoo_build": "circuits.zoo.build_zoo",
    "zoo_read_index": "circuits.zoo.read_index",
    "zoo_classify": "circuits.zoo.classify",
    "zoo_index_table": "circuits.zoo.index_table",
    "cli_main": "circuits.cli.main",
}
#: Methods, attributes and keyword names used on what those return.
ATTR_NAMES = {
    "from_dict": "from_dict", "replace": "replace", "seeds": "seeds", "to_dict": "to_dict",
    "run_with_cache": "run_with_cache", "truth_dataset": "dataset", "truth_encode": "encode",
    "truth_decode": "decode", "truth_reference": "reference", "truth_components": "components",
    "truth_arrays": "arrays", "dataset_save": "save", "dataset_arrays": "arrays", "dataset_matches": "matches",
    "zoo_dataset": "dataset", "zoo_measured": "measured", "zoo_network": "network",
    "overwrite": "overwrite",  # the keyword of save / Dataset.save / build_zoo that replaces
    "zoo_names": "names",  # the keyword of build_zoo that picks the networks
    "cache_names": "names_filter",  # the keyword of run_with_cache that picks the hook points
}
#: Command-line spellings that the cases rely on beside the commands' own flags.
CLI_FLAGS = {"no_progress": ["--no-progress"], "force": ["--overwrite"], "threads": ["--threads", "1"],
             "json": ["--format", "json"]}
#: Two cheap catalogued networks of one family (the zoo the cases copy and damage).
ZOO_TWO = ("rotation-exact", "rotation-working")
#: A small network (cis build / cis dataset --network) and a small scaling study.
NET_FLAGS = ["--width", "400", "--n-circuits", "50", "--n-layers", "2"]
SCALING_FLAGS = ["--widths", "400", "800", "--n-layers", "2", "--batch-size", "20", "--n-seeds", "1", "--rtol", "0.5"]
SWEEP_GRIDS = ({"width": 400, "n_circuits": [40, 80], "n_layers": 2, "n_active": 1, "batch_size": 20},
               {"width": 400, "n_circuits": [60, 70], "n_layers": 2, "n_active": 1, "batch_size": 20})
SMALL_SPEC = {"width": 400, "n_circuits": 50, "n_layers": 2, "batch_size": 20}

MOUNT = False  # --mount: real file systems (tmpfs, bind mounts) where a case needs one
NEW_TIMEOUT = 10.0  # --timeout
FX: dict = {}  # the fixtures (paths, reference results), made once in a child
NEWTMP = pathlib.Path(".")


class _Names:
    """``API.zoo_load`` is whatever ``API_NAMES["zoo_load"]`` names, imported when first used."""

    def __getattr__(self, key):
        import importlib
        dotted = API_NAMES[key]
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
            return obj
        raise ImportError(dotted)


API = _Names()


def attr(obj, key):
    return getattr(obj, ATTR_NAMES[key])


def kw(key, value) -> dict:
    return {ATTR_NAMES[key]: value}


def scaling_argv(out, *extra) -> list:
    return ["scaling", *SCALING_FLAGS, *CLI_FLAGS["no_progress"], *CLI_FLAGS["threads"], *CLI_FLAGS["json"],
            "--out", str(out), *extra]


def zoo_argv(out, names=ZOO_TWO, *extra) -> list:
    return ["zoo", "--only", *names, "--out", str(out), *CLI_FLAGS["json"], *CLI_FLAGS["threads"], *extra]


def dataset_argv(net, out, *extra) -> list:
    return ["dataset", "--network", str(net), "--batch-size", "20", "--activations", "--out", str(out),
            *CLI_FLAGS["threads"], *extra]


def sweep_argv(grid, out, *extra) -> list:
    return ["sweep", "--grid", str(grid), "--out", str(out), *CLI_FLAGS["no_progress"], *CLI_FLAGS["threads"], *extra]


class Probe:
    """One case of the new sections: ``body()`` (run in a fork) returns ``(class, what happened)``."""

    def __init__(self, section, name, body, expect, *, timeout=None, limit=None, memory=None):
        self.section, self.name, self.body, self.expect = section, name, body, expect
        self.timeout, self.limit, self.memory = timeout, limit, memory


# ----------------------------------------------------------------------------- in the child
def _cli(argv, stdout_to=None) -> tuple[int, str, str]:
    """``cis ARGV`` in this (forked) process: exit status, stdout, stderr (an uncaught exception: 99 and
    its traceback on stderr). ``stdout_to``: a file the standard output goes to instead (``/dev/full``)."""
    import io
    out, err = io.StringIO(), io.StringIO()
    if stdout_to is not None:
        sys.stdout.flush()
        fd = os.open(stdout_to, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)
    with contextlib.redirect_stderr(err), (contextlib.redirect_stdout(out) if stdout_to is None
                                           else contextlib.nullcontext()):
        try:
            code = API.cli_main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # noqa: BLE001 - what cis would show as a traceback
            traceback.print_exc()
            code = 99
    return code, out.getvalue(), err.getvalue()


def _short(text: str) -> str:
    """``text`` with the campaign's temporary folder written ``$TMP``."""
    return text.replace(str(NEWTMP), "$TMP")


def _what_ran(stdout: str) -> str:
    """A few words on what a command that exited 0 printed (its JSON's widths or critical load, else its last
    line)."""
    try:
        out = json.loads(stdout)
    except ValueError:
        out = None
    if isinstance(out, dict) and "rows" in out and out["rows"] and "critical_load" in out["rows"][0]:
        return "ran: " + ", ".join(f"D={r['width']} critical load {r['critical_load']}" for r in out["rows"])
    if isinstance(out, dict) and "critical_load" in out:
        return f"ran: critical load {out['critical_load']}"
    return (stdout.strip().splitlines() or [""])[-1]


def _said(message: str, words) -> bool:
    return not words or any(w.lower() in message.lower() for w in words)


def verdict_cli(code, stdout, stderr, flags=(), words=(), created=False, check=None, ok=None):
    """The class of one ``cis`` run (see the classes above). ``check(stdout)`` may return a class and a detail
    for a run that exited 0 (``wrong``, ``mixed``); ``ok`` says what a correct run is (then ``survived``)."""
    stdout, stderr = _short(stdout), _short(stderr)
    lines = stderr.strip().splitlines()
    if code == 99 or "Traceback (most recent call last)" in stderr:
        last = [ln for ln in lines if ln and not ln.startswith(" ")][-1:] or ["?"]
        return "traceback", last[0][:200]
    if code == 0:
        verdict = check(stdout) if check is not None else None
        if verdict:
            return verdict
        if ok:
            return "survived", ok
        return "accepted", f"exit 0: {_what_ran(stdout)[:200]}"
    message = lines[-1] if lines else ""
    problems = []
    if code != 2:
        problems.append(f"exit status {code}")
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr")
    if flags and not any(f in message for f in flags):
        problems.append(f"does not name {flags[0]}")
    if words and not _said(message, words):
        problems.append(f"does not say {words[0]!r}")
    if created:
        problems.append("created its output before refusing")
    return ("unclear", "; ".join(problems) + f": {message[:200]}") if problems else ("refused", message[:200])


def judge_cli(argv, flags=(), words=(), out=None, check=None, ok=None, stdout_to=None):
    existed = out is not None and os.path.lexists(out)
    code, so, se = _cli(argv, stdout_to)
    created = out is not None and not existed and os.path.lexists(out)
    return verdict_cli(code, so, se, flags, words, created, check, ok)


def judge_api(call, parameter=None, words=(), check=None, ok=None):
    """The class of one library call: a ``CircuitsError`` naming ``parameter`` (its ``parameter`` or its
    message) and saying one of ``words`` is ``refused``; ``check(result)`` may return a class for a result."""
    try:
        result = call()
    except CircuitsError as err:
        message = _short(str(err))
        problems = []
        if parameter and err.parameter != parameter and parameter not in message:
            problems.append(f"does not name {parameter} (parameter {err.parameter!r})")
        if words and not _said(message, words):
            problems.append(f"does not say {words[0]!r}")
        return ("unclear", "; ".join(problems) + f": {message[:200]}") if problems else ("refused", message[:200])
    except BaseException as err:  # noqa: BLE001
        return "traceback", f"{type(err).__name__}: {_short(str(err))[:180]}"
    verdict = check(result) if check is not None else None
    if verdict:
        return verdict
    if ok:
        return "survived", ok
    return "accepted", f"returned {type(result).__name__}"


def _fresh(tag: str) -> pathlib.Path:
    d = NEWTMP / "cases" / f"{tag}-{os.getpid()}"
    d.mkdir(parents=True)
    return d


def _copy(key: str, dest: pathlib.Path) -> pathlib.Path:
    src = pathlib.Path(FX[key])
    (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest)
    return dest


def _swap(a: pathlib.Path, b: pathlib.Path) -> None:
    tmp = a.with_name(a.name + ".being-swapped")
    os.rename(a, tmp)
    os.rename(b, a)
    os.rename(tmp, b)


def _digest_arrays(arrays: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(np.asarray(arrays[name]))
        h.update(f"{name} {a.dtype.str} {a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _canon(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _net_key(net) -> str:
    return _canon([dict(net.provenance), net.config.to_dict()])


def _zoo_digest(model) -> dict:
    data = attr(model, "zoo_dataset")
    return {"network": _net_key(attr(model, "zoo_network")),
            "dataset": None if data is None else _digest_arrays(attr(data, "dataset_arrays")()),
            "measured": _canon(attr(model, "zoo_measured"))}


def _dataset_file_digest(path) -> str:
    return _digest_arrays(attr(API.load_dataset(path), "dataset_arrays")())


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def _valid_png(path: pathlib.Path) -> bool:
    blob = path.read_bytes()
    return blob.startswith(b"\x89PNG\r\n\x1a\n") and blob.endswith(b"IEND\xaeB`\x82")


def _sealed_part_ok(path: pathlib.Path) -> bool:
    """Whether a scaling part's seal holds (read with the storage module's own reader, whatever its identity)."""
    from circuits.base import open_json
    from circuits.experiments._scaling import PART_FORMAT
    try:
        open_json(path, "scaling-part", PART_FORMAT)
        return True
    except Exception:  # noqa: BLE001
        return False


def _scaling_parts(folder: pathlib.Path) -> list[pathlib.Path]:
    """A study's part files in the order of its widths (the width its seal's identity names)."""
    parts = [p for p in (folder / "parts").glob("*.json")]
    return sorted(parts, key=lambda p: json.loads(p.read_text())["identity"]["spec"]["width"])


ROW_KEYS = ("width", "criterion", "critical_load", "low", "high", "capacity_reached", "seed_loads", "capacity")


def _rows_differ(rows, reference) -> str:
    """'' when the scaling rows carry the reference's numbers, else what differs."""
    if len(rows) != len(reference):
        return f"{len(rows)} rows, the reference has {len(reference)}"
    for r, ref in zip(rows, reference):
        for k in ROW_KEYS:
            if k in ref and _canon(r.get(k)) != _canon(ref.get(k)):
                return f"width {ref['width']}: {k} {r.get(k)} (reference {ref.get(k)})"
    return ""


# ----------------------------------------------------------------------------- fixtures
def build_fixtures(root: pathlib.Path) -> dict:
    """(In a child.) The artefacts the cases copy and damage, made as a user makes them, and their results."""
    import torch
    torch.set_num_threads(1)
    fx = {}

    def cis_ok(argv):
        code, so, se = _cli(argv)
        if code != 0:
            raise RuntimeError(f"fixture: cis {' '.join(map(str, argv))} failed: {se[-800:]}")
        return so

    for name, seed in (("netA", 0), ("netB", 1)):
        cis_ok(["build", *NET_FLAGS, "--seed", str(seed), "--out", root / name])
        fx[name] = str(root / name)
    cis_ok(zoo_argv(root / "zoo"))
    cis_ok(zoo_argv(root / "zoo1", ZOO_TWO[:1]))
    fx["zoo"], fx["zoo1"] = str(root / "zoo"), str(root / "zoo1")
    fx["zoo_ref"] = {name: _zoo_digest(API.zoo_load(name, root / "zoo")) for name in ZOO_TWO}
    fx["zoo_index"] = _index_content(json.loads((root / "zoo" / "index.json").read_text()))
    for n in ("A", "B"):
        cis_ok(dataset_argv(root / f"net{n}", root / f"d{n}.safetensors"))
        fx[f"d{n}"] = str(root / f"d{n}.safetensors")
        fx[f"d{n}_digest"] = _dataset_file_digest(root / f"d{n}.safetensors")
    fx["sc_rows"] = json.loads(cis_ok(scaling_argv(root / "sc")))["rows"]
    fx["sc"] = str(root / "sc")
    for key, extra in (("sc_fo", ["--criterion", "fraction-on"]), ("sc_lv", ["--level", "4"])):
        cis_ok(scaling_argv(root / key, *extra))
        fx[key] = str(root / key)
    for i, grid in enumerate(SWEEP_GRIDS):
        path = _write(root / f"grid{i}.json", json.dumps(grid))
        cis_ok(sweep_argv(path, root / f"sw{i}"))
        fx[f"grid{i}"], fx[f"sw{i}"] = str(path), str(root / f"sw{i}")
    return fx


def _index_content(doc: dict) -> dict:
    """What a zoo's index.json holds (under its seal, the storage module's ``content``; a bare index before)."""
    return doc["content"] if isinstance(doc, dict) and "content" in doc else doc


def _sweep_same(out: pathlib.Path) -> bool:
    return same_table(table_of(out), table_of(FX["sw0"]))


# ----------------------------------------------------------------------------- identity
def _judge_zoo_load(name, path, *, words, differs="mixed", expect_same=False, **load_kw):
    """``zoo.load(name, path)`` after a file of the zoo was swapped, moved or edited. Correct: refused naming
    the file (``words``), or (``expect_same``: a move that must keep working) the zoo's own result."""
    def check(model):
        got, ref = _zoo_digest(model), FX["zoo_ref"][name]
        diff = [k for k in ref if got[k] != ref[k] and not (k == "dataset" and got[k] is None)]
        if diff:
            return differs, f"zoo.load returned another {' and '.join(diff)} than {name}'s own, without a word"
        if expect_same:
            return None
        return "accepted", "loaded without a word: the changed file goes unnoticed (the result does not read it)"
    return judge_api(lambda: API.zoo_load(name, path, **load_kw), None, words=words, check=check,
                     ok="loaded the zoo's own result" if expect_same else None)


def _zoo_copy() -> pathlib.Path:
    return _copy("zoo", _fresh("zoo") / "zoo")


def _judge_rerun(argv, words, compare, ok, warning=()):
    """Rerun a study or sweep after one of its files was swapped, moved, edited or replaced. Correct: refused
    naming the file (``words``), or the reference's result (``compare(stdout)`` returns what differs, ''
    when nothing) where the part was recognised and run again; ``warning``: the words (the part's file name)
    the warning of a part run again must say (the storage module's documented behaviour: a finished part
    whose seal does not hold is run again with a warning naming it)."""
    code, so, se = _cli(argv)

    def check(stdout):
        why = compare(stdout)
        if why:
            return "mixed", why
        if warning and not _said(se, warning):
            return "accepted", f"the rerun gave the reference's result, without a warning naming {warning[0]}"
        return None
    return verdict_cli(code, so, se, ("--out",), words, False, check, ok=ok)


def _judge_scaling_rerun(out: pathlib.Path, words, ok="the rerun gave the reference's numbers", warning=()):
    """Rerun the study in ``out`` after a part was swapped, moved or edited (see :func:`_judge_rerun`)."""
    def compare(stdout):
        why = _rows_differ(json.loads(stdout)["rows"], FX["sc_rows"])
        return f"the rerun reports another study's or width's result: {why}" if why else ""
    return _judge_rerun(scaling_argv(out), words, compare, ok, warning)


def _judge_sweep_rerun(out: pathlib.Path, words, ok="the rerun gave the reference's table", warning=()):
    def compare(_stdout):
        if not _sweep_same(out):
            got = table_of(out).drop_duplicates("run")[["run", "n_circuits"]].to_dict("records")
            return f"results.parquet holds another run's rows (run, n_circuits: {got})"
        return ""
    return _judge_rerun(sweep_argv(FX["grid0"], out), words, compare, ok, warning)


def identity_probes() -> list[Probe]:
    P = []
    A, B = ZOO_TWO

    def add(name, body, expect="refused naming the file", **kw):
        P.append(Probe("identity", name, body, expect, **kw))

    # ---- network directories
    def net_config_swap():
        d = _fresh("net")
        a, b = _copy("netA", d / "a"), _copy("netB", d / "b")
        _swap(a / "config.json", b / "config.json")
        return judge_api(lambda: API.load_network(a), None, words=("config.json",))
    add("network: config.json swapped between two saved networks, load", net_config_swap)

    def zoo_network_swap():
        z = _zoo_copy()
        _swap(z / A / "network", z / B / "network")
        return _judge_zoo_load(A, z, words=("network",))
    add("zoo entry: network/ folders of two entries swapped, zoo.load", zoo_network_swap)

    def zoo_network_other_seed():
        z = _zoo_copy()
        spec = API.zoo_catalogue[A].spec
        net = API.build_network(attr(spec, "replace")(seed=spec.seed + 1))
        shutil.rmtree(z / A / "network")
        API.save_network(net, z / A / "network")
        return _judge_zoo_load(A, z, words=("network", A))
    add("zoo entry: network/ replaced by the same spec built with another seed, zoo.load", zoo_network_other_seed)

    # ---- zoo entries (whole folders)
    def entries_swapped():
        z = _zoo_copy()
        _swap(z / A, z / B)
        return _judge_zoo_load(A, z, words=(A, B, "network"))
    add("zoo entry: the folders of two entries swapped, zoo.load", entries_swapped)

    def entry_copied_over_other():
        z = _zoo_copy()
        shutil.rmtree(z / B)
        shutil.copytree(z / A, z / B)
        return _judge_zoo_load(B, z, words=(B, "network"))
    add("zoo entry: one entry's folder copied over the other's, zoo.load", entry_copied_over_other)

    def entry_moved_away():
        z = _zoo_copy()
        os.rename(z / A, z / f"{A}-old")
        return _judge_zoo_load(A, z, words=(A,))
    add("zoo entry: an entry's folder moved away (renamed), zoo.load", entry_moved_away)

    def zoo_moved():
        d = _fresh("zoo-moved")
        z = _copy("zoo", d / "zoo")
        os.rename(z, d / "elsewhere")
        return _judge_zoo_load(A, d / "elsewhere", words=(), expect_same=True)
    add("zoo: the whole zoo folder moved to another name, zoo.load there", zoo_moved, "loads as before")

    # ---- data sets (the zoo's dataset.safetensors)
    def dataset_swapped():
        z = _zoo_copy()
        _swap(z / A / "dataset.safetensors", z / B / "dataset.safetensors")
        return _judge_zoo_load(A, z, words=("dataset.safetensors",))
    add("data set: dataset.safetensors swapped between two zoo entries, zoo.load", dataset_swapped)

    def dataset_other_draws(extra, what):
        def body():
            z = _zoo_copy()
            (z / A / "dataset.safetensors").unlink()
            code, _, se = _cli(["dataset", "--network", z / A / "network", "--activations", "--reference",
                                "--out", z / A / "dataset.safetensors", *CLI_FLAGS["threads"], *extra])
            if code != 0:
                return "traceback", f"(campaign) could not draw the other data set: {se[-200:]}"
            return _judge_zoo_load(A, z, words=("dataset.safetensors",))
        add(f"data set: dataset.safetensors replaced by {what} of the same network, zoo.load", body)
    dataset_other_draws(["--batch-size", "200", "--seed", "5"], "other draws (cis dataset --seed 5)")
    dataset_other_draws(["--batch-size", "50"], "a smaller data set (cis dataset --batch-size 50)")

    def dataset_from_other_zoo_entry_net():
        z = _zoo_copy()
        shutil.copy2(FX["dA"], z / A / "dataset.safetensors")
        return _judge_zoo_load(A, z, words=("dataset.safetensors",))
    add("data set: dataset.safetensors replaced by a data set of an unrelated network, zoo.load",
        dataset_from_other_zoo_entry_net)

    def truth_over_dataset():
        z = _zoo_copy()
        shutil.copy2(z / A / "truth.safetensors", z / A / "dataset.safetensors")
        return _judge_zoo_load(A, z, words=("dataset.safetensors",))
    add("data set: truth.safetensors copied over dataset.safetensors (another kind), zoo.load", truth_over_dataset)

    # ---- truth.safetensors
    def truth_case(mutate):
        def body():
            z = _zoo_copy()
            mutate(z)
            return _judge_zoo_load(A, z, words=("truth.safetensors",))
        return body
    add("truth: truth.safetensors swapped between two zoo entries, zoo.load",
        truth_case(lambda z: _swap(z / A / "truth.safetensors", z / B / "truth.safetensors")))

    def flip(path, where=0.5):
        blob = bytearray(path.read_bytes())
        i = int(len(blob) * where)
        blob[i] ^= 1
        path.write_bytes(bytes(blob))
    add("truth: one byte of truth.safetensors's arrays flipped, zoo.load",
        truth_case(lambda z: flip(z / A / "truth.safetensors", 0.9)))
    add("truth: truth.safetensors truncated to half, zoo.load",
        truth_case(lambda z: (z / A / "truth.safetensors").write_bytes(
            (z / A / "truth.safetensors").read_bytes()[: (z / A / "truth.safetensors").stat().st_size // 2])))
    add("truth: truth.safetensors deleted, zoo.load", truth_case(lambda z: (z / A / "truth.safetensors").unlink()))

    def retag(z):  # the header's metadata says another entry
        from safetensors.numpy import load_file, save_file
        arrays = load_file(str(z / A / "truth.safetensors"))
        save_file(arrays, str(z / A / "truth.safetensors"), metadata={"format": "circuits-truth", "zoo": B})
    add("truth: truth.safetensors's header edited to name the other entry, zoo.load", truth_case(retag))
    add("truth: dataset.safetensors copied over truth.safetensors (another kind), zoo.load",
        truth_case(lambda z: shutil.copy2(z / A / "dataset.safetensors", z / A / "truth.safetensors")))

    # ---- index.json
    def index_case(edit, name=A, differs="wrong", words=("index.json",)):
        def body():
            z = _zoo_copy()
            index = json.loads((z / "index.json").read_text())
            edit(index, z)
            (z / "index.json").write_text(json.dumps(index, indent=2))
            return _judge_zoo_load(name, z, words=words, differs=differs)
        return body

    def scale_mse(index, z):
        _index_content(index)["entries"][0]["measured"]["active_payload_mse"] *= 2
    add("index: a measured error in index.json edited by hand, zoo.load", index_case(scale_mse))

    def swap_measured(index, z):
        e = _index_content(index)["entries"]
        e[0]["measured"], e[1]["measured"] = e[1]["measured"], e[0]["measured"]
    add("index: the measured errors of two entries swapped in index.json, zoo.load",
        index_case(swap_measured, differs="mixed"))

    def swap_records(index, z):
        e = _index_content(index)["entries"]
        e[0]["name"], e[1]["name"] = e[1]["name"], e[0]["name"]
    add("index: the names of two records swapped in index.json, zoo.load", index_case(swap_records, differs="mixed"))

    def other_zoo_index(index, z):
        index.clear()
        index.update(json.loads((pathlib.Path(FX["zoo1"]) / "index.json").read_text()))
    add("index: index.json of another zoo (one entry) copied in, zoo.load of the entry it lacks",
        index_case(other_zoo_index, name=B))

    def read_index_case(edit, what):
        def body():
            z = _zoo_copy()
            index = json.loads((z / "index.json").read_text())
            edit(_index_content(index)["entries"][0])
            (z / "index.json").write_text(json.dumps(index, indent=2))

            def check(got):
                return ("wrong", f"read_index returns {what} as edited") if got != FX["zoo_index"] else None
            return judge_api(lambda: API.zoo_read_index(z), None, words=("index.json",), check=check)
        add(f"index: {what} edited in index.json, read_index", body)
    read_index_case(lambda r: r.__setitem__("measured_regime", "failing"), "a record's measured_regime")
    read_index_case(lambda r: r["spec"].__setitem__("n_circuits", r["spec"]["n_circuits"] + 1), "a record's spec")
    read_index_case(lambda r: r.__setitem__("bytes", 1), "a record's bytes")
    read_index_case(lambda r: r["files"].__setitem__("dataset", f"{B}/dataset.safetensors"), "a record's files")

    # ---- scaling parts
    def sc_copy() -> pathlib.Path:
        return _copy("sc", _fresh("sc") / "sc")

    # a part whose seal does not hold is run again with a warning naming it (docs/design.md, storage)
    rerun = "run again with a warning naming the part: the reference's numbers (or refused naming the part)"
    rerun_ok = "run again with a warning naming the part: the reference's numbers"

    def parts_swapped():
        out = sc_copy()
        p400, p800 = _scaling_parts(out)
        _swap(p400, p800)
        return _judge_scaling_rerun(out, (p400.name, p800.name), rerun_ok, warning=(p400.name, p800.name))
    add("scaling part: the part files of two widths swapped by name, rerun", parts_swapped, rerun)

    def part_from(other_key, what):
        def body():
            out = sc_copy()
            mine = _scaling_parts(out)[0]
            theirs = _scaling_parts(pathlib.Path(FX[other_key]))[0]
            shutil.copy2(theirs, mine)
            return _judge_scaling_rerun(out, (mine.name,), rerun_ok, warning=(mine.name,))
        add(f"scaling part: width 400's part replaced by {what} (same width), rerun", body, rerun)
    part_from("sc_fo", "the part of a study with another criterion (fraction-on)")
    part_from("sc_lv", "the part of a study with another level (4)")

    def part_duplicated():
        out = sc_copy()
        p400, p800 = _scaling_parts(out)
        shutil.copy2(p400, p800)
        return _judge_scaling_rerun(out, (p800.name,), rerun_ok, warning=(p800.name,))
    add("scaling part: width 400's part copied over width 800's, rerun", part_duplicated, rerun)

    def part_edited():
        out = sc_copy()
        p = _scaling_parts(out)[0]
        sealed = json.loads(p.read_text())
        sealed["content"]["critical_load"] *= 2
        p.write_text(json.dumps(sealed))
        return _judge_scaling_rerun(out, (p.name,), rerun_ok, warning=(p.name,))
    add("scaling part: the critical load in a part edited by hand (its seal kept), rerun", part_edited, rerun)

    def part_moved():
        out = sc_copy()
        p = _scaling_parts(out)[1]
        os.rename(p, p.with_name("kept-aside.json"))
        return _judge_scaling_rerun(out, ())
    add("scaling part: a part file moved away (renamed), rerun", part_moved, "the rerun redoes it: the same numbers")

    def study_moved():
        d = _fresh("sc-moved")
        out = _copy("sc", d / "sc")
        os.rename(out, d / "elsewhere")
        return _judge_scaling_rerun(d / "elsewhere", ())
    add("scaling: the whole study folder moved to another name, rerun there", study_moved,
        "the rerun resumes: the same numbers")

    # ---- sweep parts
    def sw_copy() -> pathlib.Path:
        return _copy("sw0", _fresh("sw") / "sw")

    sweep_rerun = rerun.replace("numbers", "table")

    def sweep_parts_swapped():
        out = sw_copy()
        a, b = sorted((out / "parts").glob("*.parquet"))
        _swap(a, b)
        return _judge_sweep_rerun(out, (a.name, b.name), rerun_ok, warning=(a.name, b.name))
    add("sweep part: the part files of two runs swapped by name, rerun", sweep_parts_swapped, sweep_rerun)

    def sweep_part_from_other():
        out = sw_copy()
        mine = sorted((out / "parts").glob("*.parquet"))[0]
        theirs = sorted((pathlib.Path(FX["sw1"]) / "parts").glob("*.parquet"))[0]
        shutil.copy2(theirs, mine)
        return _judge_sweep_rerun(out, (mine.name,), rerun_ok, warning=(mine.name,))
    add("sweep part: a part replaced by a part of another sweep (another grid), rerun", sweep_part_from_other,
        sweep_rerun)

    def sweep_record_swapped():
        out = sw_copy()
        shutil.copy2(pathlib.Path(FX["sw1"]) / "sweep.json", out / "sweep.json")
        return _judge_sweep_rerun(out, ("sweep.json", "another grid"))
    add("sweep: sweep.json of another sweep copied in, rerun", sweep_record_swapped)

    def sweep_moved():
        d = _fresh("sw-moved")
        out = _copy("sw0", d / "sw")
        os.rename(out, d / "elsewhere")
        return _judge_sweep_rerun(d / "elsewhere", ())
    add("sweep: the whole sweep folder moved to another name, rerun there", sweep_moved,
        "the rerun resumes: the same table")

    return P


# ----------------------------------------------------------------------------- interrupted and full-disk writers
class _StepFile:
    """A file opened for writing under the watched folder: each ``write`` is one step."""

    def __init__(self, handle, steps, path):
        self._handle, self._steps, self._path = handle, steps, path

    def write(self, data):
        self._steps.step("write", self._path, data=data, handle=self._handle)
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._handle.__exit__(*exc)

    def __iter__(self):
        return iter(self._handle)


class FsSteps:
    """(In a forked child.) Counts the file-system steps a command takes under ``root``: a file opened for
    writing, each write to it, mkdir, rename/replace, unlink, rmdir, rmtree (through Python's own calls, so
    it watches any writer, whatever module it lives in). At step ``kill_at`` the process kills itself
    (SIGKILL, as ``kill -9``; a write is cut in half first); at step ``enospc_at`` the step fails with
    ENOSPC (a write after half of it went to disk), as on a full disk."""

    def __init__(self, root, kill_at=None, enospc_at=None):
        self.root = os.path.realpath(root)
        self.kill_at, self.enospc_at, self.events = kill_at, enospc_at, []

    def _rel(self, path):
        try:
            p = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return None
        return os.path.relpath(p, self.root) if p == self.root or p.startswith(self.root + os.sep) else None

    def step(self, kind, path, dest=None, data=None, handle=None):
        self.events.append([kind, self._rel(path), None if dest is None else self._rel(dest)])
        n = len(self.events)
        if n in (self.kill_at, self.enospc_at):
            if kind == "write" and data is not None and handle is not None:
                handle.write(data[: len(data) // 2])
                handle.flush()
            if n == self.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            raise OSError(errno.ENOSPC, "No space left on device", os.fsdecode(path))

    def install(self):
        import builtins
        import io
        steps = self
        real_open = builtins.open

        def watched_open(file, mode="r", *a, **k):
            handle = real_open(file, mode, *a, **k)
            if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+") \
                    and steps._rel(file) is not None:
                try:
                    steps.step("open", file)
                except BaseException:
                    handle.close()
                    raise
                return _StepFile(handle, steps, file)
            return handle
        builtins.open = io.open = watched_open
        for name, kind in (("replace", "replace"), ("rename", "rename"), ("mkdir", "mkdir"), ("unlink", "unlink"),
                           ("remove", "unlink"), ("rmdir", "rmdir")):
            real = getattr(os, name)

            def fn(src, *a, _real=real, _kind=kind, **k):
                if k.get("dir_fd") is None and steps._rel(src) is not None:
                    dest = a[0] if _kind in ("replace", "rename") and a else None
                    steps.step(_kind, src, dest)
                return _real(src, *a, **k)
            setattr(os, name, fn)
        real_rmtree = shutil.rmtree

        def rmtree(path, *a, **k):
            if steps._rel(path) is not None:
                steps.step("rmtree", path)
            return real_rmtree(path, *a, **k)
        shutil.rmtree = rmtree
        # the storage module swaps a new folder in for an old one in one system call (renameat2 through ctypes,
        # which the wrappers above do not see): that swap is one step too
        from circuits.base import _storage
        real_exchange = _storage._exchange

        def exchange(a, b, _real=real_exchange):
            if steps._rel(a) is not None:
                steps.step("exchange", a, b)
            return _real(a, b)
        _storage._exchange = exchange
        return self


def _watched_run(root, argv, kill_at=None, enospc_at=None, timeout=120.0) -> dict:
    """``cis ARGV`` in a child watched by :class:`FsSteps`: its status (-9 when it killed itself), stderr and
    the steps it took."""
    def child():
        steps = FsSteps(root, kill_at, enospc_at).install()
        code, so, se = _cli(argv)
        return {"code": code, "stdout": so, "stderr": se[-2000:], "events": steps.events}
    r = forked(child, timeout, MEMORY)
    res = r["result"] or {}
    return {"status": r["status"], "code": res.get("code"), "stdout": res.get("stdout", ""),
            "stderr": res.get("stderr", r["stderr"][-2000:]), "events": res.get("events")}


def _trace(key, prepare, argv_of) -> list:
    """The steps of one undisturbed run of a scenario (made once, kept in NEWTMP/trace-KEY.json)."""
    path = NEWTMP / f"trace-{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    d = _fresh(f"trace-{key}")
    prepare(d)
    r = _watched_run(d, argv_of(d))
    if r["code"] != 0 or not r["events"]:
        raise RuntimeError(f"(campaign) the undisturbed run of {key} failed: {r['stderr'][-300:]}")
    path.write_text(json.dumps(r["events"]))
    return r["events"]


def _pick(events, predicate, nth=0):
    """1-based index of the ``nth`` step matching ``predicate(kind, src, dest)``, or None."""
    hits = [i + 1 for i, (kind, src, dest) in enumerate(events) if predicate(kind, src or "", dest or "")]
    return hits[nth] if len(hits) > nth else None


def _hidden(folder: pathlib.Path, keep=(".lock",)) -> list[str]:
    try:
        return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name not in keep)
    except OSError:
        return []


def _zoo_state(z: pathlib.Path) -> str:
    """'absent', 'old' (the one-entry zoo), 'new' (the two-entry zoo), or what is wrong with it."""
    if not os.path.lexists(z):
        return "absent"
    try:
        index = json.loads((z / "index.json").read_text())
        names = [r["name"] for r in _index_content(index)["entries"]]
    except Exception as err:  # noqa: BLE001
        return f"a half-written zoo (no readable index.json: {type(err).__name__}; holds {sorted(os.listdir(z))})"
    for name in names:
        try:
            got = _zoo_digest(API.zoo_load(name, z))
        except Exception as err:  # noqa: BLE001
            return f"a zoo whose {name} does not load ({str(err)[:100]})"
        if got != FX["zoo_ref"][name]:
            return f"a zoo whose {name} differs from the reference"
    return {tuple(ZOO_TWO): "new", tuple(ZOO_TWO[:1]): "old"}.get(tuple(names), f"a zoo of {names}")


def _dataset_state(path: pathlib.Path) -> str:
    if not os.path.lexists(path):
        return "absent"
    try:
        digest = _dataset_file_digest(path)
    except Exception as err:  # noqa: BLE001
        return f"a partial data set file ({path.stat().st_size} bytes: {str(err)[:80]})"
    return {FX["dA_digest"]: "new", FX["dB_digest"]: "old"}.get(digest, "another data set")


def _scaling_state(out: pathlib.Path) -> list[str]:
    """What is partial or unreadable under the study's final names."""
    bad = []
    if (out / "parts").is_dir():
        bad += [f"parts/{p.name} is partial" for p in (out / "parts").glob("*.json") if not _sealed_part_ok(p)]
    for name in ("results.parquet", "fits.parquet"):
        if (out / name).exists() and not _readable_parquet(out / name):
            bad.append(f"{name} is partial ({(out / name).stat().st_size} bytes)")
    if (out / "scaling.png").exists() and not _valid_png(out / "scaling.png"):
        bad.append(f"scaling.png is partial ({(out / 'scaling.png').stat().st_size} bytes)")
    if (out / "scaling.json").exists():
        try:
            json.loads((out / "scaling.json").read_text())
        except ValueError:
            bad.append("scaling.json is partial")
    return bad


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


class _Scenario:
    """A writer to interrupt: how to prepare its folder, its command, what its folder may hold after a kill,
    and how a rerun must end."""

    def __init__(self, key, prepare, argv, state, good_states, rerun_force, final_ok, debris_dirs):
        self.key, self.prepare, self.argv, self.state = key, prepare, argv, state
        self.good_states, self.rerun_force, self.final_ok, self.debris_dirs = good_states, rerun_force, final_ok, \
            debris_dirs


def _zoo_scenarios() -> list[_Scenario]:
    def final_zoo(d, r):
        state = _zoo_state(d / "zoo")
        return [] if state == "new" else [f"after the rerun --out holds {state}"]
    fresh = _Scenario("zoo", lambda d: None, lambda d: zoo_argv(d / "zoo"), lambda d: _zoo_state(d / "zoo"),
                      ("absent", "new"), lambda state: state == "new", final_zoo, lambda d: [d])
    force = _Scenario("zoo-force", lambda d: _copy("zoo1", d / "zoo"),
                      lambda d: zoo_argv(d / "zoo", ZOO_TWO, *CLI_FLAGS["force"]), lambda d: _zoo_state(d / "zoo"),
                      ("old", "new"), lambda state: True, final_zoo, lambda d: [d])
    return [fresh, force]


def _dataset_scenarios() -> list[_Scenario]:
    def final(d, r):
        state = _dataset_state(d / "x.safetensors")
        return [] if state == "new" else [f"after the rerun --out holds {state}"]
    fresh = _Scenario("dataset", lambda d: None, lambda d: dataset_argv(FX["netA"], d / "x.safetensors"),
                      lambda d: _dataset_state(d / "x.safetensors"), ("absent", "new"), lambda s: s == "new", final,
                      lambda d: [d])
    force = _Scenario("dataset-force", lambda d: _copy("dB", d / "x.safetensors"),
                      lambda d: dataset_argv(FX["netA"], d / "x.safetensors", *CLI_FLAGS["force"]),
                      lambda d: _dataset_state(d / "x.safetensors"), ("old", "new"), lambda s: True, final,
                      lambda d: [d])
    return [fresh, force]


def _scaling_scenario() -> _Scenario:
    def state(d):
        bad = _scaling_state(d / "sc")
        return "; ".join(bad) if bad else "whole"

    def final(d, r):
        bad = _scaling_state(d / "sc")
        try:
            why = _rows_differ(json.loads(r["stdout"])["rows"], FX["sc_rows"])
        except (ValueError, KeyError):
            why = "no rows printed"
        return bad + ([f"the rerun's rows differ: {why}"] if why else []) + \
            ([] if (d / "sc" / "scaling.png").exists() else ["no scaling.png after the rerun"])
    return _Scenario("scaling", lambda d: None, lambda d: scaling_argv(d / "sc"), state, ("whole",),
                     lambda s: False, final, lambda d: [d, d / "sc", d / "sc" / "parts"])


def _kill_probe(sc: _Scenario, label: str, predicate, nth=0) -> Probe:
    def body():
        events = _trace(sc.key, sc.prepare, sc.argv)
        at = _pick(events, predicate, nth)
        if at is None:
            return "traceback", f"(campaign) no step of the undisturbed run matches {label!r}"
        d = _fresh(sc.key)
        sc.prepare(d)
        r = _watched_run(d, sc.argv(d), kill_at=at)
        if "Traceback (most recent call last)" in r["stderr"]:
            return "traceback", f"before the kill: {_last_line(r['stderr'])}"
        killed = r["status"] == -signal.SIGKILL
        after = sc.state(d)
        problems = [] if after in sc.good_states else [f"after the kill --out holds {after}"]
        left = {str(f.relative_to(d)) if f != d else ".": _hidden(f) for f in sc.debris_dirs(d)}
        argv = sc.argv(d)
        if sc.rerun_force(after) and CLI_FLAGS["force"][0] not in argv:
            argv = argv + CLI_FLAGS["force"]
        again = _watched_run(d, argv)
        if "Traceback (most recent call last)" in again["stderr"]:
            return "traceback", f"the rerun: {_last_line(again['stderr'])}"
        if again["code"] != 0:
            problems.append(f"the rerun fails ({again['code']}): {_last_line(again['stderr'])}")
        else:
            problems += sc.final_ok(d, again)
        stray = {str(f.relative_to(d)) if f != d else ".": _hidden(f) for f in sc.debris_dirs(d)}
        stray = {k: v for k, v in stray.items() if v}
        if stray:
            problems.append(f"left beside the output after the rerun: {stray}")
        where = f"step {at}/{len(events)}" + ("" if killed else " (not reached: it finished)")
        if problems:
            return "lost", f"killed at {where}: " + "; ".join(problems)
        return "survived", f"killed at {where} ({after}; left {sum(map(len, left.values()))} stray names), " \
                           "the rerun completed and removed them"
    return Probe("interrupted", f"kill -9 during cis {sc.key.split('-')[0]}"
                 f"{' ' + CLI_FLAGS['force'][0] if 'force' in sc.key else ''} at {label}, then rerun", body,
                 "the output whole or absent (the old one kept), the rerun completes, nothing left beside it",
                 timeout=180)


def _enospc_probe(sc: _Scenario, label: str, predicate, nth=0, kept=None) -> Probe:
    """The disk fills up at one write (half of it lands): one line naming --out, no partial or 0-byte file
    under a final name, nothing left beside it, finished work kept (``kept(d)``: problems)."""
    def body():
        events = _trace(sc.key, sc.prepare, sc.argv)
        at = _pick(events, predicate, nth)
        if at is None:
            return "traceback", f"(campaign) no step of the undisturbed run matches {label!r}"
        d = _fresh(sc.key)
        sc.prepare(d)
        r = _watched_run(d, sc.argv(d), enospc_at=at)
        if r["status"] in ("timeout", "memory"):
            return "hang", f"no answer after the full disk at step {at}"
        after = sc.state(d)
        problems = [] if after in sc.good_states else [f"--out holds {after}"]
        stray = {str(f.relative_to(d)) if f != d else ".": _hidden(f) for f in sc.debris_dirs(d)}
        stray = {k: v for k, v in stray.items() if v}
        if stray:
            problems.append(f"left beside it: {stray}")
        if kept is not None:
            problems += kept(d)
        verdict = verdict_cli(r["code"], r["stdout"], r["stderr"], ("--out",), ("space", "full", "ENOSPC"))
        if verdict[0] == "traceback":
            return "traceback", verdict[1] + ("; " + "; ".join(problems) if problems else "")
        if problems:
            return "lost", "; ".join(problems) + f" (exit {r['code']}: {_last_line(r['stderr'])})"
        if r["code"] == 0:
            return "accepted", f"exit 0 after a failed write at step {at}"
        return verdict
    command = sc.key.split("-")[0] + (" " + CLI_FLAGS["force"][0] if "force" in sc.key else "")
    return Probe("interrupted", f"full disk (ENOSPC injected) in cis {command} at {label}",
                 body, "one line naming --out, no partial or 0-byte file, finished work kept", timeout=180)


def _scaling_kept(d) -> list[str]:
    out = d / "sc"
    bad = []
    for name in ("results.parquet", "fits.parquet"):
        if not (out / name).exists():
            bad.append(f"the finished {name} is not there")
    if len(list((out / "parts").glob("*.json"))) != 2:
        bad.append("the finished parts are not both there")
    return bad


def interrupted_probes() -> list[Probe]:
    P = []
    zoo, zoo_force = _zoo_scenarios()
    is_write = lambda pattern: (lambda k, s, t: k == "write" and pattern in s)  # noqa: E731
    moved_in = lambda name: (lambda k, s, t: k in ("replace", "rename") and t == name)  # noqa: E731
    P += [_kill_probe(zoo, "its first file created (empty)", lambda k, s, t: k == "open"),
          _kill_probe(zoo, "the first network's weights, half written", is_write("weights.safetensors")),
          _kill_probe(zoo, "the first dataset.safetensors, half written", is_write("dataset.safetensors")),
          _kill_probe(zoo, "the second entry's truth.safetensors, half written", is_write("truth.safetensors"), 1),
          _kill_probe(zoo, "index.json, half written", is_write("index.json")),
          _kill_probe(zoo, "the move of the finished zoo into place", moved_in("zoo"))]
    P += [_kill_probe(zoo_force, "the second entry's dataset.safetensors, half written",
                      is_write("dataset.safetensors"), 1),
          _kill_probe(zoo_force, "index.json, half written", is_write("index.json")),
          _kill_probe(zoo_force, "the swap of the new zoo for the old one", lambda k, s, t: k == "exchange"
                      or (k in ("replace", "rename") and s == "zoo")),
          _kill_probe(zoo_force, "the removal of the old zoo", lambda k, s, t: k == "rmtree")]
    scal = _scaling_scenario()
    P += [_kill_probe(scal, "its first part created (empty)", lambda k, s, t: k == "open" and "parts" in s),
          _kill_probe(scal, "its first part, half written", is_write("parts")),
          _kill_probe(scal, "the move of the second part into place",
                      lambda k, s, t: k == "replace" and t.startswith("sc/parts/"), 1),
          _kill_probe(scal, "the move of results.parquet into place", moved_in("sc/results.parquet")),
          _kill_probe(scal, "scaling.png created (empty)", lambda k, s, t: k == "open" and "scaling.png" in s),
          _kill_probe(scal, "scaling.png, half written", is_write("scaling.png"))]
    data, data_force = _dataset_scenarios()
    P += [_kill_probe(data, "its temporary file created (empty)", lambda k, s, t: k == "open"),
          _kill_probe(data, "the file half written", lambda k, s, t: k == "write"),
          _kill_probe(data, "the move into place", moved_in("x.safetensors")),
          _kill_probe(data_force, "the file half written", lambda k, s, t: k == "write"),
          _kill_probe(data_force, "the move into place", moved_in("x.safetensors"))]
    # a full disk at one write
    P += [_enospc_probe(scal, "scaling.png (after the tables)", is_write("scaling.png"), kept=_scaling_kept),
          _enospc_probe(scal, "its first part", is_write("parts")),
          _enospc_probe(scal, "scaling.json", is_write("scaling.json")),
          _enospc_probe(zoo, "the first network's weights", is_write("weights.safetensors")),
          _enospc_probe(zoo, "the second entry's dataset.safetensors", is_write("dataset.safetensors"), 1),
          _enospc_probe(zoo, "index.json", is_write("index.json")),
          _enospc_probe(data_force, "the data set file (over an existing one)", lambda k, s, t: k == "write")]
    P += _mount_probes(zoo, scal, data)
    P += _debris_probes()
    return P


def _mount_probes(zoo, scal, data) -> list[Probe]:
    """A real full disk (a small tmpfs) under cis zoo, cis scaling and cis dataset: only with --mount."""
    P = []
    for sc, size, what in ((zoo, "6m", "cis zoo"), (scal, "40k", "cis scaling"), (data, "64k", "cis dataset")):
        def body(sc=sc, size=size):
            if not MOUNT:
                return "skipped", "needs --mount"
            d = _fresh(sc.key + "-tmpfs")
            if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)],
                              capture_output=True).returncode != 0:
                return "skipped", "mount failed (not root?)"
            try:
                sc.prepare(d)
                code, so, se = _cli(sc.argv(d))
                after = sc.state(d)
                problems = [] if after in sc.good_states else [f"--out holds {after}"]
                stray = {str(f.relative_to(d)) if f != d else ".": _hidden(f) for f in sc.debris_dirs(d)}
                stray = {k: v for k, v in stray.items() if v}
                if stray:
                    problems.append(f"left beside it: {stray}")
                verdict = verdict_cli(code, so, se, ("--out",), ("space", "full"))
                if verdict[0] == "traceback":
                    return "traceback", verdict[1] + ("; " + "; ".join(problems) if problems else "")
                if problems:
                    return "lost", "; ".join(problems) + f" (exit {code}: {_last_line(se)})"
                return verdict if code != 0 else ("accepted", "exit 0 on a full disk?")
            finally:
                subprocess.run(["umount", str(d)], capture_output=True)
        P.append(Probe("interrupted", f"full disk (tmpfs of {size}, --mount) under {what}", body,
                       "one line naming --out, no partial or 0-byte file", timeout=180))
    return P


def _debris_probes() -> list[Probe]:
    P = []

    def add(name, body, expect="the run completes and removes what a dead writer left"):
        P.append(Probe("interrupted", name, body, expect, timeout=120))

    def after_run(d, argv, where, ok_state):
        code, so, se = _cli(argv)
        if code != 0:
            return verdict_cli(code, so, se, ("--out",))
        stray = [n for n in _hidden(where)]
        if stray:
            return "lost", f"still there after a successful run: {stray}"
        return ok_state
    # what a killed writer leaves, named as the storage module names a writer's siblings
    # (.NAME.writing-<pid>-<hex>, .NAME.replaced-<pid>-<hex>), with the id of a process that is gone
    def zoo_partial():
        d = _fresh("zoo-debris")
        _copy("zoo1", d / f".zoo.writing-{_dead_pid()}-0badc0de")
        return after_run(d, zoo_argv(d / "zoo"), d, ("survived", "removed"))
    add("debris: a killed cis zoo's .zoo.writing-* folder beside --out, rerun", zoo_partial)

    def zoo_old():
        d = _fresh("zoo-old")
        _copy("zoo1", d / "zoo")
        _copy("zoo1", d / f".zoo.replaced-{_dead_pid()}-0badc0de")
        return after_run(d, zoo_argv(d / "zoo", ZOO_TWO, *CLI_FLAGS["force"]), d, ("survived", "removed"))
    add(f"debris: a killed cis zoo {CLI_FLAGS['force'][0]}'s .zoo.replaced-* folder beside --out, rerun "
        f"{CLI_FLAGS['force'][0]}", zoo_old)

    def dataset_tmp():
        d = _fresh("data-debris")
        _write(d / f".x.safetensors.writing-{_dead_pid()}-0badc0de", os.urandom(1000))
        return after_run(d, dataset_argv(FX["netA"], d / "x.safetensors"), d, ("survived", "removed"))
    add("debris: a killed cis dataset's .x.safetensors.writing-* beside --out, rerun", dataset_tmp)

    def scaling_tmp(where, name):
        def body():
            d = _fresh("sc-debris")
            out = _copy("sc", d / "sc")
            folder = out / where
            _write(folder / f".{name}.writing-{_dead_pid()}-0badc0de", os.urandom(1000))
            return after_run(d, scaling_argv(out), folder, ("survived", "removed"))
        return body
    add("debris: a dead writer's .*.writing-* in the scaling study's parts/, rerun",
        scaling_tmp("parts", "0123456789abcdef01234567.json"))
    add("debris: a dead writer's .results.parquet.writing-* in the scaling study's folder, rerun",
        scaling_tmp(".", "results.parquet"))

    def two_zoos():
        d = _fresh("zoo-two")
        procs = [start_cis(*zoo_argv(d / "zoo"), *CLI_FLAGS["force"]) for _ in range(2)]
        outs = [p.communicate(timeout=100) for p in procs]
        codes = [p.returncode for p in procs]
        errs = [e.decode() for _, e in outs]
        if any("Traceback" in e for e in errs):
            return "traceback", _last_line(next(e for e in errs if "Traceback" in e))
        problems = []
        if 0 not in codes:
            problems.append(f"neither finished: {[_last_line(e) for e in errs]}")
        state = _zoo_state(d / "zoo")
        if state != "new":
            problems.append(f"--out holds {state}")
        if _hidden(d):
            problems.append(f"left beside it: {_hidden(d)}")
        bad = [e for c, e in zip(codes, errs) if c not in (0, 2) or (c == 2 and len(e.strip().splitlines()) != 1)]
        if problems:
            return "lost", "; ".join(problems)
        if bad:
            return "unclear", f"the second: {_last_line(bad[0])}"
        return "survived", f"exit statuses {codes}; the zoo whole"
    add(f"two cis zoo {CLI_FLAGS['force'][0]} on one folder at once", two_zoos,
        "one wins (or the second is refused naming the first), the zoo whole, nothing left beside it")
    return P


# ----------------------------------------------------------------------------- conflicts and silently accepted input
def _same_spec_probe(P, section, name, make, canon, parameter, expect=None):
    """``make()`` builds a spec that equals ``canon`` as a value: it must derive the same seeds and the same
    identity (the JSON that names runs and parts), or be refused naming ``parameter``."""
    def body():
        reference = canon()

        def check(spec):
            a, b = attr(spec, "seeds")(), attr(reference, "seeds")()
            ta, tb = _canon(attr(spec, "to_dict")()), _canon(attr(reference, "to_dict")())
            if a != b or ta != tb:
                return "wrong", (f"equal as a spec ({spec == reference}) but another identity: network seed "
                                 f"{a.network} vs {b.network}" + ("" if ta == tb else "; its JSON differs"))
            return None
        return judge_api(make, parameter, check=check, ok="the same seeds and identity as its canonical form")
    P.append(Probe(section, name, body,
                   expect or f"the same seeds as the canonical value, or refused naming {parameter}"))


def _cli_same_probe(P, section, name, argv, reference_argv, flag, compare, timeout=None):
    """``cis ARGV`` must print (or write) what ``reference_argv`` does, or be refused naming ``flag``.
    ``compare(stdout, reference_stdout)`` returns what differs ('' when nothing)."""
    def body():
        code0, so0, se0 = _cli(reference_argv())
        if code0 != 0:
            return "traceback", f"(campaign) the reference run failed: {_last_line(se0)}"

        def check(stdout):
            why = compare(stdout, so0)
            return ("wrong", why) if why else None
        code, so, se = _cli(argv())
        return verdict_cli(code, so, se, (flag,), (), False, check, ok="the same result as the canonical value")
    P.append(Probe(section, name, body, f"the same result as the canonical value, or refused naming {flag}",
                   timeout=timeout))


def _json_rows(key="rows", fields=("measured",)):
    def compare(a, b):
        ra, rb = json.loads(a)[key], json.loads(b)[key]
        pick = lambda rows: [[r.get(f) for f in fields] for r in rows]  # noqa: E731
        if pick(ra) == pick(rb):
            return ""
        return f"other numbers than the canonical value's ({pick(ra)[:2]} vs {pick(rb)[:2]})"
    return compare


def conflicts_probes() -> list[Probe]:
    P = []
    base = dict(SMALL_SPEC)

    def add(name, body, expect, **kw):
        P.append(Probe("conflicts", name, body, expect, **kw))

    # --- a preset and a field it chooses, from Python's constructor (from_dict and replace refuse them)
    for field, value in (("redundancy", 2), ("redundancy", 6), ("assignment", "random"), ("assignment", "bogus"),
                         ("weight_scheme", "uncorrected"), ("weight_scheme", "bogus"),
                         ("error_correction", "redundant:2"), ("error_correction", "bogus")):
        def body(field=field, value=value):
            def check(spec):
                got = getattr(spec, field)
                return None if got == value else ("accepted", f"{field}={value!r} silently became {got!r}")
            return judge_api(lambda: API.spec(preset="scalable", **base, **{field: value}), field, check=check,
                             ok="no conflict: the preset chose the same value")
        note = " (the field's default value)" if (field, value) == ("redundancy", 6) else ""
        add(f"ExperimentSpec(preset='scalable', {field}={value!r}){note}", body, f"refused naming {field}")

    # --- the same conflicts on the commands the tests do not try
    def cli_conflict(name, argv_of, flag):
        def body():
            d = _fresh("preset")
            return judge_cli(argv_of(d), (flag,), out=d / "out")
        add(f"cis {name}: --preset scalable beside {flag}", body, f"refused naming {flag}, nothing written")
    cli_conflict("build", lambda d: ["build", *NET_FLAGS, "--preset", "scalable", "--redundancy", "2", "--out",
                                     d / "out"], "--redundancy")
    cli_conflict("dataset", lambda d: ["dataset", *NET_FLAGS, "--batch-size", "20", "--preset", "scalable",
                                       "--weight-scheme", "capped", "--out", d / "out"], "--weight-scheme")
    cli_conflict("boundary", lambda d: ["boundary", "--width", "400", "--n-layers", "2", "--batch-size", "20",
                                        "--n-seeds", "1", "--rtol", "0.5", "--preset", "scalable", "--assignment",
                                        "prime-step", *CLI_FLAGS["threads"]], "--assignment")
    cli_conflict("scaling", lambda d: scaling_argv(d / "out", "--preset", "scalable", "--error-correction",
                                                   "redundant:2"), "--error-correction")
    cli_conflict("sweep", lambda d: ["sweep", *NET_FLAGS, "--batch-size", "20", "--preset", "scalable", "none",
                                     "--redundancy", "2", "--out", d / "out", *CLI_FLAGS["no_progress"]],
                 "--redundancy")

    def grid_conflict():
        d = _fresh("preset-grid")
        grid = _write(d / "grid.json", json.dumps({**base, "preset": "scalable", "redundancy": 2}))
        return judge_cli(sweep_argv(grid, d / "out"), ("--grid",), out=d / "out")
    add("cis sweep --grid with preset 'scalable' and redundancy 2", grid_conflict, "refused naming --grid")

    # --- negative zero and other spellings of one value: the same seeds, or refused
    S = lambda **k: (lambda: API.spec(**{**base, **k}))  # noqa: E731
    _same_spec_probe(P, "conflicts", "ExperimentSpec(chi_scale=-0.0) against 0.0", S(chi_scale=-0.0), S(chi_scale=0.0),
                     "chi_scale")
    _same_spec_probe(P, "conflicts", "ExperimentSpec.from_dict({chi_scale: -0.0}) against 0.0",
                     lambda: attr(API.spec, "from_dict")({**base, "chi_scale": -0.0}), S(chi_scale=0.0), "chi_scale")
    _same_spec_probe(P, "conflicts", "spec.replace(chi_scale=-0.0) against 0.0",
                     lambda: attr(API.spec(**base), "replace")(chi_scale=-0.0), S(chi_scale=0.0), "chi_scale")
    _same_spec_probe(P, "conflicts", "ExperimentSpec(chi_scale=numpy.float64(-0.0)) against 0.0",
                     S(chi_scale=np.float64(-0.0)), S(chi_scale=0.0), "chi_scale")
    _same_spec_probe(P, "conflicts", "ExperimentSpec(weight_scheme='inhibited:-0') against 'inhibited:0'",
                     S(weight_scheme="inhibited:-0"), S(weight_scheme="inhibited:0"), "weight_scheme")
    for name, make, canon in (
            ("seed=-0.0 against 0", S(seed=-0.0), S(seed=0)),
            ("width=400.0 against 400", S(width=400.0), S(width=400)),
            ("n_active=2.0 against 2", S(n_active=2.0), S(n_active=2)),
            ("chi_scale=numpy.float32(0.5) against 0.5", S(chi_scale=np.float32(0.5)), S(chi_scale=0.5)),
            ("weight_scheme='inhibited:8.0' against 'inhibited:8'", S(weight_scheme="inhibited:8.0"),
             S(weight_scheme="inhibited:8")),
            ("error_correction='step:0.350' against 'step:0.35'", S(error_correction="step:0.350"),
             S(error_correction="step:0.35")),
            ("chain_length=3.0 against 3", lambda: API.spec(system="rotation-chains", params={"chain_length": 3.0},
                                                            width=480, n_circuits=30, n_layers=3),
             lambda: API.spec(system="rotation-chains", params={"chain_length": 3}, width=480, n_circuits=30,
                              n_layers=3))):
        _same_spec_probe(P, "conflicts", f"ExperimentSpec({name})", make, canon, name.split("=")[0],
                         "the same seeds as the canonical value")

    small = ["--width", "400", "--n-circuits", "50", "--n-layers", "2", "--batch-size", "20"]
    _cli_same_probe(P, "conflicts", "cis evaluate --chi-scale -0.0 against --chi-scale 0",
                    lambda: ["evaluate", *small, "--chi-scale", "-0.0", *CLI_FLAGS["json"]],
                    lambda: ["evaluate", *small, "--chi-scale", "0", *CLI_FLAGS["json"]], "--chi-scale", _json_rows())
    _cli_same_probe(P, "conflicts", "cis evaluate --chi-scale -0 against --chi-scale 0",
                    lambda: ["evaluate", *small, "--chi-scale", "-0", *CLI_FLAGS["json"]],
                    lambda: ["evaluate", *small, "--chi-scale", "0", *CLI_FLAGS["json"]], "--chi-scale", _json_rows())
    boundary = ["boundary", "--width", "400", "--n-layers", "2", "--batch-size", "20", "--n-seeds", "1", "--rtol",
                "0.5", *CLI_FLAGS["threads"], *CLI_FLAGS["json"]]
    _cli_same_probe(P, "conflicts", "cis boundary --chi-scale -0.0 against --chi-scale 0",
                    lambda: [*boundary, "--chi-scale", "-0.0"], lambda: [*boundary, "--chi-scale", "0"], "--chi-scale",
                    lambda a, b: "" if json.loads(a).get("seeds") == json.loads(b).get("seeds")
                    else "other crossings than the canonical value's", timeout=60)

    def scaling_pair():
        d = _fresh("sc-neg")

        def compare(a, b):
            why = _rows_differ(json.loads(a)["rows"], json.loads(b)["rows"])
            names = [sorted(p.name for p in (d / tag / "parts").glob("*.json")) for tag in ("neg", "pos")]
            return why or ("" if names[0] == names[1] else "the same numbers, but other part files (another "
                                                           "identity: a study with 0 does not resume one with -0.0)")
        return _cli_same_body(lambda _: scaling_argv(d / "neg", "--chi-scale", "-0.0"),
                              lambda _: scaling_argv(d / "pos", "--chi-scale", "0"), "--chi-scale", compare)
    P.append(Probe("conflicts", "cis scaling --chi-scale -0.0 against --chi-scale 0", scaling_pair,
                   "the same rows and parts, or refused naming --chi-scale", timeout=60))

    def build_pair():
        d = _fresh("build-neg")
        for tag, v in (("pos", "0"), ("neg", "-0.0")):
            code, so, se = _cli(["build", *NET_FLAGS, "--chi-scale", v, "--out", d / tag])
            if tag == "pos" and code != 0:
                return "traceback", f"(campaign) {_last_line(se)}"

        def check(_):
            same = (d / "neg" / "weights.safetensors").read_bytes() == (d / "pos" / "weights.safetensors").read_bytes()
            return None if same else ("wrong", "another network than --chi-scale 0 builds (other weights)")
        return verdict_cli(code, so, se, ("--chi-scale",), (), False, check, ok="the same weights")
    add("cis build --chi-scale -0.0 against --chi-scale 0", build_pair, "the same weights, or refused")

    def dataset_pair():
        d = _fresh("data-neg")
        for tag, v in (("pos", "0"), ("neg", "-0.0")):
            code, so, se = _cli(["dataset", *NET_FLAGS, "--batch-size", "20", "--chi-scale", v, "--out",
                                 d / f"{tag}.safetensors"])
            if tag == "pos" and code != 0:
                return "traceback", f"(campaign) {_last_line(se)}"

        def check(_):
            a, b = (attr(API.load_dataset(d / f"{t}.safetensors"), "dataset_arrays")() for t in ("neg", "pos"))
            return None if _digest_arrays(a) == _digest_arrays(b) else ("wrong", "other inputs and draws than "
                                                                                  "--chi-scale 0")
        return verdict_cli(code, so, se, ("--chi-scale",), (), False, check, ok="the same data set")
    add("cis dataset --chi-scale -0.0 against --chi-scale 0", dataset_pair, "the same data set, or refused")

    def sweep_both():
        d = _fresh("sweep-neg")

        def check(_):
            runs = table_of(d / "out").drop_duplicates("run")
            if len(runs) == 1:
                return None
            return "wrong", f"{len(runs)} runs of one spec (0 and -0.0), with other numbers: failure rates " \
                            f"{runs.failure_rate.tolist()}"
        return judge_cli(["sweep", *small, "--chi-scale", "0", "-0.0", "--out", d / "out", *CLI_FLAGS["no_progress"]],
                         ("--chi-scale",), check=check, ok="one run")
    add("cis sweep --chi-scale 0 -0.0 (one value spelled twice)", sweep_both, "one run, or refused naming --chi-scale")
    return P


def _cli_same_body(argv_of, reference_argv_of, flag, compare):
    d = _fresh("same")
    code0, so0, se0 = _cli(reference_argv_of(d))
    if code0 != 0:
        return "traceback", f"(campaign) the reference run failed: {_last_line(se0)}"

    def check(stdout):
        why = compare(stdout, so0)
        return ("wrong", why) if why else None
    code, so, se = _cli(argv_of(d))
    return verdict_cli(code, so, se, (flag,), (), False, check, ok="the same result as the canonical value")


# ----------------------------------------------------------------------------- criteria and options that cannot apply
def applicability_probes() -> list[Probe]:
    P = []
    boundary = ["boundary", "--width", "400", "--batch-size", "20", "--n-seeds", "1", "--rtol", "0.5",
                *CLI_FLAGS["threads"], *CLI_FLAGS["json"]]

    def printed(stdout):
        """What a run that should have been refused reported (a boundary's or a study's JSON)."""
        try:
            out = json.loads(stdout)
        except ValueError:
            return None
        if "fits" in out:
            what = "; ".join(f"{f['construction']}: exponent {f['exponent']}" for f in out["fits"])
        else:
            what = f"critical load {out.get('critical_load')}, capacity reached {out.get('capacity_reached')}"
        return "accepted", f"ran and reported {what}"

    def add(name, argv, flags, expect=None, ok=None, limit=2.0, timeout=None):
        def body():
            d = _fresh("appl")
            full = [a if a != "OUT" else d / "out" for a in argv]
            return judge_cli(full, flags, out=d / "out" if "OUT" in argv else None, ok=ok,
                             check=None if ok else printed)
        P.append(Probe("applicability", name, body, expect or f"refused naming {flags[0]} before any work",
                       limit=limit, timeout=timeout))

    add("cis boundary --criterion compounding --n-layers 1 (no layer 2)",
        [*boundary, "--criterion", "compounding", "--n-layers", "1"], ("--criterion", "--n-layers"))
    add("cis boundary --criterion compounding --n-layers 2 (layer 2 is the last)",
        [*boundary, "--criterion", "compounding", "--n-layers", "2"], ("--criterion", "--n-layers"))
    add("cis boundary --criterion compounding --ideal (no spurious activity)",
        [*boundary, "--criterion", "compounding", "--n-layers", "3", "--ideal"], ("--criterion", "--ideal"))
    add("cis boundary --criterion payload --on-error 0.5 (the flag is ignored)",
        [*boundary, "--criterion", "payload", "--on-error", "0.5", "--n-layers", "2"], ("--on-error",))
    add("cis boundary --criterion compounding --on-error 0.3 (the flag is ignored)",
        [*boundary, "--criterion", "compounding", "--on-error", "0.3", "--n-layers", "3"], ("--on-error",))
    add("cis boundary --criterion fraction-on --on-error 0.3 (the flag is ignored)",
        [*boundary, "--criterion", "fraction-on", "--on-error", "0.3", "--n-layers", "2"], ("--on-error",))
    add("cis boundary --criterion worst-readout --level 2 (a fraction never exceeds 1)",
        [*boundary, "--criterion", "worst-readout", "--level", "2", "--n-layers", "2"], ("--level",))
    add("cis boundary --system step (criterion payload: the step system has no payload)",
        [*boundary, "--system", "step", "--n-layers", "2"], ("--criterion", "--system"))
    add("cis boundary --criterion worst-readout --on-error 0.3 (valid: the control)",
        [*boundary, "--criterion", "worst-readout", "--on-error", "0.3", "--n-layers", "2"], ("--on-error",),
        expect="runs", ok="ran", limit=None, timeout=60)
    add("cis scaling --criterion compounding --n-layers 2", scaling_argv("OUT", "--criterion", "compounding"),
        ("--criterion", "--n-layers"))
    add("cis scaling --criterion compounding --n-layers 3 --ideal",
        scaling_argv("OUT", "--criterion", "compounding", "--n-layers", "3", "--ideal", "true"),
        ("--criterion", "--ideal"))
    add("cis scaling --criterion worst-readout --level 1.5", scaling_argv("OUT", "--criterion", "worst-readout",
                                                                        "--level", "1.5"), ("--level",))
    add("cis scaling --system step (criterion payload)", scaling_argv("OUT", "--system", "step"),
        ("--criterion", "--system"))

    def two_widths_nan():
        d = _fresh("censored")
        out = _copy("sc", d / "sc")
        argv = [a for a in scaling_argv(out) if a not in CLI_FLAGS["json"]]

        def check(stdout):
            bad = [ln for ln in stdout.splitlines() if re.search(r"\bnan\b", ln)]
            return ("wrong", f"prints {bad[0].strip()[:150]!r}") if bad else None
        return judge_cli(argv, ("--widths",), check=check, ok="no NaN printed")
    P.append(Probe("applicability", "cis scaling with two widths (one censored): the table printed", two_widths_nan,
                   "no 'nan' or '+- nan' printed (no exponent or no uncertainty said in words), or refused"))

    spec = lambda **k: API.spec(**{**SMALL_SPEC, "n_circuits": 2, **k})  # noqa: E731
    search = dict(n_seeds=1, rtol=0.5, threads=1)
    for name, call, parameter in (
            ("find_boundary(L=2, criterion='compounding')",
             lambda: API.find_boundary(spec(), criterion="compounding", **search), "criterion"),
            ("find_boundary(ideal, L=3, criterion='compounding')",
             lambda: API.find_boundary(spec(ideal=True, n_layers=3), criterion="compounding", **search), "criterion"),
            ("find_boundary(criterion='payload', on_error=0.5)",
             lambda: API.find_boundary(spec(), criterion="payload", on_error=0.5, **search), "on_error"),
            ("find_boundary(system='step', criterion='payload')",
             lambda: API.find_boundary(spec(system="step"), criterion="payload", **search), "criterion"),
            ("scaling(L=1, criterion='compounding')",
             lambda: API.scaling(spec(n_layers=1), [400, 800], _fresh("sc-py") / "out", criterion="compounding",
                                 progress=False, **search), "criterion")):
        P.append(Probe("applicability", name, lambda call=call, parameter=parameter: judge_api(call, parameter),
                       f"refused naming {parameter} before any work", limit=2.0))
    return P


# ----------------------------------------------------------------------------- special files where a file is expected
SPECIAL = {  # kind -> (what the case calls it, words a message naming it would use)
    "fifo": ("a FIFO", ("fifo", "named pipe", "pipe", "not a regular file", "special file")),
    "device": ("a character device (/dev/zero)", ("device", "not a regular file", "special file")),
    "null": ("a character device (/dev/null)", ("device", "not a regular file", "special file")),
    "loop": ("a symbolic link loop", ("loop", "symbolic link", "symlink", "too many levels")),
    "dangling": ("a dangling symbolic link", ("dangling", "broken", "symbolic link", "symlink", "no such file",
                                              "does not exist", "missing", "absent")),
    "directory": ("a directory", ("directory", "folder", "not a file")),
}


def _make_special(path: pathlib.Path, kind: str, *, output: bool = False) -> bool:
    """Put a special file of ``kind`` at ``path`` (replacing what is there). Inputs that are devices are
    symbolic links to /dev/zero or /dev/null (read only); an output device is a node of our own (mknod, as
    root), never one of the machine's; ``False`` where none can be made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind in ("device", "null"):
        if output:
            try:
                import stat
                os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5 if kind == "device" else 3))
            except OSError:
                return False
        else:
            os.symlink("/dev/zero" if kind == "device" else "/dev/null", path)
    elif kind == "loop":
        os.symlink(path.name, path)
    elif kind == "dangling":
        os.symlink(path.parent / "nowhere-to-be-found", path)
    elif kind == "directory":
        path.mkdir()
    return True


def special_probes() -> list[Probe]:
    P = []

    def add(name, body, expect, **kw):
        P.append(Probe("special-files", name, body, expect, **{"timeout": 4.0, "limit": 2.0, "memory": 1.0, **kw}))

    def refused(kind, where):
        return f"refused within 2 s saying it is {SPECIAL[kind][0]} (naming {where})"

    # --- load_dataset
    for kind in ("fifo", "device", "null", "loop", "dangling", "directory"):
        def body(kind=kind):
            d = _fresh("sp-data")
            _make_special(d / "x.safetensors", kind)
            return judge_api(lambda: API.load_dataset(d / "x.safetensors"), "path", words=SPECIAL[kind][1])
        add(f"load_dataset of {SPECIAL[kind][0]}", body, refused(kind, "path"))
    # --- a saved network's files (cis evaluate --network)
    for fname in ("config.json", "weights.safetensors"):
        for kind in ("fifo", "device", "loop", "dangling"):
            def body(kind=kind, fname=fname):
                d = _fresh("sp-net")
                net = _copy("netA", d / "net")
                _make_special(net / fname, kind)
                return judge_cli(["evaluate", "--network", net, "--batch-size", "10"], ("--network",),
                                 SPECIAL[kind][1])
            add(f"cis evaluate --network with {fname} {SPECIAL[kind][0]}", body, refused(kind, "--network"))
    for kind in ("fifo", "loop"):
        def body(kind=kind):
            d = _fresh("sp-netdir")
            _make_special(d / "net", kind)
            return judge_cli(["evaluate", "--network", d / "net", "--batch-size", "10"], ("--network",),
                             SPECIAL[kind][1])
        add(f"cis evaluate --network of {SPECIAL[kind][0]} (a folder expected)", body, refused(kind, "--network"))
    # --- a zoo's files
    A = ZOO_TWO[0]
    for fname, kinds in (("dataset.safetensors", ("fifo", "device", "loop", "dangling", "directory")),
                         ("index.json", ("fifo", "device", "loop", "dangling", "directory")),
                         ("truth.safetensors", ("fifo", "dangling"))):
        for kind in kinds:
            def body(kind=kind, fname=fname):
                z = _zoo_copy()
                _make_special(z / fname if fname == "index.json" else z / A / fname, kind)
                return judge_api(lambda: API.zoo_load(A, z), None, words=SPECIAL[kind][1])
            add(f"zoo.load with {fname} {SPECIAL[kind][0]}", body, refused(kind, fname))
    # --- a sweep's grid file
    for kind in ("fifo", "null", "loop", "dangling"):
        def body(kind=kind):
            d = _fresh("sp-grid")
            _make_special(d / "grid.json", kind)
            return judge_cli(sweep_argv(d / "grid.json", d / "out"), ("--grid",), SPECIAL[kind][1], out=d / "out")
        add(f"cis sweep --grid of {SPECIAL[kind][0]}", body, refused(kind, "--grid"))
    # --- a study's or a sweep's part file
    for kind in ("fifo", "loop", "directory"):
        def body(kind=kind):
            out = _copy("sc", _fresh("sp-part") / "sc")
            part = _scaling_parts(out)[0]
            _make_special(part, kind)
            return _judge_scaling_rerun(out, SPECIAL[kind][1], ok="the rerun redid the part: the same numbers")
        add(f"scaling rerun with a part file {SPECIAL[kind][0]}", body,
            refused(kind, "the part") + ", or redone with the same numbers", timeout=15.0, limit=10.0)
    for what, kind in (("a part file", "fifo"), ("a part file", "directory"), ("sweep.json", "fifo"),
                       (".lock", "fifo")):
        def body(what=what, kind=kind):
            out = _copy("sw0", _fresh("sp-sweep") / "sw")
            target = sorted((out / "parts").glob("*.parquet"))[0] if what == "a part file" else out / what
            _make_special(target, kind)
            return _judge_sweep_rerun(out, SPECIAL[kind][1], ok="the rerun gave the reference's table")
        add(f"sweep rerun with {what} {SPECIAL[kind][0]}", body,
            refused(kind, "the file") + ", or redone with the same table", timeout=15.0, limit=10.0)
    # --- outputs
    for kind in ("fifo", "loop", "dangling", "device"):
        def body(kind=kind):
            d = _fresh("sp-out")
            if not _make_special(d / "x.safetensors", kind, output=True):
                return "skipped", "cannot make a device node here (not root)"
            return judge_cli(dataset_argv(FX["netA"], d / "x.safetensors"), ("--out",), SPECIAL[kind][1])
        add(f"cis dataset --out {SPECIAL[kind][0]} (no {CLI_FLAGS['force'][0]})", body, refused(kind, "--out") + ", nothing replaced")
    for cmd, kind in (("zoo", "fifo"), ("zoo", "loop"), ("scaling", "fifo"), ("scaling", "loop"), ("build", "loop"),
                      ("sweep", "fifo")):
        def body(cmd=cmd, kind=kind):
            d = _fresh("sp-out")
            out = d / "out"
            _make_special(out, kind, output=True)
            argv = {"zoo": lambda: zoo_argv(out), "scaling": lambda: scaling_argv(out),
                    "build": lambda: ["build", *NET_FLAGS, "--out", out],
                    "sweep": lambda: sweep_argv(FX["grid0"], out)}[cmd]()
            return judge_cli(argv, ("--out",), SPECIAL[kind][1])
        add(f"cis {cmd} --out {SPECIAL[kind][0]}", body, refused(kind, "--out"))
    return P


# ----------------------------------------------------------------------------- bad calls of the newest API
def _small_net():
    return API.build_network(API.spec(**SMALL_SPEC))


def newest_api_probes() -> list[Probe]:
    P = []
    D = SMALL_SPEC["width"]

    def add(name, parameter, call, check=None, ok=None, expect=None, words=()):
        P.append(Probe("newest-api", name, lambda: judge_api(call, parameter, words=words, check=check, ok=ok),
                       expect or (f"refused naming {parameter}" if parameter else "refused")))

    def module():
        return API.to_module(_small_net())

    def rwc(x, **k):
        return lambda: attr(module(), "run_with_cache")(x() if callable(x) else x, **k)

    import torch
    for what, x in (("float64 input", lambda: torch.zeros(2, D, dtype=torch.float64)),
                    ("int64 input", lambda: torch.zeros(2, D, dtype=torch.int64)),
                    ("float16 input", lambda: torch.zeros(2, D, dtype=torch.float16)),
                    ("complex64 input", lambda: torch.zeros(2, D, dtype=torch.complex64)),
                    ("bool input", lambda: torch.zeros(2, D, dtype=torch.bool)),
                    ("a meta-device input", lambda: torch.zeros(2, D, device="meta"))):
        add(f"run_with_cache({what})", "x", rwc(x))
    key = ATTR_NAMES["cache_names"]
    for what, names in (("123", 123), ("b'hook_input'", b"hook_input"), ("3.5", 3.5)):
        add(f"run_with_cache(x, {key}={what})", key, rwc(lambda: torch.zeros(2, D), **kw("cache_names", names)))
    add("run_with_cache(an empty batch (0, D))", "x", rwc(lambda: torch.zeros(0, D)),
        check=lambda r: None if tuple(r[0].shape) == (0, D) and all(v.shape[0] == 0 for v in r[1].values())
        else ("wrong", f"returned shape {tuple(r[0].shape)}"),
        ok="an empty result for an empty batch", expect="refused, or an empty result")

    # score_decomposition
    def truth():
        return API.ground_truth(_small_net())

    def score(components, **k):
        return lambda: API.score_decomposition(truth(), components() if callable(components) else components, **k)
    eye = lambda: np.eye(D)  # noqa: E731
    u = lambda: np.ones(D)  # noqa: E731
    import scipy.sparse as sp
    for what, comps in (
            ("a complex matrix", lambda: {2: [eye() * (1 + 1j)]}),
            ("a complex scipy sparse matrix", lambda: {2: [sp.csr_array(eye() * 1j)]}),
            ("a complex torch tensor", lambda: {2: [torch.eye(D, dtype=torch.complex64)]}),
            ("a 3-tuple (U, V, W)", lambda: {2: [(u(), u(), u())]}),
            ("a 1-tuple (U,)", lambda: {2: [(u(),)]}),
            ("a string", lambda: {2: ["component"]}),
            ("a meta-device tensor", lambda: {2: [torch.zeros(D, D, device="meta")]}),
            ("a (K, D, D) meta-device tensor", lambda: {2: torch.zeros(3, D, D, device="meta")}),
            ("an object array holding None", lambda: {2: [np.array([[None] * D] * D, dtype=object)]}),
            ("complex factors (U, V)", lambda: {2: [(u() * 1j, u())]}),
            ("a layer key True", lambda: {True: [eye()]}),
            ("a layer key '2'", lambda: {"2": [eye()]})):
        add(f"score_decomposition(components with {what})", "components" if "layer" not in what else "layer",
            score(comps))
    add("score_decomposition(batch of an empty active set)", "batch",
        score(lambda: {2: [eye()]}, batch=(np.zeros((0, 2), dtype=np.int64), np.zeros((0, 2, 2)))),
        words=("empty", "no sample", "at least one"), ok="an empty batch scored",
        expect="refused saying the batch is empty")
    add("truth.encode(an empty active set)", "active",
        lambda: attr(truth(), "truth_encode")(np.zeros((0, 2), dtype=np.int64), np.zeros((0, 2, 2))),
        words=("empty", "no sample", "at least one"), ok="an empty encoding",
        check=lambda x: None if x.shape[0] == 0 else ("wrong", f"returned shape {tuple(x.shape)}"),
        expect="refused saying it is empty, or empty")
    add("truth.reference(an empty active set)", "active",
        lambda: attr(truth(), "truth_reference")(np.zeros((0, 2), dtype=np.int64), np.zeros((0, 2, 2))),
        words=("empty", "no sample", "at least one"), ok="an empty reference",
        expect="refused saying it is empty, or empty")
    # score_features: a decoder, codes, a batch and an SAE's weights that are not real arrays
    def features(decoder, **k):
        return lambda: API.score_features(truth(), decoder() if callable(decoder) else decoder, layer=2, **k)
    acts = lambda: attr(truth(), "truth_dataset")(8, activations=True)  # noqa: E731
    for what, call, parameter in (
            ("a complex decoder", features(lambda: np.ones((4, D)) * 1j), "decoder"),
            ("a complex torch decoder", features(lambda: torch.ones(4, D, dtype=torch.complex64)), "decoder"),
            ("a complex scipy sparse decoder", features(lambda: sp.csr_array(np.ones((4, D)) * 1j)), "decoder"),
            ("a decoder of strings", features(lambda: [["a"] * D] * 4), "decoder"),
            ("a meta-device decoder", features(lambda: torch.ones(4, D, device="meta")), "decoder"),
            ("complex codes", lambda: features(np.ones((4, D)), batch=acts(), codes=np.ones((8, 4)) * 1j)(),
             "codes"),
            ("meta-device activations as the batch", features(np.ones((4, D)), batch=torch.zeros(8, D, device="meta")),
             "batch"),
            ("complex activations as the batch", features(np.ones((4, D)), batch=np.zeros((8, D)) * 1j), "batch"),
            ("a batch pair of 3", features(np.ones((4, D)), batch=(1, 2, 3)), "batch")):
        add(f"score_features({what})", parameter, call)
    for what, weights, parameter in (
            ("a complex W_enc", dict(W_enc=torch.ones(D, 4, dtype=torch.complex64)), "W_enc"),
            ("a meta-device W_enc", dict(W_enc=torch.ones(D, 4, device="meta")), "W_enc"),
            ("a W_dec of strings", dict(W_dec=[["a"] * D] * 4), "W_dec")):
        sae = {"W_enc": torch.ones(D, 4), "b_enc": torch.zeros(4), "W_dec": torch.ones(4, D), "b_dec": torch.zeros(D),
               **weights}
        add(f"from_sae({what})", parameter, lambda sae=sae: API.from_sae(**sae, layer=2))
    add("truth.dataset(10, n_active=True)", "n_active", lambda: attr(truth(), "truth_dataset")(10, n_active=True))
    def same_draws():
        t = truth()
        a, b = (_digest_arrays(attr(attr(t, "truth_dataset")(10, seed=v), "dataset_arrays")()) for v in (-0.0, 0))
        return a == b
    add("truth.dataset(10, seed=-0.0) against seed=0", "seed", same_draws,
        check=lambda same: None if same else ("wrong", "other draws than seed 0"), ok="the same draws as seed 0",
        expect="the same draws as seed 0")
    add("truth.components([0]) (layers are 1..L)", "layer", lambda: attr(truth(), "truth_components")([0]))
    add("truth.components(['2'])", "layer", lambda: attr(truth(), "truth_components")(["2"]))

    # Dataset.save / matches, save with a string for overwrite
    def saved_twice(save, what):
        def call():
            d = _fresh("save-str")
            target = d / what
            save(target, False)
            before = sorted(p.name for p in d.iterdir())
            save(target, "no")
            return before
        return call
    add("Dataset.save(path, overwrite='no') over an existing file", "overwrite",
        saved_twice(lambda p, o: attr(attr(truth(), "truth_dataset")(4), "dataset_save")(p, **kw("overwrite", o)),
                    "x.safetensors"))
    add("save(net, path, overwrite='no') over a saved network", "overwrite",
        saved_twice(lambda p, o: API.save_network(_small_net(), p, **kw("overwrite", o)), "net"))
    add("data.matches('net')", "net", lambda: attr(API.load_dataset(FX["dA"]), "dataset_matches")("net"))
    # the other switches given as strings ('no' would count as true)
    for what, call, parameter in (
            ("evaluate(spec, allow_large='no')", lambda: API.evaluate(API.spec(**SMALL_SPEC), allow_large="no"),
             "allow_large"),
            ("find_boundary(spec, allow_large='no')",
             lambda: API.find_boundary(API.spec(**SMALL_SPEC), n_seeds=1, rtol=0.5, allow_large="no"), "allow_large"),
            ("sweep(grid, out, progress='no')", lambda: API.sweep(SWEEP_GRIDS[0], _fresh("sw-str") / "out",
                                                                  progress="no"), "progress"),
            ("sweep(grid, out, csv='no')", lambda: API.sweep(SWEEP_GRIDS[0], _fresh("sw-str") / "out", progress=False,
                                                             csv="no"), "csv")):
        add(what, parameter, call)

    # the zoo
    add("zoo.CATALOGUE['bogus']", "name", lambda: API.zoo_catalogue["bogus"])
    add("zoo.CATALOGUE[3]", "name", lambda: API.zoo_catalogue[3])
    add("zoo.load(name, path=123)", "path", lambda: API.zoo_load(ZOO_TWO[0], 123))
    add("zoo.load(name, path, dataset='no')", "dataset", lambda: API.zoo_load(ZOO_TWO[0], FX["zoo"], dataset="no"))
    add("zoo.load(name, a regular file)", "path", lambda: API.zoo_load(ZOO_TWO[0], FX["dA"]))
    add("zoo.build_zoo(path, names=123)", "names", lambda: API.zoo_build(_fresh("zb") / "z", **kw("zoo_names", 123),
                                                                          progress=False))
    add("zoo.build_zoo(path, names=[])", "names", lambda: API.zoo_build(_fresh("zb") / "z", **kw("zoo_names", []),
                                                                         progress=False))

    def build_over(value):
        def call():
            z = _zoo_copy()
            return API.zoo_build(z, **kw("zoo_names", list(ZOO_TWO[:1])), **kw("overwrite", value), progress=False)
        return call
    add("zoo.build_zoo(a built zoo, overwrite='no')", "overwrite", build_over("no"))
    add("zoo.build_zoo(path, threads=0)", "threads", lambda: API.zoo_build(_fresh("zb") / "z",
                                                                           **kw("zoo_names", list(ZOO_TWO[:1])),
                                                                           progress=False, threads=0))
    add("zoo.classify(spec, {})", "measured", lambda: API.zoo_classify(API.zoo_catalogue[ZOO_TWO[0]].spec, {}))
    add("zoo.index_table({})", "index", lambda: API.zoo_index_table({}))
    add("zoo.read_index(123)", "path", lambda: API.zoo_read_index(123))

    # load_dataset of what is not a path
    for what, value in (("123", 123), ("None", None), ("bytes", b"x.safetensors"), ("a list", ["x.safetensors"])):
        add(f"load_dataset({what})", "path", lambda value=value: API.load_dataset(value))

    # the scaling study's helpers
    def nonfinite(result):
        values = [float(v) for v in result]
        if not all(math.isfinite(v) for v in values[:1] + values[2:]):
            return "wrong", f"returned {result}"
        return "accepted", f"returned {result}"
    for what, widths, loads in (("a zero load", [1000, 2000], [0.004, 0.0]),
                                ("a negative load", [1000, 2000], [0.004, -0.001]),
                                ("a NaN load", [1000, 2000], [math.nan, 0.002]),
                                ("one width twice", [1000, 1000], [0.004, 0.002]),
                                ("a width of 0", [0, 1000], [0.004, 0.002]),
                                ("lengths that differ", [1000, 2000, 4000], [0.004, 0.002])):
        add(f"fit_power_law({what})", "loads" if "load" in what else "widths",
            lambda widths=widths, loads=loads: API.fit_power_law(widths, loads), check=nonfinite)
    add("predicted_critical_load(spec, 'bogus')", "criterion",
        lambda: API.predicted_critical_load(API.spec(**SMALL_SPEC), "bogus"),
        check=lambda r: ("accepted", f"returned {r!r}"))
    return P


# ----------------------------------------------------------------------------- bad command lines of the newest commands
def newest_cli_probes() -> list[Probe]:
    P = []

    def add(name, argv_of, flags, expect=None, words=(), stdout_to=None, check=None, ok=None, timeout=None,
            limit=None, out=True):
        def body():
            d = _fresh("cli")
            return judge_cli(argv_of(d), flags, words, out=d / "out" if out else None, stdout_to=stdout_to,
                             check=check, ok=ok)
        P.append(Probe("newest-cli", name, body, expect or f"refused naming {flags[0]}", timeout=timeout,
                       limit=limit))

    def widths(values):  # the study's widths (space-separated on the command line) replaced by ``values``
        def argv_of(d):
            argv = scaling_argv(d / "out")
            at = argv.index("--widths") + 1
            end = next(i for i in range(at, len(argv)) if argv[i].startswith("--"))
            return argv[:at] + list(values) + argv[end:]
        return argv_of
    for values in (("400", "", "800"), ("400", "800", ""), ("", "400", "800"), ("400", "800.5"), ("400", "inf"),
                   ("400", "10**12"), ("400;800",), ("400", "1e400"), ("400,800",)):
        add(f"cis scaling --widths {' '.join(map(repr, values))}", widths(values), ("--widths",), limit=2.0,
            words=("number", "integer") if any("**" in v for v in values) else ())
    for address in ("", " ", "tcp://127.0.0.1:1"):
        add(f"cis sweep --dask {address!r}", lambda d, a=address: sweep_argv(FX["grid0"], d / "out", "--dask", a),
            ("--dask",), limit=2.0)
    A = ZOO_TWO[0]
    add("cis zoo --only NAME NAME (a network twice)", lambda d: zoo_argv(d / "out", (A, A)), ("--only",), limit=2.0)
    add("cis zoo --list --out DIR (--out ignored)", lambda d: ["zoo", "--list", "--out", d / "out"],
        ("--out", "--list"))
    add(f"cis zoo --list {CLI_FLAGS['force'][0]} ({CLI_FLAGS['force'][0]} ignored)",
        lambda d: ["zoo", "--list", *CLI_FLAGS["force"]], (CLI_FLAGS["force"][0], "--list"), out=False)
    add("cis dataset --network NET --reference --activations --batch-size 1e9 (cost)",
        lambda d: ["dataset", "--network", FX["netA"], "--batch-size", "1000000000", "--activations", "--reference",
                   "--out", d / "out"], ("--batch-size",), limit=2.0)
    add("cis dataset --network NET --n-active 1.5", lambda d: ["dataset", "--network", FX["netA"], "--n-active", "1.5",
                                                            "--out", d / "out"], ("--n-active",))
    # standard output on a full device: one line, no traceback (finished files kept)
    small = ["--width", "400", "--n-circuits", "50", "--n-layers", "2", "--batch-size", "20"]
    full_out = "one line on stderr saying the standard output cannot be written, no traceback"
    for name, argv_of in (
            ("cis capacity", lambda d: ["capacity"]),
            ("cis zoo --list", lambda d: ["zoo", "--list"]),
            ("cis evaluate --format json", lambda d: ["evaluate", *small, *CLI_FLAGS["json"]]),
            ("cis boundary", lambda d: ["boundary", "--width", "400", "--n-layers", "2", "--batch-size", "20",
                                        "--n-seeds", "1", "--rtol", "0.5", *CLI_FLAGS["threads"]]),
            ("cis dataset", lambda d: dataset_argv(FX["netA"], d / "out")),
            ("cis scaling (a finished study)", lambda d: scaling_argv(_copy("sc", d / "out")))):
        add(f"{name} >/dev/full", argv_of, (), full_out, words=("output", "stdout", "space"), stdout_to="/dev/full",
            out=False, timeout=30)
    return P


# ----------------------------------------------------------------------------- running the new sections
NEW_PROBES = {"identity": identity_probes, "interrupted": interrupted_probes, "conflicts": conflicts_probes,
              "applicability": applicability_probes, "special-files": special_probes,
              "newest-api": newest_api_probes, "newest-cli": newest_cli_probes}


def run_probes(probes: list[Probe], verbose: bool) -> list[dict]:
    out = []
    for i, p in enumerate(probes):
        def child(p=p):
            import torch
            torch.set_num_threads(1)
            outcome, detail = p.body()
            return {"outcome": outcome, "detail": str(detail)}
        memory = int((p.memory if p.memory is not None else MEMORY / 2**30) * 2**30)
        r = forked(child, p.timeout or NEW_TIMEOUT, memory)
        if r["status"] == "timeout":
            outcome, detail = "hang", f"no answer after {r['seconds']:.1f} s (killed)"
        elif r["status"] == "memory":
            outcome, detail = "hang", f"killed above {memory / 2**30:g} GiB after {r['seconds']:.1f} s"
        elif r["result"] is None:
            lines = [ln for ln in r["stderr"].strip().splitlines() if ln and not ln.startswith(" ")]
            outcome, detail = "traceback", (lines[-1] if lines else f"the case's process died ({r['status']})")[:200]
        else:
            outcome, detail = r["result"]["outcome"], r["result"]["detail"]
        detail = detail.replace(str(NEWTMP), "$TMP")
        if outcome in CLEAN and p.limit is not None and r["seconds"] > p.limit:
            outcome, detail = "slow", f"after {r['seconds']:.1f} s (limit {p.limit:g} s): {detail}"
        out.append({"section": p.section, "name": p.name, "outcome": outcome, "detail": detail[:400],
                    "expect": p.expect, "seconds": round(r["seconds"], 3)})
        if verbose or outcome not in CLEAN:
            print(f"  [{i + 1}/{len(probes)}] {outcome:<9} {p.name}: {detail[:220]}", flush=True)
    return out


def new_table(report: dict, sections=NEW_SECTIONS, total: bool = True) -> str:
    """Counts by class: one line per section (the new ones by default) and a total."""
    head = f"{'section':<15}{'tried':>6}" + "".join(f"{o:>10}" for o in NEW_OUTCOMES) + f"{'skipped':>9}"
    lines = [head]
    every = []
    for section in sections:
        rows = report.get(section) or []
        if not rows:
            continue
        every += rows
        lines.append(_count_line(section, rows))
    if total:
        lines.append(_count_line("total", every))
    return "\n".join(lines)


def _count_line(label: str, rows: list[dict]) -> str:
    tried = [r for r in rows if r["outcome"] != "skipped"]
    return (f"{label:<15}{len(tried):>6}" + "".join(f"{sum(r['outcome'] == o for r in tried):>10}"
                                                    for o in NEW_OUTCOMES)
            + f"{sum(r['outcome'] == 'skipped' for r in rows):>9}")


def compare_table(before: dict, after: dict) -> str:
    """Counts by class and section, before -> after (a section or a class that did not change its count shows
    one number)."""
    head = f"{'section':<15}{'tried':>10}" + "".join(f"{o:>12}" for o in NEW_OUTCOMES)
    lines = [head]

    def cells(rows):
        tried = [r for r in rows if r["outcome"] != "skipped"]
        return [len(tried)] + [sum(r["outcome"] == o for r in tried) for o in NEW_OUTCOMES]
    both = [s for s in (*OLD_SECTIONS, *NEW_SECTIONS) if before.get(s) and after.get(s)]
    for label, sections in [(s, [s]) for s in both] + [("total", both)]:
        b = cells([r for s in sections for r in before[s]])
        a = cells([r for s in sections for r in after[s]])
        text = [str(x) if x == y else f"{x}->{y}" for x, y in zip(b, a)]
        lines.append(f"{label:<15}{text[0]:>10}" + "".join(f"{t:>12}" for t in text[1:]))
    return "\n".join(lines)


def run_new_sections(sections, tmp: pathlib.Path, verbose: bool, match: str | None = None) -> dict:
    global NEWTMP
    NEWTMP = tmp / "new"
    (NEWTMP / "fixtures").mkdir(parents=True)
    start = time.time()
    r = forked(lambda: build_fixtures(NEWTMP / "fixtures"), 900, MEMORY)
    if r["result"] is None:
        raise SystemExit(f"fault campaign: the fixtures could not be made:\n{r['stderr'][-3000:]}")
    FX.clear()
    FX.update(r["result"])
    print(f"fixtures: {time.time() - start:.1f} s", flush=True)
    report = {}
    try:
        for section in NEW_SECTIONS:
            if section not in sections:
                continue
            probes = [p for p in NEW_PROBES[section]() if match is None or match.lower() in p.name.lower()]
            print(f"{section}: {len(probes)} cases", flush=True)
            start = time.time()
            report[section] = run_probes(probes, verbose)
            print(f"  ({time.time() - start:.0f} s)", flush=True)
    finally:
        _undo_new_mounts()
    return report


def _undo_new_mounts() -> None:
    """Unmount anything a --mount case left mounted under the campaign's folder (a case killed mid-way)."""
    try:
        with open("/proc/mounts") as f:
            points = [line.split()[1] for line in f]
    except OSError:
        return
    for point in points:
        if point.startswith(str(NEWTMP)):
            subprocess.run(["umount", point], capture_output=True)


def write_summary(path, report: dict, command: str, note: str = "", before: dict | None = None,
                  before_note: str = "") -> None:
    """The counts table and one line per case that is not clean (``--text``); with ``before`` (a report of an
    earlier run), the counts before -> after by class and section."""
    lines = [f"fault campaign, newest features: {command}",
             f"circuits {circuits.__version__}; {os.cpu_count()} cores; {note}classes as in "
             "scripts/reliability/fault_campaign.py", "",
             new_table(report), ""]
    if any(report.get(s) for s in OLD_SECTIONS):
        lines += ["the first sections (bad command lines, bad API calls, faults; clean: refused or survived):",
                  new_table(report, OLD_SECTIONS, total=False), ""]
    if before:
        lines += [f"before -> after{before_note}:", compare_table(before, report), ""]
    for section in (*NEW_SECTIONS, *OLD_SECTIONS):
        rows = [r for r in report.get(section) or [] if r["outcome"] not in CLEAN]
        if not rows:
            continue
        lines.append(f"{section}: not clean ({len(rows)})")
        for r in rows:
            expect = f"  [correct: {r['expect']}]" if r.get("expect") else ""
            lines.append(f"  {r['outcome']:<9} {r['name']}: {r.get('detail', '')}{expect}")
        lines.append("")
    pathlib.Path(path).write_text("\n".join(lines) + "\n")


# ============================================================================================== main
TIMEOUT = 10.0
MEMORY = 6 << 30


def run_cases(cases, runner, classifier, verbose) -> list[dict]:
    out = []
    for i, case in enumerate(cases):
        r = runner(case)
        outcome, detail = classifier(case, r)
        argv = case.argv if case.argv is None or len(case.argv) <= 40 else case.argv[:40] + [
            f"... ({len(case.argv) - 40} more)"]
        out.append({"section": case.section, "name": case.name, "outcome": outcome, "detail": detail,
                    "seconds": round(r["seconds"], 3), "argv": argv})
        if verbose or outcome != "refused":
            print(f"  [{i + 1}/{len(cases)}] {outcome:<9} {case.name}: {detail}", flush=True)
    return out


def table(rows: list[dict], title: str) -> str:
    counts = {o: sum(r["outcome"] == o for r in rows) for o in OUTCOMES}
    head = f"{'':<22}{'tried':>7}" + "".join(f"{o:>11}" for o in OUTCOMES)
    line = f"{title:<22}{len(rows):>7}" + "".join(f"{counts[o]:>11}" for o in OUTCOMES)
    return head + "\n" + line


def main(argv=None) -> int:
    global TIMEOUT, MEMORY, MOUNT, NEW_TIMEOUT
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="cli,api,faults",
                   help="sections, comma-separated: cli, api, faults, and the newest features' "
                        f"{', '.join(NEW_SECTIONS)} (or 'new' for all of these; default: cli,api,faults)")
    p.add_argument("--json", default=None, help="write every case's outcome to this file")
    p.add_argument("--text", default=None, help="write the new sections' counts and every case that is not clean "
                                                "to this file")
    p.add_argument("--before", action="append", default=[], metavar="JSON",
                   help="the --json report of an earlier run (may be given several times: a section is taken from the "
                        "first file that has it); --text then adds the counts before -> after by class and section")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds before a case counts as hung (default 10)")
    p.add_argument("--memory", type=float, default=6.0, help="GiB resident before a case is stopped (default 6)")
    p.add_argument("--quick", action="store_true", help="fewer kill timings")
    p.add_argument("--mount", action="store_true",
                   help="mount file systems where a case needs one (tmpfs for a full disk, a read-only bind mount; "
                        "root only); without it a full disk is an injected ENOSPC and the tmpfs cases are skipped")
    p.add_argument("-k", dest="match", default=None,
                   help="in the newest features' sections, run only the cases whose name holds this text")
    p.add_argument("-v", "--verbose", action="store_true", help="print every case, not only the unclean ones")
    args = p.parse_args(argv)
    TIMEOUT, MEMORY, MOUNT, NEW_TIMEOUT = args.timeout, int(args.memory * 2**30), args.mount, args.timeout
    sections = set(args.only.split(","))
    if "new" in sections:
        sections |= set(NEW_SECTIONS)
    unknown = sections - {"cli", "api", "faults", "new", *NEW_SECTIONS}
    if unknown:
        p.error(f"--only: unknown section {sorted(unknown)[0]!r}")
    # a campaign stopped by SIGTERM (kill, pkill) still unmounts and unlocks what it made (the finally blocks run)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    start, load = time.time(), os.getloadavg()[0]
    print(f"fault campaign: circuits {circuits.__version__}, {os.cpu_count()} cores, load {load:.2f}, "
          f"{'root' if IS_ROOT else 'not root'}{', --mount' if MOUNT else ''}", flush=True)
    report = {"cli": [], "api": [], "faults": []}
    with tempfile.TemporaryDirectory(prefix="fault-campaign-") as tmpname:
        tmp = pathlib.Path(tmpname)
        here = os.getcwd()
        os.chdir(tmp)  # a command that takes "" for "." writes here, not into the repository
        try:
            if "cli" in sections:
                cases = spec_flag_cases(tmp) + command_cases(tmp)
                print(f"bad command lines: {len(cases)}", flush=True)
                report["cli"] = run_cases(cases, _run_cli, classify_cli, args.verbose)
            if "api" in sections:
                cases = api_cases()
                print(f"bad API calls: {len(cases)}", flush=True)
                report["api"] = run_cases(cases, _run_api, classify_api, args.verbose)
            if sections & set(NEW_SECTIONS):  # before the faults, which run torch in this process
                report.update(run_new_sections(sections, tmp, args.verbose, args.match))
            if "faults" in sections:
                print("faults:", flush=True)
                report["faults"] = faults(tmp / "faults", args.quick) if (tmp / "faults").mkdir() is None else []
        finally:
            os.chdir(here)
            undo_mounts(tmp)
    print()
    if report["cli"] or report["api"]:
        print(table([], "").split("\n")[0])
    if report["cli"]:
        print(table(report["cli"], "bad command lines").split("\n")[1])
    if report["api"]:
        print(table(report["api"], "bad API calls").split("\n")[1])
    if any(report.get(s) for s in NEW_SECTIONS):
        print("\nnewest features (classes: see the comment above API_NAMES):")
        print(new_table(report))
    if report["faults"]:
        lost = [f for f in report["faults"] if f["outcome"] != "survived"]
        print(f"\nfaults: {len(report['faults'])} tried, {len(report['faults']) - len(lost)} survived with nothing "
              f"lost, {len(lost)} not")
        for f in report["faults"]:
            if "counts" in f:
                print(f"  {f['name']}")
                if f.get("loaded_unchanged"):
                    print(f"    loaded (result unchanged): {', '.join(f['loaded_unchanged'])}")
    unclean = [r for r in report["cli"] + report["api"] if r["outcome"] != "refused"]
    unclean += [f for f in report["faults"] if f["outcome"] != "survived"]
    unclean += [r for s in NEW_SECTIONS for r in report.get(s) or [] if r["outcome"] not in (*CLEAN, "skipped")]
    if unclean:
        print(f"\nnot refused cleanly / not survived ({len(unclean)}):")
        for r in unclean:
            print(f"  {r['outcome']:<9} {r['name']}: {r.get('detail', '')[:200]}")
    skipped = [r for s in NEW_SECTIONS for r in report.get(s) or [] if r["outcome"] == "skipped"]
    for r in skipped:
        print(f"  skipped   {r['name']}: {r['detail']}")
    slowest = sorted(report["cli"] + report["api"], key=lambda r: -r["seconds"])[:3]
    if slowest:
        print("\nslowest refusals: " + ", ".join(f"{r['name']} {r['seconds']:.2f} s" for r in slowest))
    print(f"\n({time.time() - start:.0f} s)")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    if args.text:
        before = {}
        for path in args.before:
            for section, rows in json.loads(pathlib.Path(path).read_text()).items():
                if rows and section not in before:
                    before[section] = rows
        write_summary(args.text, report, "python scripts/reliability/fault_campaign.py " + " ".join(argv or sys.argv[1:]),
                      f"load {load:.1f} at the start, {time.time() - start:.0f} s; ", before=before or None,
                      before_note=f" (before: {', '.join(args.before)})")
    return 1 if unclean else 0


if __name__ == "__main__":
    sys.exit(main())
