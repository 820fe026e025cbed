"""The regime boundary: the load T (d/D)^2 at which forward passes start to fail.

A forward pass *fails* when some circuit's on-indicator, active or inactive, is read off by
more than 0.25 (:data:`circuits.SEIZURE_THRESHOLD`) at some layer 1..L: past that the step
function no longer cleans it and errors compound. For a given width D, number of active
circuits z, depth L and options, :func:`find_boundary` finds the load at which the failure
rate crosses 1%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ._assignment import ASSIGNMENTS, capacity
from ._builder import METHODS
from ._error_correction import build_with_error_correction, parse_error_correction
from ._errors import CircuitsError, require, require_int
from ._evaluate import SEIZURE_THRESHOLD, Evaluation, evaluate
from ._families import FAMILIES, make_family


def failure_rate(ev: Evaluation, threshold: float = SEIZURE_THRESHOLD) -> float:
    """Fraction of samples with an on-indicator error above ``threshold`` at some layer 1..L.

    Uses ``ev.sample_worst_on`` ``(L+1, B)`` (worst error over all circuits, per layer and
    sample); layer 0, the input, is not counted.
    """
    worst = np.asarray(ev.sample_worst_on)[1:].max(axis=0)
    return float(np.mean(worst > threshold))


@dataclass(frozen=True)
class Crossing:
    """Where a failure rate crosses a level, found by :func:`bisect_threshold`.

    Attributes:
        below: the largest T tested whose rate is <= level (``None``: even the lowest fails).
        above: the smallest T tested whose rate is > level (``None``: even the highest passes).
        rates: ``((T, rate), ...)`` every evaluation, in the order made.
    """

    below: int | None
    above: int | None
    rates: tuple = ()

    @property
    def estimate(self) -> float:
        """The crossing: ``sqrt(below * above)``; ``inf`` when none up to the highest T;
        the lowest T tested when that already fails (an upper bound)."""
        if self.above is None:
            return math.inf
        if self.below is None:
            return float(self.above)
        return math.sqrt(self.below * self.above)


def bisect_threshold(rate: Callable[[int], float], low: int, high: int, *, level: float,
                     rtol: float = 0.0) -> Crossing:
    """Find where a (nearly) increasing ``rate(T)`` on integers ``low..high`` first exceeds ``level``.

    Tests ``low``, then doubles T until the rate exceeds ``level`` or T reaches ``high``
    (cheap when the crossing lies far below ``high``), then bisects at geometric midpoints
    until ``above - below <= max(1, rtol * below)``.

    Args:
        rate: T -> failure rate; called once per T tested.
        low, high: the range of T, ``1 <= low <= high``.
        level: the rate to cross.
        rtol: relative resolution in T (0: down to neighbouring integers).

    Example:
        >>> c = bisect_threshold(lambda t: float(t >= 137), 10, 5000, level=0.5)
        >>> c.below, c.above
        (136, 137)
    """
    low = require_int("low", low, 1)
    high = require_int("high", high, low)
    require(rtol >= 0, f"rtol must be >= 0, got {rtol}")
    rates = []

    def fails(t: int) -> bool:
        r = float(rate(t))
        rates.append((t, r))
        return r > level

    if fails(low):
        return Crossing(None, low, tuple(rates))
    below, t = low, low
    while True:
        t = min(high, 2 * t)
        if fails(t):
            above = t
            break
        below = t
        if t == high:
            return Crossing(high, None, tuple(rates))
    while above - below > max(1.0, rtol * below):
        mid = min(above - 1, max(below + 1, round(math.sqrt(below * above))))
        if fails(mid):
            above = mid
        else:
            below = mid
    return Crossing(below, above, tuple(rates))


def median_interval(values, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Median of ``values`` and a distribution-free confidence interval for it.

    The interval is ``[x_(k), x_(n+1-k)]`` of the sorted values, with the largest ``k >= 1``
    for which ``P(Binomial(n, 1/2) < k) <= (1 - confidence)/2``; its actual coverage is
    ``1 - 2 P(Binomial(n, 1/2) < k)`` (below ``confidence`` when n is too small for it, as
    for n <= 5 at 95%). ``inf`` values (censored) sort last.

    Returns:
        ``(median, low, high, coverage)``.

    Example:
        >>> median_interval([3.0, 1.0, 2.0, 5.0, 4.0, 6.0])
        (3.5, 1.0, 6.0, 0.96875)
    """
    from scipy.stats import binom

    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    require(n >= 1, "median_interval needs at least one value")
    alpha = (1 - confidence) / 2
    k = 1
    while k + 1 <= (n + 1) // 2 and binom.cdf(k, n, 0.5) <= alpha:
        k += 1
    coverage = float(1 - 2 * binom.cdf(k - 1, n, 0.5))
    mid = n // 2
    median = float(x[mid]) if n % 2 else float(0.5 * (x[mid - 1] + x[mid]))
    if math.isnan(median):  # inf + inf
        median = math.inf
    return median, float(x[k - 1]), float(x[n - k]), coverage


