"""Cross-circuit edges: specification, exact reference run, structured vs dense, chains, CLI."""

import json

import numpy as np
import pytest
import torch

from circuits import (CircuitGraph, CircuitsError, build, chain_rows, evaluate_chains, rotation_chains,
                      rotation_circuits, run_graph)
from circuits._graph import chain_position, draw_chains
from circuits.cli import main


def _edge(**kw):
    args = dict(n_circuits=3, circuit_width=2, layer=[2], receiver=[1], sender=[0], block=np.eye(2)[None])
    args.update(kw)
    return CircuitGraph(**args)


@pytest.mark.parametrize("kw, message", [
    (dict(layer=[1]), "layer must be >= 2"),
    (dict(receiver=[3]), "receiver must hold circuit indices in 0..2"),
    (dict(sender=[-1]), "sender must hold circuit indices in 0..2"),
    (dict(sender=[1]), "receiver != sender"),
    (dict(block=np.full((1, 2, 2), np.nan)), "block must be finite"),
    (dict(block=np.eye(3)[None]), "block must have shape"),
    (dict(sender=[0, 2]), "same length"),
    (dict(layer=[2.5]), "layer must hold integers"),
])
def test_graph_validation(kw, message):
    with pytest.raises(CircuitsError, match=message):
        _edge(**kw)


def test_build_checks_graph():
    fam, graph = rotation_chains(12, chain_length=3, seed=0)
    with pytest.raises(CircuitsError, match="n_layers >= 3"):
        build(fam, width=96, redundancy=2, n_layers=2, seed=0, graph=graph)
    with pytest.raises(CircuitsError, match="graph has 12 circuits but the family has 5"):
        build(rotation_circuits(5, seed=0), width=96, redundancy=2, n_layers=3, seed=0, graph=graph)
    with pytest.raises(CircuitsError, match="chain_length must be"):
        rotation_chains(4, chain_length=5, seed=0)
    with pytest.raises(CircuitsError, match="multiple of chain_length"):
        draw_chains(12, 3, 4, 10, seed=0)


def test_reference_composes_rotations_and_gates_receivers():
    K, L = 3, 4
    fam, graph = rotation_chains(7, chain_length=K, seed=3)
    R = fam.diff_w[:, 2:, 2:]
    x = np.array([0.6, 0.8])
    # whole chain 0 active: position j holds R_j^(l-j+1) R_(j-1) ... R_1 x from layer j on
    active = np.array([[0, 1, 2]])
    payload = np.array([[x, [0, 0], [0, 0]]])
    ref = run_graph(fam, graph, active, fam.encode(payload, (1, K)), L)
    for j in range(1, K + 1):
        for layer in range(1, L + 1):
            want = x if j == 1 else np.zeros(2)
            if layer >= j:
                want = x
                for p in range(1, j):
                    want = R[p - 1] @ want
                for _ in range(layer - j + 1):
                    want = R[j - 1] @ want
            assert np.allclose(fam.decode_payload(ref[layer, 0, j - 1]), want, atol=1e-12)
            assert np.isclose(fam.decode_on(ref[layer, 0, j - 1]), 1.0)
    # only the head active: its receiver (and everything downstream) stays exactly zero
    full = run_graph(fam, graph, np.array([[0]]), fam.encode(x[None, None], (1, 1)), L, full=True)
    assert np.all(full[:, 0, 1:] == 0.0)
    assert np.allclose(full[:, 0, 0], fam.run(np.array([0]), fam.encode(x[None], (1,)), L)[:, 0])


def test_no_edges_is_the_family_run():
    fam = rotation_circuits(6, seed=1)
    empty = CircuitGraph(6, 4, layer=np.zeros(0, int), receiver=np.zeros(0, int), sender=np.zeros(0, int),
                         block=np.zeros((0, 4, 4)))
    active = np.array([[0, 4], [2, 5]])
    inputs = fam.encode(np.array([[[1.0, 0], [0, 1]], [[0.6, 0.8], [-1, 0]]]), (2, 2))
    assert np.allclose(run_graph(fam, empty, active, inputs, 3), fam.run(active, inputs, 3), atol=1e-12)


@pytest.mark.parametrize("method", ["capped", "uncorrected", "split"])
def test_non_overlapping_network_reproduces_small_system_exactly(method):
    # T S = 24 <= D/d = 24: no two circuits share a neuron, so the network is exact
    T, K, L, S = 12, 3, 4, 2
    fam, graph = rotation_chains(T, chain_length=K, seed=0)
    net = build(fam, width=4 * T * S, redundancy=S, n_layers=L, seed=1, method=method, graph=graph)
    active, payloads = draw_chains(T, K, 2 * K, 40, seed=2)
    inputs = fam.encode(payloads, active.shape)
    ref = run_graph(fam, graph, active, inputs, L)
    alone = fam.run(active, inputs, L)
    acts = net.forward(active, inputs)
    for layer in range(1, L + 1):
        est = net.read_out(acts[layer], layer, active).double().numpy()
        np.testing.assert_allclose(est, ref[layer], atol=1e-5)
        inactive = np.setdiff1d(np.arange(T), active[0])
        assert np.abs(net.read_out(acts[layer][:1], layer, inactive[None]).numpy()).max() == 0.0
    assert np.abs(ref[L] - alone[L]).max() > 0.5  # the edges matter: without them it would differ


