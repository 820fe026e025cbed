"""Error-correction options: the parser, exactness, widths, clean-up layers, tuned chi, one statistical gain."""

import dataclasses

import numpy as np
import pytest
import torch

import circuits
from circuits import (CircuitsError, ExperimentSpec, SmallSystem, build, evaluate, failure_rate, find_boundary,
                      make_system, rotation3_circuits, rotation_chains, rotation_circuits, step_circuits,
                      with_error_correction)
from circuits.system._transforms import parse_error_correction
from circuits.experiments._experiment import CALIBRATION_BATCH, CHI_GRID, build_system, tune_chi
from circuits.system import draw_payloads

SPECS = ["none", "redundant:2", "redundant:3", "cleanup", "tuned-chi", "step:0.4",
         "step:0.45+redundant:2+cleanup+tuned-chi"]


def _build(system, spec, *, n_active, weight_scheme="capped", **kwargs):
    """``build(with_error_correction(system, spec))`` (``tuned-chi`` calibrates chi for ``n_active``)."""
    corrected = with_error_correction(system, spec, n_layers=kwargs["n_layers"])
    z = n_active if corrected.error_correction.tuned_chi else None
    return build(corrected, weight_scheme=weight_scheme, n_active=z, **kwargs)


def _computation_network_layers(system, n_layers):
    """Network layers 0 and the computation layers 1..L (clean-up layers skipped)."""
    return [0] + [layer for layer, c in enumerate(system.computation_layers(n_layers), 1) if c]


# ------------------------------------------------------------------------------ parser
@pytest.mark.parametrize("spec, canonical", [
    ("none", "none"), (" None ", "none"), ("cleanup", "cleanup"), ("tuned-chi", "tuned-chi"),
    ("redundant:4", "redundant:4"), ("step:0.40", "step:0.4"),
    ("tuned-chi+cleanup+redundant:2+step:0.3", "step:0.3+redundant:2+cleanup+tuned-chi"),
])
def test_parser_reads_every_option_and_writes_one_canonical_order(spec, canonical):
    ec = parse_error_correction(spec)
    assert ec.spec == canonical
    assert parse_error_correction(ec.spec) == ec
    assert parse_error_correction(ec) is ec
    assert ExperimentSpec(error_correction=spec, n_circuits=40, width=1200).error_correction == canonical


@pytest.mark.parametrize("spec, words", [
    ("", "non-empty"), ("bogus", "must be none or options joined by '\\+' among step, redundant, cleanup, tuned-chi"),
    ("redundant", "integer K in 2..64"), ("redundant:1", "integer K in 2..64"),
    ("redundant:2.5", "integer K in 2..64"), ("redundant:x", "integer K in 2..64"), ("redundant:65", "K in 2..64"),
    ("step:0.5", "0 < A < 0.5"), ("step:0", "0 < A < 0.5"), ("step:abc", "0 < A < 0.5"),
    ("cleanup+cleanup", "given twice"), ("none+cleanup", "cannot be combined"),
    ("cleanup:2", "'cleanup' takes no argument"), ("tuned-chi:3", "'tuned-chi' takes no argument"),
    (3, "non-empty string"),
])
def test_parser_rejects_bad_specs_with_a_clear_message(spec, words):
    with pytest.raises(CircuitsError, match=words) as err:
        parse_error_correction(spec)
    assert err.value.parameter == "error_correction"


def test_margin_is_what_the_step_corrects():
    assert parse_error_correction("none").margin == 0.25
    assert parse_error_correction("step:0.45+cleanup").margin == 0.45
    assert parse_error_correction("redundant:3+tuned-chi").margin == 0.25


def test_widths_and_layers_of_each_option():
    ec = parse_error_correction("step:0.3+redundant:3+cleanup+tuned-chi")
    assert ec.circuit_width(4) == 8 and ec.network_layers(4) == 7
    assert ec.tuned_chi and ec.changes_system
    tuned = parse_error_correction("tuned-chi")
    assert tuned.circuit_width(4) == 4 and tuned.network_layers(4) == 4 and not tuned.changes_system


