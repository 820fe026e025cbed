"""Cross-circuit couplings: specification, exact reference run, structured vs dense, chains, depth rows."""

import numpy as np
import pytest
import torch

from circuits import (ActivationGroups, Couplings, CircuitsError, SmallSystem, build, evaluate, rotation_chains,
                      rotation_circuits, rotation_fan_in, with_error_correction)


def _edge(**kw):
    args = dict(n_circuits=3, circuit_width=2, layer=[2], receiver=[1], sender=[0], block=np.eye(2)[None])
    args.update(kw)
    return Couplings(**args)


def _alone(system):
    """The same circuits without couplings (every circuit computes alone)."""
    return SmallSystem(system.family)


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
def test_couplings_validation(kw, message):
    with pytest.raises(CircuitsError, match=message):
        _edge(**kw)


def test_system_checks_its_couplings():
    chains = rotation_chains(12, chain_length=3, seed=0)
    with pytest.raises(CircuitsError, match="n_layers must be >= 3") as err:
        build(chains, width=96, redundancy=2, n_layers=2, seed=0)
    assert err.value.parameter == "n_layers"
    with pytest.raises(CircuitsError, match="the couplings have 12 circuits but the family has 5"):
        SmallSystem(rotation_circuits(5, seed=0).family, couplings=chains.couplings)
    with pytest.raises(CircuitsError, match="the couplings have circuit width 2 but the family has 4"):
        SmallSystem(rotation_circuits(3, seed=0).family, couplings=_edge())
    with pytest.raises(CircuitsError, match="chain_length must be"):
        rotation_chains(4, chain_length=5, seed=0)
    with pytest.raises(CircuitsError, match="multiple of the group size 3") as err:
        chains.draw(4, 10, np.random.default_rng(0))
    assert err.value.parameter == "n_active"
    with pytest.raises(CircuitsError, match="n_circuits must be >= 3"):
        rotation_fan_in(2, seed=0)
    with pytest.raises(CircuitsError, match="payload must name each of the 3 members"):
        ActivationGroups(3, (True, False))
    with pytest.raises(CircuitsError, match=r"n_active must be in 2\.\.12"):
        SmallSystem(chains.family, groups=ActivationGroups(2, (True, False))).check_n_active(1)
    fan_in = rotation_fan_in(12, seed=0)
    with pytest.raises(CircuitsError, match="n_layers must be >= 2"):
        build(fan_in, width=96, redundancy=2, n_layers=1, seed=0)
    cycle = Couplings(3, 4, layer=[2, 3], receiver=[1, 0], sender=[0, 1], block=np.zeros((2, 4, 4)))
    with pytest.raises(CircuitsError, match="cycle"):
        SmallSystem(rotation_circuits(3, seed=0).family, couplings=cycle)


def test_depth_is_the_longest_path_of_edges():
    assert rotation_chains(11, chain_length=4, seed=0).depth().tolist() == [1, 2, 3, 4] * 2 + [1, 1, 1]
    assert rotation_chains(5, chain_length=1, seed=0).depth().tolist() == [1] * 5
    assert rotation_fan_in(8, seed=0).depth().tolist() == [1, 1, 2, 1, 1, 2, 1, 1]
    assert rotation_circuits(4, seed=0).depth().tolist() == [1] * 4
    # fan-in onto the end of a chain: 0 -> 1 -> 3 <- 2, then 3 -> 4; circuit 5 alone
    g = Couplings(6, 1, layer=[2, 3, 3, 4], receiver=[1, 3, 3, 4], sender=[0, 1, 2, 3], block=np.ones((4, 1, 1)))
    assert g.depth().tolist() == [1, 2, 1, 3, 4, 1]
    cycle = Couplings(3, 1, layer=[2, 3], receiver=[1, 0], sender=[0, 1], block=np.ones((2, 1, 1)))
    with pytest.raises(CircuitsError, match="cycle"):
        cycle.depth()


