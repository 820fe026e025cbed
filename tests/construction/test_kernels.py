"""The sparse forward pass and read-out against the dense weights; chunking; trace; the builder's C and E."""

import numpy as np
import pytest
import torch

from circuits import build, custom_circuits, evaluate, make_system, rotation_circuits
from circuits.construction import _kernels as kernels_module
from circuits.construction import assemble
from circuits.construction._schemes import pattern_and_excess

# Where each sample goes: every sample through the incidence walk (sparse), every sample
# with a nonzero slot through the incidence matrix (dense), or the built-in choice.
PATHS = {"sparse": 2.0, "dense": 0.0, "auto": kernels_module.DENSE_FRACTION}


def _per_layer_system(n_circuits, n_layers, seed=0):
    """Hand-specified d = 3 circuits whose weights differ per layer: a 2-ReLU step and a third
    neuron that copies the on-indicator with a random gain per layer and circuit."""
    gain = np.random.default_rng(seed).uniform(0.5, 1.5, (n_layers, n_circuits))
    w = np.zeros((n_layers, n_circuits, 3, 3))
    w[..., :2, 0], w[..., :2, 1] = 2.0, -2.0
    w[..., 2, 0], w[..., 2, 1] = gain, -gain
    return custom_circuits(w, np.array([-0.5, -1.5, 0.0]), on_neurons=(0, 1),
                           active_input=np.array([1.5, 0.5, 1.0]), decode_on=lambda a: a[..., 0] - a[..., 1])


def _batch(net, n_active, batch_size, seed):
    """The draws ``evaluate(net, n_active=..., batch_size=..., seed=seed)`` makes, and their inputs."""
    system = net.system
    active, payloads = system.draw(n_active, batch_size, np.random.default_rng(seed))
    return active, system.encode(payloads, active.shape)


def _dense_forward(net, active, inputs, ideal):
    """Layers 0..L through the dense (D, D) matrices of docs/design.md, in float64."""
    B, d, N = len(active), net.circuit_width, net.n_slots
    x = net.embed(active, inputs).double().reshape(B, d * N).numpy()
    out = [x]
    for layer in range(1, net.network_layers + 1):
        weights, bias = net.dense_weights(layer)
        pre = x @ weights.T + bias
        if ideal:
            x = pre * np.tile(net.active_mask(active, layer).numpy()[:, 0, :], (1, d))
        else:
            x = np.maximum(pre, 0.0)
        out.append(x)
    return [torch.as_tensor(a.reshape(B, d, N)) for a in out]


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("weight_scheme", ["capped", "uncorrected", "split"])
@pytest.mark.parametrize("ideal", [False, True])
def test_structured_forward_equals_dense_weights(monkeypatch, path, weight_scheme, ideal):
    """Every read-out of every circuit at every layer agrees with the dense matrices to 1e-5.

    D = 400, T = 150, S = 4 shares neurons (T S = 600 > D/d = 100) at load 0.015, so later
    layers have many neurons on and both the incidence walk and the dense product are used.
    """
    monkeypatch.setattr(kernels_module, "DENSE_FRACTION", PATHS[path])
    net = build(rotation_circuits(n_circuits=150, seed=1), width=400, redundancy=4, n_layers=4, seed=2,
                weight_scheme=weight_scheme)
    active, inputs = _batch(net, 3, 24, seed=3)
    with torch.no_grad():
        ours = net.forward(active, inputs, ideal=ideal)
    dense = _dense_forward(net, active, inputs, ideal)
    assert len(ours) == len(dense) == 5
    assert (ours[-1] > 0).float().mean() > 0.05  # the pass is not trivially sparse here
    for layer, (a, b) in enumerate(zip(ours, dense)):
        assert np.abs(a.double().numpy() - b.numpy()).max() < 1e-5 * max(1.0, float(b.abs().max()))
        assert (net.read_out(a, layer).double() - net.read_out(b, layer)).abs().max() < 1e-5