# ----------------------------------------------------------------------- the systems
@pytest.mark.parametrize("K", [2, 3, 4])
@pytest.mark.parametrize("make", [lambda T: rotation_circuits(T, seed=0), step_circuits], ids=["rotation", "step"])
def test_redundant_widens_circuits_by_two_per_extra_pair(make, K):
    base = make(5)
    system = with_error_correction(base, f"redundant:{K}", n_layers=3)
    assert system.circuit_width == base.circuit_width + 2 * (K - 1)
    assert system.base_width == base.circuit_width
    assert parse_error_correction(f"redundant:{K}").circuit_width(base.circuit_width) == system.circuit_width


def _truth(system, active, payloads, n_layers):
    """Decoded on-indicator and payload of the system's own run, ``(L+1, ...)``."""
    run = system.run(active, system.encode(payloads, active.shape), n_layers)
    return system.family.decode_on(run), system.family.decode_payload(run)


@pytest.mark.parametrize("spec", SPECS)
def test_every_option_computes_what_the_base_circuits_compute(spec):
    """The corrected circuits' own run, read at the computation layers, is the base circuits' run."""
    base = rotation_circuits(7, seed=3)
    L = 4
    system = with_error_correction(base, spec, n_layers=L)
    assert system.error_correction.spec == parse_error_correction(spec).spec
    active = np.arange(7)[None, :].repeat(5, 0)  # every circuit in each of 5 samples
    payloads = draw_payloads(active.shape, 2, np.random.default_rng(0))
    on, pay = _truth(base, active, payloads, L)
    on2, pay2 = _truth(system, active, payloads, L)
    layers = _computation_network_layers(system, L)
    assert len(on2) == parse_error_correction(spec).network_layers(L) + 1 and len(layers) == L + 1
    np.testing.assert_allclose(on2[layers], on, atol=1e-12)
    np.testing.assert_allclose(pay2[layers], pay, atol=1e-12)


def test_cleanup_layer_maps_a_clean_active_circuit_to_itself_and_zero_to_zero():
    base = rotation_circuits(6, seed=1)
    system = with_error_correction(base, "cleanup", n_layers=3)
    assert system.layer_roles == ("computation", "cleanup", "computation", "cleanup", "computation")
    assert system.computation_layers(3) == (1, 0, 2, 0, 3)
    payloads = draw_payloads((50, 6), 2, np.random.default_rng(1))
    active = np.arange(6)[None, :].repeat(50, 0)
    clean = base.run(active, base.encode(payloads, active.shape), 2)  # every layer of a clean active circuit
    bias = system.family.bias
    for layer in (2, 4):  # the clean-up layers
        mean, diff = system.layer_weights(layer)
        assert not diff.any()  # the same for every circuit
        for a in clean[1:]:
            out = np.maximum(np.einsum("ij,...j->...i", mean, a) + bias, 0.0)
            np.testing.assert_allclose(out, a, atol=1e-12)
        zero = np.zeros(system.circuit_width)
        assert not np.maximum(mean @ zero + bias, 0.0).any()


def test_step_option_zeroes_up_to_A_and_saturates_from_1_minus_A():
    system = with_error_correction(step_circuits(1), "step:0.4", n_layers=1)
    mean, _ = system.layer_weights(1)
    alpha = np.array([0.0, 0.2, 0.4, 0.5, 0.6, 0.9, 1.0, 1.7])
    a = np.stack([alpha, np.zeros_like(alpha)], -1)  # a0 - a1 = alpha
    out = np.maximum(a @ mean.T + system.family.bias, 0.0)
    np.testing.assert_allclose(out[:, 0] - out[:, 1], [0, 0, 0, 0.5, 1, 1, 1, 1], atol=1e-12)


