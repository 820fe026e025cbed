"""Hook points and caching on the exported module (also under nnsight), and a network's data set."""

import json
import os

import numpy as np
import pytest
import torch
from safetensors.numpy import load as st_load, save as st_save

import circuits
from circuits import CircuitsError, build, ground_truth, rotation_chains, rotation_circuits, step_circuits, to_module
from circuits.cli import main
from circuits.export import load_dataset
from circuits.export._module import HookPoint

SHARED = dict(width=160, redundancy=4, n_layers=4)  # T S > D/d: slots are shared


def _net(seed=1, n_circuits=40):
    return build(rotation_circuits(n_circuits, seed=0), **SHARED, seed=seed)


def _chain_net():
    return build(rotation_chains(30, chain_length=3, seed=0), width=160, redundancy=3, n_layers=4, seed=1)



# --------------------------------------------------------------------------- hooks
@pytest.mark.parametrize("dense", [True, False])
def test_every_activation_has_a_named_hook_point_and_the_cache_equals_theframework_layers(dense, framework_layers):
    net = _net()
    module = to_module(net, dense=dense)
    L = net.network_layers
    names = ["layers.0.hook_post"] + [f"layers.{l}.hook_{k}" for l in range(1, L + 1) for k in ("pre", "post")]
    assert list(module.hook_points()) == names
    assert all(isinstance(m, HookPoint) for m in module.hook_points().values())
    assert sorted(module.state_dict()) == sorted(to_module(net, dense=dense).state_dict())  # hooks hold no tensors
    if dense:
        assert sorted(module.state_dict()) == sorted(f"layers.{l}.{k}" for l in range(1, L + 1)
                                                     for k in ("weight", "bias"))
    data = ground_truth(net).dataset(16, seed=3)
    want = framework_layers(net, data.active, data.payloads)
    with torch.no_grad():
        out, cache = module.run_with_cache(data.inputs)
    assert list(cache) == names
    torch.testing.assert_close(out, want[-1], rtol=0, atol=1e-5)
    assert torch.equal(cache["layers.0.hook_post"], data.inputs) and torch.equal(cache["post", 0], data.inputs)
    for layer in range(1, L + 1):
        torch.testing.assert_close(cache[module.hook_name(layer)], want[layer], rtol=0, atol=1e-5)
        pre = net.preactivation(layer, want[layer - 1].reshape(16, net.circuit_width, net.n_slots))
        torch.testing.assert_close(cache[module.hook_name(layer, "pre")], pre.reshape(16, net.width), rtol=0,
                                   atol=1e-5)
        assert torch.equal(torch.relu(cache[module.hook_name(layer, "pre")]), cache[module.hook_name(layer)])
        assert module.hook_name(layer) == f"layers.{layer}.hook_post" and cache["post", layer] is cache.layer(layer)
    # the hooks are gone afterwards, and forward is unchanged
    assert all(not p._forward_hooks for p in module.hook_points().values())
    with torch.no_grad():
        assert torch.equal(module(data.inputs), out)


def test_run_with_cache_selects_names_and_refuses_unknown_ones():
    module = to_module(_net())
    x = torch.zeros(2, 160)
    assert list(module.run_with_cache(x, names_filter=["layers.1.hook_post", "layers.0.hook_post"])[1]) == [
        "layers.0.hook_post", "layers.1.hook_post"]
    assert list(module.run_with_cache(x, names_filter="layers.3.hook_pre")[1]) == ["layers.3.hook_pre"]
    assert list(module.run_with_cache(x, names_filter=lambda n: n.endswith("pre"))[1]) == [
        f"layers.{l}.hook_pre" for l in range(1, 5)]
    with pytest.raises(CircuitsError, match="names_filter must name hook points"):
        module.run_with_cache(x, names_filter=["layers.9.hook_post"])
    with pytest.raises(CircuitsError, match="layer must be in 0..4"):
        module.hook_name(5)
    with pytest.raises(CircuitsError, match="only a 'post' hook"):
        module.hook_name(0, "pre")


def test_a_forward_hook_on_a_hook_point_intervenes():
    net = _net()
    module = to_module(net)
    truth = ground_truth(net)
    data = truth.dataset(8, seed=0)
    handle = module.layers[2].hook_post.register_forward_hook(lambda m, i, out: torch.zeros_like(out))
    try:
        with torch.no_grad():
            out = module(data.inputs)
    finally:
        handle.remove()
    on, _ = truth.decode(out, layer=4, circuits=data.active)
    assert np.allclose(on, 0.0)  # zeroing layer 2 switches every circuit off downstream


@pytest.mark.slow
def test_nnsight_traces_the_module_and_reads_the_framework_activations(framework_layers):
    nnsight = pytest.importorskip("nnsight")
    net = _chain_net()
    module = to_module(net)
    data = ground_truth(net).dataset(12, seed=2)
    want = framework_layers(net, data.active, data.payloads)
    model = nnsight.NNsight(module)
    with torch.no_grad(), model.trace(data.inputs):  # in forward order
        pre = model.layers[3].hook_pre.output.save()
        post = model.layers[3].hook_post.output.save()
    post, pre = getattr(post, "value", post), getattr(pre, "value", pre)
    torch.testing.assert_close(post, want[3], rtol=0, atol=1e-5)
    torch.testing.assert_close(torch.relu(pre), post, rtol=0, atol=0)


