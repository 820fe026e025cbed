"""The model zoo: saved networks that span the regimes, each with its ground truth, a data set and its errors.

People who build decomposition and interpretability methods need multi-layer models whose
computation in superposition is known exactly, in every regime: clean, working, strained and
broken. :data:`CATALOGUE` names such networks, each one :class:`ZooEntry` (a name, a regime, a
description and the :class:`circuits.ExperimentSpec` that builds it, so its numbers are one
``cis evaluate`` away); :func:`build_zoo` (``cis zoo --out DIR``) writes them all; :func:`load_model`
gives one back, from a built folder or built afresh in memory (the same network, bit for bit).

Regimes (:data:`REGIMES`), decided from measurements (:func:`measure`, :func:`classify`) made on
the spec's own evaluation (``batch_size`` samples at the spec's seed), at the last network layer:

- ``exact``: no two circuits share a neuron (``T S <= D/d``); every read-out is exact up to
  float32 round-off (worst error below :data:`EXACT_ERROR`).
- ``working``: below the critical load: at most 1% of samples have an active circuit whose
  on-indicator is read off by more than 0.25, and the active payload MSE is within 2x theory.
- ``strained``: near the critical load: neither working nor failing.
- ``failing``: above it: more than half of the samples lose an active on-indicator, or the
  payload MSE exceeds 5x theory.

The on-indicator criterion counts *active* circuits only: an inactive circuit that shares a
neuron with each of two active ones reads 2/S at every layer (0.33 at S = 6), so a criterion over
all circuits fails as soon as circuits share neurons at all. Theory here is
``theory.predicted_mse`` at the last computation layer (for systems with couplings, the depth-1
circuits; it counts computation layers only, so clean-up layers add error it does not predict).

The loads of each family were chosen from a scan of T at D = 1000, S = 6, L = 4 (see
:data:`CATALOGUE`'s descriptions); ``tests/experiments/test_zoo.py`` checks that the measured regime is the
catalogued one.

A built zoo is a folder (every file sealed by the storage module, ``circuits/base/_storage.py``)::

    index.json              format "circuits-zoo-index", format_version, identity (the names it
                            holds), sha256, and its content: circuits_version, the rule, the data
                            sets' size, and one record per network: name, regime, measured_regime,
                            description, spec (every field), load, measured (the errors above and
                            more), behaviour (per layer: circuits meant to be on, actually on,
                            spurious, lost, per sample), fingerprint (the network's), files, bytes
    index.md                the same as a table
    NAME/network/           the saved network (circuits.load_network; weights.safetensors + config.json)
    NAME/weights.safetensors  its plain weights, readable without this package: layers.{l}.weight
                            and .bias, l = 1..L, and the feature embedding
                            (circuits.export.save_plain_weights)
    NAME/model_card.md      what it is, how it behaves (intended against actual on-states), how to
                            load it with plain torch and safetensors
    NAME/truth.safetensors  the ground truth's arrays (GroundTruth.arrays: neurons, circuit
                            weights, bias, couplings and their neurons), bound to the network's
                            fingerprint (circuits.export.load_truth)
    NAME/dataset.safetensors  DATASET_SIZE samples at the spec's seed and n_active, with every
                            layer's activations, the intended and actual on-states and the
                            reference run (circuits.export.load_dataset), bound to the network's
                            fingerprint

:func:`load_model` checks every binding: an edited index, a network folder, ground truth or data set
moved or swapped between entries (or between zoos) is refused naming the file. The zoo is written into
a fresh sibling folder and swapped in at the end; what a killed build left beside it is removed by the
next build. Zoos written by earlier versions are refused (build them again). For more samples than the
data set's, stream them: ``circuits.zoo.load_model(name).stream(hooks=[2], n_samples=10**6)``
(:class:`circuits.export.ActivationStream`).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..base import (CircuitsError, Registry, __version__, check_target, choose_threads, folder_writer, open_json,
                    require, require_bool, require_choice, require_int, require_path, sealed_json, using_threads,
                    write_file)
from ..construction import Network
from ..export import (ActivationStream, Dataset, GroundTruth, ground_truth, load_dataset, load_network, load_truth,
                      save_network, save_plain_weights, save_truth, to_module)
from ..measurement import Evaluation, failure_rate
from ._experiment import build, evaluate
from ._spec import ExperimentSpec
from ._sweep import map_completed

#: The regimes, from clean to broken.
REGIMES = ("exact", "working", "strained", "failing")
#: Samples in each network's data set.
DATASET_SIZE = 200
#: The arrays each network's data set holds (every layer's activations and the reference run).
DATASET_CONTENTS = ("inputs", "active", "payloads", "activations", "on.intended", "on.readout", "on.actual",
                    "reference.acts", "reference.on", "reference.payload")
#: The worst read-out error of an ``exact`` network is below this (float32 round-off).
EXACT_ERROR = 1e-4
#: The on-indicator error that counts as losing an active circuit (the step's margin).
ON_ERROR = 0.25
#: The thresholds of :func:`classify`.
WORKING_FAILURES, FAILING_FAILURES = 0.01, 0.5
WORKING_PAYLOAD, FAILING_PAYLOAD = 2.0, 5.0
#: A predicted payload MSE of 0 (no shared neuron) counts as this much (float32 round-off is below it).
PAYLOAD_FLOOR = 1e-6
#: How each regime is decided (written into the index).
REGIME_RULE = {
    "measured_on": "the spec's own evaluation (batch_size samples, the spec's seed), at the last network layer",
    "exact": f"T S <= D/d (no two circuits share a neuron) and every worst read-out error < {EXACT_ERROR:g}",
    "working": f"active_failure_rate <= {WORKING_FAILURES:g} and payload_ratio <= {WORKING_PAYLOAD:g}",
    "failing": f"active_failure_rate > {FAILING_FAILURES:g} or payload_ratio > {FAILING_PAYLOAD:g}",
    "strained": "neither working nor failing",
    "active_failure_rate": f"fraction of samples with an active circuit's on-indicator off by more than {ON_ERROR:g}",
    "payload_ratio": "active payload MSE over theory.predicted_mse at the last computation layer (depth-1 "
                     f"circuits where circuits receive couplings; a prediction of 0 counts as {PAYLOAD_FLOOR:g})",
}

_VERSION = 3  # of the zoo index
_INDEX, _TABLE = "index.json", "index.md"
#: What every catalogued network shares: D, S, L and the evaluation's batch and seed.
_BASE = {"width": 1000, "redundancy": 6, "n_layers": 4, "batch_size": 1000, "seed": 0}


@dataclass(frozen=True)
class ZooEntry:
    """One catalogued network.

    Attributes:
        name: its name (``rotation-working``), the folder it is written to.
        regime: one of :data:`REGIMES`, as measured when the catalogue was made.
        description: one sentence: the system, the error correction, the regime.
        spec: the :class:`circuits.ExperimentSpec` that builds it and measures it.
    """

    name: str
    regime: str
    description: str
    spec: ExperimentSpec = field(repr=False)

    def to_dict(self) -> dict:
        """``name``, ``regime``, ``description``, ``spec`` (flat) and ``load``."""
        return {"name": self.name, "regime": self.regime, "description": self.description,
                "spec": self.spec.to_dict(), "load": self.spec.load}

    @property
    def help(self) -> str:
        """One line for listings (the registry's shape): the regime and the description."""
        return f"{self.regime}: {self.description}"

    def parse(self, arg, text: str) -> "ZooEntry":
        """The entry itself (a catalogued network takes no argument), as a registry's entries do."""
        require(arg is None, f"name {self.name!r} takes no argument, got {text!r}", parameter="name")
        return self


def _entry(name: str, regime: str, description: str, **fields) -> ZooEntry:
    return ZooEntry(name, regime, description, ExperimentSpec.from_dict({**_BASE, **fields}))


_ROT = "independent rotation circuits (d = 4), z = 2 active"
_CHAIN = "rotation chains of 3 circuits (each rotates the previous one's vector), one chain active (z = 3)"
_FAN = "fan-in triples (a receiver rotates the mean of two senders' vectors), one triple active (z = 3)"
_CLEAN = "; clean-up layers between computation layers (error correction, 7 network layers)"

#: The catalogue, by name: a read-only mapping (a :class:`circuits.base.Registry`) that refuses an unknown name
#: naming the catalogued ones. D = 1000, S = 6, L = 4 computation layers, seed 0, evaluated on 1000 samples.
CATALOGUE = Registry("name", (
    _entry("rotation-exact", "exact", f"{_ROT}; T S <= D/d: no shared neuron, exact", n_circuits=41),
    _entry("rotation-working", "working", f"{_ROT}; below the critical load", n_circuits=200),
    _entry("rotation-strained", "strained", f"{_ROT}; near the critical load: some active circuits are lost",
           n_circuits=300),
    _entry("rotation-failing", "failing", f"{_ROT}; above the critical load: errors compound", n_circuits=450),
    _entry("chains-exact", "exact", f"{_CHAIN}; no shared neuron, exact", system="rotation-chains",
           chain_length=3, n_circuits=39),
    _entry("chains-working", "working", f"{_CHAIN}; below the critical load", system="rotation-chains",
           chain_length=3, n_circuits=150),
    _entry("chains-strained", "strained", f"{_CHAIN}; near the critical load", system="rotation-chains",
           chain_length=3, n_circuits=225),
    _entry("chains-failing", "failing", f"{_CHAIN}; above the critical load", system="rotation-chains",
           chain_length=3, n_circuits=360),
    _entry("fan-in-exact", "exact", f"{_FAN}; no shared neuron, exact", system="rotation-fan-in", n_circuits=39),
    _entry("fan-in-working", "working", f"{_FAN}; below the critical load", system="rotation-fan-in", n_circuits=150),
    _entry("fan-in-strained", "strained", f"{_FAN}; near the critical load", system="rotation-fan-in",
           n_circuits=225),
    _entry("fan-in-failing", "failing", f"{_FAN}; above the critical load", system="rotation-fan-in",
           n_circuits=360),
    _entry("rotation-cleanup-working", "working", f"{_ROT}{_CLEAN}; below the critical load",
           error_correction="cleanup", n_circuits=150),
    _entry("rotation-cleanup-strained", "strained", f"{_ROT}{_CLEAN}; near the critical load",
           error_correction="cleanup", n_circuits=250),
    _entry("rotation-cleanup-failing", "failing", f"{_ROT}{_CLEAN}; above the critical load",
           error_correction="cleanup", n_circuits=350),
    _entry("chains-cleanup-working", "working", f"{_CHAIN}{_CLEAN}; below the critical load",
           system="rotation-chains", chain_length=3, error_correction="cleanup", n_circuits=150),
    _entry("chains-cleanup-strained", "strained", f"{_CHAIN}{_CLEAN}; near the critical load",
           system="rotation-chains", chain_length=3, error_correction="cleanup", n_circuits=200),
    _entry("chains-cleanup-failing", "failing", f"{_CHAIN}{_CLEAN}; above the critical load",
           system="rotation-chains", chain_length=3, error_correction="cleanup", n_circuits=300),
    _entry("fan-in-cleanup-working", "working", f"{_FAN}{_CLEAN}; below the critical load",
           system="rotation-fan-in", error_correction="cleanup", n_circuits=150),
    _entry("fan-in-cleanup-strained", "strained", f"{_FAN}{_CLEAN}; near the critical load",
           system="rotation-fan-in", error_correction="cleanup", n_circuits=200),
    _entry("fan-in-cleanup-failing", "failing", f"{_FAN}{_CLEAN}; above the critical load",
           system="rotation-fan-in", error_correction="cleanup", n_circuits=300),
))


def names() -> list[str]:
    """The catalogued networks' names, in catalogue order."""
    return list(CATALOGUE)


# ============================================================================ regimes
def measure(ev: Evaluation) -> dict:
    """The errors the index records for one evaluation (see the module docstring).

    Returns:
        ``active_payload_mse`` (all active circuits, last network layer), ``compared_payload_mse``
        and ``active_payload_theory`` (the active payload MSE that theory predicts, at the last
        computation layer: all active circuits, or the depth-1 ones where circuits receive
        couplings, and the prediction), ``payload_ratio`` (their ratio), ``active_on_mse``,
        ``inactive_on_mse``, ``inactive_payload_mse`` (last network layer), ``active_failure_rate``,
        ``worst_readout_rate`` (the fraction of
        samples with any on-indicator, active or inactive, off by more than 0.25 at some layer:
        :func:`circuits.failure_rate`), ``max_error`` (the worst read-out error at layers 1..L),
        ``fraction_on`` (neurons on at the last layer) and ``seizure_layer``.
    """
    t = ev.table
    last = int(t.layer.max())
    computation = int(t.loc[t.role == "computation", "layer"].max())

    def value(layer, state, quantity, stat="mse", depth=None):
        rows = t[(t.layer == layer) & (t.circuit_state == state) & (t.quantity == quantity) & (t.stat == stat)]
        rows = rows[rows.depth.isna()] if depth is None else rows[rows.depth == depth]
        return (float(rows.measured.iloc[0]), float(rows.predicted.iloc[0])) if len(rows) else (math.nan, math.nan)

    whole = value(computation, "active", "payload")
    measured, predicted = whole if np.isfinite(whole[1]) else value(computation, "active", "payload", depth=1)
    on_error = np.abs(np.asarray(ev.estimate_on)[last] - np.asarray(ev.truth_on)[last]).max(axis=1)
    worst = t[(t.stat == "worst") & (t.layer >= 1) & t.circuit_state.isin(["active", "inactive"])].measured
    frac = ev.fraction_on
    return {
        "active_payload_mse": value(last, "active", "payload")[0],
        "compared_payload_mse": measured,
        "active_payload_theory": predicted,
        "payload_ratio": measured / max(predicted, PAYLOAD_FLOOR) if np.isfinite(predicted) else math.nan,
        "active_on_mse": value(last, "active", "on")[0],
        "inactive_on_mse": value(last, "inactive", "on")[0],
        "inactive_payload_mse": value(last, "inactive", "payload")[0],
        "active_failure_rate": float(np.mean(on_error > ON_ERROR)),
        "worst_readout_rate": failure_rate(ev),
        "max_error": float(worst.max()),
        "fraction_on": float(frac[frac.layer == last].fraction.mean()),
        "seizure_layer": ev.seizure_layer,
    }


def classify(spec: ExperimentSpec, measured: dict) -> str:
    """The regime of a network from its spec and :func:`measure`'s numbers (rule: the module docstring).

    Example:
        >>> spec = CATALOGUE["rotation-exact"].spec
        >>> classify(spec, measure(evaluate(spec)))
        'exact'
    """
    require(isinstance(spec, ExperimentSpec), f"spec must be an ExperimentSpec, got {type(spec).__name__}",
            parameter="spec")
    needed = ("max_error", "active_failure_rate", "payload_ratio")
    require(isinstance(measured, dict) and all(k in measured for k in needed),
            f"measured must be the errors measure() gives, holding {', '.join(needed)}; got "
            + (f"keys {sorted(measured)[:5]}" if isinstance(measured, dict) else type(measured).__name__),
            parameter="measured")
    n_slots = spec.width // spec.circuit_width
    if spec.n_circuits * spec.redundancy <= n_slots and measured["max_error"] < EXACT_ERROR:
        return "exact"
    fail, ratio = measured["active_failure_rate"], measured["payload_ratio"]
    ratio = 0.0 if not np.isfinite(ratio) else ratio
    if fail <= WORKING_FAILURES and ratio <= WORKING_PAYLOAD:
        return "working"
    if fail > FAILING_FAILURES or ratio > FAILING_PAYLOAD:
        return "failing"
    return "strained"


# ============================================================================ loading
@dataclass(frozen=True, eq=False)
class ZooModel:
    """One zoo network with everything that comes with it.

    Attributes:
        entry: its :class:`ZooEntry` (name, regime, description, spec).
        network: the :class:`circuits.Network`.
        truth: its :class:`circuits.GroundTruth`.
        dataset: its :class:`circuits.export.Dataset` (``DATASET_SIZE`` samples with activations
            and reference), or ``None`` when not asked for.
        measured: the index's errors (:func:`measure`) when loaded from a built zoo, else ``None``
            (``circuits.evaluate(model.spec)`` measures them).
    """

    entry: ZooEntry
    network: Network = field(repr=False)
    truth: GroundTruth = field(repr=False)
    dataset: Dataset | None = field(default=None, repr=False)
    measured: dict | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def regime(self) -> str:
        return self.entry.regime

    @property
    def spec(self) -> ExperimentSpec:
        return self.entry.spec

    def module(self, **kwargs):
        """The network as a torch module (:func:`circuits.to_module`; keyword arguments go to it)."""
        return to_module(self.network, **kwargs)

    def stream(self, hooks=None, **kwargs) -> ActivationStream:
        """Samples with their activations at ``hooks``, batch by batch (:class:`circuits.export.ActivationStream`;
        keyword arguments go to it; ``n_active`` defaults to the spec's)."""
        kwargs.setdefault("n_active", self.spec.n_active)
        return ActivationStream(self.truth, hooks, **kwargs)


def _dataset(truth: GroundTruth, spec: ExperimentSpec) -> Dataset:
    return truth.dataset(DATASET_SIZE, seed=spec.seed, n_active=spec.n_active, activations=True, reference=True)


def load_model(name: str, path=None, *, dataset: bool = True) -> ZooModel:
    """One zoo network: from the built zoo in ``path``, or built now from its spec (a few seconds).

    Both give the same network bit for bit (the spec and its seed determine it) and the same data
    set; only a built zoo has the measured errors.

    Args:
        name: a key of :data:`CATALOGUE`.
        path: a folder written by :func:`build_zoo` (``cis zoo --out``), or ``None``.
        dataset: also load (or draw) its data set.

    Returns:
        :class:`ZooModel`.

    Example:
        >>> model = load_model("rotation-exact", dataset=False)
        >>> model.regime, model.network.n_circuits, model.network.width
        ('exact', 41, 1000)
    """
    entry = CATALOGUE.entry(name)
    dataset = require_bool("dataset", dataset)
    if path is None:
        net = build(entry.spec)
        truth = ground_truth(net)
        return ZooModel(entry, net, truth, _dataset(truth, entry.spec) if dataset else None)
    path = require_path("path", path)
    records = {r["name"]: r for r in read_index(path)["entries"]}
    require(name in records, f"the zoo's {path / _INDEX} has no network {name!r} (it lists "
                             f"{', '.join(records) or 'none'})" + (f", though {path / name} is there: that index.json "
                                                                   "is another zoo's; build the zoo again"
                                                                   if os.path.lexists(path / name) else ""),
            parameter="name")
    net = load_network(path / name / "network")
    require(net.fingerprint == records[name].get("fingerprint"),
            f"the network in {path / name / 'network'} is not the one the zoo's index records for {name!r} (another "
            "entry's network was moved or swapped in); build the zoo again", parameter="path")
    require(ExperimentSpec.from_dict(net.provenance) == entry.spec,
            f"the network {name!r} in {path} was built from another spec than the catalogue's", parameter="path")
    load_truth(path / name / "truth.safetensors", network=net)
    data = None
    if dataset:
        data = load_dataset(path / name / "dataset.safetensors", network=net)
        _check_dataset(data, entry.spec, path / name / "dataset.safetensors")
    return ZooModel(entry, net, ground_truth(net), data, records[name]["measured"])


def _check_dataset(data: Dataset, spec: ExperimentSpec, path: Path) -> None:
    """Refuse a zoo entry's data set that is not the one :func:`build_zoo` draws for it (other draws, another size,
    other contents of the same network): its seal holds, but it is another data set."""
    want = {"batch_size": DATASET_SIZE, "seed": spec.seed, "n_active": spec.n_active,
            "contents": sorted(DATASET_CONTENTS)}
    have = {**{k: data.info.get(k) for k in want}, "contents": sorted(data.info.get("contents") or [])}
    wrong = [f"{k} {have[k]!r}, not {want[k]!r}" for k in want if have[k] != want[k]]
    require(not wrong, f"{path} is not this zoo entry's data set ({'; '.join(wrong)}): it was replaced; draw it again "
                       "or build the zoo again", parameter="path")


def read_index(path) -> dict:
    """The ``index.json`` of a built zoo, its seal checked (refused unless it is one, whole and unedited)."""
    path = require_path("path", path)
    check_target(path, "path", folder=True)
    require(path.is_dir(), f"{path} is not a built zoo (absent)", parameter="path")
    require(os.path.lexists(path / _INDEX), f"{path} is not a built zoo (it has no {_INDEX})", parameter="path")
    content = open_json(path / _INDEX, "zoo-index", _VERSION)
    require(isinstance(content, dict) and isinstance(content.get("entries"), list),
            f"{path / _INDEX} is not a zoo index", parameter="path")
    return content


# ============================================================================ building
def build_zoo(path, *, names=None, overwrite: bool = False, progress: bool = True, threads: int | None = None,
              workers: int = 1, executor=None) -> dict:
    """Build the catalogue (or the networks ``names``) into the folder ``path``.

    Every network is built from its spec, evaluated on the spec's batch (its measured errors and
    regime go into the index), saved with its ground truth and a data set of
    :data:`DATASET_SIZE` samples. The zoo is written into a fresh sibling folder and swapped in at
    the end, so an interrupted build leaves nothing half-written at ``path``.

    Args:
        path: the folder; absent or empty, or (with ``overwrite``) a built zoo.
        names: the networks to build (default: all of :data:`CATALOGUE`).
        overwrite: replace the zoo at ``path``.
        progress: print one line per network.
        threads: torch threads per network (default: the cores free now, shared among the workers; one with
            an executor).
        workers: processes on this machine (joblib), one network each at a time.
        executor: build the networks through this ``concurrent.futures``-like executor instead (e.g. Dask:
            ``distributed.Client(...).get_executor()``). Each task writes its network's files into the folder
            being made next to ``path``, so the workers must see that folder (one machine, or a file system
            every worker shares). The zoo does not depend on how it was run.

    Returns:
        the index (what ``index.json`` holds).

    Raises:
        CircuitsError: an unknown name, ``path`` a file or a non-empty folder that is not a zoo (or
            one without ``overwrite``), or the operating system refuses a write.
    """
    chosen = names_checked(names)
    path = require_path("path", path)
    overwrite, progress = require_bool("overwrite", overwrite), require_bool("progress", progress)
    workers = require_int("workers", workers, 1, 1024)
    require(executor is None or callable(getattr(executor, "submit", None)),
            "executor must have a submit(fn, *args) method (a concurrent.futures-like executor)", parameter="executor")
    _check_target(path, overwrite)
    per_task = (threads or 1) if executor is not None else choose_threads(threads, workers=min(workers, len(chosen)))
    records = {}
    try:
        with folder_writer(path) as tmp:
            tasks = [(name, str(tmp), per_task) for name in chosen]
            for name, record, seconds in map_completed(_entry_task, tasks, workers=workers, executor=executor):
                records[name] = record
                if progress:
                    m = record["measured"]
                    print(f"[{len(records)}/{len(chosen)}] {name}: {record['measured_regime']}, payload MSE "
                          f"{m['active_payload_mse']:.4g} ({m['payload_ratio']:.3g}x theory), "
                          f"active failures {m['active_failure_rate']:.3f}, {seconds:.1f} s", flush=True)
            index = {"circuits_version": __version__, "rule": REGIME_RULE,
                     "dataset": {"batch_size": DATASET_SIZE, "seed": "the spec's seed", "n_active": "the spec's",
                                 "contents": list(DATASET_CONTENTS)},
                     "entries": [records[name] for name in chosen]}
            write_file(tmp / _INDEX, sealed_json("zoo-index", _VERSION, {"entries": chosen}, index).encode())
            write_file(tmp / _TABLE, (index_table(index) + "\n").encode())
    except OSError as err:
        raise CircuitsError(f"cannot write the zoo to {path}: {err.strerror or err}", parameter="path") from err
    return index


def _entry_task(task) -> tuple[str, dict, float]:
    """One network of :func:`build_zoo` (a task: ``(name, folder, threads)``): ``(name, record, seconds)``."""
    name, root, threads = task
    start = time.perf_counter()
    with using_threads(threads):
        record = _build_entry(CATALOGUE[name], Path(root))
    return name, record, time.perf_counter() - start


def names_checked(names) -> list[str]:
    """``names`` (default: all) after checking each is catalogued; no repeats."""
    if names is None:
        return list(CATALOGUE)
    require(isinstance(names, (str, list, tuple)), f"names must be a network's name or a list of names, got "
                                                   f"{type(names).__name__}", parameter="names")
    chosen = [names] if isinstance(names, str) else list(names)
    require(chosen, "names must name at least one network", parameter="names")
    for name in chosen:
        require_choice("names", name, CATALOGUE)
    require(len(set(chosen)) == len(chosen), "names must not repeat a network", parameter="names")
    return chosen


def _build_entry(entry: ZooEntry, root: Path) -> dict:
    """Build, measure and write one network into ``root/NAME``; its index record."""
    spec = entry.spec
    threads = torch.get_num_threads()  # chosen once per task (build_zoo)
    net = build(spec, threads=threads)
    measured = measure(evaluate(spec, network=net, threads=threads))
    folder = root / entry.name
    save_network(net, folder / "network", metadata={"zoo": entry.name, "regime": entry.regime})
    truth = ground_truth(net)
    save_truth(truth, folder / "truth.safetensors", info={"zoo": entry.name})
    data = _dataset(truth, spec)
    data.save(folder / "dataset.safetensors")
    save_plain_weights(net, folder / "weights.safetensors", embedding=True,
                       info={"zoo": entry.name, "regime": entry.regime, "spec": spec.to_dict()})
    files = {"network": f"{entry.name}/network", "weights": f"{entry.name}/weights.safetensors",
             "card": f"{entry.name}/model_card.md", "truth": f"{entry.name}/truth.safetensors",
             "dataset": f"{entry.name}/dataset.safetensors"}
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in measured.items()}
    record = {**entry.to_dict(), "measured_regime": classify(spec, measured), "measured": clean,
              "behaviour": behaviour(data), "fingerprint": net.fingerprint, "files": files}
    _write_card_file(folder / "model_card.md", model_card(record, net))
    return {**record, "bytes": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())}


