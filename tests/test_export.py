"""Export: the torch module equals the framework, the ground truth adds up, save/load is exact."""

import doctest
import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import circuits
from circuits import (CircuitsError, build, custom_circuits, evaluate, evaluate_chains, ground_truth, load,
                      make_family, rotation_chains, run_graph)
from circuits._export import dense_from_structure, layer_structure
from circuits._graph import draw_chains
from circuits.cli import main

ROOT = Path(__file__).resolve().parents[1]
# Shared slots (T S > D/d), so chi, the cap and the read-out corrections all matter.
SHARED = dict(width=160, redundancy=4, n_layers=4)


def _rotation_net(method="capped", n_circuits=40, seed=1, **kw):
    return build(make_family("rotation", n_circuits, seed=0), **{**SHARED, **kw}, seed=seed, method=method)


def _per_layer_custom(n_layers=4, n_circuits=30, seed=0):
    """Hand-specified, weights differ per layer: a 2-ReLU step plus a leaky copy of the indicator."""
    rng = np.random.default_rng(seed)
    w = np.zeros((n_layers, n_circuits, 3, 3))
    w[..., 0, :2] = [2.0, -2.0]
    w[..., 1, :2] = [2.0, -2.0]
    w[..., 2, 0] = 1.0 + rng.uniform(0, 1, (n_layers, n_circuits))
    w[..., 2, 1] = -w[..., 2, 0]
    w[..., 2, 2] = rng.uniform(0, 0.5, (n_layers, n_circuits))
    return custom_circuits(w, np.array([-0.5, -1.5, -0.2]), on_neurons=(0, 1),
                           active_input=np.array([1.5, 0.5, 0.3]), decode_on=lambda a: a[..., 0] - a[..., 1])


def _batch(net, batch=32, n_active=3, seed=5):
    rng = np.random.default_rng(seed)
    active = circuits.draw_active(net.n_circuits, n_active, batch, rng)
    k = net.family.payload_dim
    payloads = None
    if k:
        payloads = rng.standard_normal((batch, n_active, k))
        payloads /= np.linalg.norm(payloads, axis=-1, keepdims=True)
    return active, payloads


def _chain_net(method="capped", width=160, n_layers=4, seed=1, edges=True):
    """Rotation chains of 3 circuits (edges at layers 2, 3), shared slots: T S = 90 > D/d = 40.

    ``edges=False``: the same network without its graph."""
    fam, graph = rotation_chains(30, chain_length=3, seed=0)
    return build(fam, width=width, redundancy=3, n_layers=n_layers, seed=seed, method=method,
                 graph=graph if edges else None)


def _chain_batch(net, batch=24, n_chains=2, seed=5):
    """Whole chains active: the head carries a unit payload, so the edges carry it on."""
    return draw_chains(net.n_circuits, 3, 3 * n_chains, batch, seed=seed)


def _framework(net, active, payloads):
    inputs = net.family.encode(payloads, active.shape)
    return [a.reshape(len(active), -1) for a in net.forward(active, inputs)]


# ------------------------------------------------------------------ module
@pytest.mark.parametrize("method", circuits.METHODS)
def test_structure_is_the_dense_weight_matrix(method):
    net = _rotation_net(method)
    for layer in range(1, net.n_layers + 1):
        p, broadcast = layer_structure(net, layer)
        dense, _ = net.dense_weights(layer)
        np.testing.assert_allclose(dense_from_structure(p, broadcast), dense, rtol=0, atol=1e-13)


@pytest.mark.parametrize("method", circuits.METHODS)
def test_structure_with_edges_is_the_dense_weight_matrix(method):
    # dense_weights writes the edge term from its own formula (circuits/_graph.py)
    net = _chain_net(method)
    for layer in range(1, net.n_layers + 1):
        p, broadcast = layer_structure(net, layer)
        np.testing.assert_allclose(dense_from_structure(p, broadcast), net.dense_weights(layer)[0], rtol=0, atol=1e-13)
    plain, _ = layer_structure(_chain_net(method, edges=False), 2)
    assert abs(layer_structure(net, 2)[0] - plain).max() > 0.1  # the edges are in P


