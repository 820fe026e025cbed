"""The feature scorer: the truth scores 1 however its features are ordered, noise falls as predicted, random
directions score chance, mixtures and merges score below the truth, and on the zoo random < PCA < SAE < truth."""

import math

import numpy as np
import pytest
import torch

import circuits
from circuits import CircuitsError, build, ground_truth, rotation_circuits
from circuits.base import using_threads
from circuits.export import ActivationStream, Dictionary, from_sae, score_features

SUMMARIES = ["score", "cosine", "purity", "explained", "payload_explained", "f1", "precision", "recall", "auroc"]


@pytest.fixture(scope="module")
def small():
    """T S = 240 > D/d = 100: circuits share neurons; below the critical load (layer 2 as measured)."""
    net = build(rotation_circuits(40, seed=0), width=400, redundancy=6, n_layers=3, seed=1)
    truth = ground_truth(net)
    return truth, truth.dataset(600, seed=0, activations=True)


def _codes(truth, data, layer):
    return truth.dictionary(layer).encode(data.activations[layer])


def test_the_truth_scores_one_in_any_order_and_scale_without_grouping(small):
    truth, data = small
    T, d = 40, 4
    score = score_features(truth, truth.dictionary(2), batch=data)
    for key in SUMMARIES:
        assert score.summary[key] == pytest.approx(1.0, abs=1e-9), key
    assert list(score.table.n_features) == [d] * T and (score.features.circuit == np.repeat(np.arange(T), d)).all()
    # the same directions shuffled and rescaled, as a bare decoder with the same codes: still 1 (the scorer
    # groups the features itself)
    rng = np.random.default_rng(0)
    order = rng.permutation(T * d)
    scale = rng.uniform(0.1, 10.0, T * d)
    decoder = truth.directions(2).toarray()[order] * scale[:, None]
    codes = _codes(truth, data, 2)[:, order] / scale
    shuffled = score_features(truth, decoder, layer=2, batch=data, codes=codes)
    for key in SUMMARIES:
        assert shuffled.summary[key] == pytest.approx(1.0, abs=1e-9), key
    assert sorted(shuffled.features.circuit) == sorted(np.repeat(np.arange(T), d))
    bare = score_features(truth, truth.directions(3), layer=3)  # directions only: no batch, no codes
    assert bare.summary["score"] >= 0.95 and "f1" not in bare.summary
    assert bare.summary["dead_fraction"] == 0.0 and bare.summary["chance_cosine"] == math.sqrt(4 / 400)


def test_truth_plus_noise_falls_as_predicted_and_strictly(small):
    """f = direction + sigma g / sqrt(D): cos^2 = (1 + sigma^2 chi2_d / D) / (1 + sigma^2 chi2_D / D), so the mean
    cosine is sqrt((1 + sigma^2 d/D) / (1 + sigma^2)) to O(sigma^2 sqrt(2/D)) per feature; the span of d such
    features keeps about 1 / (1 + sigma^2) of the circuit; the codes are the truth's (F1 = 1)."""
    truth, data = small
    D, d = 400, 4
    directions = truth.directions(2).toarray()
    codes = _codes(truth, data, 2)
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(directions.shape) / math.sqrt(D)
    sigmas = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.4, 2.0]
    curve = []
    for sigma in sigmas:
        s = score_features(truth, directions + sigma * noise, layer=2, batch=data, codes=codes).summary
        curve.append(s)
        cos = math.sqrt((1 + sigma ** 2 * d / D) / (1 + sigma ** 2))
        assert s["cosine"] == pytest.approx(cos, abs=0.01 + 0.02 * sigma ** 2), sigma
        assert s["payload_explained"] == pytest.approx(1 / (1 + sigma ** 2), abs=0.02 + 0.02 * sigma ** 2), sigma
        assert s["f1"] == 1.0
    scores = np.array([s["score"] for s in curve])
    assert np.all(np.diff(scores) < 0)
    # no jump beyond what the step in sigma predicts: score = (cos * explained)^(1/3) with the predictions above
    predicted = np.array([((1 + x ** 2 * d / D) / (1 + x ** 2)) ** (1 / 6) * (1 + x ** 2) ** (-1 / 3) for x in sigmas])
    np.testing.assert_allclose(np.diff(scores), np.diff(predicted), atol=0.02)


