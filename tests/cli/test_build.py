"""Command line: ``cis build`` saves a network, ``cis evaluate --network`` measures it (moved from test_export.py)."""

import json

import pytest

from circuits.cli import main

NET_FLAGS = ["--width", "200", "--n-circuits", "60", "--redundancy", "3", "--n-layers", "3"]


def test_cis_build_then_evaluate_load_gives_the_same_json(tmp_path, capsys):
    out = tmp_path / "saved"
    assert main(["build", *NET_FLAGS, "--seed", "7", "--out", str(out)]) == 0
    assert "cis evaluate --network" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["metadata"] == {"built_by": "cis build"} and config["provenance"]["seed"] == 7
    run = ["evaluate", "--n-active", "2", "--batch-size", "300", "--seed", "7", "--format", "json"]
    assert main([*run, *NET_FLAGS]) == 0
    built = capsys.readouterr().out
    assert main([*run, "--network", str(out)]) == 0
    loaded = capsys.readouterr().out
    assert loaded == built
    assert main([*run, "--network", str(out), "--width", "200", "--n-layers", "3"]) == 0  # matching flags are fine
    assert capsys.readouterr().out == built
    assert main([*run[:-2], "--seed", "8", "--format", "json", "--network", str(out)]) == 0  # --seed: the draws
    assert capsys.readouterr().out != built


@pytest.mark.parametrize("flags, message", [
    (["--width", "400"], "--width 400 conflicts with the network read from"),
    (["--weight-scheme", "split"], "--weight-scheme split conflicts"),
    (["--system", "step"], "--system step conflicts"),
])
def test_cis_evaluate_load_refuses_conflicting_flags(tmp_path, capsys, flags, message):
    out = tmp_path / "saved"
    assert main(["build", *NET_FLAGS, "--out", str(out)]) == 0
    assert main(["evaluate", "--network", str(out), "--batch-size", "10", *flags]) == 2
    assert message in capsys.readouterr().err


def test_cis_build_refuses_a_non_empty_directory_unless_forced(tmp_path, capsys):
    out = tmp_path / "saved"
    assert main(["build", *NET_FLAGS, "--out", str(out)]) == 0
    assert main(["build", *NET_FLAGS, "--seed", "1", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["build", *NET_FLAGS, "--seed", "1", "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "config.json").read_text())["provenance"]["seed"] == 1