def test_options_need_a_two_relu_step_on_indicator():
    for spec in ("redundant:2", "step:0.4", "cleanup", "step:0.4+tuned-chi"):
        with pytest.raises(CircuitsError, match="2-ReLU step") as err:
            with_error_correction(rotation3_circuits(4, seed=0), spec, n_layers=2)
        assert err.value.parameter == "error_correction"
    tuned = with_error_correction(rotation3_circuits(4, seed=0), "tuned-chi", n_layers=2)
    assert tuned.circuit_width == 3 and tuned.error_correction.spec == "tuned-chi"  # no change but the record
    system = rotation_circuits(4, seed=0)
    mean = system.family.mean_w.copy()
    mean[2, 1] = 0.0  # the payload would read a0 alone, not a0 - a1
    with pytest.raises(CircuitsError, match=r"only\s+through a0 - a1"):
        with_error_correction(system.with_changes(family=dataclasses.replace(system.family, mean_w=mean)),
                              "step:0.4", n_layers=2)
    once = with_error_correction(system, "step:0.4", n_layers=2)
    with pytest.raises(CircuitsError, match="already has error correction 'step:0.4'"):
        with_error_correction(once, "cleanup", n_layers=2)
    assert with_error_correction(system, "none", n_layers=2) is system


# -------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("weight_scheme", sorted(circuits.WEIGHT_SCHEMES))
@pytest.mark.parametrize("system_name", sorted(circuits.SYSTEMS))
def test_non_overlapping_circuits_are_exact_with_every_option(system_name, weight_scheme, spec):
    """T S = D/d': no two circuits share a neuron, so every read-out is exact (float32 round-off).

    Every registered system x weight scheme x option; z = 3 circuits, or one whole group
    (chains of 2, fan-in triples). Refused: options that rewrite circuits on rotation-3 (no
    2-ReLU step) and tuned-chi without chi (the read-out-vector schemes).
    """
    T, S, L = 12, 4, 3
    base = make_system(system_name, T, seed=2)
    z = 3 if base.groups.size == 1 else base.groups.size
    ec = parse_error_correction(spec)
    if system_name == "rotation-3" and ec.changes_system:
        with pytest.raises(CircuitsError, match="2-ReLU step") as err:
            with_error_correction(base, spec, n_layers=L)
        assert err.value.parameter == "error_correction"
        return
    d = ec.circuit_width(base.circuit_width)
    if ec.tuned_chi and weight_scheme not in ("capped", "inhibited"):
        with pytest.raises(CircuitsError, match="tuned-chi needs a weight_scheme with chi") as err:
            ExperimentSpec(system=system_name, error_correction=spec, weight_scheme=weight_scheme, width=d * T * S,
                           n_circuits=T, redundancy=S, n_layers=L)
        assert err.value.parameter == "error_correction"
        return
    net = _build(base, spec, n_active=z, width=d * T * S, redundancy=S, n_layers=L, seed=5,
                 weight_scheme=weight_scheme)
    assert net.n_slots == T * S and net.circuit_width == d
    assert net.n_layers == L and net.network_layers == ec.network_layers(L)
    ev = evaluate(net, n_active=z, batch_size=60, seed=6)
    assert float(ev.table["measured"].max()) < 1e-5
    assert failure_rate(ev) == 0.0
    assert net.system.error_correction.spec == ec.spec


