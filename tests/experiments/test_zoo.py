"""The model zoo: the catalogue spans the regimes, a built zoo loads back bit for bit, and it fits its budget."""

import json
import time

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import circuits
from circuits import CircuitsError, zoo
from circuits.cli import main

TWO = ["rotation-exact", "chains-working"]


def test_the_catalogue_spans_the_regimes_for_every_family():
    entries = list(zoo.CATALOGUE.values())
    assert zoo.names() == [e.name for e in entries] and len(set(zoo.names())) == len(entries)
    assert all(e.regime in zoo.REGIMES and e.name.endswith(e.regime) for e in entries)
    for system in ("rotation", "rotation-chains", "rotation-fan-in"):
        mine = [e for e in entries if e.spec.system == system]
        assert {e.regime for e in mine if e.spec.error_correction == "none"} == set(zoo.REGIMES), system
        assert {e.regime for e in mine if e.spec.error_correction == "cleanup"} >= {"working", "failing"}, system
    for e in entries:
        assert e.spec == circuits.ExperimentSpec.from_dict(e.to_dict()["spec"]) and e.to_dict()["load"] == e.spec.load
        exact = e.spec.n_circuits * e.spec.redundancy <= e.spec.width // e.spec.circuit_width
        assert exact == (e.regime == "exact"), e.name
    # the loads grow from regime to regime within a family
    for system in ("rotation", "rotation-chains", "rotation-fan-in"):
        for ec in ("none", "cleanup"):
            loads = [e.spec.load for e in entries if e.spec.system == system and e.spec.error_correction == ec]
            assert loads == sorted(loads)


@pytest.mark.slow
def test_a_built_zoo_loads_back_as_built_in_memory(tmp_path):
    path = tmp_path / "zoo"
    index = zoo.build_zoo(path, names=TWO, progress=False)
    assert [r["name"] for r in index["entries"]] == TWO
    sealed = json.loads((path / "index.json").read_text())
    assert sealed["content"] == index and sealed["format"] == "circuits-zoo-index"
    assert index["rule"] == zoo.REGIME_RULE
    table = (path / "index.md").read_text()
    assert all(f"| {name} |" in table for name in TWO)
    for record in index["entries"]:
        assert record["measured_regime"] == record["regime"]
        assert set(record["measured"]) >= {"active_payload_mse", "active_payload_theory", "payload_ratio",
                                           "active_failure_rate", "inactive_on_mse", "max_error"}
        assert record["bytes"] == sum(p.stat().st_size for p in (path / record["name"]).rglob("*") if p.is_file())
    exact = index["entries"][0]["measured"]
    assert exact["max_error"] < 1e-4 and exact["active_failure_rate"] == 0.0
    # cis evaluate with the spec's flags gives the index's numbers
    spec = zoo.CATALOGUE["chains-working"].spec
    assert zoo.measure(circuits.evaluate(spec)) == pytest.approx(index["entries"][1]["measured"], nan_ok=True)

    for name in TWO:
        built, fresh = zoo.load_model(name, path), zoo.load_model(name)
        assert built.measured == index["entries"][TWO.index(name)]["measured"] and fresh.measured is None
        assert built.regime == fresh.regime == zoo.CATALOGUE[name].regime
        a, b = built.module(dense=False).state_dict(), fresh.module(dense=False).state_dict()
        assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
        for key, value in fresh.dataset.arrays().items():
            np.testing.assert_array_equal(built.dataset.arrays()[key], value)
        assert built.dataset.batch_size == zoo.DATASET_SIZE and built.dataset.matches(built.network)
        assert built.dataset.activations.shape == (built.network.network_layers + 1, zoo.DATASET_SIZE, 1000)
        stored = load_file(str(path / name / "truth.safetensors"))
        assert stored.keys() == fresh.truth.arrays().keys()
        assert all(np.array_equal(stored[k], v) for k, v in fresh.truth.arrays().items())
    assert zoo.load_model("chains-working", path, dataset=False).dataset is None

    with pytest.raises(CircuitsError, match="not empty"):
        zoo.build_zoo(path, names=["rotation-exact"], progress=False)
    zoo.build_zoo(path, names=["rotation-exact"], overwrite=True, progress=False)
    assert [r["name"] for r in zoo.read_index(path)["entries"]] == ["rotation-exact"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zoo"]  # no partial or old folder left
    with pytest.raises(CircuitsError, match="has no network 'chains-working'"):
        zoo.load_model("chains-working", path)
    with pytest.raises(CircuitsError, match="name must be one of"):
        zoo.load_model("no-such-network")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(CircuitsError, match="not a built zoo"):
        zoo.build_zoo(other, names=["rotation-exact"], overwrite=True, progress=False)
    assert (other / "notes.txt").read_text() == "mine"
    with pytest.raises(CircuitsError, match="names must be one of"):
        zoo.build_zoo(tmp_path / "x", names=["rotation-exact", "nope"], progress=False)


@pytest.mark.slow
def test_the_whole_zoo_builds_within_its_budget_in_its_regimes(tmp_path):
    """The budget: under 2 minutes, and 200 MB beside the plain weights, which are what they are: L D^2 float32 per
    network and the feature embedding D T (1 + k); every network measures in its catalogued regime."""
    start = time.perf_counter()
    index = zoo.build_zoo(tmp_path / "zoo", progress=False)
    seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in (tmp_path / "zoo").rglob("*") if p.is_file())
    plain = sum((tmp_path / "zoo" / r["files"]["weights"]).stat().st_size for r in index["entries"])
    dense = 0
    for r in index["entries"]:
        s = r["spec"]
        layers = 2 * s["n_layers"] - 1 if s["error_correction"] == "cleanup" else s["n_layers"]
        dense += 4 * (layers * (s["width"] ** 2 + s["width"]) + s["width"] * s["n_circuits"] * 3)
    assert dense <= plain < dense + 1e6, (plain, dense)  # the headers: a few kB each
    assert seconds < 120 and size - plain < 200e6, (seconds, size, plain)
    assert [r["name"] for r in index["entries"]] == zoo.names()
    wrong = [(r["name"], r["measured_regime"]) for r in index["entries"] if r["measured_regime"] != r["regime"]]
    assert wrong == []


def test_cis_zoo_lists_and_builds(tmp_path, capsys):
    assert main(["zoo", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in zoo.names())
    assert main(["zoo", "--list", "--only", "fan-in-failing", "--format", "json"]) == 0
    assert [e["name"] for e in json.loads(capsys.readouterr().out)] == ["fan-in-failing"]
    assert main(["zoo", "--out", str(tmp_path / "z"), "--only", "rotation-exact"]) == 0
    out = capsys.readouterr().out
    assert "| rotation-exact | exact |" in out and "wrote 1 networks" in out
    assert (tmp_path / "z" / "rotation-exact" / "network" / "config.json").exists()
    assert main(["zoo", "--out", str(tmp_path / "z"), "--only", "rotation-exact"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["zoo", "--out", str(tmp_path / "y"), "--only", "rotation-exact", "bogus"]) == 2
    assert "--only must list networks of the catalogue" in capsys.readouterr().err
    assert main(["zoo"]) == 2
    assert "--out" in capsys.readouterr().err
