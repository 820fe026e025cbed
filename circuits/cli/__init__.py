"""The ``cis`` command line. Each subcommand lives in its own module of this package.

A subcommand module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args)``
(returning an exit code); list it in :data:`SUBCOMMANDS` with its one-line summary (the module is
named after the command, but for ``cis list``, whose module is ``options``). Only the module
of the command being run is imported (so a short command does not pay for the figures' or Dask's
imports). Every error the library raises (:class:`circuits.CircuitsError`) and every error in the
command line itself ends the command with one line on stderr that names the flag as typed (the
error's ``parameter`` is the flag's ``dest``) and exit status 2; a closed standard output
(``cis ... | head``) ends it quietly; Ctrl-C ends it with one line and status 130 (a sweep keeps its
finished runs). A warning of the library (a finished part run again, say) is one line too,
``cis CMD: warning: ...``.

Conventions shared by every subcommand (``docs/design.md`` lists them): flags are the spec's field
names with ``-`` for ``_``; lists are space-separated (``--widths 1000 2000``); ``--format table|json``;
``--progress/--no-progress`` (default: shown when standard error is a terminal); ``--overwrite``
replaces an existing output; ``--out`` names every output; ``--yes`` runs past the size guards;
``--threads`` sets torch threads.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import warnings

from circuits import CircuitsError
from circuits.base import keep_freed_memory

from ._args import flag_message

#: The subcommands in the order ``cis --help`` lists them: module name -> one-line summary.
SUBCOMMANDS = {
    "demo": "the study's network at z = 1, 2, 3: measured errors beside theory",
    "evaluate": "build (or read with --network) a network and measure its errors per layer beside the theory",
    "build": "build a network and save it to a folder (read back by cis evaluate --network)",
    "sweep": "evaluate every spec of a grid (a TOML/JSON file and/or flags) into a resumable table",
    "boundary": "find the critical load T (d/D)^2 at which a construction stops working, by a failure criterion",
    "scaling": "the critical load at each width, its power law, theory beside it; a table and a figure",
    "bench": "time build and evaluation, peak memory, and agreement with the dense weights",
    "capacity": "how many circuits each assignment method fits at width D and redundancy S",
    "figures": "regenerate the study's figures and ours (PNG, with the data behind each as CSV); --list names them",
    "dataset": "draw a data set for a network into a safetensors file",
    "zoo": "write the model zoo (networks of every regime, with ground truth and data) to a folder",
    "list": "the named options: systems, weight schemes, error corrections, assignments, criteria, presets",
}


class _BadCommandLine(Exception):
    """Raised by :class:`_Parser` after printing its one line: :func:`main` returns 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``cis CMD: error: ...``), like the library's."""

    def error(self, message):
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise _BadCommandLine


#: Commands whose module is named otherwise (a module called ``list`` would shadow the builtin here).
_MODULES = {"list": "options"}


def _command_of(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not an option), if it is one."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in SUBCOMMANDS else None
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    keep_freed_memory()  # buffers reused from chunk to chunk rather than faulted in afresh
    parser = _Parser(
        prog="cis", description="Circuits in superposition: build, evaluate and measure large networks "
                                "that compute many small circuits at once.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = _command_of(argv)
    module = options = None
    for name, summary in SUBCOMMANDS.items():
        if name != chosen:
            sub.add_parser(name, help=summary.replace("%", "%%"))
            continue
        module = importlib.import_module(f".{_MODULES.get(name, name)}", __name__)
        p = sub.add_parser(name, help=summary.replace("%", "%%"), description=module.HELP)
        module.add_arguments(p)
        options = {a.dest: a.option_strings[-1] for a in p._actions if a.option_strings}
    try:
        args = parser.parse_args(argv)
    except _BadCommandLine:
        return 2
    with warnings.catch_warnings():
        warnings.showwarning = _one_line(args.command)
        return _run(module, args, options)


def _one_line(command: str):
    """A ``warnings.showwarning`` that prints ``cis COMMAND: warning: MESSAGE`` on one line of stderr."""
    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"cis {command}: warning: {text}", file=sys.stderr if file is None else file)
    return show


def _run(module, args, options) -> int:
    """Run the parsed command; the library's refusals and the standard output's failures as one line."""
    try:
        code = int(module.run(args) or 0)
        if sys.stdout is not None:  # None: started with its standard output closed (cis ... >&-)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except CircuitsError as err:
        print(f"cis {args.command}: error: {flag_message(err, options)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (cis ... | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as err:  # standard output refused (a full device): say so in one line, keep nothing half-said
        print(f"cis {args.command}: error: cannot write the output: {err.strerror or err}", file=sys.stderr)
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 2
    except KeyboardInterrupt:  # Ctrl-C: finished work is kept (sweeps resume), no traceback
        print(f"cis {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
