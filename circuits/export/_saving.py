"""Saving and loading a network: a directory ``weights.safetensors`` + ``config.json``, bit for bit.

Format version 4 (:data:`FORMAT_VERSION`). ``weights.safetensors`` holds exact arrays:

- ``family.mean_w`` ``(d, d)`` or ``(L, d, d)``, ``family.diff_w`` ``(T, d, d)`` or ``(L, T, d, d)``,
  ``family.bias`` ``(d,)`` (float64): the small system's circuits as built (after error correction);
- ``assignment.sets`` ``(L+1, T, S)`` int: every circuit's slots at every network layer;
- ``constants.<name>`` ``(L+1,)`` float64 per constant of the weight scheme (``constants.chi`` for
  capped, ``constants.correction`` for the read-out-vector schemes), one entry per network layer;
- ``couplings.layer``, ``couplings.receiver``, ``couplings.sender`` ``(E,)`` int64 and
  ``couplings.block`` ``(E, d, d)`` float64, for a system with cross-circuit couplings;
- ``probe.acts`` ``(8, d)``, ``probe.payloads`` ``(8, k)`` and the codecs' outputs on them,
  ``probe.encode`` ``(8, d)``, ``probe.decode_on`` ``(8,)``, ``probe.decode_payload`` ``(8, k)``;
- ``codec.<encode|decode_on|decode_payload>.<matrix|offset>``, for a system that cannot be rebuilt
  from the registry: its codecs as affine maps ``x @ matrix + offset``.

(``L`` here is the number of *network* layers, ``2 n_layers - 1`` with clean-up layers.)
``config.json`` holds::

    format            "circuits-network"
    format_version    4
    identity          {"fingerprint": Network.fingerprint}: the SHA-256 of what determines the weights
    circuits_version  the package version that wrote it
    system            name, params, seed, rebuild (whether load remakes it from circuits.SYSTEMS),
                      n_circuits, circuit_width, base_width, error_correction (spec string),
                      layer_roles (list or null), groups {size, payload}, n_edges (null: no
                      couplings), family_name, on_neurons, payload_neurons, payload_dim
    network           NetworkConfig.to_dict(): width, redundancy, n_layers, weight_scheme,
                      chi_scale, assignment, seed
    provenance        what the network was built from (a spec's fields), else {}
    metadata          the caller's JSON-able extras
    sha256            the seal (``circuits/base/_storage.py``): SHA-256 over format, version and identity,
                      the canonical JSON of the other fields, and the weights file's bytes

so editing any field of ``config.json``, or any byte of the weights, is refused on load, and so is a
network whose arrays do not give the fingerprint it records. The directory is written atomically by
the storage module (a fresh sibling swapped in; a killed writer's debris is cleared by the next save).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
from safetensors.numpy import load as st_load, save as st_save

from ..assignment import ASSIGNMENTS, Assignment
from ..base import (CircuitsError, __version__, check_seal, check_target, jsonable_seed, read_bytes, require,
                    require_bool, require_choice, require_float, require_int, require_path, seal, write_folder)
from ..construction import MAX_CHI_SCALE, Network, NetworkConfig, assemble, check_device, check_width, weight_scheme
from ..measurement import describe
from ..system import (SYSTEMS, ActivationGroups, CircuitFamily, Couplings, SmallSystem, parse_error_correction,
                      with_error_correction)

#: The saved directory layout this version writes and reads.
FORMAT_VERSION = 4
#: Layouts written by earlier versions, which this version refuses (the network is to be rebuilt).
OLD_VERSIONS = (1, 2, 3)

_KIND = "network"
_SEAL_KEYS = ("format", "format_version", "identity", "sha256")
_WEIGHTS, _CONFIG = "weights.safetensors", "config.json"
_COUPLINGS = ("layer", "receiver", "sender", "block")
_CODECS = ("encode", "decode_on", "decode_payload")
_PROBES = ("acts", "payloads", "encode", "decode_on", "decode_payload")
#: Codecs agree with their saved outputs on the probes to this tolerance (affine maps are rebuilt
#: from their values at 0 and at the unit vectors, which costs a few ulps).
_PROBE_TOLERANCE = 1e-9


# ===================================================================== save
def save_network(net: Network, path, *, overwrite: bool = False, metadata: dict | None = None) -> Path:
    """Write ``net`` to the directory ``path``: ``weights.safetensors`` and ``config.json``.

    A registered system (``circuits.SYSTEMS``, integer or no seed) is remade from its name,
    parameters, seed and error correction on load and checked against the saved arrays; any
    other is restored from its arrays, its encode/decode functions stored as affine maps (they
    must be affine). See the module docstring for the layout.

    Args:
        net: the network.
        path: the directory; absent or empty, or (with ``overwrite``) a saved network.
        overwrite: replace the saved network at ``path``. The new one is written beside it
            and swapped in; if anything fails the old one stays.
        metadata: extra JSON-able information stored under ``"metadata"``.

    Returns:
        the directory as a :class:`pathlib.Path`.

    Raises:
        CircuitsError: ``path`` is a file, a non-empty directory (without ``overwrite``) or a
            directory holding other files than a saved network's; the system cannot be stored
            (non-affine codecs of an unregistered system; non-JSON-able params, provenance or
            metadata); or the operating system refuses a write (the message names the path).
    """
    require(isinstance(net, Network), f"net must be a circuits.Network, got {type(net).__name__}", parameter="net")
    require(metadata is None or isinstance(metadata, dict), f"metadata must be a dict or None, got "
                                                            f"{type(metadata).__name__}", parameter="metadata")
    path = require_path("path", path)
    _check_target(path, require_bool("overwrite", overwrite))
    arrays, config = _contents(net, metadata or {})
    blob = st_save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
    config = {**seal(_KIND, FORMAT_VERSION, {"fingerprint": net.fingerprint}, config, blob), **config}
    text = json.dumps(config, indent=2, allow_nan=False) + "\n"
    try:
        write_folder(path, {_WEIGHTS: blob, _CONFIG: text.encode()})
    except OSError as err:
        raise CircuitsError(f"cannot write the network to {path}: {err.strerror or err}", parameter="path") from err
    return path


def _check_target(path: Path, overwrite: bool) -> None:
    """Refuse a file, a non-empty directory without ``overwrite``, and a directory that is not a saved network."""
    try:
        if not path.exists() and not path.is_symlink():
            return
        check_target(path, "path", folder=True)
        entries = sorted(p.name for p in path.iterdir())
    except OSError as err:
        raise CircuitsError(f"cannot inspect {path}: {err}", parameter="path") from err
    if not entries:
        return
    require(overwrite, f"path {path} exists and is not empty; pass overwrite=True to replace it", parameter="path")
    others = [name for name in entries if name not in (_WEIGHTS, _CONFIG)]
    require(not others, f"path {path} holds files that are not part of a saved network ({', '.join(others[:3])}"
                        f"{', ...' if len(others) > 3 else ''}); overwrite=True replaces only a saved network's "
                        "directory", parameter="path")


def _contents(net: Network, metadata: dict) -> tuple[dict, dict]:
    """The arrays and the config (without its checksum) of ``net``."""
    system = net.system
    fam, g = system.family, system.couplings
    arrays = {"family.mean_w": fam.mean_w, "family.diff_w": fam.diff_w, "family.bias": fam.bias,
              "assignment.sets": net.assignment.sets}
    names = net.scheme.constant_names
    require(all(set(c) == set(names) for c in net.constants),
            f"the network's constants {[sorted(c) for c in net.constants]} are not the {net.scheme.name!r} scheme's "
            f"{list(names)}")
    for name in names:
        arrays[f"constants.{name}"] = np.array([c[name] for c in net.constants], dtype=np.float64)
    if g is not None:
        arrays.update({f"couplings.{name}": getattr(g, name) for name in _COUPLINGS})
    arrays.update(_probe_arrays(system))
    rebuild = _rebuilds(system, net.n_layers)
    if not rebuild:
        arrays.update(_affine_codecs(system))
    config = {
        "circuits_version": __version__,
        "system": _system_config(system, rebuild),
        "network": {**net.config.to_dict(), "seed": jsonable_seed(net.config.seed)},
        "provenance": dict(net.provenance),
        "metadata": dict(metadata),
    }
    try:  # one JSON round trip: the checksum covers exactly what load will read
        return arrays, json.loads(json.dumps(config, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise CircuitsError(f"the system's params, the provenance and the metadata must be JSON-able finite "
                            f"values: {err}") from err


def _system_config(system: SmallSystem, rebuild: bool) -> dict:
    """The ``"system"`` entry of ``config.json``."""
    fam, g = system.family, system.couplings
    return {
        "name": system.name, "params": dict(system.params), "seed": jsonable_seed(system.seed),
        "rebuild": bool(rebuild), "n_circuits": int(system.n_circuits), "circuit_width": int(system.circuit_width),
        "base_width": int(system.base_width), "error_correction": system.error_correction.spec,
        "layer_roles": None if system.layer_roles is None else list(system.layer_roles),
        "groups": {"size": int(system.groups.size), "payload": [bool(p) for p in system.groups.payload]},
        "n_edges": None if g is None else int(g.n_edges),
        "family_name": fam.name, "on_neurons": [int(i) for i in fam.on_neurons],
        "payload_neurons": [int(i) for i in fam.payload_neurons], "payload_dim": int(fam.payload_dim),
    }




# ----------------------------------------------------------------- codecs
def _probes(d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed probe activations ``(8, d)`` and payloads ``(8, k)``."""
    rng = np.random.default_rng(20240607)
    return rng.uniform(-2.0, 2.0, (8, d)), rng.uniform(-2.0, 2.0, (8, k))


