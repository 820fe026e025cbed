"""Flags made from the experiment spec's field names, and output helpers shared by the subcommands.

Every spec key (:func:`circuits.experiments.spec_keys`) is a flag with ``-`` for ``_``
(``--n-circuits``, ``--chain-length``), so the command line, the sweep grids, the tables and the
JSON share one vocabulary. An error about a spec field names the flag as typed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import socket
import sys

import numpy as np

from circuits import CircuitsError
from circuits.base import require_int
from circuits.experiments import FIELDS, PRESET_FIELDS, ExperimentSpec, grid_specs, spec_keys, spec_value
from circuits.measurement import CRITERIA
from circuits.system import SYSTEMS, all_system_params


def flag(key: str) -> str:
    """``n_circuits`` -> ``--n-circuits``."""
    return "--" + key.replace("_", "-")


class _Given(argparse.Action):
    """``store`` (or ``append`` for lists), remembering in ``namespace.given`` that the flag was typed."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = getattr(namespace, "given", frozenset()) | {self.dest}


def _kind(key: str):
    info = FIELDS.get(key)
    return info.kind if info is not None else int


def _parser_for(key: str):
    def parse(text: str):
        try:
            return spec_value(key, text)
        except CircuitsError as err:
            raise argparse.ArgumentTypeError(str(err).replace(key, flag(key), 1)) from err
    parse.__name__ = _kind(key).__name__
    return parse


def add_spec_arguments(p: argparse.ArgumentParser, *, defaults: dict | None = None, exclude=(), include=None,
                       many=False, title: str = "experiment (the spec's fields)") -> None:
    """One flag per spec key (``--system``, ``--chain-length``, ``--width``, ...), except ``exclude``.

    Args:
        defaults: per-command defaults (shown in the help); the spec's own otherwise.
        exclude: keys this command does not take.
        include: only these keys (and the system parameters), if given.
        many: each flag takes one or more values (``cis sweep``).
    """
    defaults = {**ExperimentSpec().to_dict(), "n_active": None, **(defaults or {})}
    params = all_system_params()
    g = p.add_argument_group(title)
    for key in spec_keys():
        if key in exclude or (include is not None and key not in include and key not in params):
            continue
        if key in params:
            owners = [name for name, e in SYSTEMS.items() if key in e.params]
            help_text = f"{params[key].help} (systems {', '.join(owners)}; default {params[key].default})"
        else:
            info = FIELDS[key]
            sym = f"{info.symbol}, " if info.symbol else ""
            default = defaults.get(key)
            help_text = f"{sym}{info.help}" + (f" (default: {default})" if default is not None else "")
            if info.choices:
                help_text += f"; one of {', '.join(info.choices)}"
        kind = _kind(key)
        if kind is bool and not many:
            g.add_argument(flag(key), dest=key, nargs=0, action=_GivenTrue, default=False, help=help_text)
            continue
        g.add_argument(flag(key), dest=key, type=_parser_for(key), default=None, action=_Given,
                       nargs="+" if many else None, metavar=key.upper() if not many else "VALUE",
                       help=help_text)
    p.set_defaults(spec_defaults=defaults)


class _GivenTrue(_Given):
    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, True, option_string)


def add_run_arguments(p: argparse.ArgumentParser, *, large: bool = True) -> None:
    """``--threads N`` (torch threads; default: the cores free right now) and, with ``large``, ``--yes`` (run
    a spec whose estimated memory or time exceeds the machine instead of refusing it)."""
    g = p.add_argument_group("resources")
    g.add_argument("--threads", type=count_of("threads", 1, MAX_THREADS), default=None,
                   help="torch threads (per worker); default: the cores not busy with other work right now (results "
                        "do not depend on it)")
    if large:
        g.add_argument("--yes", action="store_true",
                       help="run even when the estimated memory or time exceeds this machine (refused otherwise)")


#: The most threads (and worker processes) a flag accepts.
MAX_THREADS = 1024


def add_output_arguments(p, *, progress: bool = True, formats: tuple = ("table", "json")) -> None:
    """The output conventions every command shares: ``--format table|json`` and, for commands that take a
    while, ``--progress/--no-progress`` (default: shown when standard error is a terminal)."""
    g = p.add_argument_group("output")
    g.add_argument("--format", choices=formats, default=formats[0],
                   help=f"what to print: {' or '.join(formats)} (default: {formats[0]})")
    if progress:
        g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="show progress bars (default: when standard error is a terminal)")


def show_progress(args) -> bool:
    """Whether to show progress: ``--progress``/``--no-progress`` as typed, else whether stderr is a terminal."""
    chosen = getattr(args, "progress", None)
    if chosen is not None:
        return bool(chosen)
    return bool(sys.stderr is not None and sys.stderr.isatty())


def add_dask_argument(g) -> None:
    """``--dask ADDRESS``: run the command's tasks on a Dask scheduler (the ``[dask]`` extra)."""
    g.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="run the tasks on the Dask scheduler at ADDRESS (tcp://host:port; needs the [dask] extra); "
                        "finished parts are kept as with local workers")


