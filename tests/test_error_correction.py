"""Error-correction options: the parser, exactness, widths, clean-up layers, tuned chi, one statistical gain."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from circuits import (CircuitGraph, CircuitsError, build, build_with_error_correction, computation_layers, evaluate,
                      failure_rate, find_boundary, graph_with_error_correction, parse_error_correction,
                      rotation3_circuits, rotation_chains, rotation_circuits, run_graph, step_circuits,
                      with_error_correction)
from circuits._error_correction import CHI_GRID, tune_chi
from circuits._evaluate import draw_payloads
from circuits._graph import draw_chains
from circuits.cli import main

SPECS = ["none", "redundant:2", "redundant:3", "cleanup", "tuned-chi", "step:0.4",
         "step:0.45+redundant:2+cleanup+tuned-chi"]


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


@pytest.mark.parametrize("spec, words", [
    ("", "non-empty"), ("bogus", "must be none, redundant:K"), ("redundant", "K >= 2"), ("redundant:1", "K >= 2"),
    ("redundant:2.5", "K >= 2"), ("redundant:x", "K >= 2"), ("step:0.5", "0 < A < 0.5"), ("step:0", "0 < A < 0.5"),
    ("step:abc", "0 < A < 0.5"), ("cleanup+cleanup", "given twice"), ("none+cleanup", "cannot be combined"),
    ("cleanup:2", "must be none"), (3, "non-empty string"),
])
def test_parser_rejects_bad_specs_with_a_clear_message(spec, words):
    with pytest.raises(CircuitsError, match=words):
        parse_error_correction(spec)


def test_margin_is_what_the_step_corrects():
    assert parse_error_correction("none").margin == 0.25
    assert parse_error_correction("step:0.45+cleanup").margin == 0.45


# ----------------------------------------------------------------------- the families
@pytest.mark.parametrize("K", [2, 3, 4])
@pytest.mark.parametrize("make", [lambda T: rotation_circuits(T, seed=0), step_circuits])
def test_redundant_widens_circuits_by_two_per_extra_pair(make, K):
    base = make(5)
    fam = with_error_correction(base, f"redundant:{K}")
    assert fam.circuit_width == base.circuit_width + 2 * (K - 1)
    assert parse_error_correction(f"redundant:{K}").circuit_width(base.circuit_width) == fam.circuit_width


def _truth(fam, circuits, payloads, n_layers):
    """Decoded on-indicator and payload of the family's own run, ``(L+1, ...)``."""
    run = fam.run(circuits, fam.encode(payloads, circuits.shape), n_layers)
    return fam.decode_on(run), fam.decode_payload(run)


@pytest.mark.parametrize("spec", SPECS)
def test_every_option_computes_what_the_base_circuits_compute(spec):
    """The corrected circuits' own run, read at the computation layers, is the base circuits' run."""
    base = rotation_circuits(7, seed=3)
    L = 4
    fam = with_error_correction(base, spec, n_layers=L)
    circuits = np.arange(7)[:, None].repeat(5, 1)
    payloads = draw_payloads(circuits.shape, 2, np.random.default_rng(0))
    on, pay = _truth(base, circuits, payloads, L)
    ec = parse_error_correction(spec)
    on2, pay2 = _truth(fam, circuits, payloads, ec.network_layers(L))
    layers = [0] + [2 * layer - 1 if ec.cleanup else layer for layer in range(1, L + 1)]
    np.testing.assert_allclose(on2[layers], on, atol=1e-12)
    np.testing.assert_allclose(pay2[layers], pay, atol=1e-12)