@dataclass(frozen=True)
class Boundary:
    """What :func:`find_boundary` found.

    Attributes:
        critical_load: median over seeds of the load T (d/D)^2 at which the failure rate
            crosses ``level``; when no failure reaches ``level`` up to the assignment's
            capacity (for the median seed), the capacity's load, a lower bound.
        interval: ``(low, high)`` confidence interval for it (``high`` is ``inf`` when some
            seeds saw no crossing up to capacity, ``low`` at most the capacity's load).
        coverage: the interval's actual confidence level.
        critical_circuits: T at ``critical_load`` (not necessarily an integer).
        capacity: the most circuits the assignment holds at this D/d, S.
        capacity_load: the load at capacity.
        capacity_reached: True when ``critical_load`` is only a lower bound (no crossing up to
            capacity).
        crossings: one :class:`Crossing` per seed.
        config: the parameters.
    """

    critical_load: float
    interval: tuple[float, float]
    coverage: float
    critical_circuits: float
    capacity: int
    capacity_load: float
    capacity_reached: bool
    crossings: tuple = field(repr=False)
    config: dict = field(repr=False)

    def to_dict(self) -> dict:
        """JSON form of ``cis boundary --format json`` (``inf`` becomes null)."""
        d = self.config["circuit_width"] / self.config["width"]
        return {
            "critical_load": self.critical_load,
            "interval": list(self.interval),
            "coverage": self.coverage,
            "critical_circuits": self.critical_circuits,
            "capacity": self.capacity,
            "capacity_load": self.capacity_load,
            "capacity_reached": self.capacity_reached,
            "config": self.config,
            "seeds": [{"below": c.below, "above": c.above, "critical_load": c.estimate * d * d,
                       "rates": [list(r) for r in c.rates]} for c in self.crossings],
        }


def _seed_crossing(job: dict) -> tuple[int, Crossing]:
    """One seed's bisection: ``(seed index, crossing)`` (module level, so process pools can run it)."""
    c = job["config"]

    def rate(T: int) -> float:
        seq = np.random.SeedSequence(job["seed"], spawn_key=(job["index"], T))
        fam_seed, build_seed, eval_seed = (int(s.generate_state(1)[0]) for s in seq.spawn(3))
        family = make_family(c["family"], T, seed=fam_seed)
        net = build_with_error_correction(
            family, c.get("error_correction", "none"), width=c["width"], redundancy=c["redundancy"],
            n_layers=c["n_layers"], seed=build_seed, method=c["method"], chi_scale=c["chi_scale"],
            assignment=c["assignment"], device=job["device"], n_active=c["n_active"], threshold=c["threshold"])
        ev = evaluate(net, n_active=c["n_active"], batch_size=c["batch_size"], seed=eval_seed)
        return failure_rate(ev, c["threshold"])

    return job["index"], bisect_threshold(rate, job["low"], job["high"], level=c["level"], rtol=job["rtol"])


