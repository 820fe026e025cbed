"""The model zoo: networks that span the regimes, each with its ground truth, a data set and its errors.

``circuits.zoo.names()`` lists them, ``circuits.zoo.CATALOGUE[name]`` says what each one is (its
regime, a description and the :class:`circuits.ExperimentSpec` that builds it),
``circuits.zoo.load_model(name)`` gives one back (built now, or ``load_model(name, path)`` from a zoo that
``circuits.zoo.build_zoo(path)`` or ``cis zoo --out DIR`` wrote). How the regimes are decided and
what a built zoo holds: ``circuits/experiments/_zoo.py``.

Example:
    >>> import circuits
    >>> circuits.zoo.names()[:4]
    ['rotation-exact', 'rotation-working', 'rotation-strained', 'rotation-failing']
    >>> circuits.zoo.CATALOGUE["chains-working"].spec.n_circuits
    150
"""

from .experiments._zoo import (CATALOGUE, DATASET_SIZE, REGIME_RULE, REGIMES, ZooEntry, ZooModel, build_zoo, classify,
                               index_table, load_model, measure, names, read_index)

__all__ = ["CATALOGUE", "DATASET_SIZE", "REGIMES", "REGIME_RULE", "ZooEntry", "ZooModel", "build_zoo", "classify",
           "index_table", "load_model", "measure", "names", "read_index"]