# ------------------------------------------------------------- cross-circuit edges
def _chain_exactness(spec, graph_change=None, L=4):
    """Largest error of a non-overlapping chain network with ``spec`` against the base small system.

    T S = 24 = D/d': no shared neurons. Read at the computation layers, the corrected network
    must give what the *base* circuits with their edges give (``base.run``), not just what the
    corrected circuits give. ``graph_change(block)`` edits the chain blocks first.
    """
    T, K, S = 12, 3, 2
    base = rotation_chains(T, chain_length=K, seed=0)
    if graph_change is not None:
        block = base.couplings.block.copy()
        graph_change(block)
        base = base.with_changes(couplings=base.couplings.relaid(block=block))
    d = parse_error_correction(spec).circuit_width(base.circuit_width)
    net = _build(base, spec, n_active=K, width=d * T * S, redundancy=S, n_layers=L, seed=5)
    active, payloads = base.draw(2 * K, 30, np.random.default_rng(2))
    ref = base.run(active, base.encode(payloads, active.shape), L)
    with torch.no_grad():
        acts = net.forward(active, net.system.encode(payloads, active.shape))
    err = 0.0
    fam = base.family
    for layer, at in zip(range(1, L + 1), _computation_network_layers(net.system, L)[1:]):
        est = net.read_out(acts[at], at, active).double().numpy()
        err = max(err, np.abs(net.system.family.decode_on(est) - fam.decode_on(ref[layer])).max(),
                  np.abs(net.system.family.decode_payload(est) - fam.decode_payload(ref[layer])).max())
    alone = fam.decode_payload(SmallSystem(fam).run(active, base.encode(payloads, active.shape), L))
    assert np.abs(fam.decode_payload(ref[L]) - alone[L]).max() > 0.5  # the edges matter
    return err, net


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS)
def test_non_overlapping_chain_network_is_exact_with_every_option(spec):
    err, net = _chain_exactness(spec)
    assert err < 1e-5
    ec = parse_error_correction(spec)
    couplings = net.system.couplings
    assert couplings.circuit_width == net.circuit_width and couplings.n_edges == 8
    assert set(couplings.layer.tolist()) == ({3, 5} if ec.get("cleanup") else {2, 3})  # never a clean-up layer
    active, payloads = net.system.draw(3, 40, np.random.default_rng(6))  # every inactive circuit must read 0 too
    ev = evaluate(net, active=active, payloads=payloads)
    assert float(ev.table["measured"].max()) < 1e-5 and failure_rate(ev) == 0.0


def test_couplings_relayout_per_option():
    base = rotation_chains(6, chain_length=3, seed=0)
    graph = base.couplings
    assert with_error_correction(rotation_circuits(6, seed=0), "cleanup", n_layers=3).couplings is None
    for spec in ("none", "tuned-chi"):
        assert with_error_correction(base, spec, n_layers=3).couplings is graph
    step = with_error_correction(base, "step:0.4", n_layers=3).couplings
    assert np.array_equal(step.block, graph.block) and np.array_equal(step.layer, graph.layer)
    wide = with_error_correction(base, "redundant:3", n_layers=3).couplings
    assert wide.block.shape == (4, 8, 8) and np.array_equal(wide.layer, graph.layer) and wide.circuit_width == 8
    np.testing.assert_array_equal(wide.block[:, 2:4, [0, 4, 6]], np.repeat(graph.block[:, 2:4, [0]] / 3, 3, axis=2))
    np.testing.assert_array_equal(wide.block[:, 2:4, [1, 5, 7]], np.repeat(graph.block[:, 2:4, [1]] / 3, 3, axis=2))
    np.testing.assert_array_equal(wide.block[:, 2:4, 2:4], graph.block[:, 2:4, 2:4])
    assert not wide.block[:, [0, 1, 4, 5, 6, 7]].any()  # the chain edges write no on-neuron, old or added
    clean = with_error_correction(base, "cleanup", n_layers=3).couplings
    np.testing.assert_array_equal(clean.layer, 2 * graph.layer - 1)
    with pytest.raises(CircuitsError, match="n_layers must be >= 3") as err:
        with_error_correction(base, "cleanup", n_layers=2)
    assert err.value.parameter == "n_layers"


def _write_on(block):
    block[:, 0, 2] = 0.3  # the edge writes into the receiver's on-neurons
    block[:, 1, 2] = 0.3


def _read_a0(block):
    block[:, 2, 0] += 0.1  # the edge reads the sender's a0 alone, not a0 - a1


@pytest.mark.parametrize("spec, change, words", [
    ("step:0.4", _write_on, "step:A cannot carry these couplings: edge 0 .* writes into the receiver's on-neurons"),
    ("cleanup", _write_on, "cleanup cannot carry these couplings: edge 0 .* writes into the receiver's on-neurons"),
    ("redundant:2+cleanup", _write_on, "cleanup cannot carry"),
    ("step:0.4", _read_a0, r"step:A cannot carry these couplings: .* other than through a0 - a1"),
])
def test_options_refuse_edges_they_would_break(spec, change, words):
    with pytest.raises(CircuitsError, match=words) as err:
        _chain_exactness(spec, change)
    assert err.value.parameter == "error_correction"