@pytest.mark.parametrize("method", circuits.METHODS)
@pytest.mark.parametrize("dense", [True, False])
def test_module_with_edges_equals_framework_forward(method, dense):
    net = _chain_net(method)
    active, payloads = _chain_batch(net)
    module = net.to_module(dense=dense)
    x = ground_truth(net).encode(active, payloads)
    with torch.no_grad():
        got = module.activations(x)
        without = _chain_net(method, edges=False).to_module(dense=dense).activations(x)
    want = _framework(net, active, payloads)
    for layer, (g, w) in enumerate(zip(got, want)):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4, msg=lambda m, layer=layer: f"layer {layer}: {m}")
    assert float((without[-1] - want[-1]).abs().max()) > 0.5  # a module without the edges computes otherwise


@pytest.mark.parametrize("method", circuits.METHODS)
@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("family", ["rotation", "step", "custom"])
def test_module_forward_equals_framework_forward(method, dense, family):
    if family == "custom":
        net = build(_per_layer_custom(), **{**SHARED, "width": 120}, seed=2, method=method)
    else:
        net = _rotation_net(method) if family == "rotation" else build(
            make_family("step", 40, seed=0), **SHARED, seed=3, method=method)
    active, payloads = _batch(net)
    module = net.to_module(dense=dense)
    assert len(module.layers) == net.n_layers
    assert isinstance(module.layers[0], torch.nn.Linear) == dense
    with torch.no_grad():
        got = module.activations(ground_truth(net).encode(active, payloads))
        last = module(got[0])
    want = _framework(net, active, payloads)
    assert len(got) == net.n_layers + 1
    assert torch.equal(last, got[-1])
    for layer, (g, w) in enumerate(zip(got, want)):
        # float32 on both sides, different summation order: agreement to float precision
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4, msg=lambda m, layer=layer: f"layer {layer}: {m}")
    assert float(want[-1].abs().max()) > 0.5  # the comparison is not between zeros


def test_module_weights_are_frozen_and_in_a_standard_state_dict():
    net = _rotation_net()
    dense = net.to_module(dense=True)
    assert not any(p.requires_grad for p in dense.parameters())
    state = dense.state_dict()
    assert sorted(state) == sorted(f"layers.{i}.{k}" for i in range(net.n_layers) for k in ("weight", "bias"))
    np.testing.assert_array_equal(state["layers.0.weight"].numpy(), np.eye(net.width))  # layer 1: identity
    np.testing.assert_allclose(state["layers.2.weight"].double().numpy(), net.dense_weights(3)[0], atol=1e-6)
    bias = np.repeat(net.family.bias, net.n_slots).astype(np.float32)
    np.testing.assert_array_equal(state["layers.1.bias"].numpy(), bias)

    sparse = net.to_module(dense=False)
    assert all(not t.is_sparse and t.layout == torch.strided for t in sparse.state_dict().values())
    for i in range(net.n_layers):
        torch.testing.assert_close(sparse.layers[i].dense_weight(), dense.layers[i].weight, rtol=0, atol=1e-6)

    # a module of another network of the same shape takes this state dict and then computes the same
    other = _rotation_net(seed=9).to_module(dense=True)
    other.load_state_dict(state)
    x = ground_truth(net).encode(*_batch(net))
    with torch.no_grad():
        assert torch.equal(other(x), dense(x))


def test_module_dtype_device_and_size_checks():
    net = _rotation_net()
    m64 = net.to_module(dense=False, dtype=torch.float64)
    assert m64.layers[1].values.dtype == torch.float64
    with pytest.raises(CircuitsError, match="dtype"):
        net.to_module(dtype=torch.float16)
    with pytest.raises(CircuitsError, match=r"input must have shape \(B, 160\)"):
        m64(torch.zeros(2, 10, dtype=torch.float64))
    wide = build(make_family("step", 10, seed=0), width=2 * 8200, redundancy=1, n_layers=2, seed=0)
    assert isinstance(wide.to_module().layers[0], circuits._export.SparseLinear)  # auto: sparse above 4096
    with pytest.raises(CircuitsError, match="width <= 16384"):
        wide.to_module(dense=True)