#: Seconds ``--dask ADDRESS`` waits for a TCP connection to the scheduler before refusing.
DASK_CONNECT_SECONDS = 2.0


@contextlib.contextmanager
def dask_executor(address: str | None):
    """The executor of ``--dask ADDRESS`` (``None`` without one), closed when the block ends."""
    if address is None:
        yield None
        return
    if not address.strip():
        raise CircuitsError("dask must be a scheduler address such as tcp://127.0.0.1:8786, got an empty one",
                            parameter="dask")
    try:
        from distributed import Client
        from distributed.comm.addressing import parse_address, parse_host_port
    except ImportError as err:
        raise CircuitsError("dask needs the optional extra: pip install 'circuits-in-superposition[dask]'",
                            parameter="dask") from err
    try:  # a TCP scheduler that is not there is refused at once, before the client's own (longer) retries
        scheme, location = parse_address(address.strip())
        if scheme in ("tcp", "tls"):
            socket.create_connection(parse_host_port(location), timeout=DASK_CONNECT_SECONDS).close()
    except (OSError, ValueError, TypeError) as err:
        raise CircuitsError(f"dask cannot reach the scheduler at {address.strip()!r} ({err})",
                            parameter="dask") from err
    try:
        client = Client(address.strip(), timeout="10s")
    except (OSError, ValueError, TypeError) as err:
        raise CircuitsError(f"dask cannot reach the scheduler at {address.strip()!r} ({err})",
                            parameter="dask") from err
    try:
        yield client.get_executor()
    finally:
        client.close()


def count_of(name: str, low: int, high: int | None = None):
    """An argparse ``type`` for an integer flag in ``low..high``, refused at parse time with one line."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        try:
            return require_int(name, value, low, high)
        except CircuitsError as err:
            raise argparse.ArgumentTypeError(str(err)[len(name) + 1:]) from None
    parse.__name__ = "int"
    return parse


@contextlib.contextmanager
def as_flag(parameters, dest: str):
    """Errors about the library's ``parameters`` (``"path"``, or several: ``("path", None)``) are about this
    command's option ``dest`` (``"out"``): they are raised again naming it."""
    parameters = (parameters,) if isinstance(parameters, str) else tuple(parameters)
    try:
        yield
    except CircuitsError as err:
        if err.parameter not in parameters:
            raise
        parameter = err.parameter or ""
        text = str(err)
        text = dest + text[len(parameter):] if parameter and text.startswith(parameter + " ") else text
        raise CircuitsError(text, parameter=dest) from err


def grid_flags_checked(grid, flags: dict, aliases: dict | None = None):
    """The specs of ``grid`` (:func:`circuits.experiments.grid_specs`); a bad value that came from a flag is
    refused naming the flag (a grid file's keys keep their own names). ``aliases`` maps a key the command
    fills in itself to the flag it comes from (``{"n_circuits": "n_active"}``)."""
    try:
        return grid_specs(grid)
    except CircuitsError as err:
        cause = err.__cause__
        key = getattr(cause, "parameter", None)
        if not isinstance(cause, CircuitsError):
            raise
        text = str(cause)
        if key in (aliases or {}):
            key, text = aliases[key], aliases[key] + text[len(key):] if text.startswith(key + " ") else text
        if key in flags:
            raise CircuitsError(text, parameter=key) from err
        raise


def given_values(args, keys=None) -> dict:
    """The spec keys typed on the command line, with their values."""
    keys = spec_keys() if keys is None else keys
    given = getattr(args, "given", frozenset())
    return {k: getattr(args, k) for k in keys if k in given}


def spec_from_args(args, **overrides) -> ExperimentSpec:
    """The spec the flags describe: typed flags, then the command's defaults, then ``overrides``."""
    defaults = dict(args.spec_defaults)
    given = {**given_values(args), **overrides}
    values = {k: v for k, v in defaults.items() if k in FIELDS}
    if given.get("preset", values.get("preset")) is not None:  # the preset chooses these unless typed
        values = {k: v for k, v in values.items() if k not in PRESET_FIELDS}
    values.update(given)
    return ExperimentSpec.from_dict(values)


#: What the library's messages say to Python callers, and the flag that says it on the command line.
PYTHON_TO_FLAG = {"allow_large=True": "--yes", "overwrite=True": "--overwrite", "wait=True": "--wait",
                  "another out_dir": "another --out"}


def flag_message(err: CircuitsError, options: dict | None = None) -> str:
    """The error's message with spec fields written as flags (``n_active`` -> ``--n-active``): the
    parameter it starts with (a spec field, or any of the command's ``options``, dest -> flag), every
    field name with an underscore anywhere in it, and the Python keywords of :data:`PYTHON_TO_FLAG`."""
    text = str(err)
    for python, flag_text in PYTHON_TO_FLAG.items():
        text = text.replace(python, flag_text)
    name = getattr(err, "parameter", None)
    options = options or {}
    if name == "grid":  # a grid file's keys are the field names themselves
        return f"{options['grid']}: {text}" if "grid" in options else text
    known = spec_keys() + ["out", "network", "grid", "threads", "workers", "chunk_size", "device", "dask"]
    if name and (name in options or name in known):
        typed = options.get(name, flag(name))
        text = typed + text[len(name):] if text.startswith(name + " ") else f"{typed}: {text}"
    joined = [k for k in spec_keys() if "_" in k]
    return re.sub(r"(?<![-\w])(" + "|".join(joined) + r")(?!\w)", lambda m: flag(m.group(1)), text)