def _codec_outputs(system: SmallSystem, acts: np.ndarray, payloads: np.ndarray) -> dict[str, np.ndarray]:
    fam = system.family
    return {"encode": np.asarray(fam.encode(payloads, (len(payloads),)), dtype=np.float64),
            "decode_on": np.asarray(fam.decode_on(acts), dtype=np.float64),
            "decode_payload": np.asarray(fam.decode_payload(acts), dtype=np.float64)}


def _probe_arrays(system: SmallSystem) -> dict[str, np.ndarray]:
    acts, payloads = _probes(system.circuit_width, system.payload_dim)
    out = {"probe.acts": acts, "probe.payloads": payloads}
    out.update({f"probe.{name}": v for name, v in _codec_outputs(system, acts, payloads).items()})
    return out


def _codecs_match(system: SmallSystem, probes: dict[str, np.ndarray]) -> str | None:
    """``None`` when the system's codecs give the saved outputs on the saved probes, else the first that does not."""
    got = _codec_outputs(system, probes["acts"], probes["payloads"])
    for name in _CODECS:
        want = probes[name]
        if got[name].shape != want.shape or not np.allclose(got[name], want, rtol=_PROBE_TOLERANCE,
                                                             atol=_PROBE_TOLERANCE):
            return name
    return None


