"""The regime boundary: the failure rate, the bisection, the interval, and find_boundary."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from circuits import CircuitsError, ExperimentSpec, build, evaluate, failure_rate, find_boundary, make_system
from circuits.cli import main
from circuits.experiments._boundary import Crossing, bisect_threshold, median_interval


# ----------------------------------------------------------------------- failure rate
def test_failure_rate_counts_samples_over_threshold_at_layers_1_to_L():
    worst = np.array([[9.0, 9.0, 0.0, 0.0],    # layer 0 (the input) does not count
                      [0.1, 0.3, 0.0, 0.25],
                      [0.2, 0.0, 0.26, 0.0]])
    assert failure_rate(SimpleNamespace(sample_worst_on=worst)) == 0.5
    assert failure_rate(SimpleNamespace(sample_worst_on=worst), on_error=0.27) == 0.25


def _double_shares(net, active):
    """Per sample: does some inactive circuit share >= 2 neurons with the active ones at a layer?"""
    sets = net.assignment.sets
    T = sets.shape[1]
    hit = np.zeros(len(active), dtype=bool)
    for layer in range(1, net.network_layers + 1):
        own = np.zeros((T, net.n_slots), dtype=int)
        own[np.arange(T)[:, None], sets[layer]] = 1
        shared = own @ own.T
        for i, act in enumerate(active):
            total = shared[:, act].sum(axis=1)
            total[act] = 0
            hit[i] |= total.max() >= 2
    return hit


@pytest.mark.parametrize("n_circuits", [17, 22])
def test_failures_at_z2_are_exactly_the_double_shares(n_circuits):
    """D/d = 100, S = 6: the first 16 circuits are disjoint, the rest share one neuron with a few.

    An inactive circuit sharing one neuron with an active circuit reads its on-indicator as
    1/S = 0.17 < 0.25; sharing with two, 2/S = 0.33 > 0.25. So a forward pass fails exactly when
    at some layer an inactive circuit shares neurons with both active circuits.
    """
    net = build(make_system("rotation", n_circuits, seed=1), width=400, redundancy=6, n_layers=3, seed=2)
    ev = evaluate(net, n_active=2, batch_size=400, seed=3)
    failed = ev.sample_worst_on[1:].max(axis=0) > 0.25
    predicted = _double_shares(net, ev.active)
    assert 0.05 < predicted.mean() < 0.95
    np.testing.assert_array_equal(failed, predicted)
    assert failure_rate(ev) == predicted.mean()


# --------------------------------------------------------------------------- bisection
@pytest.mark.parametrize("threshold", [11, 12, 137, 999, 1000])
def test_bisection_finds_a_step(threshold):
    calls = []

    def rate(t):
        calls.append(t)
        return 0.3 if t >= threshold else 0.0

    c = bisect_threshold(rate, 10, 1000, level=0.01)
    assert (c.below, c.above) == (threshold - 1, threshold)
    assert len(calls) == len(set(calls)) == len(c.rates)
    assert len(calls) <= math.ceil(math.log2(1000 / 10)) + math.ceil(math.log2(1000 - 10)) + 2


def test_bisection_of_a_smooth_monotone_rate():
    """rate(T) = (T/500)^3 crosses 0.01 at T = 500 * 0.01^(1/3) = 107.7."""
    c = bisect_threshold(lambda t: (t / 500) ** 3, 5, 5000, level=0.01)
    assert (c.below, c.above) == (107, 108)
    assert c.estimate == pytest.approx(math.sqrt(107 * 108))
    coarse = bisect_threshold(lambda t: (t / 500) ** 3, 5, 5000, level=0.01, rtol=0.1)
    assert coarse.below <= 107 < 108 <= coarse.above
    assert coarse.above - coarse.below <= max(1, 0.1 * coarse.below)
    assert len(coarse.rates) < len(c.rates)


def test_bisection_edges():
    never = bisect_threshold(lambda t: 0.0, 3, 300, level=0.01)
    assert (never.below, never.above) == (300, None) and never.estimate == math.inf
    assert [t for t, _ in never.rates] == [3, 6, 12, 24, 48, 96, 192, 300]
    always = bisect_threshold(lambda t: 1.0, 3, 300, level=0.01)
    assert (always.below, always.above, always.estimate) == (None, 3, 3.0)
    assert bisect_threshold(lambda t: float(t > 3), 3, 4, level=0.5) == Crossing(3, 4, ((3, 0.0), (4, 1.0)))


# -------------------------------------------------------------------- interval over seeds
def test_median_interval_coverage():
    # n = 6: [min, max], coverage 1 - 2 / 2^6; n = 5: only 1 - 2 / 2^5 is possible
    assert median_interval([6, 2, 4, 1, 5, 3]) == (3.5, 1.0, 6.0, 1 - 2 / 64)
    assert median_interval([5, 1, 4, 2, 3]) == (3.0, 1.0, 5.0, 1 - 2 / 32)
    # n = 10: the 2nd and 9th values, coverage 1 - 2 * 11 / 1024
    assert median_interval(range(10)) == (4.5, 1.0, 8.0, 1 - 22 / 1024)
    # censored seeds (no crossing up to capacity) sort last
    med, low, high, _ = median_interval([1.0, math.inf, math.inf, 2.0, math.inf])
    assert (med, low, high) == (math.inf, 1.0, math.inf)


# ------------------------------------------------------------------------ find_boundary
def _spec(**kw):
    return ExperimentSpec(**{"width": 400, "n_circuits": 20, "n_active": 1, "n_layers": 2, "batch_size": 200, **kw})


@pytest.mark.slow
def test_find_boundary_on_a_small_network():
    b = find_boundary(_spec(seed=5), criterion="worst-readout", n_seeds=3)
    scale = (4 / 400) ** 2
    assert b.capacity == 86 and b.capacity_load == pytest.approx(86 * scale)
    assert not b.capacity_reached
    for c in b.crossings:  # each seed's bracket is what its own measurements say
        rates = dict(c.rates)
        assert rates[c.below] <= 0.01 < rates[c.above]
        assert c.above - c.below <= max(1, 0.02 * c.below)
        assert c.rates[0][0] == 100 // 6  # starts where circuits first must share neurons
    estimates = sorted(c.estimate * scale for c in b.crossings)
    assert b.critical_load == pytest.approx(estimates[1])
    assert b.interval == pytest.approx((estimates[0], estimates[2]))
    assert b.critical_circuits * scale == pytest.approx(b.critical_load)
    again = find_boundary(_spec(seed=5, n_circuits=30), criterion="worst-readout", n_seeds=3)
    assert again.crossings == b.crossings
    # every tested point is the evaluation of a spec: seed i is spec.seed + i
    seed1 = b.crossings[1]
    T, rate = seed1.rates[-1]
    assert failure_rate(evaluate(_spec(seed=6, n_circuits=T))) == rate


def test_find_boundary_capacity_branch():
    """No on-indicator is read off by more than 5: no failure up to capacity; a lower bound."""
    b = find_boundary(_spec(batch_size=50), criterion="worst-readout", n_seeds=2, on_error=5.0)
    assert b.capacity_reached
    assert b.critical_load == b.capacity_load == pytest.approx(86 * (4 / 400) ** 2)
    assert b.interval == (b.capacity_load, math.inf)
    assert all(c.above is None and c.below == 86 for c in b.crossings)


def test_find_boundary_rejects_bad_input():
    for kwargs, name in [({"level": -1.0}, "level"), ({"n_seeds": 0}, "n_seeds"), ({"on_error": -1}, "on_error"),
                         ({"rtol": float("nan")}, "rtol"), ({"confidence": 1.0}, "confidence"),
                         ({"criterion": "bogus"}, "criterion")]:
        with pytest.raises(CircuitsError, match=name):
            find_boundary(_spec(), **kwargs)
    with pytest.raises(CircuitsError, match="spec"):
        find_boundary({"width": 400})


@pytest.mark.slow
def test_find_boundary_finds_a_known_crossing(monkeypatch):
    """A criterion whose score steps from 0 to 1 at T = 137: every seed brackets exactly 136 | 137."""
    from circuits.measurement import _criteria

    step = _criteria.Criterion("step-at-137", lambda ev, on_error: float(ev.config["n_circuits"] >= 137), 0.5,
                               "test")
    monkeypatch.setitem(_criteria.CRITERIA._entries, step.name, step)
    b = find_boundary(_spec(width=800, batch_size=5), criterion=step.name, n_seeds=2, rtol=0.0)
    assert [(c.below, c.above) for c in b.crossings] == [(136, 137), (136, 137)]
    assert b.critical_circuits == pytest.approx(math.sqrt(136 * 137))
    assert b.critical_load == pytest.approx(math.sqrt(136 * 137) * (4 / 800) ** 2)
    assert b.config["criterion"] == step.name and b.config["level"] == 0.5


@pytest.mark.slow
@pytest.mark.parametrize("criterion", ["payload", "compounding"])
def test_meaningful_criteria_are_not_pinned_at_the_first_shared_neuron(criterion):
    """At D = 2000, z = 2 the worst-readout criterion trips where circuits first share neurons
    (T = (D/d)/S = 83); payload and compounding cross well above it (measured: about 4.5x and 2.6x)."""
    spec = ExperimentSpec(width=2000, n_circuits=20, n_active=2, n_layers=4, batch_size=200)
    b = find_boundary(spec, criterion=criterion, n_seeds=1, rtol=0.1)
    no_sharing = (2000 // 4 // 6) * (4 / 2000) ** 2
    assert b.critical_load > 2 * no_sharing and not b.capacity_reached
    pinned = find_boundary(spec, criterion="worst-readout", n_seeds=1, rtol=0.1)
    assert pinned.critical_load < 1.1 * no_sharing


@pytest.mark.slow
def test_cli_boundary_json(capsys):
    assert main(["boundary", "--width", "400", "--n-active", "2", "--n-layers", "2", "--batch-size", "100",
                 "--n-seeds", "2", "--criterion", "worst-readout", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    low, high = out["interval"]
    assert low <= out["critical_load"] <= high
    assert out["capacity"] == 86 and out["capacity_reached"] is False
    assert out["critical_circuits"] * (4 / 400) ** 2 == pytest.approx(out["critical_load"])
    assert [s["seed"] for s in out["seeds"]] == [0, 1] and "n_circuits" not in out["config"]
    assert out["config"]["criterion"] == "worst-readout" and out["config"]["level"] == 0.01
    assert main(["boundary", "--width", "400", "--n-active", "2", "--n-layers", "2", "--batch-size", "100",
                 "--n-seeds", "2", "--criterion", "worst-readout"]) == 0
    text = capsys.readouterr().out
    assert f"critical load T(d/D)^2 = {out['critical_load']:.6f}" in text and "capacity T = 86" in text

