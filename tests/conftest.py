import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _no_global_rng():
    """The library must not depend on global RNG state: scramble it before every test."""
    np.random.seed(12345)
    torch.manual_seed(12345)
    yield