# ------------------------------------------------------------ ground truth
@pytest.mark.parametrize("method", circuits.METHODS)
def test_contributions_and_residual_add_up_to_the_weights(method):
    net = _rotation_net(method)
    truth = ground_truth(net)
    for layer in range(1, net.n_layers + 1):
        total = sum(truth.contribution(t, layer).toarray() for t in range(net.n_circuits)) + truth.residual(layer)
        np.testing.assert_allclose(total, net.dense_weights(layer)[0], rtol=0, atol=1e-13)


def test_capped_share_is_own_weight_plus_equal_part_of_the_shared_weight():
    net = _rotation_net("capped")
    truth = ground_truth(net)
    layer, S, N = 3, net.redundancy, net.n_slots
    sets = net.assignment.sets
    mean, diff = net.family.layer_weights(layer)
    pairs = {}
    for t in range(net.n_circuits):
        for n in sets[layer, t]:
            for m in sets[layer - 1, t]:
                pairs.setdefault((n, m), []).append(t)
    assert max(len(v) for v in pairs.values()) >= 2  # some pairs are shared, some are not
    for t in (0, 7, 23):
        c = truth.contribution(t, layer)
        rows, cols = c.nonzero()
        # only entries between the circuit's own neurons at layer-1 and layer
        assert set(rows) <= set(truth.neurons[layer, t].ravel())
        assert set(cols) <= set(truth.neurons[layer - 1, t].ravel())
        dense = c.toarray()
        for n in sets[layer, t]:
            for m in sets[layer - 1, t]:
                k = len(pairs[(n, m)])
                for i in range(4):
                    for j in range(4):
                        want = (diff[t, i, j] + mean[i, j] / k) / S
                        assert dense[i * N + n, j * N + m] == pytest.approx(want, abs=1e-15)


def test_ground_truth_neurons_weights_encode_decode_on_disjoint_circuits():
    # T S <= D/d: no shared neurons, so the network reproduces every circuit exactly
    net = build(make_family("rotation", 10, seed=3), width=200, redundancy=4, n_layers=4, seed=0)
    truth = ground_truth(net)
    fam = net.family
    for layer in range(2, net.n_layers + 1):
        mean, diff = fam.layer_weights(layer)
        np.testing.assert_array_equal(truth.circuit_weights[layer], mean + diff)
    np.testing.assert_array_equal(truth.circuit_weights[0], fam.mean_w + fam.diff_w)
    np.testing.assert_array_equal(truth.circuit_weights[1], np.broadcast_to(np.eye(4), (10, 4, 4)))
    active, payloads = _batch(net, batch=16, n_active=1)
    x = truth.encode(active, payloads)
    with torch.no_grad():
        acts = net.to_module().activations(x)
    want_on, want_payload = truth.reference(active, payloads)
    for layer in range(1, net.n_layers + 1):
        on, payload = truth.decode(acts[layer], layer, circuits=active)
        np.testing.assert_allclose(on, want_on[layer], atol=1e-5)
        np.testing.assert_allclose(payload, want_payload[layer], atol=1e-5)
        all_on, _ = truth.decode(acts[layer], layer)
        assert all_on.shape == (16, 10)
        np.testing.assert_allclose(np.delete(all_on[0], active[0]), 0.0, atol=1e-6)
        # every non-zero neuron belongs to the active circuit
        for b in range(16):
            live = set(np.nonzero(acts[layer][b].numpy())[0])
            assert live <= set(truth.neurons[layer, active[b, 0]].ravel())