@pytest.mark.parametrize("spec, change", [("redundant:2", _write_on), ("redundant:3", _read_a0),
                                          ("cleanup", _read_a0)])
def test_options_stay_exact_with_edges_they_can_carry(spec, change):
    # redundant:K copies an edge's on-rows onto the added pairs and spreads its on-columns: any edge works
    err, _ = _chain_exactness(spec, change)
    assert err < 1e-5


def test_cleanup_network_has_2L_minus_1_layers_and_knows_its_computation_layers():
    net = build(with_error_correction(rotation_circuits(20, seed=0), "cleanup", n_layers=4), width=800,
                redundancy=4, n_layers=4, seed=0)
    assert net.n_layers == 4 and net.network_layers == 7
    assert _computation_network_layers(net.system, 4)[1:] == [1, 3, 5, 7]
    plain = build(rotation_circuits(20, seed=0), width=800, redundancy=4, n_layers=4, seed=0)
    assert plain.network_layers == 4 and plain.system.computation_layers(4) == (1, 2, 3, 4)
    with pytest.raises(CircuitsError, match="n_layers must be 4 for this system") as err:
        build(net.system, width=800, redundancy=4, n_layers=7, seed=0)
    assert err.value.parameter == "n_layers"
    # the table says which layer is which
    t = evaluate(net, n_active=2, batch_size=10, seed=0).table
    for layer, role, comp in zip(range(8), ["input"] + ["computation", "cleanup"] * 3 + ["computation"],
                                 [0, 1, None, 2, None, 3, None, 4]):
        rows = t[t.layer == layer]
        assert (rows.role == role).all()
        assert rows.computation_layer.isna().all() if comp is None else (rows.computation_layer == comp).all()


def test_redundant_width_must_be_a_multiple_of_the_new_d():
    """Nothing changes D behind the user's back: a width that is not a multiple of d' = d + 2(K-1)
    is refused, and the message names the widths that work."""
    system = with_error_correction(rotation_circuits(40, seed=0), "redundant:2", n_layers=2)
    message = r"width must be a multiple of the circuit width d = 6 \(base d = 4 widened by error correction\): " \
              r"use 996 or 1002, got 1000"
    with pytest.raises(CircuitsError, match=message) as err:
        build(system, width=1000, redundancy=6, n_layers=2, seed=0)
    assert err.value.parameter == "width"
    with pytest.raises(CircuitsError, match=message) as err:
        ExperimentSpec(error_correction="redundant:2", width=1000, n_circuits=40, n_layers=2)
    assert err.value.parameter == "width"
    net = build(system, width=996, redundancy=6, n_layers=2, seed=0)
    assert (net.width, net.circuit_width, net.n_slots) == (996, 6, 166)
    assert net.load == pytest.approx(40 * (4 / 996) ** 2)  # the load keeps the base d
    spec = ExperimentSpec(error_correction="redundant:2", width=996, n_circuits=40, n_layers=2)
    assert (spec.circuit_width, spec.base_width) == (6, 4)


