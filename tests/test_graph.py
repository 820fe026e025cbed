"""Cross-circuit edges: specification, exact reference run, structured vs dense, chains, CLI."""

import json

import numpy as np
import pytest
import torch

from circuits import (CircuitGraph, CircuitsError, build, chain_rows, evaluate, evaluate_graph, rotation_chains,
                      rotation_circuits, rotation_fan_in, run_graph)
from circuits._graph import draw_chains, draw_groups
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
    with pytest.raises(CircuitsError, match="multiple of the group size 3"):
        draw_chains(12, 3, 4, 10, seed=0)
    with pytest.raises(CircuitsError, match="n_circuits must be >= 3"):
        rotation_fan_in(2, seed=0)
    with pytest.raises(CircuitsError, match="senders must have shape"):
        draw_groups(12, 3, 3, 10, seed=0, senders=[True, False])
    fam, graph = rotation_fan_in(12, seed=0)
    with pytest.raises(CircuitsError, match="n_layers >= 2"):
        build(fam, width=96, redundancy=2, n_layers=1, seed=0, graph=graph)


def test_depth_is_the_longest_path_of_edges():
    assert rotation_chains(11, chain_length=4, seed=0)[1].depth().tolist() == [1, 2, 3, 4] * 2 + [1, 1, 1]
    assert rotation_chains(5, chain_length=1, seed=0)[1].depth().tolist() == [1] * 5
    assert rotation_fan_in(8, seed=0)[1].depth().tolist() == [1, 1, 2, 1, 1, 2, 1, 1]
    # fan-in onto the end of a chain: 0 -> 1 -> 3 <- 2, then 3 -> 4; circuit 5 alone
    g = CircuitGraph(6, 1, layer=[2, 3, 3, 4], receiver=[1, 3, 3, 4], sender=[0, 1, 2, 3], block=np.ones((4, 1, 1)))
    assert g.depth().tolist() == [1, 2, 1, 3, 4, 1]
    cycle = CircuitGraph(3, 1, layer=[2, 3], receiver=[1, 0], sender=[0, 1], block=np.ones((2, 1, 1)))
    with pytest.raises(CircuitsError, match="cycle"):
        cycle.depth()


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


def test_reference_fan_in_rotates_the_mean_and_gates_receivers():
    L = 4
    fam, graph = rotation_fan_in(7, seed=2)
    R = fam.diff_w[:, 2:, 2:]
    x1, x2 = np.array([0.6, 0.8]), np.array([-1.0, 0.0])
    ref = run_graph(fam, graph, np.array([[3, 4, 5]]), fam.encode(np.array([[x1, x2, [0, 0]]]), (1, 3)), L)
    alone = fam.run(np.array([3, 4]), fam.encode(np.array([x1, x2]), (2,)), L)
    mean = (R[3] @ x1 + R[4] @ x2) / 2  # the senders' vectors after layer 1
    for layer in range(1, L + 1):
        np.testing.assert_allclose(ref[layer, 0, :2], alone[layer], atol=1e-12)  # senders are unaffected
        want = np.zeros(2) if layer == 1 else np.linalg.matrix_power(R[5], layer - 1) @ mean
        np.testing.assert_allclose(fam.decode_payload(ref[layer, 0, 2]), want, atol=1e-12)
        assert np.isclose(fam.decode_on(ref[layer, 0, 2]), 1.0)
    # opposite unit vectors: the mean is 0; equal ones: norm 1, the largest a receiver holds
    for y in (-x1, x1):
        ref = run_graph(fam, graph, np.array([[0, 1, 2]]), fam.encode(np.array([[x1, y, [0, 0]]]), (1, 3)), 2)
        np.testing.assert_allclose(fam.decode_payload(ref[2, 0, 2]), R[2] @ (R[0] @ x1 + R[1] @ y) / 2, atol=1e-12)
    # both senders active, receiver inactive: it stays exactly zero, also when the senders'
    # vectors are aligned after layer 1 (R_1 y = R_0 x: the mean the receiver reads has norm 1)
    theta = np.random.default_rng(0).uniform(0, 2 * np.pi, size=(50, 2))
    x = np.stack([np.cos(theta), np.sin(theta)], -1)  # (50, 2 senders, 2)
    x[0, 1] = R[1].T @ R[0] @ x[0, 0]
    active = np.tile([0, 1], (50, 1))
    full = run_graph(fam, graph, active, fam.encode(x, (50, 2)), L, full=True)
    assert np.all(full[:, :, 2:] == 0.0)
    np.testing.assert_allclose(full[:, :, :2], fam.run(active, fam.encode(x, (50, 2)), L), atol=1e-12)