@pytest.mark.parametrize("method", ["capped", "uncorrected", "split"])
def test_structured_edges_equal_dense_weights(method):
    T, K, L, N = 60, 3, 3, 40  # overlapping: T S = 180 > D/d = 40
    fam, graph = rotation_chains(T, chain_length=K, seed=0)
    net = build(fam, width=4 * N, redundancy=3, n_layers=L, seed=1, method=method, graph=graph)
    active, payloads = draw_chains(T, K, K, 30, seed=2)
    acts = net.forward(active, fam.encode(payloads, active.shape))
    g = torch.Generator().manual_seed(0)
    for layer in range(2, L + 1):
        W, b = net.dense_weights(layer)
        # sparse path (few neurons on) and dense path (every neuron on)
        for prev in (acts[layer - 1], torch.rand(5, 4, N, generator=g)):
            pre = net.preactivation(layer, prev).double().numpy()
            dense = (prev.reshape(len(prev), -1).double().numpy() @ W.T + b).reshape(pre.shape)
            np.testing.assert_allclose(pre, dense, atol=1e-5)
    # the edge term is really there: it changes the dense weights
    plain = build(fam, width=4 * N, redundancy=3, n_layers=L, seed=1, method=method)
    assert np.abs(net.dense_weights(2)[0] - plain.dense_weights(2)[0]).max() > 0.1 / 3
    assert net.to("cpu").graph is graph


def test_evaluate_chains_rows_exact_when_non_overlapping():
    T, K, L, S = 12, 3, 4, 2
    fam, graph = rotation_chains(T, chain_length=K, seed=0)
    net = build(fam, width=4 * T * S, redundancy=S, n_layers=L, seed=1, graph=graph)
    ev, rows = evaluate_chains(net, n_active=K, batch_size=30, seed=5)
    assert ev.table["measured"].max() < 1e-5
    assert len(rows) == L * K * 2
    assert {(r["layer"], r["chain_position"], r["stat"]) for r in rows} == {
        (layer, p, s) for layer in range(1, L + 1) for p in range(1, K + 1) for s in ("mse", "worst")}
    assert max(r["measured"] for r in rows) < 1e-5
    assert np.array_equal(np.sort(chain_position(ev.active, K), axis=1), np.tile([1, 2, 3], (30, 1)))


def test_chain_rows_by_position():
    fam, graph = rotation_chains(30, chain_length=2, seed=0)
    net = build(fam, width=160, redundancy=3, n_layers=2, seed=1, graph=graph)  # overlapping: errors
    ev, rows = evaluate_chains(net, n_active=4, batch_size=40, seed=0)
    err = np.linalg.norm(ev.estimate_payload - ev.truth_payload, axis=-1)
    for r in rows:
        e = err[r["layer"]][chain_position(ev.active, 2) == r["chain_position"]]
        want = np.mean(e ** 2) if r["stat"] == "mse" else e.max()
        assert r["measured"] == pytest.approx(want)
    # positions together give the core active payload mse (equal counts per position)
    core = ev.table.query("group == 'active' and quantity == 'payload' and stat == 'mse'")
    for layer in (1, 2):
        per = [r["measured"] for r in chain_rows(ev, 2) if r["layer"] == layer and r["stat"] == "mse"]
        assert np.mean(per) == pytest.approx(float(core[core.layer == layer].measured.iloc[0]))


def test_cli_rotation_chains_json(capsys):
    argv = ["evaluate", "--family", "rotation-chains", "--chain-length", "3", "--circuits", "30", "--width", "240",
            "--redundancy", "2", "--layers", "4", "--active", "3", "--batch", "20", "--seed", "1", "--format", "json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["family"] == "rotation-chains" and out["config"]["chain_length"] == 3
    payload = [r for r in out["rows"] if r["quantity"] == "payload"]
    assert all("chain_position" in r for r in payload)
    assert all("chain_position" not in r for r in out["rows"] if r["quantity"] == "on")
    per = [r for r in payload if r["chain_position"] is not None]
    assert sorted({r["chain_position"] for r in per}) == [1, 2, 3] and len(per) == 4 * 3 * 2
    assert max(r["measured"] for r in out["rows"]) < 1e-5  # T S = 60 = D/d: exact


@pytest.mark.parametrize("extra, message", [
    (["--family", "rotation", "--chain-length", "2"], "--chain-length needs --family rotation-chains"),
    (["--family", "rotation-chains", "--chain-length", "2", "--active", "3"], "multiple of chain_length"),
    (["--family", "rotation-chains", "--error-correction", "cleanup"], "not supported"),
])
def test_cli_rotation_chains_errors(capsys, extra, message):
    assert main(["evaluate", "--circuits", "30", "--width", "240", "--redundancy", "2", "--layers", "3",
                 "--batch", "5", *extra]) == 2
    assert message in capsys.readouterr().err


def test_export_refuses_networks_with_edges(tmp_path):
    """Export and save know no edges yet: they must refuse rather than drop them silently."""
    from circuits import CircuitsError, build, ground_truth, rotation_chains

    fam, graph = rotation_chains(12, chain_length=2, seed=0)
    net = build(fam, width=4 * 40, redundancy=3, n_layers=2, seed=0, graph=graph)
    for call in (lambda: net.to_module(), lambda: ground_truth(net), lambda: net.save(tmp_path / "x")):
        with pytest.raises(CircuitsError, match="cross-circuit edges"):
            call()
