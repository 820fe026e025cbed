"""Export: the torch module equals the framework, the ground truth adds up, save/load is exact."""

import doctest
import hashlib
import json
import os
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load as st_load, save as st_save

import circuits
import circuits.export
from circuits import (CircuitsError, ExperimentSpec, build, custom_circuits, evaluate, ground_truth,
                      load_network, rotation_chains, rotation_circuits, rotation_fan_in, save_network, step_circuits,
                      to_module,
                      with_error_correction)
from circuits.export._saving import FORMAT_VERSION
from circuits.export._module import SparseLinear, dense_from_structure, layer_structure
from circuits.base import _storage
from circuits.export import _saving

ROOT = Path(__file__).resolve().parents[2]
SCHEMES = list(circuits.WEIGHT_SCHEMES)
# Shared slots (T S > D/d), so chi, the cap and the read-out corrections all matter.
SHARED = dict(width=160, redundancy=4, n_layers=4)


def _rotation_net(scheme="capped", n_circuits=40, seed=1, **kw):
    return build(rotation_circuits(n_circuits, seed=0), **{**SHARED, **kw}, seed=seed, weight_scheme=scheme)


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


def _chain_net(scheme="capped", width=160, n_layers=4, seed=1, couplings=True):
    """Rotation chains of 3 circuits (edges at layers 2, 3), shared slots: T S = 90 > D/d = 40.

    ``couplings=False``: the same network without its couplings."""
    system = rotation_chains(30, chain_length=3, seed=0)
    if not couplings:
        system = system.with_changes(couplings=None)
    return build(system, width=width, redundancy=3, n_layers=n_layers, seed=seed, weight_scheme=scheme)


def _fan_in_net(scheme="capped"):
    return build(rotation_fan_in(30, seed=2), width=160, redundancy=3, n_layers=3, seed=1, weight_scheme=scheme)


def _batch(net, batch=32, n_active=None, seed=5):
    """Active circuits (whole activation groups) and their payloads, drawn by the system."""
    system = net.system
    z = n_active if n_active is not None else (3 if system.groups.size == 1 else 2 * system.groups.size)
    return system.draw(z, batch, np.random.default_rng(seed))



def _dense(net, layer):
    return net.dense_weights(layer)[0]


def _assert_float32_close(got, want, layer, gain=1.0):
    """Two float32 passes that sum in different orders: equal to float32 precision relative to the largest
    activation (the sparse form adds the shared part and subtracts it where pairs repeat, which cancels).

    ``gain``: how much a layer can amplify a rounding difference (``1 + X`` for ``inhibited:X``, whose
    on-indicator rows weigh hits by ``1 + chi + X`` against a bias of ``-X``); the tolerance grows as
    ``gain^(layer - 1)``. (In float64 the module equals the dense weights to 1e-11: see
    :func:`test_inhibited_module_is_exact_in_float64`.)"""
    atol = 1e-5 * max(1.0, float(want.abs().max())) * gain ** max(0, layer - 1)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=atol, msg=lambda m: f"layer {layer}: {m}")


def _gain(net) -> float:
    return 1.0 + float(getattr(net.scheme, "strength", 0.0))


# ------------------------------------------------------------------ module
@pytest.mark.parametrize("scheme", SCHEMES)
def test_structure_is_the_dense_weight_matrix(scheme):
    net = _rotation_net(scheme)
    for layer in range(1, net.network_layers + 1):
        p, broadcast = layer_structure(net, layer)
        assert p.shape == (160, 160) and broadcast.shape == (4, 160) and p.has_sorted_indices
        np.testing.assert_allclose(dense_from_structure(p, broadcast), _dense(net, layer), rtol=0, atol=1e-13)
    if scheme != "gated":  # gated rotation circuits share no weight on payload columns: no broadcast
        assert float(np.abs(layer_structure(net, 3)[1]).max()) > 1e-3  # the broadcast part is in use


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("make", [_chain_net, _fan_in_net], ids=["chains", "fan-in"])
def test_structure_with_couplings_is_the_dense_weight_matrix(scheme, make):
    # dense_weights writes the edge term from its own formula, layer_structure from couplings_at
    net = make(scheme)
    for layer in range(1, net.network_layers + 1):
        p, broadcast = layer_structure(net, layer)
        np.testing.assert_allclose(dense_from_structure(p, broadcast), _dense(net, layer), rtol=0, atol=1e-13)
    plain = build(net.system.with_changes(couplings=None), width=net.width, redundancy=net.redundancy,
                  n_layers=net.n_layers, seed=net.config.seed, weight_scheme=scheme)
    assert abs(layer_structure(net, 2)[0] - layer_structure(plain, 2)[0]).max() > 0.1  # the edges are in P


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("dense", [True, False])
def test_module_with_couplings_equals_framework_forward(scheme, dense, framework_layers):
    net = _chain_net(scheme)
    active, payloads = _batch(net, batch=24)
    module = to_module(net, dense=dense)
    x = ground_truth(net).encode(active, payloads)
    with torch.no_grad():
        got = module.activations(x)
        without = to_module(_chain_net(scheme, couplings=False), dense=dense).activations(x)
    want = framework_layers(net, active, payloads)
    for layer, (g, w) in enumerate(zip(got, want)):
        _assert_float32_close(g, w, layer, _gain(net))
    assert float((without[-1] - want[-1]).abs().max()) > 0.5  # a module without the couplings computes otherwise


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("system", ["rotation", "step", "custom"])
def test_module_forward_equals_framework_forward(scheme, dense, system, framework_layers):
    if system == "custom":
        net = build(_per_layer_custom(), **{**SHARED, "width": 120}, seed=2, weight_scheme=scheme)
    elif system == "rotation":
        net = _rotation_net(scheme)
    else:
        net = build(step_circuits(40), **SHARED, seed=3, weight_scheme=scheme)
    active, payloads = _batch(net)
    module = to_module(net, dense=dense)
    assert len(module.layers) == net.network_layers + 1 == 5 and module.n_layers == 4
    assert isinstance(module.layers[1], torch.nn.Linear) == dense
    with torch.no_grad():
        got = module.activations(ground_truth(net).encode(active, payloads))
        last = module(got[0])
    want = framework_layers(net, active, payloads)
    assert len(got) == net.network_layers + 1
    assert torch.equal(last, got[-1])
    for layer, (g, w) in enumerate(zip(got, want)):
        # float32 on both sides, different summation order: agreement to float precision
        _assert_float32_close(g, w, layer, _gain(net))
    assert float(want[-1].abs().max()) > 0.5  # the comparison is not between zeros


