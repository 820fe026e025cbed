"""The ``cis`` command line: flags from the spec's fields, JSON schema, determinism, errors."""

import json
import subprocess
import sys

import pytest

import circuits
from circuits import ExperimentSpec
from circuits.cli import SUBCOMMANDS, main
from circuits.experiments import spec_keys
from circuits.measurement._evaluate import TABLE_COLUMNS

SMALL = ["--width", "800", "--n-circuits", "150", "--redundancy", "4", "--n-layers", "3", "--n-active", "2",
         "--batch-size", "60", "--seed", "4"]



def test_evaluate_json_schema(capsys, cli_json):
    out = cli_json(["evaluate", *SMALL, "--format", "json"])
    cfg = out["config"]
    for key in spec_keys():
        if key != "chain_length":
            assert key in cfg, key
    assert cfg["width"] == 800 and cfg["n_circuits"] == 150 and cfg["n_active"] == 2 and cfg["seed"] == 4
    assert out["load"] == pytest.approx(150 * (4 / 800) ** 2)
    spurious = [r for r in out["rows"] if r["circuit_state"] == "unowned"]
    assert {(r["layer"], r["quantity"], r["stat"]) for r in spurious} == {
        (layer, q, s) for layer in (1, 2, 3) for q in ("on", "payload") for s in ("count", "mass")}
    assert [r["predicted"] is None for r in spurious] == [True] * 4 + [False] * 4 + [True] * 4  # theory: layer 2
    rows = [r for r in out["rows"] if r["circuit_state"] != "unowned"]
    assert {r["layer"] for r in rows} == {0, 1, 2, 3}
    keys = {(r["layer"], r["circuit_state"], r["quantity"], r["stat"]) for r in rows}
    assert len(keys) == len(rows) == 4 * 2 * 2 * 2
    for r in rows:
        assert list(r) == TABLE_COLUMNS
        assert r["circuit_state"] in ("active", "inactive") and r["quantity"] in ("on", "payload")
        assert r["stat"] in ("mse", "worst") and r["depth"] is None
        assert isinstance(r["measured"], float)
        assert r["role"] == ("input" if r["layer"] == 0 else "computation")
        assert (r["predicted"] is None) == (r["stat"] == "worst" or r["layer"] == 0)
    frac = out["fraction_on"]
    assert [f["layer"] for f in frac] == [0, 1, 2, 3]
    assert all(len(f["fraction"]) == 4 and all(0 <= v <= 1 for v in f["fraction"]) for f in frac)


@pytest.mark.slow
def test_the_command_line_and_the_python_spec_agree(capsys, cli_json):
    """``cis evaluate`` prints what ``circuits.evaluate`` on the same spec gives, key for key."""
    argv = ["--width", "1000", "--n-circuits", "557", "--redundancy", "6", "--n-layers", "5", "--n-active", "2",
            "--batch-size", "500", "--seed", "1"]
    out = cli_json(["evaluate", *argv, "--format", "json"])
    ev = circuits.evaluate(ExperimentSpec(width=1000, n_circuits=557, redundancy=6, n_layers=5, n_active=2,
                                          batch_size=500, seed=1))
    assert [r["measured"] for r in out["rows"]] == ev.table["measured"].tolist()
    spec = ExperimentSpec.from_dict({k: out["config"][k] for k in ExperimentSpec().to_dict()})
    assert spec.seeds().evaluation == out["config"]["evaluation_seed"]


def test_evaluate_same_seed_same_output(capsys, cli_json):
    a = cli_json(["evaluate", *SMALL, "--format", "json"])
    b = cli_json(["evaluate", *SMALL, "--format", "json"])
    assert a == b
    c = cli_json(["evaluate", *SMALL[:-1], "5", "--format", "json"])
    assert c["rows"] != a["rows"]


def test_evaluate_table(capsys):
    assert main(["evaluate", *SMALL]) == 0
    text = capsys.readouterr().out
    assert "load T(d/D)^2" in text and "inactive" in text and "seizure" in text


def test_every_system_and_error_correction_on_the_command_line(capsys, cli_json):
    out = cli_json(["evaluate", "--system", "rotation-fan-in", "--n-circuits", "120", "--width", "800",
                         "--n-layers", "3", "--batch-size", "30", "--error-correction", "cleanup", "--format", "json"])
    assert out["config"]["n_active"] == 3 and out["config"]["network_layers"] == 5
    assert {r["role"] for r in out["rows"]} == {"input", "computation", "cleanup"}
    assert {r["depth"] for r in out["rows"]} == {None, 1, 2}


@pytest.mark.parametrize("flags,message", [
    (["--n-active", "151"], "--n-active must be in 1..150"),
    (["--n-circuits", "100000"], "--n-circuits must be <="),
    (["--width", "801"], "--width must be a multiple of the circuit width d = 4: use 800 or 804"),
    (["--error-correction", "redundant:2"], "use 798 or 804"),
    (["--chain-length", "2"], "--chain-length is not a parameter of the 'rotation' system"),
    (["--system", "rotation-chains", "--n-active", "3"], "--n-active must be a multiple of the group size 2"),
    (["--error-correction", "bogus"], "--error-correction"),
    (["--weight-scheme", "bogus"], "--weight-scheme must be one of capped, uncorrected, split"),
    (["--seed", "-1"], "--seed must be in 0.."),
    (["--chi-scale", "1e308"], "--chi-scale must be a finite number in [0, 1000]"),
])
def test_evaluate_errors_name_the_flag(capsys, flags, message):
    assert main(["evaluate", *SMALL, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.slow
def test_unknown_option_is_rejected():
    proc = subprocess.run([sys.executable, "-m", "circuits.cli", "evaluate", "--widht", "10"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unrecognized arguments" in proc.stderr


@pytest.mark.slow
def test_closed_stdout_ends_quietly():
    """``cis capacity | head -c 0``: the reader is gone before the first write."""
    proc = subprocess.Popen([sys.executable, "-m", "circuits.cli", "capacity", "--width", "1000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and err == ""


def test_help_of_every_subcommand():
    for argv in [["--help"]] + [[name, "--help"] for name in SUBCOMMANDS]:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0


def test_every_spec_key_is_a_flag_of_evaluate(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = capsys.readouterr().out
    for key in spec_keys():
        assert "--" + key.replace("_", "-") in text, key
