import numpy as np
import pytest

import twinscore as ts


@pytest.fixture(scope="session")
def prm():
    """A small generated market, shared by the tests that only read it."""
    return ts.datasets.make_prm(n_prospects=5_000, n_clients=800, seed=7)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def restore_threads():
    before = ts.get_num_threads()
    yield
    ts.set_num_threads(before)