# --------------------------------------------------------------------------- data set
def test_dataset_draws_reproducibly_and_holds_the_framework_layers_and_the_reference(tmp_path, framework_layers):
    net = _chain_net()
    truth = ground_truth(net)
    data = truth.dataset(24, seed=5, activations=True, reference=True)
    L = net.network_layers
    assert data.n_active == 3 and data.batch_size == 24 and len(data) == 24  # one chain: the group size
    assert np.all(data.active % 3 == np.arange(3))  # whole chains
    again = truth.dataset(24, seed=5)
    assert np.array_equal(again.active, data.active) and np.array_equal(again.payloads, data.payloads)
    assert not np.array_equal(truth.dataset(24, seed=6).active, data.active)
    assert torch.equal(data.inputs, truth.encode(data.active, data.payloads).cpu())
    want = framework_layers(net, data.active, data.payloads)
    assert data.activations.shape == (L + 1, 24, net.width)
    for layer in range(L + 1):
        assert torch.equal(data.activations[layer], want[layer])
    with torch.no_grad():
        module_acts = to_module(net).activations(data.inputs)
    torch.testing.assert_close(torch.stack(module_acts), data.activations, rtol=0, atol=1e-5)
    on, payload = truth.reference(data.active, data.payloads)
    np.testing.assert_array_equal(data.reference_on, on)
    np.testing.assert_array_equal(data.reference_payload, payload)
    assert data.reference_acts.shape == (L + 1, 24, 3, net.circuit_width)

    path = data.save(tmp_path / "data.safetensors")
    back = load_dataset(path)
    for name, value in data.arrays().items():
        np.testing.assert_array_equal(back.arrays()[name], value)
    assert back.info == data.info and back.matches(net) and not back.matches(_net())
    info = back.info
    assert info["seed"] == 5 and info["n_active"] == 3 and info["network"]["system"] == "rotation-chains"
    assert set(st_load(path.read_bytes())) == {"inputs", "active", "payloads", "activations", "reference.acts",
                                                 "reference.on", "reference.payload", "on.intended", "on.readout",
                                                 "on.actual"}
    with pytest.raises(CircuitsError, match="exists"):
        data.save(path)
    data.save(path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["data.safetensors"]  # no temporary file left


def test_dataset_without_payloads_defaults_from_the_spec_and_checks_its_input(tmp_path):
    step = build(step_circuits(30), width=120, redundancy=3, n_layers=2, seed=0)
    data = ground_truth(step).dataset(5, seed=0, reference=True)
    assert data.payloads.shape == (5, 2, 0) and data.reference_payload.shape == (3, 5, 2, 0)
    assert load_dataset(data.save(tmp_path / "s.safetensors")).payloads.shape == (5, 2, 0)
    spec = circuits.ExperimentSpec(width=400, n_circuits=50, n_layers=2, n_active=3, batch_size=10)
    assert ground_truth(circuits.build(spec)).dataset(4).n_active == 3  # the spec's z
    truth = ground_truth(_net())
    for kwargs, message in (({"batch_size": 0}, "batch_size must be"), ({"batch_size": 2, "seed": -1}, "seed must"),
                            ({"batch_size": 2, "n_active": 41}, "n_active must"),
                            ({"batch_size": 2, "activations": "yes"}, "activations must")):
        with pytest.raises(CircuitsError, match=message):
            truth.dataset(**kwargs)


def test_load_dataset_refuses_what_it_did_not_write(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(CircuitsError, match="not a readable safetensors file"):
        load_dataset(bad)
    with pytest.raises(CircuitsError, match="missing"):
        load_dataset(tmp_path / "missing.safetensors")
    other = tmp_path / "other.safetensors"
    other.write_bytes(st_save({"x": np.zeros(2)}, metadata={"format": "something-else"}))
    with pytest.raises(CircuitsError, match="not a circuits dataset file"):
        load_dataset(other)
    path = ground_truth(_net()).dataset(3).save(tmp_path / "d.safetensors")
    arrays = st_load(path.read_bytes())
    header = json.loads(path.read_bytes()[8:8 + int.from_bytes(path.read_bytes()[:8], "little")])["__metadata__"]
    future = tmp_path / "future.safetensors"
    future.write_bytes(st_save(arrays, metadata={**header, "format_version": "99"}))
    with pytest.raises(CircuitsError, match="format version 99"):
        load_dataset(future)


def test_cis_dataset_writes_what_python_draws(tmp_path, capsys):
    net_dir = tmp_path / "net"
    flags = ["--width", "200", "--n-circuits", "60", "--redundancy", "3", "--n-layers", "3"]
    assert main(["build", *flags, "--out", str(net_dir)]) == 0
    out = tmp_path / "data.safetensors"
    assert main(["dataset", "--network", str(net_dir), "--out", str(out), "--batch-size", "20", "--seed", "4",
                 "--activations", "--reference"]) == 0
    assert "wrote Dataset(batch_size=20" in capsys.readouterr().out
    want = ground_truth(circuits.load_network(net_dir)).dataset(20, seed=4, activations=True, reference=True)
    got = load_dataset(out)
    for name, value in want.arrays().items():
        np.testing.assert_array_equal(got.arrays()[name], value)
    assert main(["dataset", "--network", str(net_dir), "--out", str(out), "--batch-size", "5"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "--overwrite" in err
    assert main(["dataset", *flags, "--out", str(out), "--batch-size", "5", "--overwrite", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["info"]["batch_size"] == 5
    assert load_dataset(out).matches(circuits.load_network(net_dir))  # the same spec and seed: the same network
    assert not os.path.exists(str(out) + ".tmp")
