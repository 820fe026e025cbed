"""The ``cis`` command line. Each subcommand lives in its own module of this package.

A subcommand module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args)``
(returning an exit code); list it in :data:`SUBCOMMANDS`. Every error the library raises
(:class:`circuits.CircuitsError`) and every error in the command line itself ends the command with
one line on stderr that names the flag as typed (the error's ``parameter`` is the flag's ``dest``)
and exit status 2; a closed standard output (``cis ... | head``) ends it quietly; Ctrl-C ends it
with one line and status 130 (a sweep keeps its finished runs).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from circuits import CircuitsError

from ._args import flag_message

#: Modules of this package that provide subcommands, in the order ``cis --help`` lists them.
SUBCOMMANDS = ["demo", "evaluate", "build", "sweep", "boundary", "scaling", "bench", "capacity", "figures", "dataset", "zoo"]


class _BadCommandLine(Exception):
    """Raised by :class:`_Parser` after printing its one line: :func:`main` returns 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``cis CMD: error: ...``), like the library's."""

    def error(self, message):
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise _BadCommandLine


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="cis", description="Circuits in superposition: build, evaluate and measure large networks "
                                "that compute many small circuits at once.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    runners, options = {}, {}
    for name in SUBCOMMANDS:
        mod = importlib.import_module(f".{name}", __name__)
        p = sub.add_parser(mod.NAME, help=mod.HELP.replace("%", "%%"), description=mod.HELP)
        mod.add_arguments(p)
        runners[mod.NAME] = mod.run
        options[mod.NAME] = {a.dest: a.option_strings[-1] for a in p._actions if a.option_strings}
    try:
        args = parser.parse_args(argv)
    except _BadCommandLine:
        return 2
    try:
        code = int(runners[args.command](args) or 0)
        if sys.stdout is not None:  # None: started with its standard output closed (cis ... >&-)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except CircuitsError as err:
        print(f"cis {args.command}: error: {flag_message(err, options[args.command])}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (cis ... | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:  # Ctrl-C: finished work is kept (sweeps resume), no traceback
        print(f"cis {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
