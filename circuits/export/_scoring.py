"""Scoring a decomposition against the ground truth: which circuits a method found, and how well.

A decomposition method (parameter decomposition, transcoders, sparse dictionaries of weights,
circuit discovery) returns, per network layer, a set of *components* of the weight matrix.
:func:`score_decomposition` compares them with what the network is known to compute.

Targets. At network layer ``l`` the truth splits the circuits' part of the weights,
``W_c[l] = W[l] - residual(l)``, into ``T + E_l`` targets: ``contribution(t, l)`` of every
circuit ``t`` and ``edge_contribution(e)`` of every cross-circuit edge at ``l``
(:meth:`circuits.GroundTruth.components` lists them in that order).

Components. Per layer, a list of ``(D, D)`` matrices in the layout of
``module.layers[l - 1].weight`` (rows: neurons of layer ``l``, columns: neurons of layer
``l - 1``): numpy arrays, torch tensors or scipy sparse matrices; or factor pairs ``(U, V)``
meaning ``U @ V.T`` with ``U``, ``V`` of shape ``(D,)`` (rank one) or ``(D, r)``. A ``(K, D, D)``
array stands for ``K`` matrices. Matrices and factor pairs cannot be mixed within one layer.

Similarity. ``cos(A, B) = <A, B>_F / (||A||_F ||B||_F)``, the cosine of the two ``(D, D)``
matrices flattened (signed: minus a circuit's share scores -1; a zero component scores 0).

Matching. Per layer, targets and components are paired one to one by the Hungarian assignment
that maximises the total similarity (``scipy.optimize.linear_sum_assignment``); a target left
without a component (fewer components than targets) has similarity 0 and component -1. Each
target's best component (the most similar, possibly shared with other targets) is reported too.
A target is *recovered* when its assigned similarity is at least ``threshold`` (0.9).

Explained fraction. The fraction of ``||W_c[l]||_F^2`` in the span of the layer's assigned
components, ``||P W_c||^2 / ||W_c||^2`` with ``P`` the orthogonal projection onto that span (the
least-squares fit of ``W_c`` by a combination of them, so their scale and sign do not matter);
over layers, ``sum_l ||P_l W_c[l]||^2 / sum_l ||W_c[l]||^2``.

Activity (given a batch). For each assigned pair, the component's output on every sample,
``||C a_b||`` with ``a_b`` the sample's network layer ``l - 1``, is compared with its output on
its target's own activity: the target's circuit (an edge: its sender) active with its
activation group and nothing else, its exact small activations at layer ``l - 1`` placed in its
neurons, averaged over 8 fixed payloads. The component is *active* on a sample when its output
exceeds ``activity_threshold`` (0.6) times that. Its activity is *exact* when it is active on
precisely the samples in which the target's circuit is active; precision and recall say how
far off it is otherwise. Why 0.6: for the truth's own share of a rotation circuit the output on
an active sample is at least about 0.75 of its mean over payloads, while an inactive circuit that
shares one neuron with each of ``z`` active ones reads about ``z / S`` of theirs (at most about
0.45 for z = 2, S = 6) plus the interference of the layer; 0.6 lies between.

What the truth and chance score. The truth's own components score similarity 1 on every target,
recovered fraction 1 and explained fraction 1 (to float64 round-off); in a network whose layers
share no neuron their activity is exact, and below the critical load it is exact for all but a
few targets whose inputs carry unusual interference. A component independent of the
truth with i.i.d. Gaussian entries (or ``u v^T`` with Gaussian ``u``, ``v``) has a cosine of mean
0 and standard deviation ``1/D`` with any fixed target (:attr:`DecompositionScore.chance_similarity`),
so the best of ``K`` is about ``sqrt(2 ln K) / D``; recovered fraction 0; and ``K`` such components
span on average ``K / D^2`` of ``||W_c||^2``. Keeping the truth's components for a subset of the
targets scores that subset's share: recovered fraction = its fraction of the targets, explained
fraction = its share of ``||W_c||^2``.

Cost. Dense matrices cost ``K D^2`` memory per layer: pass sparse matrices or factor pairs
beyond a few thousand neurons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from scipy.optimize import linear_sum_assignment

from ..base import require, require_float, require_int
from ..system import draw_payloads
from ._dataset import Dataset
from ._ground_truth import GroundTruth

#: Payloads of each target's probe (its own activity) in the activity check.
N_PROBES = 8
#: Columns of :attr:`DecompositionScore.table` (the activity columns only with a batch).
TABLE_COLUMNS = ["layer", "target", "index", "circuit", "component", "similarity", "best_component",
                 "best_similarity", "recovered"]
ACTIVITY_COLUMNS = ["active_samples", "component_active_samples", "precision", "recall", "activity_exact"]


@dataclass(frozen=True, eq=False)
class DecompositionScore:
    """What :func:`score_decomposition` found (see ``circuits/export/_scoring.py`` for the definitions).

    Attributes:
        table: one row per (layer, target): ``layer``, ``target`` (``"circuit"`` or ``"edge"``),
            ``index`` (t or e), ``circuit`` (t, or the edge's receiver), ``component`` (the
            assigned component, -1 for none), ``similarity`` (its cosine, 0 for none),
            ``best_component``, ``best_similarity``, ``recovered``; with a batch also
            ``active_samples`` (samples with the target's circuit active),
            ``component_active_samples``, ``precision``, ``recall`` (NaN where undefined) and
            ``activity_exact``.
        layers: one row per layer: ``layer``, ``n_targets``, ``n_components``,
            ``mean_similarity``, ``recovered_fraction``, ``explained_fraction`` (and
            ``activity_exact_fraction`` with a batch).
        summary: over all layers: ``mean_similarity``, ``recovered_fraction``,
            ``explained_fraction``, ``circuits_recovered`` (fraction of circuits recovered at every
            scored layer), with a batch ``activity_exact_fraction``, ``activity_precision``,
            ``activity_recall`` (means over targets where defined); and ``threshold``,
            ``activity_threshold``, ``chance_similarity``.
        chance_similarity: ``1/D``, the standard deviation of the cosine of a random component
            with a fixed target.
    """

    table: pd.DataFrame
    layers: pd.DataFrame
    summary: dict
    chance_similarity: float = field(default=0.0)

    def __repr__(self) -> str:
        s = self.summary
        n = len(self.table)
        text = (f"DecompositionScore(mean_similarity={s['mean_similarity']:.3f}, recovered_fraction="
                f"{s['recovered_fraction']:.3f} ({int(round(s['recovered_fraction'] * n))}/{n} targets at "
                f"{s['threshold']:g}), explained_fraction={s['explained_fraction']:.3f}")
        if "activity_exact_fraction" in s:
            text += f", activity_exact_fraction={s['activity_exact_fraction']:.3f}"
        return text + f", chance_similarity={self.chance_similarity:.4f})"

    def circuits(self) -> pd.DataFrame:
        """Per circuit over the scored layers (circuit targets only): ``circuit``, ``layers``,
        ``mean_similarity``, ``recovered`` (at every layer), and ``activity_exact`` (at every layer) with a batch."""
        rows = self.table[self.table.target == "circuit"]
        agg = {"layers": ("layer", "count"), "mean_similarity": ("similarity", "mean"),
               "recovered": ("recovered", "all")}
        if "activity_exact" in rows:
            agg["activity_exact"] = ("activity_exact", "all")
        return rows.groupby("circuit", as_index=False).agg(**agg)


# ============================================================================ components
class _Stack:
    """One layer's components in one representation: norms, dots with targets, Gram matrix, outputs."""

    def __init__(self, n: int, width: int):
        self.n, self.width = n, width

    def norms(self) -> np.ndarray:
        raise NotImplementedError

    def dots(self, targets: sp.csr_array) -> np.ndarray:
        """``(n_t, K)`` Frobenius products with the targets (rows of ``targets``: flattened ``(D, D)``)."""
        raise NotImplementedError

    def gram(self, idx: np.ndarray) -> np.ndarray:
        """``(m, m)`` Frobenius products among components ``idx``."""
        raise NotImplementedError

    def output_norms(self, k: int, x: np.ndarray) -> np.ndarray:
        """``(n,)`` norms ``||C_k x_b||`` for ``x`` ``(n, D)``."""
        raise NotImplementedError


class _Dense(_Stack):
    def __init__(self, mats: list[np.ndarray], width: int):
        super().__init__(len(mats), width)
        self.flat = np.stack([m.reshape(-1) for m in mats]) if mats else np.zeros((0, width * width))

    def norms(self):
        return np.linalg.norm(self.flat, axis=1)

    def dots(self, targets):
        return np.asarray(targets @ self.flat.T)

    def gram(self, idx):
        x = self.flat[idx]
        return x @ x.T

    def output_norms(self, k, x):
        return np.linalg.norm(x @ self.flat[k].reshape(self.width, self.width).T, axis=1)


class _Sparse(_Stack):
    def __init__(self, mats: list[sp.csr_array], width: int):
        super().__init__(len(mats), width)
        self.mats = mats
        rows, cols, vals = [], [], []
        for i, m in enumerate(mats):
            coo = sp.coo_array(m)
            rows.append(np.full(coo.nnz, i, dtype=np.int64))
            cols.append(coo.row.astype(np.int64) * width + coo.col.astype(np.int64))
            vals.append(coo.data.astype(np.float64))
        cat = (lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dtype=dt))
        self.flat = sp.csr_array((cat(vals, np.float64), (cat(rows, np.int64), cat(cols, np.int64))),
                                 shape=(len(mats), width * width))

    def norms(self):
        return np.sqrt(np.asarray(self.flat.multiply(self.flat).sum(axis=1))).reshape(-1)

    def dots(self, targets):
        return (targets @ self.flat.T).toarray()

    def gram(self, idx):
        x = self.flat[idx]
        return (x @ x.T).toarray()

    def output_norms(self, k, x):
        return np.linalg.norm(np.asarray(self.mats[k] @ x.T), axis=0)


