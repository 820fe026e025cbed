"""The sparse forward pass and read-out against the dense weights; chunking; the builder's C and E."""

import json

import numpy as np
import pytest
import torch

import circuits._network as network_module
from circuits import build, custom_circuits, evaluate, make_family, rotation_circuits
from circuits._builder import pattern_and_excess
from circuits._evaluate import draw_active, draw_payloads
from circuits.cli import main
from circuits.cli.bench import dense_max_abs_diff, figure_sweep_grid, parse_active

# Where each sample goes: every sample through the incidence walk (sparse), every sample
# with a nonzero slot through the incidence matrix (dense), or the built-in choice.
PATHS = {"sparse": 2.0, "dense": 0.0, "auto": network_module.DENSE_FRACTION}


def _per_layer_family(n_circuits, n_layers, seed=0):
    """Hand-specified d = 3 circuits whose weights differ per layer: a 2-ReLU step and a third
    neuron that copies the on-indicator with a random gain per layer and circuit."""
    gain = np.random.default_rng(seed).uniform(0.5, 1.5, (n_layers, n_circuits))
    w = np.zeros((n_layers, n_circuits, 3, 3))
    w[..., :2, 0], w[..., :2, 1] = 2.0, -2.0
    w[..., 2, 0], w[..., 2, 1] = gain, -gain
    return custom_circuits(w, np.array([-0.5, -1.5, 0.0]), on_neurons=(0, 1),
                           active_input=np.array([1.5, 0.5, 1.0]), decode_on=lambda a: a[..., 0] - a[..., 1])


def _batch(net, n_active, batch_size, seed):
    rng = np.random.default_rng(seed)
    fam = net.family
    active = draw_active(net.n_circuits, n_active, batch_size, rng)
    inputs = fam.encode(draw_payloads((batch_size, n_active), fam.payload_dim, rng), (batch_size, n_active))
    return active, inputs


def _dense_forward(net, active, inputs, ideal):
    """Layers 0..L through the dense (D, D) matrices of DESIGN.md, in float64."""
    B, d, N = len(active), net.circuit_width, net.n_slots
    x = net.embed(active, inputs).double().reshape(B, d * N).numpy()
    out = [x]
    for layer in range(1, net.n_layers + 1):
        weights, bias = net.dense_weights(layer)
        pre = x @ weights.T + bias
        if ideal:
            x = pre * np.tile(net.active_mask(active, layer).numpy()[:, 0, :], (1, d))
        else:
            x = np.maximum(pre, 0.0)
        out.append(x)
    return [torch.as_tensor(a.reshape(B, d, N)) for a in out]


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("method", ["capped", "uncorrected", "split"])
@pytest.mark.parametrize("ideal", [False, True])
def test_structured_forward_equals_dense_weights(monkeypatch, path, method, ideal):
    """Every read-out of every circuit at every layer agrees with the dense matrices to 1e-5.

    D = 400, T = 150, S = 4 shares neurons (T S = 600 > D/d = 100) at load 0.015, so later
    layers have many neurons on and both the incidence walk and the dense product are used.
    """
    monkeypatch.setattr(network_module, "DENSE_FRACTION", PATHS[path])
    net = build(rotation_circuits(n_circuits=150, seed=1), width=400, redundancy=4, n_layers=4, seed=2,
                method=method)
    active, inputs = _batch(net, 3, 24, seed=3)
    with torch.no_grad():
        ours = net.forward(active, inputs, ideal=ideal)
    dense = _dense_forward(net, active, inputs, ideal)
    assert (ours[-1] > 0).float().mean() > 0.05  # the pass is not trivially sparse here
    for layer, (a, b) in enumerate(zip(ours, dense)):
        assert np.abs(a.double().numpy() - b.numpy()).max() < 1e-5 * max(1.0, float(b.abs().max()))
        assert (net.read_out(a, layer).double() - net.read_out(b, layer)).abs().max() < 1e-5


def test_per_layer_custom_family_forward_equals_dense_weights():
    net = build(_per_layer_family(200, 3), width=3 * 90, redundancy=3, n_layers=3, seed=0)
    assert net.family.per_layer
    active, inputs = _batch(net, 2, 16, seed=1)
    with torch.no_grad():
        ours = net.forward(active, inputs)
    for layer, (a, b) in enumerate(zip(ours, _dense_forward(net, active, inputs, False))):
        assert (net.read_out(a, layer).double() - net.read_out(b, layer)).abs().max() < 1e-5


