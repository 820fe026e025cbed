"""The command line on coupled systems and error correction: evaluate, build and read back, refusals."""

import pytest

from circuits.cli import main

CHAINS = ["--system", "rotation-chains", "--chain-length", "3", "--n-circuits", "30", "--width", "240",
          "--redundancy", "2", "--n-layers", "4", "--batch-size", "20", "--seed", "1"]

def test_cli_rotation_chains_json(capsys, cli_json):
    out = cli_json(["evaluate", *CHAINS, "--format", "json"])
    assert out["config"]["system"] == "rotation-chains" and out["config"]["chain_length"] == 3
    assert out["config"]["n_active"] == 3  # one whole chain by default
    per = [r for r in out["rows"] if r["depth"] is not None]
    assert all(r["quantity"] == "payload" and r["circuit_state"] == "active" for r in per)
    assert sorted({r["depth"] for r in per}) == [1, 2, 3] and len(per) == 5 * 3 * 2  # layers 0..4
    assert max(r["measured"] for r in out["rows"]) < 1e-5  # T S = 60 = D/d: exact


def test_cli_rotation_fan_in_json(capsys, cli_json):
    argv = ["evaluate", "--system", "rotation-fan-in", "--n-circuits", "30", "--width", "240", "--redundancy", "2",
            "--n-layers", "3", "--n-active", "6", "--batch-size", "20", "--seed", "1", "--format", "json"]
    out = cli_json(argv)
    assert out["config"]["system"] == "rotation-fan-in" and out["config"]["n_active"] == 6
    assert "chain_length" not in out["config"]
    per = [r for r in out["rows"] if r["depth"] is not None]
    assert {(r["layer"], r["depth"], r["stat"]) for r in per} == {
        (layer, p, s) for layer in (0, 1, 2, 3) for p in (1, 2) for s in ("mse", "worst")}
    assert all(r["predicted"] is None for r in per if r["depth"] == 2)
    assert max(r["measured"] for r in out["rows"]) < 1e-5  # T S = 60 = D/d: exact
    out = cli_json([a for a in argv if a not in ("--n-active", "6")])  # default: one whole group
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


def test_cli_builds_saves_and_loads_coupled_systems_with_error_correction(tmp_path, capsys, cli_json):
    """``cis build`` saves a chain network with its couplings and error correction; ``cis evaluate --network``
    reads the same numbers; error correction keeps a network without shared neurons (T S = D/d) exact."""
    flags = [*CHAINS, "--error-correction", "step:0.4+cleanup"]
    network_flags = [f for f in flags if f not in ("--batch-size", "20")]
    assert main(["build", *network_flags, "--out", str(tmp_path / "net")]) == 0
    capsys.readouterr()
    built = cli_json(["evaluate", *flags, "--format", "json"])
    loaded = cli_json(["evaluate", "--network", str(tmp_path / "net"), "--format", "json", "--batch-size", "20"])
    assert loaded["rows"] == built["rows"] and loaded["config"]["n_active"] == 3
    assert built["config"]["network_layers"] == 7
    computation = sorted({r["layer"] for r in built["rows"] if r["role"] == "computation"})
    assert computation == [1, 3, 5, 7]
    assert max(r["measured"] for r in built["rows"]) < 1e-5


def test_cli_records_the_option(capsys, cli_json):
    out = cli_json(["evaluate", "--width", "804", "--n-circuits", "60", "--n-layers", "3", "--n-active", "1",
                         "--batch-size", "20", "--error-correction", "cleanup+redundant:2", "--format", "json"])
    assert out["config"]["error_correction"] == "redundant:2+cleanup"
    assert out["config"]["circuit_width"] == 6 and out["config"]["base_width"] == 4
    assert out["config"]["n_layers"] == 3 and out["config"]["network_layers"] == 5
    assert out["load"] == 60 * (4 / 804) ** 2  # the base d
    out = cli_json(["boundary", "--width", "400", "--n-active", "1", "--n-layers", "2", "--batch-size", "20",
                         "--n-seeds", "1", "--rtol", "0.5", "--error-correction", "step:0.4", "--on-error", "0.4",
                         "--criterion", "worst-readout",
                         "--format", "json"])
    assert out["config"]["error_correction"] == "step:0.4" and out["config"]["on_error"] == 0.4
    assert main(["evaluate", "--error-correction", "redundant:0"]) == 2
    assert "K in 2..64" in capsys.readouterr().err