def test_decode_agrees_with_evaluate_on_a_shared_network():
    net = _rotation_net()
    truth = ground_truth(net)
    active, payloads = _batch(net)
    ev = evaluate(net, active=active, payloads=payloads)
    with torch.no_grad():
        acts = net.to_module().activations(truth.encode(active, payloads))
    want_on, want_payload = truth.reference(active, payloads)
    np.testing.assert_array_equal(want_on, ev.truth_on)
    for layer in range(1, net.n_layers + 1):
        on, payload = truth.decode(acts[layer], layer, circuits=active)
        np.testing.assert_allclose(on, ev.estimate_on[layer], atol=1e-4)
        np.testing.assert_allclose(payload, ev.estimate_payload[layer], atol=1e-4)


def test_ground_truth_rejects_bad_input():
    truth = ground_truth(_rotation_net())
    with pytest.raises(CircuitsError, match="circuit must be in 0..39"):
        truth.contribution(40, 2)
    with pytest.raises(CircuitsError, match="layer must be in 1..4"):
        truth.contribution(0, 0)
    with pytest.raises(CircuitsError, match="distinct"):
        truth.encode(np.array([[1, 1]]), np.ones((1, 2, 2)))
    with pytest.raises(CircuitsError, match="payloads"):
        truth.encode(np.array([[1, 2]]))
    with pytest.raises(CircuitsError, match="acts must have shape"):
        truth.decode(torch.zeros(2, 7), 1)


@pytest.mark.parametrize("method", circuits.METHODS)
def test_ground_truth_edges_and_circuits_add_up_to_the_weights(method):
    net = _chain_net(method)
    truth, graph, S = ground_truth(net), net.graph, net.redundancy
    assert truth.graph is graph and graph.n_edges == 20
    np.testing.assert_array_equal(truth.receiver_neurons, truth.neurons[graph.layer, graph.receiver])
    np.testing.assert_array_equal(truth.sender_neurons, truth.neurons[graph.layer - 1, graph.sender])
    for layer in range(1, net.n_layers + 1):
        total = sum(truth.contribution(t, layer).toarray() for t in range(net.n_circuits)) + truth.residual(layer)
        total += sum((truth.edge_contribution(e).toarray() for e in np.nonzero(graph.layer == layer)[0]), 0.0)
        np.testing.assert_allclose(total, net.dense_weights(layer)[0], rtol=0, atol=1e-13)
    for e in (0, 7, 19):  # each edge: B[i, j] / S from the sender's neurons into the receiver's, nothing else
        want = np.zeros((net.width, net.width))
        for i in range(4):
            for j in range(4):
                want[np.ix_(truth.receiver_neurons[e, i], truth.sender_neurons[e, j])] = graph.block[e, i, j] / S
        np.testing.assert_array_equal(truth.edge_contribution(e).toarray(), want)


def test_ground_truth_reference_runs_the_edges_and_the_module_reproduces_it_when_disjoint():
    # T S = 24 <= D/d = 24: no shared neurons, so the module computes the small system with its edges
    fam, graph = rotation_chains(12, chain_length=3, seed=0)
    net = build(fam, width=96, redundancy=2, n_layers=4, seed=0, graph=graph)
    truth = ground_truth(net)
    active, payloads = _chain_batch(net, batch=16)
    want_on, want_payload = truth.reference(active, payloads)
    ref = run_graph(fam, graph, active, fam.encode(payloads, active.shape), 4)
    np.testing.assert_array_equal(want_payload, fam.decode_payload(ref))
    alone = fam.decode_payload(fam.run(active, fam.encode(payloads, active.shape), 4))
    assert np.abs(want_payload[4] - alone[4]).max() > 0.5  # the reference is not the circuits run alone
    ev = evaluate(net, active=active, payloads=payloads)
    np.testing.assert_array_equal(want_payload, ev.truth_payload)
    with torch.no_grad():
        acts = net.to_module().activations(truth.encode(active, payloads))
    for layer in range(1, net.n_layers + 1):
        on, payload = truth.decode(acts[layer], layer, circuits=active)
        np.testing.assert_allclose(on, want_on[layer], atol=1e-5)
        np.testing.assert_allclose(payload, want_payload[layer], atol=1e-5)


