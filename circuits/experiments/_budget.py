"""What a spec will cost before it runs: memory and time estimates, and the guard that refuses too much.

The estimate counts the arrays the work keeps (the small system, the assignment, each layer's
pattern and couplings, the evaluation's per-sample records) and the time of building and of
evaluating, from per-element costs measured on the project's 2-core machines (see
:data:`SECONDS_PER`). Evaluation time has two figures: in the working regime only the active
circuits' neurons are on; when the network seizes every circuit is touched at every layer, which
is the ceiling. :func:`check_cost` refuses a spec whose memory exceeds what the machine has free,
or whose ceiling exceeds :data:`MAX_SECONDS`, unless the caller allows it (``allow_large=True``, ``--yes`` on the command line); the
message gives the estimate and the fields that would lower it. It runs in microseconds, before
any work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..base import CircuitsError, available_memory, require_bool
from ._spec import ExperimentSpec

#: Seconds per unit of work, measured on a 2-core machine (one thread), rounded up.
SECONDS_PER = {
    "pair": 6e-8,          # building: per (circuit, slot pair) and layer (sort, pattern, chi)
    "activation": 2.5e-8,  # evaluating: per neuron, sample and layer (nonzero scan, bias, ReLU)
    "incidence": 4e-8,     # evaluating: per touched (circuit, slot) incidence, sample and layer
    "chunk": 0.01,         # evaluating: per chunk and layer (python and torch overhead)
}
#: Beyond this ceiling (seconds) a run needs to be allowed explicitly (``--yes``).
MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class Cost:
    """An estimate of what a spec costs.

    Attributes:
        memory: bytes at the peak (build and evaluation together).
        seconds: time in the working regime (only the active circuits' neurons on).
        seconds_ceiling: time if the network seizes (every circuit touched at every layer).
    """

    memory: int
    seconds: float
    seconds_ceiling: float

    def __str__(self) -> str:
        return (f"about {_size(self.memory)} of memory and {_duration(self.seconds)} "
                f"(up to {_duration(self.seconds_ceiling)} if the network seizes)")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PB"  # pragma: no cover


def _duration(s: float) -> str:
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.3g} {unit}"
    return f"{s:.2g} s"


def estimate_cost(spec: ExperimentSpec) -> Cost:
    """Memory and time of building and evaluating ``spec`` (see the module docstring).

    Example:
        >>> cost = estimate_cost(ExperimentSpec(width=1000, n_circuits=557, n_layers=5, batch_size=500))
        >>> cost.memory < 2**30, cost.seconds < 60
        (True, True)
    """
    d = spec.circuit_width
    T, S, B, z = spec.n_circuits, spec.redundancy, spec.batch_size, spec.n_active
    N = spec.width // d
    L = spec.network_layers
    k = 2  # payload size of the rotation systems (the largest registered)
    calibrations = 12 if spec.error_correction.tuned_chi else 1
    # memory: the system (per-layer weights when error correction made them), the sets, per layer the
    # pattern (T S^2 pairs: 8 bytes kept, 8 more while sorting) and the couplings (own blocks, incidence)
    system = T * d * d * 8 * (L if spec.error_correction != "none" else 1)
    sets = (L + 1) * T * S * 8
    per_layer = T * S * S * 16 + T * d * d * 4 + T * S * 40
    records = (L + 1) * B * (8 * 8 + d * 8 + z * (d + 2 + 2 * k) * 8)
    chunk = min(B, max(1, (1 << 23) // (d * N), 1))
    working = 40 * chunk * N * d * 4 + (1 << 26) * 4  # activations in flight, dense fallback
    memory = system + sets + (L - 1) * per_layer + records + working + (300 << 20)  # + interpreter and torch
    build = calibrations * L * T * S * S * SECONDS_PER["pair"]
    chunks = -(-B // max(1, min(B, (1 << 23) // (d * N), (1 << 26) // (d * T))))
    scan = calibrations * (L + 1) * (B * N * d * SECONDS_PER["activation"] + chunks * SECONDS_PER["chunk"])
    working_incidences = z * S * S * (1 + T * S / N)  # the active slots' circuits, S slots each
    seconds = build + scan + calibrations * (L + 1) * B * working_incidences * SECONDS_PER["incidence"]
    ceiling = build + scan + calibrations * (L + 1) * B * T * S * SECONDS_PER["incidence"]
    return Cost(memory=int(memory), seconds=seconds, seconds_ceiling=max(seconds, ceiling))


def check_cost(spec: ExperimentSpec, *, allow: bool = False, memory: int | None = None,
               max_seconds: float = MAX_SECONDS) -> Cost:
    """Refuse ``spec`` when it needs more memory than is free or may run longer than ``max_seconds``.

    Args:
        spec: the spec.
        allow: run it anyway (``--yes`` on the command line).
        memory: bytes free (default: what the machine has available now).
        max_seconds: the longest ceiling allowed without ``allow``.

    Returns:
        the :class:`Cost`.

    Raises:
        CircuitsError: naming the estimate and the fields that would lower it.
    """
    cost = estimate_cost(spec)
    if require_bool("allow_large", allow):
        return cost
    free = available_memory() if memory is None else memory
    if cost.memory > free:
        raise CircuitsError(f"this run needs {cost}, more than the {_size(free)} free here; lower batch_size, "
                            f"n_circuits or width (or allow it: allow_large=True)")
    if cost.seconds_ceiling > max_seconds:
        raise CircuitsError(f"this run may take long: {cost}; lower batch_size or n_circuits, or allow it "
                            f"(allow_large=True)")
    return cost


def search_seconds(spec: ExperimentSpec, low: int, high: int, n_seeds: int, rtol: float) -> float:
    """Estimated time of a boundary search (:func:`circuits.find_boundary`): per seed, the doubling from
    ``low`` to ``high`` and the bisection to ``rtol`` (``log2(high/low) + log2(1/rtol) + 1`` evaluations),
    each counted at ``high`` circuits in the working regime (the search stops where networks fail)."""
    steps = math.log2(max(2.0, high / max(low, 1))) + math.log2(1.0 / max(rtol, 1e-3)) + 1.0
    return n_seeds * steps * estimate_cost(spec.replace(n_circuits=high)).seconds


def check_total(seconds: float, what: str, *, allow: bool = False, max_seconds: float = MAX_SECONDS) -> None:
    """Refuse work of many runs (a sweep, a boundary search, a scaling study) whose estimated total time
    exceeds ``max_seconds``, unless ``allow``; the message says what to lower."""
    if not require_bool("allow_large", allow) and seconds > max_seconds:
        raise CircuitsError(f"this {what} may take long: about {_duration(seconds)} in all; run fewer or smaller "
                            f"specs, or allow it (allow_large=True)")
