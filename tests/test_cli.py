"""The ``cis`` command line: JSON schema, determinism, errors."""

import json
import subprocess
import sys

import pytest

from circuits.cli import main

SMALL = ["--width", "800", "--circuits", "150", "--redundancy", "4", "--layers", "3", "--active", "2",
         "--batch", "60", "--seed", "4"]


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_evaluate_json_schema(capsys):
    out = _json(capsys, ["evaluate", *SMALL, "--format", "json"])
    cfg = out["config"]
    for key in ("family", "n_circuits", "circuit_width", "width", "redundancy", "n_layers", "method",
                "chi_scale", "assignment", "n_active", "batch_size"):
        assert key in cfg
    assert cfg["width"] == 800 and cfg["n_circuits"] == 150 and cfg["n_active"] == 2
    assert out["load"] == pytest.approx(150 * (4 / 800) ** 2)
    rows = out["rows"]
    assert {r["layer"] for r in rows} == {1, 2, 3}
    keys = {(r["layer"], r["group"], r["quantity"], r["stat"]) for r in rows}
    assert len(keys) == len(rows) == 3 * 2 * 2 * 2
    for r in rows:
        assert set(r) == {"layer", "group", "quantity", "stat", "measured", "predicted"}
        assert r["group"] in ("active", "inactive") and r["quantity"] in ("on", "payload")
        assert r["stat"] in ("mse", "worst")
        assert isinstance(r["measured"], float)
        assert (r["predicted"] is None) == (r["stat"] == "worst")
    frac = out["fraction_on"]
    assert [f["layer"] for f in frac] == [0, 1, 2, 3]
    assert all(len(f["fraction"]) == 4 and all(0 <= v <= 1 for v in f["fraction"]) for f in frac)


def test_evaluate_same_seed_same_output(capsys):
    a = _json(capsys, ["evaluate", *SMALL, "--format", "json"])
    b = _json(capsys, ["evaluate", *SMALL, "--format", "json"])
    assert a == b
    c = _json(capsys, ["evaluate", *SMALL[:-1], "5", "--format", "json"])
    assert c["rows"] != a["rows"]


def test_evaluate_table(capsys):
    assert main(["evaluate", *SMALL]) == 0
    text = capsys.readouterr().out
    assert "load T(d/D)^2" in text and "inactive" in text and "seizure" in text


@pytest.mark.parametrize("flags,message", [
    (["--active", "151"], "n_active must be in 1..150"),
    (["--circuits", "100000"], "at most"),
    (["--width", "801"], "width must be a multiple"),
])
def test_evaluate_errors(capsys, flags, message):
    assert main(["evaluate", *SMALL, *flags]) == 2
    assert message in capsys.readouterr().err


def test_unknown_option_is_rejected():
    proc = subprocess.run([sys.executable, "-m", "circuits.cli", "evaluate", "--widht", "10"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unrecognized arguments" in proc.stderr


def test_help_of_every_subcommand():
    from circuits.cli import SUBCOMMANDS

    for argv in [["--help"]] + [[name, "--help"] for name in SUBCOMMANDS]:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
