"""Exactness, assignment invariants, chi, determinism, input validation and the theory column of the core."""

import numpy as np
import pandas as pd
import pytest
import torch

import circuits
import theory
from circuits import (
    CircuitsError,
    ExperimentSpec,
    build,
    capacity,
    custom_circuits,
    evaluate,
    make_system,
    rotation_circuits,
)
from circuits.assignment import assign, max_shared
from circuits.assignment._assignment import prime_step_sets
from circuits.experiments._experiment import build_system
from circuits.system._system import draw_active

SYSTEM_NAMES = sorted(circuits.SYSTEMS)


def _custom_system(n_circuits=12, seed=0):
    """A hand-specified system: a 2-ReLU step plus one neuron copying ReLU(alpha + noise weight)."""
    rng = np.random.default_rng(seed)
    w = np.zeros((n_circuits, 3, 3))
    w[:, 0, :2] = [2.0, -2.0]
    w[:, 1, :2] = [2.0, -2.0]
    w[:, 2, 0] = 1.0 + rng.uniform(0, 1, n_circuits)
    w[:, 2, 1] = -w[:, 2, 0]
    w[:, 2, 2] = rng.uniform(0, 0.5, n_circuits)
    return custom_circuits(w, np.array([-0.5, -1.5, -0.2]), on_neurons=(0, 1),
                           active_input=np.array([1.5, 0.5, 0.3]), decode_on=lambda a: a[..., 0] - a[..., 1])


# ---------------------------------------------------------------- exactness
@pytest.mark.parametrize("system_name", SYSTEM_NAMES + ["custom"])
@pytest.mark.parametrize("weight_scheme", sorted(circuits.WEIGHT_SCHEMES))
@pytest.mark.parametrize("n_groups", [1, 3])
def test_disjoint_circuits_are_reproduced_exactly(system_name, weight_scheme, n_groups):
    """With T S <= D/d no two circuits share a neuron: every read-out equals the small system's run.

    z is ``n_groups`` whole activation groups (one circuit each for independent systems, whole
    chains / fan-in triples for coupled ones).
    """
    T, S = 12, 3
    system = _custom_system(T) if system_name == "custom" else make_system(system_name, T, seed=3)
    d = system.circuit_width
    net = build(system, width=d * T * S, redundancy=S, n_layers=4, seed=1, weight_scheme=weight_scheme)
    assert max_shared(net.assignment.sets[1], net.n_slots) == 0
    z = n_groups * system.groups.size
    for ideal in (False, True):
        ev = evaluate(net, n_active=z, batch_size=40, seed=2, ideal=ideal)
        assert ev.active.shape == (40, z)
        # float32 forward pass vs float64 reference: agreement to float precision
        assert ev.table["measured"].abs().max() < 1e-5
        assert np.abs(ev.estimate_on - ev.truth_on).max() < 1e-5
        if system.payload_dim:
            assert np.abs(ev.estimate_payload - ev.truth_payload).max() < 1e-5
    assert ev.seizure_layer is None
    assert set(ev.table.layer) == set(range(net.network_layers + 1))  # layer 0 (the input) is in the table


def test_active_circuits_given_explicitly():
    system = rotation_circuits(n_circuits=10, seed=0)
    net = build(system, width=4 * 60, redundancy=6, n_layers=3, seed=0)
    ev = evaluate(net, active=np.arange(10)[:, None], seed=0)
    assert ev.active.shape == (10, 1)
    assert np.abs(ev.estimate_payload - ev.truth_payload).max() < 1e-5
    # the small circuits rotate the payload and keep it a unit vector
    assert np.allclose(np.linalg.norm(ev.truth_payload, axis=-1), 1.0)
    assert not np.allclose(ev.truth_payload[1], ev.truth_payload[0])


# ----------------------------------------------------------------- assignment
@pytest.mark.parametrize("n_slots,redundancy,expected", [(250, 6, 557), (500, 6, 2101)])
def test_prime_step_capacity(n_slots, redundancy, expected):
    assert capacity(n_slots, redundancy) == expected
    sets = prime_step_sets(n_slots, redundancy)
    assert sets.shape == (expected, redundancy)


