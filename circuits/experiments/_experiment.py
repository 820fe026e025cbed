"""From a spec to numbers: build the spec's network (calibrating ``tuned-chi``) and evaluate it.

:func:`build` of a spec makes the system from the registry with the spec's system seed, applies
the error correction, chooses chi's multiplier on a calibration batch when the spec asks for
``tuned-chi`` (:func:`tune_chi`), and constructs the network with the network seed; :func:`build`
of a small system in hand constructs its network from the arguments given
(:func:`circuits.construction.construct`). :func:`evaluate` measures a spec (or a network in hand)
and returns the :class:`circuits.Evaluation`, whose ``config`` then holds the spec's fields and
derived seeds.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..construction import Network, construct
from ..base import require, require_int, using_threads
from ._budget import check_cost
from ..measurement import ON_ERROR, Evaluation, evaluate_network, failure_rate
from ._spec import MAX_SEED, ExperimentSpec, keyed_seed
from ..system import make_system, with_error_correction, SmallSystem

#: Multipliers of chi that ``tuned-chi`` tries, the default (1) first so that it wins ties.
CHI_GRID = (1.0, 0.0, 0.5, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0, 32.0)
#: Forward passes in the calibration batch of ``tuned-chi``.
CALIBRATION_BATCH = 200


def tune_chi(system: SmallSystem, *, n_active: int, width: int, redundancy: int, n_layers: int, network_seed: int,
             calibration_seed: int, chi_scale: float = 1.0, assignment: str = "prime-step", device: str = "cpu",
             batch_size: int = CALIBRATION_BATCH, on_error: float = ON_ERROR):
    """Choose chi's multiplier from :data:`CHI_GRID` on a calibration batch.

    Every candidate ``chi_scale * m`` builds the network (same ``network_seed``, so the same
    assignment) and evaluates the same ``batch_size`` calibration passes (common random numbers,
    so differences are the candidates'); the one with the lowest failure rate (an on-indicator off
    by more than ``on_error``) wins. Ties are broken by the failure rate over layers 2..L alone
    (chi acts from layer 2 on), then by the on-indicator MSE of the active plus that of the
    inactive circuits averaged over layers 1..L (so that where every candidate always fails, one
    that switches the active circuits off does not win), then by grid order (1 first).

    Returns:
        ``(best chi_scale, rows)`` with ``rows`` ``((chi_scale, failure rate, failure rate at
        layers 2..L, on-indicator MSE), ...)`` in :data:`CHI_GRID` order.
    """
    rows = []
    for m in CHI_GRID:
        net = construct(system, width=width, redundancy=redundancy, n_layers=n_layers, seed=network_seed,
                    chi_scale=chi_scale * m, assignment=assignment, device=device)
        ev = evaluate_network(net, n_active=n_active, batch_size=batch_size, seed=calibration_seed)
        worst = np.asarray(ev.sample_worst_on)
        later = float(np.mean(worst[2:].max(axis=0) > on_error)) if net.network_layers >= 2 else 0.0
        on = ev.table[(ev.table.stat == "mse") & (ev.table.quantity == "on") & (ev.table.layer >= 1)
                      & ev.table.depth.isna()]
        on_mse = float(on.groupby("circuit_state").measured.mean().sum())
        rows.append((chi_scale * m, failure_rate(ev, on_error), later, on_mse))
    best = min(range(len(rows)), key=lambda i: (*rows[i][1:], i))
    return rows[best][0], tuple(rows)


def build_system(spec: ExperimentSpec) -> SmallSystem:
    """The spec's small system, drawn with its system seed, error correction applied."""
    base = make_system(spec.system, spec.n_circuits, seed=spec.seeds().system, **spec.params)
    return with_error_correction(base, spec.error_correction, n_layers=spec.n_layers)