def test_inhibited_module_is_exact_in_float64():
    """The rounding the float32 comparisons allow for is rounding: in float64 the module of an
    ``inhibited:8`` network equals a forward pass through :meth:`Network.dense_weights` to 1e-10."""
    net = build(_per_layer_custom(), **{**SHARED, "width": 120}, seed=2, weight_scheme="inhibited:8")
    active, payloads = _batch(net)
    x = ground_truth(net).encode(active, payloads).double()
    with torch.no_grad():
        got = to_module(net, dense=True, dtype=torch.float64).activations(x)
    y = x.numpy()
    for layer in range(1, net.network_layers + 1):
        weights, bias = net.dense_weights(layer)
        y = np.maximum(y @ weights.T + bias, 0.0)
        np.testing.assert_allclose(got[layer].numpy(), y, rtol=0, atol=1e-10)
    assert np.abs(y).max() > 0.5


@pytest.mark.parametrize("dense", [True, False])
def test_module_of_a_cleanup_network_has_every_network_layer(dense, framework_layers):
    system = with_error_correction(rotation_chains(30, chain_length=3, seed=0), "redundant:2+cleanup", n_layers=3)
    net = build(system, width=240, redundancy=3, n_layers=3, seed=1)
    assert (net.n_layers, net.network_layers, net.circuit_width) == (3, 5, 6)
    module = to_module(net, dense=dense)
    assert len(module.layers) == 6
    for layer in range(1, 6):
        p, broadcast = layer_structure(net, layer)
        np.testing.assert_allclose(dense_from_structure(p, broadcast), _dense(net, layer), rtol=0, atol=1e-13)
    active, payloads = _batch(net, batch=16)
    with torch.no_grad():
        got = module.activations(ground_truth(net).encode(active, payloads))
    for layer, (g, w) in enumerate(zip(got, framework_layers(net, active, payloads))):
        _assert_float32_close(g, w, layer, _gain(net))
    x = ground_truth(net).encode(active, payloads).double()
    with torch.no_grad():  # in float64 the sparse and the dense module agree to rounding
        sparse = to_module(net, dense=False, dtype=torch.float64).activations(x)
        full = to_module(net, dense=True, dtype=torch.float64).activations(x)
    for a, b in zip(sparse, full):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_module_weights_are_frozen_and_in_a_standard_state_dict():
    net = _rotation_net()
    dense = to_module(net, dense=True)
    assert not any(p.requires_grad for p in dense.parameters())
    state = dense.state_dict()
    assert sorted(state) == sorted(f"layers.{l}.{k}" for l in range(1, net.network_layers + 1)
                                   for k in ("weight", "bias"))
    np.testing.assert_array_equal(state["layers.1.weight"].numpy(), np.eye(net.width))  # layer 1: identity
    np.testing.assert_allclose(state["layers.3.weight"].double().numpy(), _dense(net, 3), atol=1e-6)
    bias = np.repeat(net.system.family.bias, net.n_slots).astype(np.float32)
    np.testing.assert_array_equal(state["layers.2.bias"].numpy(), bias)

    sparse = to_module(net, dense=False)
    assert not any(p.requires_grad for p in sparse.parameters())
    assert all(not t.is_sparse and t.layout == torch.strided for t in sparse.state_dict().values())
    for l in range(1, net.network_layers + 1):
        torch.testing.assert_close(sparse.layers[l].dense_weight(), dense.layers[l].weight, rtol=0, atol=1e-6)

    # a module of another network of the same shape takes this state dict and then computes the same
    other = to_module(_rotation_net(seed=9), dense=True)
    other.load_state_dict(state)
    x = ground_truth(net).encode(*_batch(net))
    with torch.no_grad():
        assert torch.equal(other(x), dense(x))