@pytest.mark.slow
@pytest.mark.parametrize("n_slots", [30, 97, 250, 500])
@pytest.mark.parametrize("redundancy", [2, 3, 5, 6, 8])
def test_prime_step_sets_share_at_most_one(n_slots, redundancy):
    sets = prime_step_sets(n_slots, redundancy)
    assert len(sets) == capacity(n_slots, redundancy)
    assert sets.min() >= 0 and sets.max() < n_slots
    assert all(len(set(s)) == redundancy for s in sets.tolist())
    # exact check, compared with the brute-force T x T overlap matrix (where it fits)
    if len(sets) > 3000:
        assert max_shared(sets, n_slots) == 1
        return
    inc = np.zeros((len(sets), n_slots), dtype=np.int64)
    inc[np.arange(len(sets))[:, None], sets] = 1
    overlap = inc @ inc.T
    np.fill_diagonal(overlap, 0)
    assert overlap.max() <= 1
    assert max_shared(sets, n_slots) == overlap.max()


def test_max_shared_detects_violation():
    assert max_shared(np.array([[0, 1, 2], [1, 2, 3]]), 4) == 2
    assert max_shared(np.array([[0, 1, 2], [3, 4, 5]]), 6) == 0


def test_assignment_layers_permute_one_family_and_are_seeded():
    a = assign(500, 250, 6, 4, seed=7)
    b = assign(500, 250, 6, 4, seed=7)
    c = assign(500, 250, 6, 4, seed=8)
    assert np.array_equal(a.sets, b.sets)
    assert not np.array_equal(a.sets, c.sets)
    assert np.array_equal(a.sets[0], a.sets[1])  # layer 1 is layer 0's ReLU in place
    base = sorted(map(tuple, a.sets[1].tolist()))
    for layer in range(2, 5):
        assert sorted(map(tuple, a.sets[layer].tolist())) == base
        assert not np.array_equal(a.sets[layer], a.sets[1])


def test_too_many_circuits_states_the_maximum():
    system = rotation_circuits(n_circuits=558, seed=0)
    with pytest.raises(CircuitsError, match="at most 557"):
        build(system, width=1000, redundancy=6, n_layers=2, seed=0)
    with pytest.raises(CircuitsError, match="n_circuits must be <= 557") as err:
        ExperimentSpec(width=1000, n_circuits=558, redundancy=6, n_layers=2)
    assert err.value.parameter == "n_circuits"


# ------------------------------------------------------------------------ chi
def test_chi_cancels_mean_cross_circuit_interference():
    """sum over t != u of e[l,t]^T (C - chi (J - C)) e[l-1,u] = 0, computed densely."""
    system = rotation_circuits(n_circuits=300, seed=0)
    net = build(system, width=4 * 150, redundancy=4, n_layers=3, seed=0)
    N = net.n_slots
    for layer in (2, 3):
        e_out = np.zeros((300, N))
        e_in = np.zeros((300, N))
        e_out[np.arange(300)[:, None], net.assignment.sets[layer]] = 1
        e_in[np.arange(300)[:, None], net.assignment.sets[layer - 1]] = 1
        cap = np.minimum(1.0, e_out.T @ e_in)
        assert np.array_equal(cap, net.structures[layer][0].toarray())
        chi = net.constants[layer]["chi"]
        assert chi > 0
        m = cap - chi * (1 - cap)
        cross = e_out @ m @ e_in.T
        total = cross.sum() - np.trace(cross)
        assert abs(total) < 1e-8 * np.abs(cross).sum()
        # without chi the cross terms are strictly positive
        plain = e_out @ cap @ e_in.T
        assert plain.sum() - np.trace(plain) > 0


def test_chi_scale_multiplies_chi():
    system = rotation_circuits(n_circuits=300, seed=0)
    a = build(system, width=600, redundancy=4, n_layers=2, seed=0)
    b = build(system, width=600, redundancy=4, n_layers=2, seed=0, chi_scale=2.5)
    assert b.constants[2]["chi"] == pytest.approx(2.5 * a.constants[2]["chi"], rel=1e-12)


# --------------------------------------------------------------- determinism
def test_same_seed_same_numbers():
    def run(seed):
        net = build(rotation_circuits(n_circuits=300, seed=seed), width=800, redundancy=4, n_layers=3, seed=seed)
        return evaluate(net, n_active=2, batch_size=100, seed=seed)

    a, b, c = run(5), run(5), run(6)
    assert a.table.equals(b.table)
    assert np.array_equal(a.estimate_payload, b.estimate_payload)
    assert not a.table["measured"].equals(c.table["measured"])