def _affine_codecs(system: SmallSystem) -> dict[str, np.ndarray]:
    """encode/decode_on/decode_payload as affine maps ``x @ matrix + offset``, checked on the probes."""
    fam = system.family
    d, k = fam.circuit_width, fam.payload_dim
    acts, payloads = _probes(d, k)
    maps = {
        "encode": (lambda p: fam.encode(p, (len(p),)), k, payloads),
        "decode_on": (lambda a: np.asarray(fam.decode_on(a))[:, None], d, acts),
        "decode_payload": (fam.decode_payload, d, acts),
    }
    out = {}
    for name, (fn, n_in, probe) in maps.items():
        offset = np.asarray(fn(np.zeros((1, n_in))), dtype=np.float64)[0]
        matrix = np.asarray(fn(np.eye(n_in)), dtype=np.float64).reshape(n_in, offset.size) - offset
        if not np.allclose(fn(probe), probe @ matrix + offset, rtol=_PROBE_TOLERANCE, atol=_PROBE_TOLERANCE):
            raise CircuitsError(
                f"cannot save the {system.name!r} system: its {name} function is not affine, so it cannot be "
                "stored as arrays; save works for registered systems (circuits.SYSTEMS) and for systems whose "
                "encode/decode functions are affine")
        out[f"codec.{name}.matrix"], out[f"codec.{name}.offset"] = matrix, offset
    return out


def _affine(matrix: np.ndarray, offset: np.ndarray, squeeze: bool = False):
    def fn(x):
        y = np.asarray(x, dtype=np.float64) @ matrix + offset
        return y[..., 0] if squeeze else y
    return fn


# -------------------------------------------------------------- rebuilding
def _remake(name: str, n_circuits: int, seed, params: dict, error_correction: str, n_layers: int) -> SmallSystem:
    """A registered system from its name, size, seed, parameters and error correction."""
    base = SYSTEMS[name].make(n_circuits, seed=seed, **params)
    return with_error_correction(base, error_correction, n_layers=n_layers)


