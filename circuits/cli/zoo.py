"""``cis zoo``: write the model zoo (networks spanning the regimes, with ground truth, data and errors) to a folder."""

from __future__ import annotations

import time

import circuits
from circuits.zoo import CATALOGUE, build_zoo, index_table

from ._args import (MAX_THREADS, add_dask_argument, add_output_arguments, add_run_arguments, as_flag, count_of,
                    dask_executor, to_json)

NAME = "zoo"
HELP = ("write the model zoo to a folder: saved networks of every regime (exact, working, strained, failing) for "
        "independent circuits, chains and fan-in, with and without error correction, each with its ground truth, a "
        "data set and its measured errors (index.json, index.md); --list shows the catalogue")


def add_arguments(p) -> None:
    g = p.add_argument_group("zoo")
    g.add_argument("--out", metavar="DIR", default=None, help="folder to write (created; must be empty, or a zoo "
                                                              "with --overwrite)")
    g.add_argument("--only", metavar="NAME", nargs="+", default=None,
                   help="the networks to build or list (default: all; see --list)")
    g.add_argument("--list", action="store_true", help="print the catalogue (no building; takes no --out)")
    g.add_argument("--overwrite", action="store_true", help="replace the zoo in DIR")
    g.add_argument("--workers", type=count_of("workers", 1, MAX_THREADS), default=1,
                   help="processes on this machine, one network each at a time (default: 1)")
    add_dask_argument(g)
    add_output_arguments(p, progress=False)
    add_run_arguments(p, large=False)


def run(args) -> int:
    names = args.only
    unknown = [n for n in names or () if n not in CATALOGUE]
    if unknown:
        raise circuits.CircuitsError(f"only must list networks of the catalogue ({', '.join(CATALOGUE)}); got "
                                     f"{unknown[0]!r}", parameter="only")
    if names is not None and len(set(names)) < len(names):
        raise circuits.CircuitsError("only must not repeat a network", parameter="only")
    if args.list:
        if args.out is not None or args.overwrite:
            raise circuits.CircuitsError("list builds nothing: leave out --out and --overwrite", parameter="list")
        entries = [CATALOGUE[n].to_dict() for n in names or CATALOGUE]
        if args.format == "json":
            print(to_json(entries))
            return 0
        for e in entries:
            s = e["spec"]
            print(f"{e['name']:<27} {e['regime']:<9} T={s['n_circuits']:<4} load={e['load']:.4f}  {e['description']}")
        return 0
    if args.out is None:
        raise circuits.CircuitsError("give --out DIR to build the zoo (or --list to see the catalogue)",
                                     parameter="out")
    start = time.perf_counter()
    with as_flag("path", "out"), dask_executor(args.dask) as executor:
        index = build_zoo(args.out, names=names, overwrite=args.overwrite, progress=args.format == "table",
                          threads=args.threads, workers=args.workers, executor=executor)
    if args.format == "json":
        print(to_json(index))
        return 0
    print(index_table(index))
    print(f"wrote {len(index['entries'])} networks to {args.out} in {time.perf_counter() - start:.1f} s")
    return 0
