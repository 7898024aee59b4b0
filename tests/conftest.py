"""Shared pytest configuration: the ``cuda`` marker's skip and small generic fixtures.

Mark a test ``@pytest.mark.cuda`` when it needs a CUDA device; it runs where one is available
and is skipped (with the reason) everywhere else. ``tests/checks.py`` holds the shared checkers.
"""

from __future__ import annotations

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


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh NumPy generator with a fixed seed, one per test."""
    return np.random.default_rng(0)