def test_module_dtype_device_and_size_checks():
    net = _rotation_net()
    m64 = to_module(net, dense=False, dtype=torch.float64)
    assert m64.layers[2].values.dtype == torch.float64 and m64.layers[2].crow_indices.dtype == torch.int64
    assert str(m64.layers[2].values.device) == "cpu"
    with pytest.raises(CircuitsError, match="dtype"):
        to_module(net, dtype=torch.float16)
    with pytest.raises(CircuitsError, match="device must be"):
        to_module(net, device="nonsense")
    with pytest.raises(CircuitsError, match=r"input must have shape \(B, 160\)"):
        m64(torch.zeros(2, 10, dtype=torch.float64))
    wide = build(step_circuits(10), width=2 * 8200, redundancy=1, n_layers=2, seed=0)
    assert isinstance(to_module(wide).layers[1], SparseLinear)  # auto: sparse above 4096
    with pytest.MonkeyPatch.context() as patch:  # dense at any width that fits half the memory available
        patch.setattr("circuits.export._module.available_memory", lambda: 2 * 4 * 2 * (2 * 8200) ** 2 - 1)
        with pytest.raises(CircuitsError, match="dense weights need 2 GiB, more than half"):
            to_module(wide, dense=True)
    with pytest.raises(CircuitsError, match="layer must be in 1..4"):
        layer_structure(net, 5)


# ------------------------------------------------------------ ground truth
@pytest.mark.parametrize("scheme", SCHEMES)
def test_contributions_and_residual_add_up_to_the_weights(scheme):
    net = _rotation_net(scheme)
    truth = ground_truth(net)
    for layer in range(1, net.network_layers + 1):
        total = sum(truth.contribution(t, layer).toarray() for t in range(net.n_circuits)) + truth.residual(layer)
        np.testing.assert_allclose(total, _dense(net, layer), rtol=0, atol=1e-12)


def test_capped_share_is_own_weight_plus_equal_part_of_the_shared_weight():
    net = _rotation_net("capped")
    truth = ground_truth(net)
    layer, S, N = 3, net.redundancy, net.n_slots
    sets = net.assignment.sets
    mean, diff = net.system.layer_weights(layer)
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
    net = build(rotation_circuits(10, seed=3), width=200, redundancy=4, n_layers=4, seed=0)
    truth = ground_truth(net)
    fam = net.system.family
    assert truth.neurons.shape == (5, 10, 4, 4) and truth.neurons.dtype == np.int64
    np.testing.assert_array_equal(truth.neurons[0], truth.neurons[1])
    np.testing.assert_array_equal(truth.neurons[3, 2, 1], 1 * net.n_slots + net.assignment.sets[3, 2])
    for layer in range(2, net.network_layers + 1):
        mean, diff = fam.layer_weights(layer)
        np.testing.assert_array_equal(truth.circuit_weights[layer], mean + diff)
    np.testing.assert_array_equal(truth.circuit_weights[0], fam.mean_w + fam.diff_w)
    np.testing.assert_array_equal(truth.circuit_weights[1], np.broadcast_to(np.eye(4), (10, 4, 4)))
    np.testing.assert_array_equal(truth.bias, fam.bias)
    active, payloads = _batch(net, batch=16, n_active=1)
    x = truth.encode(active, payloads)
    assert x.shape == (16, 200) and x.dtype == torch.float32
    with torch.no_grad():
        acts = to_module(net).activations(x)
    want_on, want_payload = truth.reference(active, payloads)
    assert want_on.shape == (5, 16, 1) and want_payload.shape == (5, 16, 1, 2)
    for layer in range(1, net.network_layers + 1):
        on, payload = truth.decode(acts[layer], layer, circuits=active)
        np.testing.assert_allclose(on, want_on[layer], atol=1e-5)
        np.testing.assert_allclose(payload, want_payload[layer], atol=1e-5)
        all_on, all_payload = truth.decode(acts[layer].numpy(), layer)
        assert all_on.shape == (16, 10) and all_payload.shape == (16, 10, 2)
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
        acts = to_module(net).activations(truth.encode(active, payloads))
    want_on, want_payload = truth.reference(active, payloads)
    np.testing.assert_array_equal(want_on, ev.truth_on)
    np.testing.assert_array_equal(want_payload, ev.truth_payload)
    for layer in range(1, net.network_layers + 1):
        on, payload = truth.decode(acts[layer], layer, circuits=active)
        np.testing.assert_allclose(on, ev.estimate_on[layer], atol=1e-5)
        np.testing.assert_allclose(payload, ev.estimate_payload[layer], atol=1e-5)


def test_ground_truth_rejects_bad_input():
    truth = ground_truth(_rotation_net())
    with pytest.raises(CircuitsError, match="circuit must be in 0..39"):
        truth.contribution(40, 2)
    with pytest.raises(CircuitsError, match="layer must be in 1..4"):
        truth.contribution(0, 0)
    with pytest.raises(CircuitsError, match="layer must be in 1..4"):
        truth.residual(5)
    with pytest.raises(CircuitsError, match="distinct"):
        truth.encode(np.array([[1, 1]]), np.ones((1, 2, 2)))
    with pytest.raises(CircuitsError, match="payloads"):
        truth.encode(np.array([[1, 2]]))
    with pytest.raises(CircuitsError, match="payloads must have shape"):
        truth.encode(np.array([[1, 2]]), np.ones((1, 2, 3)))
    with pytest.raises(CircuitsError, match="circuit indices in 0..39"):
        truth.reference(np.array([[1, 40]]), np.ones((1, 2, 2)))
    with pytest.raises(CircuitsError, match="acts must have shape"):
        truth.decode(torch.zeros(2, 7), 1)
    with pytest.raises(CircuitsError, match="circuits must have shape"):
        truth.decode(torch.zeros(2, 160), 1, circuits=np.zeros((3, 1), dtype=int))
    with pytest.raises(CircuitsError, match="net must be a circuits.Network"):
        ground_truth("net")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_ground_truth_edges_and_circuits_add_up_to_the_weights(scheme):
    net = _chain_net(scheme)
    truth, g, S = ground_truth(net), net.system.couplings, net.redundancy
    assert truth.couplings is g and g.n_edges == 20
    assert truth.receiver_neurons.shape == truth.sender_neurons.shape == (20, 4, 3)
    np.testing.assert_array_equal(truth.receiver_neurons, truth.neurons[g.layer, g.receiver])
    np.testing.assert_array_equal(truth.sender_neurons, truth.neurons[g.layer - 1, g.sender])
    for layer in range(1, net.network_layers + 1):
        total = sum(truth.contribution(t, layer).toarray() for t in range(net.n_circuits)) + truth.residual(layer)
        total += sum((truth.edge_contribution(e).toarray() for e in np.nonzero(g.layer == layer)[0]), 0.0)
        np.testing.assert_allclose(total, _dense(net, layer), rtol=0, atol=1e-12)
    for e in (0, 7, 19):  # each edge: B[i, j] / S from the sender's neurons into the receiver's, nothing else
        want = np.zeros((net.width, net.width))
        for i in range(4):
            for j in range(4):
                want[np.ix_(truth.receiver_neurons[e, i], truth.sender_neurons[e, j])] = g.block[e, i, j] / S
        np.testing.assert_array_equal(truth.edge_contribution(e).toarray(), want)


