"""Adapters and interfaces: SAEs and parameter-decomposition components into the scorers, the TransformerLens-style
hooks and cache of the exported module, the sparse-feature input, and dense nn.Linear layers above D = 4096."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from circuits import (CircuitsError, build, custom_circuits, ground_truth, rotation_chains, rotation_circuits,
                      score_decomposition, step_circuits, to_module)
from circuits.export import (ActivationCache, HookPoint, feature_embedding, from_components, from_sae,
                             score_features)
from circuits.export._module import SparseLinear


@pytest.fixture(scope="module")
def small():
    net = build(rotation_circuits(40, seed=0), width=400, redundancy=6, n_layers=3, seed=1)
    truth = ground_truth(net)
    return net, truth, truth.dataset(400, seed=0, activations=True)


# --------------------------------------------------------------------------- SAEs
def test_an_sae_made_of_the_true_directions_scores_near_one(small):
    """Encoder = the directions (a feature's pre-activation is sqrt(S) times its small neuron's read-out), JumpReLU at
    2.5: an active circuit's on-neuron reads sqrt(6) 1.5 = 3.7, an inactive one sharing k neurons with active ones at
    most about k 2 / sqrt(6) = 0.8 k (a payload neuron holds up to 2), so the group fires on the circuits that are on
    but where three or more shared neurons line up (rare below the critical load)."""
    net, truth, data = small
    directions = torch.tensor(truth.directions(2).toarray(), dtype=torch.float32)  # (K, D)
    K, D = directions.shape
    sae = from_sae(W_enc=directions.T, b_enc=torch.zeros(K), W_dec=directions, b_dec=torch.zeros(D),
                   hook="layers.2.hook_post", activation="jumprelu", threshold=torch.full((K,), 2.5))
    assert sae.layer == 2 and sae.n_features == 160 and sae.name == "sae"
    s = score_features(truth, sae, batch=data).summary
    assert s["cosine"] == pytest.approx(1.0) and s["payload_explained"] == pytest.approx(1.0)
    assert s["f1"] > 0.99 and s["score"] > 0.99
    # the same parameters as an SAELens-like object (attributes and cfg.hook_name)
    obj = SimpleNamespace(W_enc=directions.T, b_enc=torch.zeros(K), W_dec=directions, b_dec=torch.zeros(D),
                          threshold=torch.full((K,), 2.5), cfg=SimpleNamespace(hook_name="layers.2.hook_post"))
    again = score_features(truth, from_sae(obj, activation="jumprelu"), batch=data)
    assert again.table.equals(score_features(truth, sae, batch=data).table)
    # an object with its own encode: that is the encoder
    own = SimpleNamespace(W_dec=directions, encode=lambda x: torch.relu(x @ directions.T - 1.5))
    assert from_sae(own, layer=2).encode(data.activations[2]).shape == (400, K)


def test_sae_activations_and_refusals():
    D, K = 5, 3
    W_dec = torch.eye(D)[:K]
    args = dict(W_enc=W_dec.T, b_enc=torch.zeros(K), W_dec=W_dec, b_dec=torch.full((D,), 0.5), layer=1)
    x = torch.tensor([[1.0, 3.0, 2.0, 9.0, 9.0]])
    np.testing.assert_array_equal(from_sae(**args).encode(x), [[0.5, 2.5, 1.5]])
    np.testing.assert_array_equal(from_sae(**args, subtract_decoder_bias=False).encode(x), [[1.0, 3.0, 2.0]])
    np.testing.assert_array_equal(from_sae(**args, activation="topk:1").encode(x), [[0.0, 2.5, 0.0]])
    np.testing.assert_array_equal(from_sae(**args, activation="jumprelu", threshold=torch.tensor([0.4, 3, 1])).encode(x),
                                  [[0.5, 0.0, 1.5]])
    np.testing.assert_array_equal(from_sae(**args, activation=lambda pre: pre ** 2).encode(x), [[0.25, 6.25, 2.25]])
    cases = [
        (dict(args, W_enc=W_dec), r"W_enc must have shape \(D, K\) = \(5, 3\)"),
        (dict(args, layer=None, hook="layers.2.hook_pre"), "hook must be an activation hook"),
        (dict(args, hook="layers.1.hook_post"), "give layer or hook, not both"),
        (dict(args, layer=None), "layer= or hook="),
        (dict(args, activation="gelu"), "activation must be"),
        (dict(args, activation="jumprelu"), "threshold is needed"),
        (dict(args, b_dec=torch.zeros(4)), r"b_dec must have shape \(5,\)"),
        (dict(args, W_dec=torch.full((K, D), float("nan"))), "W_dec must be finite"),
    ]
    for kwargs, message in cases:
        with pytest.raises(CircuitsError, match=message):
            from_sae(**kwargs)


# --------------------------------------------------------------------------- parameter decomposition
def test_parameter_decomposition_components_of_the_truth_are_a_full_recovery(small):
    """Each share factored as SPD lays out linear components (weight = (V @ U)^T, V (d_in, C), U (C, d_out))."""
    net, truth, _ = small
    D = net.width
    layered = {}
    for layer, shares in truth.components().items():
        vs, us = [], []
        for m in shares:
            rows, cols = np.unique(m.nonzero()[0]), np.unique(m.nonzero()[1])
            u, s, vt = np.linalg.svd(m[rows][:, cols].toarray())
            for i in range(int(np.sum(s > 1e-9 * s[0]))):
                v_full, u_full = np.zeros(D), np.zeros(D)
                v_full[cols], u_full[rows] = vt[i], u[:, i] * s[i]
                vs.append(v_full)
                us.append(u_full)
        V, U = torch.tensor(np.stack(vs, axis=1)), torch.tensor(np.stack(us))
        layered[f"layers.{layer}" if layer == 2 else layer] = (V, U) if layer == 2 else SimpleNamespace(V=V, U=U)
        total = sum(m.toarray() for m in shares)
        np.testing.assert_allclose((V @ U).T.numpy(), total, atol=1e-9)
    pairs = from_components(layered)
    assert sorted(pairs) == [2, 3] and all(u.shape == (D,) and v.shape == (D,) for u, v in pairs[2])
    s = score_decomposition(truth, pairs).summary
    assert s["recovered_fraction"] == 1.0 and s["recovery"] > 0.999
    for bad, message in (({"blocks.2": (V, U)}, "keyed by network layers or module names"),
                         ({2: (V, U[:5])}, "must be V"), ({2: (V,)}, "a pair")):
        with pytest.raises(CircuitsError, match=message):
            from_components(bad)


# --------------------------------------------------------------------------- the module's interface
def test_hooks_are_numbered_like_the_network_and_run_with_hooks_intervenes(small):
    net, truth, data = small
    module = to_module(net)
    x = data.inputs[:8]
    names = list(module.hook_points())
    assert names == ["layers.0.hook_post"] + [f"layers.{l}.hook_{k}" for l in (1, 2, 3) for k in ("pre", "post")]
    assert all(p.name == n for n, p in module.hook_points().items())
    seen = []

    def ablate(activation, hook):
        seen.append((hook.name, isinstance(hook, HookPoint), tuple(activation.shape)))
        return torch.zeros_like(activation)

    with torch.no_grad():
        out = module.run_with_hooks(x, fwd_hooks=[("layers.2.hook_post", ablate)])
        clean = module(x)
    assert seen == [("layers.2.hook_post", True, (8, 400))] and float(out.abs().max()) == 0.0
    on, _ = truth.decode(out, layer=3, circuits=data.active[:8])
    assert np.allclose(on, 0.0)
    # a hook that returns None only reads; the cache holds what the hooks leave; every hook is removed afterwards
    with torch.no_grad():
        same = module.run_with_hooks(x, fwd_hooks=[(lambda name: name.endswith("pre"), lambda a, hook: None)])
        _, cache = module.run_with_cache(x, names_filter=["layers.2.hook_post", "layers.3.hook_post"],
                                         fwd_hooks=[("layers.2.hook_post", ablate)])
    assert torch.equal(same, clean) and isinstance(cache, ActivationCache)
    assert float(cache["post", 2].abs().max()) == 0.0 and cache.layer(3) is cache["layers.3.hook_post"]
    assert all(not p._forward_hooks for p in module.hook_points().values())
    with pytest.raises(KeyError, match="not in this cache"):
        cache["post", 1]
    with pytest.raises(CircuitsError, match="cache key must be"):
        cache["mid", 1]
    with pytest.raises(CircuitsError, match="fwd_hooks must be pairs"):
        module.run_with_hooks(x, fwd_hooks=[ablate])
    def fail(activation, hook):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        module.run_with_hooks(x, fwd_hooks=[("layers.1.hook_post", fail)])
    assert all(not p._forward_hooks for p in module.hook_points().values())
    with torch.no_grad():
        assert len(module.activations(x, until=1)) == 2 and torch.equal(module.activations(x, until=3)[3], clean)


@pytest.mark.slow
@pytest.mark.parametrize("make", ["rotation", "chains", "step"])
def test_the_feature_input_embeds_to_layer_zero(make):
    if make == "rotation":
        net = build(rotation_circuits(40, seed=0), width=160, redundancy=4, n_layers=3, seed=1)
    elif make == "chains":
        net = build(rotation_chains(30, chain_length=3, seed=0), width=160, redundancy=3, n_layers=4, seed=1)
    else:
        net = build(step_circuits(40), width=120, redundancy=3, n_layers=2, seed=0)
    truth = ground_truth(net)
    data = truth.dataset(32, seed=1)
    T, k = net.n_circuits, net.system.payload_dim
    features = truth.encode_features(data.active, data.payloads)
    assert features.shape == (32, T * (1 + k)) and float(features.reshape(32, T, 1 + k)[..., 0].sum()) == 32 * data.n_active
    embedding = feature_embedding(net)
    assert embedding.shape == (net.width, T * (1 + k)) and embedding.nnz <= T * (1 + k) * net.circuit_width * net.redundancy
    np.testing.assert_allclose(features.double().numpy() @ embedding.T.toarray(), data.inputs.double().numpy(),
                               atol=1e-6)
    with_features = to_module(net, feature_input=True)
    assert with_features.input_width == T * (1 + k) and with_features.layers[0].bias is None
    with torch.no_grad():
        torch.testing.assert_close(with_features(features), to_module(net)(data.inputs), rtol=0, atol=1e-5)
    assert truth.feature_embedding().shape == embedding.shape


def test_the_feature_input_refuses_a_nonaffine_encode():
    w = np.zeros((10, 3, 3))
    w[:, :2, :2] = [[2.0, -2.0], [2.0, -2.0]]
    w[:, 2, 2] = 1.0
    system = custom_circuits(w, np.array([-0.5, -1.5, 0.0]), on_neurons=(0, 1), active_input=np.array([1.5, 0.5, 0]),
                             decode_on=lambda a: a[..., 0] - a[..., 1], payload_neurons=(2,), payload_dim=1,
                             encode_payload=lambda p: np.concatenate([np.full(p.shape, 1.5), np.full(p.shape, 0.5),
                                                                     p ** 2], axis=-1),
                             decode_payload=lambda a: np.sqrt(a[..., 2:3]))
    net = build(system, width=30, redundancy=2, n_layers=2, seed=0)
    with pytest.raises(CircuitsError, match="encode is affine"):
        to_module(net, feature_input=True)


@pytest.mark.slow
def test_dense_linear_layers_above_4096_when_memory_allows():
    net = build(step_circuits(30), width=4200, redundancy=3, n_layers=2, seed=0)
    sparse, dense = to_module(net), to_module(net, dense=True)
    assert isinstance(sparse.layers[2], SparseLinear) and isinstance(dense.layers[2], torch.nn.Linear)
    assert dense.layers[2].weight.shape == (4200, 4200)
    data = ground_truth(net).dataset(16, seed=0)
    with torch.no_grad():
        torch.testing.assert_close(dense(data.inputs), sparse(data.inputs), rtol=0, atol=1e-5)
        assert float(dense(data.inputs).max()) > 0.5
    assert math.isclose(float(dense.layers[1].weight.diagonal().sum()), 4200.0)