def test_random_directions_and_pca_score_near_chance(small):
    truth, data = small
    D, d, T = 400, 4, 40
    acts = data.activations[2]
    rng = np.random.default_rng(2)
    K = 160
    random = rng.standard_normal((K, D))
    mean = acts.mean(0)
    s = score_features(truth, random, layer=2, batch=data, codes=np.maximum((acts - mean).numpy() @ random.T, 0)).summary
    # a random unit vector has cos^2 ~ Beta(d/2, (D-d)/2) with a circuit's subspace: mean d/D; the best of K
    # stays below sqrt(d/D) (1 + sqrt(2 ln(K) / d)) ~ 0.26 for K = 160; the features fire on about half the
    # samples, so F1 is about 2p / (1 + 2p) with p = 2/40 the on-rate of a circuit
    assert s["cosine"] < math.sqrt(d / D) * (1 + math.sqrt(2 * math.log(K) / d))
    assert s["explained"] < 0.1 and s["payload_explained"] < 0.1
    p = 2 / T
    assert s["f1"] < 4 * p and s["score"] < 0.15


def test_mixtures_and_merges_score_below_the_truth_on_every_summary(small):
    truth, data = small
    T, d = 40, 4
    directions = truth.directions(2).toarray().reshape(T, d, -1)
    codes = _codes(truth, data, 2).reshape(-1, T, d)
    partner = (np.arange(T) + 1) % T
    mixtures = ((directions + directions[partner]) / math.sqrt(2)).reshape(T * d, -1)
    mixture_codes = (codes + codes[:, partner]).reshape(len(codes), -1)
    merged = (directions[0::2] + directions[1::2]).reshape(T // 2 * d, -1)
    merged_codes = (codes[:, 0::2] + codes[:, 1::2]).reshape(len(codes), -1)
    for name, decoder, c in (("mixtures", mixtures, mixture_codes), ("merged", merged, merged_codes)):
        s = score_features(truth, decoder, layer=2, batch=data, codes=c).summary
        for key in SUMMARIES:  # the truth scores 1 on each
            assert s[key] < 0.99, (name, key, s[key])
        # each circuit's group is at best half its own: explained about 1/2, precision about 1/2
        assert s["explained"] < 0.6 and s["precision"] < 0.6 and s["score"] < 0.7, name
    # a 50/50 mixture of two orthogonal directions has cosine 1/sqrt(2) with each circuit (shared neurons move it
    # by at most 1/S per group)
    s = score_features(truth, mixtures, layer=2).summary
    assert s["cosine"] == pytest.approx(1 / math.sqrt(2), abs=0.05)


@pytest.mark.slow
def test_every_form_of_batch_gives_the_same_table(small):
    truth, data = small
    dictionary = truth.dictionary(2)
    want = score_features(truth, dictionary, batch=data).table
    stream = ActivationStream(truth, hooks=[2], batch_size=600, n_samples=600, seed=0).batch(0)
    forms = {"tensor": data.activations[2], "pair": (data.active, data.payloads),
             "codes": None}
    for name, batch in forms.items():
        if name == "codes":
            got = score_features(truth, dictionary.decoder, layer=2, batch=data, codes=_codes(truth, data, 2)).table
        else:
            got = score_features(truth, dictionary, batch=batch).table
        assert got.equals(want), name
    assert score_features(truth, dictionary, batch=stream).summary["score"] == pytest.approx(1.0, abs=1e-12)


def test_score_features_refuses_bad_input(small):
    truth, data = small
    other = ground_truth(build(rotation_circuits(30, seed=0), width=400, redundancy=6, n_layers=3, seed=1))
    decoder = truth.directions(2).toarray()
    cases = [
        (dict(dictionary=np.zeros((5, 399)), layer=2), r"decoder must have shape \(K, 400\)"),
        (dict(dictionary=decoder, layer=4), "layer must be in 1..3"),
        (dict(dictionary=decoder), "a bare decoder needs layer="),
        (dict(dictionary=truth.dictionary(2), layer=3), "differs from the dictionary's layer 2"),
        (dict(dictionary=decoder, layer=2, codes=np.zeros((600, 160))), "codes need the batch"),
        (dict(dictionary=decoder, layer=2, batch=data, codes=np.zeros((600, 159))), r"codes must have shape"),
        (dict(dictionary=decoder, layer=2, batch=other.dataset(4)), "data set of another network"),
        (dict(dictionary=decoder, layer=2, batch="samples"), "batch must be"),
        (dict(dictionary=np.full((3, 400), np.nan), layer=2), "decoder must be finite"),
        (dict(dictionary=decoder, layer=2, on_threshold=1.5), "on_threshold must be"),
    ]
    for kwargs, message in cases:
        with pytest.raises(CircuitsError, match=message):
            score_features(truth, **kwargs)
    with pytest.raises(CircuitsError, match="truth must be"):
        score_features(truth.network, decoder, layer=2)
    with pytest.raises(CircuitsError, match="no encoder"):
        Dictionary(decoder, layer=2).encode(data.activations[2])


# ----------------------------------------------------------------------- the zoo: random < PCA < SAE < truth
def _train_sae(x: torch.Tensor, n_features: int, *, steps: int, seed: int = 0) -> dict:
    """A plain ReLU sparse autoencoder (L1 on codes, unit-norm decoder rows, Adam; decoder started at centred
    samples), seeded."""
    g = torch.Generator().manual_seed(seed)
    W_dec = x[torch.randint(len(x), (n_features,), generator=g)] - x.mean(0)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    params = {"W_enc": W_dec.T.clone(), "W_dec": W_dec, "b_enc": torch.zeros(n_features), "b_dec": x.mean(0).clone()}
    for p in params.values():
        p.requires_grad_(True)
    opt = torch.optim.Adam(params.values(), lr=5e-3)
    for _ in range(steps):
        batch = x[torch.randint(len(x), (128,), generator=g)]
        codes = torch.relu((batch - params["b_dec"]) @ params["W_enc"] + params["b_enc"])
        recon = codes @ params["W_dec"] + params["b_dec"]
        loss = ((recon - batch) ** 2).sum(1).mean() + codes.sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            params["W_dec"] /= params["W_dec"].norm(dim=1, keepdim=True)
    return {k: v.detach() for k, v in params.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rotation-working", "rotation-strained"])
def test_quality_is_monotone_random_pca_sae_truth_on_the_zoo(name):
    with using_threads(1):  # small products: one thread is fastest, and the two test workers share two cores
        _monotone(name)


def _monotone(name):
    layer = 2
    model = circuits.zoo.load_model(name, dataset=False)
    truth, T, D = model.truth, model.network.n_circuits, model.network.width
    train = torch.cat([b.layer(layer) for b in model.stream([layer], batch_size=4096, n_samples=8 * 4096, seed=1,
                                                           labels=False)])
    test = model.stream([layer], batch_size=2000, n_samples=2000, seed=2).batch(0)
    K = 2 * T
    mean = train.mean(0)
    pca = torch.linalg.svd(train[:8192] - mean, full_matrices=False)[2][:K]
    random = torch.randn(K, D, generator=torch.Generator().manual_seed(3))
    projection = (lambda directions: (lambda x: torch.relu((x - mean) @ directions.T)))
    methods = {"random": Dictionary(random, layer=layer, encoder=projection(random), name="random"),
               "pca": Dictionary(pca, layer=layer, encoder=projection(pca), name="pca"),
               "sae": from_sae(**_train_sae(train, K, steps=400), layer=layer),
               "truth": truth.dictionary(layer)}
    scores = {k: score_features(truth, v, batch=test) for k, v in methods.items()}
    # paired over circuits: each step up must beat the one below by more than 3 standard errors of the mean difference
    order = ["random", "pca", "sae", "truth"]
    for column in ("score", "cosine"):
        for low, high in zip(order, order[1:]):
            diff = scores[high].table[column].to_numpy() - scores[low].table[column].to_numpy()
            assert diff.mean() > 3 * diff.std(ddof=1) / math.sqrt(T), (name, column, low, high, diff.mean())
    assert scores["truth"].summary["score"] == pytest.approx(1.0, abs=1e-9)
    assert scores["sae"].summary["score"] > 0.3 and scores["pca"].summary["score"] < 0.15