@pytest.mark.parametrize("preset", [None, "scalable"])
def test_numbers_do_not_depend_on_the_global_random_state(preset):
    """Every draw goes through the spec's seeds: scrambling numpy's and torch's global generators changes nothing."""
    spec = ExperimentSpec(width=800, n_circuits=300, n_layers=3, n_active=2, batch_size=60, seed=4, preset=preset)
    results = []
    for global_seed in (1, 2):
        np.random.seed(global_seed)
        torch.manual_seed(global_seed)
        results.append(evaluate(spec))
    assert results[0].table.equals(results[1].table)
    assert np.array_equal(results[0].estimate_payload, results[1].estimate_payload)


def test_same_spec_same_numbers():
    """One seed policy: the same spec and seed give the same numbers, another seed other numbers."""
    spec = ExperimentSpec(width=800, n_circuits=300, redundancy=4, n_layers=3, n_active=2, batch_size=60, seed=5)
    a, b, c = evaluate(spec), evaluate(spec), evaluate(spec.replace(seed=6))
    pd.testing.assert_frame_equal(a.table, b.table)
    assert np.array_equal(a.estimate_payload, b.estimate_payload) and np.array_equal(a.active, b.active)
    assert not a.table["measured"].equals(c.table["measured"])
    assert a.config["seed"] == 5 and a.config["system_seed"] == spec.seeds().system


def test_draws_are_distinct_and_uniform():
    rng = np.random.default_rng(0)
    active = draw_active(5, 3, 20000, rng)
    assert np.all(np.sort(active, 1)[:, 1:] != np.sort(active, 1)[:, :-1])
    counts = np.bincount(active.ravel(), minlength=5)
    # each circuit appears in 3/5 of the samples: binomial std sqrt(n p (1-p))
    n, p = 20000, 3 / 5
    assert np.all(np.abs(counts - n * p) < 5 * np.sqrt(n * p * (1 - p)))


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs,match", [
    (dict(width=1001), "width must be a multiple"),
    (dict(width=2), "width must be"),
    (dict(redundancy=0), "redundancy must be"),
    (dict(redundancy=300), "redundancy must be in 1..250"),
    (dict(n_layers=0), "n_layers must be"),
    (dict(weight_scheme="dense"), "weight_scheme must be one of"),
    (dict(assignment="magic"), "assignment must be one of"),
    (dict(chi_scale=-1.0), "chi_scale must be"),
    (dict(chi_scale=float("nan")), "chi_scale must be"),
    (dict(device="tpu9"), "device"),
])
def test_build_rejects_bad_input(kwargs, match):
    args = dict(width=1000, redundancy=6, n_layers=2, seed=0)
    args.update(kwargs)
    with pytest.raises(CircuitsError, match=match) as err:
        build(rotation_circuits(n_circuits=100, seed=0), **args)
    assert err.value.parameter == next(iter(kwargs))


def test_evaluate_rejects_bad_input():
    net = build(rotation_circuits(n_circuits=20, seed=0), width=400, redundancy=2, n_layers=2, seed=0)
    with pytest.raises(CircuitsError, match="n_active must be in 1..20"):
        evaluate(net, n_active=21, batch_size=10)
    with pytest.raises(CircuitsError, match="batch_size must be"):
        evaluate(net, n_active=1, batch_size=0)
    with pytest.raises(CircuitsError, match="distinct"):
        evaluate(net, active=np.array([[1, 1]]))
    with pytest.raises(CircuitsError, match="circuit indices in 0..19"):
        evaluate(net, active=np.array([[25]]))
    with pytest.raises(CircuitsError, match="payloads must be finite"):
        evaluate(net, active=np.array([[1]]), payloads=np.array([[[np.nan, 0.0]]]))


def test_systems_reject_bad_input():
    w = np.zeros((3, 2, 2))
    with pytest.raises(CircuitsError, match="weights must be finite"):
        custom_circuits(np.full((3, 2, 2), np.nan), np.zeros(2), on_neurons=(0,), active_input=np.ones(2))
    with pytest.raises(CircuitsError, match="bias must be <= 0"):
        custom_circuits(w, np.array([0.1, 0.0]), on_neurons=(0,), active_input=np.ones(2))
    with pytest.raises(CircuitsError, match="on_neurons"):
        custom_circuits(w, np.zeros(2), on_neurons=(5,), active_input=np.ones(2))
    with pytest.raises(CircuitsError, match="active_input must have shape"):
        custom_circuits(w, np.zeros(2), on_neurons=(0,), active_input=np.ones(3))
    with pytest.raises(CircuitsError, match="n_circuits must be"):
        rotation_circuits(n_circuits=0, seed=0)
    with pytest.raises(CircuitsError, match="system must be one of") as err:
        make_system("spiral", 10, seed=0)
    assert err.value.parameter == "system"


