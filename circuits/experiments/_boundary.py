"""The regime boundary: the load T (d/D)^2 at which the construction stops working.

What "stops working" means is a failure criterion (``circuits.measurement.CRITERIA``: ``payload``
by default, ``compounding``, ``fraction-on``, ``worst-readout``): a score of one evaluation and
the level it must not exceed. :func:`find_boundary` takes a spec (everything but
``n_circuits``) and finds, by bisection over T, the load at which the score crosses the level;
the runs it makes are specs too, so each tested point is one ``cis evaluate`` away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from theory import predicted_mse

from ..assignment import capacity
from ..base import CircuitsError, choose_threads, require, require_bool, require_float, require_int
from ..measurement import CRITERIA, ON_ERROR, Setting, criterion as measurement_criterion
from ..system import SYSTEMS
from ._budget import check_cost, check_total, search_seconds
from ._experiment import evaluate
from ._spec import ExperimentSpec
from ._sweep import map_completed


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
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    require(n >= 1, "median_interval needs at least one value")
    alpha = (1 - confidence) / 2
    k = 1
    def below(k):  # P(Binomial(n, 1/2) <= k), exact (a sum of binomial coefficients over 2^n, rounded once)
        return sum(math.comb(n, i) for i in range(k + 1)) / 2**n

    while k + 1 <= (n + 1) // 2 and below(k) <= alpha:
        k += 1
    coverage = float(1 - 2 * below(k - 1))
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
        capacity_reached: True when ``critical_load`` is only a lower bound: no crossing up to the
            search's end (the capacity, or the largest T whose run the machine allows: ``config["high"]``).
        crossings: one :class:`Crossing` per seed (seed ``spec.seed + i``).
        config: the spec's fields (but ``n_circuits``) and the search's parameters.
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
        scale = self.capacity_load / self.capacity
        return {
            "critical_load": self.critical_load,
            "interval": list(self.interval),
            "coverage": self.coverage,
            "critical_circuits": self.critical_circuits,
            "capacity": self.capacity,
            "capacity_load": self.capacity_load,
            "capacity_reached": self.capacity_reached,
            "config": self.config,
            "seeds": [{"seed": self.config["seed"] + i, "below": c.below, "above": c.above,
                       "critical_load": c.estimate * scale, "rates": [list(r) for r in c.rates]}
                      for i, c in enumerate(self.crossings)],
        }


def search_range(spec: ExperimentSpec, *, allow_large: bool = False) -> tuple[int, int, int]:
    """``(low, capacity, high)`` of the search over ``n_circuits``: from ``max(z, (D/d)/S)`` (no shared
    neuron below) to the assignment's capacity, ``high`` being the largest T the machine allows
    (:func:`check_cost`; the capacity with ``allow_large``). Refuses, before any work, a spec of which
    not even ``low`` circuits fit the machine, or whose z exceeds the capacity."""
    n_slots = spec.width // spec.circuit_width
    S = spec.redundancy
    cap = max(capacity(n_slots, S, spec.assignment), n_slots // S)
    low = max(spec.n_active, n_slots // S, SYSTEMS[spec.system].min_circuits(spec.params))
    require(low <= cap, f"n_active = {spec.n_active} exceeds the most circuits that fit ({cap})", parameter="n_active")
    return low, cap, cap if allow_large else _affordable(spec, low, cap)


def _affordable(spec: ExperimentSpec, low: int, high: int) -> int:
    """The largest T in ``low..high`` whose run the machine allows (:func:`check_cost`); refuses if even
    ``low`` is too much. The estimate grows with T, so a bisection on it finds the edge at once."""
    def fits(T: int) -> bool:
        try:
            check_cost(spec.replace(n_circuits=T))
        except CircuitsError:
            return False
        return True

    if fits(high):
        return high
    check_cost(spec.replace(n_circuits=low))  # raises, naming the estimate, when nothing fits
    while high - low > max(1, low // 100):
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


def _seed_crossing(job: dict) -> tuple[int, Crossing]:
    """One seed's bisection: ``(seed index, crossing)`` (module level, so process pools can run it)."""
    spec, search = job["spec"], job["search"]
    score = measurement_criterion(search["criterion"]).score

    def rate(T: int) -> float:
        ev = evaluate(spec.replace(n_circuits=T), device=job["device"], threads=job["threads"], allow_large=True)
        return score(ev, ON_ERROR if search["on_error"] is None else search["on_error"])

    return job["index"], bisect_threshold(rate, search["low"], search["high"], level=search["level"],
                                          rtol=search["rtol"])