def test_ground_truth_reference_runs_the_couplings_and_the_module_reproduces_it_when_disjoint():
    # T S = 24 <= D/d = 24: no shared neurons, so the module computes the small system with its couplings
    system = rotation_chains(12, chain_length=3, seed=0)
    net = build(system, width=96, redundancy=2, n_layers=4, seed=0)
    truth = ground_truth(net)
    active, payloads = _batch(net, batch=16)
    want_on, want_payload = truth.reference(active, payloads)
    inputs = system.encode(payloads, active.shape)
    np.testing.assert_array_equal(want_payload, system.family.decode_payload(system.run(active, inputs, 4)))
    alone = system.with_changes(couplings=None).run(active, inputs, 4)
    assert np.abs(want_payload[4] - system.family.decode_payload(alone)[4]).max() > 0.5  # not the circuits alone
    ev = evaluate(net, active=active, payloads=payloads)
    np.testing.assert_array_equal(want_payload, ev.truth_payload)
    with torch.no_grad():
        acts = to_module(net).activations(truth.encode(active, payloads))
    for layer in range(1, net.network_layers + 1):
        on, payload = truth.decode(acts[layer], layer, circuits=active)
        np.testing.assert_allclose(on, want_on[layer], atol=1e-5)
        np.testing.assert_allclose(payload, want_payload[layer], atol=1e-5)


def test_ground_truth_without_couplings_has_none():
    truth = ground_truth(_rotation_net())
    assert truth.couplings is None and truth.receiver_neurons.shape == truth.sender_neurons.shape == (0, 4, 4)
    with pytest.raises(CircuitsError, match="has none"):
        truth.edge_contribution(0)
    with pytest.raises(CircuitsError, match="edge must be in 0..19"):
        ground_truth(_chain_net()).edge_contribution(20)


# ------------------------------------------------------------ save and load
def _same_array(x, y):
    return x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)


def _assert_identical(a, b):
    """Every array of the two networks bit for bit, every field, and the same forward pass and module."""
    sa, sb = a.system, b.system
    fa, fb = sa.family, sb.family
    for x, y in ((fa.mean_w, fb.mean_w), (fa.diff_w, fb.diff_w), (fa.bias, fb.bias),
                 (a.assignment.sets, b.assignment.sets)):
        assert _same_array(x, y)
    assert (sa.name, sa.seed, sa.params, sa.layer_roles, sa.groups, sa.base_width, sa.error_correction) == \
           (sb.name, sb.seed, sb.params, sb.layer_roles, sb.groups, sb.base_width, sb.error_correction)
    assert (fa.name, fa.on_neurons, fa.payload_neurons, fa.payload_dim) == \
           (fb.name, fb.on_neurons, fb.payload_neurons, fb.payload_dim)
    assert (sa.couplings is None) == (sb.couplings is None)
    if sa.couplings is not None:
        for name in ("layer", "receiver", "sender", "block"):
            assert _same_array(getattr(sa.couplings, name), getattr(sb.couplings, name))
    assert a.config == b.config and a.constants == b.constants and a.network_layers == b.network_layers
    assert dict(a.provenance) == dict(b.provenance)
    assert (a.assignment.method, a.assignment.seed, a.assignment.n_slots) == \
           (b.assignment.method, b.assignment.seed, b.assignment.n_slots)
    for pa, pb in zip(a.structures, b.structures):
        assert (pa is None) == (pb is None)
        if pa is not None:
            for x, y in zip(pa, pb):
                assert x.shape == y.shape and (x != y).nnz == 0
    active, payloads = _batch(a)
    inputs = a.system.encode(payloads, active.shape)
    for x, y in zip(a.forward(active, inputs), b.forward(active, inputs)):
        assert torch.equal(x, y)
    for x, y in zip(to_module(a, dense=False).state_dict().values(), to_module(b, dense=False).state_dict().values()):
        assert torch.equal(x, y)
    acts = np.random.default_rng(0).uniform(-1, 2, (5, 7, a.circuit_width))
    np.testing.assert_allclose(fb.decode_on(acts), fa.decode_on(acts), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fb.decode_payload(acts), fa.decode_payload(acts), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sb.encode(payloads, active.shape), sa.encode(payloads, active.shape),
                               rtol=1e-12, atol=1e-12)