def test_cleanup_layer_maps_a_clean_active_circuit_to_itself_and_zero_to_zero():
    base = rotation_circuits(6, seed=1)
    fam = with_error_correction(base, "cleanup", n_layers=3)
    payloads = draw_payloads((6, 50), 2, np.random.default_rng(1))
    circuits = np.arange(6)[:, None].repeat(50, 1)
    clean = base.run(circuits, base.encode(payloads, circuits.shape), 2)  # every layer of a clean active circuit
    for layer in (2, 4):  # the clean-up layers
        mean, diff = fam.layer_weights(layer)
        assert not diff.any()  # the same for every circuit
        for a in clean[1:]:
            out = np.maximum(np.einsum("ij,...j->...i", mean, a) + fam.bias, 0.0)
            np.testing.assert_allclose(out, a, atol=1e-12)
        zero = np.zeros(fam.circuit_width)
        assert not np.maximum(mean @ zero + fam.bias, 0.0).any()


def test_step_option_zeroes_up_to_A_and_saturates_from_1_minus_A():
    fam = with_error_correction(step_circuits(1), "step:0.4")
    mean, _ = fam.layer_weights(1)
    alpha = np.array([0.0, 0.2, 0.4, 0.5, 0.6, 0.9, 1.0, 1.7])
    a = np.stack([alpha, np.zeros_like(alpha)], -1)  # a0 - a1 = alpha
    out = np.maximum(a @ mean.T + fam.bias, 0.0)
    np.testing.assert_allclose(out[:, 0] - out[:, 1], [0, 0, 0, 0.5, 1, 1, 1, 1], atol=1e-12)


def test_options_need_a_two_relu_step_on_indicator():
    with pytest.raises(CircuitsError, match="2-ReLU step"):
        with_error_correction(rotation3_circuits(4, seed=0), "redundant:2")
    assert with_error_correction(rotation3_circuits(4, seed=0), "tuned-chi").circuit_width == 3  # no change
    with pytest.raises(CircuitsError, match="needs n_layers"):
        with_error_correction(rotation_circuits(4, seed=0), "cleanup")
    fam = rotation_circuits(4, seed=0)
    mean = fam.mean_w.copy()
    mean[2, 1] = 0.0  # the payload would read a0 alone, not a0 - a1
    with pytest.raises(CircuitsError, match=r"only\s+through a0 - a1"):
        with_error_correction(dataclasses.replace(fam, mean_w=mean), "step:0.4")


# -------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("make", [lambda T: rotation_circuits(T, seed=2), step_circuits], ids=["rotation", "step"])
def test_non_overlapping_circuits_are_exact_with_every_option(make, spec):
    """T S = D/d': no two circuits share a neuron, so every read-out is exact (float32 round-off)."""
    T, S = 12, 4
    fam = make(T)
    d = parse_error_correction(spec).circuit_width(fam.circuit_width)
    net = build_with_error_correction(fam, spec, width=d * T * S, redundancy=S, n_layers=3, seed=5, n_active=3,
                                      calibration_batch=10)
    assert net.n_slots == T * S
    ev = evaluate(net, n_active=3, batch_size=60, seed=6)
    assert float(ev.table["measured"].max()) < 1e-5
    assert failure_rate(ev) == 0.0
    assert net.family.params.get("error_correction", "none") == parse_error_correction(spec).spec


# ------------------------------------------------------------- cross-circuit edges
def _chain_exactness(spec, graph_change=None, L=4):
    """Largest error of a non-overlapping chain network with ``spec`` against the base small system.

    T S = 24 = D/d': no shared neurons. Read at the computation layers, the corrected network
    must give what the *base* circuits with their edges give (``run_graph``), not just what the
    corrected circuits give. ``graph_change(block)`` edits the chain blocks first.
    """
    T, K, S = 12, 3, 2
    fam, graph = rotation_chains(T, chain_length=K, seed=0)
    if graph_change is not None:
        block = graph.block.copy()
        graph_change(block)
        graph = CircuitGraph(T, 4, layer=graph.layer, receiver=graph.receiver, sender=graph.sender, block=block)
    d = parse_error_correction(spec).circuit_width(fam.circuit_width)
    net = build_with_error_correction(fam, spec, width=d * T * S, redundancy=S, n_layers=L, seed=5, n_active=K,
                                      calibration_batch=10, graph=graph)
    active, payloads = draw_chains(T, K, 2 * K, 30, seed=2)
    ref = run_graph(fam, graph, active, fam.encode(payloads, active.shape), L)
    acts = net.forward(active, net.family.encode(payloads, active.shape))
    err = 0.0
    for layer, at in zip(range(1, L + 1), computation_layers(net)):
        est = net.read_out(acts[at], at, active).double().numpy()
        err = max(err, np.abs(net.family.decode_on(est) - fam.decode_on(ref[layer])).max(),
                  np.abs(net.family.decode_payload(est) - fam.decode_payload(ref[layer])).max())
    alone = fam.decode_payload(fam.run(active, fam.encode(payloads, active.shape), L))
    assert np.abs(fam.decode_payload(ref[L]) - alone[L]).max() > 0.5  # the edges matter
    return err, net


