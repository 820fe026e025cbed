"""The command line on coupled systems, error correction, ``cis bench`` and ``cis capacity``."""

import json

import pytest

import circuits.construction._kernels as kernels_module
from circuits import ASSIGNMENTS, build, capacity, rotation_circuits
from circuits.cli import main
from circuits.cli.bench import dense_max_abs_diff
from theory import packing_bound

CHAINS = ["--system", "rotation-chains", "--chain-length", "3", "--n-circuits", "30", "--width", "240",
          "--redundancy", "2", "--n-layers", "4", "--batch-size", "20", "--seed", "1"]


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


# ----------------------------------------------------------------- coupled systems
def test_cli_rotation_chains_json(capsys):
    out = _json(capsys, ["evaluate", *CHAINS, "--format", "json"])
    assert out["config"]["system"] == "rotation-chains" and out["config"]["chain_length"] == 3
    assert out["config"]["n_active"] == 3  # one whole chain by default
    per = [r for r in out["rows"] if r["depth"] is not None]
    assert all(r["quantity"] == "payload" and r["circuit_state"] == "active" for r in per)
    assert sorted({r["depth"] for r in per}) == [1, 2, 3] and len(per) == 5 * 3 * 2  # layers 0..4
    assert max(r["measured"] for r in out["rows"]) < 1e-5  # T S = 60 = D/d: exact


def test_cli_rotation_fan_in_json(capsys):
    argv = ["evaluate", "--system", "rotation-fan-in", "--n-circuits", "30", "--width", "240", "--redundancy", "2",
            "--n-layers", "3", "--n-active", "6", "--batch-size", "20", "--seed", "1", "--format", "json"]
    out = _json(capsys, argv)
    assert out["config"]["system"] == "rotation-fan-in" and out["config"]["n_active"] == 6
    assert "chain_length" not in out["config"]
    per = [r for r in out["rows"] if r["depth"] is not None]
    assert {(r["layer"], r["depth"], r["stat"]) for r in per} == {
        (layer, p, s) for layer in (0, 1, 2, 3) for p in (1, 2) for s in ("mse", "worst")}
    assert all(r["predicted"] is None for r in per if r["depth"] == 2)
    assert max(r["measured"] for r in out["rows"]) < 1e-5  # T S = 60 = D/d: exact
    out = _json(capsys, [a for a in argv if a not in ("--n-active", "6")])  # default: one whole group
    assert out["config"]["n_active"] == 3


