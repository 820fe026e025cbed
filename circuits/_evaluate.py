"""Evaluation: run many random forward passes and measure the error of every read-out.

Per layer ``l = 1..L`` and over a batch of samples (each with ``z`` active circuits):

- ``active``/``on``: on-indicator of the active circuits (truth: the small circuits' own run);
- ``active``/``payload``: their payload (error: L2 norm of the difference);
- ``inactive``/``on`` and ``inactive``/``payload``: read from every other circuit (truth: 0);

each as mean squared error (``mse``) and worst absolute error (``worst``), beside the
prediction of :mod:`theory`. Also the fraction of neurons on (> 1e-4) per group and the
first layer where a worst-case on-indicator error exceeds 0.25 (the "seizure" layer).

The inactive statistics never form a ``(B, T, d)`` array: circuits none of whose neurons is
on all read the same value (zero for the capped method) and enter as a count times it; the
others come from :meth:`Network._touched`. Sums are kept per sample in float64 and added up
at the end, so the numbers do not depend on the chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ._errors import require, require_int
from ._network import Network

#: Neurons above this value count as on.
ON_THRESHOLD = 1e-4
#: An on-indicator error above this passes the step function: errors start to compound.
SEIZURE_THRESHOLD = 0.25


@dataclass(frozen=True, eq=False)
class Evaluation:
    """What :func:`evaluate` measured.

    Attributes:
        table: tidy frame, one row per (layer, group, quantity, stat) with ``measured`` and
            ``predicted`` (NaN where theory says nothing); layers 1..L.
        fraction_on: tidy frame (layer, neuron_group, fraction) for layers 0..L.
        load: ``T (d/D)^2``.
        seizure_layer: first layer whose worst on-indicator error exceeds 0.25, else ``None``.
        config: every parameter of the network and of the evaluation.
        active: ``(B, z)`` the active circuits drawn.
        sample_worst_on: ``(L+1, B)`` worst on-indicator error (any circuit) per sample.
        truth_on, estimate_on: ``(L+1, B, z)`` on-indicator of the active circuits.
        truth_payload, estimate_payload: ``(L+1, B, z, k)`` their payloads.
    """

    table: pd.DataFrame
    fraction_on: pd.DataFrame
    load: float
    seizure_layer: int | None
    config: dict
    active: np.ndarray = field(repr=False)
    sample_worst_on: np.ndarray = field(repr=False)
    truth_on: np.ndarray = field(repr=False)
    estimate_on: np.ndarray = field(repr=False)
    truth_payload: np.ndarray = field(repr=False)
    estimate_payload: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        """The JSON form printed by ``cis evaluate --format json``."""
        rows = []
        for rec in self.table.to_dict("records"):
            pred = rec["predicted"]
            rec["predicted"] = None if pred is None or not np.isfinite(pred) else float(pred)
            rec["measured"] = float(rec["measured"])
            rec["layer"] = int(rec["layer"])
            rows.append(rec)
        frac = {}
        for (layer,), grp in self.fraction_on.groupby(["layer"]):
            frac[int(layer)] = [float(v) for v in grp.sort_values("neuron_group")["fraction"]]
        return {
            "config": self.config,
            "load": self.load,
            "seizure_layer": self.seizure_layer,
            "rows": rows,
            "fraction_on": [{"layer": k, "fraction": v} for k, v in sorted(frac.items())],
        }


def draw_active(n_circuits: int, n_active: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """``(B, z)`` circuit indices, each row z distinct circuits drawn uniformly.

    Rows with a repeat are redrawn whole (rejection), so every z-subset is equally likely.
    """
    active = rng.integers(n_circuits, size=(batch_size, n_active))
    while True:
        srt = np.sort(active, axis=1)
        bad = np.any(srt[:, 1:] == srt[:, :-1], axis=1)
        if not bad.any():
            return active
        active[bad] = rng.integers(n_circuits, size=(int(bad.sum()), n_active))


def draw_payloads(shape: tuple[int, ...], dim: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors ``shape + (dim,)``: at a uniform angle for dim 2, else uniform on the sphere."""
    if dim == 0:
        return np.zeros(shape + (0,))
    if dim == 2:
        theta = rng.uniform(0.0, 2 * np.pi, size=shape)
        return np.stack([np.cos(theta), np.sin(theta)], -1)
    v = rng.standard_normal(shape + (dim,))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def evaluate(net: Network, *, n_active: int | None = None, batch_size: int | None = None, seed=0,
             active: np.ndarray | None = None, payloads: np.ndarray | None = None,
             ideal: bool = False, chunk_size: int | None = None, progress: bool = False) -> Evaluation:
    """Measure the network's errors against the small circuits' own run.

    Args:
        net: the network.
        n_active: z, circuits active per sample (1 <= z <= T); drawn uniformly, distinct. On
            a network whose graph comes from :func:`circuits.rotation_chains` or
            :func:`circuits.rotation_fan_in` (``family.params["group_size"]``), whole groups are
            drawn instead (z a multiple of the group size; the circuits of depth 1 get the
            payloads, the others 0), as their semantics need: see :func:`circuits.evaluate_graph`.
        batch_size: B, the number of samples.
        seed: seeds the draws of active circuits and payloads.
        active: ``(B, z)`` given active circuits instead of drawing them.
        payloads: ``(B, z, k)`` given payloads (unit vectors for rotation circuits).
        ideal: replace ReLU by the active-neuron mask.
        chunk_size: samples per forward pass (memory bound); results do not depend on it (on
            the CPU, bit for bit). Default: :func:`default_chunk_size`.
        progress: show a tqdm bar over chunks.

    Returns:
        :class:`Evaluation`.

    Example:
        >>> from circuits import rotation_circuits, build, evaluate
        >>> net = build(rotation_circuits(n_circuits=100, seed=0), width=800, redundancy=2,
        ...             n_layers=2, seed=0)
        >>> ev = evaluate(net, n_active=2, batch_size=50, seed=1)
        >>> float(ev.table["measured"].max()) < 1e-5  # T S <= D/d: no shared neurons, exact up to float32
        True
    """
    fam = net.family
    T, d, L = net.n_circuits, net.circuit_width, net.n_layers
    if active is None:
        require(n_active is not None and batch_size is not None,
                "give n_active and batch_size, or active circuits")
        z = require_int("n_active", n_active, 1, T)
        B = require_int("batch_size", batch_size, 1)
    else:
        active = np.asarray(active)
        require(active.ndim == 2 and active.shape[0] >= 1 and active.shape[1] >= 1,
                f"active must have shape (B, z), got {active.shape}")
        B, z = active.shape
        require(np.issubdtype(active.dtype, np.integer) and active.min() >= 0 and active.max() < T,
                f"active must hold circuit indices in 0..{T - 1}")
        srt = np.sort(active, axis=1)
        require(not np.any(srt[:, 1:] == srt[:, :-1]), "active circuits must be distinct within a sample")
        require(n_active is None or n_active == z, f"n_active = {n_active} but active has z = {z}")
        require(batch_size is None or batch_size == B, f"batch_size = {batch_size} but active has B = {B}")
    rng = np.random.default_rng(seed)
    if active is None and getattr(net, "graph", None) is not None and "group_size" in fam.params:
        from ._graph import draw_groups

        G = fam.params["group_size"]
        active, drawn = draw_groups(T, G, z, B, seed, senders=net.graph.depth()[:G] == 1)
        payloads = drawn if payloads is None else payloads
    elif active is None:
        active = draw_active(T, z, B, rng)
    k = fam.payload_dim
    if payloads is None:
        payloads = draw_payloads((B, z), k, rng)
    payloads = np.asarray(payloads, dtype=np.float64)
    require(payloads.shape == (B, z, k), f"payloads must have shape {(B, z, k)}, got {payloads.shape}")
    require(bool(np.all(np.isfinite(payloads))), "payloads must be finite")
    inputs = fam.encode(payloads, (B, z))
    if getattr(net, "graph", None) is None:
        ref = fam.run(active, inputs, L)  # (L+1, B, z, d)
    else:  # cross-circuit edges: the small system run jointly
        from ._graph import run_graph

        ref = run_graph(fam, net.graph, active, inputs, L)
    truth_on = fam.decode_on(ref)
    truth_payload = fam.decode_payload(ref)

    if chunk_size is None:
        chunk_size = default_chunk_size(net, B)
    chunk_size = require_int("chunk_size", chunk_size, 1)

    # Per-sample accumulators (float64), summed once at the end: independent of chunking.
    acc = {key: np.zeros((L + 1, B)) for key in
           ("a_on_sq", "a_pl_sq", "i_on_sq", "i_pl_sq", "a_on_max", "a_pl_max", "i_on_max", "i_pl_max")}
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
            out = (acc, on_count, est_on, est_payload, lo, hi)
            # Layer 0 is measured on the input written into the network (a[0] in e[0]);
            # the network itself carries the first pre-activations there.
            placed = net._place(act, inputs[lo:hi], 0)
            _measure(net, placed, net._touched(placed, 0), 0, act, truth_on[0, lo:hi], truth_payload[0, lo:hi], out)
            del placed
            acts, touched = net._embed(act, inputs[lo:hi]), None
            for layer in range(1, L + 1):
                acts = net._advance(layer, acts, touched, act if ideal else None)
                touched = net._touched(acts, layer)
                _measure(net, acts, touched, layer, act, truth_on[layer, lo:hi], truth_payload[layer, lo:hi], out)

    table = _table(net, acc, z, B)
    frac = on_count.mean(axis=1) / net.n_slots  # (L+1, d)
    fraction_on = pd.DataFrame([{"layer": layer, "neuron_group": i, "fraction": float(frac[layer, i])}
                                for layer in range(L + 1) for i in range(d)])
    worst_on = np.maximum(acc["a_on_max"], acc["i_on_max"])  # (L+1, B)
    over = np.nonzero(worst_on[1:].max(axis=1) > SEIZURE_THRESHOLD)[0]
    seizure = int(over[0]) + 1 if len(over) else None
    config = {
        "family": fam.name, **{f"family_{k_}": v for k_, v in fam.params.items()},
        "family_seed": fam.seed, "n_circuits": T, "circuit_width": d,
        **net.config.to_dict(), "n_active": z, "batch_size": B, "eval_seed": _jsonable(seed),
        "ideal": bool(ideal),
    }
    config["seed"] = _jsonable(config["seed"])
    return Evaluation(table=table, fraction_on=fraction_on, load=net.load, seizure_layer=seizure,
                      config=config, active=active, sample_worst_on=worst_on, truth_on=truth_on,
                      estimate_on=est_on, truth_payload=truth_payload, estimate_payload=est_payload)


