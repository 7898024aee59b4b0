"""The five image signals: the shared contract, the paper's literal encodings, and the errors.

Layout of this file: helpers and the injector cases; the contract every injector keeps (via
``tests/checks.py``); NumPy/torch agreement and property tests; one ``TestX`` class per signal
with its exact encoding; the errors every injector raises; CUDA checks (skipped without CUDA).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.overrides import TorchFunctionMode

import signalinject as si
from checks import assert_same, check_decode, check_injector, check_rejects, to_numpy
from signalinject._backend import cpu_route
from signalinject.image import default_pairs

# the contract is tested on float images in 0..255 and with class-number codes in
# float images, under the default value range (issue 28): the range warning is expected there.
pytestmark = pytest.mark.filterwarnings("ignore::signalinject.ranges.ValueRangeWarning")

DTYPES = ["uint8", "int16", "float16", "float32", "float64"]


# -- helpers -------------------------------------------------------------------------------------
def images(rng: np.random.Generator, shape: tuple[int, ...], dtype: str = "uint8") -> Any:
    """Random channels-last images: integers in 0..255, floats in [0, 1)."""
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        return rng.integers(0, 256, shape).astype(dt)
    return rng.random(shape).astype(dt)


def to_torch(x: np.ndarray[Any, Any]) -> torch.Tensor:
    """NumPy channels-last ``(N, H, W, C)`` as a contiguous torch ``(N, C, H, W)``."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, -3)))


def from_torch(t: torch.Tensor) -> np.ndarray[Any, Any]:
    """torch channels-first as NumPy channels-last."""
    return np.moveaxis(t.cpu().numpy(), -3, -1)