def test_ground_truth_without_edges_has_none():
    truth = ground_truth(_rotation_net())
    assert truth.graph is None and truth.receiver_neurons.shape == truth.sender_neurons.shape == (0, 4, 4)
    with pytest.raises(CircuitsError, match="has none"):
        truth.edge_contribution(0)
    with pytest.raises(CircuitsError, match="edge must be in 0..19"):
        ground_truth(_chain_net()).edge_contribution(20)


# ------------------------------------------------------------ save and load
def _assert_identical(a, b):
    """Every array of the two networks bit for bit, and the same forward pass."""
    fa, fb = a.family, b.family
    for x, y in ((fa.mean_w, fb.mean_w), (fa.diff_w, fb.diff_w), (fa.bias, fb.bias),
                 (a.assignment.sets, b.assignment.sets)):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    assert (fa.name, fa.seed, fa.params, fa.on_neurons, fa.payload_neurons, fa.payload_dim) == \
           (fb.name, fb.seed, fb.params, fb.on_neurons, fb.payload_neurons, fb.payload_dim)
    assert a.config == b.config and a.chi == b.chi and a.corrections == b.corrections
    for pa, pb in zip(a.patterns, b.patterns):
        assert (pa is None) == (pb is None)
        if pa is not None:
            assert pa.shape == pb.shape and (pa != pb).nnz == 0
    active, payloads = _batch(a)
    for x, y in zip(_framework(a, active, payloads), _framework(b, active, payloads)):
        assert torch.equal(x, y)
    for x, y in zip(a.to_module(dense=False).state_dict().values(), b.to_module(dense=False).state_dict().values()):
        assert torch.equal(x, y)
    acts = np.random.default_rng(0).uniform(-1, 2, (5, 7, a.circuit_width))
    np.testing.assert_allclose(fb.decode_on(acts), fa.decode_on(acts), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fb.decode_payload(acts), fa.decode_payload(acts), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fb.encode(payloads, active.shape), fa.encode(payloads, active.shape),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", circuits.METHODS)
def test_save_load_reproduces_a_registered_family_network(tmp_path, method):
    net = _rotation_net(method, chi_scale=0.5 if method == "capped" else 1.0)
    path = net.save(tmp_path / "net")
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "weights.safetensors"]
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["format_version"] == 1 and cfg["graph"] is None  # no edges: the layout older versions read
    assert cfg["circuits_version"] == circuits.__version__
    assert cfg["family"]["rebuild"] and cfg["family"]["seed"] == 0 and cfg["network"]["seed"] == 1
    assert cfg["weights"]["sha256"] == hashlib.sha256((path / "weights.safetensors").read_bytes()).hexdigest()
    loaded = load(path)
    _assert_identical(net, loaded)
    a = evaluate(net, n_active=2, batch_size=40, seed=3).to_dict()
    b = evaluate(loaded, n_active=2, batch_size=40, seed=3).to_dict()
    assert a == b


@pytest.mark.parametrize("family", ["custom", "step"])
def test_save_load_reproduces_hand_specified_and_step_families(tmp_path, family):
    fam = _per_layer_custom() if family == "custom" else circuits.step_circuits(40)
    custom = family == "custom"
    net = build(fam, **{**SHARED, "width": 120 if custom else 160}, seed=4,
                method="uncorrected" if custom else "capped")
    loaded = circuits.load(circuits.save(net, tmp_path / family))
    assert json.loads((tmp_path / family / "config.json").read_text())["family"]["rebuild"] == (family == "step")
    _assert_identical(net, loaded)


@pytest.mark.parametrize("method", circuits.METHODS)
def test_save_load_reproduces_a_network_with_edges(tmp_path, method):
    net = _chain_net(method)
    path = net.save(tmp_path / "chains")
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["format_version"] == 2 and cfg["graph"] == {"n_edges": 20}
    loaded = load(path)
    _assert_identical(net, loaded)
    for name in ("layer", "receiver", "sender", "block"):
        a, b = getattr(net.graph, name), getattr(loaded.graph, name)
        assert a.dtype == b.dtype and np.array_equal(a, b)
    active, payloads = _chain_batch(net)
    for x, y in zip(_framework(net, active, payloads), _framework(loaded, active, payloads)):
        assert torch.equal(x, y)
    first = evaluate_chains(net, n_active=3, batch_size=20, seed=4)
    again = evaluate_chains(loaded, n_active=3, batch_size=20, seed=4)
    assert first[0].to_dict() == again[0].to_dict() and first[1] == again[1]


