"""Evaluation: run many random forward passes and measure the error of every read-out.

Per network layer ``l = 0..L`` and over a batch of samples (each with ``z`` active circuits):

- ``active``/``on``: on-indicator of the active circuits (truth: the small system's own run);
- ``active``/``payload``: their payload (error: L2 norm of the difference);
- ``inactive``/``on`` and ``inactive``/``payload``: read from every other circuit (truth: 0);

each as mean squared error (``mse``) and worst absolute error (``worst``), beside the
prediction of :mod:`theory`. Layer 0 is the input ``a[0]`` written into the network and read
back (role ``input``). Every row says its network ``layer``, its ``role`` (``input``,
``computation`` or ``cleanup``) and its ``computation_layer``; ``predicted`` is the formula at the
computation layer (null on input and clean-up layers, and for circuits that receive
cross-circuit couplings, where no formula exists). On a system with couplings the active
payload is also reported per ``depth`` in the coupling graph. Also the fraction of neurons on
(> 1e-4) per neuron group and the first layer where a worst-case on-indicator error exceeds
0.25 (the "seizure" layer).

The inactive statistics never form a ``(B, T, d)`` array: circuits none of whose neurons is
on all read the same value (zero for the capped scheme) and enter as a count times it; the
others come from the touched circuits of :meth:`Network.trace`. Sums are kept per sample in
float64 and added up at the end, so the numbers do not depend on the chunk size.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field

import numpy as np
import torch

from theory import BoundaryModel, PayloadRow, predicted_mse

from ..base import available_memory, jsonable_seed, lazy_module, require, require_int
from ..construction import Network, WeightScheme
from ..system import CLEANUP, COMPUTATION, SmallSystem, draw_payloads

pd = lazy_module("pandas")

#: Neurons above this value count as on.
ON_THRESHOLD = 1e-4
#: The on-indicator error that counts as a failure: above it the study's step function is passed and
#: errors start to compound (a "seizure"). The command line's ``--on-error`` and every ``on_error``
#: argument default to it.
ON_ERROR = 0.25
#: The role of layer 0 in the tables.
INPUT = "input"
#: The columns of :attr:`Evaluation.table`, in order.
TABLE_COLUMNS = ["layer", "computation_layer", "role", "circuit_state", "depth", "quantity", "stat", "measured",
                 "predicted"]


@dataclass(frozen=True, eq=False)
class Evaluation:
    """What :func:`evaluate_network` (and :func:`circuits.evaluate`) measured.

    Attributes:
        table: tidy frame with :data:`TABLE_COLUMNS`: one row per (layer, circuit_state, depth,
            quantity, stat); ``depth`` is null on rows over all circuits of a state;
            ``predicted`` NaN where no formula applies; layers 0..L.
        fraction_on: tidy frame (layer, neuron_group, fraction) for layers 0..L.
        load: ``T (d/D)^2`` with the base d.
        critical_load: theory's critical load (payload criterion) for this network's width,
            construction and z (:func:`predicted_critical_load`), NaN where theory has none: where
            the network stands is ``load`` beside it.
        seizure_layer: first layer >= 1 whose worst on-indicator error exceeds 0.25, else ``None``.
        config: every parameter of the network and of the evaluation.
        active: ``(B, z)`` the active circuits drawn.
        sample_worst_on: ``(L+1, B)`` worst on-indicator error (any circuit) per sample.
        truth_on, estimate_on: ``(L+1, B, z)`` on-indicator of the active circuits.
        truth_payload, estimate_payload: ``(L+1, B, z, k)`` their payloads.
    """

    table: pd.DataFrame
    fraction_on: pd.DataFrame
    load: float
    critical_load: float
    seizure_layer: int | None
    config: dict
    active: np.ndarray = field(repr=False)
    sample_worst_on: np.ndarray = field(repr=False)
    truth_on: np.ndarray = field(repr=False)
    estimate_on: np.ndarray = field(repr=False)
    truth_payload: np.ndarray = field(repr=False)
    estimate_payload: np.ndarray = field(repr=False)

    def rows(self) -> list[dict]:
        """The table as JSON-able records (NaN and NA as ``None``)."""
        out = []
        for rec in self.table.to_dict("records"):
            out.append({k: (None if v is None or v is pd.NA or (isinstance(v, float) and not np.isfinite(v))
                            else int(v) if k in ("layer", "computation_layer", "depth") else v)
                        for k, v in rec.items()})
        return out

    def to_dict(self) -> dict:
        """The JSON form printed by ``cis evaluate --format json``."""
        frac = {}
        for (layer,), grp in self.fraction_on.groupby(["layer"]):
            frac[int(layer)] = [float(v) for v in grp.sort_values("neuron_group")["fraction"]]
        return {"config": self.config, "load": self.load, "critical_load": self.critical_load,
                "seizure_layer": self.seizure_layer, "rows": self.rows(),
                "fraction_on": [{"layer": k, "fraction": v} for k, v in sorted(frac.items())]}


def failure_rate(ev: Evaluation, on_error: float = ON_ERROR) -> float:
    """Fraction of samples with an on-indicator error above ``on_error`` at some layer 1..L.

    Uses ``ev.sample_worst_on`` ``(L+1, B)`` (worst error over all circuits, per layer and
    sample); layer 0, the input, is not counted.
    """
    worst = np.asarray(ev.sample_worst_on)[1:].max(axis=0)
    return float(np.mean(worst > on_error))


def default_chunk_size(net: Network, batch_size: int) -> int:
    """Samples per forward pass: at most the batch, about 8M activations (32 MB) per chunk,
    and at most 64M per-circuit values (``T d`` per sample, needed where activations are dense).
    """
    d = net.circuit_width
    return max(1, min(batch_size, (1 << 23) // (d * net.n_slots), (1 << 26) // (d * net.n_circuits)))


def evaluate_network(net: Network, *, n_active: int | None = None, batch_size: int | None = None, seed=0,
             active: np.ndarray | None = None, payloads: np.ndarray | None = None,
             ideal: bool = False, chunk_size: int | None = None, progress: bool = False) -> Evaluation:
    """Measure a network's errors against the small system's own run.

    (``circuits.evaluate`` also takes an :class:`circuits.ExperimentSpec`; this is the form for a
    network in hand.)

    Args:
        net: the network.
        n_active: z, circuits active per sample, drawn by ``net.system.draw`` (whole activation
            groups: a multiple of the group size; payloads on the members that take one).
        batch_size: B, the number of samples.
        seed: seeds the draws of active circuits and payloads.
        active: ``(B, z)`` given active circuits instead of drawing them.
        payloads: ``(B, z, k)`` given payloads (unit vectors for rotation circuits); default with
            ``active``: a random unit payload for each circuit that takes one in its activation group.
        ideal: replace ReLU by the active-neuron mask.
        chunk_size: samples per forward pass (memory bound); results do not depend on it (on
            the CPU, bit for bit). Default: :func:`default_chunk_size`.
        progress: show a tqdm bar over chunks.

    Returns:
        :class:`Evaluation`.

    Example:
        >>> from circuits import rotation_circuits, build
        >>> net = build(rotation_circuits(n_circuits=100, seed=0), width=800, redundancy=2, n_layers=2, seed=0)
        >>> ev = evaluate_network(net, n_active=2, batch_size=50, seed=1)
        >>> float(ev.table["measured"].max()) < 1e-5  # T S <= D/d: no shared neurons, exact up to float32
        True
    """
    require(isinstance(net, Network), f"net must be a circuits.Network, got {type(net).__name__}", parameter="net")
    system = net.system
    d, L = net.circuit_width, net.network_layers
    rng = np.random.default_rng(_checked_seed(seed))
    if active is None:
        require(n_active is not None and batch_size is not None, "give n_active and batch_size, or active circuits",
                parameter="n_active")
        check_memory(net, require_int("batch_size", batch_size, 1), system.check_n_active(n_active))
        active, drawn = system.draw(n_active, batch_size, rng)
        payloads = drawn if payloads is None else payloads
    else:
        active = system.check_active(active)
        require(n_active is None or n_active == active.shape[1],
                f"n_active = {n_active} but active has z = {active.shape[1]}", parameter="n_active")
        require(batch_size is None or batch_size == active.shape[0],
                f"batch_size = {batch_size} but active has B = {active.shape[0]}", parameter="batch_size")
        check_memory(net, *active.shape)
    B, z = active.shape
    k = system.payload_dim
    if payloads is None:  # a unit payload for each circuit that takes one in its activation group
        payloads = draw_payloads((B, z), k, rng) * system.takes_payload(active)[..., None]
    inputs = system.encode(payloads, (B, z))
    ref = system.run(active, inputs, net.n_layers)  # (L+1, B, z, d)
    truth_on = system.family.read_on(ref)
    truth_payload = system.family.read_payload(ref)
    chunk_size = require_int("chunk_size", default_chunk_size(net, B) if chunk_size is None else chunk_size, 1)

    # Per-sample accumulators (float64), summed once at the end: independent of chunking.
    acc = {key: np.zeros((L + 1, B)) for key in
           ("a_on_sq", "a_pl_sq", "i_on_sq", "i_pl_sq", "a_on_max", "a_pl_max", "i_on_max", "i_pl_max",
            "s_count", "s_mass", "u_count", "u_mass")}
    on_count = np.zeros((L + 1, B, d))
    est_on = np.zeros((L + 1, B, z))
    est_payload = np.zeros((L + 1, B, z, k))
    starts = range(0, B, chunk_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="evaluate", unit="chunk")
    with torch.no_grad():
        for lo in starts:
            hi = min(B, lo + chunk_size)
            act = active[lo:hi]
            for state in net.trace(act, inputs[lo:hi], ideal=ideal):
                layer = state.layer
                _measure(net, state, act, truth_on[layer, lo:hi], truth_payload[layer, lo:hi],
                         (acc, on_count, est_on, est_payload, lo, hi))

    depth = system.depth()[active]  # (B, z)
    payload_error = np.linalg.norm(est_payload - truth_payload, axis=-1) if k else None
    table = _table(net, acc, z, B, depth, payload_error)
    frac = on_count.mean(axis=1) / net.n_slots  # (L+1, d)
    fraction_on = pd.DataFrame([{"layer": layer, "neuron_group": i, "fraction": float(frac[layer, i])}
                                for layer in range(L + 1) for i in range(d)])
    worst_on = np.maximum(acc["a_on_max"], acc["i_on_max"])  # (L+1, B)
    over = np.nonzero(worst_on[1:].max(axis=1) > ON_ERROR)[0]
    seizure = int(over[0]) + 1 if len(over) else None
    config = {**describe(net), "n_active": int(z), "batch_size": int(B), "evaluation_seed": jsonable_seed(seed),
              "ideal": bool(ideal)}
    return Evaluation(table=table, fraction_on=fraction_on, load=net.load,
                      critical_load=predicted_critical_load(net.system, net.scheme, width=net.width,
                                                            redundancy=net.redundancy, n_active=z,
                                                            n_layers=net.n_layers),
                      seizure_layer=seizure,
                      config=config, active=active, sample_worst_on=worst_on, truth_on=truth_on,
                      estimate_on=est_on, truth_payload=truth_payload, estimate_payload=est_payload)


def _checked_seed(seed):
    """The seed of the draws: an integer >= 0, or a numpy ``Generator``/``SeedSequence``."""
    if isinstance(seed, (np.random.Generator, np.random.SeedSequence, np.random.BitGenerator)):
        return seed
    return require_int("seed", seed, 0)


def check_memory(net: Network, batch_size: int, n_active: int) -> None:
    """Refuse an evaluation whose per-sample records (the reference run, the estimates, the accumulators:
    about ``(L+1) B (d + z (d + k + 2) + 10)`` float64 values, twice over while they are made) exceed the
    memory available now, naming ``batch_size``, before anything is drawn."""
    L, d, k = net.network_layers, net.circuit_width, net.system.payload_dim
    need = 2 * 8 * (L + 1) * batch_size * (d + n_active * (d + k + 2) + 10)
    free = available_memory()
    require(need <= free, f"batch_size = {batch_size} needs about {need / 2**30:.3g} GiB for the evaluation's records, "
                          f"more than the {free / 2**30:.3g} GiB available here; lower batch_size",
            parameter="batch_size")


def describe(net: Network) -> dict:
    """The parameters of a network, with the spec's names (``system``, ``width``, ``n_circuits``, ...)."""
    system = net.system
    c = net.config
    return {"system": system.name, **system.params, "error_correction": system.error_correction.spec,
            "width": c.width, "n_circuits": net.n_circuits, "redundancy": c.redundancy, "n_layers": c.n_layers,
            "weight_scheme": c.weight_scheme.text, "chi_scale": c.chi_scale, "assignment": c.assignment,
            "circuit_width": net.circuit_width, "base_width": system.base_width,
            "network_layers": net.network_layers, "system_seed": jsonable_seed(system.seed),
            "network_seed": jsonable_seed(c.seed)}