def _difference(a: SmallSystem, b: SmallSystem) -> str | None:
    """``None`` when the two systems' arrays are equal bit for bit and their descriptions agree, else what differs."""
    fa, fb = a.family, b.family
    for name in ("mean_w", "diff_w", "bias"):
        x, y = getattr(fa, name), getattr(fb, name)
        if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y):
            return f"family.{name}"
    if (a.couplings is None) != (b.couplings is None):
        return "couplings"
    if a.couplings is not None:
        for name in _COUPLINGS:
            x, y = getattr(a.couplings, name), getattr(b.couplings, name)
            if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y):
                return f"couplings.{name}"
    ca, cb = _system_config(a, True), _system_config(b, True)
    for key in ca:
        if ca[key] != cb[key]:
            return f"system.{key}"
    return None


def _rebuilds(system: SmallSystem, n_layers: int) -> bool:
    """Whether the registry remakes ``system`` exactly from its name, seed, params and error correction."""
    seed = system.seed
    if system.name not in SYSTEMS or not (seed is None or isinstance(seed, (int, np.integer))):
        return False
    try:
        twin = _remake(system.name, system.n_circuits, None if seed is None else int(seed), dict(system.params),
                       system.error_correction.spec, n_layers)
    except (TypeError, CircuitsError):
        return False
    if _difference(system, twin) is not None:
        return False
    acts, payloads = _probes(system.circuit_width, system.payload_dim)
    return _codecs_match(twin, {"acts": acts, "payloads": payloads, **_codec_outputs(system, acts, payloads)}) is None


# ===================================================================== load
def load_network(path, *, device: str = "cpu") -> Network:
    """Read a network written by :func:`save_network`; bit for bit the saved one.

    Checks, before building anything: both files present; the format and its version; the
    SHA-256 over the weights and the config's content (so any edited field is refused); the
    arrays present and of the shapes the config determines (T, d, S, width, layers); the system,
    weight scheme and assignment names against :data:`circuits.SYSTEMS`,
    :data:`circuits.WEIGHT_SCHEMES` and :data:`circuits.ASSIGNMENTS`. A registered system is
    remade (name, params, seed, error correction) and must equal the saved arrays bit for bit
    and give the saved codec outputs on the saved probes; any other is restored from its arrays.
    Finally the weight scheme's constants recomputed from the saved sets must equal the saved
    ones bit for bit.

    Args:
        path: the directory.
        device: torch device of the forward pass.

    Returns:
        the :class:`circuits.Network`, with the saved provenance.

    Raises:
        CircuitsError: the directory is absent, incomplete, unreadable, corrupt or edited (bad
            JSON, checksum mismatch, unreadable or inconsistent arrays), of another format
            version (circuits 0.1's versions 1 and 2: rebuild the network), or describes a
            network this version would build differently.
    """
    path = require_path("path", path)
    device = check_device(device)
    check_target(path, "path", folder=True)
    require(path.is_dir(), f"path must be a directory written by circuits.save_network, got {path} (absent)", parameter="path")
    for name in (_CONFIG, _WEIGHTS):
        require(os.path.lexists(path / name), f"incomplete saved network: {path / name} is missing", parameter="path")
    text = read_bytes(path / _CONFIG, "path")
    blob = read_bytes(path / _WEIGHTS, "path")
    try:
        config = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise CircuitsError(f"corrupt saved network: {path / _CONFIG} is not valid JSON ({err})") from err
    require(isinstance(config, dict) and config.get("format") == "circuits-" + _KIND,
            f"{path / _CONFIG} is not the config of a saved network (no \"format\": \"circuits-{_KIND}\")")
    version, written_by = config.get("format_version"), config.get("circuits_version")
    if version in OLD_VERSIONS:
        raise CircuitsError(f"{path} has format version {version}, written by circuits {written_by}; circuits "
                            f"{__version__} reads format version {FORMAT_VERSION} only: rebuild the network with "
                            "the current version (circuits.build, or cis build) and save it again")
    rest = {k: v for k, v in config.items() if k not in _SEAL_KEYS}
    identity = check_seal(config, rest, blob, path=path / _CONFIG, kind=_KIND, versions=FORMAT_VERSION,
                          parameter="path")
    try:
        arrays = st_load(blob)
        net = _restore(config, arrays, device)
    except CircuitsError as err:
        raise CircuitsError(f"cannot load {path}: {err}") from err
    except Exception as err:  # noqa: BLE001 - any malformed content is a corrupt directory
        raise CircuitsError(f"corrupt saved network in {path}: {type(err).__name__}: {err}") from err
    require(isinstance(identity, dict) and identity.get("fingerprint") == net.fingerprint,
            f"the network in {path} does not have the fingerprint its config records: refusing to load it",
            parameter="path")
    return net


