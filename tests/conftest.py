"""Fixtures every test module shares: the randomness check, and helpers for the command line and the forward pass."""

import hashlib
import json

import numpy as np
import pytest
import torch

from circuits.cli import main


@pytest.fixture(autouse=True)
def _scrambled_global_rng(request):
    """The library draws only from explicit seeds, never from the global generators: each test starts them from a
    different seed (derived from its name, so that a failure reproduces), and a result that depended on them
    would change from test to test (``tests/construction/test_network.py`` also checks it directly)."""
    seed = int.from_bytes(hashlib.sha256(request.node.nodeid.encode()).digest()[:4], "little")
    np.random.seed(seed)
    torch.manual_seed(seed)
    yield


@pytest.fixture
def cli_json(capsys):
    """Run ``cis ARGV`` (which must succeed) and return what it printed as JSON."""
    def run(argv):
        assert main(argv) == 0
        return json.loads(capsys.readouterr().out)
    return run


@pytest.fixture
def framework_layers():
    """The network's own forward pass as ``(B, D)`` float32 tensors, layers 0..L, for given active circuits and
    payloads."""
    def run(net, active, payloads):
        inputs = net.system.encode(payloads, active.shape)
        with torch.no_grad():
            return [a.reshape(len(active), net.width) for a in net.forward(active, inputs)]
    return run
