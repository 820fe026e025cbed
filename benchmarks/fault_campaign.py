#!/usr/bin/env python
"""Fault campaign (issue #14): bad command lines, bad API calls and faults, each run and classified.

    python benchmarks/fault_campaign.py                  # everything (a few minutes on 2 cores)
    python benchmarks/fault_campaign.py --only cli,api   # some sections
    python benchmarks/fault_campaign.py --json out.json  # also every case's outcome as JSON

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
at every step of a save: kill -9 during a sweep, a ``build --force`` and a scaling study; two
sweeps on one folder; every field of a saved ``config.json`` edited (with and without a
recomputed checksum); truncated and flipped saved files and sweep parts; a full disk; a
closed standard output; Ctrl-C. Each is ``survived`` (nothing lost, the outcome as documented)
or ``lost`` (with what went wrong).

Not part of the test run (it takes minutes); tests/ holds a fast test per class of defect.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import hashlib
import json
import math
import os
import pathlib
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
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
    "scaling": ["--widths", "400,800", "--n-layers", "2", "--batch-size", "20", "--n-seeds", "1", "--rtol", "0.5",
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
    else:  # chmod does not stop root: an immutable folder, else a read-only bind mount
        imm = tmp / "immutable"
        imm.mkdir(exist_ok=True)
        if subprocess.run(["chattr", "+i", str(imm)], capture_output=True).returncode == 0:
            paths["immutable folder (chattr +i)"] = str(imm / "out")
        rom = tmp / "ro-mount"
        rom.mkdir(exist_ok=True)
        if subprocess.run(["mount", "--bind", "-o", "ro", str(rom), str(rom)], capture_output=True).returncode == 0:
            paths["read-only mount"] = str(rom / "out")
    full = tmp / "full"
    full.mkdir(exist_ok=True)
    if IS_ROOT and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)],
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
        add(f"build --force --out {what}", ["build", *COMMAND_BASE["build"], "--force", "--out", path], ("--out",))
        add(f"sweep --out {what}", ["sweep", *COMMAND_BASE["sweep"], "--out", path], ("--out",))
        add(f"scaling --out {what}", ["scaling", *COMMAND_BASE["scaling"], "--out", path], ("--out",))
        add(f"dataset --out {what}", ["dataset", *SMALL, "--out", path], ("--out",))
        add(f"zoo --out {what}", ["zoo", "--only", "rotation-exact", "--out", path], ("--out",))
        add(f"figures --out {what}", ["figures", "--quick", "--only", "5", "--out", path], ("--out",))
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
                argv += ["--quick", "--only", "5", "--out", str(tmp / f"thr-fig-{v}")]
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
        add(f"scaling --widths {v[:30]!r}", ["scaling", *COMMAND_BASE["scaling"], "--out", out, "--widths", v],
            ("--widths",), out=out)
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
    # --load of bad directories
    bad_net = _write(tmp / "bad-net" / "config.json", "{}").parent
    for what, path in (("missing", str(tmp / "nothing")), ("a file", str(tmp / "a-file")), ("not a network", str(bad_net)),
                       ("/proc", "/proc"), ("empty", "")):
        add(f"evaluate --load {what}", ["evaluate", "--load", path], ("--load",))
        add(f"dataset --load {what}", ["dataset", "--load", path, "--out", str(tmp / f"dl-{len(cases)}.st")],
            ("--load",))
    # existing outputs without --force
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
    for v in ("-1", "9223372036854775808", "abc", "1.5"):
        add(f"figures --seed {v}", ["figures", "--quick", "--only", "5", "--seed", v, "--out", str(tmp / f"fs{v}")],
            ("--seed",), out=str(tmp / f"fs{v}"))
    for cmd in ("demo", "evaluate", "build", "boundary", "bench", "dataset"):
        argv = [cmd, *COMMAND_BASE[cmd]] + (["--out", str(tmp / f"seed-{cmd}")] if cmd in ("build", "dataset") else [])
        add(f"{cmd} --seed -1 (issue)", argv + ["--seed", "-1"], ("--seed",))
    add("evaluate --format xml", ["evaluate", *SMALL, "--format", "xml"], ("--format",))
    add("evaluate --widht (typo)", ["evaluate", "--widht", "400"], ("--widht",))
    add("no command", [], ("COMMAND", "command"))
    add("bogus command", ["bogus"], ("bogus",))
    # the issue's examples
    add("demo --n-circuits 2 (issue)", ["demo", "--n-circuits", "2", "--batch-size", "20"], ("--n-circuits", "--n-active"))
    add("evaluate 21-hour job (issue)", ["evaluate", "--width", "100000", "--n-circuits", "1000000", "--batch-size",
                                         "100000"], COST_FLAGS, limit=1.0)
    add("evaluate --n-layers 1000 at T=557 (cost)", ["evaluate", "--n-layers", "1000", "--batch-size", "1000000"],
        COST_FLAGS, limit=1.0)
    add("sweep 1e9 batch (cost)", ["sweep", *COMMAND_BASE["sweep"], "--batch-size", "1000000000", "--out",
                                   str(tmp / "cost-sweep")], COST_FLAGS, out=str(tmp / "cost-sweep"), limit=1.0)
    add("boundary huge width (cost)", ["boundary", "--width", "10000000", "--n-layers", "2", "--batch-size",
                                       "1000000"], COST_FLAGS + ("--n-seeds",), limit=1.0)
    add("scaling huge widths (cost)", ["scaling", "--widths", "400,10000000", "--n-layers", "2", "--batch-size",
                                       "1000000000", "--out", str(tmp / "cost-scaling"), "--no-progress"],
        COST_FLAGS + ("--widths",), out=str(tmp / "cost-scaling"), limit=1.0)
    add("build tuned-chi huge (cost)", ["build", "--width", "10000000", "--n-circuits", "100000000", "--error-correction",
                                        "tuned-chi", "--out", str(tmp / "cost-build")], COST_FLAGS,
        out=str(tmp / "cost-build"), limit=1.0)
    add("evaluate --chi-scale 1000 (finite-looking)", ["evaluate", *SMALL, "--n-layers", "5", "--chi-scale", "1000",
                                                       "--format", "json"], ("--chi-scale",), accept_ok=True,
        wrong=lambda out: any(r["measured"] is None for r in json.loads(out)["rows"]))
    net_argv = ["build", *COMMAND_BASE["build"], "--out", str(net_dir)]
    add("evaluate --load NET with a conflicting --width", ["evaluate", "--load", str(net_dir), "--width", "800"],
        ("--width", "--load"), setup=net_argv)
    add("build --out NET (not empty, no --force)", ["build", *COMMAND_BASE["build"], "--out", str(net_dir)], ("--out",),
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
    add("build(not a system)", "system", lambda: circuits.build("rotation", width=400, redundancy=3, n_layers=2, seed=0))

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
        stale = list((out / "parts").glob(".*.tmp")) if (out / "parts").exists() else []
        ok = readable and p.returncode == 0 and same_table(table_of(out), reference) and not stale
        when = "its first finished run" if delay == 0.0 else f"{delay} s"
        record(f"kill -9 during a sweep after {when} ({len(parts)} parts kept), rerun", ok,
               f"readable={readable} rc={p.returncode} stale={stale} {p.stderr[-200:]}")

    # --- Ctrl-C during a sweep: one line, nothing lost, the rerun completes
    out = tmp / "sweep-int"
    proc = start_cis("sweep", "--grid", grid, "--out", out, "--no-progress")
    wait_for(lambda: any((out / "parts").glob("*.parquet")) if (out / "parts").exists() else False)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    p = cis("sweep", "--grid", grid, "--out", out, "--no-progress")
    record("Ctrl-C during a sweep: no traceback, rerun completes", "Traceback" not in err and proc.returncode != 0
           and p.returncode == 0 and same_table(table_of(out), reference), f"rc={proc.returncode} err={err[-300:]}")

    # --- two sweeps on one folder (a longer grid, so that the first is still running)
    out = tmp / "sweep-two"
    long_grid = _write(tmp / "long-grid.json", json.dumps({**SWEEP_GRID, "seed": [0, 1, 2]}))
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
    scal = ["--widths", "400,800,1200", "--n-layers", "2", "--batch-size", "100", "--n-seeds", "1", "--rtol", "0.3",
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

    # --- kill -9 at every step of cis build --force (and of save): the folder holds the old or the new network
    results.extend(kill_during_save(tmp))

    # --- two build --force at once
    net = tmp / "net-two"
    build_flags = ["--width", "400", "--n-circuits", "50", "--n-layers", "2"]
    cis("build", *build_flags, "--out", net)
    procs = [start_cis("build", *build_flags, "--seed", str(s), "--force", "--out", net) for s in (1, 2)]
    codes = [q.wait(timeout=120) for q in procs]
    try:
        seed = circuits.load_network(net).provenance["seed"]
        ok = all(c == 0 for c in codes) and seed in (1, 2) and _siblings(net) == []
        detail = f"codes {codes}, seed {seed}, leftovers {_siblings(net)}"
    except CircuitsError as err:
        ok, detail = False, str(err)
    record("two cis build --force on one folder at once: one of them wins, nothing left beside it", ok, detail)

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
    """Kill a writer (SIGKILL, as kill -9) at each file-system step of ``save(..., overwrite=True)``."""
    from circuits.export import _saving
    results = []
    folder = tmp / "force"
    folder.mkdir()
    path = folder / "net"
    small = dict(width=400, redundancy=3, n_layers=2)
    old_spec = circuits.ExperimentSpec(n_circuits=50, **small, seed=0)
    new_spec = old_spec.replace(seed=1)
    forked(lambda: (circuits.save_network(circuits.build(old_spec), path), 0)[1], 120, 8 << 30)
    old_bytes = {p.name: p.read_bytes() for p in path.iterdir()}
    steps = ["os.mkdir", "_write_file", "os.rename", "os.replace", "shutil.rmtree", "_exchange", "os.fsync"]
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
                    owner = {"os": _saving.os, "shutil": _saving.shutil}[mod]
                    if hasattr(owner, attr):
                        wrap(owner, attr)
                elif hasattr(_saving, name):
                    wrap(_saving, name)
            # wrapping os.* in _saving wraps the os module itself: restore it after the save
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
    # a killed cis build --force (a real process), at several moments
    build_flags = ["--width", "2000", "--n-circuits", "2000", "--n-layers", "4", "--error-correction", "tuned-chi"]
    net = tmp / "force-cli"
    p = cis("build", *build_flags, "--out", net)
    for delay in (0.5, 2.0, 4.0):
        proc = start_cis("build", *build_flags, "--seed", "1", "--force", "--out", net)
        time.sleep(delay)
        proc.kill()
        proc.wait()
        try:
            seed = circuits.load_network(net).provenance["seed"]
            ok, detail = seed in (0, 1), f"seed {seed}"
        except CircuitsError as err:
            ok, detail = False, str(err)
        results.append({"name": f"kill -9 during cis build --force (a real process) after {delay} s", "outcome":
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
    """What ``cis evaluate --load PATH --batch-size 50 --format json`` prints (``None`` when it refuses)."""
    import io
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(["evaluate", "--load", str(path), "--batch-size", "50", "--format", "json"])
    if code != 0:
        raise CircuitsError(err.getvalue())
    return out.getvalue()


def config_edits(tmp: pathlib.Path) -> list[dict]:
    """Edit every field of a saved config.json: refused (checksum kept); with a recomputed checksum, refused
    or loading a network that evaluates identically."""
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
                    edited["sha256"] = _saving._checksum(blob, edited)
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
                try:  # what Python and cis evaluate --load print with it, beside the original's
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
                    f"{c[2]} by cis evaluate --load, {c[3]} loaded with every result unchanged")
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
            r = forked(lambda: cli_main(["evaluate", "--load", str(path), "--batch-size", "10"]), 60, MEMORY)
            lines = r["stderr"].strip().splitlines()
            ok = r["status"] == 2 and len(lines) == 1 and "--load" in lines[0] or (
                r["status"] == 2 and len(lines) == 1 and str(path) in lines[0])
            record(f"cis evaluate --load with {fname} {what}: refused in one line", ok,
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
    """A full disk (tmpfs as root; otherwise the writes are made to fail with ENOSPC), over existing outputs."""
    results = []

    def record(name, ok, detail=""):
        results.append({"name": name, "outcome": "survived" if ok else "lost", "detail": detail})
        print(f"  {'survived' if ok else 'LOST    '}  {name}{': ' + detail if detail and not ok else ''}", flush=True)

    disk = tmp / "disk"
    disk.mkdir()
    mounted = IS_ROOT and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
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
            ("cis build --force over a saved network", ["build", *small, "--seed", "1", "--force", "--out", str(net)]),
            ("cis build into a new folder", ["build", *small, "--out", str(disk / "net2")]),
            ("cis sweep (new runs into an existing sweep)", ["sweep", *small, "--batch-size", "20", "--seed", "1",
                                                             "--no-progress", "--out", str(disk / "sweep2")]),
            ("cis dataset", ["dataset", *small, "--batch-size", "2000", "--out", str(disk / "d.safetensors")]),
            ("cis scaling", ["scaling", "--widths", "400,800", "--n-layers", "2", "--batch-size", "20", "--n-seeds",
                             "1", "--rtol", "0.5", "--no-progress", "--out", str(disk / "scaling")]),
            ("cis figures", ["figures", "--quick", "--only", "5", "--out", str(disk / "fig")]),
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


# ============================================================================================== main
TIMEOUT = 10.0
MEMORY = 6 << 30


def run_cases(cases, runner, classifier, verbose) -> list[dict]:
    out = []
    for i, case in enumerate(cases):
        r = runner(case)
        outcome, detail = classifier(case, r)
        out.append({"section": case.section, "name": case.name, "outcome": outcome, "detail": detail,
                    "seconds": round(r["seconds"], 3), "argv": case.argv})
        if verbose or outcome != "refused":
            print(f"  [{i + 1}/{len(cases)}] {outcome:<9} {case.name}: {detail}", flush=True)
    return out


def table(rows: list[dict], title: str) -> str:
    counts = {o: sum(r["outcome"] == o for r in rows) for o in OUTCOMES}
    head = f"{'':<22}{'tried':>7}" + "".join(f"{o:>11}" for o in OUTCOMES)
    line = f"{title:<22}{len(rows):>7}" + "".join(f"{counts[o]:>11}" for o in OUTCOMES)
    return head + "\n" + line


def main(argv=None) -> int:
    global TIMEOUT, MEMORY
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="cli,api,faults", help="sections: cli, api, faults (comma-separated)")
    p.add_argument("--json", default=None, help="write every case's outcome to this file")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds before a case counts as hung (default 10)")
    p.add_argument("--memory", type=float, default=6.0, help="GiB resident before a case is stopped (default 6)")
    p.add_argument("--quick", action="store_true", help="fewer kill timings")
    p.add_argument("-v", "--verbose", action="store_true", help="print every case, not only the unclean ones")
    args = p.parse_args(argv)
    TIMEOUT, MEMORY = args.timeout, int(args.memory * 2**30)
    sections = set(args.only.split(","))
    start = time.time()
    print(f"fault campaign: circuits {circuits.__version__}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
          f"{'root' if IS_ROOT else 'not root'}", flush=True)
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
    if unclean:
        print(f"\nnot refused cleanly / not survived ({len(unclean)}):")
        for r in unclean:
            print(f"  {r['outcome']:<9} {r['name']}: {r.get('detail', '')[:200]}")
    slowest = sorted(report["cli"] + report["api"], key=lambda r: -r["seconds"])[:3]
    if slowest:
        print("\nslowest refusals: " + ", ".join(f"{r['name']} {r['seconds']:.2f} s" for r in slowest))
    print(f"\n({time.time() - start:.0f} s)")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 1 if unclean else 0


if __name__ == "__main__":
    sys.exit(main())