def test_redundant_pairs_carry_identical_values_in_the_network():
    """All groups use the same neuron sets, so the K pairs see the same interference: why
    ``redundant:K`` cannot average noise away in this construction."""
    net = build(with_error_correction(rotation_circuits(300, seed=0), "redundant:3", n_layers=3), width=2000,
                redundancy=6, n_layers=3, seed=1)
    rng = np.random.default_rng(2)
    active = np.stack([rng.choice(300, 2, replace=False) for _ in range(40)])
    with torch.no_grad():
        acts = net.forward(active, net.system.encode(draw_payloads((40, 2), 2, rng), (40, 2)))
    for a in acts[1:]:
        assert a[:, 0].abs().sum() > 0
        for q in (4, 6):
            torch.testing.assert_close(a[:, q], a[:, 0], rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(a[:, q + 1], a[:, 1], rtol=1e-6, atol=1e-6)


# -------------------------------------------------------------------------- tuned chi
@pytest.mark.slow
def test_tuned_chi_is_deterministic_given_the_seed():
    spec = ExperimentSpec(error_correction="tuned-chi", width=400, n_circuits=60, redundancy=5, n_layers=3,
                          n_active=1, batch_size=40, seed=7)
    system = build_system(spec)
    seeds = spec.seeds()
    kwargs = dict(n_active=1, width=400, redundancy=5, n_layers=3, network_seed=seeds.network,
                  calibration_seed=seeds.calibration)
    first = tune_chi(system, **kwargs)
    assert [row[0] for row in first[1]] == list(CHI_GRID) and first[0] in CHI_GRID
    assert len({row[1:] for row in first[1]}) > 1  # the candidates do differ here
    # build runs the same search again (the spec's seeds, the default calibration batch,
    # a system drawn again): the same choice
    net = build(spec)
    assert net.config.chi_scale == first[0]
    assert net.config.seed == seeds.network and net.provenance == spec.to_dict()
    a, b = evaluate(spec, network=net), evaluate(spec, network=net)
    assert a.table.equals(b.table) and a.config["tuned_chi_scale"] == first[0]
    assert CALIBRATION_BATCH == 200


def test_tuned_chi_needs_the_capped_weight_scheme():
    for weight_scheme in ("split", "uncorrected"):
        with pytest.raises(CircuitsError, match="tuned-chi needs a weight_scheme with chi") as err:
            ExperimentSpec(error_correction="tuned-chi", weight_scheme=weight_scheme, width=400, n_circuits=50,
                           redundancy=4, n_layers=2)
        assert err.value.parameter == "error_correction"


@pytest.mark.slow
def test_tuned_chi_lowers_the_failure_rate_at_z1():
    """At z = 1 the active circuit's own neurons receive from all of its previous neurons (C
    covers them), so chi leaves it alone, while an inactive neuron whose pattern covers n < S of
    them gets on-input 2 (n (1 + chi) - chi S) / S - 0.5: a larger chi raises the n it takes to
    pass the step. Paired comparison on the same draws (the networks differ only in chi): under
    "no gain" the passes that fail only without (b) and only with (c) tuning are equally likely,
    b - c has mean 0 and standard deviation sqrt(b + c); we ask for 4 of them.
    """
    system = rotation_circuits(200, seed=11)
    kwargs = dict(width=1000, redundancy=6, n_layers=4, seed=12)
    plain = evaluate(build(system, **kwargs), n_active=1, batch_size=300, seed=13)
    tuned_net = _build(system, "tuned-chi", n_active=1, **kwargs)
    tuned = evaluate(tuned_net, n_active=1, batch_size=300, seed=13)
    assert tuned_net.config.chi_scale > 1
    assert np.array_equal(plain.active, tuned.active)  # the same draws
    fail_plain = plain.sample_worst_on[1:].max(0) > 0.25
    fail_tuned = tuned.sample_worst_on[1:].max(0) > 0.25
    b, c = int((fail_plain & ~fail_tuned).sum()), int((fail_tuned & ~fail_plain).sum())
    assert b - c > 4 * np.sqrt(b + c), (b, c)


# --------------------------------------------------------------------------- boundary
def test_find_boundary_counts_the_width_an_option_costs():
    spec = ExperimentSpec(width=396, n_circuits=20, n_layers=2, n_active=1, batch_size=30)
    plain = find_boundary(spec, n_seeds=1, rtol=0.5)
    wide = find_boundary(spec.replace(error_correction="redundant:2"), n_seeds=1, rtol=0.5)
    assert wide.config["error_correction"] == "redundant:2" and plain.config["error_correction"] == "none"
    assert wide.capacity < plain.capacity  # D/d = 66 slots instead of 99
    assert (wide.config["circuit_width"], plain.config["circuit_width"]) == (6, 4)
    assert wide.config["base_width"] == plain.config["base_width"] == 4  # the load uses the base d
    assert wide.capacity_load == pytest.approx(wide.capacity * (4 / 396) ** 2)
