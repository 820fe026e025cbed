"""The decomposition scorer: the truth scores 1, random components score chance, partial ones as predicted."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import circuits
from circuits import CircuitsError, build, ground_truth, rotation_chains, rotation_circuits, score_decomposition

D = 160


def _net(scheme="capped", n_circuits=40):
    """Shared slots (T S = 160 > D/d = 40)."""
    return build(rotation_circuits(n_circuits, seed=0), width=D, redundancy=4, n_layers=4, seed=1,
                 weight_scheme=scheme)


def _chain_truth():
    return ground_truth(build(rotation_chains(30, chain_length=3, seed=0), width=D, redundancy=3, n_layers=4, seed=1))


def _norm2(m):
    return float((m.multiply(m)).sum())


@pytest.mark.parametrize("scheme", list(circuits.WEIGHT_SCHEMES))
def test_the_truth_scores_one(scheme):
    truth = ground_truth(_net(scheme))
    score = score_decomposition(truth, truth.components())
    s = score.summary
    assert s["mean_similarity"] == pytest.approx(1.0, abs=1e-12)
    assert s["recovered_fraction"] == 1.0 and s["circuits_recovered"] == 1.0
    assert s["explained_fraction"] == pytest.approx(1.0, abs=1e-9)
    t = score.table
    assert len(t) == 3 * 40 and list(t.layer.unique()) == [2, 3, 4]
    assert np.array_equal(t.component, t["index"]) and np.array_equal(t.best_component, t["index"])
    assert list(score.layers.explained_fraction.round(9)) == [1.0, 1.0, 1.0]
    assert score.chance_similarity == 1 / D and "recovered_fraction=1.000 (120/120" in repr(score)


@pytest.mark.slow
def test_the_truth_scores_one_with_edges_layer_one_and_every_input_form():
    truth = _chain_truth()
    comps = truth.components([1, 2, 3, 4])
    assert len(comps[2]) == 30 + len(truth.edges_at(2)) and len(truth.edges_at(2)) == 10
    score = score_decomposition(truth, comps)
    assert score.summary["recovered_fraction"] == 1.0
    assert score.summary["explained_fraction"] == pytest.approx(1.0, abs=1e-9)
    edges = score.table[score.table.target == "edge"]
    assert len(edges) == 20 and set(edges.layer) == {2, 3}
    assert np.array_equal(edges.circuit, np.asarray(truth.couplings.receiver)[edges["index"]])
    # the same components as dense numpy, as a torch (K, D, D) stack, as full-rank factor pairs (C, I)
    layer = 3
    dense = [c.toarray() for c in comps[layer]]
    for name, value in {"numpy": dense, "torch": torch.tensor(np.stack(dense))}.items():
        got = score_decomposition(truth, {layer: value})
        assert got.summary["mean_similarity"] == pytest.approx(1.0, abs=1e-12), name
        assert got.summary["explained_fraction"] == pytest.approx(1.0, abs=1e-9), name
    some = [0, 7, 33]  # two circuits and an edge
    for name, value in {"factors": [(dense[i], np.eye(D)) for i in some],
                        "torch factors": [(torch.tensor(dense[i]), torch.eye(D)) for i in some]}.items():
        got = score_decomposition(truth, {layer: value})
        assert list(got.table.component[some]) == [0, 1, 2], name
        np.testing.assert_allclose(got.table.similarity[some], 1.0, atol=1e-12)
        as_sparse = score_decomposition(truth, {layer: [comps[layer][i] for i in some]})
        assert got.summary["explained_fraction"] == pytest.approx(as_sparse.summary["explained_fraction"], abs=1e-9)


@pytest.mark.slow
def test_random_components_score_chance():
    """Cosines ~ N(0, 1/D^2): the best of K is below sqrt(2 ln K)/D plus a margin; K components span ~K/D^2."""
    truth = ground_truth(_net())
    rng = np.random.default_rng(0)
    K = 40
    for kind in ("dense", "rank one"):
        if kind == "dense":
            comps = {layer: list(rng.standard_normal((K, D, D))) for layer in (2, 3, 4)}
        else:
            comps = {layer: [(rng.standard_normal(D), rng.standard_normal(D)) for _ in range(K)] for layer in (2, 3, 4)}
        score = score_decomposition(truth, comps)
        s = score.summary
        assert s["recovered_fraction"] == 0.0, kind
        assert abs(score.table.similarity).max() < (6 if kind == "dense" else 10) / D, kind  # (u v^T: heavier tails)
        assert s["mean_similarity"] < (math.sqrt(2 * math.log(K)) + 1) / D, kind
        n = D * D  # explained ~ Beta(K/2, (n-K)/2): mean K/n, sd ~ sqrt(2K)/n
        assert s["explained_fraction"] < (K + 6 * math.sqrt(2 * K)) / n, kind


@pytest.mark.slow
def test_partial_decompositions_score_as_predicted():
    truth = ground_truth(_net())
    comps = truth.components()
    rng = np.random.default_rng(1)

    # half the circuits' shares: exactly half recovered; explained = their share of sum_t ||T_t||^2 (each share
    # is its own group; the targets left out have none)
    keep = {layer: np.sort(rng.choice(40, 20, replace=False)) for layer in comps}
    half = score_decomposition(truth, {layer: [comps[layer][t] for t in keep[layer]] for layer in comps})
    assert half.summary["recovered_fraction"] == 0.5 and half.summary["recovery"] == pytest.approx(0.5, abs=1e-12)
    assert half.summary["mean_similarity"] == pytest.approx(0.5, abs=1e-12)
    for row in half.layers.itertuples():
        shares = comps[row.layer]
        share = sum(_norm2(shares[t]) for t in keep[row.layer]) / sum(_norm2(c) for c in shares)
        assert row.explained_fraction == pytest.approx(share, abs=1e-9)
    recovered = half.table[half.table.recovered]
    assert all(set(recovered[recovered.layer == layer]["index"]) == set(keep[layer]) for layer in comps)

    # noisy shares: cosine = ||C|| / sqrt(||C||^2 + sigma^2 D^2) for each
    sigma = {layer: np.sqrt(np.mean([_norm2(c) for c in comps[layer]])) / D for layer in comps}  # predicted ~0.71
    noisy = {layer: [c.toarray() + sigma[layer] * rng.standard_normal((D, D)) for c in comps[layer]] for layer in comps}
    score = score_decomposition(truth, noisy)
    predicted = np.concatenate([[math.sqrt(_norm2(c) / (_norm2(c) + sigma[layer] ** 2 * D * D)) for c in comps[layer]]
                                for layer in comps])
    np.testing.assert_allclose(score.table.similarity, predicted, atol=5 / D)
    assert score.summary["recovered_fraction"] == 0.0

    # merged pairs: each sum is assigned one to one to the closer of its two shares, at <C_a, C_a + C_b> / (||C_a||
    # ||C_a + C_b||) (1/sqrt(2) for equal orthogonal shares); the other is left out. Many to one, the sum belongs
    # to the closer share too and explains cos^2 of it, nothing of the other: explained far below 1
    merged = {layer: [comps[layer][2 * i] + comps[layer][2 * i + 1] for i in range(20)] for layer in comps}
    score = score_decomposition(truth, merged)
    assert score.summary["recovered_fraction"] == 0.0
    explained = total = 0.0
    for layer in comps:
        got = score.table[(score.table.layer == layer) & (score.table.component >= 0)]
        assert len(got) == 20 and set(got.component) == set(range(20))
        for row in got.itertuples():
            a, m = comps[layer][row.index], merged[layer][row.component]
            cos = [float((comps[layer][t].multiply(m)).sum()) / math.sqrt(_norm2(comps[layer][t]) * _norm2(m))
                   for t in (2 * row.component, 2 * row.component + 1)]
            assert row.index // 2 == row.component and row.similarity == pytest.approx(max(cos), abs=1e-12)
            assert float((a.multiply(m)).sum()) / math.sqrt(_norm2(a) * _norm2(m)) == pytest.approx(max(cos))
            explained += max(cos) ** 2 * _norm2(a)
        total += sum(_norm2(c) for c in comps[layer])
    assert score.summary["explained_fraction"] == pytest.approx(explained / total, abs=1e-9)
    assert score.summary["explained_fraction"] < 0.5
    assert 0.3 < score.summary["mean_similarity"] < 0.45  # about half of 1/sqrt(2): half the targets unmatched


@pytest.mark.slow
def test_activity_is_exact_for_the_truth_without_shared_neurons_and_not_for_noise():
    spec = circuits.ExperimentSpec(width=400, n_circuits=16, redundancy=6, n_layers=3, n_active=2, batch_size=10)
    net = circuits.build(spec)  # T S = 96 <= D/d = 100: no shared neuron
    truth = ground_truth(net)
    data = truth.dataset(60, seed=0, activations=True)
    score = score_decomposition(truth, truth.components(), batch=data)
    t = score.table
    assert np.array_equal(t.active_samples, t.component_active_samples)
    assert t.active_samples.sum() == 2 * 60 * 2  # z samples-circuits per sample, per layer
    s = score.summary
    assert s["f1"] == 1.0 and s["auroc"] == 1.0 and s["precision"] == 1.0 and s["recall"] == 1.0
    # the same from (active, payloads), computing the activations and the on-states
    again = score_decomposition(truth, truth.components(), batch=(data.active, data.payloads))
    assert again.table.equals(t)
    # random components: their output does not follow the circuits (AUROC ~ 0.5, sd ~ 0.04 for 7 of 60 samples)
    rng = np.random.default_rng(0)
    noise = {layer: [(rng.standard_normal(400), rng.standard_normal(400)) for _ in range(16)] for layer in (2, 3)}
    random = score_decomposition(truth, noise, batch=data).summary
    assert random["f1"] < 0.4 and abs(random["auroc"] - 0.5) < 0.15 and random["precision"] < 0.5


def test_activity_of_the_truth_below_the_critical_load():
    spec = circuits.ExperimentSpec(width=400, n_circuits=40, redundancy=6, n_layers=3, n_active=2, batch_size=1000)
    assert circuits.zoo.classify(spec, circuits.zoo.measure(circuits.evaluate(spec))) == "working"
    truth = ground_truth(circuits.build(spec))  # shared neurons (T S = 240 > D/d = 100), below the load
    score = score_decomposition(truth, truth.components(), batch=truth.dataset(100, seed=0, activations=True))
    assert score.summary["auroc"] > 0.999 and score.summary["precision"] > 0.99
    assert score.summary["f1"] >= 0.95
    per_circuit = score.circuits()
    assert len(per_circuit) == 40 and per_circuit.recovered.all() and set(per_circuit.layers) == {2}


def test_score_decomposition_refuses_bad_input():
    truth = ground_truth(_net())
    other = ground_truth(_net(n_circuits=30))
    good = truth.components([2])[2]
    cases = [
        (dict(components=[]), "non-empty mapping"),
        (dict(components={5: good}), "layer must be in 1..4"),
        (dict(components={2: [np.zeros((D, D - 1))]}), r"must be a \(160, 160\) matrix"),
        (dict(components={2: [np.full((D, D), np.nan)]}), "must be finite"),
        (dict(components={2: [good[0], (np.ones(D), np.ones(D))]}), "mixes factor pairs and matrices"),
        (dict(components={2: [(np.ones(D), np.ones(D - 1))]}), "factor pair"),
        (dict(components={2: (np.ones(D), np.ones(D))}), "must be a list of components"),
        (dict(components={2: good}, threshold=0), "threshold must be"),
        (dict(components={2: good}, activity_threshold=1), "activity_threshold must be"),
        (dict(components={2: good}, batch=other.dataset(4)), "data set of another network"),
        (dict(components={2: good}, batch=np.zeros((4, 2))), "batch must be"),
    ]
    for kwargs, message in cases:
        with pytest.raises(CircuitsError, match=message):
            score_decomposition(truth, **kwargs)
    with pytest.raises(CircuitsError, match="truth must be"):
        score_decomposition(truth.network, {2: good})
    # fewer components than targets: the rest get component -1 and similarity 0; sparse and dense mix
    score = score_decomposition(truth, {2: [good[0], good[1].toarray(), sp.csr_array(good[2])]})
    t = score.table
    assert list(t.component[:3]) == [0, 1, 2] and (t.component[3:] == -1).all() and (t.similarity[3:] == 0).all()