def _write_card_file(path: Path, text: str) -> None:
    """Write a model card, atomically."""
    write_file(path, text.encode())


def behaviour(data: Dataset) -> list[dict]:
    """Per network layer, over a data set with on-states: the mean number of circuits per sample
    ``intended`` on, ``actual``-ly on, ``spurious`` (on, not intended) and ``lost`` (intended, not on)."""
    intended, actual = np.asarray(data.on_intended, dtype=bool), np.asarray(data.on_actual, dtype=bool)
    return [{"layer": layer, "intended": float(intended.sum(1).mean()), "actual": float(actual[layer].sum(1).mean()),
             "spurious": float((actual[layer] & ~intended).sum(1).mean()),
             "lost": float((intended & ~actual[layer]).sum(1).mean())} for layer in range(1, actual.shape[0])]


def model_card(record: dict, net: Network) -> str:
    """The Markdown model card of one zoo entry (its record as :func:`build_zoo` writes it into the index)."""
    spec, m = record["spec"], record["measured"]
    fmt = (lambda v, f=".4g": "-" if v is None else format(v, f))
    L, D, T, k = net.network_layers, net.width, net.n_circuits, net.system.payload_dim
    rows = "\n".join(f"| {b['layer']} | {b['intended']:.2f} | {b['actual']:.2f} | {b['spurious']:.2f} | "
                     f"{b['lost']:.3f} |" for b in record["behaviour"])
    return f"""# {record['name']}

{record['description']}. Catalogued regime: **{record['regime']}**; measured: **{record['measured_regime']}**.

A ReLU network of width D = {D} and {L} layers, built by hand so that it computes T = {T} small circuits
(width d = {net.circuit_width}) at once in superposition (load T (d/D)^2 = {record['load']:.4f}); every
circuit's neurons, weights and on-state are known (`truth.safetensors`, `dataset.safetensors`).

## Spec

```json
{json.dumps(spec, indent=2, sort_keys=True)}
```

## Behaviour

Measured on the spec's own evaluation ({spec['batch_size']} samples, seed {spec['seed']}), at the last layer:
active payload MSE {fmt(m['active_payload_mse'])} (theory {fmt(m['active_payload_theory'])}, ratio
{fmt(m['payload_ratio'], '.3g')}), samples losing an active circuit {m['active_failure_rate']:.3f}, inactive
on-indicator MSE {fmt(m['inactive_on_mse'])}.

Circuits per sample meant to be on (intended) and actually on (read-out on-indicator above 0.5), on the
{DATASET_SIZE} samples of `dataset.safetensors`; spurious: on but not intended, lost: intended but off:

| layer | intended | actual | spurious | lost |
|---|---|---|---|---|
{rows}

## Files

- `weights.safetensors`: plain float32 weights, `layers.{{l}}.weight` `(D, D)` and `layers.{{l}}.bias` `(D,)`
  for l = 1..{L}, and `embedding.weight` `(D, T (1 + k))` = `({D}, {T * (1 + k)})` for the sparse-feature input.
- `truth.safetensors`: `neurons` `(L+1, T, d, S)` (the neurons carrying small neuron i of circuit t at layer
  l), `circuit_weights`, `bias` (and the couplings), with a format version, the network's fingerprint and a SHA-256 in its header.
- `dataset.safetensors`: {DATASET_SIZE} samples: `inputs` (layer 0), `active`, `payloads`, `activations`
  `(L+1, B, D)`, `on.intended` `(B, T)`, `on.readout` and `on.actual` `(L+1, B, T)`, the reference run.
- `network/`: the network as this package saves it (`circuits.load_network`).

## Loading with plain torch

```python
import torch
from safetensors.torch import load_file

w = load_file("weights.safetensors")
data = load_file("dataset.safetensors")
x = data["inputs"]                       # (B, D): layer 0
for l in range(1, {L + 1}):
    x = torch.relu(x @ w[f"layers.{{l}}.weight"].T + w[f"layers.{{l}}.bias"])
# x equals data["activations"][{L}] to float32 round-off.
# Sparse-feature input instead: f (B, T (1 + k)), circuit t's slot [t (1 + k), (t + 1)(1 + k)) holding its
# on-indicator (1 or 0) and its payload; layer 0 = f @ w["embedding.weight"].T.
```

With this package: `circuits.zoo.load_model("{record['name']}")` (the network, its ground truth, the data set) and
`.stream(hooks=[l], n_samples=...)` for as many samples as a method needs.
"""