@pytest.mark.parametrize("method", ["capped", "uncorrected"])
def test_evaluation_does_not_depend_on_chunk_size(method):
    """Per-sample work is done in the same order whatever else is in the chunk: identical numbers."""
    net = build(rotation_circuits(n_circuits=300, seed=0), width=800, redundancy=6, n_layers=4, seed=1,
                method=method)
    runs = [evaluate(net, n_active=3, batch_size=24, seed=5, chunk_size=c) for c in (1, 7, 24)]
    dense_samples = 0
    for ev in runs[1:]:
        assert np.array_equal(ev.table["measured"].to_numpy(), runs[0].table["measured"].to_numpy())
        assert np.array_equal(ev.sample_worst_on, runs[0].sample_worst_on)
        assert np.array_equal(ev.estimate_payload, runs[0].estimate_payload)
        assert ev.fraction_on.equals(runs[0].fraction_on)
    # this network seizes: some samples took the dense path, others the sparse one
    active, inputs = _batch(net, 3, 24, seed=5)
    with torch.no_grad():
        acts = net.forward(active, inputs)
        for layer in range(1, 5):
            dense_samples += len(net._touched(network_module._slot_major(acts[layer]), layer).dense)
    assert 0 < dense_samples < 4 * 24


def _brute_force_inactive(net, acts, layer, active):
    """Inactive-circuit (squared on error summed, worst on error) per sample from all T read-outs."""
    small = net.read_out(acts, layer).double().numpy()
    on = np.abs(net.family.decode_on(small))
    on[np.arange(len(active))[:, None], active] = 0.0
    return (on**2).sum(1), on.max(1)


@pytest.mark.parametrize("method", ["capped", "split"])
def test_inactive_statistics_match_all_read_outs(method):
    """The evaluation's inactive MSE and worst case equal those of the dense (B, T, d) read-out.

    Equal to float32 rounding: the two sum a circuit's S neurons in different orders.
    """
    net = build(rotation_circuits(n_circuits=600, seed=0), width=2000, redundancy=6, n_layers=3, seed=0,
                method=method)
    B = 30
    ev = evaluate(net, n_active=2, batch_size=B, seed=9)
    rng = np.random.default_rng(9)
    active = draw_active(net.n_circuits, 2, B, rng)
    assert np.array_equal(active, ev.active)
    inputs = net.family.encode(draw_payloads((B, 2), 2, rng), (B, 2))
    with torch.no_grad():
        acts = net.forward(active, inputs)
    t = ev.table
    for layer in (1, 2, 3):
        square, worst = _brute_force_inactive(net, acts[layer], layer, active)
        rows = t[(t.layer == layer) & (t.group == "inactive") & (t.quantity == "on")].set_index("stat")
        assert rows.loc["mse", "measured"] == pytest.approx(square.sum() / (B * (net.n_circuits - 2)), rel=1e-6)
        assert rows.loc["worst", "measured"] == pytest.approx(worst.max(), rel=1e-6)


def test_inactive_circuits_without_an_on_neuron_read_exactly_zero():
    net = build(rotation_circuits(n_circuits=600, seed=0), width=2000, redundancy=6, n_layers=3, seed=0)
    active, inputs = _batch(net, 2, 20, seed=4)
    with torch.no_grad():
        acts = net.forward(active, inputs)
    for layer, a in enumerate(acts):
        small = net.read_out(a, layer)  # (B, T, d)
        on_slot = (a != 0).any(1)  # (B, N)
        touches = on_slot[:, torch.as_tensor(net.assignment.sets[layer])].any(-1)  # (B, T)
        assert (~touches).any()
        assert torch.all(small[~touches] == 0)
        # the sparse walk finds exactly the circuits that touch an on neuron
        touched = net._touched(network_module._slot_major(a), layer)
        found = torch.zeros_like(touches)
        found[touched.sample, touched.circuit] = True
        if len(touched.dense):
            found[touched.dense] = touches[touched.dense]
        assert torch.equal(found, touches)


