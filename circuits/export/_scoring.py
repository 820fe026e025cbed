"""Scoring a decomposition against the ground truth: which circuits a method found, and how well.

A decomposition method (parameter decomposition, transcoders, sparse dictionaries of weights,
circuit discovery) returns, per network layer, a set of *components* of the weight matrix.
:func:`score_decomposition` compares them with what the network is known to compute.

Targets. At network layer ``l`` the truth splits the circuits' part of the weights,
``W_c[l] = W[l] - residual(l)``, into ``T + E_l`` targets: ``contribution(t, l)`` of every
circuit ``t`` and ``edge_contribution(e)`` of every cross-circuit edge at ``l``
(:meth:`circuits.GroundTruth.components` lists them in that order).

Components. Per layer, a list of ``(D, D)`` matrices in the layout of
``module.layers[l].weight`` (rows: neurons of layer ``l``, columns: neurons of layer
``l - 1``): numpy arrays, torch tensors or scipy sparse matrices; or factor pairs ``(U, V)``
meaning ``U @ V.T`` with ``U``, ``V`` of shape ``(D,)`` (rank one) or ``(D, r)``. A ``(K, D, D)``
array stands for ``K`` matrices. Matrices and factor pairs cannot be mixed within one layer.
(:func:`circuits.export.from_components` converts the components of parameter decomposition.)

Two parts. A circuit's share does two things: it carries the on-indicator (the rows of the
on-indicator neurons, and the columns of them that the payload rows read to stay above zero), and
it computes on the payload (the *payload part*: the entries from the payload neurons of layer
``l - 1`` to the payload neurons of layer ``l``, group blocks ``(i, j)`` with ``i`` and ``j`` in
the family's ``payload_neurons``: the rotation ``R_t / S`` of a rotation circuit). The *on part*
is everything else. The on part holds most of the norm (weights of 2 to 2.8 on reading the
on-indicator against at most 1 in the rotation), so a cosine over the whole share barely notices a
component that misses the payload computation; each part is therefore scored on its own. A
family without payload neurons (step circuits) has the on part only.

Similarity. ``cos(A, B) = <A, B>_F / (||A||_F ||B||_F)``, the cosine of the two ``(D, D)``
matrices flattened (signed: minus a circuit's share scores -1; a zero component scores 0).

Matching, one to one. Per layer, targets and components are paired one to one by the Hungarian
assignment that maximises the total similarity (``scipy.optimize.linear_sum_assignment``); a
target left without a component has similarity 0 and component -1 (``similarity``). Each
target's best component (the most similar, possibly shared) is reported too.

Grouping, many to one. Methods often split one circuit into several components (parameter
decomposition's rank-one subcomponents). Every component belongs to the target it is most similar
to in absolute cosine (its *home*); target ``t``'s group is the ``r_t`` components at home with it
that are most similar to it, ``r_t`` the rank of the target (singular values above ``1e-9`` of the
largest). The cap keeps a fine enough partition (every matrix entry its own component, say) from
being credited as a recovery: at most as many components per target as its rank. A rank-``r``
share split into ``r`` rank-one pieces is a full group.

Per target, from its group ``G`` (scale and sign free: the least-squares fit by ``G``'s span):

- ``explained``: ``||P_G T||^2 / ||T||^2``, the fraction of the target that ``G``'s span holds
  (``P_G`` the orthogonal projection onto the span of ``G``'s matrices);
- ``on_similarity``, ``payload_similarity``: the cosine between each part of the target and its
  projection onto the span of the same part of ``G``'s matrices (``sqrt`` of the part's
  explained fraction); NaN for a part the target does not have;
- ``recovery``: the geometric mean of the two (the one there is, without a payload part). It is 1
  exactly when the group spans both parts, falls continuously as either is lost and is 0 when
  either is missing entirely (a share with its payload block deleted has payload similarity 0);
- ``recovered``: ``recovery >= threshold`` (0.9).

Over targets: ``recovery``, ``on_similarity``, ``payload_similarity`` are means (over the targets
that have the part); ``explained_fraction`` is ``sum_t ||P_G_t T_t||^2 / sum_t ||T_t||^2`` (per layer
and over all layers), which penalises mixtures and merges: a component ``(A + B) / 2`` of two
orthogonal equal-norm shares explains half of the one it is assigned to and nothing of the other;
``recovered_fraction`` is the fraction recovered; ``circuits_recovered`` the fraction of circuits
recovered at every scored layer; ``mean_similarity`` the mean one-to-one similarity.

Activity (given a batch). The group's output on every sample, ``||sum_{C in G} C a_b||`` with
``a_b`` the sample's network layer ``l - 1``, against whether the target's circuit (an edge: its
sender) is *actually* on at layer ``l - 1`` (read-out on-indicator above 0.5,
:meth:`circuits.GroundTruth.on_state`; at layer 0, made active): ``auroc``, the probability that
the output on a sample where the circuit is on exceeds the output on one where it is off
(threshold free; 0.5 for an output that knows nothing), and ``precision``, ``recall``, ``f1`` of
"active" = output above ``activity_threshold`` (0.6) times the group's output on its target's own
activity (the target's circuit active with its activation group and nothing else, its exact small
activations at layer ``l - 1`` placed in its neurons, averaged over 8 fixed payloads). Why 0.6: for
the truth's own share of a rotation circuit the output on an active sample is at least about 0.75
of its mean over payloads, while an inactive circuit that shares one neuron with each of ``z``
active ones reads about ``z / S`` of theirs (at most about 0.45 for z = 2, S = 6) plus the
interference of the layer.

What a method must do to score 1: give, per layer, for every circuit's share (and every edge's
term) at most as many components as its rank whose span holds the share, both its on part and its
payload part, and none of which is closer to another target; with a batch, components whose output
is large exactly on the samples where the circuit is actually on.

What the truth and chance score. The truth's own components (:meth:`circuits.GroundTruth.components`)
score similarity, recovery, recovered fraction and explained fraction 1 (to float64 round-off), and
so do the same shares split into rank-one pieces (their SVD). Their activity AUROC and F1 are 1 in a
network whose circuits share no neuron, and close to 1 below the critical load (where the actual
on-state follows the intended one). A component independent of the truth with i.i.d. Gaussian
entries (or ``u v^T`` with Gaussian ``u``, ``v``) has a cosine of mean 0 and standard deviation
``1/D`` with any fixed target (:attr:`DecompositionScore.chance_similarity`), so the best of ``K``
is about ``sqrt(2 ln K) / D``; a group of ``g`` of them spans on average ``g / D^2`` of a target
(``g / n_part`` of a part with ``n_part`` entries); recovered fraction 0. Keeping the truth's
components for a subset of the targets scores that subset: recovered fraction = its fraction of
the targets, explained fraction = its share of ``sum_t ||T_t||^2``.

Cost. Dense matrices cost ``K D^2`` memory per layer: pass sparse matrices or factor pairs
beyond a few thousand neurons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..base import lazy_module, require, require_array, require_float, require_int
from ..system import draw_payloads
from ._dataset import Dataset
from ._ground_truth import GroundTruth
from ._metrics import auroc, f1_stats

pd = lazy_module("pandas")
sp = lazy_module("scipy.sparse")
optimize = lazy_module("scipy.optimize")

#: Payloads of each target's probe (its own activity) in the activity check.
N_PROBES = 8
#: A target's rank counts the singular values above this fraction of its largest.
RANK_TOLERANCE = 1e-9
#: Columns of :attr:`DecompositionScore.table` (the activity columns only with a batch).
TABLE_COLUMNS = ["layer", "target", "index", "circuit", "component", "similarity", "best_component",
                 "best_similarity", "rank", "n_components", "explained", "on_similarity", "payload_similarity",
                 "recovery", "recovered"]
ACTIVITY_COLUMNS = ["active_samples", "component_active_samples", "precision", "recall", "f1", "auroc"]


@dataclass(frozen=True, eq=False)
class DecompositionScore:
    """What :func:`score_decomposition` found (see ``circuits/export/_scoring.py`` for the definitions).

    Attributes:
        table: one row per (layer, target): ``layer``, ``target`` (``"circuit"`` or ``"edge"``),
            ``index`` (t or e), ``circuit`` (t, or the edge's receiver), ``component`` (the
            one-to-one assigned component, -1 for none), ``similarity`` (its cosine, 0 for none),
            ``best_component``, ``best_similarity``, ``rank`` (the target's), ``n_components``
            (its group's size), ``explained``, ``on_similarity``, ``payload_similarity`` (NaN
            without a payload part), ``recovery``, ``recovered``; with a batch also
            ``active_samples`` (samples with the target's circuit actually on),
            ``component_active_samples`` (samples with the group's output above the activity
            threshold), ``precision``, ``recall``, ``f1``, ``auroc`` (NaN where undefined).
        layers: one row per layer: ``layer``, ``n_targets``, ``n_components``,
            ``mean_similarity``, ``recovery``, ``recovered_fraction``, ``explained_fraction``
            (and ``f1``, ``auroc`` with a batch).
        summary: over all layers: ``mean_similarity``, ``recovery``, ``recovered_fraction``,
            ``explained_fraction``, ``on_similarity``, ``payload_similarity``, ``circuits_recovered``
            (fraction of circuits recovered at every scored layer), with a batch ``f1``, ``auroc``,
            ``precision``, ``recall`` (means over targets where defined); and ``threshold``,
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
        text = (f"DecompositionScore(recovery={s['recovery']:.3f}, recovered_fraction={s['recovered_fraction']:.3f} "
                f"({int(round(s['recovered_fraction'] * n))}/{n} targets at {s['threshold']:g}), "
                f"payload_similarity={s['payload_similarity']:.3f}, explained_fraction={s['explained_fraction']:.3f}, "
                f"mean_similarity={s['mean_similarity']:.3f}")
        if "f1" in s:
            text += f", f1={s['f1']:.3f}, auroc={s['auroc']:.3f}"
        return text + f", chance_similarity={self.chance_similarity:.4f})"

    def circuits(self) -> pd.DataFrame:
        """Per circuit over the scored layers (circuit targets only): ``circuit``, ``layers``,
        ``recovery`` (mean), ``recovered`` (at every layer), and ``f1`` (mean) with a batch."""
        rows = self.table[self.table.target == "circuit"]
        agg = {"layers": ("layer", "count"), "recovery": ("recovery", "mean"), "recovered": ("recovered", "all")}
        if "f1" in rows:
            agg["f1"] = ("f1", "mean")
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

    def outputs(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``(n, D)``: ``sum_{k in idx} C_k x_b`` for ``x`` ``(n, D)``."""
        raise NotImplementedError

    def restrict(self, rows: np.ndarray, cols: np.ndarray) -> "_Stack":
        """The components with every entry outside ``rows x cols`` (``(D,)`` bool each) set to 0."""
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

    def outputs(self, idx, x):
        return x @ self.flat[idx].sum(axis=0).reshape(self.width, self.width).T

    def restrict(self, rows, cols):
        mask = (rows[:, None] & cols[None, :]).reshape(-1)
        return _Dense(list((self.flat * mask).reshape(self.n, self.width, self.width)), self.width)


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

    def outputs(self, idx, x):
        total = sum((self.mats[k] for k in idx), sp.csr_array((self.width, self.width)))
        return np.asarray(total @ x.T).T

    def restrict(self, rows, cols):
        return _Sparse([_restrict_sparse(m, rows, cols) for m in self.mats], self.width)


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
        squares = [float(np.sum((u.T @ u) * (v.T @ v))) for u, v in self.pairs]
        return np.sqrt(np.maximum(np.array(squares, dtype=np.float64), 0.0))

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

    def outputs(self, idx, x):
        out = np.zeros((x.shape[0], self.width))
        for k in idx:
            u, v = self.pairs[k]
            out += (x @ v) @ u.T
        return out

    def restrict(self, rows, cols):
        return _Factors([(u * rows[:, None], v * cols[:, None]) for u, v in self.pairs], self.width)


def _restrict_sparse(m: sp.csr_array, rows: np.ndarray, cols: np.ndarray) -> sp.csr_array:
    coo = sp.coo_array(m)
    keep = rows[coo.row] & cols[coo.col]
    return sp.csr_array((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=m.shape)


def _matrix(item, width: int, where: str):
    """A component as a dense ``(D, D)`` array or a CSR matrix, after checking that it holds real numbers (not
    complex, strings or objects; a torch tensor with values, not on the ``meta`` device) of shape ``(D, D)``."""
    if sp.issparse(item):
        require(item.dtype.kind in "biuf", f"{where} must hold real numbers, got dtype {item.dtype}",
                parameter="components")
        m = sp.csr_array(item, dtype=np.float64)
        require(m.shape == (width, width), f"{where} must be a ({width}, {width}) matrix or a factor pair (U, V), "
                                           f"got shape {m.shape}", parameter="components")
        require(bool(np.all(np.isfinite(m.data))), f"{where} must be finite", parameter="components")
        return m
    m = require_array(where, item, finite=False, parameter="components")
    require(m.shape == (width, width), f"{where} must be a ({width}, {width}) matrix or a factor pair (U, V), got "
                                       f"shape {m.shape}", parameter="components")
    require(bool(np.all(np.isfinite(m))), f"{where} must be finite", parameter="components")
    return m


def _factor(item, width: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """A factor pair as ``(U (D, r), V (D, r))`` float64 (real numbers, checked as :func:`_matrix` checks)."""
    require(len(item) == 2, f"{where} must be a factor pair (U, V) (two arrays), got a tuple of {len(item)}",
            parameter="components")

    def arr(x, which):
        x = require_array(f"{where}[{which}]", x, finite=False, parameter="components")
        return x[:, None] if x.ndim == 1 else x
    u, v = arr(item[0], 0), arr(item[1], 1)
    require(u.ndim == 2 and v.ndim == 2 and u.shape[0] == width and v.shape[0] == width and u.shape[1] == v.shape[1]
            and u.shape[1] >= 1, f"{where} must be a factor pair (U, V) of shapes (D,) or (D, r) with D = {width}, "
                                 f"got {u.shape} and {v.shape}", parameter="components")
    require(bool(np.all(np.isfinite(u)) and np.all(np.isfinite(v))), f"{where} must be finite", parameter="components")
    return u, v


def _stack(value, width: int, layer: int) -> _Stack:
    """One layer's components as a :class:`_Stack`."""
    if isinstance(value, torch.Tensor) and value.ndim == 3:
        value = list(require_array(f"components[{layer}]", value, finite=False, parameter="components"))
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


def _rank(target: sp.csr_array) -> int:
    """The numerical rank of a sparse target (its non-zero rows and columns, densely)."""
    coo = sp.coo_array(target)
    if not coo.nnz:
        return 0
    rows, cols = np.unique(coo.row), np.unique(coo.col)
    sub = sp.csr_array(target)[rows][:, cols].toarray()
    sv = np.linalg.svd(sub, compute_uv=False)
    return int(np.sum(sv > RANK_TOLERANCE * sv[0]))


def _payload_mask(truth: GroundTruth) -> np.ndarray:
    """``(D,)`` bool: the neurons of the family's payload groups (small neurons ``payload_neurons``)."""
    net = truth.network
    groups = np.zeros(net.circuit_width, dtype=bool)
    groups[list(net.system.family.payload_neurons)] = True
    return np.repeat(groups, net.n_slots)


def _projected(dots: np.ndarray, gram: np.ndarray) -> float:
    """``||P x||^2`` for ``x`` with products ``dots`` with the group and the group's Gram matrix ``gram``."""
    if not len(dots):
        return 0.0
    values, vectors = np.linalg.eigh(gram)
    top = max(float(values.max()), 0.0)
    keep = values > top * len(dots) * np.finfo(float).eps
    if not keep.any():
        return 0.0
    return float(max(np.sum((vectors[:, keep].T @ dots) ** 2 / values[keep]), 0.0))


def _batch_layers(truth: GroundTruth, batch, layers: list[int]) -> tuple[dict, dict]:
    """``({layer: (B, D) float64 activations}, {layer: (B, T) bool actual on-state})`` of a batch at ``layers``."""
    net = truth.network
    on_actual = None
    if isinstance(batch, Dataset):
        require(batch.matches(net), "batch is a data set of another network", parameter="batch")
        active, acts, on_actual = np.asarray(batch.active), batch.activations, batch.on_actual
        if acts is None:
            acts = _forward(truth, active, batch.payloads)
    else:
        require(isinstance(batch, tuple) and len(batch) == 2,
                f"batch must be a circuits.export.Dataset or a pair (active, payloads), got {type(batch).__name__}",
                parameter="batch")
        require(np.ndim(batch[0]) < 1 or len(batch[0]) >= 1, "batch is empty: its active set holds no sample; give "
                                                             "at least one", parameter="batch")
        active = net.system.check_active(batch[0])
        acts = _forward(truth, active, batch[1])
    out_acts, out_on = {}, {}
    for layer in layers:
        out_acts[layer] = acts[layer].double().numpy()
        if on_actual is not None:
            out_on[layer] = np.asarray(on_actual[layer], dtype=bool)
        elif layer == 0:
            out_on[layer] = truth.intended(active)
        else:
            out_on[layer] = truth.on_state(acts[layer], layer)
    return out_acts, out_on


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
def _groups(sim: np.ndarray, ranks: np.ndarray) -> list[np.ndarray]:
    """Each target's group: the components at home with it (largest ``|cos|``), at most its rank, best first."""
    n_t, K = sim.shape
    if not K:
        return [np.zeros(0, dtype=np.int64) for _ in range(n_t)]
    strength = np.abs(sim)
    home = strength.argmax(axis=0)
    out = []
    for t in range(n_t):
        members = np.nonzero((home == t) & (strength[t] > 0))[0]
        members = members[np.argsort(-strength[t, members], kind="stable")]
        out.append(members[:int(ranks[t])])
    return out


def _geometric(values: list[float]) -> float:
    present = [v for v in values if np.isfinite(v)]
    return float(np.prod(present) ** (1.0 / len(present))) if present else float("nan")


def score_decomposition(truth: GroundTruth, components: Mapping, *, batch=None, threshold: float = 0.9,
                        activity_threshold: float = 0.6) -> DecompositionScore:
    """Compare a decomposition of the network's weights with the ground truth.

    Definitions, what a method must do to score 1, and what the truth and random components score
    are in ``circuits/export/_scoring.py`` (the module docstring).

    Args:
        truth: the network's :class:`circuits.GroundTruth`.
        components: ``{layer: [component, ...]}`` for network layers 1..L: each component a
            ``(D, D)`` matrix (numpy, torch, scipy sparse) in the layout of
            ``module.layers[layer].weight``, or a factor pair ``(U, V)`` meaning ``U @ V.T``
            (``U``, ``V`` ``(D,)`` or ``(D, r)``); or a ``(K, D, D)`` array per layer.
        batch: for the activity check, a :class:`circuits.export.Dataset` of this network (its
            activations and on-states are used when it has them) or a pair ``(active (B, z),
            payloads (B, z, k))``.
        threshold: the recovery at which a target counts as recovered, in (0, 1].
        activity_threshold: a group is active on a sample when its output exceeds this multiple of
            its output on its target's own activity, in (0, 1).

    Returns:
        :class:`DecompositionScore`.

    Raises:
        CircuitsError: a layer outside 1..L, a component of the wrong shape or kind, a batch of
            another network.

    Example:
        >>> import numpy as np
        >>> import scipy.sparse as sp
        >>> from circuits import build, ground_truth, rotation_circuits, score_decomposition
        >>> net = build(rotation_circuits(n_circuits=40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
        >>> truth = ground_truth(net)
        >>> score_decomposition(truth, truth.components()).summary["recovery"]
        1.0
        >>> payload = np.repeat([False, False, True, True], 40)   # the payload groups' neurons
        >>> cut = {l: [c - sp.csr_array(c.toarray() * np.outer(payload, payload)) for c in shares]
        ...        for l, shares in truth.components().items()}   # every rotation block deleted
        >>> s = score_decomposition(truth, cut).summary
        >>> round(s["mean_similarity"], 2), round(s["on_similarity"], 2), round(s["payload_similarity"], 2), s["recovery"]
        (0.96, 1.0, 0.0, 0.0)
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
    acts = on_actual = probes = None
    if batch is not None:
        acts, on_actual = _batch_layers(truth, batch, sorted({layer - 1 for layer in layers}))
        probes = _probes(truth, sorted({layer - 1 for layer in layers}))
    senders = None if truth.couplings is None else np.asarray(truth.couplings.sender)
    receivers = None if truth.couplings is None else np.asarray(truth.couplings.receiver)
    payload = _payload_mask(truth)
    has_payload = bool(payload.any())

    rows, layer_rows = [], []
    projected_total = norm_total = 0.0
    for layer in layers:
        stack = stacks[layer]
        edges = truth.edges_at(layer)
        mats = truth.components([layer])[layer]
        targets = _flatten(mats, D)
        n_t, K = targets.shape[0], stack.n
        t_norm2 = np.asarray(targets.multiply(targets).sum(axis=1)).reshape(-1)
        dots = stack.dots(targets) if K else np.zeros((n_t, 0))
        c_norms = stack.norms()
        denom = np.sqrt(t_norm2)[:, None] * c_norms[None, :]
        sim = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
        assigned = np.full(n_t, -1, dtype=np.int64)
        assigned_sim = np.zeros(n_t)
        if K:
            r, c = optimize.linear_sum_assignment(sim, maximize=True)
            assigned[r], assigned_sim[r] = c, sim[r, c]
        best = sim.argmax(axis=1) if K else np.full(n_t, -1)
        best_sim = sim.max(axis=1) if K else np.zeros(n_t)
        ranks = np.array([_rank(m) for m in mats], dtype=np.int64)
        groups = _groups(sim, ranks)

        # the two parts: payload (payload groups to payload groups) and on (the rest)
        if has_payload:
            pay_targets = _flatten([_restrict_sparse(m, payload, payload) for m in mats], D)
            pay_stack = stack.restrict(payload, payload)
            pay_t2 = np.asarray(pay_targets.multiply(pay_targets).sum(axis=1)).reshape(-1)
            pay_dots = stack.dots(pay_targets) if K else np.zeros((n_t, 0))
        else:
            pay_t2, pay_dots, pay_stack = np.zeros(n_t), np.zeros((n_t, K)), None
        on_t2 = np.maximum(t_norm2 - pay_t2, 0.0)
        scale2 = np.maximum(t_norm2, 1e-300)
        explained = np.zeros(n_t)
        on_sim = np.full(n_t, np.nan)
        pay_sim = np.full(n_t, np.nan)
        for t in range(n_t):
            g = groups[t]
            full_gram = stack.gram(g) if len(g) else np.zeros((0, 0))
            pay_gram = pay_stack.gram(g) if has_payload and len(g) else np.zeros((len(g), len(g)))
            explained[t] = min(_projected(dots[t, g], full_gram) / scale2[t], 1.0)
            if on_t2[t] > 1e-24 * t_norm2[t]:
                on = _projected(dots[t, g] - pay_dots[t, g], full_gram - pay_gram) / on_t2[t]
                on_sim[t] = np.sqrt(min(max(on, 0.0), 1.0))
            if pay_t2[t] > 1e-24 * t_norm2[t]:
                pay = _projected(pay_dots[t, g], pay_gram) / pay_t2[t]
                pay_sim[t] = np.sqrt(min(max(pay, 0.0), 1.0))
        recovery = np.array([_geometric([on_sim[t], pay_sim[t]]) for t in range(n_t)])
        projected_total += float(np.sum(explained * t_norm2))
        norm_total += float(np.sum(t_norm2))

        kinds = ["circuit"] * T + ["edge"] * len(edges)
        index = np.concatenate([np.arange(T), edges])
        circuit = np.concatenate([np.arange(T), receivers[edges] if len(edges) else np.zeros(0, dtype=np.int64)])
        source = np.concatenate([np.arange(T), senders[edges] if len(edges) else np.zeros(0, dtype=np.int64)])
        layer_table = pd.DataFrame({
            "layer": layer, "target": kinds, "index": index.astype(np.int64), "circuit": circuit.astype(np.int64),
            "component": assigned, "similarity": assigned_sim, "best_component": best.astype(np.int64),
            "best_similarity": best_sim, "rank": ranks, "n_components": [len(g) for g in groups],
            "explained": explained, "on_similarity": on_sim, "payload_similarity": pay_sim, "recovery": recovery,
            "recovered": recovery >= threshold})
        entry = {"layer": layer, "n_targets": n_t, "n_components": K, "mean_similarity": float(assigned_sim.mean()),
                 "recovery": float(recovery.mean()), "recovered_fraction": float(np.mean(recovery >= threshold)),
                 "explained_fraction": float(np.sum(explained * t_norm2) / np.sum(t_norm2))
                 if np.sum(t_norm2) > 0 else float("nan")}
        if batch is not None:
            x, probe, labels = acts[layer - 1], probes[layer - 1], on_actual[layer - 1]
            stats = np.full((n_t, 6), np.nan)
            for i in range(n_t):
                on = labels[:, source[i]]
                g = groups[i]
                if len(g):
                    out = np.linalg.norm(stack.outputs(g, x), axis=1)
                    scale = float(np.linalg.norm(stack.outputs(g, probe[source[i]].astype(np.float64)), axis=1).mean())
                else:
                    out, scale = np.zeros(len(x)), 0.0
                pred = out > activity_threshold * scale if scale > 0 else np.zeros(len(x), dtype=bool)
                precision, recall, f1 = f1_stats(pred, on)
                stats[i] = (on.sum(), pred.sum(), precision, recall, f1, auroc(out, on))
            layer_table["active_samples"] = stats[:, 0].astype(np.int64)
            layer_table["component_active_samples"] = stats[:, 1].astype(np.int64)
            for j, name in enumerate(("precision", "recall", "f1", "auroc"), start=2):
                layer_table[name] = stats[:, j]
            entry["f1"] = float(np.nanmean(stats[:, 4])) if np.isfinite(stats[:, 4]).any() else float("nan")
            entry["auroc"] = float(np.nanmean(stats[:, 5])) if np.isfinite(stats[:, 5]).any() else float("nan")
        rows.append(layer_table)
        layer_rows.append(entry)

    table = pd.concat(rows, ignore_index=True)
    per_circuit = table[table.target == "circuit"].groupby("circuit").recovered.all()
    mean = (lambda column: float(table[column].mean()) if table[column].notna().any() else float("nan"))
    summary = {"mean_similarity": mean("similarity"), "recovery": mean("recovery"),
               "recovered_fraction": float(table.recovered.mean()),
               "explained_fraction": projected_total / norm_total if norm_total > 0 else float("nan"),
               "on_similarity": mean("on_similarity"), "payload_similarity": mean("payload_similarity"),
               "circuits_recovered": float(per_circuit.mean())}
    if batch is not None:
        summary.update({name: mean(name) for name in ("f1", "auroc", "precision", "recall")})
    summary.update({"threshold": threshold, "activity_threshold": activity_threshold, "chance_similarity": 1.0 / D})
    return DecompositionScore(table=table, layers=pd.DataFrame(layer_rows), summary=summary, chance_similarity=1.0 / D)
