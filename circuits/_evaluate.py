"""Evaluation: run many random forward passes and measure the error of every read-out.

Per layer ``l = 1..L`` and over a batch of samples (each with ``z`` active circuits):

- ``active``/``on``: on-indicator of the active circuits (truth: the small circuits' own run);
- ``active``/``payload``: their payload (error: L2 norm of the difference);
- ``inactive``/``on`` and ``inactive``/``payload``: read from every other circuit (truth: 0);

each as mean squared error (``mse``) and worst absolute error (``worst``), beside the
prediction of :mod:`theory`. Also the fraction of neurons on (> 1e-4) per group and the
first layer where a worst-case on-indicator error exceeds 0.25 (the "seizure" layer).
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
        n_active: z, circuits active per sample (1 <= z <= T); drawn uniformly, distinct.
        batch_size: B, the number of samples.
        seed: seeds the draws of active circuits and payloads.
        active: ``(B, z)`` given active circuits instead of drawing them.
        payloads: ``(B, z, k)`` given payloads (unit vectors for rotation circuits).
        ideal: replace ReLU by the active-neuron mask.
        chunk_size: samples per forward pass (memory bound); results do not depend on it.
        progress: show a tqdm bar over chunks.

    Returns:
        :class:`Evaluation`.

    Example:
        >>> from circuits import rotation_circuits, build, evaluate
        >>> net = build(rotation_circuits(n_circuits=100, seed=0), width=800, redundancy=2,
        ...             n_layers=2, seed=0)
        >>> ev = evaluate(net, n_active=2, batch_size=50, seed=1)
        >>> float(ev.table["measured"].max())  # T S <= D/d: no shared neurons, exact
        0.0
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
    if active is None:
        active = draw_active(T, z, B, rng)
    k = fam.payload_dim
    if payloads is None:
        payloads = draw_payloads((B, z), k, rng)
    payloads = np.asarray(payloads, dtype=np.float64)
    require(payloads.shape == (B, z, k), f"payloads must have shape {(B, z, k)}, got {payloads.shape}")
    require(bool(np.all(np.isfinite(payloads))), "payloads must be finite")
    inputs = fam.encode(payloads, (B, z))
    ref = fam.run(active, inputs, L)  # (L+1, B, z, d)
    truth_on = fam.decode_on(ref)
    truth_payload = fam.decode_payload(ref)

    if chunk_size is None:
        chunk_size = max(1, min(B, int(2e7 // max(1, d * T * net.redundancy))))
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
            # Layer 0 is measured on the input written into the network (a[0] in e[0]);
            # the network itself carries the first pre-activations there.
            _measure(net, net.place(act, inputs[lo:hi], 0), 0, act, truth_on[0, lo:hi],
                     truth_payload[0, lo:hi], acc, on_count, est_on, est_payload, lo, hi)
            acts = net.embed(act, inputs[lo:hi])
            for layer in range(1, L + 1):
                acts = net.step(layer, acts, active=act if ideal else None)
                _measure(net, acts, layer, act, truth_on[layer, lo:hi], truth_payload[layer, lo:hi],
                         acc, on_count, est_on, est_payload, lo, hi)

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


def _measure(net, acts, layer, act, t_on, t_payload, acc, on_count, est_on, est_payload, lo, hi):
    """Accumulate the errors of one chunk at one layer into the per-sample accumulators."""
    fam = net.family
    b = hi - lo
    on_count[layer, lo:hi] = (acts > ON_THRESHOLD).sum(-1).double().cpu().numpy()
    small = net.read_out(acts, layer).double().cpu().numpy()  # (b, T, d)
    on_hat = fam.decode_on(small)  # (b, T)
    pl_hat = fam.decode_payload(small)  # (b, T, k)
    rows = np.arange(b)[:, None]
    a_on = on_hat[rows, act]
    a_pl = pl_hat[rows, act]
    est_on[layer, lo:hi] = a_on
    est_payload[layer, lo:hi] = a_pl
    e_on = np.abs(a_on - t_on)
    e_pl = np.linalg.norm(a_pl - t_payload, axis=-1)
    acc["a_on_sq"][layer, lo:hi] = (e_on**2).sum(1)
    acc["a_on_max"][layer, lo:hi] = e_on.max(1)
    acc["a_pl_sq"][layer, lo:hi] = (e_pl**2).sum(1)
    acc["a_pl_max"][layer, lo:hi] = e_pl.max(1) if e_pl.size else 0.0
    inactive = np.ones(on_hat.shape, dtype=bool)
    inactive[rows, act] = False
    i_on = np.where(inactive, np.abs(on_hat), 0.0)
    i_pl = np.where(inactive, np.linalg.norm(pl_hat, axis=-1), 0.0)
    acc["i_on_sq"][layer, lo:hi] = (i_on**2).sum(1)
    acc["i_on_max"][layer, lo:hi] = i_on.max(1)
    acc["i_pl_sq"][layer, lo:hi] = (i_pl**2).sum(1)
    acc["i_pl_max"][layer, lo:hi] = i_pl.max(1)


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
