"""The closed forms against the quantities they summarise."""

import math

import numpy as np
import pytest

import theory


def test_overlap_probability_is_the_uniform_slot_use_limit():
    """With every slot used by n = T S / N circuits, the mean squared read-out leak between
    two circuits, sum_k n (n-1) / (T (T-1) S^2), equals (d/D - 1/(S T)) T / (T-1) exactly."""
    for T, N, S in [(600, 500, 6), (1000, 250, 5), (50, 100, 4)]:
        n = T * S / N
        exact = N * n * (n - 1) / (T * (T - 1) * S**2)
        assert theory.overlap_probability(T, 4 * N, 4, S) * T / (T - 1) == pytest.approx(exact, rel=1e-12)


def test_overlap_is_zero_without_sharing():
    assert theory.overlap_probability(10, 400, 4, 10) == 0.0


def test_load_and_packing_bound():
    assert theory.load(557, 1000, 4) == pytest.approx(557 * 16 / 1e6)
    assert theory.packing_bound(250, 6) == 250 * 249 // 30
    assert theory.packing_bound(7, 3) == 7  # the Fano plane meets the bound


def test_chi_closed_form_is_density_odds():
    T, D, d, S = 600, 2000, 4, 6
    n_slots = D // d
    q = 1 - (1 - 1 / n_slots**2) ** (T * S * S)
    assert theory.chi_closed_form(T, D, d, S) == pytest.approx(q / (1 - q), rel=1e-12)


def test_chi_from_counts_balances_hits():
    chi = theory.chi_from_counts(30.0, 10, 2)
    pairs = 10 * 9 * 4
    assert 30.0 - chi * (pairs - 30.0) == pytest.approx(0.0, abs=1e-12)


def test_chi_closed_form_close_to_exact_chi():
    """The closed form predicts the exact chi of a built network within 10%."""
    from circuits import build, rotation_circuits

    net = build(rotation_circuits(n_circuits=600, seed=0), width=2000, redundancy=6, n_layers=2, seed=0)
    assert net.constants[2]["chi"] == pytest.approx(theory.chi_closed_form(600, 2000, 4, 6), rel=0.10)


def test_predicted_mse_rows():
    p = theory.overlap_probability(600, 2000, 4, 6)
    assert theory.predicted_mse("inactive", "on", 3, 600, 2000, 4, 6, 2) == pytest.approx(2 * p)
    assert theory.predicted_mse("active", "on", 3, 600, 2000, 4, 6, 2) == 0.0
    l, z, T = 3, 2, 600
    expect = (l - 1) * T * p**2 * (z + 8 * (z - 1)) + 9 * l * p * (z - 1)
    assert theory.predicted_mse("active", "payload", l, T, 2000, 4, 6, z) == pytest.approx(expect)
    assert theory.predicted_mse("active", "payload", 1, 600, 1500, 3, 6, 2) is None
    assert theory.predicted_mse("inactive", "payload", 0, 600, 2000, 4, 6, 2) == 0.0
    with pytest.raises(ValueError):
        theory.predicted_mse("active", "spin", 1, 600, 2000, 4, 6, 2)
    assert math.isfinite(theory.load(1, 1, 1))
    assert np.isfinite(theory.chi_closed_form(10**6, 10**5, 4, 6))
