"""The activation stream: seeded and batch-independent, the module's activations and the truth's on-states,
split among DataLoader workers without changing a batch."""

import numpy as np
import pytest
import torch

from circuits import CircuitsError, build, ground_truth, rotation_chains, rotation_circuits, to_module
from circuits.export import ActivationStream


@pytest.fixture(scope="module")
def truth():
    return ground_truth(build(rotation_circuits(40, seed=0), width=160, redundancy=4, n_layers=3, seed=1))


def test_the_stream_is_seeded_batch_by_batch(truth):
    stream = ActivationStream(truth, hooks=[2], batch_size=32, n_samples=100, seed=7)
    batches = list(stream)
    assert len(stream) == 4 and [len(b) for b in batches] == [32, 32, 32, 4] and [b.index for b in batches] == [0, 1, 2, 3]
    again = ActivationStream(truth, hooks=[2], batch_size=32, n_samples=100, seed=7)
    for a, b in zip(batches, again):
        assert np.array_equal(a.active, b.active) and torch.equal(a.layer(2), b.layer(2))
    assert np.array_equal(stream.batch(2).active, batches[2].active)  # any batch directly
    # batch i depends on (seed, i) only: the same in a longer stream, different under another seed
    longer = ActivationStream(truth, hooks=[2], batch_size=32, seed=7)
    assert np.array_equal(longer.batch(1).active, batches[1].active)
    assert not np.array_equal(ActivationStream(truth, hooks=[2], batch_size=32, seed=8).batch(1).active,
                              batches[1].active)
    endless = iter(longer)
    assert [next(endless).index for _ in range(6)] == list(range(6))
    with pytest.raises(CircuitsError, match="no length"):
        len(longer)


def test_the_stream_holds_the_modules_activations_and_the_truths_on_states(truth):
    net = truth.network
    hooks = ["layers.0.hook_post", "layers.1.hook_pre", 1, "layers.3.hook_pre", 3]
    batch = ActivationStream(truth, hooks=hooks, batch_size=64, n_samples=64, seed=3).batch(0)
    names = ["layers.0.hook_post", "layers.1.hook_pre", "layers.1.hook_post", "layers.3.hook_pre", "layers.3.hook_post"]
    assert list(batch.activations) == names and sorted(batch.actual) == [0, 1, 3]
    module = to_module(net)
    x = truth.encode(batch.active, batch.payloads)
    with torch.no_grad():
        _, cache = module.run_with_cache(x)
    for name in names:  # layer 1 is ReLU(x + b) without the identity product: the same numbers
        assert torch.equal(batch.activations[name], cache[name]), name
    inputs = net.system.encode(batch.payloads, batch.active.shape)
    with torch.no_grad():
        framework = net.forward(batch.active, inputs)
    torch.testing.assert_close(batch.layer(3), framework[3].reshape(64, -1), rtol=0, atol=1e-5)
    assert np.array_equal(batch.intended, truth.intended(batch.active)) and np.array_equal(batch.actual[0],
                                                                                           batch.intended)
    for layer in (1, 3):
        assert np.array_equal(batch.actual[layer], truth.on_state(batch.layer(layer), layer))
    assert int((batch.actual[3] & ~batch.intended).sum()) > 0  # this overloaded network switches circuits on
    assert not ActivationStream(truth, hooks=[2], batch_size=8, labels=False).batch(0).actual
    with pytest.raises(CircuitsError, match="holds"):
        batch.layer(2)


def test_dataloader_workers_split_the_batches_and_change_none():
    truth = ground_truth(build(rotation_chains(30, chain_length=3, seed=0), width=160, redundancy=3, n_layers=4,
                               seed=1))
    stream = ActivationStream(truth, hooks=[2, 4], batch_size=16, n_samples=16 * 5, seed=1)
    assert stream.n_active == 3  # one chain: the activation group
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2)
    got = sorted(loader, key=lambda b: b.index)
    assert [b.index for b in got] == list(range(5))
    for b in got:
        want = stream.batch(b.index)
        assert np.array_equal(b.active, want.active) and torch.equal(b.layer(4), want.layer(4))
        assert np.array_equal(b.actual[4], want.actual[4])


def test_the_stream_refuses_bad_arguments(truth):
    cases = [(dict(hooks=["layers.4.hook_post"]), "hooks must be network layers 0..3"),
             (dict(hooks=["layers.0.hook_pre"]), "hooks must be"), (dict(hooks=[5]), "hooks must be in 0..3"),
             (dict(hooks=[2, "layers.2.hook_post"]), "must not repeat"), (dict(hooks=[]), "at least one"),
             (dict(batch_size=0), "batch_size must be"), (dict(n_samples=0), "n_samples must be"),
             (dict(seed=-1), "seed must be"), (dict(n_active=41), "n_active must"),
             (dict(on_threshold=0), "on_threshold must be"), (dict(labels="yes"), "labels must be")]
    for kwargs, message in cases:
        with pytest.raises(CircuitsError, match=message):
            ActivationStream(truth, **kwargs)
    with pytest.raises(CircuitsError, match="truth must be"):
        ActivationStream(truth.network)
    with pytest.raises(CircuitsError, match="index must be in 0..1"):
        ActivationStream(truth, batch_size=5, n_samples=10).batch(2)


def test_a_data_set_holds_the_on_states_and_is_a_map_style_dataset(truth, tmp_path):
    from circuits.export import load_dataset

    data = truth.dataset(50, seed=4, activations=True)
    assert np.array_equal(data.on_intended, truth.intended(data.active)) and np.array_equal(data.on_actual[0],
                                                                                           data.on_intended)
    for layer in (1, 2, 3):
        assert np.array_equal(data.on_actual[layer], truth.on_state(data.activations[layer], layer))
        np.testing.assert_allclose(data.on_readout[layer], truth.on_readout(data.activations[layer], layer), rtol=1e-6,
                                   atol=1e-6)
    assert data.info["on_threshold"] == 0.5
    back = load_dataset(data.save(tmp_path / "d.safetensors"))
    assert np.array_equal(back.on_actual, data.on_actual) and back.on_readout.dtype == np.float32
    batches = list(torch.utils.data.DataLoader(back, batch_size=16))
    assert [len(b["inputs"]) for b in batches] == [16, 16, 16, 2]
    assert torch.equal(batches[1]["activations"], data.activations[:, 16:32].transpose(0, 1))
    assert torch.equal(batches[0]["on_actual"], torch.as_tensor(data.on_actual[:, :16]).transpose(0, 1))
    assert len(list(back)) == 50 and torch.equal(back[-1]["inputs"], data.inputs[49])
    with pytest.raises(IndexError):
        back[50]
    assert "on_actual" not in truth.dataset(3, seed=0)[0]  # without activations, no on-states