@pytest.mark.parametrize("extra, message", [
    (["--system", "rotation", "--chain-length", "2"], "--chain-length is not a parameter of the 'rotation' system"),
    (["--system", "rotation-chains", "--chain-length", "2", "--n-active", "3"], "multiple of the group size 2"),
    (["--system", "rotation-fan-in", "--n-active", "4"], "multiple of the group size 3"),
    (["--system", "rotation-fan-in", "--chain-length", "3"], "not a parameter of the 'rotation-fan-in' system"),
    (["--system", "rotation-chains", "--chain-length", "0"], "--chain-length must be in 1..64"),
])
def test_cli_coupled_system_errors(capsys, extra, message):
    assert main(["evaluate", "--n-circuits", "30", "--width", "240", "--redundancy", "2", "--n-layers", "3",
                 "--batch-size", "5", *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_builds_saves_and_loads_coupled_systems_with_error_correction(tmp_path, capsys):
    """``cis build`` saves a chain network with its couplings and error correction; ``cis evaluate --network``
    reads the same numbers; error correction keeps a network without shared neurons (T S = D/d) exact."""
    flags = [*CHAINS, "--error-correction", "step:0.4+cleanup"]
    network_flags = [f for f in flags if f not in ("--batch-size", "20")]
    assert main(["build", *network_flags, "--out", str(tmp_path / "net")]) == 0
    capsys.readouterr()
    built = _json(capsys, ["evaluate", *flags, "--format", "json"])
    loaded = _json(capsys, ["evaluate", "--network", str(tmp_path / "net"), "--format", "json", "--batch-size", "20"])
    assert loaded["rows"] == built["rows"] and loaded["config"]["n_active"] == 3
    assert built["config"]["network_layers"] == 7
    computation = sorted({r["layer"] for r in built["rows"] if r["role"] == "computation"})
    assert computation == [1, 3, 5, 7]
    assert max(r["measured"] for r in built["rows"]) < 1e-5


def test_cli_records_the_option(capsys):
    out = _json(capsys, ["evaluate", "--width", "804", "--n-circuits", "60", "--n-layers", "3", "--n-active", "1",
                         "--batch-size", "20", "--error-correction", "cleanup+redundant:2", "--format", "json"])
    assert out["config"]["error_correction"] == "redundant:2+cleanup"
    assert out["config"]["circuit_width"] == 6 and out["config"]["base_width"] == 4
    assert out["config"]["n_layers"] == 3 and out["config"]["network_layers"] == 5
    assert out["load"] == 60 * (4 / 804) ** 2  # the base d
    out = _json(capsys, ["boundary", "--width", "400", "--n-active", "1", "--n-layers", "2", "--batch-size", "20",
                         "--n-seeds", "1", "--rtol", "0.5", "--error-correction", "step:0.4", "--on-error", "0.4",
                         "--criterion", "worst-readout",
                         "--format", "json"])
    assert out["config"]["error_correction"] == "step:0.4" and out["config"]["on_error"] == 0.4
    assert main(["evaluate", "--error-correction", "redundant:0"]) == 2
    assert "K in 2..64" in capsys.readouterr().err


# ------------------------------------------------------------------- cis bench
def test_bench_json_reports_timings_memory_and_dense_agreement(capsys):
    out = _json(capsys, ["bench", "--width", "400", "--n-circuits", "150", "--redundancy", "4", "--n-layers", "3",
                         "--n-active", "1", "2", "--batch-size", "30", "--dense-batch", "10", "--format", "json"])
    for key in ("build_seconds", "evaluate_seconds", "peak_memory_mb", "dense_max_abs_diff"):
        assert out[key] >= 0
    assert out["n_active"] == [1, 2] and set(out["evaluate_seconds_per_z"]) == {"1", "2"}
    assert out["dense_max_abs_diff"] < 1e-5
    assert out["peak_memory_mb"] > 10 and out["torch_threads"] >= 1


def test_bench_skips_the_dense_check_above_the_limit(capsys):
    out = _json(capsys, ["bench", "--width", "400", "--n-circuits", "150", "--redundancy", "4", "--n-layers", "2",
                         "--n-active", "1", "--batch-size", "10", "--dense-limit", "100", "--format", "json"])
    assert "dense_max_abs_diff" not in out


def test_dense_check_detects_a_wrong_forward_pass(monkeypatch):
    """The agreement figure is a real comparison: a 1% error in the structured pass shows up."""
    net = build(rotation_circuits(n_circuits=150, seed=0), width=400, redundancy=4, n_layers=3, seed=0)
    good, _ = dense_max_abs_diff(net, 2, 10, seed=0)
    assert good < 1e-5
    matvec = kernels_module.matvec
    monkeypatch.setattr(kernels_module, "matvec", lambda w, r: 1.01 * matvec(w, r))  # not used by dense_weights
    bad, _ = dense_max_abs_diff(net, 2, 10, seed=0)
    assert bad > 1e-3


# ----------------------------------------------------------------- cis capacity
def test_cli_capacity_json(capsys):
    out = _json(capsys, ["capacity", "--width", "1000", "--redundancy", "6", "--format", "json"])
    assert out["packing_bound"] == packing_bound(250, 6) == 2075
    assert out["capacity"] == {m: capacity(250, 6, m) for m in ASSIGNMENTS}
    out = _json(capsys, ["capacity", "--width", "900", "--redundancy", "3", "--system", "rotation-3",
                         "--n-circuits", "500", "--format", "json"])
    assert out["n_slots"] == 300 and out["packing_bound"] == packing_bound(300, 3)
    assert out["first_sets"]["finite-field"]["max_shared"] == 1
    assert out["first_sets"]["random"]["max_shared"] == 2
    assert out["first_sets"]["finite-field"]["slot_use"]["mean"] == 500 * 3 / 300


def test_cli_capacity_table_and_errors(capsys):
    assert main(["capacity", "--width", "2000", "--n-circuits", "3000"]) == 0
    text = capsys.readouterr().out
    assert "packing bound N(N-1)/(S(S-1)) = 8316" in text
    assert "prime-step" in text and "2101" in text and "8017" in text
    assert "T=3000 does not fit (capacity 2101)" in text
    assert main(["capacity", "--width", "12", "--redundancy", "6"]) == 2
    assert "--redundancy must be in 1..3" in capsys.readouterr().err
    assert main(["capacity", "--width", "1000000000000"]) == 2  # answered at once, not computed
    assert "--width must be in 1..10000000" in capsys.readouterr().err