def _measure(net, state, act, t_on, t_payload, out):
    """Accumulate the errors of one chunk at one layer into the per-sample accumulators.

    Inactive circuits outside ``state.touched`` all read the same value (zero for the capped
    scheme), so they enter the sums as a count times one value. Everything is float64 from the
    float32 read-outs, but for the sums over every circuit of a sample held densely
    (:func:`_measure_dense`).
    """
    acc, on_count, est_on, est_payload, lo, hi = out
    fam = net.system.family
    layer, touched = state.layer, state.touched
    b, z = act.shape
    T, N = net.n_circuits, net.n_slots
    dev = touched.rows.device
    sample_of_row = torch.div(touched.rows, N, rounding_mode="floor")  # only nonzero slots can be on
    on = (touched.values > ON_THRESHOLD).long()  # counted in integers: exact in any order
    on_count[layer, lo:hi] = torch.zeros(b, on.shape[1], dtype=on.dtype, device=dev).index_add_(
        0, sample_of_row, on).cpu().numpy()
    # spurious on-indicators and unowned payloads: nonzero slots that no active circuit owns at this layer
    owned = torch.zeros(b * N, dtype=torch.bool, device=dev)
    owned[torch.as_tensor((np.arange(b)[:, None, None] * N + net.assignment.sets[layer][act]).ravel(), device=dev)] = True
    unowned = ~owned.index_select(0, touched.rows)
    values = touched.values[unowned].double().cpu().numpy()
    alpha = fam.read_on(values)
    where = sample_of_row[unowned].cpu().numpy()
    acc["s_count"][layer, lo:hi] = np.bincount(where, weights=alpha > ON_THRESHOLD, minlength=b)
    acc["s_mass"][layer, lo:hi] = np.bincount(where, weights=alpha**2, minlength=b)
    if fam.payload_neurons:
        payload = values[:, list(fam.payload_neurons)]
        acc["u_count"][layer, lo:hi] = np.bincount(where, weights=(payload > ON_THRESHOLD).any(1), minlength=b)
        acc["u_mass"][layer, lo:hi] = np.bincount(where, weights=(payload**2).sum(1), minlength=b)
    # active circuits
    small = net.read(state, act).double().cpu().numpy()  # (b, z, d)
    a_on = fam.read_on(small)
    a_pl = fam.read_payload(small)
    est_on[layer, lo:hi] = a_on
    est_payload[layer, lo:hi] = a_pl
    e_on = np.abs(a_on - t_on)
    e_pl = np.linalg.norm(a_pl - t_payload, axis=-1)
    acc["a_on_sq"][layer, lo:hi] = (e_on**2).sum(1)
    acc["a_on_max"][layer, lo:hi] = e_on.max(1)
    acc["a_pl_sq"][layer, lo:hi] = (e_pl**2).sum(1)
    acc["a_pl_max"][layer, lo:hi] = e_pl.max(1) if e_pl.size else 0.0
    # inactive circuits: the touched ones one by one, the rest as one value per sample
    a, c = net.scheme.read_coefficients(net.constants[layer], net.redundancy)
    values = a * touched.sums - c * touched.total.index_select(0, touched.sample) if c else a * touched.sums
    rest = -c * touched.total
    sample = touched.sample.cpu().numpy()
    circuit = touched.circuit.cpu().numpy()
    # (b T,) the chunk's active circuits, flat ``sample * T + circuit``: one lookup per touched circuit
    is_active = np.zeros(b * T, dtype=bool)
    is_active[(np.arange(b)[:, None] * T + act).ravel()] = True
    inactive = ~is_active[sample * T + circuit]
    sample = sample[inactive]
    values = values[torch.as_tensor(inactive, device=dev)].double().cpu().numpy()
    i_on = np.abs(fam.read_on(values))
    i_pl = np.linalg.norm(fam.read_payload(values), axis=-1)
    rest = rest.double().cpu().numpy()
    rest_on = np.abs(fam.read_on(rest))
    rest_pl = np.linalg.norm(fam.read_payload(rest), axis=-1)
    n_rest = (T - z) - np.bincount(sample, minlength=b)
    square, worst = {}, {}
    for key, err, err_rest in (("i_on", i_on, rest_on), ("i_pl", i_pl, rest_pl)):
        square[key] = np.bincount(sample, weights=err**2, minlength=b) + n_rest * err_rest**2
        worst[key] = np.where(n_rest > 0, err_rest, 0.0)
        np.maximum.at(worst[key], sample, err)
    # samples held densely: every circuit read at once
    if len(touched.dense):
        _measure_dense(net, state, act, square, worst)
    for key in square:
        acc[key + "_sq"][layer, lo:hi] = square[key]
        acc[key + "_max"][layer, lo:hi] = worst[key]