class _Factors(_Stack):
    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], width: int):
        super().__init__(len(pairs), width)
        self.pairs = pairs
        self.u = np.concatenate([u for u, _ in pairs], axis=1) if pairs else np.zeros((width, 0))
        self.v = np.concatenate([v for _, v in pairs], axis=1) if pairs else np.zeros((width, 0))
        owner = np.repeat(np.arange(len(pairs)), [u.shape[1] for u, _ in pairs])
        self.owner = sp.csr_array((np.ones(len(owner)), (np.arange(len(owner)), owner)), shape=(len(owner), len(pairs)))

    def _gram_full(self, cols):
        return (self.u[:, cols].T @ self.u[:, cols]) * (self.v[:, cols].T @ self.v[:, cols])

    def norms(self):
        return np.sqrt(np.maximum(np.diag(self.gram(np.arange(self.n))), 0.0)) if self.n else np.zeros(0)

    def dots(self, targets):
        coo = sp.coo_array(targets)
        rows = coo.col // self.width
        cols = coo.col % self.width
        n_t, R = targets.shape[0], self.u.shape[1]
        out = np.zeros((n_t, R))
        select = sp.csr_array((coo.data, (coo.row, np.arange(coo.nnz))), shape=(n_t, coo.nnz))
        step = max(1, (1 << 23) // max(1, coo.nnz))
        for lo in range(0, R, step):
            hi = min(R, lo + step)
            out[:, lo:hi] = select @ (self.u[rows, lo:hi] * self.v[cols, lo:hi])
        return np.asarray(out @ self.owner)

    def gram(self, idx):
        sub = self.owner[:, np.asarray(idx)]
        cols = np.unique(sub.nonzero()[0])
        sub = sub[cols]
        return np.asarray(sub.T @ (self._gram_full(cols) @ sub))

    def output_norms(self, k, x):
        u, v = self.pairs[k]
        return np.linalg.norm((x @ v) @ u.T, axis=1)


def _matrix(item, width: int, where: str):
    """A component as a dense ``(D, D)`` array or a CSR matrix, after checking its shape."""
    if isinstance(item, torch.Tensor):
        if item.layout != torch.strided:
            item = item.to_dense()
        item = item.detach().cpu().double().numpy()
    if sp.issparse(item):
        m = sp.csr_array(item, dtype=np.float64)
    else:
        m = np.asarray(item, dtype=np.float64)
    require(m.shape == (width, width), f"{where} must be a ({width}, {width}) matrix or a factor pair (U, V), got "
                                       f"shape {m.shape}", parameter="components")
    values = m.data if sp.issparse(m) else m
    require(bool(np.all(np.isfinite(values))), f"{where} must be finite", parameter="components")
    return m


def _factor(item, width: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """A factor pair as ``(U (D, r), V (D, r))`` float64."""
    def arr(x):
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().double().numpy()
        x = np.asarray(x, dtype=np.float64)
        return x[:, None] if x.ndim == 1 else x
    u, v = arr(item[0]), arr(item[1])
    require(u.ndim == 2 and v.ndim == 2 and u.shape[0] == width and v.shape[0] == width and u.shape[1] == v.shape[1]
            and u.shape[1] >= 1, f"{where} must be a factor pair (U, V) of shapes (D,) or (D, r) with D = {width}, "
                                 f"got {u.shape} and {v.shape}", parameter="components")
    require(bool(np.all(np.isfinite(u)) and np.all(np.isfinite(v))), f"{where} must be finite", parameter="components")
    return u, v


def _stack(value, width: int, layer: int) -> _Stack:
    """One layer's components as a :class:`_Stack`."""
    if isinstance(value, torch.Tensor) and value.ndim == 3:
        value = value.detach().cpu().double().numpy()
    if isinstance(value, np.ndarray) and value.ndim == 3:
        value = list(value)
    require(isinstance(value, Sequence) and not isinstance(value, (str, bytes, tuple)),
            f"components[{layer}] must be a list of components (or a (K, D, D) array), got {type(value).__name__}",
            parameter="components")
    pairs = [isinstance(item, tuple) for item in value]
    require(all(pairs) or not any(pairs), f"components[{layer}] mixes factor pairs and matrices; give one kind per "
                                          "layer", parameter="components")
    if value and all(pairs):
        return _Factors([_factor(item, width, f"components[{layer}][{i}]") for i, item in enumerate(value)], width)
    mats = [_matrix(item, width, f"components[{layer}][{i}]") for i, item in enumerate(value)]
    if all(isinstance(m, np.ndarray) for m in mats):
        return _Dense(mats, width)
    return _Sparse([m if sp.issparse(m) else sp.csr_array(m) for m in mats], width)


# ============================================================================ targets
def _flatten(mats: list[sp.csr_array], width: int) -> sp.csr_array:
    """``(n, D^2)`` CSR whose row ``i`` is ``mats[i]`` flattened row-major."""
    return _Sparse(mats, width).flat


def _batch_layers(truth: GroundTruth, batch, layers: list[int]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """``(active (B, z), {layer - 1: (B, D) float64 activations})`` of a batch."""
    net = truth.network
    if isinstance(batch, Dataset):
        require(batch.matches(net), "batch is a data set of another network", parameter="batch")
        active, acts = np.asarray(batch.active), batch.activations
        if acts is None:
            acts = _forward(truth, active, batch.payloads)
    else:
        require(isinstance(batch, tuple) and len(batch) == 2,
                f"batch must be a circuits.export.Dataset or a pair (active, payloads), got {type(batch).__name__}",
                parameter="batch")
        active = net.system.check_active(batch[0])
        acts = _forward(truth, active, batch[1])
    return active, {layer - 1: acts[layer - 1].double().numpy() for layer in layers}


def _forward(truth: GroundTruth, active, payloads) -> torch.Tensor:
    net = truth.network
    active, inputs = truth._inputs(active, payloads)
    with torch.no_grad():
        out = net.forward(active, inputs)
    return torch.stack([a.reshape(len(active), net.width).cpu() for a in out])


def _probes(truth: GroundTruth, layers_in: list[int]) -> dict[int, np.ndarray]:
    """``{layer: (T, P, D)}``: each circuit's group active alone, its exact small activations at ``layer``
    placed in its neurons (layer 0: the first pre-activations, as the module's input holds them)."""
    net = truth.network
    system = net.system
    T, G, D, k = net.n_circuits, system.groups.size, net.width, system.payload_dim
    out = {layer: np.zeros((T, N_PROBES, D), dtype=np.float32) for layer in layers_in}
    grouped = (T // G) * G
    rng = np.random.default_rng(0)
    for circuits, size in ((np.arange(grouped), G), (np.arange(grouped, T), 1)):
        if not len(circuits):
            continue
        members = (circuits // size * size)[:, None] + np.arange(size)  # (n, size) the group of each circuit
        active = np.repeat(members, N_PROBES, axis=0)  # (n P, size)
        payloads = np.tile(draw_payloads((N_PROBES, size), k, rng), (len(circuits), 1, 1))
        payloads = payloads * system.takes_payload(active)[..., None]
        inputs = system.encode(payloads, active.shape)
        run = system.run(active, inputs, net.n_layers) if any(layer > 0 for layer in layers_in) else None
        with torch.no_grad():
            for layer in layers_in:
                x = (net.embed(active, inputs) if layer == 0 else net.place(active, run[layer], layer))
                out[layer][circuits] = x.reshape(len(circuits), N_PROBES, D).cpu().numpy()
    return out


# ============================================================================ scoring
def score_decomposition(truth: GroundTruth, components: Mapping, *, batch=None, threshold: float = 0.9,
                        activity_threshold: float = 0.6) -> DecompositionScore:
    """Compare a decomposition of the network's weights with the ground truth.

    Definitions, and what the truth and random components score, are in
    ``circuits/export/_scoring.py`` (the module docstring).

    Args:
        truth: the network's :class:`circuits.GroundTruth`.
        components: ``{layer: [component, ...]}`` for network layers 1..L: each component a
            ``(D, D)`` matrix (numpy, torch, scipy sparse) in the layout of
            ``module.layers[layer - 1].weight``, or a factor pair ``(U, V)`` meaning ``U @ V.T``
            (``U``, ``V`` ``(D,)`` or ``(D, r)``); or a ``(K, D, D)`` array per layer.
        batch: for the activity check, a :class:`circuits.export.Dataset` of this network (its
            activations are used when it has them) or a pair ``(active (B, z), payloads (B, z, k))``.
        threshold: the similarity at which a target counts as recovered, in (0, 1].
        activity_threshold: a component is active on a sample when its output exceeds this
            multiple of its output on its target's own activity, in (0, 1).

    Returns:
        :class:`DecompositionScore`.

    Raises:
        CircuitsError: a layer outside 1..L, a component of the wrong shape or kind, a batch of
            another network.

    Example:
        >>> import numpy as np
        >>> from circuits import build, ground_truth, rotation_circuits, score_decomposition
        >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
        >>> truth = ground_truth(net)
        >>> score_decomposition(truth, truth.components()).summary["recovered_fraction"]
        1.0
        >>> rng = np.random.default_rng(0)
        >>> noise = {layer: list(rng.standard_normal((40, 160, 160))) for layer in (2, 3)}
        >>> score = score_decomposition(truth, noise)
        >>> score.summary["recovered_fraction"], bool(score.summary["mean_similarity"] < 4 * score.chance_similarity)
        (0.0, True)
    """
    require(isinstance(truth, GroundTruth), f"truth must be a circuits.GroundTruth, got {type(truth).__name__}",
            parameter="truth")
    require(isinstance(components, Mapping) and len(components) > 0,
            "components must be a non-empty mapping {layer: [component, ...]}", parameter="components")
    threshold = require_float("threshold", threshold, 0.0, 1.0, open_low=True)
    activity_threshold = require_float("activity_threshold", activity_threshold, 0.0, 1.0, open_low=True,
                                       open_high=True)
    net = truth.network
    D, L, T = net.width, net.network_layers, net.n_circuits
    stacks = {}
    for layer, value in components.items():
        layer = require_int("layer", layer, 1, L)
        require(layer not in stacks, f"layer {layer} is given twice", parameter="components")
        stacks[layer] = _stack(value, D, layer)
    layers = sorted(stacks)
    active = acts = probes = None
    if batch is not None:
        active, acts = _batch_layers(truth, batch, layers)
        probes = _probes(truth, sorted({layer - 1 for layer in layers}))
    senders = None if truth.couplings is None else np.asarray(truth.couplings.sender)
    receivers = None if truth.couplings is None else np.asarray(truth.couplings.receiver)

    rows, layer_rows = [], []
    projected_total = norm_total = 0.0
    for layer in layers:
        stack = stacks[layer]
        edges = truth.edges_at(layer)
        targets = _flatten(truth.components([layer])[layer], D)
        n_t, K = targets.shape[0], stack.n
        t_norms = np.sqrt(np.asarray(targets.multiply(targets).sum(axis=1))).reshape(-1)
        dots = stack.dots(targets) if K else np.zeros((n_t, 0))
        c_norms = stack.norms()
        denom = t_norms[:, None] * c_norms[None, :]
        sim = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
        assigned = np.full(n_t, -1, dtype=np.int64)
        assigned_sim = np.zeros(n_t)
        if K:
            r, c = linear_sum_assignment(sim, maximize=True)
            assigned[r], assigned_sim[r] = c, sim[r, c]
        best = sim.argmax(axis=1) if K else np.full(n_t, -1)
        best_sim = sim.max(axis=1) if K else np.zeros(n_t)

        # explained fraction: projection of W_c = sum of the targets onto the assigned components
        w = np.asarray(targets.sum(axis=0)).reshape(-1)
        norm2 = float(w @ w)
        used = assigned[assigned >= 0]
        projected = 0.0
        if len(used):
            b = dots[:, used].sum(axis=0)  # <C_i, W_c> = sum over the targets
            values, vectors = np.linalg.eigh(stack.gram(used))  # ||P W_c||^2 = b^T G^+ b
            keep = values > max(float(values.max()), 0.0) * len(used) * np.finfo(float).eps
            projected = float(min(max(np.sum((vectors[:, keep].T @ b) ** 2 / values[keep]), 0.0), norm2))
        projected_total += projected
        norm_total += norm2

        kinds = ["circuit"] * T + ["edge"] * len(edges)
        index = np.concatenate([np.arange(T), edges])
        circuit = np.concatenate([np.arange(T), receivers[edges] if len(edges) else np.zeros(0, dtype=np.int64)])
        source = np.concatenate([np.arange(T), senders[edges] if len(edges) else np.zeros(0, dtype=np.int64)])
        layer_table = pd.DataFrame({"layer": layer, "target": kinds, "index": index.astype(np.int64),
                                    "circuit": circuit.astype(np.int64), "component": assigned,
                                    "similarity": assigned_sim, "best_component": best.astype(np.int64),
                                    "best_similarity": best_sim, "recovered": assigned_sim >= threshold})
        if batch is not None:
            x, probe = acts[layer - 1], probes[layer - 1]
            stats = np.full((n_t, 4), np.nan)
            exact = np.zeros(n_t, dtype=bool)
            for i in range(n_t):
                on = np.any(active == source[i], axis=1)
                if assigned[i] < 0:
                    pred = np.zeros(len(active), dtype=bool)
                else:
                    k = int(assigned[i])
                    scale = float(stack.output_norms(k, probe[source[i]].astype(np.float64)).mean())
                    pred = stack.output_norms(k, x) > activity_threshold * scale
                hits = int(np.sum(pred & on))
                stats[i] = (on.sum(), pred.sum(), hits / pred.sum() if pred.any() else np.nan,
                            hits / on.sum() if on.any() else np.nan)
                exact[i] = bool(np.array_equal(pred, on))
            layer_table["active_samples"] = stats[:, 0].astype(np.int64)
            layer_table["component_active_samples"] = stats[:, 1].astype(np.int64)
            layer_table["precision"], layer_table["recall"] = stats[:, 2], stats[:, 3]
            layer_table["activity_exact"] = exact
        rows.append(layer_table)
        entry = {"layer": layer, "n_targets": n_t, "n_components": K, "mean_similarity": float(assigned_sim.mean()),
                 "recovered_fraction": float(np.mean(assigned_sim >= threshold)),
                 "explained_fraction": projected / norm2 if norm2 > 0 else float("nan")}
        if batch is not None:
            entry["activity_exact_fraction"] = float(layer_table["activity_exact"].mean())
        layer_rows.append(entry)

    table = pd.concat(rows, ignore_index=True)
    per_circuit = table[table.target == "circuit"].groupby("circuit").recovered.all()
    summary = {"mean_similarity": float(table.similarity.mean()),
               "recovered_fraction": float(table.recovered.mean()),
               "explained_fraction": projected_total / norm_total if norm_total > 0 else float("nan"),
               "circuits_recovered": float(per_circuit.mean())}
    if batch is not None:
        summary.update({"activity_exact_fraction": float(table.activity_exact.mean()),
                        "activity_precision": float(table.precision.mean()),
                        "activity_recall": float(table.recall.mean())})
    summary.update({"threshold": threshold, "activity_threshold": activity_threshold, "chance_similarity": 1.0 / D})
    return DecompositionScore(table=table, layers=pd.DataFrame(layer_rows), summary=summary, chance_similarity=1.0 / D)