def build(target, *, width: int | None = None, redundancy: int | None = None, n_layers: int | None = None,
          seed=None, weight_scheme=None, chi_scale: float | None = None, assignment: str | None = None,
          n_active: int | None = None, device: str = "cpu", allow_large: bool = False,
          threads: int | None = None) -> Network:
    """Build the large network of a spec, or of a small system in hand.

    Args:
        target: an :class:`ExperimentSpec` (everything comes from it and its seed; the construction
            arguments below must then be left out) or a :class:`circuits.SmallSystem` (then give
            ``width``, ``redundancy``, ``n_layers`` and ``seed``).
        width: D, a multiple of the system's circuit width d with ``D/d >= S``.
        redundancy: S, network neurons per small-circuit neuron (>= 1).
        n_layers: L >= 1 computation layers (the network has ``system.network_layers(L)``).
        seed: seeds the assignment's per-layer permutations.
        weight_scheme: a scheme of :data:`circuits.WEIGHT_SCHEMES` (default ``capped``).
        chi_scale: multiplier on chi (default 1).
        assignment: a method of :data:`circuits.ASSIGNMENTS` (default ``prime-step``).
        n_active: z, for a system whose error correction has ``tuned-chi``: chi's multiplier is chosen for
            it (:func:`tune_chi`, on :data:`CALIBRATION_BATCH` passes seeded from ``seed`` and z).
        device: torch device of the forward pass (``"cpu"``, ``"cuda"``).
        allow_large: build a spec whose estimated memory or time exceeds this machine (refused otherwise,
            before any work: :func:`circuits.experiments._budget.check_cost`).
        threads: torch threads (default: the cores free now; ``tuned-chi`` evaluates while it builds).

    Returns:
        :class:`circuits.Network`; a spec's network records the spec as its ``provenance``.

    Raises:
        CircuitsError: on any inconsistent or out-of-range argument, before any work.

    Example:
        >>> build(ExperimentSpec(width=400, n_circuits=50, n_layers=2))
        Network('rotation', D=400, T=50, d=4, S=6, L=2, scheme='capped', assignment='prime-step', load=0.005, device='cpu')
        >>> from circuits import rotation_circuits
        >>> build(rotation_circuits(n_circuits=557, seed=0), width=1000, redundancy=6, n_layers=5, seed=0)
        Network('rotation', D=1000, T=557, d=4, S=6, L=5, scheme='capped', assignment='prime-step', load=0.008912, device='cpu')
    """
    given = {"width": width, "redundancy": redundancy, "n_layers": n_layers, "seed": seed,
             "weight_scheme": weight_scheme, "chi_scale": chi_scale, "assignment": assignment}
    if isinstance(target, SmallSystem):
        missing = [k for k in ("width", "redundancy", "n_layers", "seed") if given[k] is None]
        tuned = target.error_correction.tuned_chi
        missing += ["n_active"] if tuned and n_active is None else []
        require(not missing, f"{missing[0] if missing else ''} is needed to build a network from this small system",
                parameter=missing[0] if missing else None)
        require(tuned or n_active is None, "n_active is only taken by a system with tuned-chi (it calibrates chi "
                                           "for that z)", parameter="n_active")
        settings = {"width": width, "redundancy": redundancy, "n_layers": n_layers, "seed": seed,
                    "weight_scheme": "capped" if weight_scheme is None else weight_scheme,
                    "chi_scale": 1.0 if chi_scale is None else chi_scale,
                    "assignment": "prime-step" if assignment is None else assignment}
        with using_threads(threads):
            if tuned:
                z = target.check_n_active(n_active)
                calibration = keyed_seed(require_int("seed", seed, 0, MAX_SEED), "calibration", {"n_active": z})
                settings["chi_scale"], _ = tune_chi(
                    target, n_active=z, width=width, redundancy=redundancy, n_layers=n_layers, network_seed=seed,
                    calibration_seed=calibration, chi_scale=settings["chi_scale"], assignment=settings["assignment"],
                    device=device)
            return construct(target, device=device, **settings)
    require(isinstance(target, ExperimentSpec), f"build takes an ExperimentSpec or a SmallSystem (see "
                                                f"circuits.SYSTEMS), got {type(target).__name__}", parameter="target")
    extra = [k for k, v in {**given, "n_active": n_active}.items() if v is not None]
    require(not extra, f"{extra[0] if extra else ''} comes from the spec: give it there (spec.replace(...))",
            parameter=extra[0] if extra else None)
    check_cost(target, allow=allow_large)
    with using_threads(threads):
        return _build_network(target, device)


def _build_network(spec: ExperimentSpec, device: str) -> Network:
    """:func:`build` of a spec, on the threads already chosen."""
    system = build_system(spec)
    seeds = spec.seeds()
    chi_scale = spec.chi_scale
    if system.error_correction.tuned_chi:
        chi_scale, _ = tune_chi(system, n_active=spec.n_active, width=spec.width, redundancy=spec.redundancy,
                                n_layers=spec.n_layers, network_seed=seeds.network,
                                calibration_seed=seeds.calibration, chi_scale=spec.chi_scale,
                                assignment=spec.assignment, device=device)
    net = construct(system, width=spec.width, redundancy=spec.redundancy, n_layers=spec.n_layers,
                    seed=seeds.network, weight_scheme=spec.weight_scheme, chi_scale=chi_scale,
                    assignment=spec.assignment, device=device)
    return replace(net, provenance=spec.to_dict())