#: Most float32 values in one temporary array of :func:`_measure_dense` (bounds its memory: 16 MB).
DENSE_MEASURE_BUDGET = 1 << 22


def _measure_dense(net: Network, state, act: np.ndarray, square: dict, worst: dict) -> None:
    """The inactive circuits' squared errors summed, and their worst error, of the samples held densely.

    Args:
        net: the network.
        state: the :class:`circuits.construction._network.LayerState` of one chunk at one layer.
        act: ``(b, z)`` the chunk's active circuits.
        square, worst: ``{"i_on": (b,), "i_pl": (b,)}`` float64, written at the dense samples' rows.

    Where the family reads its on-indicator and payload linearly (:attr:`circuits.SmallSystem.on_read`,
    :attr:`circuits.SmallSystem.payload_read`), every circuit's errors are made in float32 by one product of
    its input sums with those reads (``state.touched.dense_sums``; no ``(m, T, d)`` read-out is formed) and
    summed per sample in float64: the sums differ from a float64 computation by the float32 rounding of each
    term (about 1e-7 relative). The worst error is the float64 one: the circuits whose float32 error lies
    within its rounding bound of the largest are read again in float64 with the family's own decoding, as
    everywhere else. Other families are read in float64 throughout.
    """
    system, touched = net.system, state.touched
    fam = system.family
    T, m, d = touched.dense_sums.shape
    k = fam.payload_dim
    rows = touched.dense.cpu().numpy()
    on_read, payload_read = system.on_read, system.payload_read
    if on_read is None or (k and payload_read is None):
        _measure_dense_float64(fam, net.read_touched(state)[2], rows, act, square, worst)
        return
    dev = touched.dense_sums.device
    a, c = net.scheme.read_coefficients(net.constants[state.layer], net.redundancy)
    matrix = on_read[None] if not k else np.concatenate([on_read[None], payload_read])  # (1 + k, d)
    total = touched.total.index_select(0, touched.dense)  # (m, d)
    offset = [c * x for x in _decode(total, matrix)] if c else None  # (m,) each: what -c total adds to a read
    # |float32 - float64| of an error <= 2 d eps sqrt(k) max_i sum_j |matrix_ij| max_j |read_j| (a read is at most
    # |a| S times the largest activation plus |c| times the total), plus the rounding of the square root
    largest = touched.acts.index_select(0, touched.dense).abs().amax(dim=(1, 2))  # (m,)
    reads_bound = abs(a) * net.redundancy * largest + abs(c) * total.abs().amax(1)
    bound = 2 * d * 2.0**-24 * float(np.abs(matrix).sum(1).max()) * math.sqrt(max(k, 1)) * reads_bound
    keys = ("i_on", "i_pl") if k else ("i_on",)
    errors = {key: torch.empty(T, m, device=dev) for key in keys}  # every circuit's squared error, float32
    step = max(1, DENSE_MEASURE_BUDGET // (m * (2 * d + 2)))
    for lo in range(0, T, step):
        sums = touched.dense_sums[lo:lo + step]
        if a != 1:  # the reads a * sums, written neuron-major ((d, Tc, m)) so that _decode reads contiguous planes
            reads = torch.empty((d,) + sums.shape[:-1], device=dev)
            sums = torch.mul(sums.movedim(-1, 0), a, out=reads).movedim(0, -1)
        decoded = _decode(sums, matrix)  # (Tc, m) each
        if offset is not None:
            decoded = [x - o for x, o in zip(decoded, offset)]
        torch.mul(decoded[0], decoded[0], out=errors["i_on"][lo:lo + step])
        if k:
            err = errors["i_pl"][lo:lo + step]
            torch.mul(decoded[1], decoded[1], out=err)
            for x in decoded[2:]:
                err += x * x
    active = torch.as_tensor(act[rows], device=dev).reshape(-1)
    sample = torch.arange(m, device=dev).repeat_interleave(act.shape[1])
    by_sample = torch.empty(m, T, dtype=torch.float64, device=dev)  # one sample's errors in a row, float64
    for key in keys:
        err_sq = errors[key]  # (T, m)
        err_sq[active, sample] = 0.0  # the active circuits: no error counted
        # each sample's errors in float64, summed one sample at a time (the same order whatever the chunk)
        square[key][rows] = by_sample.copy_(err_sq.t()).cpu().numpy().sum(1)
        largest = err_sq.amax(0).sqrt()
        floor = (largest - 2 * (bound + 4 * 2.0**-24 * largest)).clamp(min=0.0)
        near = err_sq >= (floor * floor * (1 - 2.0**-20))[None, :]
        near[active, sample] = False
        t, j = near.nonzero(as_tuple=True)
        sums = touched.dense_sums[t, j]  # (n, d): the candidates for the largest error, read again in float64
        reads = a * sums - c * total.index_select(0, j) if c else a * sums
        reads = reads.double().cpu().numpy()
        exact = fam.read_on(reads) ** 2 if key == "i_on" else (fam.read_payload(reads) ** 2).sum(-1)
        best = np.zeros(m)
        np.maximum.at(best, j.cpu().numpy(), exact)
        worst[key][rows] = np.sqrt(best)


def _decode(x: torch.Tensor, matrix: np.ndarray) -> list[torch.Tensor]:
    """``[matrix[i] @ x[..., :]]`` for every row ``i`` of ``matrix`` ``(r, d)``, from ``x`` ``(..., d)``: products and
    sums one elementwise operation at a time, zero coefficients left out (so every value is made the same way
    whatever the shape of ``x``, the machine or its threads)."""
    out = []
    for row in matrix:
        acc = None
        for j in np.nonzero(row)[0]:
            coef = float(row[j])
            term = x[..., j] if coef in (1.0, -1.0) else x[..., j] * coef
            if acc is None:
                acc = term.clone() if coef == 1.0 else (-term if coef == -1.0 else term)
            elif coef == -1.0:
                acc -= term
            else:
                acc += term
        out.append(acc if acc is not None else torch.zeros(x.shape[:-1], device=x.device))
    return out


def _measure_dense_float64(fam, reads: torch.Tensor, rows: np.ndarray, act: np.ndarray, square: dict,
                           worst: dict) -> None:
    """:func:`_measure_dense` in float64 with the family's own decoding, for families not read linearly."""
    T = reads.shape[0]
    step = max(1, DENSE_MEASURE_BUDGET // (2 * T * reads.shape[2]))
    for lo in range(0, len(rows), step):
        at = rows[lo:lo + step]
        small = reads[:, lo:lo + step].transpose(0, 1).double().cpu().numpy()  # (mc, T, d)
        is_active = np.zeros(small.shape[:2], dtype=bool)
        is_active[np.arange(len(at))[:, None], act[at]] = True
        for key, err_sq in (("i_on", fam.read_on(small) ** 2), ("i_pl", (fam.read_payload(small) ** 2).sum(-1))):
            err_sq[is_active] = 0.0
            square[key][at] = err_sq.sum(1)
            worst[key][at] = np.sqrt(err_sq.max(1))


def boundary_model(system: SmallSystem, scheme: WeightScheme) -> BoundaryModel | None:
    """The boundary theory's model of a network with this system and weight scheme, or ``None`` where the
    theory does not apply (the scheme has no model, or the system is not independent circuits with a 2-ReLU
    step on-indicator: :attr:`circuits.SmallSystem.step_theory`)."""
    model = scheme.boundary_model()
    return model if model is not None and system.step_theory else None


def predicted_critical_load(system: SmallSystem, scheme: WeightScheme, *, width: int, redundancy: int,
                            n_active: int, criterion: str = "payload", n_layers: int | None = None) -> float:
    """Theory's critical load ``T (d/D)^2`` (base d) for a network of ``system`` built with ``scheme`` at this
    width and redundancy, with ``n_active`` circuits active, under ``criterion``
    (:meth:`theory.BoundaryModel.critical_load`); NaN where the theory does not apply or has no constant.

    The one prediction every entry point shows: :attr:`Evaluation.critical_load`, ``cis scaling``'s
    ``predicted`` column, the boundary finder. ``system`` may be any system of the same kind (its size does
    not enter): the spec's probe will do. ``n_layers`` (L) is needed by the criteria whose theory depends on
    the depth (``payload-mse``).
    """
    model = boundary_model(system, scheme)
    if model is None:
        return math.nan
    lam = model.critical_load(criterion, width // system.circuit_width, redundancy, n_active,
                              margin=system.error_correction.margin, n_layers=n_layers)
    return math.nan if math.isnan(lam) else lam * (system.base_width / system.circuit_width) ** 2


def spurious_prediction(net: Network, n_active: int) -> tuple[float | None, float | None]:
    """Theory's expected spurious count and mass at layer 2 (:meth:`theory.BoundaryModel.spurious_layer2`) with
    the network's own chi and step margin, where the theory applies; else ``(None, None)``."""
    model = boundary_model(net.system, net.scheme)
    if model is None:
        return None, None
    return model.spurious_layer2(net.n_slots, net.n_circuits, net.redundancy, n_active,
                                 chi=net.constants[2].get("chi", 0.0), margin=net.system.error_correction.margin)


def payload_row(system: SmallSystem) -> PayloadRow | None:
    """The payload rows of ``system`` as the payload theory sees them (:class:`theory.PayloadRow`), or ``None``
    where the theory does not apply (no payload, not :attr:`circuits.SmallSystem.step_theory`, or payload rows
    that differ in gain or bias).

    Gain and bias from layer 2's shared weights and the bias. ``hit``: the mean square of a circuit's own-row
    term ``diff_w[u, i, :] @ s`` over the payload rows ``i``, the first (up to 256) circuits ``u`` and the clean
    layer-1 states ``s`` of the first (up to 64) circuits, each with 16 payloads at equal angles (unit
    vectors for 2-vectors, else the standard basis): deterministic, a property of the system alone.

    Example:
        >>> from circuits import rotation_circuits
        >>> row = payload_row(rotation_circuits(300, seed=0))
        >>> row.gain, row.bias, round(row.hit, 2), row.neurons
        (2.0, -1.0, 0.5, 2)
    """
    if system not in _PAYLOAD_ROWS:
        _PAYLOAD_ROWS[system] = _payload_row(system)
    return _PAYLOAD_ROWS[system]


#: :func:`payload_row` of the systems alive now (a system is immutable; each evaluation of a network asks again).
_PAYLOAD_ROWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _payload_row(system: SmallSystem) -> PayloadRow | None:
    """:func:`payload_row`, computed."""
    fam = system.family
    payload = list(fam.payload_neurons)
    if not payload or not system.step_theory:
        return None
    mean, diff = system.layer_weights(2 if (fam.n_weight_layers or 2) >= 2 else 1)
    gains, biases = mean[payload, fam.on_neurons[0]], np.asarray(fam.bias)[payload]
    if np.ptp(gains) > 1e-12 or np.ptp(biases) > 1e-12:
        return None
    k = fam.payload_dim
    if k == 2:
        theta = np.arange(16) * (2 * np.pi / 16)
        probe = np.stack([np.cos(theta), np.sin(theta)], -1)
    else:
        probe = np.eye(k)
    first_mean, first_diff = system.layer_weights(1)
    starts = fam.encode(probe, (len(probe),))  # (K, d)
    states = np.maximum(np.einsum("tij,kj->tki", first_mean + first_diff[:64], starts) + fam.bias, 0.0)
    terms = np.einsum("upj,sj->usp", diff[:256][:, payload, :], states.reshape(-1, fam.circuit_width))
    return PayloadRow(gain=float(gains[0]), bias=float(biases[0]), hit=float(np.mean(terms**2)),
                      neurons=len(payload))


def unowned_payload_prediction(net: Network, n_active: int) -> tuple[float | None, float | None]:
    """Theory's expected unowned payload count and mass at layer 2
    (:meth:`theory.BoundaryModel.unowned_payload_layer2`), where the theory applies; else ``(None, None)``."""
    model = boundary_model(net.system, net.scheme)
    row = payload_row(net.system)
    if model is None or row is None:
        return None, None
    return model.unowned_payload_layer2(net.n_slots, net.n_circuits, net.redundancy, n_active, row,
                                        chi=net.constants[2].get("chi", 0.0))


def _table(net: Network, acc: dict, z: int, B: int, depth: np.ndarray, payload_error) -> pd.DataFrame:
    """The tidy table of :class:`Evaluation` (see :data:`TABLE_COLUMNS`)."""
    system = net.system
    T = net.n_circuits
    has_payload = system.payload_dim > 0
    roles = (INPUT,) + system.roles(net.n_layers)
    computation = (0,) + system.computation_layers(net.n_layers)
    # theory: the formula at the computation layer, with the base d and the network's own slot count
    width_base = net.n_slots * system.base_width
    receivers_active = bool(np.any(depth > 1))
    model = boundary_model(system, net.scheme)

    def theory(state: str, quantity: str, comp: int):
        """The construction's own prediction where it has one (the active payload of gated weights), else the
        capped construction's formula."""
        if (state, quantity) == ("active", "payload") and model is not None:
            own = model.active_payload_mse(comp, T, width_base, system.base_width, net.redundancy, z)
            if own is not None:
                return own
        return predicted_mse(state, quantity, comp, T, width_base, system.base_width, net.redundancy, z)

    records = []
    for layer in range(net.network_layers + 1):
        role, comp = roles[layer], computation[layer]
        for state, count in (("active", z), ("inactive", T - z)):
            for quantity in ("on", "payload"):
                if (quantity == "payload" and not has_payload) or count == 0:
                    continue
                key = ("a_" if state == "active" else "i_") + ("on" if quantity == "on" else "pl")
                mse = float(acc[key + "_sq"][layer].sum() / (B * count))
                worst = float(acc[key + "_max"][layer].max())
                pred = None
                if role == COMPUTATION and not (state == "active" and quantity == "payload" and receivers_active):
                    pred = theory(state, quantity, comp)
                records.append((layer, comp, role, state, None, quantity, "mse", mse, pred))
                records.append((layer, comp, role, state, None, quantity, "worst", worst, None))
        if has_payload and system.couplings is not None:
            for p in np.unique(depth).tolist():
                e = payload_error[layer][depth == p]
                pred = None
                if role == COMPUTATION and p == 1:
                    pred = theory("active", "payload", comp)
                records.append((layer, comp, role, "active", p, "payload", "mse", float(np.mean(e ** 2)), pred))
                records.append((layer, comp, role, "active", p, "payload", "worst", float(e.max()), None))
        if layer >= 1:  # spurious on-indicators and payloads: slots no active circuit owns (zero at layers 0 and 1)
            second = layer == 2 and role == COMPUTATION
            pred = spurious_prediction(net, z) if second else (None, None)
            for stat, key, p in (("count", "s_count", pred[0]), ("mass", "s_mass", pred[1])):
                records.append((layer, comp, role, "unowned", None, "on", stat, float(acc[key][layer].mean()), p))
            if has_payload:
                pred = unowned_payload_prediction(net, z) if second else (None, None)
                for stat, key, p in (("count", "u_count", pred[0]), ("mass", "u_mass", pred[1])):
                    records.append((layer, comp, role, "unowned", None, "payload", stat,
                                    float(acc[key][layer].mean()), p))
    table = pd.DataFrame(records, columns=TABLE_COLUMNS)
    table["computation_layer"] = table["computation_layer"].where(table["role"] != CLEANUP).astype("Int64")
    table["depth"] = table["depth"].astype("Int64")
    table["predicted"] = table["predicted"].astype("float64")
    return table
