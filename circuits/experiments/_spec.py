"""The experiment spec: everything that determines a measurement, as one frozen value, and its seeds.

:class:`ExperimentSpec` names the small system (and its parameters), the error correction,
the network (width, redundancy, layers, weight scheme, chi, assignment) and the evaluation
(active circuits, batch, ideal mode) and the one ``seed``. Its field names are the project's
vocabulary: the command line's flags (``--n-circuits``), the sweep grid's keys, the table
columns, the JSON keys and the figures' CSV columns are all made from them (:data:`FIELDS`).
Every check happens once, in ``__post_init__``, before any work.

Seeds. :meth:`ExperimentSpec.seeds` derives every internal seed from ``(spec, seed)``: the
system's draws from the system's identity, the network's (assignment permutations) from the
network's, the evaluation's from everything, the calibration's (``tuned-chi``) from the network
and z. So the same spec and seed give the same numbers from Python, ``cis evaluate``, a sweep,
the boundary finder and the figures, and two specs that differ only in ``n_active`` share their
network (paired comparisons).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, NamedTuple

import numpy as np

from theory import load as theory_load

from ..assignment import ASSIGNMENTS, capacity
from ..construction import MAX_CHI_SCALE, WEIGHT_SCHEMES, WeightScheme, check_width, weight_scheme
from ..base import CircuitsError, require, require_choice, require_float, require_int
from ..measurement import criterion as measurement_criterion, predicted_critical_load
from ._presets import PRESET_FIELDS, PRESETS
from ..system import (ERROR_CORRECTIONS, SYSTEMS, ErrorCorrection, all_system_params, make_system, parse_error_correction,
                      system_params, with_error_correction)

#: The largest seed accepted (seeds are 64-bit non-negative integers).
MAX_SEED = 2**63 - 1
#: The largest value of each size field: far beyond anything that fits in memory, small enough that the
#: checks themselves (capacities, estimates) answer at once. :func:`circuits.experiments._budget.check_cost` then
#: measures a spec against the machine.
LIMITS = {"width": 10**7, "n_circuits": 10**8, "n_layers": 1000, "batch_size": 10**9, "redundancy": 1000}


@dataclass(frozen=True)
class FieldInfo:
    """How a spec field is written and explained (the command line builds its flags from these)."""

    kind: type
    help: str
    symbol: str = ""
    choices: tuple | None = None


#: The spec's fields (system parameters such as ``chain_length`` come from :data:`circuits.SYSTEMS`).
FIELDS: dict[str, FieldInfo] = {
    "system": FieldInfo(str, "the small system", choices=tuple(SYSTEMS)),
    "preset": FieldInfo(str, "a rule that chooses redundancy, assignment, weight_scheme and error_correction from "
                             "(width, n_circuits, n_active); 'scalable' is the construction recommended at large "
                             "width; 'none' for none (the default)",
                        choices=tuple(PRESETS)),
    "error_correction": FieldInfo(str, "none, or options joined by +: " + ", ".join(
        form for form, _ in ERROR_CORRECTIONS.listing()) + " (cis list shows what each does)"),
    "width": FieldInfo(int, "network width", "D"),
    "n_circuits": FieldInfo(int, "number of small circuits", "T"),
    "redundancy": FieldInfo(int, "network neurons per small-circuit neuron", "S"),
    "n_layers": FieldInfo(int, "computation layers", "L"),
    "weight_scheme": FieldInfo(str, "how the weights are set: " + ", ".join(
        form for form, _ in WEIGHT_SCHEMES.listing()) + " (cis list shows what each does)"),
    "chi_scale": FieldInfo(float, "multiplier on chi (capped scheme)"),
    "assignment": FieldInfo(str, "which neuron slots each circuit owns", choices=tuple(ASSIGNMENTS)),
    "n_active": FieldInfo(int, "circuits active per sample (default: 2, or one activation group)", "z"),
    "batch_size": FieldInfo(int, "samples evaluated", "B"),
    "ideal": FieldInfo(bool, "replace ReLU by the active-neuron mask"),
    "seed": FieldInfo(int, "seeds everything (system, assignment, draws, calibration)"),
}


class Seeds(NamedTuple):
    """The internal seeds of one spec (see the module docstring)."""

    system: int
    network: int
    evaluation: int
    calibration: int


def keyed_seed(seed: int, purpose: str, identity: Mapping) -> int:
    """A 63-bit seed for ``purpose`` from ``seed``, keyed by ``identity`` (a JSON-able mapping).

    ``SeedSequence(seed, spawn_key=(hash words...))``: independent of every other identity.

    Example:
        >>> a = keyed_seed(0, "network", {"width": 800})
        >>> a == keyed_seed(0, "network", {"width": 800}), a == keyed_seed(1, "network", {"width": 800})
        (True, False)
    """
    text = json.dumps([purpose, dict(identity)], sort_keys=True)
    words = np.frombuffer(hashlib.sha256(text.encode()).digest()[:16], dtype="<u4")
    state = np.random.SeedSequence(int(seed), spawn_key=tuple(int(w) for w in words)).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


@dataclass(frozen=True)
class ExperimentSpec:
    """Everything that determines one measurement (see the module docstring).

    Attributes:
        system: a key of :data:`circuits.SYSTEMS`.
        params: the system's parameters (``{"chain_length": 3}``); defaults filled in.
        preset: ``None``, or a key of :data:`circuits.PRESETS`: it then decides ``redundancy``,
            ``assignment``, ``weight_scheme`` and ``error_correction`` from the sizes (a value given for
            one of them must be the one it chooses), and the spec keeps both the name and the values chosen.
        error_correction: ``none`` (the default) or options joined by ``+``; held as the parsed
            :class:`circuits.ErrorCorrection` (equal to its canonical text).
        width: D, a multiple of the circuit width (which error correction may widen).
        n_circuits: T.
        redundancy: S, 1 <= S <= D/d (default 6).
        n_layers: L, computation layers.
        weight_scheme: a scheme of :data:`circuits.WEIGHT_SCHEMES` (``capped``, the default, ``inhibited:X``,
            ...); held as the parsed scheme (equal to its text: ``spec.weight_scheme == "capped"``).
        chi_scale: multiplier on chi, 0..1000 (``tuned-chi`` multiplies its choice into it).
        assignment: a key of :data:`circuits.ASSIGNMENTS` (default ``prime-step``).
        n_active: z, circuits active per sample (``None``: 2, or the activation group size).
        batch_size: B, samples evaluated.
        ideal: replace ReLU by the active-neuron mask.
        seed: the one seed (0 .. 2^63 - 1).

    Example:
        >>> spec = ExperimentSpec(width=1000, n_circuits=557, n_layers=5, n_active=2, batch_size=500, seed=1)
        >>> spec.load
        0.008912
        >>> ExperimentSpec.from_dict(spec.to_dict()) == spec
        True
    """

    system: str = "rotation"
    params: Mapping = field(default_factory=dict)
    preset: str | None = None
    error_correction: ErrorCorrection | str | None = None
    width: int = 1000
    n_circuits: int = 557
    redundancy: int | None = None
    n_layers: int = 5
    weight_scheme: WeightScheme | str | None = None
    chi_scale: float = 1.0
    assignment: str | None = None
    n_active: int | None = None
    batch_size: int = 5000
    ideal: bool = False
    seed: int = 0

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        require_choice("system", self.system, SYSTEMS)
        params = system_params(self.system, dict(self.params))
        set_("params", params)
        set_("chi_scale", require_float("chi_scale", self.chi_scale, 0.0, MAX_CHI_SCALE) + 0.0)  # -0.0 is 0.0
        require(isinstance(self.ideal, (bool, np.bool_)), f"ideal must be true or false, got {self.ideal!r}",
                parameter="ideal")
        set_("ideal", bool(self.ideal))
        set_("seed", require_int("seed", self.seed, 0, MAX_SEED))
        set_("batch_size", require_int("batch_size", self.batch_size, 1, LIMITS["batch_size"]))
        entry = SYSTEMS[self.system]
        set_("n_circuits", require_int("n_circuits", self.n_circuits, entry.min_circuits(params), LIMITS["n_circuits"]))
        set_("n_layers", require_int("n_layers", self.n_layers, 1, LIMITS["n_layers"]))
        set_("width", require_int("width", self.width, 1, LIMITS["width"]))
        if self.n_active is not None:
            set_("n_active", require_int("n_active", self.n_active, 1, LIMITS["n_circuits"]))
        self._resolve_construction(params)
        ec = parse_error_correction(self.error_correction)
        set_("error_correction", ec)
        scheme = weight_scheme(self.weight_scheme)
        set_("weight_scheme", scheme)
        require_choice("assignment", self.assignment, ASSIGNMENTS)
        probe = self.probe()  # a tiny system of the same kind, after error correction: d, groups, layers
        width = check_width(self.width, probe.circuit_width, probe.base_width)
        set_("width", width)
        n_slots = width // probe.circuit_width
        set_("redundancy", require_int("redundancy", self.redundancy, 1, min(n_slots, LIMITS["redundancy"])))
        probe.network_layers(self.n_layers)
        if self.n_circuits * self.redundancy > n_slots:
            cap = capacity(n_slots, self.redundancy, self.assignment)
            require(self.n_circuits <= cap,
                    f"n_circuits must be <= {cap}, the capacity of the {self.assignment!r} assignment at D/d = "
                    f"{n_slots}, S = {self.redundancy}; got {self.n_circuits}", parameter="n_circuits")
        G = probe.groups.size
        z = self.n_active if self.n_active is not None else (2 if G == 1 else G)
        z = require_int("n_active", z, G, (self.n_circuits // G) * G)
        require(z % G == 0, f"n_active must be a multiple of the group size {G} (whole groups are active together "
                            f"in the {self.system!r} system), got {z}", parameter="n_active")
        set_("n_active", z)
        require(not ec.tuned_chi or scheme.has_chi,
                f"error correction tuned-chi needs a weight_scheme with chi (capped or inhibited:X), got "
                f"{scheme.text!r}", parameter="error_correction")

    def _resolve_construction(self, params: dict) -> None:
        """Fill the fields a preset decides (:data:`PRESET_FIELDS`): the preset's choice, or the defaults without
        one. A field given beside a preset must be what the preset chooses (refused otherwise, naming it)."""
        given = {key: getattr(self, key) for key in PRESET_FIELDS}
        if self.preset is None:
            for key, value in given.items():
                object.__setattr__(self, key, CONSTRUCTION_DEFAULTS[key] if value is None else value)
            return
        require_choice("preset", self.preset, PRESETS)
        chosen = PRESETS[self.preset].choose({"system": self.system, **params, "width": self.width,
                                              "n_circuits": self.n_circuits, "n_active": self.n_active})
        for key, value in chosen.items():
            mine = given[key]
            if mine is not None and _normalised(key, mine) != _normalised(key, value):
                show = (lambda v: repr(v if isinstance(v, (int, np.integer)) else str(v)))  # noqa: E731
                raise CircuitsError(f"{key} is chosen by the preset {self.preset!r} ({show(value)} here); leave it "
                                    f"out or drop the preset, got {show(mine)}", parameter=key)
            object.__setattr__(self, key, value)

    def probe(self):
        """A small system of this kind (``min_circuits`` circuits, seed 0), with the error correction applied:
        what the spec's checks read (circuit width, activation groups, layer roles, step margin)."""
        entry = SYSTEMS[self.system]
        small = make_system(self.system, entry.min_circuits(self.params), seed=0, **self.params)
        return with_error_correction(small, self.error_correction, n_layers=self.n_layers)

    # ----------------------------------------------------------------- forms
    def to_dict(self) -> dict:
        """Flat JSON-able form: every field, the system's parameters as their own keys.

        Example:
            >>> ExperimentSpec(system="rotation-chains", params={"chain_length": 3}, n_circuits=30).to_dict()["chain_length"]
            3
        """
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        params = dict(out.pop("params"))
        out["weight_scheme"], out["error_correction"] = str(self.weight_scheme), str(self.error_correction)
        return {"system": out.pop("system"), **params, **out}

    @classmethod
    def from_dict(cls, values: Mapping) -> "ExperimentSpec":
        """The spec of a flat mapping (:meth:`to_dict`'s form); unknown keys are refused, missing
        keys take their defaults."""
        values = {k: (None if isinstance(v, float) and math.isnan(v) and k in ("preset", "n_active") else v)
                  for k, v in dict(values).items()}  # a blank table cell: no preset, the default z
        known = {f.name for f in fields(cls)} - {"params"}
        param_names = set(all_system_params())
        unknown = sorted(set(values) - known - param_names)
        if unknown:
            raise CircuitsError(f"unknown spec key {unknown[0]!r}; allowed: {', '.join(spec_keys())}",
                                parameter=unknown[0])
        system = values.get("system", "rotation")
        require_choice("system", system, SYSTEMS)
        takes = set(SYSTEMS[system].params)
        params = {}
        for name in sorted(param_names & set(values)):
            value = values.pop(name)
            if name in takes:
                params[name] = value
            elif value is not None and not (isinstance(value, float) and math.isnan(value)):
                raise CircuitsError(f"{name} is not a parameter of the {system!r} system", parameter=name)
        return cls(params=params, **values)

    def replace(self, **changes) -> "ExperimentSpec":
        """A copy with fields changed (system parameters by name too), checked again."""
        values = {**self.to_dict(), **changes}
        if values.get("preset") is not None:  # the preset chooses again for the new sizes
            for key in PRESET_FIELDS:
                if key not in changes:
                    values.pop(key, None)
        if "system" in changes and changes["system"] != self.system:
            for name in self.params:
                if name not in changes:
                    values.pop(name, None)
        return ExperimentSpec.from_dict(values)

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"ExperimentSpec({items})"

    # ----------------------------------------------------------------- derived
    @property
    def base_width(self) -> int:
        """d of the base circuits (the d of the load)."""
        return self.probe().base_width

    @property
    def network_layers(self) -> int:
        """Network layers (``n_layers``, or more where error correction inserts clean-up layers)."""
        return self.probe().network_layers(self.n_layers)

    @property
    def circuit_width(self) -> int:
        """d of the circuits as built (error correction may widen them); the network has D/d slots."""
        return self.probe().circuit_width

    @property
    def load(self) -> float:
        """``T (d/D)^2`` with the base d."""
        return theory_load(self.n_circuits, self.width, self.base_width)

    def predicted_critical_load(self, criterion: str = "payload") -> float:
        """Theory's critical load for this spec's construction, width and z under ``criterion``
        (:func:`circuits.measurement.predicted_critical_load`), NaN where the theory has none.

        Example:
            >>> round(ExperimentSpec(width=1000, n_circuits=100, n_active=1).predicted_critical_load(), 5)
            0.00364
        """
        return predicted_critical_load(self.probe(), self.weight_scheme, width=self.width,
                                       redundancy=self.redundancy, n_active=self.n_active,
                                       criterion=measurement_criterion(criterion).name, n_layers=self.n_layers)

    def identity(self, part: str) -> dict:
        """The fields that determine ``part``: ``system``, ``network``, ``evaluation`` or ``calibration``."""
        full = self.to_dict()
        full.pop("seed")
        system = {k: full[k] for k in ("system", *self.params, "n_circuits")}
        network = {**system, **{k: full[k] for k in ("preset", "error_correction", "width", "redundancy", "n_layers",
                                                      "weight_scheme", "chi_scale", "assignment")}}
        return {"system": system, "network": network, "evaluation": full,
                "calibration": {**network, "n_active": self.n_active}}[part]

    def seeds(self) -> Seeds:
        """The internal seeds derived from ``(spec, seed)`` (see the module docstring)."""
        return Seeds(*(keyed_seed(self.seed, part, self.identity(part))
                       for part in ("system", "network", "evaluation", "calibration")))


