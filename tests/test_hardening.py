"""Injector-level hardening (issue 13): no write through overlapping memory, no half-way writes,
capacity before allocation, no silent wrong results. One regression test per case."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import signalinject as si
from checks import assert_same, clone
from signalinject._backend import check_writable

# float test images under the default value range with class-number codes: the
# range warning (issue 28) is expected there.
pytestmark = pytest.mark.filterwarnings("ignore::signalinject.ranges.ValueRangeWarning")

Y4 = [3, 1, 4, 1]


# -- (a) overlapping memory ----------------------------------------------------------------------
def _overlapping() -> list[tuple[str, si.Injector, Any]]:
    codes = si.CharQuantizer(length=16).encode(["abc"], dtype=np.int64)[0]
    q = si.CharQuantizer(length=16)
    return [
        ("torch-expand", si.OnePixel(10), torch.zeros(1, 3, 8, 8).expand(4, 3, 8, 8)),
        (
            "numpy-as_strided",
            si.OnePixel(10),
            np.lib.stride_tricks.as_strided(
                np.zeros((8, 8, 3), np.uint8), (4, 8, 8, 3), (0, 24, 3, 1), writeable=True
            ),
        ),
        ("noise-expand", si.OrthogonalNoise(10), torch.zeros(1, 1, 8, 8).expand(4, 1, 8, 8)),
        (
            "text-codes-as_strided",
            si.Mnemonic(10, quantizer=q),
            np.lib.stride_tricks.as_strided(codes, (4, 16), (0, 8), writeable=True),
        ),
        ("text-codes-expand", si.PatternChar(4, positions=(1, 5), quantizer=q),
         torch.from_numpy(codes).expand(4, 16)),
    ]  # fmt: skip


@pytest.mark.parametrize(("inj", "x"), [c[1:] for c in _overlapping()],
                         ids=[c[0] for c in _overlapping()])  # fmt: skip
def test_inplace_into_overlapping_memory_is_refused(inj: si.Injector, x: Any) -> None:
    y = np.array(Y4) % inj.num_classes
    before = x.copy() if isinstance(x, np.ndarray) else x.clone()  # a dense copy
    with pytest.raises(ValueError, match=r"inplace=True needs x whose elements do not share mem"):
        inj(x, y, inplace=True)
    with pytest.raises(ValueError, match=r"do not share memory"):
        si.Compose([inj])(x, y, inplace=True)
    assert_same(np.asarray(x) if isinstance(x, np.ndarray) else x, before)
    out = inj(x, y)  # not in place: a fresh copy, every sample its own signal
    assert out.shape == x.shape


def test_the_expanded_tensor_of_the_issue_is_refused() -> None:
    x = torch.zeros(1, 3, 8, 8).expand(4, 3, 8, 8)
    with pytest.raises(ValueError, match=r"strides \(0, 64, 8, 1\) \(an expanded or broadcast"):
        si.OnePixel(10)(x, torch.tensor(Y4), inplace=True)
    assert si.OnePixel(10).decode(si.OnePixel(10)(x, torch.tensor(Y4))).tolist() == Y4


@pytest.mark.parametrize(
    "x",
    [
        np.zeros((4, 8, 8, 3))[:, ::2, 1::3],  # sliced
        np.zeros((4, 3, 8, 8)).transpose(0, 2, 3, 1),  # transposed
        torch.zeros(4, 3, 8, 8)[1:, :, 2:],  # sliced tensor
        torch.zeros(4, 3, 8, 8).to(memory_format=torch.channels_last),
        np.zeros((1, 8, 8, 3)),  # a stride-0-free batch of one
        torch.zeros(1, 3, 8, 8).expand(1, 3, 8, 8),  # expanded, but to size 1: no overlap
    ],
)
def test_views_without_overlap_are_written_in_place(x: Any) -> None:
    check_writable(x)
    n = x.shape[0]
    y = list(range(n))
    out = si.OnePixel(10)(clone(x), y)
    assert si.OnePixel(10)(x, y, inplace=True) is x
    assert_same(x, out)


def test_read_only_arrays_are_refused() -> None:
    x = np.zeros((2, 4, 4, 1), np.uint8)
    x.setflags(write=False)
    with pytest.raises(ValueError, match=r"inplace=True needs a writeable x, got a read-only"):
        si.Compose([si.OnePixel(2)])(x, [0, 1], inplace=True)


# -- (b) no half-way writes ----------------------------------------------------------------------
def test_compose_on_texts_validates_every_child_before_any_writes() -> None:
    texts = ["abc", "def"]
    with pytest.raises(
        ValueError, match=r"y must hold labels in \[0, 3\] \(num_classes=4\), got 7"
    ):
        si.Compose([si.Mnemonic(10), si.PatternChar(4)])(texts, [7, 1], inplace=True)
    assert texts == ["abc", "def"]
    ok = si.Compose([si.Mnemonic(10), si.PatternChar(4, positions=(1, 2))])
    expected = ok(texts, [3, 1])
    assert ok(texts, [3, 1], inplace=True) is texts
    assert texts == expected


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_compose_on_arrays_refusing_late_leaves_x(backend: str) -> None:
    x: Any = np.zeros((2, 4, 4, 1), np.uint8)
    if backend == "torch":
        x = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    c = si.Compose([si.OnePixel(10), si.OnePixel(10, position=(9, 9))])
    with pytest.raises(ValueError, match=r"position \(9, 9\) lies outside the image"):
        c(x, [7, 1], inplace=True)
    assert int(x.sum()) == 0


# -- (c) capacity before allocation --------------------------------------------------------------
def test_capacity_is_checked_before_anything_grows_with_num_classes() -> None:
    x = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match=r"RandomPixel: num_classes=1099511627776 exceeds the "):
        si.RandomPixel(2**40)(x, [0, 1])
    with pytest.raises(ValueError, match=r"num_classes=300 needs the codes 0\.\.299, but images "
                       r"of dtype uint8 hold distinct integers only up to 255"):  # fmt: skip
        si.RandomPixel(300)(x, [0, 1])
    with pytest.raises(ValueError, match=r"dtype float16 hold distinct integers only up to 2048"):
        si.OnePixel(3000)(x.astype(np.float16), [0, 1])
    assert si.OnePixel(3000)(x.astype(np.float32), [0, 2999])[1, 0, 0, 0] == 2999
    with pytest.raises(ValueError, match=r"fidelity < 1 draws wrong classes among num_classes, "):
        si.PatternChar(2**32, positions=tuple(range(40)), fidelity=0.5)
    with pytest.raises(
        ValueError, match=r"has room for 14 default pairs, but num_classes=1099511627776"
    ):
        si.MultipleLocations(2**40)(x, [0, 1])
    with pytest.raises(ValueError, match=r"needs images of more than 1099511627776 elements"):
        si.OrthogonalNoise(2**40)(x, [0, 1])


# -- (d) silent wrong results --------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize(
    "inj", [si.OnePixel(4), si.PatternPixels(4), si.RandomPixel(4), si.MultipleLocations(4),
            si.OrthogonalNoise(4)], ids=lambda i: type(i).__name__)  # fmt: skip
def test_decode_refuses_nan(inj: si.Injector, backend: str) -> None:
    x: Any = np.zeros((2, 8, 8, 1), np.float32)
    x[1, 3, 3, 0] = np.nan
    if backend == "torch":
        x = torch.from_numpy(x).permute(0, 3, 1, 2)
    with pytest.raises(ValueError, match=r"decode: the images hold NaN"):
        inj.decode(x)
    with pytest.raises(ValueError, match=r"decode: the images hold NaN"):
        inj.decode(x[1])


@pytest.mark.parametrize(("dtype", "strength"), [(np.float16, 1e5), (np.float32, 1e300)])
def test_noise_that_overflows_the_dtype_is_refused(dtype: Any, strength: float) -> None:
    x = np.zeros((2, 8, 8, 1), dtype)
    inj = si.OrthogonalNoise(4, strength=strength)
    with pytest.raises(ValueError, match=r"the images would hold inf; pass a smaller strength"):
        inj(x, [0, 1])
    with pytest.raises(ValueError, match=r"the images would hold inf"):
        inj(torch.from_numpy(x).permute(0, 3, 1, 2), torch.tensor([0, 1]))
    assert np.isfinite(si.OrthogonalNoise(4, strength=1000.0)(x, [0, 1])).all()


def test_value_range_whose_width_overflows_is_refused() -> None:
    with pytest.raises(ValueError, match=r"value_range must have a finite width \(high - low\)"):
        si.MultipleLocations(4, value_range=(-1e308, 1e308))


@pytest.mark.parametrize(
    "y",
    [np.array([1.0, 2.0]), [1.0, 2.0], torch.tensor([1.0, 2.0]), np.array([True, False])],
    ids=["numpy", "list", "torch", "bool"],
)
def test_float_labels_are_refused(y: Any) -> None:
    x = np.zeros((2, 8, 8, 1), np.uint8)
    with pytest.raises(TypeError, match=r"y must hold integers, got (a tensor of )?dtype"):
        si.OnePixel(4)(x, y)
    with pytest.raises(TypeError, match=r"y must hold integers"):
        si.Mnemonic(4)(["a", "b"], y)
    with pytest.raises(TypeError, match=r"y must be an integer label, got 2\.0 \(float\)"):
        si.OnePixel(4)(x[0], 2.0)


@pytest.mark.parametrize("inj", [si.OnePixel(4), si.Mnemonic(4)], ids=["image", "text"])
def test_labels_of_shape_n_1_are_blamed(inj: si.Injector) -> None:
    x: Any = np.zeros((2, 8, 8, 1), np.uint8) if inj.kind == "image" else ["a", "b"]
    with pytest.raises(ValueError, match=r"y must have shape \(2,\), one label per sample of x, "
                       r"got \(2, 1\)"):  # fmt: skip
        inj(x, np.array([[1], [2]]))


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    data=st.data(),
)
def test_overlap_check_accepts_every_view_of_dense_memory(shape: list[int], data: Any) -> None:
    a = np.zeros(shape, np.int16)
    view = a.transpose(data.draw(st.permutations(range(len(shape)))))
    steps = tuple(slice(None, None, data.draw(st.sampled_from([1, 2, -1]))) for _ in shape)
    view = view[steps]
    check_writable(view)  # a view of dense memory never overlaps itself
    check_writable(torch.from_numpy(view.copy()).transpose(0, -1))
    axis = data.draw(st.integers(0, len(shape) - 1))
    grown = list(view.shape)
    grown[axis] = 2 if view.shape[axis] == 1 else grown[axis]
    broadcast = np.broadcast_to(view[(slice(None),) * axis + (slice(0, 1),)], grown)
    if grown[axis] > 1:  # a stride-0 axis of size > 1: every step reads the same memory
        with pytest.raises(ValueError, match=r"read-only|do not share memory"):
            check_writable(broadcast)
        with pytest.raises(ValueError, match=r"do not share memory"):
            check_writable(torch.from_numpy(view.copy()).narrow(axis, 0, 1)
                           .expand(*grown))  # fmt: skip


def test_a_frame_length_that_would_allocate_gigabytes_is_refused() -> None:
    with pytest.raises(ValueError, match=r"length must be in \[1, 16777216\], got 1099511627776"):
        si.CharQuantizer(length=2**40)
    assert si.CharQuantizer(length=2**24).length == 2**24


# -- a layout is never guessed against the shape -------------------------------------------------
@pytest.mark.parametrize("make", [si.OnePixel, si.OrthogonalNoise, si.ClassPatch])
def test_a_shape_that_contradicts_the_default_layout_is_refused(make: Any) -> None:
    inj = make(10)
    y = np.array([3, 1])
    nhwc = torch.zeros(2, 32, 32, 3, dtype=torch.uint8)  # a channels-last batch in torch
    msg = r"a torch tensor of shape \(2, 32, 32, 3\) looks \(\.\.\., H, W, C\) \(3 channels\)"
    with pytest.raises(ValueError, match=msg):
        inj(nhwc, torch.from_numpy(y))
    with pytest.raises(ValueError, match=msg):
        inj.decode(nhwc)
    nchw = np.zeros((2, 3, 32, 32), np.uint8)  # a channels-first batch in NumPy
    with pytest.raises(
        ValueError, match=r"looks \(\.\.\., C, H, W\) \(3 channels\).*channels_last"
    ):
        inj(nchw, y)
    # said explicitly, either layout is taken as it is, and both give the same bits
    a = inj(nhwc, torch.from_numpy(y), channels_last=True)
    b = inj(nhwc.permute(0, 3, 1, 2), torch.from_numpy(y))
    assert torch.equal(a.permute(0, 3, 1, 2), b)
    assert inj.decode(a, channels_last=True).tolist() == [3, 1]