# --------------------------------------------------------------------------- output
def to_json(obj) -> str:
    """JSON with NaN/inf written as null."""
    def clean(o):
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, (np.integer,)):
            return int(o)
        if isinstance(o, (np.bool_,)):
            return bool(o)
        if isinstance(o, (float, np.floating)):
            return None if not math.isfinite(float(o)) else float(o)
        return o
    return json.dumps(clean(obj), indent=2)


def format_table(table) -> str:
    """A measured-vs-theory table for a terminal, in two parts, each with its own header.

    The read-outs (active and inactive circuits): one line per (layer, circuit state, depth, quantity) with
    the mean squared error, theory's and the worst absolute error. The unowned slots (slots no active circuit
    owns, where nothing should be on): per layer, how many per sample have the quantity on (count) and the
    sum of squares of their decoded values (mass), each beside the layer-2 theory.
    """
    t = table.copy()
    t["depth"] = t["depth"].astype("object").where(t["depth"].notna(), "all")
    keys = ["layer", "role", "circuit_state", "depth", "quantity"]
    rows: dict = {}  # every row of the table, in its order (a NaN measurement is printed, never dropped)
    for rec in t.to_dict("records"):
        row = rows.setdefault(tuple(rec[k] for k in keys), {})
        row[rec["stat"]] = rec["measured"]
        row["predicted " + rec["stat"]] = rec["predicted"]

    def num(v, width, fmt):
        return f"{'-':>{width}}" if v is None or not np.isfinite(v) else f"{v:{width}{fmt}}"

    lines = ["read-outs (mean squared error, theory's prediction, worst absolute error):",
             f"{'layer':>5}  {'role':<11} {'circuits':<8} {'depth':>5} {'quantity':<8} {'mse':>10} {'theory':>10} "
             f"{'worst':>8}"]
    unowned = []
    for (layer, role, state, depth, quantity), row in rows.items():
        front = f"{layer:>5}  {role:<11} {state:<8} {str(depth):>5} {quantity:<8}"
        if "mse" not in row:
            unowned.append((layer, role, quantity, row))
            continue
        lines.append(f"{front} {num(row['mse'], 10, '.5f')} {num(row.get('predicted mse'), 10, '.5f')} "
                     f"{num(row.get('worst'), 8, '.4f')}")
    if unowned:
        lines += ["", "unowned slots (per sample: how many are on, and the sum of their squared values; "
                      "theory at layer 2):",
                  f"{'layer':>5}  {'role':<11} {'quantity':<8} {'count':>10} {'theory':>10} {'mass':>10} "
                  f"{'theory':>10}"]
        for layer, role, quantity, row in unowned:
            lines.append(f"{layer:>5}  {role:<11} {quantity:<8} {num(row.get('count'), 10, '.4g')} "
                         f"{num(row.get('predicted count'), 10, '.4g')} {num(row.get('mass'), 10, '.4g')} "
                         f"{num(row.get('predicted mass'), 10, '.4g')}")
    return "\n".join(lines)


def where_it_stands(ev, spec: ExperimentSpec | None = None) -> str:
    """One line: the network's load beside theory's critical load for its width and construction (for a
    construction that follows its theory at every load, the load at which its absolute payload error reaches
    the ``payload-mse`` level, when the spec is given)."""
    if ev.critical_load == math.inf:
        text = (f"load T(d/D)^2 = {ev.load:.5f} (theory: this construction follows its theory at every load below "
                "the assignment's capacity")
        absolute = math.nan if spec is None else spec.predicted_critical_load("payload-mse")
        if math.isfinite(absolute):
            text += (f"; its payload MSE reaches {CRITERIA['payload-mse'].level:g} at load {absolute:.5f}, "
                     f"z = {spec.n_active}")
        elif absolute == math.inf:
            text += "; with one active circuit it is exact"
        return text + ")"
    if not math.isfinite(ev.critical_load):
        return f"load T(d/D)^2 = {ev.load:.5f} (theory has no fitted critical load for this construction and z)"
    side = ("below it: errors follow theory" if ev.load < 0.8 * ev.critical_load else
            "near it: errors start to exceed theory" if ev.load < 1.25 * ev.critical_load else
            "above it: errors compound beyond theory")
    return (f"load T(d/D)^2 = {ev.load:.5f}; predicted critical load at this width (payload criterion, "
            f"z = {ev.config['n_active']}) = {ev.critical_load:.5f}: {side}")


def describe_spec(spec: ExperimentSpec) -> str:
    """One line: the spec's fields as ``key=value``."""
    return " ".join(f"{k}={v}" for k, v in spec.to_dict().items())
