"""A built zoo entry is usable without this package: plain weights that plain torch runs to the data set's
activations, a model card, and a versioned, checksummed ground-truth file."""

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load as st_load, save as st_save
from safetensors.torch import load_file

from circuits import CircuitsError, zoo
from circuits.export import load_truth
from circuits.export._artifacts import TRUTH_VERSION


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("zoo") / "zoo"
    index = zoo.build_zoo(path, names=["rotation-strained"], progress=False, threads=1)
    return path, index["entries"][0]


@pytest.mark.slow
def test_plain_torch_runs_the_weights_to_the_data_sets_activations(built):
    path, record = built
    folder = path / record["name"]
    assert sorted(p.name for p in folder.iterdir()) == ["dataset.safetensors", "model_card.md", "network",
                                                       "truth.safetensors", "weights.safetensors"]
    assert record["files"]["weights"] == "rotation-strained/weights.safetensors"
    weights, data = load_file(str(folder / "weights.safetensors")), load_file(str(folder / "dataset.safetensors"))
    L = 4
    assert sorted(weights) == sorted([f"layers.{l}.{k}" for l in range(1, L + 1) for k in ("weight", "bias")]
                                     + ["embedding.weight"])
    x = data["inputs"]
    for l in range(1, L + 1):
        x = torch.relu(x @ weights[f"layers.{l}.weight"].T + weights[f"layers.{l}.bias"])
        torch.testing.assert_close(x, data["activations"][l], rtol=0, atol=1e-5)
    # the sparse-feature input: each circuit's on-indicator and payload, embedded
    T, B = 300, data["inputs"].shape[0]
    features = torch.zeros(B, T, 3)
    rows = torch.arange(B)[:, None]
    features[rows, data["active"], 0] = 1.0
    features[rows, data["active"], 1:] = data["payloads"].float()
    torch.testing.assert_close(features.reshape(B, -1) @ weights["embedding.weight"].T, data["inputs"], rtol=0,
                               atol=1e-5)
    header = json.loads((folder / "weights.safetensors").read_bytes()[8:8 + int.from_bytes(
        (folder / "weights.safetensors").read_bytes()[:8], "little")])["__metadata__"]
    assert header["format"] == "circuits-plain-weights" and header["n_layers"] == "4" and "relu" in header["forward"]
    assert json.loads(header["info"])["regime"] == "strained"


def test_the_model_card_says_what_the_network_does_and_how_to_load_it(built):
    path, record = built
    card = (path / record["name"] / "model_card.md").read_text()
    assert card.startswith("# rotation-strained") and "measured: **strained**" in card
    assert "load_file(\"weights.safetensors\")" in card and '"n_circuits": 300' in card
    # intended against actual on-states, per layer, as the data set has them
    data = load_file(str(path / record["name"] / "dataset.safetensors"))
    intended, actual = data["on.intended"], data["on.actual"]
    for row in record["behaviour"]:
        l = row["layer"]
        spurious = float((actual[l] & ~intended).sum(1).float().mean())
        assert row["spurious"] == pytest.approx(spurious) and row["intended"] == 2.0
        assert f"| {l} | 2.00 | {row['actual']:.2f} | {spurious:.2f} |" in card
    assert record["behaviour"][-1]["spurious"] > 1.0  # near the critical load: inactive circuits switch on


def test_the_truth_file_is_versioned_and_checksummed(built, tmp_path):
    path, record = built
    file = path / record["name"] / "truth.safetensors"
    arrays, info = load_truth(file)
    model = zoo.load_model(record["name"], path, dataset=False)
    assert info == {"zoo": "rotation-strained"} and arrays.keys() == model.truth.arrays().keys()
    assert all(np.array_equal(arrays[k], v) for k, v in model.truth.arrays().items())
    blob = bytearray(file.read_bytes())
    blob[-1] ^= 1  # one bit of the last array
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(bytes(blob))
    with pytest.raises(CircuitsError, match="checksum"):
        load_truth(damaged)
    header = json.loads(bytes(blob[8:8 + int.from_bytes(blob[:8], "little")]))["__metadata__"]
    for metadata, message in (({"format": "circuits-truth", "zoo": "x"}, "format version None"),
                              ({**header, "format_version": str(TRUTH_VERSION + 1)}, "format version"),
                              ({"format": "other"}, "not a circuits truth file")):
        other = tmp_path / "other.safetensors"
        other.write_bytes(st_save(st_load(file.read_bytes()), metadata=metadata))
        with pytest.raises(CircuitsError, match=message):
            load_truth(other)


def test_a_zoo_of_an_earlier_format_is_refused(built, tmp_path):
    path, _ = built
    index = json.loads((path / "index.json").read_text())
    assert index["format_version"] == 3
    old = tmp_path / "old"
    old.mkdir()
    (old / "index.json").write_text(json.dumps({**index, "format_version": 2}))
    with pytest.raises(CircuitsError, match="zoo-index format version 2; this version of circuits reads 3"):
        zoo.read_index(old)