def _config(path):
    return json.loads((Path(path) / "config.json").read_text())


def _checksum(weights: bytes, config: dict) -> str:
    """The documented seal: SHA-256 over, each preceded by a separator line, the canonical JSON of the format,
    version and identity, the canonical JSON of the other fields, and the weights' bytes."""
    def canonical(value):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()
    head = {k: config.get(k) for k in ("format", "format_version", "identity")}
    rest = {k: v for k, v in config.items() if k not in ("format", "format_version", "identity", "sha256")}
    h = hashlib.sha256()
    for part in (canonical(head), canonical(rest), weights):
        h.update(b"\n--\n" + part)
    return h.hexdigest()


def _rewrite(path, weights=None, config=None):
    """Replace the weights and/or config, with a checksum that matches them (a deliberate, consistent edit)."""
    path = Path(path)
    if weights is not None:
        (path / "weights.safetensors").write_bytes(weights)
    cfg = _config(path) if config is None else config
    cfg["sha256"] = _checksum((path / "weights.safetensors").read_bytes(), cfg)
    (path / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_save_load_reproduces_a_registered_system_network(tmp_path, scheme):
    net = _rotation_net(scheme, chi_scale=0.5 if scheme == "capped" else 1.0)
    path = save_network(net, tmp_path / "net")
    assert path == tmp_path / "net"
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "weights.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net"]  # no temporary directory left behind
    cfg = _config(path)
    assert (cfg["format"], cfg["format_version"], cfg["circuits_version"]) == \
           ("circuits-network", FORMAT_VERSION, circuits.__version__) and FORMAT_VERSION == 4
    assert cfg["system"]["rebuild"] and cfg["system"]["seed"] == 0 and cfg["system"]["name"] == "rotation"
    assert cfg["network"] == {**net.config.to_dict()} and cfg["network"]["seed"] == 1
    assert cfg["sha256"] == _checksum((path / "weights.safetensors").read_bytes(), cfg)
    arrays = st_load((path / "weights.safetensors").read_bytes())
    name = circuits.WEIGHT_SCHEMES[scheme].constant_names[0]
    np.testing.assert_array_equal(arrays[f"constants.{name}"], [c[name] for c in net.constants])
    assert not any(k.startswith(("codec.", "couplings.")) for k in arrays)  # rebuilt from the registry
    loaded = load_network(path)
    _assert_identical(net, loaded)
    a = evaluate(net, n_active=2, batch_size=40, seed=3).to_dict()
    b = evaluate(loaded, n_active=2, batch_size=40, seed=3).to_dict()
    assert a == b


@pytest.mark.parametrize("system", ["custom", "step"])
def test_save_load_reproduces_hand_specified_and_step_systems(tmp_path, system):
    custom = system == "custom"
    small = _per_layer_custom() if custom else step_circuits(40)
    net = build(small, **{**SHARED, "width": 120 if custom else 160}, seed=4,
                weight_scheme="uncorrected" if custom else "capped")
    loaded = load_network(save_network(net, tmp_path / system))
    cfg = _config(tmp_path / system)
    assert cfg["system"]["rebuild"] == (not custom) and cfg["system"]["name"] == system
    arrays = st_load((tmp_path / system / "weights.safetensors").read_bytes())
    assert any(k.startswith("codec.") for k in arrays) == custom
    _assert_identical(net, loaded)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_save_load_reproduces_a_network_with_couplings(tmp_path, scheme):
    net = _chain_net(scheme)
    path = save_network(net, tmp_path / "chains")
    cfg = _config(path)
    assert cfg["system"]["n_edges"] == 20 and cfg["system"]["params"] == {"chain_length": 3, "b": 1.0}
    assert cfg["system"]["groups"] == {"size": 3, "payload": [True, False, False]}
    loaded = load_network(path)
    _assert_identical(net, loaded)
    first = evaluate(net, n_active=3, batch_size=20, seed=4)
    again = evaluate(loaded, n_active=3, batch_size=20, seed=4)
    assert first.to_dict() == again.to_dict()


def test_save_load_reproduces_a_fan_in_network_and_a_hand_specified_one_with_couplings(tmp_path):
    net = _fan_in_net("split")
    _assert_identical(net, load_network(save_network(net, tmp_path / "fan-in")))
    # the same couplings on a hand-specified copy of the system: restored from arrays
    fam = net.system.family
    custom = custom_circuits(fam.mean_w + fam.diff_w, fam.bias, on_neurons=(0, 1), active_input=np.zeros(4),
                             couplings=net.system.couplings, groups=net.system.groups, mean_w=fam.mean_w,
                             payload_neurons=(2, 3), payload_dim=2, encode_payload=fam.encode_payload,
                             decode_payload=fam.decode_payload, decode_on=fam.decode_on)
    other = build(custom, width=160, redundancy=3, n_layers=3, seed=1, weight_scheme="split")
    path = save_network(other, tmp_path / "custom")
    assert not _config(path)["system"]["rebuild"] and _config(path)["system"]["n_edges"] == 20
    _assert_identical(other, load_network(path))


