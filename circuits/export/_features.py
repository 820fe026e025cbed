"""Scoring a dictionary of features against the circuits: which circuits its features find, and how well.

Sparse autoencoders and other dictionary methods return directions in one layer's activation
space (a decoder) and, per sample, how strongly each fires (codes). :func:`score_features`
compares them with what the layer is known to hold (:meth:`circuits.GroundTruth.directions`,
:meth:`circuits.GroundTruth.on_state`).

The truth. At network layer ``l`` circuit ``t`` lives in the ``d``-dimensional subspace ``V_t``
spanned by its small neurons' directions (unit vectors, ``1/sqrt(S)`` on each of its ``S`` neurons
in group ``i``). When it is on it adds ``sqrt(S) sum_i a_i V_t[i]`` to the layer, ``a`` its small
activations: a point on its activation manifold (for a rotation circuit, the on-indicator's fixed
``(1.5, 0.5)`` and the payload's circle). Its *moments* ``E[a a^T]`` and ``Cov(a)`` are taken over
64 payloads drawn with seed 0, its activation group on and nothing else, from the small system's
exact run. It is *actually on* on a sample when its read-out on-indicator exceeds 0.5.

Per feature ``k`` (decoder row ``f_k``, used as a direction; a zero row is dead and belongs nowhere):

- ``cosine[k, t] = ||V_t^T f_k|| / ||f_k||``: the cosine between ``f_k`` and its projection onto
  ``V_t``, the largest cosine ``f_k`` has with any vector of the circuit's subspace;
- ``purity[k, t]``: the fraction of ``||f_k||^2`` on circuit ``t``'s ``d S`` neurons (at least
  ``cosine^2``; 1 for a feature on those neurons only, however it weights them);
- its *home*: the circuit of largest cosine (ties: the lower index). Features belong to their home:
  a circuit split into several features (many to one) keeps them all.

Per circuit ``t`` (the table):

- ``best_feature``, ``cosine``: the feature of largest cosine with ``V_t`` (any feature), and that
  cosine; ``purity``: that feature's purity for ``t``;
- ``n_features``: how many features have ``t`` as home; its *group* is the ``d`` of them with the
  largest cosine (a circuit has ``d`` dimensions; more are not credited, so a fine enough partition
  of the neurons, one feature per neuron, is not a recovery);
- ``explained``: the fraction of the circuit's activation second moment ``E||a||^2`` in the span of
  its group, ``tr(M^T M E[a a^T]) / tr(E[a a^T])`` with ``M = Q^T V_t``, ``Q`` an orthonormal basis
  of the group; ``payload_explained``: the same for ``Cov(a)``, the variation its payload makes
  (NaN for a circuit without one). A feature along the circuit's mean activation alone explains
  most of ``E||a||^2`` (0.82 for a rotation circuit) and none of its payload;
- with codes: the group's *score* on a sample is ``max_k code_k ||f_k||`` over all features at home
  with ``t`` (``code ||f||`` is the size of the feature's term in the reconstruction, free of how a
  method splits scale between encoder and decoder); it *fires* when that is positive. ``precision``,
  ``recall``, ``f1`` of firing against the actual on-state, ``auroc`` of the score against it
  (threshold free: 0.5 for a score that knows nothing; it can be well above 0.5 for features that
  only follow how much is on overall);
- ``score``: the geometric mean of ``cosine``, ``payload_explained`` (``explained`` for a circuit
  without payload) and, with codes, ``f1`` (left out where undefined: a circuit never on whose
  group never fires). It is continuous and 0 when any part is 0.

Summary (means over circuits, NaN-free where defined): ``score``, ``cosine``, ``purity``,
``explained``, ``payload_explained``, with codes ``f1``, ``precision``, ``recall``, ``auroc``; and
``features_per_circuit``, ``dead_fraction`` (features with zero decoder rows or, with codes, that
never fire), ``chance_cosine`` ``sqrt(d / D)`` (the root mean square cosine of a random direction
with a circuit's subspace).

What a method must do to score 1: for every circuit, a feature inside its subspace, features at
home with it that span the directions its payload moves in, and, with codes, those features firing
on exactly the samples where the circuit is actually on (and no feature at home with it firing
elsewhere). The truth as a dictionary (:meth:`circuits.GroundTruth.dictionary`, its ``T d``
directions ungrouped, with its encoder) scores 1 on every number. ``K`` random directions: a unit
vector's ``cosine^2`` with a circuit's subspace has mean ``d / D``, so the best of ``K`` stays below
about ``sqrt(d/D) (1 + sqrt(2 ln K / d))``; the span of ``d`` of them holds a few times ``d / D`` of
a circuit; and projections through ReLU fire on about half of all samples, so F1 is near
``2 p / (1 + 2 p)`` (``p`` the fraction of samples on which a circuit is on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..base import CircuitsError, lazy_module, require, require_array, require_int
from ..system import draw_payloads
from ._dataset import Dataset
from ._dictionary import Dictionary, as_matrix
from ._ground_truth import GroundTruth
from ._metrics import auroc, f1_stats
from ._readout import ACTUAL_ON_THRESHOLD, check_threshold
from ._stream import ActivationBatch

pd = lazy_module("pandas")
sp = lazy_module("scipy.sparse")

#: Payloads per circuit for its activation moments.
N_MOMENT_PROBES = 64
#: Features scored at once (bounds the ``(chunk, T d)`` products).
_CHUNK = 512
#: Columns of :attr:`FeatureScore.table` (the activity columns only with codes).
FEATURE_TABLE_COLUMNS = ["circuit", "best_feature", "cosine", "purity", "n_features", "explained",
                         "payload_explained", "score"]
FEATURE_ACTIVITY_COLUMNS = ["on_samples", "firing_samples", "precision", "recall", "f1", "auroc"]


@dataclass(frozen=True, eq=False)
class FeatureScore:
    """What :func:`score_features` found (definitions: ``circuits/export/_features.py``).

    Attributes:
        table: one row per circuit: ``circuit``, ``best_feature``, ``cosine``, ``purity``,
            ``n_features``, ``explained``, ``payload_explained``, ``score``; with codes also
            ``on_samples`` (samples where it is actually on), ``firing_samples`` (samples where its
            group fires), ``precision``, ``recall``, ``f1``, ``auroc``.
        features: one row per feature: ``feature``, ``circuit`` (its home, -1 for a zero row),
            ``cosine`` and ``purity`` with its home; with codes ``firing_fraction``.
        summary: ``score``, ``cosine``, ``purity``, ``explained``, ``payload_explained`` (and ``f1``,
            ``precision``, ``recall``, ``auroc`` with codes), ``features_per_circuit``,
            ``dead_fraction``, ``chance_cosine``, ``layer``, ``n_features``, ``on_threshold``.
        name: the dictionary's name.
    """

    table: pd.DataFrame
    features: pd.DataFrame
    summary: dict
    name: str = field(default="dictionary")

    def __repr__(self) -> str:
        s = self.summary
        text = (f"FeatureScore({self.name!r}, layer={s['layer']}, score={s['score']:.3f}, cosine={s['cosine']:.3f}, "
                f"payload_explained={s['payload_explained']:.3f}")
        if "f1" in s:
            text += f", f1={s['f1']:.3f}, auroc={s['auroc']:.3f}"
        return text + f", chance_cosine={s['chance_cosine']:.3f})"


# ============================================================================ the truth's side
def _moments(truth: GroundTruth, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """``(E[a a^T], Cov(a))`` ``(T, d, d)`` of every circuit's small activations at ``layer``, its group alone on."""
    net = truth.network
    system = net.system
    T, G, d, k = net.n_circuits, system.groups.size, net.circuit_width, system.payload_dim
    P = N_MOMENT_PROBES
    second, cov = np.zeros((T, d, d)), np.zeros((T, d, d))
    rng = np.random.default_rng(0)
    grouped = (T // G) * G
    for circuits, size in ((np.arange(grouped), G), (np.arange(grouped, T), 1)):
        if not len(circuits):
            continue
        starts = np.unique(circuits // size * size)
        members = starts[:, None] + np.arange(size)  # (n, size)
        active = np.repeat(members, P, axis=0)  # (n P, size)
        payloads = draw_payloads(active.shape, k, rng) * system.takes_payload(active)[..., None]
        run = system.run(active, system.encode(payloads, active.shape), net.n_layers)[layer]  # (n P, size, d)
        run = run.reshape(len(starts), P, size, d).transpose(0, 2, 1, 3).reshape(-1, P, d)  # (n size, P, d)
        which = members.reshape(-1)
        mean = run.mean(axis=1)
        second[which] = np.einsum("npi,npj->nij", run, run) / P
        centred = run - mean[:, None, :]
        cov[which] = np.einsum("npi,npj->nij", centred, centred) / P
    return second, cov


def _batch(truth: GroundTruth, batch, layer: int) -> tuple[torch.Tensor, np.ndarray]:
    """``(acts (B, D) float32, actual on-state (B, T) bool)`` of a batch at ``layer``."""
    net = truth.network
    if isinstance(batch, ActivationBatch):
        require(layer in batch.actual, f"the stream's batch has no activations of layer {layer} (it has layers "
                                       f"{sorted(batch.actual)}); stream with hooks=[{layer}]", parameter="batch")
        return batch.layer(layer), np.asarray(batch.actual[layer], dtype=bool)
    if isinstance(batch, Dataset):
        require(batch.matches(net), "batch is a data set of another network", parameter="batch")
        if batch.activations is not None:
            acts = batch.activations[layer]
        else:
            with torch.no_grad():
                inputs = net.system.encode(batch.payloads, batch.active.shape)
                acts = net.forward(batch.active, inputs)[layer].reshape(batch.batch_size, net.width).cpu()
        if batch.on_actual is not None:
            return acts, np.asarray(batch.on_actual[layer], dtype=bool)
        return acts, truth.on_state(acts, layer)
    if isinstance(batch, tuple):
        require(len(batch) == 2, "batch must be a Dataset, an ActivationBatch, (B, D) activations or a pair "
                                 "(active, payloads)", parameter="batch")
        active, inputs = truth._inputs(batch[0], batch[1])
        with torch.no_grad():
            acts = net.forward(active, inputs)[layer].reshape(len(active), net.width).cpu()
        return acts, truth.on_state(acts, layer)
    if isinstance(batch, (torch.Tensor, np.ndarray)):
        acts = torch.from_numpy(require_array("batch", batch, finite=False)).to(torch.float32)
        require(acts.ndim == 2 and acts.shape[1] == net.width,
                f"batch activations must have shape (B, {net.width}), got {tuple(acts.shape)}", parameter="batch")
        return acts, truth.on_state(acts, layer)
    raise CircuitsError(f"batch must be a Dataset, an ActivationBatch, (B, D) activations or a pair (active, "
                        f"payloads), got {type(batch).__name__}", parameter="batch")


# ============================================================================ scoring
def score_features(truth: GroundTruth, dictionary, *, layer: int | None = None, batch=None, codes=None,
                   on_threshold: float = ACTUAL_ON_THRESHOLD) -> FeatureScore:
    """Compare a dictionary of features of one layer's activations with the circuits that live there.

    Definitions, what a method must do to score 1 and what the truth and chance score are in
    ``circuits/export/_features.py`` (the module docstring).

    Args:
        truth: the network's :class:`circuits.GroundTruth`.
        dictionary: a :class:`circuits.export.Dictionary` (decoder, layer and encoder:
            :func:`circuits.export.from_sae`, :meth:`circuits.GroundTruth.dictionary`), or a bare
            decoder ``(K, D)`` (numpy, torch or scipy sparse; rows are features) with ``layer``.
        layer: the network layer (1..L) whose activations the features describe; default the
            dictionary's.
        batch: for activity, the samples: a :class:`circuits.export.Dataset` of this network, an
            :class:`circuits.export.ActivationBatch` of :class:`circuits.export.ActivationStream`,
            ``(B, D)`` activations of the layer, or a pair ``(active, payloads)``.
        codes: ``(B, K)`` the features' activity on the batch's samples; default the dictionary's
            encoder applied to the batch's activations. Without a batch, directions only.
        on_threshold: the read-out on-indicator above which a circuit counts as actually on, in
            (0, 1) (used where the batch does not carry on-states).

    Returns:
        :class:`FeatureScore`.

    Raises:
        CircuitsError: a decoder of another width, a layer outside 1..L, codes of the wrong shape,
            codes without a batch, a batch of another network.

    Example:
        >>> import numpy as np
        >>> from circuits import build, ground_truth, rotation_circuits
        >>> net = build(rotation_circuits(n_circuits=20, seed=0), width=400, redundancy=4, n_layers=3, seed=1)
        >>> truth = ground_truth(net)
        >>> data = truth.dataset(200, seed=0, activations=True)
        >>> score_features(truth, truth.dictionary(2), batch=data).summary["score"]    # the truth: 1
        1.0
        >>> random = np.random.default_rng(0).standard_normal((80, 400))             # chance
        >>> s = score_features(truth, random, layer=2, codes=data.activations[2].numpy() @ random.T, batch=data)
        >>> s.summary["score"] < 0.15, round(s.summary["chance_cosine"], 3)
        (True, 0.1)
    """
    require(isinstance(truth, GroundTruth), f"truth must be a circuits.GroundTruth, got {type(truth).__name__}",
            parameter="truth")
    net = truth.network
    T, d, D, S = net.n_circuits, net.circuit_width, net.width, net.redundancy
    if isinstance(dictionary, Dictionary):
        require(layer is None or int(layer) == dictionary.layer,
                f"layer {layer} differs from the dictionary's layer {dictionary.layer}", parameter="layer")
        decoder, layer, name, encoder = dictionary.decoder, dictionary.layer, dictionary.name, dictionary
    else:
        require(layer is not None, "a bare decoder needs layer= (the network layer whose activations it describes)",
                parameter="layer")
        decoder, name, encoder = as_matrix(dictionary, "decoder"), "decoder", None
    layer = require_int("layer", layer, 1, net.network_layers)
    on_threshold = check_threshold(on_threshold)
    K = decoder.shape[0]
    require(decoder.shape[1] == D and K >= 1, f"the decoder must have shape (K, {D}) with K >= 1 (rows are features), "
                                              f"got {decoder.shape}", parameter="decoder")
    acts = actual = None
    if batch is not None:
        acts, actual = _batch(truth, batch, layer)
        if on_threshold != ACTUAL_ON_THRESHOLD:
            actual = truth.on_state(acts, layer, on_threshold=on_threshold)
    if codes is not None:
        require(batch is not None, "codes need the batch they were computed on (batch=)", parameter="codes")
        codes = as_matrix(codes, "codes", sparse_ok=False)
        require(codes.shape == (acts.shape[0], K), f"codes must have shape (B, K) = {(acts.shape[0], K)}, got "
                                                   f"{codes.shape}", parameter="codes")
    elif batch is not None and isinstance(encoder, Dictionary) and encoder.encoder is not None:
        codes = encoder.encode(acts)

    # geometry, a chunk of features at a time
    directions = truth.directions(layer)  # (T d, D)
    members = sp.csr_array((np.ones(T * d * S), (np.repeat(np.arange(T), d * S), truth.neurons[layer].reshape(-1))),
                           shape=(T, D))
    norms = np.sqrt(np.asarray(decoder.multiply(decoder).sum(axis=1)).reshape(-1)) if sp.issparse(decoder) else \
        np.linalg.norm(decoder, axis=1)
    home = np.full(K, -1, dtype=np.int64)
    home_cos, home_purity = np.zeros(K), np.full(K, np.nan)
    best = np.full(T, -1, dtype=np.int64)
    best_cos, best_purity = np.zeros(T), np.full(T, np.nan)
    for lo in range(0, K, _CHUNK):
        hi = min(K, lo + _CHUNK)
        rows = decoder[lo:hi]
        rows = rows.toarray() if sp.issparse(rows) else np.asarray(rows)
        scale = norms[lo:hi]
        unit = np.divide(rows, scale[:, None], out=np.zeros_like(rows), where=scale[:, None] > 0)
        cos = np.sqrt(((directions @ unit.T).T.reshape(hi - lo, T, d) ** 2).sum(-1))  # (chunk, T)
        cos = np.minimum(cos, 1.0)
        purity = np.minimum(np.asarray(members @ (unit ** 2).T).T, 1.0)  # (chunk, T)
        alive = scale > 0
        h = cos.argmax(axis=1)
        idx = np.arange(hi - lo)
        home[lo:hi] = np.where(alive, h, -1)
        home_cos[lo:hi] = np.where(alive, cos[idx, h], 0.0)
        home_purity[lo:hi] = np.where(alive, purity[idx, h], np.nan)
        top = cos.argmax(axis=0)  # per circuit, the best feature of this chunk
        better = cos[top, np.arange(T)] > best_cos
        best[better] = lo + top[better]
        best_cos[better] = cos[top, np.arange(T)][better]
        best_purity[better] = purity[top, np.arange(T)][better]

    second, cov = _moments(truth, layer)
    moves = np.trace(cov, axis1=1, axis2=2) > 1e-12 * np.maximum(np.trace(second, axis1=1, axis2=2), 1e-300)
    table = {"circuit": np.arange(T), "best_feature": best, "cosine": best_cos, "purity": best_purity,
             "n_features": np.bincount(home[home >= 0], minlength=T), "explained": np.zeros(T),
             "payload_explained": np.where(moves, 0.0, np.nan)}
    order = np.argsort(-home_cos, kind="stable")
    at_home = [[] for _ in range(T)]
    for k in order:
        if home[k] >= 0:
            at_home[home[k]].append(int(k))
    basis = directions.toarray().reshape(T, d, D) if T * d * D <= 1 << 26 else None
    for t in range(T):
        group = at_home[t][:d]
        if not group:
            continue
        rows = decoder[group]
        rows = rows.toarray() if sp.issparse(rows) else np.asarray(rows)
        q, r = np.linalg.qr(rows.T)
        keep = np.abs(np.diag(r)) > 1e-10 * max(1.0, float(np.abs(np.diag(r)).max()))
        q = q[:, keep]
        v = basis[t] if basis is not None else directions[t * d:(t + 1) * d].toarray()
        m = q.T @ v.T  # (g, d)
        mm = m.T @ m
        table["explained"][t] = float(np.trace(mm @ second[t]) / np.trace(second[t])) if np.trace(second[t]) > 0 \
            else np.nan
        if moves[t]:
            table["payload_explained"][t] = float(np.trace(mm @ cov[t]) / np.trace(cov[t]))
    for key in ("explained", "payload_explained"):
        table[key] = np.clip(table[key], 0.0, 1.0)
    shape_part = np.where(np.isfinite(table["payload_explained"]), table["payload_explained"], table["explained"])
    parts = [table["cosine"], shape_part]

    features = pd.DataFrame({"feature": np.arange(K), "circuit": home, "cosine": home_cos, "purity": home_purity})
    dead = norms <= 0
    if codes is not None:
        on = np.asarray(actual, dtype=bool)
        strength = codes * norms[None, :]
        stats = np.full((T, 6), np.nan)
        for t in range(T):
            group = at_home[t]
            score_t = strength[:, group].max(axis=1) if group else np.zeros(len(on))
            fires = score_t > 0
            precision, recall, f1 = f1_stats(fires, on[:, t])
            stats[t] = (on[:, t].sum(), fires.sum(), precision, recall, f1, auroc(score_t, on[:, t]))
        for j, key in enumerate(FEATURE_ACTIVITY_COLUMNS):
            table[key] = stats[:, j].astype(np.int64) if j < 2 else stats[:, j]
        parts.append(table["f1"])
        firing = (codes > 0).mean(axis=0)
        features["firing_fraction"] = firing
        dead = dead | (firing == 0)
    stacked = np.clip(np.stack(parts), 0.0, 1.0)
    present = np.isfinite(stacked).sum(axis=0)
    table["score"] = np.where(present > 0, np.nanprod(stacked, axis=0) ** (1.0 / np.maximum(present, 1)), np.nan)
    frame = pd.DataFrame(table)

    mean = (lambda column: float(frame[column].mean()) if frame[column].notna().any() else float("nan"))
    summary = {key: mean(key) for key in ("score", "cosine", "purity", "explained", "payload_explained")}
    if codes is not None:
        summary.update({key: mean(key) for key in ("f1", "precision", "recall", "auroc")})
    summary.update({"features_per_circuit": K / T, "dead_fraction": float(np.mean(dead)),
                    "chance_cosine": float(np.sqrt(d / D)), "layer": layer, "n_features": K,
                    "on_threshold": on_threshold})
    return FeatureScore(table=frame, features=features, summary=summary, name=name)