@pytest.mark.parametrize("spec", SPECS)
def test_non_overlapping_chain_network_is_exact_with_every_option(spec):
    err, net = _chain_exactness(spec)
    assert err < 1e-5
    ec = parse_error_correction(spec)
    assert net.graph.circuit_width == net.circuit_width and net.graph.n_edges == 8
    assert set(net.graph.layer.tolist()) == ({3, 5} if ec.cleanup else {2, 3})  # never a clean-up layer
    active, payloads = draw_chains(12, 3, 3, 40, seed=6)  # every inactive circuit must read exactly 0 too
    ev = evaluate(net, active=active, payloads=payloads)
    assert float(ev.table["measured"].max()) < 1e-5 and failure_rate(ev) == 0.0


def test_graph_relayout_per_option():
    fam, graph = rotation_chains(6, chain_length=3, seed=0)
    assert graph_with_error_correction(None, fam, "cleanup") is None
    for spec in ("none", "tuned-chi"):
        assert graph_with_error_correction(graph, fam, spec) is graph
    step = graph_with_error_correction(graph, fam, "step:0.4")
    assert np.array_equal(step.block, graph.block) and np.array_equal(step.layer, graph.layer)
    wide = graph_with_error_correction(graph, fam, "redundant:3")
    assert wide.block.shape == (4, 8, 8) and np.array_equal(wide.layer, graph.layer)
    np.testing.assert_array_equal(wide.block[:, 2:4, [0, 4, 6]], np.repeat(graph.block[:, 2:4, [0]] / 3, 3, axis=2))
    np.testing.assert_array_equal(wide.block[:, 2:4, [1, 5, 7]], np.repeat(graph.block[:, 2:4, [1]] / 3, 3, axis=2))
    np.testing.assert_array_equal(wide.block[:, 2:4, 2:4], graph.block[:, 2:4, 2:4])
    assert not wide.block[:, [0, 1, 4, 5, 6, 7]].any()  # the chain edges write no on-neuron, old or added
    clean = graph_with_error_correction(graph, fam, "cleanup", n_layers=3)
    np.testing.assert_array_equal(clean.layer, 2 * graph.layer - 1)
    with pytest.raises(CircuitsError, match="n_layers >= 3"):
        graph_with_error_correction(graph, fam, "cleanup", n_layers=2)
    with pytest.raises(CircuitsError, match="graph has 6 circuits but the family has 5"):
        graph_with_error_correction(graph, rotation_circuits(5, seed=0), "redundant:2")


def _write_on(block):
    block[:, 0, 2] = 0.3  # the edge writes into the receiver's on-neurons
    block[:, 1, 2] = 0.3


def _read_a0(block):
    block[:, 2, 0] += 0.1  # the edge reads the sender's a0 alone, not a0 - a1