def test_draws_activate_whole_groups_uniformly():
    """Whole groups, distinct within a sample, uniform over groups; payloads on the members that take one."""
    system = rotation_fan_in(13, seed=0)  # 4 groups; circuit 12 belongs to none
    B = 4000
    active, payloads = system.draw(6, B, np.random.default_rng(1))
    assert active.shape == (B, 6) and payloads.shape == (B, 6, 2)
    assert (active % 3 == np.tile([0, 1, 2], 2)).all() and (np.diff(active.reshape(B, 2, 3), axis=2) == 1).all()
    assert (active[:, 0] != active[:, 3]).all() and active.max() < 12
    np.testing.assert_allclose(np.linalg.norm(payloads, axis=-1), np.tile([1.0, 1.0, 0.0], (B, 2)), atol=1e-12)
    counts = np.bincount(active[:, ::3].ravel() // 3, minlength=4)
    p = 2 / 4  # each group is in half of the samples: binomial std sqrt(B p (1 - p))
    assert np.all(np.abs(counts - B * p) < 5 * np.sqrt(B * p * (1 - p)))


def _network_reads(net, active, inputs, circuits):
    """Read-outs ``(L+1, B, m, d)`` of ``circuits`` ``(B, m)`` at every network layer."""
    with torch.no_grad():
        acts = net.forward(active, inputs)
        return np.stack([net.read_out(a, layer, circuits).double().numpy() for layer, a in enumerate(acts)])


def test_reference_composes_rotations_and_gates_receivers():
    K, L = 3, 4
    system = rotation_chains(7, chain_length=K, seed=3)
    fam = system.family
    R = fam.diff_w[:, 2:, 2:]
    x = np.array([0.6, 0.8])
    # whole chain 0 active: position j holds R_j^(l-j+1) R_(j-1) ... R_1 x from layer j on
    active = np.array([[0, 1, 2]])
    payload = np.array([[x, [0, 0], [0, 0]]])
    ref = system.run(active, system.encode(payload, (1, K)), L)
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
    # only the head active: the run accepts it (its inactive receivers stay zero) and the head
    # computes what it computes alone
    head = system.run(np.array([[0]]), system.encode(x[None, None], (1, 1)), L)
    alone = _alone(system).run(np.array([[0]]), system.encode(x[None, None], (1, 1)), L)
    np.testing.assert_allclose(head, alone, atol=1e-12)
    # the same fact in a network without shared neurons (T S = D/d): the receivers read exactly 0
    net = build(system, width=4 * 7 * 2, redundancy=2, n_layers=L, seed=0)
    reads = _network_reads(net, np.array([[0]]), system.encode(x[None, None], (1, 1)), np.array([[0, 1, 2]]))
    assert np.all(reads[:, 0, 1:] == 0.0)
    np.testing.assert_allclose(reads[1:, 0, 0], head[1:, 0, 0], atol=1e-5)


def test_reference_fan_in_rotates_the_mean_and_gates_receivers():
    L = 4
    system = rotation_fan_in(7, seed=2)
    fam = system.family
    R = fam.diff_w[:, 2:, 2:]
    x1, x2 = np.array([0.6, 0.8]), np.array([-1.0, 0.0])
    ref = system.run(np.array([[3, 4, 5]]), system.encode(np.array([[x1, x2, [0, 0]]]), (1, 3)), L)
    alone = _alone(system).run(np.array([[3, 4]]), system.encode(np.array([[x1, x2]]), (1, 2)), L)
    mean = (R[3] @ x1 + R[4] @ x2) / 2  # the senders' vectors after layer 1
    for layer in range(1, L + 1):
        np.testing.assert_allclose(ref[layer, 0, :2], alone[layer, 0], atol=1e-12)  # senders are unaffected
        want = np.zeros(2) if layer == 1 else np.linalg.matrix_power(R[5], layer - 1) @ mean
        np.testing.assert_allclose(fam.decode_payload(ref[layer, 0, 2]), want, atol=1e-12)
        assert np.isclose(fam.decode_on(ref[layer, 0, 2]), 1.0)
    # opposite unit vectors: the mean is 0; equal ones: norm 1, the largest a receiver holds
    for y in (-x1, x1):
        ref = system.run(np.array([[0, 1, 2]]), system.encode(np.array([[x1, y, [0, 0]]]), (1, 3)), 2)
        np.testing.assert_allclose(fam.decode_payload(ref[2, 0, 2]), R[2] @ (R[0] @ x1 + R[1] @ y) / 2, atol=1e-12)
    # both senders active, receiver inactive: the run accepts it (the receiver stays exactly zero),
    # also when the senders' vectors are aligned after layer 1 (R_1 y = R_0 x: the mean the
    # receiver reads has norm 1), and the senders compute what they compute alone
    theta = np.random.default_rng(0).uniform(0, 2 * np.pi, size=(50, 2))
    x = np.stack([np.cos(theta), np.sin(theta)], -1)  # (50, 2 senders, 2)
    x[0, 1] = R[1].T @ R[0] @ x[0, 0]
    active = np.tile([0, 1], (50, 1))
    inputs = system.encode(x, (50, 2))
    senders = system.run(active, inputs, L)
    np.testing.assert_allclose(senders, _alone(system).run(active, inputs, L), atol=1e-12)
    # the same in a network without shared neurons (T S = D/d): the receiver reads exactly 0
    net = build(system, width=4 * 7 * 2, redundancy=2, n_layers=L, seed=0)
    reads = _network_reads(net, active, inputs, np.tile([0, 1, 2], (50, 1)))
    assert np.all(reads[:, :, 2] == 0.0)
    np.testing.assert_allclose(reads[1:, :, :2], senders[1:], atol=1e-5)


def test_no_edges_is_the_family_run():
    system = rotation_circuits(6, seed=1)
    empty = Couplings(6, 4, layer=np.zeros(0, int), receiver=np.zeros(0, int), sender=np.zeros(0, int),
                      block=np.zeros((0, 4, 4)))
    active = np.array([[0, 4], [2, 5]])
    inputs = system.encode(np.array([[[1.0, 0], [0, 1]], [[0.6, 0.8], [-1, 0]]]), (2, 2))
    with_empty = system.with_changes(couplings=empty)
    assert with_empty.couplings.n_edges == 0 and with_empty.network_layers(1) == 1
    assert np.allclose(with_empty.run(active, inputs, 3), system.run(active, inputs, 3), atol=1e-12)


COUPLED_SYSTEMS = {"chains": lambda T: rotation_chains(T, chain_length=3, seed=0),
                   "fan-in": lambda T: rotation_fan_in(T, seed=0)}


@pytest.mark.parametrize("name", sorted(COUPLED_SYSTEMS))
@pytest.mark.parametrize("weight_scheme", ["capped", "uncorrected", "split"])
def test_non_overlapping_network_reproduces_small_system_exactly(weight_scheme, name):
    # T S = 24 <= D/d = 24: no two circuits share a neuron, so the network is exact
    T, K, L, S = 12, 3, 4, 2
    system = COUPLED_SYSTEMS[name](T)
    net = build(system, width=4 * T * S, redundancy=S, n_layers=L, seed=1, weight_scheme=weight_scheme)
    active, payloads = system.draw(2 * K, 40, np.random.default_rng(2))
    inputs = system.encode(payloads, active.shape)
    ref = system.run(active, inputs, L)
    alone = _alone(system).run(active, inputs, L)
    with torch.no_grad():
        acts = net.forward(active, inputs)
    for layer in range(1, L + 1):
        est = net.read_out(acts[layer], layer, active).double().numpy()
        np.testing.assert_allclose(est, ref[layer], atol=1e-5)
        inactive = np.setdiff1d(np.arange(T), active[0])
        assert np.abs(net.read_out(acts[layer][:1], layer, inactive[None]).numpy()).max() == 0.0
    assert np.abs(ref[L] - alone[L]).max() > 0.5  # the edges matter: without them it would differ


@pytest.mark.parametrize("name", sorted(COUPLED_SYSTEMS))
@pytest.mark.parametrize("weight_scheme", ["capped", "uncorrected", "split"])
def test_structured_edges_equal_dense_weights(weight_scheme, name):
    T, K, L, N = 60, 3, 3, 40  # overlapping: T S = 180 > D/d = 40
    system = COUPLED_SYSTEMS[name](T)
    net = build(system, width=4 * N, redundancy=3, n_layers=L, seed=1, weight_scheme=weight_scheme)
    active, payloads = system.draw(K, 30, np.random.default_rng(2))
    with torch.no_grad():
        acts = net.forward(active, system.encode(payloads, active.shape))
    g = torch.Generator().manual_seed(0)
    for layer in range(2, L + 1):
        W, b = net.dense_weights(layer)
        # sparse path (few neurons on) and dense path (every neuron on)
        for prev in (acts[layer - 1], torch.rand(5, 4, N, generator=g)):
            pre = net.preactivation(layer, prev).double().numpy()
            dense = (prev.reshape(len(prev), -1).double().numpy() @ W.T + b).reshape(pre.shape)
            np.testing.assert_allclose(pre, dense, atol=1e-5)
    # the edge term is really there: it changes the dense weights (same seed: same assignment)
    plain = build(_alone(system), width=4 * N, redundancy=3, n_layers=L, seed=1, weight_scheme=weight_scheme)
    assert np.array_equal(plain.assignment.sets, net.assignment.sets)
    assert np.abs(net.dense_weights(2)[0] - plain.dense_weights(2)[0]).max() > 0.1 / 3
    assert net.to("cpu").system is system


@pytest.mark.parametrize("name, depths", [("chains", [1, 2, 3]), ("fan-in", [1, 1, 2])])
def test_depth_rows_exact_when_non_overlapping(name, depths):
    T, K, L, S = 12, 3, 4, 2
    system = COUPLED_SYSTEMS[name](T)
    net = build(system, width=4 * T * S, redundancy=S, n_layers=L, seed=1)
    ev = evaluate(net, n_active=K, batch_size=30, seed=5)
    assert ev.table["measured"].max() < 1e-5
    rows = ev.table[ev.table.depth.notna()]
    positions = sorted(set(depths))
    assert len(rows) == (L + 1) * len(positions) * 2  # layers 0..L (0: the input)
    assert {(r.layer, r.depth, r.stat) for r in rows.itertuples()} == {
        (layer, p, s) for layer in range(L + 1) for p in positions for s in ("mse", "worst")}
    assert (rows.circuit_state == "active").all() and (rows.quantity == "payload").all()
    assert rows.measured.max() < 1e-5
    depth = system.depth()
    assert np.array_equal(np.sort(depth[ev.active], axis=1), np.tile(depths, (30, 1)))
    # whole groups: depth-1 circuits carry unit payloads, the others none
    norms = np.linalg.norm(ev.truth_payload[0], axis=-1)
    np.testing.assert_allclose(norms, (depth[ev.active] == 1).astype(float), atol=1e-12)


def test_depth_rows_by_position():
    system = rotation_chains(30, chain_length=2, seed=0)
    net = build(system, width=160, redundancy=3, n_layers=2, seed=1)  # overlapping: errors
    ev = evaluate(net, n_active=4, batch_size=40, seed=0)
    err = np.linalg.norm(ev.estimate_payload - ev.truth_payload, axis=-1)  # (L+1, B, z)
    rows = ev.table[ev.table.depth.notna()]
    assert len(rows) == 3 * 2 * 2 and rows.measured.max() > 1e-3
    for r in rows.itertuples():
        e = err[r.layer][ev.active % 2 + 1 == r.depth]
        want = np.mean(e ** 2) if r.stat == "mse" else e.max()
        assert r.measured == pytest.approx(want)
    # positions together give the all-circuit active payload mse (equal counts per position)
    t = ev.table
    core = t[(t.circuit_state == "active") & (t.quantity == "payload") & (t.stat == "mse") & t.depth.isna()]
    for layer in (1, 2):
        per = rows[(rows.layer == layer) & (rows.stat == "mse")].measured
        assert len(per) == 2
        assert np.mean(per) == pytest.approx(float(core[core.layer == layer].measured.iloc[0]))


def test_a_base_coupling_on_a_cleanup_layer_is_refused():
    """Clean-up layers carry no edges: couplings not moved to the network layers are refused, not misplaced."""
    base = rotation_chains(12, chain_length=2, seed=0)
    cleaned = with_error_correction(base, "cleanup", n_layers=3)
    assert cleaned.couplings.layer.tolist() == [3] * 6  # moved: computation layer 2 is network layer 3
    with pytest.raises(CircuitsError, match="couplings must sit on computation layers of the system; edges at "
                                            r"network layers \[2\]"):
        cleaned.with_changes(couplings=base.couplings)


def test_an_inactive_receiver_that_switches_on_is_refused():
    """Two active links of one chain, each with a unit payload: the receiver holds a vector of norm up to 2,
    which pushes the *inactive* next link above its bias. The reference run refuses it; evaluate's own
    draws (whole chains, a payload on the head only) never do.

    Whether circuit 2 would switch on is computed here by hand: its only input at layer 3 is the
    edge from circuit 1, ``ReLU(B a_1[2] + b)``, with ``a_1[2]`` from a run with the layer-2
    edges alone (the layer-3 edges do not change layers 1, 2).
    """
    system = rotation_chains(6, chain_length=3, seed=0)
    R = system.family.diff_w[:3, 2:, 2:]
    g = system.couplings
    first = g.layer == 2
    upto2 = system.with_changes(couplings=Couplings(6, 4, layer=g.layer[first], receiver=g.receiver[first],
                                                    sender=g.sender[first], block=g.block[first]))
    recv, send, block = g.edges_at(3)
    (edge,) = np.nonzero((recv == 2) & (send == 1))[0]
    switched = 0
    for angle in np.linspace(0, 2 * np.pi, 16, endpoint=False):
        x0 = np.array([np.cos(angle), np.sin(angle)])
        x = np.array([[x0, R[1].T @ R[0] @ x0]])  # circuit 1 holds R_1 (R_1 x_1 + R_0 x_0) = 2 R_1 R_0 x0
        inputs = system.encode(x, (1, 2))
        a1 = upto2.run(np.array([[0, 1]]), inputs, 3)[2, 0, 1]
        if np.any(np.maximum(block[edge] @ a1 + system.family.bias, 0.0) != 0):  # circuit 2 would switch on
            switched += 1
            with pytest.raises(CircuitsError, match="inactive circuit 2 is not zero at layer 3 of sample 0"):
                system.run(np.array([[0, 1]]), inputs, 3)
        else:
            ref = system.run(np.array([[0, 1]]), inputs, 3)
            np.testing.assert_array_equal(ref[:3], upto2.run(np.array([[0, 1]]), inputs, 3)[:3])
    assert 0 < switched < 16
    net = build(system, width=240, redundancy=2, n_layers=3, seed=0)
    ev = evaluate(net, n_active=3, batch_size=10, seed=0)
    assert (ev.active % 3 == np.arange(3)).all() and (ev.active[:, 1:] - ev.active[:, :-1] == 1).all()
    assert np.allclose(np.linalg.norm(ev.truth_payload[0], axis=-1), [1, 0, 0])