def checked_criterion(spec: ExperimentSpec, criterion: str, level: float | None = None,
                      on_error: float | None = None):
    """``(criterion, level, on_error)`` after checking that the criterion can say something about ``spec``'s
    construction and that every argument given is one it reads, before any work (``on_error`` is ``None``
    for a criterion that does not read it).

    Raises:
        CircuitsError: an unknown criterion; one that cannot apply (it names why: ``compounding`` needs three
            network layers, ``payload`` a system whose payload theory predicts, ...); ``on_error`` given to a
            criterion that does not read it; a level the score can never exceed.

    Example:
        >>> checked_criterion(ExperimentSpec(n_layers=2, n_circuits=100), "compounding")
        Traceback (most recent call last):
        ...
        circuits.CircuitsError: criterion 'compounding' cannot apply here: it compares the last layer with layer 2, which needs at least 3 network layers (got 2)
    """
    chosen = measurement_criterion(criterion)
    probe = spec.probe()
    payload_theory = probe.payload_dim > 0 and predicted_mse(
        "active", "payload", 1, spec.n_circuits, spec.width // spec.circuit_width * probe.base_width,
        probe.base_width, spec.redundancy, spec.n_active) is not None
    why = chosen.cannot_apply(Setting(network_layers=spec.network_layers, ideal=spec.ideal,
                                      payload_theory=payload_theory, payload=probe.payload_dim > 0))
    require(why is None, f"criterion {chosen.name!r} cannot apply here: {why}", parameter="criterion")
    require(on_error is None or chosen.uses_on_error,
            f"on_error is read by the criteria {', '.join(c.name for c in CRITERIA.values() if c.uses_on_error)} "
            f"only; criterion {chosen.name!r} does not use it: leave it out", parameter="on_error")
    top = chosen.max_level
    level = require_float("level", chosen.level if level is None else level, 0.0, top, open_low=True,
                          open_high=top is not None)
    if chosen.uses_on_error:
        on_error = require_float("on_error", ON_ERROR if on_error is None else on_error, 0.0, open_low=True)
    return chosen, level, on_error