def _section(config: dict, key: str) -> dict:
    value = config.get(key)
    require(isinstance(value, dict), f"{_CONFIG} must hold an object \"{key}\", got {type(value).__name__}")
    return value


def _restore(config: dict, arrays: dict, device: str) -> Network:
    sys_cfg, net_cfg = _section(config, "system"), _section(config, "network")
    provenance = _section(config, "provenance")
    _section(config, "metadata")
    rebuild = sys_cfg["rebuild"]
    require(isinstance(rebuild, bool), f"system.rebuild must be true or false, got {rebuild!r}")
    require(isinstance(net_cfg.get("weight_scheme"), str), "network.weight_scheme must be a string")
    scheme = weight_scheme(net_cfg["weight_scheme"])
    require_choice("network.assignment", net_cfg["assignment"], ASSIGNMENTS)
    has_couplings = sys_cfg["n_edges"] is not None
    names = {"family.mean_w", "family.diff_w", "family.bias", "assignment.sets"}
    names |= {f"constants.{name}" for name in scheme.constant_names}
    names |= {f"probe.{name}" for name in _PROBES}
    if has_couplings:
        names |= {f"couplings.{name}" for name in _COUPLINGS}
    if not rebuild:
        names |= {f"codec.{name}.{part}" for name in _CODECS for part in ("matrix", "offset")}
    missing, extra = sorted(names - set(arrays)), sorted(set(arrays) - names)
    require(not missing and not extra, f"{_WEIGHTS} does not hold the arrays {_CONFIG} describes"
                                       f"{': missing ' + ', '.join(missing) if missing else ''}"
                                       f"{': unexpected ' + ', '.join(extra) if extra else ''}")
    n_layers = require_int("network.n_layers", net_cfg["n_layers"], 1)

    saved = _saved_system(sys_cfg, arrays, has_couplings)
    if rebuild:
        name = require_choice("system.name", sys_cfg["name"], SYSTEMS)
        system = _remake(name, require_int("system.n_circuits", sys_cfg["n_circuits"], 1), sys_cfg["seed"],
                         dict(sys_cfg["params"]), sys_cfg["error_correction"], n_layers)
        differs = _difference(system, saved)
        if differs is None:
            codec = _codecs_match(system, {key: arrays[f"probe.{key}"] for key in _PROBES})
            differs = None if codec is None else f"its {codec} function on the saved probes"
        require(differs is None,
                f"the {name!r} system rebuilt from seed {sys_cfg['seed']} (params {sys_cfg['params']}, error "
                f"correction {sys_cfg['error_correction']!r}) differs from the saved arrays in {differs} (saved by "
                f"circuits {config.get('circuits_version')}): refusing to load a different network")
    else:
        system = saved
        broken = _codecs_match(system, {key: arrays[f"probe.{key}"] for key in _PROBES})
        require(broken is None, f"the saved affine {broken} map does not give the saved outputs on the probes")
    described = _system_config(system, rebuild)
    for key, value in described.items():
        require(key in sys_cfg and json.loads(json.dumps(value)) == sys_cfg[key],
                f"{_CONFIG} says system.{key} = {sys_cfg.get(key)!r} but the saved system has {value!r}")
    unknown = sorted(set(sys_cfg) - set(described))
    require(not unknown, f"{_CONFIG} has unknown system fields {unknown}")

    ec = system.error_correction
    d, T = system.circuit_width, system.n_circuits
    require(ec.circuit_width(system.base_width) == d,
            f"error correction {ec.spec!r} makes circuits of width {ec.circuit_width(system.base_width)} from "
            f"base width {system.base_width}, but the saved circuits have width {d}")
    cfg = NetworkConfig(**{**net_cfg, "weight_scheme": scheme})  # parsed once, above
    width = check_width(cfg.width, d, system.base_width)
    n_slots = width // d
    S = require_int("network.redundancy", cfg.redundancy, 1, n_slots)
    require_float("network.chi_scale", cfg.chi_scale, 0.0, MAX_CHI_SCALE)
    layers = system.network_layers(n_layers)
    require(layers == ec.network_layers(n_layers),
            f"error correction {ec.spec!r} gives {ec.network_layers(n_layers)} network layers for n_layers = "
            f"{n_layers}, but the saved system has {layers}")
    sets = arrays["assignment.sets"]
    require(np.issubdtype(sets.dtype, np.integer) and sets.shape == (layers + 1, T, S),
            f"assignment.sets must be integers of shape (network layers + 1, T, S) = {(layers + 1, T, S)}, got "
            f"{sets.dtype} {sets.shape}")
    require(sets.size == 0 or (sets.min() >= 0 and sets.max() < n_slots),
            f"assignment.sets must hold slots in 0..{n_slots - 1} (D/d = {width}/{d})")
    ordered = np.sort(sets, axis=-1)
    require(not np.any(ordered[..., 1:] == ordered[..., :-1]), "assignment.sets repeats a slot within a circuit's set")

    net = assemble(system, cfg, Assignment(sets=sets, n_slots=n_slots, method=cfg.assignment, seed=cfg.seed), device)
    for name in scheme.constant_names:
        stored = arrays[f"constants.{name}"]
        again = np.array([c[name] for c in net.constants], dtype=np.float64)
        require(stored.dtype == np.float64 and stored.shape == again.shape
                and np.array_equal(stored.view(np.int64), again.view(np.int64)),
                f"the {scheme.name!r} scheme's constants.{name} recomputed from the saved sets differ from the "
                f"saved ones: refusing to load a network this version builds differently")
    _check_provenance(provenance, net)
    return replace(net, provenance=dict(provenance))