def index_table(index: dict) -> str:
    """The index as a Markdown table: name, measured regime, system, error correction, T, z, load, and the errors
    (payload MSE of all active circuits at the last layer; the MSE theory is compared with, the prediction and
    their ratio; the active failure rate; the inactive on-indicator MSE), and the bytes on disk."""
    needed = ("name", "measured_regime", "spec", "load", "measured", "bytes")
    entries = index.get("entries") if isinstance(index, dict) else None
    require(isinstance(entries, list) and all(isinstance(r, dict) and all(k in r for k in needed) for r in entries),
            f"index must be a zoo index (what build_zoo returns and read_index reads): a dict whose \"entries\" "
            f"are records with {', '.join(needed)}", parameter="index")
    lines = ["| name | regime | system | error correction | T | z | load | payload MSE | compared MSE | theory | "
             "ratio | active failures | inactive on MSE | bytes |", "|" + "---|" * 14]
    for r in entries:
        s, m = r["spec"], r["measured"]
        fmt = (lambda v, f: "-" if v is None else format(v, f))
        lines.append(f"| {r['name']} | {r['measured_regime']} | {s['system']} | {s['error_correction']} | "
                     f"{s['n_circuits']} | {s['n_active']} | {r['load']:.4f} | {fmt(m['active_payload_mse'], '.4g')} | "
                     f"{fmt(m['compared_payload_mse'], '.4g')} | {fmt(m['active_payload_theory'], '.4g')} | "
                     f"{fmt(m['payload_ratio'], '.3g')} | "
                     f"{m['active_failure_rate']:.3f} | {fmt(m['inactive_on_mse'], '.4g')} | {r['bytes']} |")
    return "\n".join(lines)


def _check_target(path: Path, overwrite: bool) -> None:
    try:
        if not path.exists() and not path.is_symlink():
            return
        check_target(path, "path", folder=True)
        empty = not any(path.iterdir())
    except OSError as err:
        raise CircuitsError(f"cannot inspect {path}: {err}", parameter="path") from err
    if empty:
        return
    require(overwrite, f"path {path} exists and is not empty; pass overwrite=True to replace a built zoo",
            parameter="path")
    read_index(path)  # only a zoo is replaced