def find_boundary(width: int, n_active: int, n_layers: int, *, redundancy: int = 6, family: str = "rotation",
                  method: str = "capped", chi_scale: float = 1.0, assignment: str = "prime-step",
                  batch_size: int = 1000, n_seeds: int = 6, seed: int = 0, level: float = 0.01,
                  threshold: float = SEIZURE_THRESHOLD, rtol: float = 0.02, confidence: float = 0.95,
                  workers: int = 1, executor=None, device: str = "cpu", progress: bool = False,
                  error_correction: str = "none") -> Boundary:
    """The critical load T (d/D)^2 at which the failure rate crosses ``level`` (1%).

    Statistical method. For each of ``n_seeds`` seeds the failure rate at T circuits is
    measured on ``batch_size`` forward passes through a fresh family of T circuits and a
    fresh network, all drawn from ``(seed, seed index, T)`` (so each seed's rate is a fixed
    function of T). T is searched over integers from ``max(z, floor((D/d)/S))`` (below which
    circuits share no neuron and the network is exact) up to the assignment's capacity by
    :func:`bisect_threshold` (doubling, then geometric bisection to a relative resolution
    ``rtol``), giving one crossing per seed, ``sqrt(below * above)``. The seeds' crossings
    are independent draws of one distribution (over circuits, networks and samples, the
    binomial noise of the measured rate included), and the report is their median with
    the distribution-free order-statistic interval of :func:`median_interval` (with 6 seeds,
    the range of the 6 crossings, coverage 96.9%). A seed that sees no crossing up to
    capacity counts as +inf; when the median is +inf, ``critical_load`` is the capacity's
    load and ``capacity_reached`` is True. With ``batch_size`` B, one measured rate near 1%
    has a standard error ``sqrt(0.01 * 0.99 / B)`` (0.3% at B = 1000).

    Args:
        width: D.
        n_active: z, active circuits per forward pass.
        n_layers: L.
        redundancy: S.
        family, method, chi_scale, assignment: as for :func:`build` (family by registry name).
        batch_size: B, forward passes per tested T.
        n_seeds: independent bisections.
        seed: root seed of everything.
        level: the failure rate to cross, in (0, 1).
        threshold: on-indicator error that counts as a failure (default 0.25).
        rtol: relative resolution of each bisection in T.
        confidence: asked-for confidence of the interval (the actual one is ``coverage``).
        workers, executor: run the seeds in parallel (see :func:`circuits.sweep`).
        device: torch device.
        progress: a tqdm bar over seeds.
        error_correction: a spec of :func:`circuits.build_with_error_correction` (``tuned-chi``
            calibrates for ``n_active`` and ``threshold``). Its cost is counted: with ``redundant:K`` the wider
            circuits get fewer slots of the same D (capacity and the no-sharing bound shrink), and
            the load stays ``T (d/D)^2`` with the base circuit's d; ``n_layers`` counts computation
            layers (``cleanup`` adds L - 1 more, and failures there count).

    Example:
        >>> b = find_boundary(400, 1, 2, batch_size=50, n_seeds=2, rtol=0.5)
        >>> b.capacity, b.capacity_reached, b.interval[0] <= b.critical_load <= b.interval[1]
        (86, False, True)
    """
    from theory import load

    require(family in FAMILIES, f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    if method not in METHODS:
        raise CircuitsError(f"method must be one of {list(METHODS)}, got {method!r}")
    if assignment not in ASSIGNMENTS:
        raise CircuitsError(f"assignment must be one of {sorted(ASSIGNMENTS)}, got {assignment!r}")
    d = make_family(family, 1, seed=0).circuit_width
    width = require_int("width", width, d)
    require(width % d == 0, f"width must be a multiple of the circuit width d = {d}, got {width}")
    correction = parse_error_correction(error_correction)
    n_slots = width // correction.circuit_width(d)
    redundancy = require_int("redundancy", redundancy, 1, n_slots)
    n_layers = require_int("n_layers", n_layers, 1)
    cap = max(capacity(n_slots, redundancy, assignment), n_slots // redundancy)
    n_active = require_int("n_active", n_active, 1, cap)
    batch_size = require_int("batch_size", batch_size, 1)
    n_seeds = require_int("n_seeds", n_seeds, 1)
    seed = require_int("seed", seed, 0)
    workers = require_int("workers", workers, 1)
    require(0 < level < 1, f"level must be in (0, 1), got {level}")
    require(threshold > 0, f"threshold must be > 0, got {threshold}")
    require(0 < confidence < 1, f"confidence must be in (0, 1), got {confidence}")
    require(math.isfinite(chi_scale) and chi_scale >= 0, f"chi_scale must be finite and >= 0, got {chi_scale}")
    require(rtol >= 0, f"rtol must be >= 0, got {rtol}")
    low = max(n_active, n_slots // redundancy)
    config = {"family": family, "circuit_width": d, "width": width, "redundancy": redundancy,
              "n_layers": n_layers, "n_active": n_active, "method": method, "chi_scale": float(chi_scale),
              "assignment": assignment, "batch_size": batch_size, "n_seeds": n_seeds, "seed": seed,
              "level": level, "threshold": threshold, "rtol": rtol, "error_correction": correction.spec}
    jobs = [{"config": config, "seed": seed, "index": i, "low": low, "high": cap, "rtol": rtol, "device": device}
            for i in range(n_seeds)]

    from ._sweep import map_completed

    crossings = [None] * n_seeds
    for index, crossing in map_completed(_seed_crossing, jobs, workers=workers, executor=executor,
                                         progress=f"boundary D={width} z={n_active}" if progress else None):
        crossings[index] = crossing
    scale = load(1, width, d)
    median, lo, hi, coverage = median_interval([c.estimate for c in crossings], confidence)
    reached = math.isinf(median)
    crit = float(cap) if reached else median
    lo = min(lo, float(cap))  # a censored seed's crossing is known only to lie above capacity
    return Boundary(critical_load=crit * scale, interval=(lo * scale, hi * scale), coverage=coverage,
                    critical_circuits=crit, capacity=cap, capacity_load=cap * scale, capacity_reached=reached,
                    crossings=tuple(crossings), config=config)
