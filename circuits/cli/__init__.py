"""The ``cis`` command line. Each subcommand lives in its own module of this package.

A subcommand module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args)``
(returning an exit code); list it in :data:`SUBCOMMANDS`. Every error the library raises
(:class:`circuits.CircuitsError`) ends the command with one line on stderr that names the flag
and exit status 2; a closed standard output (``cis ... | head``) ends it quietly.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cis", description="Circuits in superposition: build, evaluate and measure large networks "
                                "that compute many small circuits at once.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    runners = {}
    for name in SUBCOMMANDS:
        mod = importlib.import_module(f".{name}", __name__)
        p = sub.add_parser(mod.NAME, help=mod.HELP.replace("%", "%%"), description=mod.HELP)
        mod.add_arguments(p)
        runners[mod.NAME] = mod.run
    args = parser.parse_args(argv)
    try:
        code = int(runners[args.command](args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except CircuitsError as err:
        print(f"cis {args.command}: error: {flag_message(err)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (cis ... | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
