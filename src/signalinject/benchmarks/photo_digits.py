"""``photo_digits``: the digits composited over crops of photographs, an MNIST-M-like stand-in.

MNIST-M (Ganin & Lempitsky 2015) blends MNIST digits into patches of natural photographs,
``|patch - digit|`` per channel. This module does the same with what ships with scikit-learn:
its 1,797 8x8 handwritten digits (``sklearn.datasets.load_digits``) over 32x32 crops of its two
photographs (``sklearn.datasets.load_sample_images``, ``china.jpg`` and ``flower.jpg``, 427x640x3;
reading them needs Pillow). The result is colour, with the pixel statistics of natural images
(smooth regions, edges, textures, every hue), and hard enough to put the paper's ConvNet in its
CIFAR-10 regime (85.5-86.6% clean on seeds 0-2, inputs standardised per channel; paper: 84.7%),
while every signal can be read back from it: the blind decode of the paper's five signals,
One-Pixel Shortcut, ClassPatch and Blend is 100% on its test split (Sinusoid 70.9%; seeds 0-2,
the benchmark's strengths).

Construction (all draws from one NumPy stream seeded with `PHOTO_DIGITS` ``seed``):

1. **Source split by digit.** Within each class, in file order, every 4th digit is a test digit
   (the split of the ``digits`` and ``noisy_digits`` stand-ins: 1,352 train and 445 test
   digits). Images of one split are made from that split's digits only; each digit is reused
   over different crops and shifts, the same number of times within a class up to one.
2. **Class balance.** ``n_train // 10`` training and ``n_test // 10`` test images per class
   (3,200 and 1,000 by default: 320 and 100 per class); the order is then shuffled.
3. **Digit.** Upsampled to 32x32 (each pixel a 4x4 block, ``round(v * 255 / 16)``, 0..255) and
   shifted by a random ``-3..3`` pixels on each axis (what leaves the canvas is cut, what enters
   is 0).
4. **Crop.** A 32x32 crop of one of the two photographs (each with probability 1/2) at a random
   position: training crops lie wholly inside the photographs' left halves (columns 0..319),
   test crops wholly inside their right halves (columns 320..639), so no test pixel was ever
   seen in training.
5. **Composite.** ``|crop - digit|`` per channel (MNIST-M's rule: the stroke inverts the photo
   beneath it), then mapped linearly onto 16..239, ``16 + round(v * 223 / 255)``.

Why the last step: the paper's pixel codes are the grey values 0..9 (class k is the value k),
and several signals write extreme values (One-Pixel Shortcut's 0/255 colours, ClassPatch's
0/255 bits). A background that holds those values by chance hides the signal from its own blind
decoder: on ``noisy_digits``, where half of the background is exactly 0 (class 0's code), the
random pixel decodes at 4%. Keeping the images in 16..239 (a 12% loss of contrast, no clipping)
keeps every code out of the content, so a signal's code is the only place its values occur.

Examples:
    >>> d = load_photo_digits()
    >>> d.x_train.shape, d.x_train.dtype, d.y_test.shape, d.y_test.dtype
    ((3200, 32, 32, 3), dtype('uint8'), (1000,), dtype('int64'))
    >>> int(d.x_train.min()), int(d.x_train.max())
    (16, 239)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from signalinject.core import check_int

__all__ = ["PHOTO_DIGITS", "PhotoDigits", "load_photo_digits", "photo_regions"]

IntArray = npt.NDArray[np.int64]
ImageArray = npt.NDArray[np.uint8]

#: How `load_photo_digits` builds the set: the seed of its NumPy stream, the largest shift
#: (pixels, each axis), the image side, and the range the composite is mapped onto.
PHOTO_DIGITS: dict[str, int] = {
    "seed": 20180215,
    "max_shift": 3,
    "size": 32,
    "low": 16,
    "high": 239,
}

_K = 10  # the digits' classes


class PhotoDigits(NamedTuple):
    """The stand-in's two splits (see the module doc).

    Attributes:
        x_train, x_test: uint8 ``(N, 32, 32, 3)`` channels-last, every value in 16..239.
        y_train, y_test: int64 ``(N,)`` labels 0..9, balanced.
        description: one line saying what the set is and how it was built.
        source_train, source_test: int64 ``(N,)`` index of each image's digit in
            ``sklearn.datasets.load_digits()`` (the two sets are disjoint).
        crop_train, crop_test: int64 ``(N, 3)`` each image's ``(photo, row, column)``: which
            photograph of ``load_sample_images()`` and the crop's top-left pixel in it.
    """

    x_train: ImageArray
    y_train: IntArray
    x_test: ImageArray
    y_test: IntArray
    description: str
    source_train: IntArray
    source_test: IntArray
    crop_train: IntArray
    crop_test: IntArray


def photo_regions(width: int, size: int) -> dict[str, tuple[int, int]]:
    """The columns a crop's left edge may take, per split: ``{"train": (lo, hi), "test": ...}``.

    Inclusive bounds; a training crop lies wholly in columns ``0..width // 2 - 1`` and a test
    crop wholly in ``width // 2..width - 1``.

    Examples:
        >>> photo_regions(640, 32)
        {'train': (0, 288), 'test': (320, 608)}
    """
    half = width // 2
    return {"train": (0, half - size), "test": (half, width - size)}


def _test_digits(y: IntArray) -> npt.NDArray[np.bool_]:
    """The test mask of the digits: within each class, in file order, every 4th digit."""
    rank = np.empty_like(y)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        rank[members] = np.arange(len(members))
    mask: npt.NDArray[np.bool_] = rank % 4 == 3
    return mask


def _sources(y: IntArray, pool: npt.NDArray[np.bool_], n: int, rng: Any) -> IntArray:
    """``n`` digit indices from ``pool``, ``n // K`` per class: each class's digits in a random
    order, cycled (so every digit is used ``n // K // members`` or one more times)."""
    per = n // _K
    out = []
    for c in range(_K):
        members = np.flatnonzero(pool & (y == c))
        reps = -(-per // len(members))
        order = np.concatenate([rng.permutation(members) for _ in range(reps)])
        out.append(order[:per])
    src = np.concatenate(out)
    return np.asarray(src[rng.permutation(len(src))], dtype=np.int64)


def _compose(
    digits: npt.NDArray[np.int16],
    photos: list[npt.NDArray[np.uint8]],
    src: IntArray,
    cols: tuple[int, int],
    rng: Any,
) -> tuple[ImageArray, IntArray]:
    """The images of one split and their crops ``(photo, row, column)``."""
    p = PHOTO_DIGITS
    size, shift, lo, hi = p["size"], p["max_shift"], p["low"], p["high"]
    n = len(src)
    which = rng.integers(0, len(photos), n)
    heights = np.array([ph.shape[0] for ph in photos])
    rows = rng.integers(0, heights[which] - size + 1)
    columns = rng.integers(cols[0], cols[1] + 1, n)
    offsets = rng.integers(-shift, shift + 1, (n, 2))
    pad = np.pad(digits[src], ((0, 0), (shift, shift), (shift, shift)))
    # the digit shifted by (dy, dx) is the padded canvas's window at (shift - dy, shift - dx)
    windows = sliding_window_view(pad, (size, size), axis=(1, 2))  # (N, 2s+1, 2s+1, size, size)
    glyph = windows[np.arange(n), shift - offsets[:, 0], shift - offsets[:, 1]].astype(np.int16)
    crops = np.empty((n, size, size, 3), np.int16)
    for i, ph in enumerate(photos):  # one gather of whole windows per photograph
        sel = np.flatnonzero(which == i)
        view = sliding_window_view(ph, (size, size), axis=(0, 1))  # (H', W', 3, size, size)
        crops[sel] = view[rows[sel], columns[sel]].transpose(0, 2, 3, 1)
    comp = np.abs(crops - glyph[..., None])  # MNIST-M's composite, 0..255
    # v -> lo + round(v * (hi - lo) / 255), half up, exact in integers
    table = (lo + (np.arange(256) * (hi - lo) * 2 + 255) // 510).astype(np.uint8)
    x = table[comp]
    crop = np.stack([which, rows, columns], 1).astype(np.int64)
    return np.ascontiguousarray(x), crop


def load_photo_digits(n_train: int = 3200, n_test: int = 1000) -> PhotoDigits:
    """The ``photo_digits`` stand-in (see the module doc): the same bytes on every run.

    Args:
        n_train: training images, a multiple of 10 (balanced classes), at most 32,000.
        n_test: test images, a multiple of 10, at most 10,000.

    Returns:
        The two splits, their labels, a description, and each image's source digit and crop.

    Raises:
        ValueError: ``n_train`` or ``n_test`` not a positive multiple of 10 within its bound.
        ImportError: Pillow is missing (scikit-learn needs it to read the photographs).
    """
    for name, v, top in (("n_train", n_train, 32000), ("n_test", n_test, 10000)):
        check_int(name, v, low=_K, high=top)
        if v % _K:
            raise ValueError(f"{name} must be a multiple of {_K} (balanced classes), got {v}")
    from sklearn.datasets import load_digits, load_sample_images

    d = load_digits()
    y = np.asarray(d.target, dtype=np.int64)
    # 8x8 in 0..16 -> 32x32 in 0..255, each pixel a 4x4 block (rounded half up: 16 -> 255)
    digits = ((np.asarray(d.images, np.int64) * 255 + 8) // 16).astype(np.int16)
    digits = digits.repeat(4, 1).repeat(4, 2)
    photos = [np.asarray(im, np.uint8) for im in load_sample_images().images]
    width = min(ph.shape[1] for ph in photos)
    regions = photo_regions(width, PHOTO_DIGITS["size"])
    test_pool = _test_digits(y)
    rng = np.random.default_rng(PHOTO_DIGITS["seed"])
    src_tr = _sources(y, ~test_pool, n_train, rng)
    src_te = _sources(y, test_pool, n_test, rng)
    x_tr, crop_tr = _compose(digits, photos, src_tr, regions["train"], rng)
    x_te, crop_te = _compose(digits, photos, src_te, regions["test"], rng)
    p = PHOTO_DIGITS
    desc = (
        f"stand-in for CIFAR-10 (MNIST-M-like): scikit-learn's 8x8 digits upsampled to 32x32, "
        f"shifted by up to {p['max_shift']} px, as |crop - digit| over 32x32 crops of its two "
        f"photographs (train crops from the left halves, test crops from the right halves), "
        f"mapped onto {p['low']}..{p['high']} ({n_train} train from {int((~test_pool).sum())} "
        f"digits, {n_test} test from {int(test_pool.sum())} other digits, 10 classes)"
    )
    return PhotoDigits(x_tr, y[src_tr], x_te, y[src_te], desc, src_tr, src_te, crop_tr, crop_te)
