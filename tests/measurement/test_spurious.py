"""Spurious on-indicators at layer 2: theory's hit distribution and expected count against the network.

The network is the baseline construction (rotation circuits, capped weights) with the
finite-field assignment (even slot use, as theory assumes), z = 1. For every circuit t that can
be active and every slot j it does not own at layer 2, ``k_j`` counts t's layer-1 slots that the
capped pattern joins to j; the on-indicator there reads ``(k (1 + chi) - chi S) / S`` before the
step. These exact counts, over all t, are the network's own distribution (a direct count, no
sampling). Two kinds of check:

- statistical: the evaluation's per-sample spurious count (B random draws) against the network's
  exact expectation, within 4 standard errors of the B samples;
- theory's approximation: the binomial hit distribution and the layer-2 count and mass of
  :func:`theory.spurious_layer2` against the exact ones. The binomial treats the S trials as
  independent and every slot as equally used; here that is off by a total-variation distance of
  0.005 and 2-7% in the tail that the mass weighs, so the tolerances are model tolerances (stated
  below), not sampling ones.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import binom

import circuits
from circuits import ExperimentSpec
from theory import hit_probability, spurious_layer2, step_output

SPEC = ExperimentSpec(width=8000, n_circuits=6000, redundancy=6, n_layers=2, n_active=1, batch_size=3000,
                      assignment="finite-field", seed=3)


@pytest.fixture(scope="module")
def network_counts():
    """``(net, K)``: ``K[j, t]`` = how many of circuit t's layer-1 slots the layer-2 pattern joins to slot j,
    with NaN where t owns j at layer 2."""
    net = circuits.build(SPEC)
    n, T = net.n_slots, net.n_circuits
    sets = net.assignment.sets
    pattern = net.structures[2][0]
    incidence = sp.csr_array((np.ones(T * 6), sets[1].ravel(), np.arange(0, T * 6 + 1, 6)), shape=(T, n))
    K = (pattern @ incidence.T).toarray()  # (n, T)
    K[sets[2], np.arange(T)[:, None]] = np.nan
    return net, K


@pytest.mark.slow
def test_hit_distribution_is_close_to_binomial(network_counts):
    """P(k) over unowned slots is Binomial(S, rho') up to the model's approximation."""
    net, K = network_counts
    n, S = net.n_slots, net.redundancy
    rho = net.structures[2][0].nnz / n**2
    rho_prime = (rho * n - S) / (n - S)
    assert rho_prime == pytest.approx(hit_probability(n, net.n_circuits, S), rel=0.01)  # the closed form's rho
    found = np.array([np.nanmean(K == k) for k in range(S + 1)])
    expect = binom.pmf(np.arange(S + 1), S, rho_prime)
    assert 0.5 * np.abs(found - expect).sum() < 0.01  # total variation
    assert np.nanmean(K) == pytest.approx(S * rho_prime, rel=0.02)
    assert found[2] == pytest.approx(expect[2], rel=0.05)  # two hits: what makes a spurious indicator


@pytest.mark.slow
def test_expected_spurious_count_at_layer_2(network_counts):
    """The evaluation's mean count equals the network's exact expectation within 4 standard errors;
    theory's binomial estimate (:func:`theory.spurious_layer2`) is within 3% (count) and 8% (mass)."""
    net, K = network_counts
    S = net.redundancy
    chi = net.constants[2]["chi"]
    v = np.where(np.isnan(K), 0.0, np.vectorize(step_output)(np.nan_to_num((K * (1 + chi) - chi * S) / S)))
    exact = np.nansum(v > 1e-4, axis=0).mean()  # z = 1: every circuit equally likely to be the active one
    exact_mass = np.nansum(v**2, axis=0).mean()
    ev = circuits.evaluate(SPEC, network=net)
    t = ev.table
    row = t[(t.layer == 2) & (t.circuit_state == "unowned") & (t.stat == "count")].iloc[0]
    counts = np.asarray(_per_sample_counts(net, ev))
    assert row.measured == pytest.approx(counts.mean(), rel=1e-12)
    assert abs(counts.mean() - exact) < 4 * counts.std(ddof=1) / np.sqrt(len(counts))
    theory_count, theory_mass = spurious_layer2(net.n_slots, net.n_circuits, S, 1, chi=chi)
    assert row.predicted == pytest.approx(theory_count, rel=1e-12)
    assert theory_count == pytest.approx(exact, rel=0.03)
    assert theory_mass == pytest.approx(exact_mass, rel=0.08)


def _per_sample_counts(net, ev):
    """Spurious count per sample at layer 2, recounted from the forward pass itself."""
    out = []
    inputs = net.system.encode(ev.truth_payload[0], ev.active.shape)
    for state in net.trace(ev.active, inputs):
        if state.layer != 2:
            continue
        acts = state.acts.numpy()  # (B, n, d)
        alpha = acts[..., 0] - acts[..., 1]
        owned = np.zeros(alpha.shape, dtype=bool)
        owned[np.arange(len(alpha))[:, None], net.assignment.sets[2][ev.active].reshape(len(alpha), -1)] = True
        out = ((alpha > 1e-4) & ~owned).sum(axis=1)
    return out


@pytest.mark.slow
def test_inhibition_lowers_the_spurious_count_to_its_theory():
    """``inhibited:X`` weights (z = 1): the layer-2 spurious count drops far below the capped count; the
    sampled count equals the network's exact expectation (every circuit's unowned slots, the read-out
    ``k (1 + chi + X) / S - chi - X``) within 4 standard errors; theory's binomial estimate
    (:func:`theory.spurious_layer2` with ``inhibition=X``) is within 25% of it (the binomial's
    tail, which inhibition weighs, is where the model is least exact: see the module docstring)."""
    X = 1.0
    spec = ExperimentSpec(width=2000, n_circuits=1500, redundancy=6, n_layers=2, n_active=1, batch_size=3000,
                          assignment="finite-field", seed=5, weight_scheme=f"inhibited:{X:g}")
    net = circuits.build(spec)
    inhibited = circuits.evaluate(spec, network=net)
    capped = circuits.evaluate(spec.replace(weight_scheme="capped"))

    def layer2(ev):
        t = ev.table
        return t[(t.layer == 2) & (t.circuit_state == "unowned") & (t.stat == "count")].iloc[0]

    after = layer2(inhibited)
    assert after.measured < 0.25 * layer2(capped).measured
    n, T, S = net.n_slots, net.n_circuits, net.redundancy
    sets = net.assignment.sets
    incidence = sp.csr_array((np.ones(T * S), sets[1].ravel(), np.arange(0, T * S + 1, S)), shape=(T, n))
    K = (net.structures[2][0] @ incidence.T).toarray()
    K[sets[2], np.arange(T)[:, None]] = -1  # owned: never spurious
    chi = net.constants[2]["chi"]
    v = np.clip((K * (1 + chi + X) / S - chi - X - 0.25) / 0.5, 0, 1)
    exact = (v > 1e-4).sum(axis=0).mean()
    counts = np.asarray(_per_sample_counts(net, inhibited))
    assert after.measured == pytest.approx(counts.mean(), rel=1e-12)
    assert abs(counts.mean() - exact) < 4 * counts.std(ddof=1) / np.sqrt(len(counts)), (counts.mean(), exact)
    theory_count = spurious_layer2(n, T, S, 1, chi=chi, inhibition=X)[0]
    assert after.predicted == pytest.approx(theory_count, rel=1e-12)
    assert theory_count == pytest.approx(exact, rel=0.25)
