"""The counter-based hash and the NumPy/torch dispatch helpers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from signalinject._backend import (
    CpuRoute,
    _mix32,
    arange_like,
    as_index,
    block_bytes,
    cpu_route,
    empty_like_host,
    gate,
    hash_u32,
    mark_written,
    numpy_view,
    randint,
    to_backend,
    uniform01,
    where,
)

M32 = 0xFFFFFFFF


# A reference written independently of the module: plain Python ints, full products reduced
# mod 2**32 (the module splits products into 16-bit halves to stay inside int64).
def ref_mix32(x: int) -> int:
    x ^= x >> 16
    x = (x * 0x7FEB352D) & M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & M32
    return x ^ (x >> 16)


def ref_hash(index: int, seed: int, stream: int, counter: int) -> int:
    golden = 0x9E3779B9
    k = ref_mix32((seed & M32) ^ golden)
    k = ref_mix32(k ^ (seed >> 32))
    k = ref_mix32(k ^ (stream & M32))
    k = ref_mix32(k ^ (counter & M32))
    h = ref_mix32((index & M32) ^ k)
    h = ref_mix32(h ^ (index >> 32) ^ golden)
    return ref_mix32(h ^ k)


def test_mix_is_a_bijection_on_32_bit_lanes() -> None:
    # lowbias32 maps 0 to 0 and distinct words to distinct words (no lost entropy).
    xs = np.unique(np.random.default_rng(0).integers(0, 2**32, 50_000))
    mixed = _mix32(np.concatenate([[0], xs]))
    assert mixed[0] == 0
    assert len(np.unique(mixed[1:])) == len(xs)
    assert mixed.max() < 2**32


indices = st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=20)
seeds = st.integers(0, 2**64 - 1)
small = st.integers(0, 2**32 - 1)


@settings(max_examples=60, deadline=None)
@given(idx=indices, seed=seeds, stream=small, counter=small)
def test_hash_matches_reference_on_numpy_and_torch(
    idx: list[int], seed: int, stream: int, counter: int
) -> None:
    expected = [ref_hash(i, seed, stream, counter) for i in idx]
    h_np = hash_u32(np.asarray(idx, np.int64), seed, stream, counter)
    h_t = hash_u32(torch.tensor(idx, dtype=torch.int64), seed, stream, counter)
    assert h_np.dtype == np.int64
    assert h_t.dtype == torch.int64
    assert h_np.tolist() == expected
    assert h_t.tolist() == expected


def test_hash_keeps_shape_and_range() -> None:
    idx = np.arange(24, dtype=np.int64).reshape(2, 3, 4)
    h = hash_u32(idx, 1, 2, 3)
    assert h.shape == (2, 3, 4)
    assert h.min() >= 0
    assert h.max() < 2**32
    assert torch.equal(hash_u32(torch.from_numpy(idx), 1, 2, 3), torch.from_numpy(h))


def test_every_input_bit_changes_the_hash() -> None:
    base = np.int64(123456789)
    flipped = np.asarray([base ^ np.int64(1 << b) for b in range(63)], np.int64)
    h0 = int(hash_u32(np.asarray([base]), 0, 0, 0)[0])
    assert (hash_u32(flipped, 0, 0, 0) != h0).all()  # index bits, low and high words
    one = np.asarray([base])
    for b in (0, 31, 32, 63):  # seed bits in both 32-bit halves
        assert int(hash_u32(one, 1 << b, 0, 0)[0]) != h0
    assert int(hash_u32(one, 0, 1, 0)[0]) != h0  # stream
    assert int(hash_u32(one, 0, 0, 1)[0]) != h0  # counter


def test_hash_avalanche() -> None:
    # Flipping one input bit flips each output bit with probability ~1/2.
    idx = np.random.default_rng(1).integers(0, 2**62, 4000)
    a = hash_u32(idx, 7, 8, 9)
    b = hash_u32(idx ^ 1, 7, 8, 9)
    flips = np.unpackbits((a ^ b).astype(">u4").view(np.uint8)).reshape(-1, 32).mean(0)
    assert np.all(np.abs(flips - 0.5) < 0.05), flips


def test_randint_range_and_uniformity() -> None:
    n, bound = 100_000, 10
    r = randint(np.arange(n), bound, 3, 4, 5)
    assert r.dtype == np.int64
    assert r.min() == 0
    assert r.max() == bound - 1
    counts = np.bincount(r, minlength=bound)
    sigma = np.sqrt(n * (1 / bound) * (1 - 1 / bound))
    assert np.all(np.abs(counts - n / bound) < 5 * sigma), counts
    assert (randint(np.arange(100), 1, 3, 4, 5) == 0).all()


@pytest.mark.parametrize("bound", [0, -1, 2**31])
def test_randint_rejects_bound(bound: int) -> None:
    with pytest.raises(ValueError, match=rf"bound must be in \[1, 2\*\*31\), got {bound}"):
        randint(np.arange(3), bound, 0, 0, 0)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.97, 1.0])
def test_gate_fraction(p: float) -> None:
    n = 50_000
    g = gate(np.arange(n), p, 11, 12, 13)
    assert g.dtype == np.bool_
    if p in (0.0, 1.0):
        assert g.mean() == p  # exact at the ends
    else:
        assert abs(g.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    assert torch.equal(gate(torch.arange(n), p, 11, 12, 13), torch.from_numpy(g))


def test_uniform01() -> None:
    u = uniform01(np.arange(100_000), 0, 1, 2)
    assert u.dtype == np.float64
    assert u.min() >= 0.0
    assert u.max() < 1.0
    assert np.all(u * 2**32 == np.floor(u * 2**32))  # exact multiples of 2**-32
    assert abs(u.mean() - 0.5) < 0.005
    ut = uniform01(torch.arange(100_000), 0, 1, 2)
    assert ut.dtype == torch.float64
    assert np.array_equal(ut.numpy(), u)


def test_arange_like_and_where() -> None:
    assert arange_like(4, np.zeros(1)).tolist() == [0, 1, 2, 3]
    t = arange_like(3, torch.zeros(1))
    assert isinstance(t, torch.Tensor)
    assert t.dtype == torch.int64
    assert where(np.array([True, False]), 1, 2).tolist() == [1, 2]
    assert where(torch.tensor([False, True]), torch.tensor(1), torch.tensor(2)).tolist() == [2, 1]


@pytest.mark.parametrize(
    "values",
    [
        [3, 1],
        np.array([3, 1], np.uint8),
        np.array([3, 1], np.int16),
        np.array([3, 1], np.uint64),
        torch.tensor([3, 1], dtype=torch.uint8),
        torch.tensor([3, 1], dtype=torch.int32),
    ],
    ids=["list", "uint8", "int16", "uint64", "torch-uint8", "torch-int32"],
)
@pytest.mark.parametrize("like", [np.zeros(1), torch.zeros(1)], ids=["numpy", "torch"])
def test_to_backend_any_integer_dtype(values: object, like: object) -> None:
    out = to_backend(values, like, name="y")  # type: ignore[arg-type]
    assert type(out) is type(like)
    assert out.tolist() == [3, 1]
    assert out.dtype in (np.int64, torch.int64)


def test_as_index_default_and_values() -> None:
    assert as_index(None, 3, np.zeros(1)).tolist() == [0, 1, 2]
    got = as_index(np.array([5, 0], np.uint16), 2, torch.zeros(1))
    assert isinstance(got, torch.Tensor)
    assert got.tolist() == [5, 0]
    assert as_index([], 0, np.zeros(1)).shape == (0,)


@pytest.mark.parametrize(
    ("index", "like", "exc", "match"),
    [
        ([1, 2, 3], np.zeros(1), ValueError, r"index must have shape \(2,\).*got shape \(3,\)"),
        ([[1, 2]], np.zeros(1), ValueError, r"index must have shape \(2,\).*got shape \(1, 2\)"),
        ([1, -4], np.zeros(1), ValueError, r"index must be non-negative, got minimum -4"),
        ([1.0, 2.0], np.zeros(1), TypeError, r"index must hold integers, got dtype float64"),
        ([True, False], np.zeros(1), TypeError, r"index must hold integers, got dtype bool"),
        (["a", "b"], np.zeros(1), TypeError, r"index must hold integers, got dtype <U1"),
        (
            torch.tensor([1.0, 2.0]),
            torch.zeros(1),
            TypeError,
            r"index must hold integers, got a tensor of dtype torch.float32",
        ),
        (
            torch.zeros(2, dtype=torch.int64, device="meta"),
            np.zeros(1),
            TypeError,
            r"index is a torch tensor on meta but the data is a NumPy array",
        ),
        (
            torch.zeros(2, dtype=torch.int64, device="meta"),
            torch.zeros(1),
            ValueError,
            r"index is on meta but the data is on cpu",
        ),
        (
            np.array([2**63, 1], np.uint64),
            np.zeros(1),
            ValueError,
            r"index must be below 2\*\*63, got 9223372036854775808",
        ),
    ],
    ids=[
        "too-long",
        "2-d",
        "negative",
        "float",
        "bool",
        "str",
        "torch-float",
        "meta-vs-numpy",
        "meta-vs-cpu",
        "uint64-huge",
    ],
)
def test_as_index_rejects(index: object, like: object, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        as_index(index, 2, like)  # type: ignore[arg-type]


@pytest.mark.cuda
def test_hash_identical_on_cuda() -> None:
    idx = np.random.default_rng(2).integers(0, 2**63 - 1, 100_000)
    for seed, stream, counter in [(0, 0, 0), (2**64 - 1, 12345, 17), (42, 2**32 - 1, 3)]:
        h_np = hash_u32(idx, seed, stream, counter)
        h_cuda = hash_u32(torch.from_numpy(idx).cuda(), seed, stream, counter)
        assert h_cuda.device.type == "cuda"
        assert np.array_equal(h_cuda.cpu().numpy(), h_np)
        u = uniform01(torch.from_numpy(idx).cuda(), seed, stream, counter).cpu().numpy()
        assert np.array_equal(u, uniform01(idx, seed, stream, counter))
        r = randint(torch.from_numpy(idx).cuda(), 1000, seed, stream, counter).cpu().numpy()
        assert np.array_equal(r, randint(idx, 1000, seed, stream, counter))


def test_numpy_view_shares_memory_or_declines() -> None:
    t = torch.zeros(2, 3, dtype=torch.int16).t()  # a strided view
    v = numpy_view(t)
    assert v is not None
    v[1, 0] = 7
    assert int(t[1, 0]) == 7  # the same memory
    arr = np.ones(3)
    assert numpy_view(arr) is arr
    assert numpy_view(torch.zeros(2, requires_grad=True)) is None
    assert numpy_view(torch.zeros(2, dtype=torch.bfloat16)) is None
    assert numpy_view(torch.zeros(2, dtype=torch.complex64).conj()) is None


def test_mark_written_bumps_the_autograd_version() -> None:
    t = torch.zeros(3)
    before = t._version
    mark_written(t)
    assert t._version == before + 1
    mark_written(np.zeros(3))  # nothing to tell for NumPy


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.zeros(2, 3, 4, 5, dtype=torch.uint8),
        lambda: torch.zeros(2, 3, 4, 5).contiguous(memory_format=torch.channels_last),
        lambda: torch.zeros(5, 1, 1, 3, dtype=torch.int64),
        lambda: torch.zeros(3, 7, dtype=torch.int16).t(),
    ],
)
def test_empty_like_host_has_the_layout_of_a_clone(make: Any) -> None:
    x = make()
    out = empty_like_host(x)
    assert out is not None
    assert type(out) is torch.Tensor
    assert (out.shape, out.dtype, out.stride()) == (x.shape, x.dtype, x.clone().stride())


def test_empty_like_host_declines_what_numpy_cannot_hold() -> None:
    assert empty_like_host(torch.zeros(2, 6)[:, ::2]) is None  # not dense
    assert empty_like_host(torch.zeros(2, dtype=torch.bfloat16)) is None
    assert empty_like_host(torch.zeros(0, 3)) is None

    class Sub(torch.Tensor):
        pass

    assert empty_like_host(torch.zeros(2).as_subclass(Sub)) is None


def test_cpu_route_switches_paths_and_restores() -> None:
    t = torch.zeros(3)
    assert numpy_view(t) is not None
    with cpu_route(tensor_views=False) as route:
        assert route == CpuRoute(tensor_views=False)
        assert numpy_view(t) is None
        assert block_bytes(123) == 123
        with cpu_route(block_bytes=7):
            assert block_bytes(123) == 7
            assert numpy_view(t) is None  # the outer change holds
        assert block_bytes(123) == 123
    assert numpy_view(t) is not None
    arr = np.zeros(2)
    with cpu_route(tensor_views=False):
        assert numpy_view(arr) is arr  # arrays are always their own view


def test_cpu_route_rejects() -> None:
    with (
        pytest.raises(TypeError, match=r"unexpected keyword argument 'blocks'"),
        cpu_route(blocks=1),
    ):
        pass
    with (
        pytest.raises(TypeError, match=r"tensor_views must be True or False, got 1"),
        cpu_route(tensor_views=1),
    ):
        pass
    with (
        pytest.raises(TypeError, match=r"block_bytes must be an integer or None, got 2.5"),
        cpu_route(block_bytes=2.5),
    ):
        pass
    with (
        pytest.raises(ValueError, match=r"block_bytes must be >= 1, got 0"),
        cpu_route(block_bytes=0),
    ):
        pass
