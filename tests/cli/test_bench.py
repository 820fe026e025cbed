"""``cis bench``: timings, peak memory, and the dense check that catches a wrong forward pass."""

import pytest
import circuits.construction._kernels as kernels_module
from circuits import build, rotation_circuits
from circuits.cli.bench import dense_max_abs_diff

@pytest.mark.slow
def test_bench_json_reports_timings_memory_and_dense_agreement(capsys, cli_json):
    out = cli_json(["bench", "--width", "400", "--n-circuits", "150", "--redundancy", "4", "--n-layers", "3",
                         "--n-active", "1", "2", "--batch-size", "30", "--dense-batch", "10", "--format", "json"])
    for key in ("build_seconds", "evaluate_seconds", "peak_memory_mb", "dense_max_abs_diff"):
        assert out[key] >= 0
    assert out["n_active"] == [1, 2] and set(out["evaluate_seconds_per_z"]) == {"1", "2"}
    assert out["dense_max_abs_diff"] < 1e-5
    assert out["peak_memory_mb"] > 10 and out["torch_threads"] >= 1


def test_bench_skips_the_dense_check_above_the_limit(capsys, cli_json):
    out = cli_json(["bench", "--width", "400", "--n-circuits", "150", "--redundancy", "4", "--n-layers", "2",
                         "--n-active", "1", "--batch-size", "10", "--dense-limit", "100", "--format", "json"])
    assert "dense_max_abs_diff" not in out


@pytest.mark.slow
def test_dense_check_detects_a_wrong_forward_pass(monkeypatch):
    """The agreement figure is a real comparison: a 1% error in the structured pass shows up."""
    net = build(rotation_circuits(n_circuits=150, seed=0), width=400, redundancy=4, n_layers=3, seed=0)
    good, _ = dense_max_abs_diff(net, 2, 10, seed=0)
    assert good < 1e-5
    matvec = kernels_module.matvec
    monkeypatch.setattr(kernels_module, "matvec", lambda w, r: 1.01 * matvec(w, r))  # not used by dense_weights
    bad, _ = dense_max_abs_diff(net, 2, 10, seed=0)
    assert bad > 1e-3