@pytest.mark.parametrize("spec, change, words", [
    ("step:0.4", _write_on, "step:A cannot carry this graph: edge 0 .* writes into the receiver's on-neurons"),
    ("cleanup", _write_on, "cleanup cannot carry this graph: edge 0 .* writes into the receiver's on-neurons"),
    ("redundant:2+cleanup", _write_on, "cleanup cannot carry"),
    ("step:0.4", _read_a0, r"step:A cannot carry this graph: .* other than through a0 - a1"),
])
def test_options_refuse_edges_they_would_break(spec, change, words):
    with pytest.raises(CircuitsError, match=words):
        _chain_exactness(spec, change)


@pytest.mark.parametrize("spec, change", [("redundant:2", _write_on), ("redundant:3", _read_a0),
                                          ("cleanup", _read_a0)])
def test_options_stay_exact_with_edges_they_can_carry(spec, change):
    # redundant:K copies an edge's on-rows onto the added pairs and spreads its on-columns: any edge works
    err, _ = _chain_exactness(spec, change)
    assert err < 1e-5


def test_cleanup_network_has_2L_minus_1_layers_and_knows_its_computation_layers():
    net = build_with_error_correction(rotation_circuits(20, seed=0), "cleanup", width=800, redundancy=4,
                                      n_layers=4, seed=0)
    assert net.n_layers == 7 and computation_layers(net) == (1, 3, 5, 7)
    assert computation_layers(build(rotation_circuits(20, seed=0), width=800, redundancy=4, n_layers=4,
                                    seed=0)) == (1, 2, 3, 4)


def test_redundant_network_uses_at_most_the_width_asked_for():
    net = build_with_error_correction(rotation_circuits(40, seed=0), "redundant:2", width=1000, redundancy=6,
                                      n_layers=2, seed=0)
    assert (net.width, net.circuit_width) == (996, 6)