def test_pattern_and_excess_from_the_sets():
    """C = min(1, M) and E = M - C with M = sum_t e_out[t] e_in[t]^T, written out densely."""
    net = build(rotation_circuits(n_circuits=400, seed=0), width=4 * 120, redundancy=4, n_layers=2, seed=3)
    sets = net.assignment.sets
    T, N = 400, 120
    e_out, e_in = np.zeros((T, N)), np.zeros((T, N))
    e_out[np.arange(T)[:, None], sets[2]] = 1
    e_in[np.arange(T)[:, None], sets[1]] = 1
    m = e_out.T @ e_in
    assert np.array_equal(net.patterns[2].toarray(), np.minimum(1, m))
    assert np.array_equal(net.excess[2].toarray(), m - np.minimum(1, m))
    assert net.excess[2].sum() > 0


def test_pattern_and_excess_with_64_bit_keys():
    """Past 65535 slots the pair keys no longer fit 32 bits; the counts must not change."""
    n_slots = 70000
    sets_out = np.array([[69999, 5, 7], [69999, 6, 8], [1, 2, 3]])
    sets_in = np.array([[69998, 0, 4], [69998, 9, 10], [0, 2, 69998]])
    C, E = pattern_and_excess(sets_out, sets_in, n_slots)
    assert C.nnz == 3 * 9 - 1 and C.max() == 1
    assert E.nnz == 1 and E[69999, 69998] == 1


def test_network_without_stored_excess_makes_it():
    net = build(rotation_circuits(n_circuits=300, seed=0), width=800, redundancy=6, n_layers=3, seed=1)
    bare = type(net)(net.family, net.config, net.assignment, net.patterns, net.chi, net.corrections)
    active, inputs = _batch(net, 2, 10, seed=0)
    with torch.no_grad():
        a, b = net.forward(active, inputs)[-1], bare.forward(active, inputs)[-1]
    assert torch.equal(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    net = build(make_family("rotation", 300, seed=0), width=800, redundancy=6, n_layers=3, seed=1)
    a = evaluate(net, n_active=2, batch_size=50, seed=3)
    b = evaluate(net.to("cuda"), n_active=2, batch_size=50, seed=3)
    assert np.allclose(a.table["measured"], b.table["measured"], rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------- cis bench
def test_bench_json_reports_timings_memory_and_dense_agreement(capsys):
    assert main(["bench", "--width", "400", "--circuits", "150", "--redundancy", "4", "--layers", "3",
                 "--active", "1,2", "--batch", "30", "--dense-batch", "10", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("build_seconds", "evaluate_seconds", "peak_memory_mb", "dense_max_abs_diff"):
        assert out[key] >= 0
    assert out["n_active"] == [1, 2] and set(out["evaluate_seconds_per_z"]) == {"1", "2"}
    assert out["dense_max_abs_diff"] < 1e-5
    assert out["peak_memory_mb"] > 10


def test_bench_skips_the_dense_check_above_the_limit(capsys):
    assert main(["bench", "--width", "400", "--circuits", "150", "--redundancy", "4", "--layers", "2",
                 "--active", "1", "--batch", "10", "--dense-limit", "100", "--format", "json"]) == 0
    assert "dense_max_abs_diff" not in json.loads(capsys.readouterr().out)


def test_dense_check_detects_a_wrong_forward_pass(monkeypatch):
    """The agreement figure is a real comparison: a 1% error in the structured pass shows up."""
    net = build(rotation_circuits(n_circuits=150, seed=0), width=400, redundancy=4, n_layers=3, seed=0)
    good, _ = dense_max_abs_diff(net, 2, 10, seed=0)
    assert good < 1e-5
    matvec = network_module._matvec
    monkeypatch.setattr(network_module, "_matvec", lambda w, r: 1.01 * matvec(w, r))  # not used by dense_weights
    bad, _ = dense_max_abs_diff(net, 2, 10, seed=0)
    assert bad > 1e-3


def test_figure_sweep_grid_and_active_parsing():
    grid = figure_sweep_grid()
    assert len(grid) == len(set(grid)) == 41
    assert {D for D, _ in grid} == {800, 1000, 1200, 1400, 1600, 1800, 2000}
    assert parse_active("3") == [3] and parse_active("1,2,3,4") == [1, 2, 3, 4] and parse_active("1-4") == [1, 2, 3, 4]
    for bad in ("0", "a", "", "2,-1"):
        with pytest.raises(ValueError, match="active must be"):
            parse_active(bad)
