"""The shared checker (tests/checks.py) on every signal of the registry, at every level."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import signalinject as si
from checks import check_signal

# the shared checker runs every signal on float images with class-number codes
# under the default value range: the range warning (issue 28) is expected there.
pytestmark = pytest.mark.filterwarnings("ignore::signalinject.ranges.ValueRangeWarning")


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


@pytest.mark.parametrize("name", list(si.list_signals()))
def test_capacity_for_is_the_largest_k_that_runs(name: str) -> None:
    cls: Any = si.get_signal(name)
    kw: dict[str, Any] = {}
    if cls.kind == "image":
        x: Any = np.zeros((2, 8, 8, 3), np.uint8)
        shape: tuple[int, ...] = (8, 8, 3)
    else:
        q = si.CharQuantizer(length=256)
        kw["quantizer"] = q
        x, shape = q.encode(["ab", "cd"], dtype=np.uint8), (256,)
    cap = cls.for_benchmark(2, 0, **kw).capacity_for(shape, x.dtype)
    if cap is None:  # set by the configuration (e.g. one value per class)
        return
    assert isinstance(cap, int)
    assert cap >= 2
    inj = cls.for_benchmark(cap, 0, **kw).fit(x, np.array([0, cap - 1]))  # fitted signals fit
    out = inj(x, [0, cap - 1])
    assert out.shape == x.shape
    with pytest.raises(ValueError, match=r"num_classes|classes|room for|more than"):
        cls.for_benchmark(cap + 1, 0, **kw).fit(x, np.array([0, 1]))(x, [0, 1])


def test_capacity_for_follows_the_dtype_and_the_shape() -> None:
    assert si.OnePixel(2).capacity_for((8, 8, 3), np.uint8) == 256
    assert si.OnePixel(2).capacity_for((8, 8, 3), torch.float16) == 2049
    assert si.OnePixel(2).capacity_for((8, 8, 3), np.float32) == 65536  # the default codes' cap
    assert si.OnePixel(2, values=(3, 9)).capacity_for((8, 8, 3), np.uint8) is None
    assert si.OrthogonalNoise(2).capacity_for((4, 4, 1), np.float32) == 15
    assert si.MultipleLocations(2).capacity_for((32, 32, 3), np.uint8) == 62
    assert si.PatternPixels(2, positions=((0, 0), (1, 1))).capacity_for((8, 8, 3), np.uint8) == 4