def test_no_edges_is_the_family_run():
    fam = rotation_circuits(6, seed=1)
    empty = CircuitGraph(6, 4, layer=np.zeros(0, int), receiver=np.zeros(0, int), sender=np.zeros(0, int),
                         block=np.zeros((0, 4, 4)))
    active = np.array([[0, 4], [2, 5]])
    inputs = fam.encode(np.array([[[1.0, 0], [0, 1]], [[0.6, 0.8], [-1, 0]]]), (2, 2))
    assert np.allclose(run_graph(fam, empty, active, inputs, 3), fam.run(active, inputs, 3), atol=1e-12)


GRAPH_FAMILIES = {"chains": lambda T: rotation_chains(T, chain_length=3, seed=0),
                  "fan-in": lambda T: rotation_fan_in(T, seed=0)}


@pytest.mark.parametrize("family", sorted(GRAPH_FAMILIES))
@pytest.mark.parametrize("method", ["capped", "uncorrected", "split"])
def test_non_overlapping_network_reproduces_small_system_exactly(method, family):
    # T S = 24 <= D/d = 24: no two circuits share a neuron, so the network is exact
    T, K, L, S = 12, 3, 4, 2
    fam, graph = GRAPH_FAMILIES[family](T)
    net = build(fam, width=4 * T * S, redundancy=S, n_layers=L, seed=1, method=method, graph=graph)
    active, payloads = draw_groups(T, K, 2 * K, 40, seed=2, senders=graph.depth()[:K] == 1)
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


@pytest.mark.parametrize("family", sorted(GRAPH_FAMILIES))
@pytest.mark.parametrize("method", ["capped", "uncorrected", "split"])
def test_structured_edges_equal_dense_weights(method, family):
    T, K, L, N = 60, 3, 3, 40  # overlapping: T S = 180 > D/d = 40
    fam, graph = GRAPH_FAMILIES[family](T)
    net = build(fam, width=4 * N, redundancy=3, n_layers=L, seed=1, method=method, graph=graph)
    active, payloads = draw_groups(T, K, K, 30, seed=2, senders=graph.depth()[:K] == 1)
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


@pytest.mark.parametrize("family, depths", [("chains", [1, 2, 3]), ("fan-in", [1, 1, 2])])
def test_evaluate_graph_rows_exact_when_non_overlapping(family, depths):
    T, K, L, S = 12, 3, 4, 2
    fam, graph = GRAPH_FAMILIES[family](T)
    net = build(fam, width=4 * T * S, redundancy=S, n_layers=L, seed=1, graph=graph)
    ev, rows = evaluate_graph(net, n_active=K, batch_size=30, seed=5)
    assert ev.table["measured"].max() < 1e-5
    positions = sorted(set(depths))
    assert len(rows) == L * len(positions) * 2
    assert {(r["layer"], r["chain_position"], r["stat"]) for r in rows} == {
        (layer, p, s) for layer in range(1, L + 1) for p in positions for s in ("mse", "worst")}
    assert max(r["measured"] for r in rows) < 1e-5
    assert np.array_equal(np.sort(graph.depth()[ev.active], axis=1), np.tile(depths, (30, 1)))
    # whole groups: depth-1 circuits carry unit payloads, the others none
    norms = np.linalg.norm(ev.truth_payload[0], axis=-1)
    np.testing.assert_allclose(norms, (graph.depth()[ev.active] == 1).astype(float), atol=1e-12)


def test_chain_rows_by_position():
    fam, graph = rotation_chains(30, chain_length=2, seed=0)
    net = build(fam, width=160, redundancy=3, n_layers=2, seed=1, graph=graph)  # overlapping: errors
    ev, rows = evaluate_graph(net, n_active=4, batch_size=40, seed=0)
    err = np.linalg.norm(ev.estimate_payload - ev.truth_payload, axis=-1)
    for r in rows:
        e = err[r["layer"]][ev.active % 2 + 1 == r["chain_position"]]
        want = np.mean(e ** 2) if r["stat"] == "mse" else e.max()
        assert r["measured"] == pytest.approx(want)
    # positions together give the core active payload mse (equal counts per position)
    core = ev.table.query("group == 'active' and quantity == 'payload' and stat == 'mse'")
    for layer in (1, 2):
        per = [r["measured"] for r in chain_rows(ev, graph) if r["layer"] == layer and r["stat"] == "mse"]
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