def on(backend: str, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> tuple[Any, Any]:
    """Images and labels on ``backend`` in its default layout."""
    if backend == "torch":
        return to_torch(x), torch.from_numpy(y)
    return x, y


def name(inj: Any) -> str:
    extra = "" if inj.coverage == inj.fidelity == 1.0 else "-partial"
    return f"{type(inj).__name__}-{inj.num_classes}{extra}-s{inj.seed % 1000}"


#: The paper's image signals, read from the registry (each with its defaults, K = 10).
DEFAULTS = [cls(10) for cls in si.list_signals("image").values() if cls.default_grid]
CUSTOM = [
    si.OnePixel(5, position=(2, 7), values=(10, 60, 110, 160, 250), seed=3),
    si.PatternPixels(6, positions=((1, 1), (4, 2), (7, 7)), on_value=200, off_value=20, seed=5),
    si.RandomPixel(4, values=(50, 100, 150, 200), seed=2**40 + 7),
    si.MultipleLocations(
        3,
        pairs=(((0, 0), (7, 7)), ((0, 7), (7, 0)), ((3, 3), (4, 4))),
        value_range=(10, 20),
        seed=11,
    ),
    si.OrthogonalNoise(4, strength=0.1, seed=2**64 - 1),
]
PARTIAL = [
    type(inj)(inj.num_classes, seed=9 + i, coverage=0.6, fidelity=0.7)
    for i, inj in enumerate(DEFAULTS)
]
ALL = DEFAULTS + CUSTOM + PARTIAL
#: The signals whose decode is exact for every carried sample (RandomPixel given the index).
LOSSLESS = [inj for inj in ALL if isinstance(inj, si.OnePixel | si.PatternPixels | si.RandomPixel)]


def decode_kw(inj: Any, index: Any) -> dict[str, Any]:
    """RandomPixel decodes at the drawn location given the index; the others need none."""
    return {"index": index} if isinstance(inj, si.RandomPixel) else {}


# -- the contract ------------------------------------------------------------------------------
@pytest.mark.parametrize("inj", ALL, ids=name)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_contract(inj: Any, backend: str, dtype: str) -> None:
    rng = np.random.default_rng(0)
    x, y = on(backend, images(rng, (7, 8, 8, 3), dtype), rng.integers(0, inj.num_classes, 7))
    index = rng.choice(10**9, 7, replace=False)
    out = check_injector(inj, x, y, index=index)
    check_injector(inj, x, y)  # default index arange(N)
    check_decode(inj, out, index=index if isinstance(inj, si.RandomPixel) else None)
    # one image, no index: index 0, the same as the first row of a batch with default index
    assert_same(inj(x[0], int(y[0])), inj(x, y)[0])


@pytest.mark.parametrize("inj", LOSSLESS, ids=name)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_lossless_decode(inj: Any, backend: str, dtype: str) -> None:
    rng = np.random.default_rng(1)
    y_np = rng.integers(0, inj.num_classes, 64)
    x, y = on(backend, images(rng, (64, 8, 8, 3), dtype), y_np)
    index = rng.choice(10**6, 64, replace=False)
    out = inj(x, y, index=index)
    code, carried = inj.codes(y_np, index)
    got = to_numpy(inj.decode(out, **decode_kw(inj, index)))
    assert np.array_equal(got[carried], code[carried])
    if inj.coverage == inj.fidelity == 1.0:
        assert np.array_equal(got, y_np)


def test_empty_batch() -> None:
    for inj in DEFAULTS:
        x = np.zeros((0, 8, 8, 3), np.uint8)
        out = inj(x, np.zeros(0, np.int64))
        assert out.shape == (0, 8, 8, 3)
        assert inj.decode(out).shape == (0,)
        t = inj(torch.zeros(0, 3, 8, 8), [])
        assert t.shape == (0, 3, 8, 8)


@pytest.mark.parametrize("inj", ALL, ids=name)
@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_and_torch_agree(inj: Any, dtype: str) -> None:
    rng = np.random.default_rng(2)
    x = images(rng, (9, 8, 8, 3), dtype)
    y = rng.integers(0, inj.num_classes, 9)
    index = rng.choice(10**6, 9, replace=False)
    out = inj(x, y, index=index)
    out_t = inj(to_torch(x), torch.from_numpy(y), index=torch.from_numpy(index))
    assert np.array_equal(from_torch(out_t), out)
    # channels_last overrides the backend's default layout, with the same pixels
    nhwc_t = inj(torch.from_numpy(x), y, index=index, channels_last=True)
    assert np.array_equal(nhwc_t.numpy(), out)
    nchw_np = inj(np.ascontiguousarray(np.moveaxis(x, -1, 1)), y, index=index, channels_last=False)
    assert np.array_equal(nchw_np, out_t.numpy())
    kw = decode_kw(inj, index)
    assert np.array_equal(inj.decode(out_t, **kw).numpy(), inj.decode(out, **kw))


class _CountOps(TorchFunctionMode):
    """Counts the torch calls made while active."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.calls += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("inj", DEFAULTS + PARTIAL, ids=name)
def test_no_python_loop_over_samples(inj: Any) -> None:
    # A Python loop over samples would make the number of torch calls grow with N.
    counts = []
    for n in (1, 64):
        x = torch.rand(n, 3, 8, 8)
        y = torch.arange(n) % inj.num_classes
        inj(x, y)  # warm the caches (noise basis) outside the count
        with _CountOps() as mode:
            out = inj(x, y)
            inj.decode(out, **decode_kw(inj, torch.arange(n)))
        counts.append(mode.calls)
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("cls", [si.OnePixel, si.PatternPixels, si.RandomPixel, si.OrthogonalNoise])
def test_coverage_marks_exactly_the_carried_samples(cls: Any) -> None:
    n, cov = 20_000, 0.3
    inj = cls(4, seed=21, coverage=cov)
    rng = np.random.default_rng(3)
    x = 0.2 + 0.6 * rng.random((n, 3, 3, 1))  # no code value occurs naturally
    y = rng.integers(0, 4, n)
    changed = (inj(x, y) != x).reshape(n, -1).any(1)
    _, carried = inj.codes(y, np.arange(n))
    assert np.array_equal(changed, carried)
    assert abs(changed.mean() - cov) < 5 * math.sqrt(cov * (1 - cov) / n)


def test_coverage_multiple_locations() -> None:
    n, cov = 20_000, 0.7
    inj = si.MultipleLocations(4, seed=2, coverage=cov)
    rng = np.random.default_rng(4)
    x = rng.random((n, 3, 3, 1))
    changed = (inj(x, rng.integers(0, 4, n)) != x).reshape(n, -1).any(1)
    assert abs(changed.mean() - cov) < 5 * math.sqrt(cov * (1 - cov) / n)


@pytest.mark.parametrize("cls", [si.OnePixel, si.PatternPixels, si.RandomPixel])
def test_fidelity_fraction_of_true_codes(cls: Any) -> None:
    n, fid = 20_000, 0.6
    inj = cls(8, seed=31, fidelity=fid)
    rng = np.random.default_rng(5)
    y = rng.integers(0, 8, n)
    out = inj(rng.random((n, 3, 3, 1)), y)
    got = inj.decode(out, **decode_kw(inj, np.arange(n)))
    assert abs((got == y).mean() - fid) < 5 * math.sqrt(fid * (1 - fid) / n)


def test_fidelity_orthogonal_noise() -> None:
    n, fid = 5_000, 0.25
    inj = si.OrthogonalNoise(3, seed=4, fidelity=fid)
    y = np.random.default_rng(6).integers(0, 3, n)
    got = inj.decode(inj(np.full((n, 4, 4, 1), 0.5), y))
    assert abs((got == y).mean() - fid) < 5 * math.sqrt(fid * (1 - fid) / n)


# -- properties over random shapes, dtypes, labels, classes and seeds -----------------------------
@st.composite
def setups(draw: st.DrawFn) -> tuple[Any, str, tuple[int, int, int, int], list[int], int]:
    kind = draw(st.sampled_from(["one", "pattern", "random", "multiple", "noise"]))
    dtype = draw(st.sampled_from(DTYPES))
    n, h, w, c = (draw(st.integers(lo, hi)) for lo, hi in ((0, 5), (2, 9), (2, 9), (1, 4)))
    common = {
        "seed": draw(st.integers(0, 2**64 - 1)),
        "coverage": draw(st.sampled_from([1.0, 0.5])),
        "fidelity": draw(st.sampled_from([1.0, 0.5])),
    }
    pixel = st.tuples(st.integers(0, h - 1), st.integers(0, w - 1))
    inj: Any
    if kind == "one":
        inj = si.OnePixel(draw(st.integers(2, 40)), position=draw(pixel), **common)
    elif kind == "pattern":
        pos = draw(st.lists(pixel, min_size=1, max_size=6, unique=True))
        inj = si.PatternPixels(draw(st.integers(2, 2 ** len(pos))), positions=pos, **common)
    elif kind == "random":
        inj = si.RandomPixel(draw(st.integers(2, 40)), **common)
    elif kind == "multiple":
        inj = si.MultipleLocations(draw(st.integers(2, h + w - 2)), **common)
    else:
        inj = si.OrthogonalNoise(draw(st.integers(2, min(12, h * w * c - 1))), **common)
    y = draw(st.lists(st.integers(0, inj.num_classes - 1), min_size=n, max_size=n))
    return inj, dtype, (n, h, w, c), y, draw(st.integers(0, 2**32 - 1))


def support(inj: Any, code: Any, index: Any, h: int, w: int) -> np.ndarray[Any, Any]:
    """Bool ``(N, H, W)``: the pixels each sample's signal may write (before coverage)."""
    n = len(code)
    mask = np.zeros((n, h, w), bool)
    rows = np.arange(n)
    if isinstance(inj, si.OnePixel):
        mask[:, inj.position[0], inj.position[1]] = True
    elif isinstance(inj, si.PatternPixels):
        for r, c in inj.pixel_positions(h, w):
            mask[:, r, c] = True
    elif isinstance(inj, si.RandomPixel):
        r, c = inj.locations(index, h, w)
        mask[rows, r, c] = True
    elif isinstance(inj, si.MultipleLocations):
        pairs = np.asarray(inj.pixel_pairs(h, w))[code]
        mask[rows, pairs[:, 0], pairs[:, 1]] = True
        mask[rows, pairs[:, 2], pairs[:, 3]] = True
    else:
        mask[:] = True
    return mask


@settings(max_examples=150, deadline=None)
@given(setup=setups())
def test_properties(setup: tuple[Any, str, tuple[int, int, int, int], list[int], int]) -> None:
    inj, dtype, shape, labels, image_seed = setup
    n, h, w, _ = shape
    rng = np.random.default_rng(image_seed)
    x = images(rng, shape, dtype)
    y = np.asarray(labels, np.int64)
    index = rng.choice(2**40, n, replace=False)
    out = inj(x, y, index=index)
    assert out.dtype == x.dtype
    assert out.shape == x.shape
    out_t = inj(to_torch(x), torch.from_numpy(y), index=index)
    assert np.array_equal(from_torch(out_t), out)

    code, carried = inj.codes(y, index)
    changed = (out != x).any(-1)
    assert not changed[~carried].any()  # samples without the signal are untouched
    assert not (changed & ~support(inj, code, index, h, w)).any()  # nothing outside the signal
    if not isinstance(inj, si.MultipleLocations | si.OrthogonalNoise):
        got = inj.decode(out, **decode_kw(inj, index))
        assert np.array_equal(got[carried], code[carried])
    if isinstance(inj, si.MultipleLocations) and n:
        p = np.asarray(inj.pixel_pairs(h, w))[code]
        a, b = out[np.arange(n), p[:, 0], p[:, 1]], out[np.arange(n), p[:, 2], p[:, 3]]
        assert np.array_equal(a[carried], b[carried])
        assert (a[carried] == a[carried][:, :1]).all()  # one value, all channels
    if n:
        sel = rng.permutation(n)[: max(1, n // 2)]
        assert np.array_equal(inj(x[sel], y[sel], index=index[sel]), out[sel])


def reference(inj: Any, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], index: Any) -> Any:
    """What ``inj(x, y, index=index)`` must return, by a plain loop over samples and pixels.

    The per-sample parameters come from ``make_params``; the writes (and the noise's rounding
    and saturation, in int64/float64 arithmetic) are done here, one sample at a time, so the
    vectorized write paths of the library are checked against code that shares none of them.
    """
    n, h, w, _ = x.shape
    p = inj.make_params(y, index, x)
    out = x.copy()
    for i in range(n):
        if not p.carried[i]:
            continue
        if isinstance(inj, si.OnePixel):
            out[i, inj.position[0], inj.position[1], :] = p.value[i]
        elif isinstance(inj, si.PatternPixels):
            for j, (r, c) in enumerate(inj.pixel_positions(h, w)):
                out[i, r, c, :] = p.value[i, j]
        elif isinstance(inj, si.RandomPixel):
            out[i, p.row[i], p.col[i], :] = p.value[i]
        elif isinstance(inj, si.MultipleLocations):
            r1, c1, r2, c2 = (int(v) for v in p.pair[i])
            out[i, r1, c1, :] = out[i, r2, c2, :] = p.value[i]
        else:
            scale = inj.rms(x) * math.sqrt(x[0].size)
            noise = si.orthogonal_noise_basis(inj.num_classes, x.shape[1:], seed=inj.seed)
            add = noise[p.code[i]] * scale
            if x.dtype.kind in "iu":
                info = np.iinfo(x.dtype)
                total = x[i].astype(object) + np.rint(add).astype(np.int64).astype(object)
                out[i] = np.clip(total, int(info.min), int(info.max)).astype(x.dtype)
            else:
                wide = np.float64 if x.dtype == np.float64 else np.float32
                out[i] = (x[i].astype(wide) + add.astype(wide)).astype(x.dtype)
    return out


REFERENCE_DTYPES = ["uint8", "int8", "uint16", "int16", "int32", "int64", "float16", "float32"]


@settings(max_examples=120, deadline=None)
@given(
    kind=st.sampled_from(["one", "pattern", "random", "multiple", "noise"]),
    dtype=st.sampled_from(REFERENCE_DTYPES),
    coverage=st.sampled_from([1.0, 0.5]),
    layout=st.sampled_from(
        ["nhwc", "nchw", "torch", "torch-channels-last", "strided", "torch-strided", "single"]
    ),
    inplace=st.booleans(),
    loud=st.booleans(),
    torch_kernels=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_a_plain_reference(
    kind: str,
    dtype: str,
    coverage: float,
    layout: str,
    inplace: bool,
    loud: bool,
    torch_kernels: bool,
    seed: int,
) -> None:
    """Every layout, dtype and coverage: the fast writes equal the loop in :func:`reference`.

    ``loud`` noise (RMS 200 on integers, 20 on floats) saturates most integer pixels.
    ``torch_kernels``: CPU tensors keep torch's kernels instead of going through NumPy views
    (what CUDA tensors, and tensors that track gradients, always do).
    """
    rng = np.random.default_rng(seed)
    k = 6
    inj: Any = {
        "one": si.OnePixel(k, position=(3, 2), coverage=coverage, seed=seed),
        "pattern": si.PatternPixels(k, coverage=coverage, seed=seed),
        "random": si.RandomPixel(k, coverage=coverage, seed=seed),
        "multiple": si.MultipleLocations(k, coverage=coverage, seed=seed),
        "noise": si.OrthogonalNoise(
            k,
            strength=(200.0 if loud else 9.0) * (1 if dtype[0] in "iu" else 0.1),
            coverage=coverage,
            seed=seed,
        ),
    }[kind]
    n = 1 if layout == "single" else int(rng.integers(1, 9))
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        x = rng.integers(max(info.min, -300), min(info.max, 300), (n, 6, 5, 3), endpoint=True)
        x[:, :2] = rng.choice([info.min, info.max], (n, 2, 5, 3))  # pixels at the limits
        x = x.astype(dt)
    else:
        x = rng.random((n, 6, 5, 3)).astype(dt)
    y = rng.integers(0, k, n)
    index = rng.choice(2**40, n, replace=False)
    expected = reference(inj, x, y, index)

    def run(a: Any, labels: Any, idx: Any, **kw: Any) -> Any:
        target = a.clone() if isinstance(a, torch.Tensor) else a.copy()
        got = inj(target, labels, index=idx, inplace=inplace, **kw)
        assert (got is target) == inplace
        return got

    with cpu_route(tensor_views=not torch_kernels):
        got = _run_layout(layout, run, inj, x, y, index, inplace)
    assert got.dtype == x.dtype
    assert np.array_equal(got, expected)


def _run_layout(
    layout: str, run: Any, inj: Any, x: Any, y: Any, index: Any, inplace: bool
) -> np.ndarray[Any, Any]:
    """``x`` injected in ``layout``, returned as channels-last NumPy."""
    if layout == "nhwc":
        got = run(x, y, index)
    elif layout == "nchw":
        got = np.moveaxis(
            run(np.ascontiguousarray(np.moveaxis(x, -1, 1)), y, index, channels_last=False), 1, -1
        )
    elif layout == "torch":
        got = from_torch(run(to_torch(x), torch.from_numpy(y), torch.from_numpy(index)))
    elif layout == "torch-channels-last":
        t = to_torch(x).contiguous(memory_format=torch.channels_last)
        got = from_torch(run(t, torch.from_numpy(y), torch.from_numpy(index)))
    elif layout == "strided":  # a view that covers no dense block: every slow path
        wide = np.zeros((len(x), 6, 10, 3), x.dtype)
        wide[:, :, ::2] = x
        view = wide[:, :, ::2]
        got = inj(view, y, index=index, inplace=inplace)
        assert np.array_equal(wide[:, :, 1::2], np.zeros_like(wide[:, :, 1::2]))
    elif layout == "torch-strided":
        wide_t = torch.zeros(
            (len(x), x.shape[3], x.shape[1], 2 * x.shape[2]), dtype=to_torch(x).dtype
        )
        wide_t[..., ::2] = to_torch(x)
        got_t = inj(
            wide_t[..., ::2], torch.from_numpy(y), index=torch.from_numpy(index), inplace=inplace
        )
        assert not wide_t[..., 1::2].any()
        got = from_torch(got_t)
    else:
        got = run(x[0], int(y[0]), int(index[0]))[None]
    return got


@pytest.mark.parametrize("block", [1, 200, 10**6])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["uint8", "int16", "int64", "float16", "float32"])
def test_noise_blocks_change_nothing(block: int, backend: str, dtype: str) -> None:
    """OrthogonalNoise walks the batch in blocks of samples: any block size, the same result."""
    inj = si.OrthogonalNoise(5, strength=60.0 if dtype[0] in "iu" else 0.3, seed=4)
    rng = np.random.default_rng(5)
    x, y = images(rng, (11, 6, 5, 3), dtype), rng.integers(0, 5, 11)
    expected = reference(inj, x, y, np.arange(11))
    xb, yb = on(backend, x, y)
    with cpu_route(block_bytes=block):
        got = inj(xb, yb)
    assert np.array_equal(from_torch(got) if backend == "torch" else got, expected)


@pytest.mark.parametrize(
    "dtype", ["uint8", "int8", "uint16", "int16", "int64", "float16", "float32"]
)
@pytest.mark.parametrize("layout", ["nchw", "channels-last"])
def test_noise_torch_kernels_match_the_reference(dtype: str, layout: str) -> None:
    """CPU tensors take NumPy's kernels; torch's own (CUDA, autograd, bfloat16) must agree."""
    with cpu_route(tensor_views=False, block_bytes=1000):
        _noise_torch_kernels(dtype, layout)


def _noise_torch_kernels(dtype: str, layout: str) -> None:
    inj = si.OrthogonalNoise(5, strength=60.0 if dtype[0] in "iu" else 0.3, seed=8)
    rng = np.random.default_rng(6)
    x, y = images(rng, (7, 6, 5, 3), dtype), rng.integers(0, 5, 7)
    t = to_torch(x)
    if layout == "channels-last":
        t = t.contiguous(memory_format=torch.channels_last)
    expected = reference(inj, x, y, np.arange(7))
    assert np.array_equal(from_torch(inj(t, torch.from_numpy(y))), expected)
    inplace = t.clone()
    inj(inplace, torch.from_numpy(y), inplace=True)
    assert np.array_equal(from_torch(inplace), expected)


def test_noise_keeps_the_autograd_graph() -> None:
    """A float batch that tracks gradients gets the noise through torch ops (d out / d x = 1)."""
    x = torch.rand(3, 3, 6, 5, requires_grad=True)
    out = si.OrthogonalNoise(4, strength=0.1)(x, torch.tensor([0, 1, 3]))
    out.sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad, torch.ones_like(x))
    with torch.no_grad():
        assert torch.equal(out, si.OrthogonalNoise(4, strength=0.1)(x.detach(), [0, 1, 3]))


def test_code_tables_are_built_once_per_values_dtype_and_device() -> None:
    """A table per batch would cost a host-device round trip per batch on a GPU."""
    si.image._host_table.cache_clear()
    inj = si.OnePixel(3, values=(5, 6, 7))
    for _ in range(3):
        inj(np.zeros((2, 4, 4, 1), np.uint8), [0, 2])
        inj(torch.zeros(2, 1, 4, 4), [1, 2])
    assert si.image._host_table.cache_info().misses == 2  # uint8 NumPy, float32 torch CPU
    # Equal but differently stored values do not share a table: -0.0 keeps its sign bit.
    neg = si.OnePixel(2, values=(-0.0, 1.0))(np.ones((1, 2, 2, 1), np.float32), [0])
    pos = si.OnePixel(2, values=(0.0, 1.0))(np.ones((1, 2, 2, 1), np.float32), [0])
    assert np.signbit(neg[0, 0, 0, 0])
    assert not np.signbit(pos[0, 0, 0, 0])


@pytest.mark.parametrize("inj", DEFAULTS, ids=name)
def test_inplace_on_a_saved_tensor_trips_autograd(inj: Any) -> None:
    """Written in place through a NumPy view, a tensor still bumps its autograd version: a
    graph that saved it raises, as after any torch in-place op, instead of a wrong gradient."""
    x = torch.rand(4, 3, 8, 8)
    w = torch.rand(4, 3, 8, 8, requires_grad=True)
    loss = (x * w).sum()  # saves x for w's gradient
    inj(x, torch.tensor([0, 1, 2, 3]), inplace=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()  # type: ignore[no-untyped-call]


# -- one class per signal: the paper's literal encodings ----------------------------------------
class TestOnePixel:
    def test_paper_encoding(self) -> None:
        # "the class number written at (0, 0) in all channels"; nothing else changes
        y = np.arange(10)
        out = si.OnePixel(10)(np.zeros((10, 32, 32, 3), np.uint8), y)
        assert (out[:, 0, 0, :] == y[:, None]).all()
        out[:, 0, 0] = 0
        assert not out.any()
        t = si.OnePixel(10)(torch.zeros(10, 3, 32, 32, dtype=torch.uint8), torch.from_numpy(y))
        assert (t[:, :, 0, 0] == torch.from_numpy(y)[:, None]).all()
        t[:, :, 0, 0] = 0
        assert not t.any()

    def test_position_and_values(self) -> None:
        inj = si.OnePixel(3, position=(4, 1), values=(7, 100, 255))
        x = np.random.default_rng(0).integers(0, 256, (6, 5, 3, 2), dtype=np.uint8)
        y = np.array([0, 1, 2, 2, 1, 0])
        out = inj(x, y)
        assert (out[:, 4, 1, :] == np.array([7, 100, 255])[y][:, None]).all()
        mask = np.ones((5, 3), bool)
        mask[4, 1] = False
        assert np.array_equal(out[:, mask], x[:, mask])
        assert inj.code_values == (7, 100, 255)

    def test_decode_takes_the_nearest_code(self) -> None:
        inj = si.OnePixel(4, values=(0.0, 0.25, 0.5, 0.75))
        out = inj(np.zeros((4, 2, 2, 3), np.float32), np.arange(4))
        out[:, 0, 0, 0] += 0.3  # one channel of three: the mean moves by 0.1 < 0.125
        assert inj.decode(out).tolist() == [0, 1, 2, 3]
        out[:, 0, 0, :] += 0.1  # now the mean moved by 0.2 > 0.125: the next code
        assert inj.decode(out).tolist() == [1, 2, 3, 3]

    def test_rejects_at_call(self) -> None:
        x = np.zeros((2, 8, 8, 1), np.uint8)
        y = np.array([0, 1])
        outside = si.OnePixel(2, position=(8, 0))
        msg = r"position \(8, 0\) lies outside the image of height 8 and width 8"
        check_rejects(outside, x, y, ValueError, msg)
        check_rejects(outside, to_torch(x), torch.from_numpy(y), ValueError, msg)
        with pytest.raises(ValueError, match=msg):
            outside.decode(x)
        big = si.OnePixel(2, values=(0, 300))
        msg = r"values must be integers in \[0, 255\] to fit the image dtype uint8, got 300"
        check_rejects(big, x, y, ValueError, msg)
        with pytest.raises(ValueError, match=msg):
            big.decode(x)
        check_rejects(
            si.OnePixel(2, values=(0, 1.5)), x, y, ValueError, r"values must be integers .*got 1.5"
        )
        check_rejects(
            si.OnePixel(2, values=(-1, 1)), x, y, ValueError, r"values must be integers .*got -1"
        )
        check_rejects(
            si.OnePixel(2, values=(2048, 2049)),
            x.astype(np.float16),
            y,
            ValueError,
            r"values \(2048, 2049\) are not distinct once stored as float16",
        )
        check_rejects(
            si.OnePixel(2, values=(0, 1e6)),
            x.astype(np.float16),
            y,
            ValueError,
            r"values must be numbers in \[-65504, 65504\] to fit the image dtype float16",
        )

    @pytest.mark.parametrize(
        ("kwargs", "exc", "match"),
        [
            ({"values": (0, math.nan)}, ValueError, r"values must hold finite numbers, got nan"),
            ({"values": (0, math.inf)}, ValueError, r"values must hold finite numbers, got inf"),
            (
                {"values": (0, 1, 2)},
                ValueError,
                r"values must hold one code per class \(2\), got 3",
            ),
            ({"values": (5, 5)}, ValueError, r"values must be distinct .*got \(5, 5\)"),
            ({"values": "ab"}, TypeError, r"values must be a sequence of numbers, got 'ab'"),
            ({"values": (0, None)}, TypeError, r"values must hold numbers, got None"),
            ({"position": (1,)}, TypeError, r"position must be a \(row, column\) pair"),
            ({"position": "ab"}, TypeError, r"position must be a \(row, column\) pair"),
            ({"position": (1.5, 0)}, TypeError, r"position\[0\] must be an integer, got 1.5"),
            ({"position": (0, -1)}, ValueError, r"position\[1\] must be in \[0, inf\], got -1"),
        ],
    )
    def test_rejects_at_construction(
        self, kwargs: dict[str, Any], exc: type[Exception], match: str
    ) -> None:
        with pytest.raises(exc, match=match):
            si.OnePixel(2, **kwargs)


class TestPatternPixels:
    @pytest.mark.parametrize("backend", ["numpy", "torch"])
    def test_paper_encoding(self, backend: str) -> None:
        # bit j of y at corner j: top-left, top-right, bottom-left, bottom-right; on 1, off 0
        y = np.arange(16)
        x, yy = on(backend, np.full((16, 5, 7, 2), 128, np.uint8), y)
        out = to_numpy(si.PatternPixels(16)(x, yy))
        out = from_torch(torch.from_numpy(out)) if backend == "torch" else out
        corners = [(0, 0), (0, 6), (4, 0), (4, 6)]
        for j, (r, c) in enumerate(corners):
            assert (out[:, r, c, :] == ((y >> j) & 1)[:, None]).all()
            out[:, r, c] = 128
        assert (out == 128).all()

    def test_positions_and_values(self) -> None:
        inj = si.PatternPixels(8, positions=[(2, 2), (0, 3), (1, 1)], on_value=200, off_value=20)
        y = np.arange(8)
        out = inj(np.zeros((8, 3, 4, 1), np.uint8), y)
        for j, (r, c) in enumerate([(2, 2), (0, 3), (1, 1)]):
            assert out[:, r, c, 0].tolist() == np.where((y >> j) & 1, 200, 20).tolist()
        assert inj.positions == ((2, 2), (0, 3), (1, 1))
        assert inj.decode(out).tolist() == y.tolist()

    def test_capacity_is_two_to_the_number_of_pixels(self) -> None:
        assert si.PatternPixels(16).num_classes == 16
        with pytest.raises(ValueError, match=r"num_classes=17 exceeds the signal's capacity of 16"):
            si.PatternPixels(17)
        assert si.PatternPixels(8, positions=[(0, 0), (0, 1), (0, 2)]).num_classes == 8
        with pytest.raises(ValueError, match=r"num_classes=9 exceeds the signal's capacity of 8"):
            si.PatternPixels(9, positions=[(0, 0), (0, 1), (0, 2)])

    def test_decode_reads_bits_beyond_k_on_unmarked_images(self) -> None:
        # documented: without the signal the bits are whatever the pixels hold
        inj = si.PatternPixels(10)
        assert inj.decode(np.ones((1, 4, 4, 1), np.uint8)).tolist() == [15]

    def test_rejects_at_call(self) -> None:
        y = np.array([0, 1])
        check_rejects(
            si.PatternPixels(4),
            np.zeros((2, 1, 5, 1), np.uint8),
            y,
            ValueError,
            r"the default corner positions coincide in an image of height 1 and width 5",
        )
        x = np.zeros((2, 4, 4, 3), np.uint8)
        check_rejects(
            si.PatternPixels(2, positions=[(0, 0), (4, 1)]),
            x,
            y,
            ValueError,
            r"positions \(4, 1\) lies outside the image of height 4 and width 4",
        )
        check_rejects(
            si.PatternPixels(2, on_value=300),
            x,
            y,
            ValueError,
            r"on_value/off_value must be integers in \[0, 255\] .*uint8, got 300",
        )

    @pytest.mark.parametrize(
        ("kwargs", "exc", "match"),
        [
            ({"positions": []}, ValueError, r"positions must hold at least one"),
            ({"positions": [(0, 0), (0, 0)]}, ValueError, r"positions must be distinct"),
            ({"positions": 5}, TypeError, r"positions must be a sequence of \(row, column\) pairs"),
            ({"positions": [(0, 0), (1,)]}, TypeError, r"positions\[1\] must be a \(row, column\)"),
            ({"positions": [(0, -2)]}, ValueError, r"positions\[0\]\[1\] must be in \[0, inf\]"),
            ({"on_value": 3, "off_value": 3}, ValueError, r"on_value and off_value must differ"),
            ({"on_value": math.nan}, ValueError, r"on_value must hold finite numbers, got nan"),
            ({"off_value": "0"}, TypeError, r"off_value must hold numbers, got '0'"),
        ],
    )
    def test_rejects_at_construction(
        self, kwargs: dict[str, Any], exc: type[Exception], match: str
    ) -> None:
        with pytest.raises(exc, match=match):
            si.PatternPixels(2, **kwargs)


class TestRandomPixel:
    def test_one_pixel_at_the_drawn_location(self) -> None:
        inj = si.RandomPixel(10, seed=6)
        rng = np.random.default_rng(0)
        x = 0.5 + rng.random((50, 6, 5, 3))  # no code value 0..9 occurs naturally
        y = rng.integers(0, 10, 50)
        index = rng.choice(10**6, 50, replace=False)
        out = inj(x, y, index=index)
        r, c = inj.locations(index, 6, 5)
        expected = x.copy()
        expected[np.arange(50), r, c, :] = y[:, None]
        assert np.array_equal(out, expected)

    def test_location_is_uniform_and_keyed_by_seed_and_index(self) -> None:
        n = 32_000
        r, c = si.RandomPixel(2, seed=1).locations(np.arange(n), 4, 4)
        counts = np.bincount(r * 4 + c, minlength=16)
        assert np.all(np.abs(counts - n / 16) < 5 * math.sqrt(n / 16 * 15 / 16)), counts
        r2, c2 = si.RandomPixel(2, seed=2).locations(np.arange(n), 4, 4)
        assert ((r2 != r) | (c2 != c)).mean() > 0.9  # another seed, other locations
        rs, cs = si.RandomPixel(2, seed=1).locations(np.arange(n)[::-3], 4, 4)
        assert np.array_equal(rs, r[::-3])
        assert np.array_equal(cs, c[::-3])

    def test_blind_decode_on_a_background_without_codes(self) -> None:
        inj = si.RandomPixel(10)
        y = np.random.default_rng(1).integers(0, 10, 100)
        out = inj(np.full((100, 8, 8, 3), 200, np.uint8), y)
        assert inj.decode(out).tolist() == y.tolist()
        # a background of one code value is a run, not a singleton: still read right
        out = inj(np.full((100, 8, 8, 3), 4, np.uint8), y)
        assert inj.decode(out).tolist() == y.tolist()
        # no code value anywhere: class 0
        assert inj.decode(np.full((2, 4, 4, 1), 200, np.uint8)).tolist() == [0, 0]

    def test_blind_decode_is_ambiguous_when_a_code_occurs_naturally(self) -> None:
        # A natural singleton of code 5 ties with the written 7; ties go to the lower class.
        inj = si.RandomPixel(10)
        x = np.full((1, 8, 8, 1), 200, np.uint8)
        r, c = inj.locations(np.array([0]), 8, 8)
        x[0, (int(r[0]) + 1) % 8, int(c[0])] = 5
        out = inj(x, np.array([7]))
        assert inj.decode(out).tolist() == [5]
        assert inj.decode(out, index=np.array([0])).tolist() == [7]  # the index resolves it

    def test_blind_decode_on_random_images(self) -> None:
        inj = si.RandomPixel(10)
        rng = np.random.default_rng(2)
        y = rng.integers(0, 10, 500)
        out = inj(images(rng, (500, 32, 32, 3)), y)
        assert (inj.decode(out) == y).mean() >= 0.99

    def test_rejects_at_call(self) -> None:
        x = np.zeros((2, 4, 4, 1), np.uint8)
        y = np.array([0, 1])
        msg = r"values must be integers in \[0, 255\] to fit the image dtype uint8, got 256"
        check_rejects(si.RandomPixel(2, values=(0, 256)), x, y, ValueError, msg)
        with pytest.raises(ValueError, match=msg):
            si.RandomPixel(2, values=(0, 256)).decode(x)
        with pytest.raises(ValueError, match=r"index must have shape \(2,\)"):
            si.RandomPixel(2).decode(x, index=[0, 1, 2])

    def test_rejects_at_construction(self) -> None:
        with pytest.raises(ValueError, match=r"values must hold finite numbers, got nan"):
            si.RandomPixel(2, values=(math.nan, 1))
        with pytest.raises(ValueError, match=r"values must hold one code per class \(3\), got 2"):
            si.RandomPixel(3, values=(0, 1))


class TestMultipleLocations:
    def test_encoding(self) -> None:
        inj = si.MultipleLocations(10, seed=3)
        rng = np.random.default_rng(0)
        x = rng.random((30, 8, 8, 3)).astype(np.float32)
        y = rng.integers(0, 10, 30)
        out = inj(x, y)
        pairs = np.asarray(default_pairs(10, 8, 8))[y]
        n = np.arange(30)
        a, b = out[n, pairs[:, 0], pairs[:, 1]], out[n, pairs[:, 2], pairs[:, 3]]
        assert np.array_equal(a, b)  # both pixels of the class's pair: one value ...
        assert (a == a[:, :1]).all()  # ... in every channel ...
        assert len(np.unique(a[:, 0])) == 30  # ... drawn per sample ...
        assert (a >= 0).all()
        assert (a < 1).all()  # ... from [0, 1) for float images
        expected = x.copy()
        expected[n, pairs[:, 0], pairs[:, 1]] = a
        expected[n, pairs[:, 2], pairs[:, 3]] = a
        assert np.array_equal(out, expected)  # and nothing else changes

    def test_value_range(self) -> None:
        y = np.zeros(3000, np.int64)
        out = si.MultipleLocations(2)(np.zeros((3000, 4, 4, 1), np.uint8), y)
        v = out[:, 0, 0, 0]
        assert v.min() == 0
        assert v.max() == 255
        assert len(np.unique(v)) == 256  # every value of the default range occurs
        out = si.MultipleLocations(2, value_range=(10, 12))(
            np.zeros((300, 4, 4, 1), np.int16), y[:300]
        )
        assert set(out[:, 0, 0, 0].tolist()) == {10, 11, 12}

    @settings(max_examples=200, deadline=None)
    @given(h=st.integers(1, 40), w=st.integers(1, 40), data=st.data())
    def test_default_pairs_are_disjoint_border_pixels_far_apart(
        self, h: int, w: int, data: st.DataObject
    ) -> None:
        border = 2 * (h + w) - 4 if min(h, w) > 1 else h * w
        if border // 2 < 2:
            with pytest.raises(ValueError, match=r"has room for \d default pairs"):
                default_pairs(2, h, w)
            return
        k = data.draw(st.integers(2, border // 2))
        pairs = default_pairs(k, h, w)
        pixels = [(p[0], p[1]) for p in pairs] + [(p[2], p[3]) for p in pairs]
        assert len(set(pixels)) == 2 * k  # disjoint pairs, two distinct pixels each
        assert all(r in (0, h - 1) or c in (0, w - 1) for r, c in pixels)
        assert all(0 <= r < h and 0 <= c < w for r, c in pixels)
        dist = [math.hypot(p[0] - p[2], p[1] - p[3]) for p in pairs]
        assert min(dist) >= min(h, w) - 1

    @pytest.mark.parametrize("channels", [1, 3])
    def test_decode_on_random_uint8_images(self, channels: int) -> None:
        inj = si.MultipleLocations(10)
        rng = np.random.default_rng(1)
        y = rng.integers(0, 10, 2000)
        out = inj(images(rng, (2000, 32, 32, channels)), y)
        assert (inj.decode(out) == y).mean() >= 0.9

    def test_decode_prefers_the_rare_value_on_flat_images(self) -> None:
        # every pair of a flat image is equal, but only the written one at a rare value
        inj = si.MultipleLocations(10)
        y = np.arange(200) % 10
        out = inj(np.zeros((200, 8, 8, 1), np.uint8), y)
        r, c = np.asarray(inj.pixel_pairs(8, 8))[y, :2].T
        written = out[np.arange(200), r, c, 0]
        ok = inj.decode(out) == y
        assert ok[written != 0].all()
        assert (~ok).sum() == (written == 0).sum() - (y[written == 0] == 0).sum()

    def test_decode_is_ambiguous_when_the_value_is_the_background(self) -> None:
        # the drawn value equals the flat background: nothing tells the pairs apart, class 0 wins
        inj = si.MultipleLocations(10, value_range=(0, 0))
        out = inj(np.zeros((20, 8, 8, 1), np.uint8), np.arange(20) % 10)
        assert (inj.decode(out) == 0).all()

    def test_rejects_at_call(self) -> None:
        y = np.array([0, 1])
        check_rejects(
            si.MultipleLocations(7),
            np.zeros((2, 4, 4, 1), np.uint8),
            y,
            ValueError,
            r"height 4 and width 4 has room for 6 default pairs, but num_classes=7",
        )
        x = np.zeros((2, 4, 4, 1), np.uint8)
        check_rejects(
            si.MultipleLocations(2, pairs=[((0, 0), (1, 1)), ((0, 1), (4, 0))]),
            x,
            y,
            ValueError,
            r"pairs \(4, 0\) lies outside the image of height 4 and width 4",
        )
        check_rejects(
            si.MultipleLocations(2, value_range=(0, 300)),
            x,
            y,
            ValueError,
            r"value_range must be integers in \[0, 255\] .*uint8, got 300",
        )
        check_rejects(
            si.MultipleLocations(2, value_range=(0, 2**40)),
            x.astype(np.int64),
            y,
            ValueError,
            r"value_range must span fewer than 2\*\*31 integers",
        )

    @pytest.mark.parametrize(
        ("kwargs", "exc", "match"),
        [
            (
                {"pairs": [((0, 0), (1, 1))]},
                ValueError,
                r"pairs must hold one pair per class \(2\)",
            ),
            (
                {"pairs": [((0, 0), (1, 1)), ((2, 2), (2, 2))]},
                ValueError,
                r"pairs\[1\] must be two different pixels",
            ),
            (
                {"pairs": [((0, 0), (1, 1)), ((1, 1), (0, 0))]},
                ValueError,
                r"pairs must be distinct, one per class",
            ),
            (
                {"pairs": [((0, 0), (1, 1)), (0, 1, 2)]},
                TypeError,
                r"pairs\[1\] must be \(\(r1, c1\)",
            ),
            (
                {"pairs": [((0, 0), (1, 1)), (0, 1)]},
                TypeError,
                r"pairs\[1\]\[0\] must be a \(row, column\) pair of integers, got 0",
            ),
            ({"pairs": 3}, TypeError, r"pairs must be a sequence of \(\(r1, c1\), \(r2, c2\)\)"),
            (
                {"pairs": [((0, 0), (1, 1)), ((0, -1), (1, 1))]},
                ValueError,
                r"pairs\[1\]\[0\]\[1\] must be in \[0, inf\], got -1",
            ),
            ({"value_range": (3, 1)}, ValueError, r"value_range must be \(low, high\) with low"),
            ({"value_range": (0, 1, 2)}, ValueError, r"value_range must be \(low, high\)"),
            ({"value_range": (math.nan, 1)}, ValueError, r"value_range must hold finite numbers"),
        ],
    )
    def test_rejects_at_construction(
        self, kwargs: dict[str, Any], exc: type[Exception], match: str
    ) -> None:
        with pytest.raises(exc, match=match):
            si.MultipleLocations(2, **kwargs)


class TestOrthogonalNoise:
    def test_lives_in_image_noise_and_keeps_its_0_1_0_names(self) -> None:
        """The noise family moved to ``signalinject.image_noise``: the old import path, the
        0.1.0 config key, the registry name, the stream and pickles are unchanged."""
        import pickle

        from signalinject import image, image_noise

        assert image.OrthogonalNoise is image_noise.OrthogonalNoise is si.OrthogonalNoise
        assert image.orthogonal_noise_basis is image_noise.orthogonal_noise_basis
        assert image.NoiseParams is image_noise.NoiseParams
        old = {"__class_fullname__": "signalinject.image.OrthogonalNoise", "num_classes": 3}
        inj = si.from_config(old)
        assert type(inj) is si.OrthogonalNoise
        assert si.get_signal("orthogonal_noise") is si.OrthogonalNoise
        assert inj.stream == 0x08A38740
        assert inj.get_config()["name"] == "orthogonal_noise"
        assert pickle.loads(pickle.dumps(inj)) == inj
        # a pickle of 0.1.0 names the class by its old path
        new_path = b"signalinject.image_noise\nOrthogonalNoise\n"
        old_pickle = pickle.dumps(inj, protocol=0).replace(new_path, new_path[:18] + new_path[24:])
        assert b"signalinject.image\nOrthogonalNoise\n" in old_pickle
        assert pickle.loads(old_pickle) == inj
        with pytest.raises(AttributeError, match=r"module 'signalinject.image' has no attribute"):
            image.NoSuchName  # noqa: B018

    def test_declares_its_noise_images_for_displays(self) -> None:
        inj = si.OrthogonalNoise(4, seed=3)
        np.testing.assert_array_equal(
            inj.class_noise((6, 5, 2)), si.orthogonal_noise_basis(4, (6, 5, 2), seed=3)
        )
        for other in (si.OnePixel(4), si.Blend(4), si.RandomPixel(4)):
            assert other.class_noise((6, 5, 2)) is None  # shown by their code pixels

    def test_basis_is_orthonormal_and_zero_mean(self) -> None:
        b = si.orthogonal_noise_basis(10, (8, 8, 3), seed=5)
        assert b.shape == (10, 8, 8, 3)
        assert b.dtype == np.float64
        flat = b.reshape(10, -1)
        assert np.abs(flat @ flat.T - np.eye(10)).max() < 1e-12
        assert np.abs(flat.sum(1)).max() < 1e-12
        assert not b.flags.writeable
        assert np.array_equal(si.orthogonal_noise_basis(10, [8, 8, 3], seed=5), b)
        other = si.orthogonal_noise_basis(10, (8, 8, 3), seed=6)
        assert np.abs(other - b).max() > 0.1
        dense = np.abs(flat) > 1e-6
        assert dense.mean() > 0.99  # dense: essentially every element carries noise

    def test_float64_adds_the_scaled_basis_at_the_asked_rms(self) -> None:
        inj = si.OrthogonalNoise(10, strength=0.05, seed=1)
        rng = np.random.default_rng(0)
        x = rng.random((6, 8, 8, 3))
        y = rng.integers(0, 10, 6)
        added = inj(x, y) - x
        basis = si.orthogonal_noise_basis(10, (8, 8, 3), seed=1)
        assert np.abs(added - 0.05 * math.sqrt(192) * basis[y]).max() < 1e-12
        rms = np.sqrt((added**2).reshape(6, -1).mean(1))
        assert np.allclose(rms, 0.05, rtol=1e-9)

    def test_default_strength(self) -> None:
        inj = si.OrthogonalNoise(3)
        assert inj.rms(np.zeros(1, np.uint8)) == pytest.approx(7.65)
        assert inj.rms(torch.zeros(1, dtype=torch.int16)) == pytest.approx(7.65)
        assert inj.rms(np.zeros(1, np.float32)) == 0.03
        added = inj(np.full((4, 8, 8, 3), 0.5), np.arange(4) % 3) - 0.5
        assert np.allclose(np.sqrt((added**2).reshape(4, -1).mean(1)), 0.03, rtol=1e-9)

    def test_float32_adds_in_float32(self) -> None:
        inj = si.OrthogonalNoise(4, strength=0.1)
        x = np.random.default_rng(1).random((4, 5, 5, 2)).astype(np.float32)
        y = np.arange(4)
        noise = (si.orthogonal_noise_basis(4, (5, 5, 2)) * 0.1 * math.sqrt(50)).astype(np.float32)
        assert np.array_equal(inj(x, y), x + noise[y])

    def test_integer_images_round_and_saturate(self) -> None:
        inj = si.OrthogonalNoise(4, strength=20.0)
        noise = si.orthogonal_noise_basis(4, (8, 8, 1)) * 20.0 * 8.0
        y = np.arange(4)
        out = inj(np.full((4, 8, 8, 1), 128, np.uint8), y)
        assert np.array_equal(out.astype(np.int64) - 128, np.rint(noise[y]).astype(np.int64))
        out = inj(np.full((4, 8, 8, 1), 250, np.uint8), y)
        expected = np.clip(250 + np.rint(noise[y]), 0, 255)
        assert np.array_equal(out, expected.astype(np.uint8))
        assert (out[noise[y] > 5.5] == 255).all()  # saturated, not wrapped around

    def test_int64_saturates_exactly_at_the_limits(self) -> None:
        inj = si.OrthogonalNoise(2, strength=3.0)
        noise = np.rint(si.orthogonal_noise_basis(2, (4, 4, 1)) * 3.0 * 4.0).astype(np.int64)
        hi, lo = np.iinfo(np.int64).max, np.iinfo(np.int64).min
        y = np.array([0, 1])
        top = inj(np.full((2, 4, 4, 1), hi, np.int64), y)
        assert np.array_equal(top, np.where(noise[y] >= 0, hi, hi + np.minimum(noise[y], 0)))
        bottom = inj(np.full((2, 4, 4, 1), lo, np.int64), y)
        assert np.array_equal(bottom, np.where(noise[y] <= 0, lo, lo + np.maximum(noise[y], 0)))
        mid = inj(np.full((2, 4, 4, 1), 2**62 + 1, np.int64), y)
        assert np.array_equal(mid - (2**62 + 1), noise[y])  # exact far beyond 2**53

    def test_same_pixel_same_noise_whatever_the_layout(self) -> None:
        inj = si.OrthogonalNoise(5, strength=0.2)
        x = np.random.default_rng(2).random((5, 6, 4, 3))
        y = np.arange(5)
        out = inj(x, y)
        assert np.array_equal(from_torch(inj(to_torch(x), torch.from_numpy(y))), out)
        assert np.array_equal(inj(torch.from_numpy(x), y, channels_last=True).numpy(), out)

    @settings(max_examples=60, deadline=None)
    @given(
        dtype=st.sampled_from(DTYPES),
        hwc=st.tuples(st.integers(1, 8), st.integers(1, 8), st.integers(1, 3)),
        seed=st.integers(0, 2**64 - 1),
        data=st.data(),
    )
    def test_decode_is_exact_on_constant_images(
        self, dtype: str, hwc: tuple[int, int, int], seed: int, data: st.DataObject
    ) -> None:
        d = hwc[0] * hwc[1] * hwc[2]
        if d < 3:
            return
        k = data.draw(st.integers(2, min(d - 1, 16)))
        inj = si.OrthogonalNoise(k, seed=seed)
        level = 128 if np.dtype(dtype).kind in "iu" else 0.5  # away from saturation
        y = np.arange(2 * k) % k
        out = inj(np.full((2 * k, *hwc), level, dtype), y)
        assert inj.decode(out).tolist() == y.tolist()

    def test_decode_on_random_uint8_images(self) -> None:
        inj = si.OrthogonalNoise(10)
        rng = np.random.default_rng(3)
        y = rng.integers(0, 10, 1000)
        out = inj(images(rng, (1000, 32, 32, 3)), y)
        assert (inj.decode(out) == y).mean() >= 0.99

    def test_rejects_at_call(self) -> None:
        y = np.array([0, 1])
        check_rejects(
            si.OrthogonalNoise(4),
            np.zeros((2, 2, 2, 1), np.float32),
            y,
            ValueError,
            r"num_classes=4 needs images of more than 4 elements, got shape \(2, 2, 1\)",
        )
        check_rejects(
            si.OrthogonalNoise(2),
            np.zeros((2, 4, 4, 1), np.uint64),
            y,
            TypeError,
            r"OrthogonalNoise does not support images of dtype uint64",
        )

    @pytest.mark.parametrize(
        ("strength", "exc", "match"),
        [
            (0.0, ValueError, r"strength must be > 0, got 0.0"),
            (-1, ValueError, r"strength must be > 0, got -1"),
            (math.nan, ValueError, r"strength must hold finite numbers, got nan"),
            ("big", TypeError, r"strength must hold numbers, got 'big'"),
        ],
    )
    def test_rejects_at_construction(self, strength: Any, exc: type[Exception], match: str) -> None:
        with pytest.raises(exc, match=match):
            si.OrthogonalNoise(2, strength=strength)

    def test_basis_rejects(self) -> None:
        with pytest.raises(TypeError, match=r"shape must be \(H, W, C\), three positive integers"):
            si.orthogonal_noise_basis(2, (4, 4))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"shape\[2\] must be in \[1, inf\], got 0"):
            si.orthogonal_noise_basis(2, (4, 4, 0))
        with pytest.raises(ValueError, match=r"num_classes must be in \[2, inf\], got 1"):
            si.orthogonal_noise_basis(1, (4, 4, 1))
        with pytest.raises(ValueError, match=r"needs images of more than 3 elements"):
            si.orthogonal_noise_basis(3, (1, 1, 3))


# -- the errors every injector raises, before anything is written ---------------------------------
CALL_ERRORS = [
    ("label-too-big", lambda x, y: (x, y + 10), ValueError, r"y must hold labels in \[0, \d+\]"),
    ("label-negative", lambda x, y: (x, y - 5), ValueError, r"y must hold labels .*got -\d"),
    (
        "label-float",
        lambda x, y: (x, y.to(torch.float32) if isinstance(y, torch.Tensor) else y * 1.0),
        TypeError,
        r"y must hold integers, got",
    ),
    ("label-count", lambda x, y: (x, y[:3]), ValueError, r"y must have shape \(4,\).*got \(3,\)"),
    ("no-channel-axis", lambda x, y: (x[..., 0], y), ValueError, r"channel axis is required"),
    (
        "one-image-no-channel",
        lambda x, y: (x[0, ..., 0], 1),
        ValueError,
        r"images must be one image .* for an integer label.*channel axis is required",
    ),
    ("int-label-batch", lambda x, y: (x, 1), ValueError, r"images must be one image"),
    (
        "meta-labels",
        lambda x, y: (x, torch.zeros(4, dtype=torch.int64, device="meta")),
        (TypeError, ValueError),
        r"y is (a torch tensor )?on meta",
    ),
    ("bool-label", lambda x, y: (x[0], True), TypeError, r"y must be an integer label, got True"),
    ("list-images", lambda x, y: (x.tolist(), y), TypeError, r"images must be a numpy.ndarray"),
    (
        "bool-images",
        lambda x, y: (x > 0, y),
        TypeError,
        r"images must have an integer or floating dtype, got (torch\.)?bool",
    ),
]


@pytest.mark.parametrize("inj", DEFAULTS, ids=name)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [pytest.param(*e[1:], id=e[0]) for e in CALL_ERRORS],
)
def test_call_rejects(inj: Any, backend: str, make: Any, exc: Any, match: str) -> None:
    x0, y0 = on(backend, np.full((4, 8, 8, 3), 100, np.uint8), np.array([0, 1, 2, 3]))
    x, y = make(x0, y0)
    if not isinstance(x, np.ndarray | torch.Tensor):
        with pytest.raises(exc, match=match):
            inj(x, y)
        return
    check_rejects(inj, x, y, exc, match)


@pytest.mark.parametrize("inj", DEFAULTS, ids=name)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_index_rejects(inj: Any, backend: str) -> None:
    x, y = on(backend, np.full((4, 8, 8, 3), 100, np.uint8), np.array([0, 1, 2, 3]))
    check_rejects(inj, x, y, ValueError, r"index must have shape \(4,\)", index=[0, 1])
    check_rejects(inj, x, y, ValueError, r"index must be non-negative", index=[0, 1, -2, 3])
    check_rejects(inj, x, y, TypeError, r"index must hold integers", index=[0.0, 1, 2, 3])
    check_rejects(inj, x[0], 1, ValueError, r"index must be in \[0, inf\], got -1", index=-1)
    check_rejects(
        inj, x, y, TypeError, r"channels_last must be True, False or None", channels_last=1
    )
    with pytest.raises(ValueError, match=r"images must be a batch .* or one image"):
        inj.decode(x[0, 0])


def test_torch_labels_on_another_device_than_torch_images() -> None:
    x = torch.zeros(2, 1, 4, 4)
    y = torch.zeros(2, dtype=torch.int64, device="meta")
    check_rejects(si.OnePixel(2), x, y, ValueError, r"y is on meta but the data is on cpu")


def test_inplace_rejects_read_only_arrays() -> None:
    x = np.zeros((2, 4, 4, 1), np.uint8)
    x.setflags(write=False)
    with pytest.raises(ValueError, match=r"inplace=True needs a writeable x, got a read-only"):
        si.OnePixel(2)(x, [0, 1], inplace=True)
    assert si.OnePixel(2)(x, [0, 1])[1, 0, 0, 0] == 1  # a copy is fine


# -- CUDA (skipped without a CUDA device) ----------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.parametrize("inj", ALL, ids=name)
@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_and_cuda_agree(inj: Any, dtype: str) -> None:
    rng = np.random.default_rng(7)
    x = images(rng, (33, 16, 16, 3), dtype)
    y = rng.integers(0, inj.num_classes, 33)
    index = rng.choice(10**9, 33, replace=False)
    out = inj(x, y, index=index)
    xc = to_torch(x).cuda()
    out_c = inj(xc, torch.from_numpy(y).cuda(), index=torch.from_numpy(index).cuda())
    assert out_c.device == xc.device
    assert out_c.dtype == xc.dtype
    assert np.array_equal(from_torch(out_c), out)
    kw = decode_kw(inj, index)
    dec_c = inj.decode(out_c, **kw)
    assert dec_c.device == xc.device
    assert np.array_equal(dec_c.cpu().numpy(), inj.decode(out, **kw))
    # NumPy labels are accepted with CUDA images; CPU tensor labels are not
    assert np.array_equal(from_torch(inj(xc, y, index=index)), out)
    with pytest.raises(ValueError, match=r"y is on cpu but the data is on cuda"):
        inj(xc, torch.from_numpy(y), index=index)