def evaluate(target, *, n_active: int | None = None, batch_size: int | None = None, seed=None, active=None,
             payloads=None, ideal: bool | None = None, chunk_size: int | None = None, progress: bool = False,
             device: str = "cpu", network: Network | None = None, threads: int | None = None,
             allow_large: bool = False) -> Evaluation:
    """Measure the errors of a spec's network, or of a network in hand, against the small system.

    Args:
        target: an :class:`ExperimentSpec` (everything comes from it: the network, z, B, the
            draws' seed) or a :class:`circuits.Network` (then give ``n_active`` and
            ``batch_size``, or ``active``; ``seed`` seeds the draws, default 0).
        n_active, batch_size, seed, active, payloads, ideal: for a network (see
            ``circuits.measurement.evaluate_network``); with a spec they must be left out.
        chunk_size: samples per forward pass (results do not depend on it).
        progress: a tqdm bar over chunks.
        device: where a spec's network runs.
        network: the spec's network, already built by :func:`build` (saves building it again).
        threads: torch threads; default: the cores free right now (``circuits.base.choose_threads``).
        allow_large: run a spec whose estimated cost exceeds the machine (refused otherwise, before any work).

    Returns:
        :class:`circuits.Evaluation`; for a spec its ``config`` holds every spec field (the
        same keys as :meth:`ExperimentSpec.to_dict`) and the derived seeds.

    Example:
        >>> ev = evaluate(ExperimentSpec(width=1000, n_circuits=557, n_layers=5, n_active=2, batch_size=50, seed=1))
        >>> ev.config["n_circuits"], ev.config["seed"], sorted(ev.table.columns)[:3]
        (557, 1, ['circuit_state', 'computation_layer', 'depth'])
    """
    if isinstance(target, Network):
        with using_threads(threads):
            return evaluate_network(target, n_active=n_active, batch_size=batch_size,
                                    seed=0 if seed is None else seed, active=active, payloads=payloads,
                                    ideal=bool(ideal), chunk_size=chunk_size, progress=progress)
    require(isinstance(target, ExperimentSpec), f"evaluate takes an ExperimentSpec or a Network, got "
                                                f"{type(target).__name__}", parameter="target")
    given = [name for name, v in (("n_active", n_active), ("batch_size", batch_size), ("seed", seed),
                                  ("active", active), ("payloads", payloads), ("ideal", ideal)) if v is not None]
    require(not given, f"{given[0] if given else ''} comes from the spec: give it there (spec.replace(...))",
            parameter=given[0] if given else None)
    spec = target
    if chunk_size is not None:
        chunk_size = require_int("chunk_size", chunk_size, 1)
    if network is None:
        check_cost(spec, allow=allow_large)
    with using_threads(threads):
        return _evaluate_spec(spec, network, device, chunk_size, progress)


def _evaluate_spec(spec: ExperimentSpec, network: Network | None, device: str, chunk_size, progress) -> Evaluation:
    """:func:`evaluate` of a spec, on the threads already chosen."""
    if network is None:
        net = _build_network(spec, device)
    else:
        require(isinstance(network, Network), f"network must be a Network, got {type(network).__name__}",
                parameter="network")
        net = network
        built = net.provenance
        if built:  # a spec's network: its network fields must be the spec's (the seed may differ: it then
            # seeds only the evaluation's draws)
            wanted = spec.identity("calibration" if net.system.error_correction.tuned_chi else "network")
            wrong = [k for k, v in wanted.items() if built.get(k) != v]
            require(not wrong, f"the network was built from another spec: it differs in {', '.join(wrong)}",
                    parameter="network")
            origin = spec.replace(seed=built["seed"]).seeds().network if "seed" in built else net.config.seed
            require(origin == net.config.seed, f"the network's seed {net.config.seed} is not the one the spec it "
                                               f"records (seed {built.get('seed')}) derives: the network or its "
                                               "provenance was changed", parameter="network")
    seeds = spec.seeds()
    ev = evaluate_network(net, n_active=spec.n_active, batch_size=spec.batch_size, seed=seeds.evaluation,
                          ideal=spec.ideal, chunk_size=chunk_size, progress=progress)
    ev.config.update({**spec.to_dict(), "tuned_chi_scale": net.config.chi_scale,
                      **{f"{part}_seed": value for part, value in seeds._asdict().items()}})
    return ev
