"""Fixtures shared by the unit tests (the repository's conftest.py sets the environment for every test)."""
import pytest
import torch


@pytest.fixture
def one_thread():
    """One torch thread for the test, then the caller's count again: small tensors gain nothing from threads, two
    threads stall when another process holds a core, and a result must not depend on the count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