def test_load_reads_files_without_a_graph_and_refuses_inconsistent_graphs(tmp_path):
    from safetensors.numpy import load as st_load, save as st_save

    plain = _rotation_net().save(tmp_path / "plain")
    cfg = json.loads((plain / "config.json").read_text())
    del cfg["graph"]  # as circuits wrote format version 1 before the edges existed
    _rewrite(plain, config=cfg)
    loaded = load(plain)
    assert loaded.graph is None
    _assert_identical(_rotation_net(), loaded)

    chains = _chain_net().save(tmp_path / "chains")
    blob = (chains / "weights.safetensors").read_bytes()

    def tampered(name, arrays=None, **changes):
        path = Path(shutil.copytree(chains, tmp_path / name))
        cfg = json.loads((path / "config.json").read_text())
        cfg.update(changes)
        _rewrite(path, weights=None if arrays is None else st_save(arrays), config=cfg)
        return path

    with pytest.raises(CircuitsError, match="version 1 file cannot hold cross-circuit edges"):
        load(tampered("as-v1", format_version=1))
    with pytest.raises(CircuitsError, match="version 2 holds cross-circuit edges"):
        load(tampered("no-arrays", {k: v for k, v in st_load(blob).items() if not k.startswith("graph.")}))
    with pytest.raises(CircuitsError, match="the saved graph has 20 edges but config.json says 19"):
        load(tampered("count", graph={"n_edges": 19}))
    arrays = st_load(blob)
    arrays["graph.sender"] = arrays["graph.receiver"].copy()
    with pytest.raises(CircuitsError, match="receiver != sender"):
        load(tampered("self-edge", arrays))


def test_save_refuses_what_it_cannot_store_or_would_overwrite(tmp_path):
    net = _rotation_net()
    net.save(tmp_path / "a")
    with pytest.raises(CircuitsError, match="not empty; pass overwrite=True"):
        net.save(tmp_path / "a")
    other = _rotation_net(seed=8)
    _assert_identical(other, load(other.save(tmp_path / "a", overwrite=True)))
    w = np.broadcast_to(np.array([[2.0, -2.0], [2.0, -2.0]]), (5, 2, 2))
    square = custom_circuits(w, np.array([-0.5, -1.5]), on_neurons=(0, 1), active_input=np.array([1.5, 0.5]),
                             decode_on=lambda a: (a[..., 0] - a[..., 1]) ** 2)
    with pytest.raises(CircuitsError, match="decode_on function is not affine"):
        build(square, width=40, redundancy=2, n_layers=2, seed=0).save(tmp_path / "b")


def _rewrite(path, weights=None, config=None):
    """Replace the weights and/or config, keeping the checksum consistent."""
    if weights is not None:
        (path / "weights.safetensors").write_bytes(weights)
    cfg = json.loads((path / "config.json").read_text()) if config is None else config
    cfg["weights"]["sha256"] = hashlib.sha256((path / "weights.safetensors").read_bytes()).hexdigest()
    (path / "config.json").write_text(json.dumps(cfg))