def test_cli_rotation_fan_in_json(capsys):
    argv = ["evaluate", "--family", "rotation-fan-in", "--circuits", "30", "--width", "240", "--redundancy", "2",
            "--layers", "3", "--active", "6", "--batch", "20", "--seed", "1", "--format", "json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["family"] == "rotation-fan-in" and out["config"]["group_size"] == 3
    assert out["config"]["n_active"] == 6 and "chain_length" not in out["config"]
    payload = [r for r in out["rows"] if r["quantity"] == "payload"]
    assert all("chain_position" in r for r in payload)
    assert all("chain_position" not in r for r in out["rows"] if r["quantity"] == "on")
    per = [r for r in payload if r["chain_position"] is not None]
    assert {(r["layer"], r["chain_position"], r["stat"]) for r in per} == {
        (layer, p, s) for layer in (1, 2, 3) for p in (1, 2) for s in ("mse", "worst")} and len(per) == 12
    assert all(r["group"] == "active" and r["predicted"] is None for r in per)
    assert max(r["measured"] for r in out["rows"]) < 1e-5  # T S = 60 = D/d: exact
    # the default --active of the fan-in family is one whole group
    assert main(argv[:11] + ["--batch", "5", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["n_active"] == 3


@pytest.mark.parametrize("extra, message", [
    (["--family", "rotation", "--chain-length", "2"], "--chain-length needs --family rotation-chains"),
    (["--family", "rotation-chains", "--chain-length", "2", "--active", "3"], "multiple of the group size 2"),
    (["--family", "rotation-fan-in", "--active", "4"], "multiple of the group size 3"),
    (["--family", "rotation-fan-in", "--chain-length", "3"], "--chain-length needs --family rotation-chains"),
    (["--family", "rotation-chains", "--load", "x", "--chain-length", "2"], "--chain-length cannot be given with --load"),
])
def test_cli_rotation_chains_errors(capsys, extra, message):
    assert main(["evaluate", "--circuits", "30", "--width", "240", "--redundancy", "2", "--layers", "3",
                 "--batch", "5", *extra]) == 2
    assert message in capsys.readouterr().err



def test_cli_builds_saves_and_loads_graph_families_with_error_correction(tmp_path, capsys):
    """``cis build`` saves a chain network with its graph; ``cis evaluate --load`` reads the same numbers,
    and error correction keeps a network without shared neurons (T S = D/d) exact."""
    flags = ["--family", "rotation-chains", "--chain-length", "3", "--circuits", "30", "--width", "240",
             "--redundancy", "2", "--layers", "4", "--seed", "3", "--error-correction", "step:0.4+cleanup"]
    assert main(["build", *flags[:-2], "--out", str(tmp_path / "net")]) == 0
    capsys.readouterr()
    tail = ["--batch", "20", "--format", "json"]
    assert main(["evaluate", *flags[:-2], *tail]) == 0
    built = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--load", str(tmp_path / "net"), "--seed", "3", *tail]) == 0
    loaded = json.loads(capsys.readouterr().out)
    assert loaded["rows"] == built["rows"] and loaded["config"]["n_active"] == 3  # one whole chain by default
    assert main(["evaluate", *flags, *tail]) == 0
    corrected = json.loads(capsys.readouterr().out)
    assert corrected["config"]["computation_layers"] == [1, 3, 5, 7]
    assert max(r["measured"] for r in corrected["rows"]) < 1e-5


def test_a_base_graph_on_a_cleanup_family_is_refused():
    """Clean-up layers carry no edges: a graph not moved to the network layers is refused, not misplaced."""
    from circuits import with_error_correction

    fam, graph = rotation_chains(12, chain_length=2, seed=0)
    with pytest.raises(CircuitsError, match="clean-up layers"):
        build(with_error_correction(fam, "cleanup", n_layers=3), width=240, redundancy=2, n_layers=5, seed=0,
              graph=graph)


def test_an_inactive_receiver_that_switches_on_is_refused():
    """Two active links of one chain, each with a unit payload: the receiver holds a vector of norm up to 2,
    which pushes the *inactive* next link above its bias. The reference run refuses it; evaluate's own
    draws (whole chains, a payload on the head only) never do."""
    fam, graph = rotation_chains(6, chain_length=3, seed=0)
    R = fam.diff_w[:3, 2:, 2:]
    switched = 0
    for angle in np.linspace(0, 2 * np.pi, 16, endpoint=False):
        x0 = np.array([np.cos(angle), np.sin(angle)])
        x = np.array([[x0, R[1].T @ R[0] @ x0]])  # circuit 1 holds R_1 (R_1 x_1 + R_0 x_0) = 2 R_1 R_0 x0
        inputs = fam.encode(x, (1, 2))
        full = run_graph(fam, graph, np.array([[0, 1]]), inputs, 3, full=True)
        if np.any(full[:, 0, 2] != 0):  # the inactive circuit 2 switched on
            switched += 1
            with pytest.raises(CircuitsError, match="inactive circuit 2 is not zero"):
                run_graph(fam, graph, np.array([[0, 1]]), inputs, 3)
        else:
            run_graph(fam, graph, np.array([[0, 1]]), inputs, 3)
    assert switched > 0
    net = build(fam, width=240, redundancy=2, n_layers=3, seed=0, graph=graph)
    ev = evaluate(net, n_active=3, batch_size=10, seed=0)
    assert (ev.active % 3 == np.arange(3)).all() and (ev.active[:, 1:] - ev.active[:, :-1] == 1).all()
    assert np.allclose(np.linalg.norm(ev.truth_payload[0], axis=-1), [1, 0, 0])