def _jsonable(seed):
    return seed if seed is None or isinstance(seed, (int, str)) else str(seed)


def default_chunk_size(net: Network, batch_size: int) -> int:
    """Samples per forward pass: at most the batch, about 8M activations (32 MB) per chunk,
    and at most 64M per-circuit values (``T d`` per sample, needed where activations are dense).
    """
    d = net.circuit_width
    return max(1, min(batch_size, (1 << 23) // (d * net.n_slots), (1 << 26) // (d * net.n_circuits)))


def _measure(net, acts, touched, layer, act, t_on, t_payload, out):
    """Accumulate the errors of one chunk at one layer into the per-sample accumulators.

    ``acts`` is slot-major ``(b, D/d, d)`` and ``touched`` its :class:`Touched` circuits at
    ``layer``. Inactive circuits outside ``touched`` all read the same value (zero for the
    capped method), so they enter the sums as a count times one value.
    """
    acc, on_count, est_on, est_payload, lo, hi = out
    fam = net.family
    b, z = act.shape
    T = net.n_circuits
    sample_of_row = torch.div(touched.rows, net.n_slots, rounding_mode="floor")  # only nonzero slots can be on
    on = (touched.values > ON_THRESHOLD).double()
    on_count[layer, lo:hi] = torch.zeros(b, on.shape[1], dtype=on.dtype, device=on.device).index_add_(
        0, sample_of_row, on).cpu().numpy()
    # active circuits
    small = net._read_circuits(acts, layer, act, touched.total).double().cpu().numpy()  # (b, z, d)
    a_on = fam.decode_on(small)
    a_pl = fam.decode_payload(small)
    est_on[layer, lo:hi] = a_on
    est_payload[layer, lo:hi] = a_pl
    e_on = np.abs(a_on - t_on)
    e_pl = np.linalg.norm(a_pl - t_payload, axis=-1)
    acc["a_on_sq"][layer, lo:hi] = (e_on**2).sum(1)
    acc["a_on_max"][layer, lo:hi] = e_on.max(1)
    acc["a_pl_sq"][layer, lo:hi] = (e_pl**2).sum(1)
    acc["a_pl_max"][layer, lo:hi] = e_pl.max(1) if e_pl.size else 0.0
    # inactive circuits: the touched ones one by one, the rest as one value per sample
    values, rest, dense_values = net._read_touched(touched, layer)
    sample = touched.sample.cpu().numpy()
    circuit = touched.circuit.cpu().numpy()
    inactive = ~(circuit[:, None] == act[sample]).any(1)
    sample = sample[inactive]
    values = values.double().cpu().numpy()[inactive]
    i_on = np.abs(fam.decode_on(values))
    i_pl = np.linalg.norm(fam.decode_payload(values), axis=-1)
    rest = rest.double().cpu().numpy()
    rest_on = np.abs(fam.decode_on(rest))
    rest_pl = np.linalg.norm(fam.decode_payload(rest), axis=-1)
    n_rest = (T - z) - np.bincount(sample, minlength=b)
    square, worst = {}, {}
    for key, err, err_rest in (("i_on", i_on, rest_on), ("i_pl", i_pl, rest_pl)):
        square[key] = np.bincount(sample, weights=err**2, minlength=b) + n_rest * err_rest**2
        worst[key] = np.where(n_rest > 0, err_rest, 0.0)
        np.maximum.at(worst[key], sample, err)
    # samples held densely: every circuit read at once
    dense = touched.dense.cpu().numpy()
    step = max(1, (1 << 22) // max(1, T * net.circuit_width))
    for lo_d in range(0, len(dense), step):
        rows = dense[lo_d:lo_d + step]
        small = dense_values[:, lo_d:lo_d + step].transpose(0, 1).double().cpu().numpy()  # (m, T, d)
        is_active = np.zeros(small.shape[:2], dtype=bool)
        is_active[np.arange(len(rows))[:, None], act[rows]] = True
        for key, err_sq in (("i_on", fam.decode_on(small) ** 2), ("i_pl", (fam.decode_payload(small) ** 2).sum(-1))):
            err_sq[is_active] = 0.0
            square[key][rows] = [row.sum() for row in err_sq]  # row by row: the same whatever m
            worst[key][rows] = np.sqrt(err_sq.max(1))
    for key in square:
        acc[key + "_sq"][layer, lo:hi] = square[key]
        acc[key + "_max"][layer, lo:hi] = worst[key]


def _table(net: Network, acc: dict, z: int, B: int) -> pd.DataFrame:
    from theory import predicted_mse

    T = net.n_circuits
    has_payload = net.family.payload_dim > 0
    n_inactive = T - z
    records = []
    for layer in range(1, net.n_layers + 1):
        for group, count in (("active", z), ("inactive", n_inactive)):
            for quantity in ("on", "payload"):
                if quantity == "payload" and not has_payload:
                    continue
                if count == 0:
                    continue
                key = ("a_" if group == "active" else "i_") + ("on" if quantity == "on" else "pl")
                mse = float(acc[key + "_sq"][layer].sum() / (B * count))
                worst = float(acc[key + "_max"][layer].max())
                pred = predicted_mse(group, quantity, layer, T, net.width, net.circuit_width,
                                     net.redundancy, z)
                records.append((layer, group, quantity, "mse", mse, np.nan if pred is None else pred))
                records.append((layer, group, quantity, "worst", worst, np.nan))
    return pd.DataFrame(records, columns=["layer", "group", "quantity", "stat", "measured", "predicted"])