def test_load_refuses_incomplete_corrupt_and_other_version_directories(tmp_path):
    good = _rotation_net().save(tmp_path / "good")
    blob = (good / "weights.safetensors").read_bytes()

    def copy(name):
        return Path(shutil.copytree(good, tmp_path / name))

    with pytest.raises(CircuitsError, match="must be a directory"):
        load(tmp_path / "absent")
    for missing in ("config.json", "weights.safetensors"):
        path = copy(f"no-{missing}")
        (path / missing).unlink()
        with pytest.raises(CircuitsError, match=f"incomplete saved network: .*{re.escape(missing)} is missing"):
            load(path)
    path = copy("bad-json")
    (path / "config.json").write_text('{"format": "circuits-network", ')
    with pytest.raises(CircuitsError, match="not valid JSON"):
        load(path)
    path = copy("flipped")
    (path / "weights.safetensors").write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(CircuitsError, match="SHA-256 .* does not match"):
        load(path)
    path = copy("truncated")
    (path / "weights.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CircuitsError, match="does not match"):
        load(path)
    _rewrite(path)  # truncated, with a matching checksum: the safetensors reader fails
    with pytest.raises(CircuitsError, match="corrupt saved network"):
        load(path)
    path = copy("future")
    cfg = json.loads((path / "config.json").read_text())
    cfg["format_version"] = circuits._export.FORMAT_VERSION + 1
    _rewrite(path, config=cfg)
    with pytest.raises(CircuitsError, match="format version 3 .* reads format versions 1, 2 only"):
        load(path)
    path = copy("no-key")
    cfg = json.loads((path / "config.json").read_text())
    del cfg["network"]["width"]
    _rewrite(path, config=cfg)
    with pytest.raises(CircuitsError, match="corrupt saved network"):
        load(path)
    path = copy("tampered")  # consistent checksum, but the arrays are not those of the named family
    from safetensors.numpy import load as st_load, save as st_save

    arrays = st_load(blob)
    arrays["family.diff_w"] = arrays["family.diff_w"] * 1.001
    _rewrite(path, weights=st_save(arrays))
    with pytest.raises(CircuitsError, match="differs from the saved arrays"):
        load(path)
    _assert_identical(load(good), load(good))


# -------------------------------------------------------------------- CLI
NET_FLAGS = ["--width", "200", "--circuits", "60", "--redundancy", "3", "--layers", "3"]


def test_cis_build_then_evaluate_load_gives_the_same_json(tmp_path, capsys):
    out = tmp_path / "saved"
    assert main(["build", *NET_FLAGS, "--seed", "7", "--out", str(out)]) == 0
    assert "cis evaluate --load" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["metadata"] == {"built_by": "cis build", "cli_seed": 7}
    run = ["evaluate", "--active", "2", "--batch", "300", "--seed", "7", "--format", "json"]
    assert main([*run, *NET_FLAGS]) == 0
    built = capsys.readouterr().out
    assert main([*run, "--load", str(out)]) == 0
    loaded = capsys.readouterr().out
    assert loaded == built
    assert main([*run, "--load", str(out), "--width", "200", "--layers", "3"]) == 0  # matching flags are fine
    assert capsys.readouterr().out == built
    assert main([*run[:-2], "--seed", "8", "--format", "json", "--load", str(out)]) == 0  # --seed: the draws
    assert capsys.readouterr().out != built


@pytest.mark.parametrize("flags, message", [
    (["--width", "400"], "--width 400 conflicts with the network loaded from"),
    (["--method", "split"], "--method split conflicts"),
    (["--family", "step"], "--family step conflicts"),
])
def test_cis_evaluate_load_refuses_conflicting_flags(tmp_path, capsys, flags, message):
    out = tmp_path / "saved"
    assert main(["build", *NET_FLAGS, "--out", str(out)]) == 0
    assert main(["evaluate", "--load", str(out), "--batch", "10", *flags]) == 2
    assert message in capsys.readouterr().err


def test_cis_build_refuses_a_non_empty_directory_unless_forced(tmp_path, capsys):
    out = tmp_path / "saved"
    assert main(["build", *NET_FLAGS, "--out", str(out)]) == 0
    assert main(["build", *NET_FLAGS, "--seed", "1", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["build", *NET_FLAGS, "--seed", "1", "--out", str(out), "--force"]) == 0
    assert json.loads((out / "config.json").read_text())["metadata"]["cli_seed"] == 1


# ----------------------------------------------------------------- README
def test_readme_export_example_runs():
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Export\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, "README.md has no '## Export' section"
    section = match.group(1)
    assert section.count(">>>") >= 10
    test = doctest.DocTestParser().get_doctest(section, {}, "README.md#export", "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