def test_redundant_pairs_carry_identical_values_in_the_network():
    """All groups use the same neuron sets, so the K pairs see the same interference: why
    ``redundant:K`` cannot average noise away in this construction."""
    net = build_with_error_correction(rotation_circuits(300, seed=0), "redundant:3", width=2000, redundancy=6,
                                      n_layers=3, seed=1)
    rng = np.random.default_rng(2)
    active = np.stack([rng.choice(300, 2, replace=False) for _ in range(40)])
    acts = net.forward(active, net.family.encode(draw_payloads((40, 2), 2, rng), (40, 2)))
    for a in acts[1:]:
        assert a[:, 0].abs().sum() > 0
        for q in (4, 6):
            torch.testing.assert_close(a[:, q], a[:, 0], rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(a[:, q + 1], a[:, 1], rtol=1e-6, atol=1e-6)


# -------------------------------------------------------------------------- tuned chi
def test_tuned_chi_is_deterministic_given_the_seed():
    fam = rotation_circuits(60, seed=4)
    kwargs = dict(width=400, redundancy=5, n_layers=3, seed=7)
    first = tune_chi(fam, n_active=1, batch_size=40, **kwargs)
    assert first == tune_chi(fam, n_active=1, batch_size=40, **kwargs)
    assert [row[0] for row in first[1]] == list(CHI_GRID) and first[0] in CHI_GRID
    assert len({row[1:] for row in first[1]}) > 1  # the candidates do differ here
    net = build_with_error_correction(fam, "tuned-chi", n_active=1, calibration_batch=40, **kwargs)
    assert net.config.chi_scale == first[0]


def test_tuned_chi_needs_z_and_the_capped_method():
    fam = rotation_circuits(50, seed=0)
    with pytest.raises(CircuitsError, match="n_active"):
        build_with_error_correction(fam, "tuned-chi", width=400, redundancy=4, n_layers=2, seed=0)
    with pytest.raises(CircuitsError, match="capped"):
        build_with_error_correction(fam, "tuned-chi", width=400, redundancy=4, n_layers=2, seed=0,
                                    method="split", n_active=1)


def test_tuned_chi_lowers_the_failure_rate_at_z1():
    """At z = 1 the active circuit's own neurons receive from all of its previous neurons (C
    covers them), so chi leaves it alone, while an inactive neuron whose pattern covers n < S of
    them gets on-input 2 (n (1 + chi) - chi S) / S - 0.5: a larger chi raises the n it takes to
    pass the step. Paired comparison on the same draws (the networks differ only in chi): under
    "no gain" the passes that fail only without (b) and only with (c) tuning are equally likely,
    b - c has mean 0 and standard deviation sqrt(b + c); we ask for 4 of them.
    """
    fam = rotation_circuits(200, seed=11)
    kwargs = dict(width=1000, redundancy=6, n_layers=4, seed=12)
    plain = evaluate(build(fam, **kwargs), n_active=1, batch_size=300, seed=13)
    tuned_net = build_with_error_correction(fam, "tuned-chi", n_active=1, calibration_batch=50, **kwargs)
    tuned = evaluate(tuned_net, n_active=1, batch_size=300, seed=13)
    assert tuned_net.config.chi_scale > 1
    fail_plain = plain.sample_worst_on[1:].max(0) > 0.25
    fail_tuned = tuned.sample_worst_on[1:].max(0) > 0.25
    b, c = int((fail_plain & ~fail_tuned).sum()), int((fail_tuned & ~fail_plain).sum())
    assert b - c > 4 * np.sqrt(b + c), (b, c)


# --------------------------------------------------------------------------- boundary, CLI
def test_find_boundary_counts_the_width_an_option_costs():
    plain = find_boundary(400, 1, 2, batch_size=30, n_seeds=1, rtol=0.5)
    wide = find_boundary(400, 1, 2, batch_size=30, n_seeds=1, rtol=0.5, error_correction="redundant:2")
    assert wide.config["error_correction"] == "redundant:2" and plain.config["error_correction"] == "none"
    assert wide.capacity < plain.capacity  # D/d = 66 slots instead of 100
    assert wide.config["circuit_width"] == plain.config["circuit_width"] == 4  # the load uses the base d


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_records_the_option(capsys):
    out = _json(capsys, ["evaluate", "--width", "800", "--circuits", "60", "--layers", "3", "--active", "1",
                         "--batch", "20", "--error-correction", "cleanup+redundant:2", "--format", "json"])
    assert out["config"]["error_correction"] == "redundant:2+cleanup"
    assert out["config"]["computation_layers"] == [1, 3, 5]
    assert out["config"]["circuit_width"] == 6 and out["config"]["n_layers"] == 5
    out = _json(capsys, ["boundary", "--width", "400", "--active", "1", "--layers", "2", "--batch", "20",
                         "--seeds", "1", "--rtol", "0.5", "--error-correction", "step:0.4", "--threshold", "0.4",
                         "--format", "json"])
    assert out["config"]["error_correction"] == "step:0.4" and out["config"]["threshold"] == 0.4
    assert main(["evaluate", "--error-correction", "redundant:0"]) == 2
    assert "K >= 2" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_figure_writes_the_png_and_the_tidy_data(tmp_path):
    import pandas as pd

    from figures import render
    from figures.fig_error_correction import OPTIONS

    written = render(tmp_path, only=["error-correction"], quick=True, log=None)["error-correction"]
    png, csv = written
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    frame = pd.read_csv(csv)
    sweep, bound = frame[frame.kind == "sweep"], frame[frame.kind == "boundary"]
    assert set(OPTIONS) - {"redundant:2"} <= set(sweep.option)  # redundant:2 does not fit at D/6 slots here
    assert np.allclose(sweep.load, sweep.n_circuits * (4 / sweep.width) ** 2)  # the base circuit's d
    assert set(sweep[sweep.stat == "mse"].layer) == {1, 2, 3, 4}  # computation layers, clean-up or not
    rates = sweep[sweep.stat == "failure_rate"].measured
    assert ((rates >= 0) & (rates <= 1)).all()
    assert (bound.low <= bound.measured).all() and (bound.measured <= bound.high).all()
