"""Shared checkers for injector tests, in the style of torchvision v2's tests.

Three levels, as torchvision's ``check_kernel`` / ``check_functional`` / ``check_transform``:

- :func:`check_kernel`: sampling (``make_params``, which writes nothing) and writing (``apply``)
  called apart on the batch as they take it, equal to the call;
- :func:`check_injector`: the call ``inj(x, y, index=..., inplace=..., **kw)`` on a NumPy array or
  a torch tensor whose first axis is the batch (no mutation, type kept, per sample = batched,
  pickling, config and ``repr`` round trips, ``inplace``);
- :func:`check_pipeline`: the injector inside ``Compose`` and ``InjectedDataset``.

:func:`check_signal` runs every level on sample data of the signal's kind, for any registered
signal class (``tests/test_signals.py`` runs it on the whole registry). Image and text tests both
use these checkers.
"""

from __future__ import annotations

import copy
import dataclasses
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
    "check_kernel",
    "check_pipeline",
    "check_rejects",
    "check_signal",
    "clone",
    "sample_data",
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
    if isinstance(x, list):  # texts
        return [x[i] for i in sel.tolist()]
    return np.asarray(x)[sel]


def assert_like(actual: Any, expected: Any) -> None:
    """Same type, dtype, shape and device (values not compared); lists (texts): type and
    length."""
    assert type(actual) is type(expected), (type(actual), type(expected))
    if isinstance(expected, list):
        assert len(actual) == len(expected)
        return
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


#: Names a signal's ``repr`` may hold besides its class (a text signal's quantizer).
_REPR_NAMES = {"CharQuantizer": si.CharQuantizer}


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

    n = len(x)
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
        assert eval(repr(inj), {type(inj).__name__: type(inj), **_REPR_NAMES}) == inj

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


def _kernel_view(inj: Any, x: Any, channels_last: bool | None = None) -> Any:
    """The batch as ``make_params``/``apply`` take it: images channels-last, codes as they are."""
    if inj.kind == "image":
        cl = not isinstance(x, torch.Tensor) if channels_last is None else channels_last
        if not cl:
            return x.permute(0, 2, 3, 1) if isinstance(x, torch.Tensor) else x.transpose(0, 2, 3, 1)
    return x


def check_kernel(inj: Any, x: Any, y: Any, *, index: Any = None, **kw: Any) -> None:
    """Sampling and writing apart: ``make_params`` writes nothing and ``apply`` of its parameters
    into a copy (and, from ``source``, into an empty batch) gives ``inj(x, y)``."""
    expected = inj(x, y, index=index, **kw)
    before = clone(x)
    n = int(x.shape[0])
    view = _kernel_view(inj, x, kw.get("channels_last"))
    labels = inj.check_labels(y, view, single=False)
    idx = inj.check_index(index, view, n, single=False)
    params = inj.make_params(labels, idx, view)
    assert_same(x, before)  # sampling never writes
    assert isinstance(params, si.Params)
    for f in dataclasses.fields(params):  # typed per-sample parameters: N rows each
        assert int(getattr(params, f.name).shape[0]) == n, f.name
    out = clone(x)
    inj.apply(_kernel_view(inj, out, kw.get("channels_last")), params)
    assert_same(out, expected)
    fresh = torch.zeros_like(x) if isinstance(x, torch.Tensor) else np.zeros_like(x)
    inj.apply(_kernel_view(inj, fresh, kw.get("channels_last")), params, source=view)
    assert_same(fresh, expected)
    assert_same(x, before)


def check_pipeline(inj: Any, x: Any, y: Any, *, index: Any = None) -> None:
    """``Compose([inj])`` equals ``inj``; ``InjectedDataset`` items equal the batch's rows."""
    expected = inj(x, y, index=index)
    assert_same(si.Compose([inj])(x, y, index=index), expected)
    assert_same(si.Compose([inj]).decode(expected)[0], inj.decode(expected))
    labels = to_numpy(y)
    idx = np.arange(len(labels)) if index is None else to_numpy(index)
    if index is None:  # the dataset keys each sample by its position
        base = [(x[i], int(labels[i])) for i in range(len(labels))]
        ds = si.InjectedDataset(base, inj)
        for i in range(len(labels)):
            sample, label = ds[i]
            assert label == int(labels[i])
            assert_same(sample, expected[i])
    assert len(idx) == len(labels)


def sample_data(cls: type[Any], *, n: int = 6, seed: int = 0) -> list[tuple[str, Any, Any]]:
    """``[(name, x, y)]``: batches of ``cls``'s kind for the checkers (labels for K = 4).

    Images: NumPy uint8 ``(n, 16, 16, 3)`` channels-last and torch float32 ``(n, 3, 16, 16)``;
    text: a list of str and NumPy uint8 codes of Zhang's quantizer, ``length`` 256.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    if cls.kind == "image":
        u8 = rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
        f32 = torch.from_numpy(rng.random((n, 3, 16, 16), dtype=np.float32))
        return [("numpy_uint8", u8, y), ("torch_float32", f32, torch.from_numpy(y))]
    words = ["signal", "inject", "blind", "spot", "The", "model", "x", "42!"]
    texts = [" ".join(rng.choice(words, int(rng.integers(0, 60)))) for _ in range(n)]
    codes = si.CharQuantizer(length=256).encode(texts, dtype=np.uint8)
    return [("texts", texts, y), ("numpy_uint8_codes", codes, y)]


def check_signal(cls: type[Any], **overrides: Any) -> None:
    """Every level of checks for a registered signal class, on :func:`sample_data`.

    The injector is the benchmark's (``cls.for_benchmark``, K = 4), with ``coverage`` and
    ``fidelity`` below 1 so that every branch of the write runs; ``overrides`` replace fields
    (e.g. a text signal's ``quantizer``).
    """
    assert si.get_signal(cls.name) is cls
    assert cls.kind in ("image", "text")
    quantizer = si.CharQuantizer(length=256)
    kw = {"quantizer": quantizer} if cls.kind == "text" else {}
    base = cls.for_benchmark(4, 3, **kw)
    _, x_fit, y_fit = sample_data(cls)[0]
    base = base.fit(x_fit, y_fit)  # signals fitted to data (OnePixelShortcut); others: itself
    inj = dataclasses.replace(base, coverage=0.7, fidelity=0.6, **overrides)
    assert si.from_config(inj.get_config()) == inj
    index = np.array([9, 2, 2**33, 0, 41, 7])
    for _name, x, y in sample_data(cls):
        idx = torch.from_numpy(index) if isinstance(x, torch.Tensor) else index
        check_injector(inj, x, y)
        check_injector(inj, x, y, index=idx)
        decode_index = idx if cls.decode_needs_index else None
        if isinstance(x, list):
            inj.decode(inj(x, y, index=idx))
            continue
        check_decode(inj, inj(x, y, index=idx), index=decode_index)
        check_kernel(inj, x, y, index=idx)
        check_pipeline(inj, x, y)
        check_pipeline(inj, x, y, index=idx)
