"""``photo_digits``: determinism, shapes, balance, the train/test separation (source digits and
photo regions), the documented composite rule, and that every signal can be read back from it."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_sample_images

import signalinject as si
from signalinject.benchmarks.photo_digits import (
    PHOTO_DIGITS,
    PhotoDigits,
    load_photo_digits,
    photo_regions,
)
from signalinject.benchmarks.signals import make_injector

#: sha256 of the default set (x, y, sources and crops of both splits, in field order).
DIGEST = "cbadbd02b7b59debfd438234ce553be246a30b72b7b284f17f25e47402ab6c6f"


@pytest.fixture(scope="module")
def data() -> PhotoDigits:
    return load_photo_digits()


def _digest(d: PhotoDigits) -> str:
    h = hashlib.sha256()
    for a in (d.x_train, d.y_train, d.x_test, d.y_test):
        h.update(a.tobytes())
    return h.hexdigest()


def test_pinned_bytes(data: PhotoDigits) -> None:
    photos = hashlib.sha256(b"".join(im.tobytes() for im in load_sample_images().images))
    assert _digest(data) == DIGEST, (
        "photo_digits changed: every stored result on it is stale. If the code did not change, "
        f"the photographs decode differently here (their sha256: {photos.hexdigest()})"
    )


def test_deterministic(data: PhotoDigits) -> None:
    again = load_photo_digits()
    for a, b in zip(data, again, strict=True):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b


def test_shapes_and_dtypes(data: PhotoDigits) -> None:
    assert data.x_train.shape == (3200, 32, 32, 3)
    assert data.x_test.shape == (1000, 32, 32, 3)
    assert data.x_train.dtype == data.x_test.dtype == np.uint8
    assert data.x_train.flags.c_contiguous
    assert data.x_test.flags.c_contiguous
    for a, n in ((data.y_train, 3200), (data.y_test, 1000), (data.source_train, 3200)):
        assert a.dtype == np.int64
        assert a.shape == (n,)
    assert data.crop_train.shape == (3200, 3)
    assert data.crop_test.shape == (1000, 3)
    assert "photographs" in data.description
    assert "3200 train" in data.description


def test_balanced_classes(data: PhotoDigits) -> None:
    assert np.bincount(data.y_train, minlength=10).tolist() == [320] * 10
    assert np.bincount(data.y_test, minlength=10).tolist() == [100] * 10


def test_split_by_source_digit(data: PhotoDigits) -> None:
    target = load_digits().target
    assert not set(data.source_train.tolist()) & set(data.source_test.tolist())
    np.testing.assert_array_equal(data.y_train, target[data.source_train])
    np.testing.assert_array_equal(data.y_test, target[data.source_test])
    # the digits' split: within each class, in file order, every 4th digit is a test digit
    for c in range(10):
        members = np.flatnonzero(target == c)
        assert set(data.source_test[data.y_test == c].tolist()) == set(members[3::4].tolist())
        train = data.source_train[data.y_train == c]
        assert set(train.tolist()) == set(members.tolist()) - set(members[3::4].tolist())
        uses = np.unique(train, return_counts=True)[1]
        assert uses.max() - uses.min() <= 1  # reused evenly over crops and shifts


def test_crops_from_disjoint_photo_regions(data: PhotoDigits) -> None:
    photos = load_sample_images().images
    width = photos[0].shape[1]
    assert photo_regions(width, 32) == {"train": (0, 288), "test": (320, 608)}
    for crop, (lo, hi) in (
        (data.crop_train, (0, width // 2)),
        (data.crop_test, (width // 2, width)),
    ):
        assert set(np.unique(crop[:, 0]).tolist()) == {0, 1}  # both photographs
        assert (crop[:, 2] >= lo).all()
        assert (crop[:, 2] + 32 <= hi).all()
        assert (crop[:, 1] >= 0).all()
        assert (crop[:, 1] + 32 <= photos[0].shape[0]).all()


def test_values_stay_clear_of_codes_and_saturation(data: PhotoDigits) -> None:
    low, high = PHOTO_DIGITS["low"], PHOTO_DIGITS["high"]
    assert (low, high) == (16, 239)
    for x in (data.x_train, data.x_test):
        assert int(x.min()) == low
        assert int(x.max()) == high
    # natural-image statistics: every hue, not a grey set
    assert (data.x_train != data.x_train[..., :1]).any(-1).mean() > 0.9


def test_composite_rule(data: PhotoDigits) -> None:
    """Images 0..49 of each split rebuilt from their digit and crop by the documented rule:
    ``16 + round(|crop - digit| * 223 / 255)`` for one shift in -3..3 on each axis."""
    digits = load_digits().images.astype(np.int64)
    photos = load_sample_images().images
    for x, src, crop in (
        (data.x_train, data.source_train, data.crop_train),
        (data.x_test, data.source_test, data.crop_test),
    ):
        for i in range(50):
            big = ((digits[src[i]] * 255 + 8) // 16).repeat(4, 0).repeat(4, 1)
            p, r, c = crop[i]
            patch = photos[p][r : r + 32, c : c + 32].astype(np.int64)
            found = 0
            for dy in range(-3, 4):
                for dx in range(-3, 4):
                    glyph = np.zeros((32, 32), np.int64)
                    src_rows = slice(max(0, -dy), min(32, 32 - dy))
                    dst_rows = slice(max(0, dy), min(32, 32 + dy))
                    src_cols = slice(max(0, -dx), min(32, 32 - dx))
                    dst_cols = slice(max(0, dx), min(32, 32 + dx))
                    glyph[dst_rows, dst_cols] = big[src_rows, src_cols]
                    comp = np.abs(patch - glyph[..., None])
                    want = 16 + np.floor(comp * 223 / 255 + 0.5).astype(np.int64)
                    found += bool((want == x[i]).all())
            assert found >= 1, f"image {i} is not its digit over its crop at any shift"


@pytest.mark.parametrize(
    "signal",
    [
        "one_pixel",
        "pattern_pixels",
        "random_pixel",
        "multiple_locations",
        "orthogonal_noise",
        "one_pixel_shortcut",
        "class_patch",
        "blend",
    ],
)
def test_every_signal_decodes_blind(data: PhotoDigits, signal: str) -> None:
    """Each signal's blind decode (no index, as the benchmark computes it) on the injected test
    split: >= 99% (the paper's five signals are exact here: no code value occurs naturally)."""
    inj = make_injector(signal, 10, 0, kind="image")
    assert inj is not None
    inj = inj.fit(data.x_train, data.y_train)
    index = np.arange(3200, 4200, dtype=np.int64)
    decoded = np.asarray(inj.decode(inj(data.x_test, data.y_test, index=index)))
    assert (decoded == data.y_test).mean() >= 0.99


def test_no_code_value_occurs_naturally(data: PhotoDigits) -> None:
    """Why the random pixel decodes: no pixel of the data is grey 0..9 (a paper code)."""
    inj = si.RandomPixel(num_classes=10)
    for x in (data.x_train, data.x_test):
        grey = (x == x[..., :1]).all(-1)
        assert not (grey & (x[..., 0] < 10)).any()
        # blind decode of the clean data finds no code: class 0, the empty answer, everywhere
        assert (np.asarray(inj.decode(x[:200])) == 0).all()


def test_other_sizes() -> None:
    d = load_photo_digits(n_train=100, n_test=50)
    assert d.x_train.shape == (100, 32, 32, 3)
    assert d.x_test.shape == (50, 32, 32, 3)
    assert np.bincount(d.y_train).tolist() == [10] * 10
    assert np.bincount(d.y_test).tolist() == [5] * 10


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_train": 3205}, ValueError, "n_train must be a multiple of 10"),
        ({"n_test": 0}, ValueError, r"n_test must be in \[10, 10000\], got 0"),
        ({"n_train": 40000}, ValueError, r"n_train must be in \[10, 32000\]"),
        ({"n_test": 100.0}, TypeError, "n_test must be an integer"),
        ({"n_train": True}, TypeError, "n_train must be an integer"),
    ],
)
def test_bad_sizes(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        load_photo_digits(**kwargs)  # type: ignore[arg-type]
