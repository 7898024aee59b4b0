"""The shared checker (tests/checks.py) on every signal of the registry, at every level."""

from __future__ import annotations

from typing import Any

import pytest

import signalinject as si
from checks import check_signal


@pytest.mark.parametrize("name", list(si.list_signals()))
def test_every_registered_signal_passes_the_shared_checker(name: str) -> None:
    check_signal(si.get_signal(name))


@pytest.mark.parametrize("name", list(si.list_signals()))
def test_every_signal_declares_its_metadata(name: str) -> None:
    cls: Any = si.get_signal(name)
    assert cls.name == name
    assert cls.kind in ("image", "text")
    assert cls.writes
    assert isinstance(cls.stream, int)
    assert 0 <= cls.stream < 2**32
    assert (cls.strength_scales is None) == (cls.paper_strength is None)
    assert isinstance(cls.decode_needs_index, bool)
