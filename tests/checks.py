"""Shared checkers for injector tests, in the style of torchvision v2's ``check_transform``.

They work for any injector called as ``inj(x, y, index=..., inplace=..., **kw)`` on a NumPy array
or a torch tensor whose first axis is the batch, with labels ``y`` of shape ``(N,)`` (NumPy or
torch), and for its ``decode(x, **kw)``. Image and text tests both use them.
"""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import numpy as np
import pytest
import torch

import signalinject as si

__all__ = [
    "assert_like",
    "assert_same",
    "check_decode",
    "check_injector",
    "check_rejects",
    "clone",
    "take",
    "to_numpy",
]


def to_numpy(a: Any) -> np.ndarray[Any, Any]:
    """``a`` (array, tensor on any device, list, scalar) as a NumPy array."""
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def clone(x: Any) -> Any:
    """A copy of ``x`` that shares no memory with it."""
    if isinstance(x, torch.Tensor):
        return x.clone()
    if isinstance(x, np.ndarray):
        return x.copy()
    return copy.deepcopy(x)


def take(x: Any, sel: np.ndarray[Any, Any]) -> Any:
    """Rows ``sel`` (int NumPy array) of ``x``, on ``x``'s backend and device."""
    if isinstance(x, torch.Tensor):
        return x[torch.as_tensor(sel, device=x.device)]
    return np.asarray(x)[sel]


def assert_like(actual: Any, expected: Any) -> None:
    """Same type, dtype, shape and device (values not compared)."""
    assert type(actual) is type(expected), (type(actual), type(expected))
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert tuple(actual.shape) == tuple(expected.shape), (actual.shape, expected.shape)
    if isinstance(expected, torch.Tensor):
        assert actual.device == expected.device, (actual.device, expected.device)


def assert_same(actual: Any, expected: Any) -> None:
    """Exactly equal: same type, dtype, shape, device and values (NaN equals NaN)."""
    if not isinstance(expected, np.ndarray | torch.Tensor):
        assert actual == expected
        return
    assert_like(actual, expected)
    a, e = to_numpy(actual), to_numpy(expected)
    np.testing.assert_array_equal(a, e, strict=True)


def check_injector(
    inj: Any,
    x: Any,
    y: Any,
    *,
    index: Any = None,
    per_sample: int = 3,
    check_repr: bool = True,
    **kw: Any,
) -> Any:
    """Check the contract every injector keeps on one batch, and return ``inj(x, y, ...)``.

    Asserts: ``x`` is never mutated; the output keeps ``x``'s type, dtype, shape and device and
    is a new object; the call is deterministic; each of the first ``per_sample`` samples injected
    alone (an integer label, its own index) equals its row of the batch; a reversed subset with
    its indices equals the slice of the batch; pickling and a JSON round trip of ``get_config``
    give an equal injector with equal outputs; ``repr`` evaluates back to an equal injector;
    ``inplace=True`` writes the same result into ``x`` and returns ``x`` itself.

    Args:
        inj: the injector.
        x: a batch ``(N, ...)``, NumPy or torch.
        y: labels ``(N,)``.
        index: sample indices ``(N,)`` or None (``arange(N)``).
        per_sample: how many samples to check one at a time.
        check_repr: also check that ``eval(repr(inj))`` round-trips.
        **kw: passed to every call (e.g. ``channels_last``).
    """
    before = clone(x)
    out = inj(x, y, index=index, **kw)
    assert out is not x
    assert_like(out, x)
    assert_same(x, before)  # the input is untouched
    assert_same(inj(x, y, index=index, **kw), out)  # deterministic

    n = int(x.shape[0])
    idx = np.arange(n) if index is None else to_numpy(index)
    labels = to_numpy(y)
    for i in range(min(n, per_sample)):
        one = inj(x[i], int(labels[i]), index=int(idx[i]), **kw)
        assert_same(one, out[i])
    if n:
        sel = np.arange(n)[::-2].copy()  # reversed and strided: order and gaps must not matter
        sub = inj(take(x, sel), take(y, sel), index=idx[sel], **kw)
        assert_same(sub, take(out, sel))

    pickled = pickle.loads(pickle.dumps(inj))
    assert pickled == inj
    assert_same(pickled(x, y, index=index, **kw), out)
    config = json.loads(json.dumps(inj.get_config()))
    rebuilt = si.from_config(config)
    assert type(rebuilt) is type(inj)
    assert rebuilt == inj
    assert_same(rebuilt(x, y, index=index, **kw), out)
    if check_repr:
        assert eval(repr(inj), {type(inj).__name__: type(inj)}) == inj

    target = clone(x)
    returned = inj(target, y, index=index, inplace=True, **kw)
    assert returned is target
    assert_same(target, out)
    assert_same(x, before)
    return out


def check_decode(inj: Any, x: Any, *, index: Any = None, **kw: Any) -> Any:
    """``inj.decode(x)``: int64 ``(N,)`` on ``x``'s backend and device, equal per sample.

    ``index`` (when not None) is passed to ``decode``, and ``index[i]`` for sample ``i`` alone.
    Returns the decoded labels.
    """
    extra = {} if index is None else {"index": index}
    d = inj.decode(x, **extra, **kw)
    assert type(d) is type(x)
    assert tuple(d.shape) == (int(x.shape[0]),)
    if isinstance(x, torch.Tensor):
        assert d.dtype == torch.int64
        assert d.device == x.device
    else:
        assert d.dtype == np.int64
    if int(x.shape[0]):
        one_extra = {} if index is None else {"index": int(to_numpy(index)[0])}
        one = inj.decode(x[0], **one_extra, **kw)
        assert int(one) == int(d[0])
        assert one.dtype == d.dtype
        assert one.ndim == 0
    return d


def check_rejects(inj: Any, x: Any, y: Any, exc: type[Exception], match: str, **kw: Any) -> None:
    """``inj(x, y, **kw)`` raises ``exc`` matching ``match``, and ``x`` is left untouched.

    Checked with and without ``inplace=True``: the error must come before any write.
    """
    before = clone(x)
    with pytest.raises(exc, match=match):
        inj(x, y, **kw)
    with pytest.raises(exc, match=match):
        inj(x, y, inplace=True, **kw)
    if isinstance(x, np.ndarray | torch.Tensor):
        assert_same(x, before)
    else:
        assert x == before