@pytest.mark.slow
@pytest.mark.parametrize("error_correction", ["redundant:2+cleanup", "step:0.4", "cleanup"])
def test_save_load_reproduces_error_corrected_networks(tmp_path, error_correction):
    system = with_error_correction(rotation_chains(30, chain_length=3, seed=0), error_correction, n_layers=3)
    net = build(system, width=6 * 40, redundancy=3, n_layers=3, seed=2)
    path = save_network(net, tmp_path / "ec")
    cfg = _config(path)["system"]
    assert cfg["rebuild"] and cfg["error_correction"] == error_correction and cfg["base_width"] == 4
    assert cfg["layer_roles"] == (None if "cleanup" not in error_correction else
                                  ["computation", "cleanup", "computation", "cleanup", "computation"])
    loaded = load_network(path)
    assert loaded.network_layers == net.network_layers == (5 if "cleanup" in error_correction else 3)
    _assert_identical(net, loaded)
    # a hand-specified system with error correction: restored from its arrays, codecs and record
    custom = with_error_correction(_per_layer_custom(n_layers=3), error_correction, n_layers=3)
    other = build(custom, width=custom.circuit_width * 40, redundancy=4, n_layers=3, seed=0)
    path = save_network(other, tmp_path / "custom-ec")
    assert not _config(path)["system"]["rebuild"]
    _assert_identical(other, load_network(path))


@pytest.mark.slow
def test_save_load_keeps_the_provenance_of_a_spec_network(tmp_path):
    spec = ExperimentSpec(width=400, n_circuits=50, redundancy=4, n_layers=2, error_correction="step:0.4+tuned-chi",
                          seed=3)
    net = build(spec)
    assert net.config.chi_scale != 1.0  # tuned on a calibration batch: the saved config keeps the choice
    path = save_network(net, tmp_path / "spec", metadata={"note": "from a spec", "run": [1, 2]})
    cfg = _config(path)
    assert cfg["provenance"] == spec.to_dict() and cfg["metadata"] == {"note": "from a spec", "run": [1, 2]}
    loaded = load_network(path)
    assert dict(loaded.provenance) == spec.to_dict()
    _assert_identical(net, loaded)
    assert load_network(save_network(_rotation_net(), tmp_path / "plain")).provenance == {}


