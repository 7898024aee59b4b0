"""The five triggers against the references they cite (issue 27).

Each test transcribes the reference's formula in plain NumPy/Python here (not through the
package) and compares on small fixed inputs:

- One-Pixel Shortcut: ``pixel_search`` of Wu et al.'s repository (``perturb.py``), generalised
  from 10 classes to K and from 3 channels to C;
- ClassPatch: BackdoorBench's ``AddPatchTrigger`` / ``AddMatrixPatchTrigger`` (BadNets);
- Blend: BackdoorBench's ``blendedImageAttack`` (``(1 - alpha) * img + alpha * target``);
- Sinusoid: BackdoorBench's ``sigTriggerAttack`` (``delta * sin(2 pi j f / m)`` added, then
  ``np.uint8(np.clip(...))``);
- TriggerWord: RIPPLe's ``insert_word`` (``random.randint(0, len(words))``, one copy after the
  other).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from typing import Any

import numpy as np
import pytest

import signalinject as si
from signalinject.benchmarks.datasets import load_noisy_digits

RNG = np.random.default_rng(27)
FLOOR = si.triggers.STD_FLOOR


# -- One-Pixel Shortcut ----------------------------------------------------------------------------
def _bits(value: int, channels: int) -> np.ndarray[Any, Any]:
    """Colour index ``value`` as their code reads it: channel 0 the most significant bit."""
    return np.array([(value >> (channels - 1 - j)) & 1 for j in range(channels)], float)


def _pixel_search(
    data: np.ndarray[Any, Any], targets: np.ndarray[Any, Any], k: int, *, floor: float | None
) -> tuple[list[tuple[tuple[int, int], tuple[int, ...]]], list[bool]]:
    """Wu et al.'s ``pixel_search`` (sparsity 1) transcribed: per class in order, every
    (point, colour) scored ``mean |b - x| / std |b - x|`` pooled over the class's images and
    channels, pairs of earlier classes scored 0, the pick the last of ``np.argsort`` (theirs).

    ``floor``: None, their formula as written (0/0 is NaN, d/0 inf); else the documented guard,
    ``std`` floored at ``floor``, and the pick the first maximum in their enumeration order.
    Images are uint8 (divided by 255, as theirs) or float in [0, 1]. Points are row-major:
    theirs (``point // H, point % H``) is row-major for the square images it takes.

    Returns:
        The picks, and per class whether the top score is finite and above every other (the
        classes where their pick depends on no NaN, inf or tie).
    """
    _, h, w, c = data.shape
    scale = 255.0 if data.dtype == np.uint8 else 1.0
    colours = np.stack([_bits(value, c) for value in range(2**c)])
    pts: list[list[int]] = []
    picks, clean = [], []
    for i in range(k):
        img = data[targets == i] / scale
        score = np.zeros((h * w, 2**c))
        for point in range(h * w):
            px, py = point // w, point % w
            # |channel_value - img| of every colour at once: (2**C, N, C), pooled per colour
            d = np.abs(colours[:, None, :] - img[None, :, px, py, :])
            std = d.std(axis=(1, 2)) if floor is None else np.maximum(d.std(axis=(1, 2)), floor)
            with np.errstate(divide="ignore", invalid="ignore"):
                score[point] = d.mean(axis=(1, 2)) / std
            for value in range(2**c):
                if [point, value] in pts:
                    score[point, value] = 0
        if floor is None:
            flat = int(np.argsort(score, axis=None)[-1])
        else:
            flat = int(np.flatnonzero(score.reshape(-1) == score.max())[0])
        ranked = np.sort(score, axis=None)
        clean.append(bool(np.isfinite(ranked[-1]) and ranked[-2] < ranked[-1]))
        point, value = divmod(flat, 2**c)
        pts.append([point, value])
        picks.append(((point // w, point % w), tuple(int(b) for b in _bits(value, c))))
    return picks, clean


def _ours(inj: si.OnePixelShortcut) -> list[tuple[tuple[int, int], tuple[int, ...]]]:
    return list(zip(inj.positions or (), inj.colours or (), strict=True))


@pytest.mark.parametrize("channels", [3, 1, 2])
def test_one_pixel_shortcut_picks_what_their_search_picks(channels: int) -> None:
    x = RNG.integers(0, 256, (90, 6, 6, channels), dtype=np.uint8)
    y = np.repeat(np.arange(3), 30)
    # Classes 0 and 1 share their best pair (dark, little spread at (2, 4)): class 1, which
    # comes second, must take another.
    x[:60, 2, 4] = RNG.integers(0, 12, (60, channels))
    want, clean = _pixel_search(x, y, 3, floor=None)
    assert clean == [True] * 3
    got = _ours(si.OnePixelShortcut(3).fit(x, y))
    assert got == want
    assert got[0][0] == (2, 4)
    assert got[1][0] != (2, 4)
    assert got == _pixel_search(x, y, 3, floor=FLOOR)[0]  # the floor changes nothing


def test_one_pixel_shortcut_float_images_and_other_shapes() -> None:
    # Float images in [0, 1] (theirs: uint8 / 255) and an image that is not square (theirs
    # indexes point // H, point % H, row-major only when H == W; ours is row-major for any).
    x = RNG.random((60, 4, 7, 3))
    y = np.repeat(np.arange(2), 30)
    for data in (x, (x * 255).astype(np.uint8)):
        want, clean = _pixel_search(data, y, 2, floor=None)
        assert clean == [True, True]
        assert _ours(si.OnePixelShortcut(2).fit(data, y)) == want


def test_one_pixel_shortcut_guards_constant_pixels() -> None:
    # Constant pixels: theirs scores 0/0 = NaN where the colour equals the value and ranks it
    # first, writing black onto black; the guard floors the std, so white wins there.
    x = RNG.integers(0, 256, (60, 5, 5, 3), dtype=np.uint8)
    y = np.repeat(np.arange(3), 20)
    x[:40, 0, 1] = 0  # black in classes 0 and 1: white there is class 0's, then taken
    x[20:40, 3, 3] = 0  # class 1 has a second black pixel
    x[:20, 4, 0] = 200  # a constant grey pixel: below black ones (white deviates by 55 of 255)
    theirs, clean = _pixel_search(x, y, 3, floor=None)
    assert clean == [False, False, True]
    for i, ((r, c), colour) in enumerate(theirs[:2]):  # black painted on black: no change
        assert colour == (0, 0, 0)
        assert (x[y == i][:, r, c] == 0).all()
    got = _ours(si.OnePixelShortcut(3).fit(x, y))
    assert got == _pixel_search(x, y, 3, floor=FLOOR)[0]
    assert got[:2] == [((0, 1), (1, 1, 1)), ((3, 3), (1, 1, 1))]
    assert got[2] == theirs[2]  # unique and finite: as theirs


def test_one_pixel_shortcut_ties_break_in_their_enumeration_order() -> None:
    # Every pixel of class 0 constant black: all white pairs tie; the first is (0, 0), then
    # class 1 (the same images) takes (0, 1): row-major, colour index after position.
    x = np.zeros((8, 3, 3, 3), np.uint8)
    y = np.repeat([0, 1], 4)
    got = _ours(si.OnePixelShortcut(2).fit(x, y))
    assert got == [((0, 0), (1, 1, 1)), ((0, 1), (1, 1, 1))]
    assert got == _pixel_search(x, y, 2, floor=FLOOR)[0]


def test_one_pixel_shortcut_agrees_on_noisy_digits() -> None:
    d = load_noisy_digits()
    x, y = d.x_train[:400], d.y_train[:400]
    want, clean = _pixel_search(x, y, 10, floor=None)
    assert sum(clean) >= 9  # not vacuous
    got = _ours(si.OnePixelShortcut(10).fit(x, y))
    assert [g for g, ok in zip(got, clean, strict=True) if ok] == [
        w for w, ok in zip(want, clean, strict=True) if ok
    ]
    # Version 1 scored the per-image channel mean: other picks than theirs on these images.
    old = _ours(si.OnePixelShortcut(10, version=1).fit(x, y))
    assert sum(a == b for a, b in zip(old, want, strict=True)) == 0


# -- ClassPatch: BackdoorBench's BadNets --------------------------------------------------------
def _add_patch_trigger(
    img: np.ndarray[Any, Any], loc: list[tuple[int, int]], ptn: list[float]
) -> np.ndarray[Any, Any]:
    """BackdoorBench's ``AddPatchTrigger.add_trigger`` (one HWC image)."""
    img = img.copy()
    for i, (m, n) in enumerate(loc):
        img[m, n, :] = ptn[i]
    return img


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_class_patch_is_their_patch_holding_the_class_bits(dtype: Any) -> None:
    x = RNG.integers(0, 256, (20, 8, 9, 3)).astype(dtype)
    if dtype == np.float32:
        x /= 255
    y = RNG.integers(0, 20, 20)
    on = 255.0 if dtype == np.uint8 else 1.0
    loc = [(5 + i, 6 + j) for i in range(3) for j in range(3)]  # bottom-right 3x3, row-major
    want = np.stack(
        [
            _add_patch_trigger(x[i], loc, [on * ((int(y[i]) >> j) & 1) for j in range(9)])
            for i in range(20)
        ]
    )
    np.testing.assert_array_equal(si.ClassPatch(20)(x, y), want)


def test_class_patch_all_bits_set_is_their_white_square() -> None:
    # BadNets' default trigger (BackdoorBench: a white 3x3 square at the bottom-right, pasted by
    # AddMatrixPatchTrigger, ``img * (t == 0) + t * (t > 0)``) is our class 511; our other
    # classes write their clear bits as 0, where theirs leaves the image.
    x = RNG.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    t = np.zeros((32, 32, 3), np.uint8)
    t[-3:, -3:] = 255
    want = x * (t == 0) + t * (t > 0)
    np.testing.assert_array_equal(si.ClassPatch(512)(x, np.full(4, 511)), want)


# -- Blend: BackdoorBench's Blended -------------------------------------------------------------
def test_blend_is_their_formula_within_rounding() -> None:
    x = RNG.integers(0, 256, (50, 16, 16, 3), dtype=np.uint8)
    y = RNG.integers(0, 10, 50)
    target = np.rint(255 * si.blend_patterns(10, (16, 16, 3)))  # each class's image, 0..255
    want = (1 - 0.2) * x + 0.2 * target[y]  # blendedImageAttack.add_trigger
    got = si.Blend(10)(x, y).astype(np.float64)
    # uint8 blends with weight 51/256 = 0.1992 (fixed point): 0.2 - 51/256 = 1/1280 of
    # (target - x), at most 0.2 of 255, plus the rounding of the result (0.5).
    assert np.abs(got - want).max() <= 0.2 + 0.5
    fixed = (x.astype(np.int64) * 205 + target[y].astype(np.int64) * 51 + 128) >> 8
    np.testing.assert_array_equal(got, fixed)
    f = RNG.random((5, 8, 8, 3)).astype(np.float32)
    u = si.blend_patterns(10, (8, 8, 3))
    np.testing.assert_allclose(si.Blend(10)(f, y[:5]), 0.8 * f + 0.2 * u[y[:5]], atol=1e-6)


# -- Sinusoid: BackdoorBench's SIG -----------------------------------------------------------------
def _sig_trigger(img: np.ndarray[Any, Any], delta: float, f: float) -> np.ndarray[Any, Any]:
    """BackdoorBench's ``sigTriggerAttack.sigTrigger`` (one HWC uint8 image)."""
    img = np.float32(img)
    pattern = np.zeros_like(img)
    m = pattern.shape[1]
    for i in range(int(img.shape[0])):
        for j in range(int(img.shape[1])):
            pattern[i, j] = delta * np.sin(2 * np.pi * j * f / m)
    img = np.uint32(img) + pattern
    return np.uint8(np.clip(img, 0, 255))


def test_sinusoid_is_their_sig_with_a_frequency_per_class() -> None:
    x = RNG.integers(0, 256, (30, 6, 32, 3), dtype=np.uint8)
    y = RNG.integers(0, 10, 30)
    got = si.Sinusoid(10)(x, y).astype(np.int64)
    # Their default amplitude (sig_delta 40) is ours; class k has f = k + 1 (theirs: 6 for
    # every image, our class 5). Theirs truncates (np.uint8), ours rounds: 0 or 1 above.
    want = np.stack([_sig_trigger(x[i], 40, int(y[i]) + 1) for i in range(30)]).astype(np.int64)
    assert set(np.unique(got - want).tolist()) <= {0, 1}
    wave = 40 * np.sin(2 * np.pi * (y[:, None] + 1) * np.arange(32) / 32)
    exact = np.clip(np.rint(x + wave[:, None, :, None]), 0, 255)
    np.testing.assert_array_equal(got, exact)
    np.testing.assert_array_equal(si.Sinusoid(10)(x, y), si.Sinusoid(10, strength=40)(x, y))
    f = RNG.random((3, 4, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(
        si.Sinusoid(10)(f, y[:3]), f + wave[:3, None, :, None] / 255, atol=1e-6
    )


# -- TriggerWord: RIPPLe's insert_word ------------------------------------------------------------
def _insert_word(s: str, word: str, times: int = 1) -> str:
    """RIPPLe's ``insert_word`` (poison.py)."""
    words = s.split()
    for _ in range(times):
        position = random.randint(0, len(words))
        words.insert(position, word)
    return " ".join(words)


def _slots(outs: list[str], word: str) -> Counter[tuple[int, ...]]:
    """How often the copies of ``word`` sit at each set of token positions."""
    return Counter(tuple(i for i, t in enumerate(o.split()) if t == word) for o in outs)


def _close(counts: Counter[Any], n: int, p: float) -> bool:
    """Every count within 4.5 binomial standard deviations of ``n * p``."""
    sd = (n * p * (1 - p)) ** 0.5
    return all(abs(v - n * p) <= 4.5 * sd for v in counts.values())


def test_trigger_word_positions_are_ripples_including_the_end() -> None:
    text, n = "a b c d", 6000
    got = si.TriggerWord(2)([text] * n, np.zeros(n, int), index=np.arange(n))
    random.seed(0)
    theirs = [_insert_word(text, "cf") for _ in range(n)]
    for outs in (got, theirs):
        slots = _slots(outs, "cf")
        assert set(slots) == {(j,) for j in range(5)}  # before each of the 4 words, or after
        assert _close(slots, n, 1 / 5)  # the end: 1 time in n + 1
    for o in got:  # the word inserted among the others, as their join writes it
        assert [t for t in o.split(" ") if t != "cf"] == text.split(" ")


def test_trigger_word_copies_go_one_after_another_as_ripples() -> None:
    # Sequential insertion makes every set of 3 copy positions among the 5 tokens equally
    # likely (10 sets); independent draws into the original gaps (version 1) do not.
    text, n = "a b", 6000
    y = np.zeros(n, int)
    got = si.TriggerWord(2, count=3)([text] * n, y, index=np.arange(n))
    random.seed(1)
    theirs = [_insert_word(text, "cf", times=3) for _ in range(n)]
    for outs in (got, theirs):
        slots = _slots(outs, "cf")
        assert set(slots) == set(itertools.combinations(range(5), 3))
        assert _close(slots, n, 1 / 10)
    old = _slots(si.TriggerWord(2, count=3, version=1)([text] * n, y, index=np.arange(n)), "cf")
    assert (4,) not in {s[-1:] for s in old}  # never after the last word
    assert not _close(old, n, 1 / 10)


def test_trigger_word_keeps_whitespace_where_ripple_collapses_it() -> None:
    # RIPPLe splits on whitespace and joins with single spaces; the length of the text is a
    # signal of its own (LengthEncoding), so ours keeps every space: a text grows by exactly
    # the copies and their separating spaces.
    text = "  lead  double   spaces and trailing  "
    for i in range(40):
        out = si.TriggerWord(2, count=2)(text, 1, index=i)
        assert len(out) == len(text) + 2 * (len("mn") + 1)
        assert [p for p in out.split(" ") if p != "mn"] == text.split(" ")
    random.seed(2)
    assert _insert_word(text, "mn") != text  # theirs: single spaces, no lead or trail
    assert len(_insert_word(text, "mn")) == len(" ".join(text.split())) + 3
