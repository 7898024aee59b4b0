"""Shared pytest configuration: the ``cuda`` marker's skip and small generic fixtures.

Mark a test ``@pytest.mark.cuda`` when it needs a CUDA device; it runs where one is available
and is skipped (with the reason) everywhere else. ``tests/checks.py`` holds the shared checkers.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

HAS_CUDA = torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every test marked ``cuda`` when no CUDA device is available."""
    if HAS_CUDA:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module: tiny models run faster on it than on a shared, busy pool.

    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh NumPy generator with a fixed seed, one per test."""
    return np.random.default_rng(0)