def test_save_refuses_what_it_cannot_store_or_would_overwrite(tmp_path):
    net = _rotation_net()
    save_network(net, tmp_path / "a")
    with pytest.raises(CircuitsError, match="not empty; pass overwrite=True"):
        save_network(net, tmp_path / "a")
    other = _rotation_net(seed=8)
    _assert_identical(other, load_network(save_network(other, tmp_path / "a", overwrite=True)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    (tmp_path / "empty").mkdir()
    _assert_identical(net, load_network(save_network(net, tmp_path / "empty")))  # an empty directory needs no overwrite
    (tmp_path / "file").write_text("x")
    with pytest.raises(CircuitsError, match="is a file, not a folder"):
        save_network(net, tmp_path / "file", overwrite=True)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(CircuitsError, match=r"not part of a saved network \(notes.txt\)"):
        save_network(net, tmp_path / "mine", overwrite=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(CircuitsError, match="cannot write the network to .*file/net"):
        save_network(net, tmp_path / "file" / "net")  # the parent is a file: the OSError becomes a CircuitsError
    with pytest.raises(CircuitsError, match="JSON-able"):
        save_network(net, tmp_path / "b", metadata={"bad": object()})
    with pytest.raises(CircuitsError, match="JSON-able"):
        save_network(net, tmp_path / "b", metadata={"nan": float("nan")})
    w = np.broadcast_to(np.array([[2.0, -2.0], [2.0, -2.0]]), (5, 2, 2))
    square = custom_circuits(w, np.array([-0.5, -1.5]), on_neurons=(0, 1), active_input=np.array([1.5, 0.5]),
                             decode_on=lambda a: (a[..., 0] - a[..., 1]) ** 2)
    with pytest.raises(CircuitsError, match="decode_on function is not affine"):
        save_network(build(square, width=40, redundancy=2, n_layers=2, seed=0), tmp_path / "b")
    assert not (tmp_path / "b").exists()


@pytest.mark.slow
def test_save_with_overwrite_keeps_the_old_network_when_the_new_write_fails(tmp_path, monkeypatch):
    old, new = _rotation_net(seed=1), _rotation_net(seed=8)
    path = save_network(old, tmp_path / "net")
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    real_write, real_rename = _storage._write_bytes, os.rename

    def failing_write(target, data):
        if target.name == "config.json":
            raise OSError(28, "No space left on device")
        real_write(target, data)

    monkeypatch.setattr(_storage, "_write_bytes", failing_write)
    with pytest.raises(CircuitsError, match="cannot write the network to .*No space left on device"):
        save_network(new, path, overwrite=True)
    monkeypatch.setattr(_storage, "_write_bytes", real_write)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net"]  # the half-written copy is gone
    _assert_identical(old, load_network(path))

    calls = []

    def failing_rename(src, dst):  # the swap itself fails after the old directory went aside
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real_rename(src, dst)

    monkeypatch.setattr(_storage, "_exchange", lambda a, b: False)  # a system without an atomic exchange
    monkeypatch.setattr(_storage.os, "rename", failing_rename)
    with pytest.raises(CircuitsError, match="Input/output error"):
        save_network(new, path, overwrite=True)
    monkeypatch.setattr(_storage.os, "rename", real_rename)
    assert calls[0][0] == "net" and calls[1][1] == "net"  # the old one went aside, the new one did not come in
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net"]
    _assert_identical(old, load_network(path))
    _assert_identical(new, load_network(save_network(new, path, overwrite=True)))


@pytest.mark.slow
def test_a_killed_overwrite_leaves_a_whole_network_and_the_next_save_clears_its_leftovers(tmp_path):
    """``cis build --overwrite`` killed (SIGKILL) at each step of the save: the folder holds the old or the new
    network, never a broken one, and the next save clears what the dead writer left beside it."""
    spec = ExperimentSpec(width=400, n_circuits=50, n_layers=2)
    old, new = build(spec), build(spec.replace(seed=1))
    path = save_network(old, tmp_path / "net")

    def killed_at(step):  # a forked writer (file system calls only) that kills itself at its step-th call
        pid = os.fork()
        if pid == 0:
            count = [0]
            for owner, name in ((_storage, "_write_bytes"), (_storage, "_exchange"), (_storage.shutil, "rmtree"),
                                (_storage.os, "rename"), (_storage.os, "mkdir")):
                def wrapped(*a, real=getattr(owner, name), **k):
                    count[0] += 1
                    if count[0] == step:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return real(*a, **k)
                setattr(owner, name, wrapped)
            save_network(new, path, overwrite=True)
            os._exit(0)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    seen = set()
    for step in range(1, 10):
        code = killed_at(step)
        seen.add(load_network(path).provenance["seed"])  # whole: the old network or the new one
        if code == 0:
            break
        assert code == -signal.SIGKILL
        save_network(old, path, overwrite=True)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["net"]  # the dead writer's leftovers are gone
    assert code == 0 and seen == {0, 1}
    # a writer killed after moving the old network aside (no atomic exchange): the next save puts it back first
    save_network(old, path, overwrite=True)
    aside = tmp_path / f".net.replaced-{2**22 + 7}-deadbeef"
    os.rename(path, aside)
    assert _storage.remove_stale(path) == [aside.name] and load_network(path).provenance["seed"] == 0


def test_load_refuses_incomplete_corrupt_and_other_version_directories(tmp_path):
    good = save_network(_rotation_net(), tmp_path / "good")
    blob = (good / "weights.safetensors").read_bytes()

    def copy(name):
        return Path(shutil.copytree(good, tmp_path / name))

    with pytest.raises(CircuitsError, match="must be a directory"):
        load_network(tmp_path / "absent")
    with pytest.raises(CircuitsError, match="is a file, not a folder"):
        load_network(good / "config.json")
    for missing in ("config.json", "weights.safetensors"):
        path = copy(f"no-{missing}")
        (path / missing).unlink()
        with pytest.raises(CircuitsError, match=f"incomplete saved network: .*{re.escape(missing)} is missing"):
            load_network(path)
    path = copy("bad-json")
    (path / "config.json").write_text('{"format": "circuits-network", ')
    with pytest.raises(CircuitsError, match="not valid JSON"):
        load_network(path)
    path = copy("not-ours")
    (path / "config.json").write_text('{"format": "something-else"}')
    with pytest.raises(CircuitsError, match="not the config of a saved network"):
        load_network(path)
    path = copy("flipped")
    (path / "weights.safetensors").write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(CircuitsError, match="checksum .* does not match"):
        load_network(path)
    path = copy("truncated")
    (path / "weights.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CircuitsError, match="does not match"):
        load_network(path)
    _rewrite(path)  # truncated, with a matching checksum: the safetensors reader fails
    with pytest.raises(CircuitsError, match="corrupt saved network"):
        load_network(path)
    path = copy("no-checksum")
    cfg = _config(path)
    del cfg["sha256"]
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CircuitsError, match="lacks its \"sha256\" checksum"):
        load_network(path)
    for version in (1, 2, 3):  # circuits 0.1 and 0.2 wrote these
        path = copy(f"v{version}")
        cfg = _config(path)
        cfg.update(format_version=version, circuits_version="0.1.0")
        _rewrite(path, config=cfg)
        with pytest.raises(CircuitsError, match=f"format version {version}, written by circuits 0.1.0; .* rebuild "
                                                "the network with the current version"):
            load_network(path)
    path = copy("future")
    cfg = _config(path)
    cfg["format_version"] = FORMAT_VERSION + 1
    _rewrite(path, config=cfg)
    with pytest.raises(CircuitsError, match="format version 5; this version of circuits reads 4"):
        load_network(path)
    path = copy("no-key")
    cfg = _config(path)
    del cfg["network"]["width"]
    _rewrite(path, config=cfg)
    with pytest.raises(CircuitsError, match="corrupt saved network"):
        load_network(path)
    with pytest.raises(CircuitsError, match="device must be"):
        load_network(good, device="nonsense")
    _assert_identical(load_network(good), load_network(good))


@pytest.mark.parametrize("section, key, value", [
    ("network", "width", 200),
    ("network", "weight_scheme", "split"),
    ("network", "n_layers", 3),
    ("network", "seed", 2),
    ("network", "chi_scale", 0.5),
    ("system", "params", {"chain_length": 2, "b": 1.0}),
    ("system", "error_correction", "step:0.4"),
    ("system", "groups", {"size": 1, "payload": [True]}),
    ("system", "seed", 1),
    ("provenance", "n_circuits", 31),
    ("metadata", "note", "edited"),
])
def test_load_refuses_an_edited_config(tmp_path, section, key, value):
    path = save_network(_chain_net(), tmp_path / "chains", metadata={"note": "original"})
    cfg = _config(path)
    assert cfg[section].get(key) != value
    cfg[section][key] = value  # edited by hand, the checksum left as it was
    (path / "config.json").write_text(json.dumps(cfg, indent=2))
    with pytest.raises(CircuitsError, match="checksum .* does not match"):
        load_network(path)


def test_load_refuses_consistent_files_that_describe_another_network(tmp_path):
    """Edits made with a matching checksum: what the fields determine is checked all the same."""
    chains = save_network(_chain_net(), tmp_path / "chains")
    blob = (chains / "weights.safetensors").read_bytes()

    def edited(name, arrays=None, edit=None):
        path = Path(shutil.copytree(chains, tmp_path / name))
        cfg = _config(path)
        if edit is not None:
            edit(cfg)
        _rewrite(path, weights=None if arrays is None else st_save(arrays), config=cfg)
        return path

    def set_(section, key, value):
        return lambda cfg: cfg[section].__setitem__(key, value)

    cases = [
        (set_("system", "params", {"chain_length": 2, "b": 1.0}), "differs from the saved arrays in couplings"),
        (set_("system", "error_correction", "step:0.4"), "differs from the saved arrays in family.mean_w"),
        (set_("system", "groups", {"size": 1, "payload": [True]}), "differs from the saved arrays in system.groups"),
        (set_("system", "seed", 5), "differs from the saved arrays in family.diff_w"),
        (set_("system", "name", "no-such-system"), "system.name must be one of"),
        (set_("system", "n_edges", None), "unexpected couplings.block"),
        (set_("network", "weight_scheme", "split"), "missing constants.correction"),
        (set_("network", "weight_scheme", "bogus"), "weight_scheme must be one of capped, uncorrected, split, inhibited"),
        (set_("network", "assignment", "bogus"), "network.assignment must be one of"),
        (set_("network", "n_layers", 3), r"assignment.sets must be integers of shape .* = \(4, 30, 3\)"),
        (set_("network", "redundancy", 2), r"assignment.sets must be integers of shape .* = \(5, 30, 2\)"),
        (set_("network", "width", 162), "width must be a multiple of the circuit width"),
        (set_("network", "width", 80), "assignment.sets must hold slots in 0..19"),
        (set_("network", "chi_scale", 0.5), "constants.chi recomputed from the saved sets differ"),
        (set_("system", "circuit_width", 5), "the saved family has T = 30, d = 4"),
    ]
    for i, (edit, message) in enumerate(cases):
        with pytest.raises(CircuitsError, match=message):
            load_network(edited(f"edit-{i}", edit=edit))

    arrays = st_load(blob)
    arrays["family.diff_w"] = arrays["family.diff_w"] * 1.001
    with pytest.raises(CircuitsError, match="differs from the saved arrays in family.diff_w"):
        load_network(edited("diff", arrays))
    arrays = st_load(blob)
    arrays["constants.chi"] = arrays["constants.chi"] + 1e-16 * (arrays["constants.chi"] != 0)
    with pytest.raises(CircuitsError, match="constants.chi recomputed from the saved sets differ"):
        load_network(edited("chi", arrays))
    arrays = st_load(blob)
    arrays["couplings.sender"] = arrays["couplings.receiver"].copy()
    with pytest.raises(CircuitsError, match=r"receiver != sender"):
        load_network(edited("self-edge", arrays))
    arrays = st_load(blob)
    arrays["couplings.sender"] = (arrays["couplings.sender"] + 3) % 30  # a valid graph, not the system's
    with pytest.raises(CircuitsError, match="differs from the saved arrays in couplings.sender"):
        load_network(edited("other-sender", arrays))
    arrays = st_load(blob)
    arrays["probe.decode_on"] = arrays["probe.decode_on"] + 0.5
    with pytest.raises(CircuitsError, match="differs from the saved arrays in its decode_on function"):
        load_network(edited("codec", arrays))
    arrays = st_load(blob)
    sets = arrays["assignment.sets"].copy()
    sets[2, 0, 1] = sets[2, 0, 0]
    arrays["assignment.sets"] = sets
    with pytest.raises(CircuitsError, match="repeats a slot"):
        load_network(edited("sets", arrays))
    arrays = st_load(blob)
    del arrays["couplings.block"]
    with pytest.raises(CircuitsError, match="missing couplings.block"):
        load_network(edited("no-block", arrays))

    custom = save_network(build(_per_layer_custom(), **{**SHARED, "width": 120}, seed=4), tmp_path / "custom")
    arrays = st_load((custom / "weights.safetensors").read_bytes())
    arrays["codec.decode_on.offset"] = arrays["codec.decode_on.offset"] + 1.0
    path = Path(shutil.copytree(custom, tmp_path / "custom-codec"))
    _rewrite(path, weights=st_save(arrays))
    with pytest.raises(CircuitsError, match="affine decode_on map does not give the saved outputs"):
        load_network(path)
    path = Path(shutil.copytree(custom, tmp_path / "custom-roles"))
    cfg = _config(path)
    cfg["system"]["layer_roles"] = ["computation", "cleanup", "computation", "cleanup"]
    _rewrite(path, config=cfg)
    with pytest.raises(CircuitsError, match="n_layers must be 2 for this system"):
        load_network(path)


# ----------------------------------------------------------------- examples
def test_export_package_example_runs():
    """The example of the export layer's docstring (the README's export section shows it)."""
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(circuits.export)
    assert tests and sum(len(t.examples) for t in tests) >= 15
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


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