def test_per_layer_custom_system_forward_equals_dense_weights():
    net = build(_per_layer_system(200, 3), width=3 * 90, redundancy=3, n_layers=3, seed=0)
    assert net.system.family.per_layer
    active, inputs = _batch(net, 2, 16, seed=1)
    with torch.no_grad():
        ours = net.forward(active, inputs)
    for layer, (a, b) in enumerate(zip(ours, _dense_forward(net, active, inputs, False))):
        assert (net.read_out(a, layer).double() - net.read_out(b, layer)).abs().max() < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("weight_scheme", ["capped", "uncorrected"])
def test_evaluation_does_not_depend_on_chunk_size(weight_scheme):
    """Per-sample work is done in the same order whatever else is in the chunk: identical numbers."""
    net = build(rotation_circuits(n_circuits=300, seed=0), width=800, redundancy=6, n_layers=4, seed=1,
                weight_scheme=weight_scheme)
    runs = [evaluate(net, n_active=3, batch_size=24, seed=5, chunk_size=c) for c in (1, 7, 24)]
    for ev in runs[1:]:
        assert np.array_equal(ev.table["measured"].to_numpy(), runs[0].table["measured"].to_numpy())
        assert np.array_equal(ev.sample_worst_on, runs[0].sample_worst_on)
        assert np.array_equal(ev.estimate_payload, runs[0].estimate_payload)
        assert ev.fraction_on.equals(runs[0].fraction_on)
    # this network seizes: some samples took the dense path, others the sparse one
    active, inputs = _batch(net, 3, 24, seed=5)
    assert np.array_equal(active, runs[0].active)
    dense_samples = 0
    with torch.no_grad():
        for state in net.trace(active, inputs):
            if state.layer >= 1:
                dense_samples += len(state.touched.dense)
    assert 0 < dense_samples < 4 * 24


def _brute_force_inactive(net, acts, layer, active):
    """Inactive-circuit (squared on error summed, worst on error) per sample from all T read-outs."""
    small = net.read_out(acts, layer).double().numpy()
    on = np.abs(net.system.family.decode_on(small))
    on[np.arange(len(active))[:, None], active] = 0.0
    return (on**2).sum(1), on.max(1)


@pytest.mark.parametrize("weight_scheme", ["capped", "split"])
def test_inactive_statistics_match_all_read_outs(weight_scheme):
    """The evaluation's inactive MSE and worst case equal those of the dense (B, T, d) read-out.

    Equal to float32 rounding: the two sum a circuit's S neurons in different orders.
    """
    net = build(rotation_circuits(n_circuits=600, seed=0), width=2000, redundancy=6, n_layers=3, seed=0,
                weight_scheme=weight_scheme)
    B = 30
    ev = evaluate(net, n_active=2, batch_size=B, seed=9)
    active, inputs = _batch(net, 2, B, seed=9)
    assert np.array_equal(active, ev.active)
    with torch.no_grad():
        acts = net.forward(active, inputs)
    t = ev.table
    for layer in (1, 2, 3):
        square, worst = _brute_force_inactive(net, acts[layer], layer, active)
        rows = t[(t.layer == layer) & (t.circuit_state == "inactive") & (t.quantity == "on")].set_index("stat")
        assert rows.loc["mse", "measured"] == pytest.approx(square.sum() / (B * (net.n_circuits - 2)), rel=1e-6)
        assert rows.loc["worst", "measured"] == pytest.approx(worst.max(), rel=1e-6)
    # layer 0 is the input written into the network and read back: inactive circuits read what
    # the active circuits' inputs leave in their neurons
    placed = net.place(active, inputs, 0)
    square, worst = _brute_force_inactive(net, placed, 0, active)
    rows = t[(t.layer == 0) & (t.circuit_state == "inactive") & (t.quantity == "on")].set_index("stat")
    assert (rows.role == "input").all()
    assert rows.loc["mse", "measured"] == pytest.approx(square.sum() / (B * (net.n_circuits - 2)), rel=1e-6)
    assert rows.loc["worst", "measured"] == pytest.approx(worst.max(), rel=1e-6)