def test_per_layer_system_needs_enough_layers():
    w = np.zeros((2, 4, 2, 2))
    w[..., 0, :] = [2.0, -2.0]
    w[..., 1, :] = [2.0, -2.0]
    system = custom_circuits(w, np.array([-0.5, -1.5]), on_neurons=(0, 1), active_input=np.array([1.5, 0.5]),
                             decode_on=lambda a: a[..., 0] - a[..., 1])
    assert system.family.per_layer
    build(system, width=2 * 8, redundancy=2, n_layers=2, seed=0)
    with pytest.raises(CircuitsError, match="n_layers must be <= 2"):
        build(system, width=2 * 8, redundancy=2, n_layers=3, seed=0)


# ---------------------------------------------------------------- the theory column
#: Options that rewrite the circuits need a 2-ReLU step on-indicator, which rotation-3 lacks.
REFUSED = {("rotation-3", ec) for ec in ("step:0.4", "redundant:2", "cleanup")}


@pytest.mark.slow
@pytest.mark.parametrize("error_correction", ["none", "step:0.4", "redundant:2", "cleanup", "tuned-chi"])
@pytest.mark.parametrize("system_name", SYSTEM_NAMES)
def test_predicted_column_follows_the_theory_rule(system_name, error_correction):
    """``predicted`` is the closed form at the computation layer, with the base d and the network's
    own slot count, and NaN wherever no formula applies: the input (layer 0), clean-up layers,
    the payload of circuits that receive couplings (depth >= 2) and the all-circuit active
    payload row of a draw that contains such circuits; ``worst`` rows carry no prediction."""
    try:
        spec = ExperimentSpec(system=system_name, error_correction=error_correction, width=480, n_circuits=60,
                              redundancy=3, n_layers=2, batch_size=40, seed=1)
    except CircuitsError as err:
        assert (system_name, error_correction) in REFUSED, err
        assert err.parameter == "error_correction"
        pytest.skip(f"{system_name} cannot take {error_correction}: {err}")
    assert (system_name, error_correction) not in REFUSED
    ev = evaluate(spec)
    system = build_system(spec)
    t = ev.table
    c = ev.config
    T, S, z = c["n_circuits"], c["redundancy"], c["n_active"]
    n_slots = c["width"] // c["circuit_width"]
    base = c["base_width"]
    assert base == make_system(system_name, T, seed=0, **spec.params).circuit_width
    assert list(t.columns) == circuits.measurement._evaluate.TABLE_COLUMNS
    assert set(t.layer) == set(range(c["network_layers"] + 1))
    pred = t["predicted"].to_numpy(dtype=float)

    # input and clean-up layers: no formula
    assert (t.role[t.layer == 0] == "input").all()
    assert (t.role == "cleanup").any() == ("cleanup" in error_correction)
    assert np.isnan(pred[t.role.isin(["input", "cleanup"]).to_numpy()]).all()
    assert t.computation_layer[t.role == "cleanup"].isna().all()
    # worst rows: no formula
    assert np.isnan(pred[(t.stat == "worst").to_numpy()]).all()
    # payload of receivers, and of all active circuits together when a receiver is active
    active_payload = ((t.circuit_state == "active") & (t.quantity == "payload")).to_numpy()
    depth = t.depth.fillna(0).to_numpy(dtype=int)
    assert np.isnan(pred[active_payload & (depth >= 2)]).all()
    receivers_active = bool((system.depth()[ev.active] >= 2).any())
    assert receivers_active == (system.couplings is not None)  # whole groups: every draw holds a receiver
    if receivers_active:
        assert np.isnan(pred[active_payload & t.depth.isna().to_numpy()]).all()
    else:
        assert t.depth.isna().all()  # no per-depth rows without couplings

    # every other mse row on a computation layer: the closed form, exactly
    rows = (t.role == "computation").to_numpy() & (t.stat == "mse").to_numpy()
    rows &= ~(active_payload & ((depth >= 2) | (t.depth.isna().to_numpy() & receivers_active)))
    assert rows.sum() >= spec.n_layers * (2 if system.payload_dim == 0 else 3)
    want = [theory.predicted_mse(r.circuit_state, r.quantity, int(r.computation_layer), T, n_slots * base, base, S, z)
            for r in t[rows].itertuples()]
    np.testing.assert_array_equal(pred[rows], np.array([np.nan if w is None else w for w in want], dtype=float))
    if system.couplings is None:  # independent systems: every computation mse row has it
        assert rows.sum() == ((t.role == "computation") & (t.stat == "mse")).sum()