#: The construction fields without a preset (a preset chooses them from the sizes).
CONSTRUCTION_DEFAULTS = {"redundancy": 6, "assignment": "prime-step", "weight_scheme": "capped",
                         "error_correction": "none"}


def _normalised(key: str, value):
    """A construction field's value in the form two equal choices share (``"inhibited:8.0"`` is ``"inhibited:8"``)."""
    if key == "weight_scheme":
        return weight_scheme(value).text
    if key == "error_correction":
        return parse_error_correction(value).spec
    if key == "redundancy":
        return require_int("redundancy", value, 1, LIMITS["redundancy"])
    return require_choice(key, value, ASSIGNMENTS)


def spec_keys() -> list[str]:
    """Every key a spec's flat form can have, in order: the fields, with the system parameters after ``system``."""
    names = list(FIELDS)
    return names[:1] + list(all_system_params()) + names[1:]


def spec_value(name: str, text: str) -> Any:
    """A spec value from its text (command line, grid files): ints, floats, booleans, strings."""
    info = FIELDS.get(name)
    kind = info.kind if info is not None else int
    try:
        if kind is bool:
            low = str(text).lower()
            require(low in ("true", "false", "1", "0", "yes", "no"), f"{name} takes true or false, got {text!r}",
                    parameter=name)
            return low in ("true", "1", "yes")
        if kind is int:
            value = float(text) if any(c in str(text) for c in ".eE") else int(text)
            return value
        if kind is float:
            return float(text)
    except ValueError as err:
        raise CircuitsError(f"{name} must be a {kind.__name__}, got {text!r}", parameter=name) from err
    if name == "preset" and str(text).lower() == "none":
        return None  # no preset (so that a sweep can compare the baseline with a preset)
    return str(text)