def test_inactive_circuits_without_an_on_neuron_read_exactly_zero():
    net = build(rotation_circuits(n_circuits=600, seed=0), width=2000, redundancy=6, n_layers=3, seed=0)
    active, inputs = _batch(net, 2, 20, seed=4)
    with torch.no_grad():
        forward = net.forward(active, inputs)
        states = list(net.trace(active, inputs))
    assert [s.layer for s in states] == [0, 1, 2, 3]
    for state in states:
        layer = state.layer
        a = state.acts.transpose(1, 2)  # slot-major -> (B, d, D/d)
        if layer == 0:  # the input a[0] placed in the e[0] neurons (forward starts from w a[0])
            assert torch.equal(a, net.place(active, inputs, 0))
        else:  # the same pass as forward
            assert torch.equal(a, forward[layer])
        small = net.read_out(a, layer)  # (B, T, d)
        on_slot = (a != 0).any(1)  # (B, N)
        touches = on_slot[:, torch.as_tensor(net.assignment.sets[layer])].any(-1)  # (B, T)
        assert (~touches).any()
        assert torch.all(small[~touches] == 0)
        # the sparse walk finds exactly the circuits that touch an on neuron
        touched = state.touched
        found = torch.zeros_like(touches)
        found[touched.sample, touched.circuit] = True
        if len(touched.dense):
            found[touched.dense] = touches[touched.dense]
        assert torch.equal(found, touches)
        # and the read-outs from the touched circuits are those of the dense read-out
        values, rest, dense_values = net.read_touched(state)
        assert torch.allclose(values, small[touched.sample, touched.circuit], atol=1e-6)
        assert not rest.any()  # capped: an untouched circuit reads exactly zero
        assert torch.allclose(net.read(state, active), net.read_out(a, layer, active), atol=1e-6)


def test_pattern_and_excess_from_the_sets():
    """C = min(1, M) and E = M - C with M = sum_t e_out[t] e_in[t]^T, written out densely."""
    net = build(rotation_circuits(n_circuits=400, seed=0), width=4 * 120, redundancy=4, n_layers=2, seed=3)
    sets = net.assignment.sets
    T, N = 400, 120
    e_out, e_in = np.zeros((T, N)), np.zeros((T, N))
    e_out[np.arange(T)[:, None], sets[2]] = 1
    e_in[np.arange(T)[:, None], sets[1]] = 1
    m = e_out.T @ e_in
    pattern, excess = net.structures[2]
    assert np.array_equal(pattern.toarray(), np.minimum(1, m))
    assert np.array_equal(excess.toarray(), m - np.minimum(1, m))
    assert excess.sum() > 0
    assert net.structures[0] is None and net.structures[1] is None


def test_pattern_and_excess_with_64_bit_keys():
    """Past 65535 slots the pair keys no longer fit 32 bits; the counts must not change."""
    n_slots = 70000
    sets_out = np.array([[69999, 5, 7], [69999, 6, 8], [1, 2, 3]])
    sets_in = np.array([[69998, 0, 4], [69998, 9, 10], [0, 2, 69998]])
    C, E = pattern_and_excess(sets_out, sets_in, n_slots)
    assert C.nnz == 3 * 9 - 1 and C.max() == 1
    assert E.nnz == 1 and E[69999, 69998] == 1


def test_network_assembled_again_from_its_assignment_is_the_same():
    """What load does: the scheme's structures and constants made again from the system, the config
    and the assignment give the same forward pass, bit for bit."""
    net = build(rotation_circuits(n_circuits=300, seed=0), width=800, redundancy=6, n_layers=3, seed=1)
    again = assemble(net.system, net.config, net.assignment)
    assert again.constants == net.constants
    active, inputs = _batch(net, 2, 10, seed=0)
    with torch.no_grad():
        a, b = net.forward(active, inputs)[-1], again.forward(active, inputs)[-1]
    assert torch.equal(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    net = build(make_system("rotation", 300, seed=0), width=800, redundancy=6, n_layers=3, seed=1)
    a = evaluate(net, n_active=2, batch_size=50, seed=3)
    b = evaluate(net.to("cuda"), n_active=2, batch_size=50, seed=3)
    assert np.allclose(a.table["measured"], b.table["measured"], rtol=1e-4, atol=1e-6)