def _check_provenance(provenance: dict, net: Network) -> None:
    """The spec a network was built from (its provenance) must describe that network: every field the
    network records (system, its params, error correction, width, T, S, L, weight scheme, assignment,
    and chi_scale unless ``tuned-chi`` chose it) equal."""
    if not provenance:
        return
    described = describe(net)
    keys = ["system", *net.system.params, "error_correction", "width", "n_circuits", "redundancy", "n_layers",
            "weight_scheme", "assignment"] + ([] if net.system.error_correction.tuned_chi else ["chi_scale"])
    for key in keys:
        if key in provenance and provenance[key] != described[key]:
            raise CircuitsError(f"{_CONFIG} says provenance.{key} = {provenance[key]!r} but the saved network has "
                                f"{described[key]!r}")


def _saved_system(cfg: dict, arrays: dict, has_couplings: bool) -> SmallSystem:
    """The small system as the arrays and the config describe it (codecs: the saved affine maps, if any)."""
    d = require_int("system.circuit_width", cfg["circuit_width"], 1)
    k = require_int("system.payload_dim", cfg["payload_dim"], 0)
    T = require_int("system.n_circuits", cfg["n_circuits"], 1)
    if f"codec.{_CODECS[0]}.matrix" in arrays:
        shapes = {"encode": ((k, d), (d,)), "decode_on": ((d, 1), (1,)), "decode_payload": ((d, k), (k,))}
        codecs = {}
        for name, (m_shape, o_shape) in shapes.items():
            matrix, offset = arrays[f"codec.{name}.matrix"], arrays[f"codec.{name}.offset"]
            require(matrix.shape == m_shape and offset.shape == o_shape,
                    f"codec.{name} must have shapes {m_shape} and {o_shape}, got {matrix.shape} and {offset.shape}")
            codecs[name] = _affine(matrix, offset, squeeze=name == "decode_on")
    else:  # only compared with the remade system, whose codecs count
        codecs = {name: None for name in _CODECS}
    family = CircuitFamily(str(cfg["family_name"]), arrays["family.mean_w"], arrays["family.diff_w"],
                           arrays["family.bias"], tuple(int(i) for i in cfg["on_neurons"]),
                           tuple(int(i) for i in cfg["payload_neurons"]), k, codecs["encode"], codecs["decode_on"],
                           codecs["decode_payload"])
    require(family.n_circuits == T and family.circuit_width == d,
            f"the saved family has T = {family.n_circuits}, d = {family.circuit_width}, but {_CONFIG} says "
            f"n_circuits = {T}, circuit_width = {d}")
    couplings = None
    if has_couplings:
        couplings = Couplings(T, d, **{name: arrays[f"couplings.{name}"] for name in _COUPLINGS})
    groups = cfg["groups"]
    require(isinstance(groups, dict), f"system.groups must be an object, got {groups!r}")
    roles = cfg["layer_roles"]
    return SmallSystem(family, couplings=couplings, layer_roles=None if roles is None else tuple(roles),
                       groups=ActivationGroups(groups["size"], tuple(groups["payload"])),
                       base_width=require_int("system.base_width", cfg["base_width"], 1),
                       error_correction=parse_error_correction(cfg["error_correction"]), name=str(cfg["name"]),
                       params=dict(cfg["params"]), seed=cfg["seed"])
