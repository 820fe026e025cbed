"""``cis list``: the named options a spec can write, with what each does."""

from __future__ import annotations

import circuits
from circuits.base import describe_registries

from ._args import add_output_arguments, to_json

NAME = "list"
HELP = ("the named options a spec (and every flag of the same name) can write: systems, weight schemes, error "
        "corrections, assignments, failure criteria and presets, each with one line on what it does")

#: The registries, by the heading they are listed under.
REGISTRIES = {"systems": circuits.SYSTEMS, "weight schemes": circuits.WEIGHT_SCHEMES,
              "error corrections (join several with +)": circuits.ERROR_CORRECTIONS,
              "assignments": circuits.ASSIGNMENTS, "failure criteria": circuits.CRITERIA,
              "presets": circuits.PRESETS}


def add_arguments(p) -> None:
    add_output_arguments(p, progress=False)


def run(args) -> int:
    if args.format == "json":
        print(to_json({reg.parameter: [{"name": form, "help": text} for form, text in reg.listing()]
                       for reg in REGISTRIES.values()}))
        return 0
    print(describe_registries(REGISTRIES))
    return 0