def find_boundary(spec: ExperimentSpec, *, criterion: str = "payload", level: float | None = None,
                  on_error: float | None = None, n_seeds: int = 6, rtol: float = 0.02, confidence: float = 0.95,
                  workers: int = 1, executor=None, device: str = "cpu", progress: bool = False,
                  threads: int | None = None, allow_large: bool = False) -> Boundary:
    """The critical load T (d/D)^2 at which the criterion's score crosses ``level``.

    Statistical method. For each of ``n_seeds`` seeds (``spec.seed + i``) the score at T
    circuits is that of ``evaluate(spec.replace(n_circuits=T, seed=spec.seed + i))``: a fresh
    system, network and ``spec.batch_size`` forward passes, all drawn from that spec (so each
    seed's score is a fixed function of T, and every tested point can be rerun with
    ``cis evaluate``). T is searched over integers from ``max(z, (D/d)/S)`` (below which circuits
    share no neuron and the network is exact) up to the assignment's capacity by
    :func:`bisect_threshold` (doubling, then geometric bisection to a relative resolution
    ``rtol``), giving one crossing per seed, ``sqrt(below * above)``. The seeds' crossings are
    independent draws of one distribution (over circuits, networks and samples, the binomial
    noise of the measured rate included), and the report is their median with the
    distribution-free order-statistic interval of :func:`median_interval` (with 6 seeds, the
    range of the 6 crossings, coverage 96.9%). A seed that sees no crossing up to capacity
    counts as +inf; when the median is +inf, ``critical_load`` is the capacity's load and
    ``capacity_reached`` is True. For ``worst-readout`` one measured rate near 1% has a standard
    error ``sqrt(0.01 * 0.99 / B)`` (0.3% at B = 1000); the ratio criteria are means over ``B``
    samples (the payload MSE's relative standard error is about ``sqrt(2 / (z B))`` when the
    errors are Gaussian). Error correction is counted at its cost: with
    ``redundant:K`` the wider circuits get fewer slots of the same D, and the load keeps the base d.

    Args:
        spec: everything but ``n_circuits`` (which is searched; its value is ignored).
        criterion: a key of ``circuits.measurement.CRITERIA``.
        level: the score to cross (default: the criterion's level, 2 for the ratios, 0.01 for
            ``worst-readout``).
        on_error: the on-indicator error that counts, for the criteria that read it (``worst-readout``;
            default :data:`circuits.ON_ERROR`, 0.25); refused for the others.
        n_seeds: independent bisections.
        rtol: relative resolution of each bisection in T.
        confidence: asked-for confidence of the interval (the actual one is ``coverage``).
        workers, executor: run the seeds in parallel (see :func:`circuits.sweep`).
        device: torch device.
        progress: a tqdm bar over seeds.
        threads: torch threads per worker (default: the free cores shared among the workers).
        allow_large: search up to specs whose estimated cost exceeds the machine (refused otherwise,
            for the largest T the search may reach, before any work).

    Example:
        >>> b = find_boundary(ExperimentSpec(width=2000, n_circuits=20, n_layers=3, n_active=1, batch_size=100),
        ...                   criterion="payload", n_seeds=2, rtol=0.2)
        >>> b.capacity, b.capacity_reached, b.interval[0] <= b.critical_load <= b.interval[1]
        (2101, False, True)
    """
    require(isinstance(spec, ExperimentSpec), f"spec must be an ExperimentSpec, got {type(spec).__name__}",
            parameter="spec")
    n_seeds = require_int("n_seeds", n_seeds, 1, 1000)
    workers = require_int("workers", workers, 1)
    progress = require_bool("progress", progress)
    chosen, level, on_error = checked_criterion(spec, criterion, level, on_error)
    confidence = require_float("confidence", confidence, 0.0, 1.0, open_low=True, open_high=True)
    rtol = require_float("rtol", rtol, 0.0)
    low, cap, high = search_range(spec, allow_large=allow_large)
    check_total(search_seconds(spec, low, high, n_seeds, rtol), "boundary search", allow=allow_large)
    search = {"criterion": chosen.name, "level": level, "on_error": on_error, "n_seeds": n_seeds, "rtol": rtol,
              "confidence": confidence, "low": low, "high": cap}
    config = {**{k: v for k, v in spec.to_dict().items() if k != "n_circuits"}, "circuit_width": spec.circuit_width,
              "base_width": spec.base_width, **search}
    search["high"] = high
    per_task = (threads or 1) if executor is not None else choose_threads(threads, workers=min(workers, n_seeds))
    jobs = [{"spec": spec.replace(seed=spec.seed + i), "search": search, "index": i, "device": device,
             "threads": per_task} for i in range(n_seeds)]
    crossings = [None] * n_seeds
    for index, crossing in map_completed(_seed_crossing, jobs, workers=workers, executor=executor,
                                         progress=f"boundary D={spec.width} z={spec.n_active}" if progress else None):
        crossings[index] = crossing
    scale = (spec.base_width / spec.width) ** 2
    median, lo, hi, coverage = median_interval([c.estimate for c in crossings], confidence)
    reached = math.isinf(median)
    crit = float(high) if reached else median
    lo = min(lo, float(high))  # a censored seed's crossing is known only to lie above the search's end
    return Boundary(critical_load=crit * scale, interval=(lo * scale, hi * scale), coverage=coverage,
                    critical_circuits=crit, capacity=cap, capacity_load=cap * scale, capacity_reached=reached,
                    crossings=tuple(crossings), config=config)
