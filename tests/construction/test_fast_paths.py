"""The forward pass's alternative paths give the same bits; the dense measurement keeps float64 worst cases.

Each kernel that has two ways of doing the same work (walking the nonzero slots, or every slot at once) must
give identical numbers whichever it takes, so that a chunk's numbers do not depend on its density; the
per-row products computed elementwise must equal torch's ``bmm`` loop they replace.
"""

import numpy as np
import pytest
import torch

from circuits import build, evaluate, rotation_circuits
from circuits.construction import _kernels as kernels_module
from circuits.construction._kernels import matvec
from circuits.measurement import _evaluate as evaluate_module
from circuits.system import SmallSystem


def _draw(net, n_active, batch_size, seed):
    active, payloads = net.system.draw(n_active, batch_size, np.random.default_rng(seed))
    return active, net.system.encode(payloads, active.shape)


def _bits(tensors):
    return [t.numpy().view(np.int32) for t in tensors]


@pytest.mark.parametrize("weight_scheme", ["capped", "inhibited:8"])
def test_slot_pair_corrections_same_bits_walked_or_dense(monkeypatch, weight_scheme):
    """The excess correction walked from each nonzero slot, or applied to every slot pair by pair in chunks of
    any size, gives the same activations bit for bit (a seizing network: many slots on, many pairs covered
    twice or more)."""
    net = build(rotation_circuits(n_circuits=557, seed=0), width=1000, redundancy=6, n_layers=4, seed=1,
                weight_scheme=weight_scheme)
    assert net.structures[3][1].nnz > 0 and (net.structures[3][1].data > 1).any()  # weights other than 1 too
    active, inputs = _draw(net, 4, 24, seed=2)
    runs = {}
    for name, (fraction, budget) in {"walk": (2.0, 1 << 22), "dense": (0.0, 1 << 22),
                                     "dense, small chunks": (0.0, 64)}.items():
        monkeypatch.setattr(kernels_module, "DENSE_PAIRS", fraction)
        monkeypatch.setattr(kernels_module, "DENSE_BUDGET", budget)
        with torch.no_grad():
            runs[name] = net.forward(active, inputs)
    assert (runs["walk"][-1] != 0).float().mean() > 0.1  # seizing: the dense path is the one taken by default
    for name in ("dense", "dense, small chunks"):
        for a, b in zip(_bits(runs["walk"]), _bits(runs[name])):
            assert np.array_equal(a, b), name


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_elementwise_block_products_equal_bmm(d):
    """Per-row matrices on many vectors: the elementwise form equals torch.bmm on 16-vector blocks bit for bit."""
    assert d <= kernels_module.SMALL_BLOCK
    g = torch.Generator().manual_seed(d)
    w = torch.randn(300, d, d, generator=g)
    r = torch.randn(300, 37, d, generator=g) * torch.rand(300, 37, 1, generator=g) ** 4  # many magnitudes
    expected = torch.cat([torch.bmm(r[:, lo:lo + 16], w.transpose(1, 2)) for lo in range(0, 37, 16)], 1)
    assert torch.equal(matvec(w, r), expected)
    assert torch.equal(matvec(w, r[:, 5]), torch.bmm(r[:, 5, None, :], w.transpose(1, 2))[:, 0])


def test_dense_measurement_against_float64(monkeypatch):
    """Samples held densely: the float32 sums of the inactive errors are within float32 rounding of the float64
    ones (the float64 path reads each circuit with the family's decoding), and the worst cases equal them bit
    for bit."""
    net = build(rotation_circuits(n_circuits=557, seed=0), width=1000, redundancy=6, n_layers=4, seed=1)
    fast = evaluate(net, n_active=3, batch_size=40, seed=3)
    with torch.no_grad():
        dense = sum(len(s.touched.dense) for s in net.trace(*_draw(net, 3, 40, seed=3)))
    assert dense > 40  # most samples of the later layers are held densely
    monkeypatch.setattr(SmallSystem, "on_read", property(lambda self: None))  # no linear read: float64 throughout
    slow = evaluate(net, n_active=3, batch_size=40, seed=3)
    assert np.array_equal(fast.sample_worst_on, slow.sample_worst_on)
    a, b = fast.table, slow.table
    same = (a.circuit_state != "inactive") | (a.stat == "worst")
    assert np.array_equal(a.measured[same].to_numpy(), b.measured[same].to_numpy())
    assert np.allclose(a.measured[~same], b.measured[~same], rtol=1e-6, atol=0)
    assert not np.array_equal(a.measured[~same].to_numpy(), b.measured[~same].to_numpy())  # float32 terms


def test_dense_measurement_does_not_depend_on_its_chunks(monkeypatch):
    net = build(rotation_circuits(n_circuits=557, seed=0), width=1000, redundancy=6, n_layers=3, seed=1)
    whole = evaluate(net, n_active=4, batch_size=30, seed=7)
    monkeypatch.setattr(evaluate_module, "DENSE_MEASURE_BUDGET", 3000)
    pieces = evaluate(net, n_active=4, batch_size=30, seed=7)
    assert np.array_equal(whole.table.measured.to_numpy(), pieces.table.measured.to_numpy())
    assert np.array_equal(whole.sample_worst_on, pieces.sample_worst_on)


def test_payload_read_is_the_decoding():
    system = rotation_circuits(5, seed=0)
    a = np.random.default_rng(0).uniform(0, 2, (10, 4))
    assert np.allclose(a @ system.payload_read.T, system.family.read_payload(a), rtol=0, atol=1e-15)
