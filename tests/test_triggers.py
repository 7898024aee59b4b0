"""The signals beyond the paper (issue 16): OnePixelShortcut, ClassPatch, Blend, Sinusoid and
TriggerWord. The shared checker runs on them through the registry (tests/test_signals.py); here:
each one's correctness against a literal reference, its decode accuracy, bit-identity between
NumPy and torch, and one test per error."""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import signalinject as si
from checks import assert_same, check_signal
from signalinject._backend import cpu_route

RNG = np.random.default_rng(16)
X_U8 = RNG.integers(0, 256, (1000, 32, 32, 3), dtype=np.uint8)
Y10 = RNG.integers(0, 10, 1000)


def _nchw(x: np.ndarray[Any, Any]) -> torch.Tensor:
    return torch.from_numpy(x).permute(0, 3, 1, 2)


def _fitted(k: int = 10) -> si.OnePixelShortcut:
    return si.OnePixelShortcut(k).fit(X_U8, Y10 % k)


# -- every new signal ---------------------------------------------------------------------------
NEW = ["one_pixel_shortcut", "class_patch", "blend", "sinusoid", "trigger_word"]


@pytest.mark.parametrize("name", NEW)
def test_registered_and_checked(name: str) -> None:
    cls = si.get_signal(name)
    assert name in si.list_signals(cls.kind)
    assert not cls.default_grid  # the paper's grid stays the paper's
    check_signal(cls)


@pytest.mark.parametrize("name", list(si.list_signals()))
def test_declared_metadata_states_no_field_value_as_fact(name: str) -> None:
    # What a field sets (a patch's size, a position) is said as a default, never as a fact:
    # ClassPatch(size=2) does not write "a 3x3 patch".
    cls = si.get_signal(name)
    assert not re.search(r"\d", re.sub(r"\(default[^)]*\)", "", cls.writes)), cls.writes
    assert (cls.strength_scales is None) == (cls.paper_strength is None)


@pytest.mark.parametrize(
    ("make", "floor"),
    [
        (_fitted, 0.99),
        (lambda: si.ClassPatch(10), 1.0),
        (lambda: si.Blend(10), 0.95),
        (lambda: si.Sinusoid(10), 0.95),
    ],
)
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_decode_on_random_images(make: Any, floor: float, dtype: str) -> None:
    inj = make()
    x = X_U8 if dtype == "uint8" else X_U8.astype(np.float32) / 255
    acc = float((inj.decode(inj(x, Y10)) == Y10).mean())
    assert acc >= floor


@pytest.mark.parametrize(
    "make", [_fitted, lambda: si.ClassPatch(10), lambda: si.Blend(10), lambda: si.Sinusoid(10)]
)
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64, np.float16])
def test_numpy_and_torch_give_the_same_bits(make: Any, dtype: Any) -> None:
    inj = dataclasses.replace(make(), coverage=0.8, fidelity=0.9)
    x = X_U8[:64].astype(dtype)
    if np.issubdtype(dtype, np.floating):
        x = x / dtype(255)
    idx = np.arange(64) * 7 + 2**33
    a = inj(x, Y10[:64], index=idx)
    b = inj(_nchw(x), torch.from_numpy(Y10[:64]), index=torch.from_numpy(idx))
    np.testing.assert_array_equal(b.permute(0, 2, 3, 1).numpy(), a, strict=True)
    np.testing.assert_array_equal(inj.decode(a), inj.decode(b).numpy())


@pytest.mark.parametrize(
    "make", [_fitted, lambda: si.ClassPatch(10), lambda: si.Blend(10), lambda: si.Sinusoid(10)]
)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.float32, torch.bfloat16])
def test_torch_kernels_as_on_an_accelerator(make: Any, dtype: torch.dtype) -> None:
    # torch's own kernels (what CUDA runs) on the CPU: integers bit-identical to NumPy's; floats
    # within one rounding of the result (bfloat16: NumPy has none, compared to float32's)
    inj = dataclasses.replace(make(), coverage=0.8, fidelity=0.9)
    x = _nchw(X_U8[:64]).to(dtype)
    if dtype.is_floating_point:
        x = x / 255
    y = torch.from_numpy(Y10[:64])
    with cpu_route(tensor_views=False, block_bytes=4096):  # and several blocks
        got = inj(x, y)
    ref = inj(x if dtype != torch.bfloat16 else x.float(), y)
    if dtype.is_floating_point:
        tol = torch.finfo(dtype).eps
        torch.testing.assert_close(got.float(), ref.float(), atol=tol, rtol=tol)
    else:
        assert torch.equal(got, ref)
    assert torch.equal(inj.decode(got), inj.decode(ref))


def test_trigger_word_torch_kernels_as_on_an_accelerator() -> None:
    q = si.CharQuantizer(length=120)
    inj = si.TriggerWord(5, quantizer=q, seed=4, coverage=0.8)
    codes = torch.from_numpy(q.encode(_texts(50, seed=3), dtype=np.int64))
    y = torch.from_numpy(RNG.integers(0, 5, 50))
    with cpu_route(tensor_views=False):
        got = inj(codes, y)
        decoded = inj.decode(got)
    assert torch.equal(got, inj(codes, y))
    np.testing.assert_array_equal(decoded.numpy(), inj.decode(got.numpy()))


# -- OnePixelShortcut --------------------------------------------------------------------------
def test_one_pixel_shortcut_finds_the_most_deviating_pixel() -> None:
    # Class 0's images are bright at (2, 3) with little spread: black there deviates most.
    # Class 1's are dark at (5, 1): white there deviates most.
    x = np.full((40, 8, 8, 3), 128, np.uint8) + RNG.integers(0, 40, (40, 8, 8, 3), dtype=np.uint8)
    y = np.repeat([0, 1], 20)
    x[:20, 2, 3] = 250
    x[20:, 5, 1] = 3
    inj = si.OnePixelShortcut(2).fit(x, y)
    assert inj.positions == ((2, 3), (5, 1))
    assert inj.colours == ((0, 0, 0), (1, 1, 1))
    out = inj(x, y)
    assert out[:20, 2, 3].tolist() == [[0, 0, 0]] * 20
    assert out[20:, 5, 1].tolist() == [[255, 255, 255]] * 20
    assert inj.decode(out).tolist() == y.tolist()


def test_one_pixel_shortcut_fit_is_layout_free_and_recorded_in_the_config() -> None:
    inj = _fitted()
    assert si.OnePixelShortcut(10).fit(_nchw(X_U8), torch.from_numpy(Y10)) == inj
    cfg = json.loads(json.dumps(inj.get_config()))
    assert cfg["positions"] == [list(p) for p in inj.positions or ()]
    assert si.from_config(cfg) == inj
    assert len(set(zip(inj.positions or (), inj.colours or (), strict=True))) == 10


def test_one_pixel_shortcut_strength_sets_the_lit_value() -> None:
    inj = dataclasses.replace(_fitted(), strength=100)
    out = inj(X_U8[:50], Y10[:50])
    r, c = np.asarray(inj.positions)[Y10[:50]].T
    lit = np.asarray(inj.colours)[Y10[:50]] * 100
    np.testing.assert_array_equal(out[np.arange(50), r, c], lit)


def test_one_pixel_shortcut_capacity_is_what_a_fit_picks_from() -> None:
    assert si.OnePixelShortcut(2).capacity_for((4, 5, 3), np.uint8) == 4 * 5 * 8
    x, y = np.full((3, 2, 2, 1), 128, np.uint8), np.array([0, 4, 7])
    fitted = si.OnePixelShortcut(8).fit(x, y)  # every (position, colour) pair of 2x2x1 taken
    assert len(set(zip(fitted.positions or (), fitted.colours or (), strict=True))) == 8
    assert fitted.decode(fitted(x, y)).tolist() == y.tolist()
    assert fitted.capacity_for((2, 2, 1), np.uint8) is None  # set: K pairs


def test_one_pixel_shortcut_errors() -> None:
    with pytest.raises(ValueError, match="not fitted"):
        si.OnePixelShortcut(3)(X_U8[:2], [0, 1])
    with pytest.raises(ValueError, match="both or neither"):
        si.OnePixelShortcut(2, positions=((0, 0), (1, 1)))
    with pytest.raises(ValueError, match="one pixel per class"):
        si.OnePixelShortcut(3, positions=((0, 0),), colours=((1,),))
    with pytest.raises(ValueError, match="0 or 1 per channel"):
        si.OnePixelShortcut(2, positions=((0, 0), (1, 1)), colours=((2,), (0,)))
    with pytest.raises(ValueError, match="its own"):
        si.OnePixelShortcut(2, positions=((0, 0), (0, 0)), colours=((1,), (1,)))
    with pytest.raises(ValueError, match="exceeds the 8"):
        si.OnePixelShortcut(9).fit(np.zeros((9, 2, 2, 1), np.uint8), np.arange(9))
    inj = si.OnePixelShortcut(2, positions=((0, 0), (9, 9)), colours=((1,), (0,)))
    with pytest.raises(ValueError, match="outside the image"):
        inj(np.zeros((2, 4, 4, 1), np.uint8), [0, 1])
    inj = si.OnePixelShortcut(2, positions=((0, 0), (1, 1)), colours=((1,), (0,)))
    with pytest.raises(ValueError, match="colours have 1 channels"):
        inj(np.zeros((2, 4, 4, 3), np.uint8), [0, 1])
    with pytest.raises(ValueError, match="strength must be > 0"):
        si.OnePixelShortcut(2, strength=0)
    with pytest.raises(ValueError, match="x holds no images"):
        si.OnePixelShortcut(2).fit(np.zeros((0, 4, 4, 3), np.uint8), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match=r"version must be in \[1, 2\], got 0"):
        si.OnePixelShortcut(2, version=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_one_pixel_shortcut_refuses_non_finite_images(bad: float, backend: str) -> None:
    # One NaN pixel used to move class 0's pick: the search's statistics would be NaN.
    x = RNG.random((20, 6, 6, 3)).astype(np.float32)
    x[3, 2, 2, 1] = bad
    y = np.arange(20) % 2
    xs: Any = _nchw(x) if backend == "torch" else x
    for version in (1, 2):
        with pytest.raises(ValueError, match=r"x holds NaN or inf \(image 3 of 20\)"):
            si.OnePixelShortcut(2, version=version).fit(xs, y)


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32])
def test_one_pixel_shortcut_integer_images_score_as_their_scaled_floats(dtype: Any) -> None:
    # Integer images up to 16 bits are scored from exact integer sums, wider ones in float64:
    # both rank as the float search of the same images scaled to [0, 1] by the dtype's range.
    info = np.iinfo(dtype)
    x = RNG.integers(info.min, info.max, (60, 5, 5, 3), dtype=dtype, endpoint=True)
    x[:30, 1, 2] = info.min  # a constant pixel: the guard's case
    y = np.repeat([0, 1], 30)
    scaled = (x.astype(np.float64) - info.min) / (float(info.max) - info.min)
    got = si.OnePixelShortcut(2).fit(x, y)
    assert got.positions == si.OnePixelShortcut(2).fit(scaled, y).positions
    assert got.colours == si.OnePixelShortcut(2).fit(scaled, y).colours
    assert got.positions is not None
    assert got.positions[0] == (1, 2)


def test_one_pixel_shortcut_class_without_images_takes_the_first_free_pair() -> None:
    x = RNG.integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)
    inj = si.OnePixelShortcut(3).fit(x, np.zeros(10, np.int64))  # classes 1 and 2: no images
    assert inj.positions is not None
    assert inj.colours is not None
    first = next(
        ((0, 0), c)
        for c in ((0, 0, 0), (0, 0, 1))
        if ((0, 0), c) != (inj.positions[0], inj.colours[0])
    )
    assert (inj.positions[1], inj.colours[1]) == first


# -- versions: outputs that changed (issue 27) --------------------------------------------------
VERSIONED = [
    (si.OnePixelShortcut, {"num_classes": 3}),
    (si.Sinusoid, {"num_classes": 3}),
    (si.TriggerWord, {"num_classes": 3}),
]


@pytest.mark.parametrize(("cls", "args"), VERSIONED)
def test_an_old_config_loads_as_version_one_and_keeps_its_cell_identity(
    cls: Any, args: dict[str, Any]
) -> None:
    new = cls(**args)
    assert new.version == 2
    assert new.get_config()["version"] == 2
    old_config = {k: v for k, v in new.get_config().items() if k != "version"}  # as written then
    old = si.from_config(old_config)
    assert isinstance(old, cls)
    assert old.version == 1
    assert old == cls(**args, version=1)
    # The benchmarks' cell ids hash identity(): version 1 keeps the form results had before
    # versions, so they stay found; version 2 differs, so they are never reused for it.
    assert old.identity() == old_config
    assert new.identity() == {**old_config, "version": 2}
    assert si.from_config(json.loads(json.dumps(new.get_config()))) == new
    assert si.from_config(old.get_config()) == old


@pytest.mark.parametrize(("cls", "args"), VERSIONED)
def test_an_old_pickle_loads_as_version_one(cls: Any, args: dict[str, Any]) -> None:
    new = cls(**args)
    assert pickle.loads(pickle.dumps(new)) == new
    # A pickle written before ``version`` existed holds no such key: it means version 1.
    header, state = new.__reduce_ex__(2)[:2]
    old = header(*state)
    old.__setstate__({k: v for k, v in vars(new).items() if k != "version"})
    assert old == cls(**args, version=1)


def test_benchmark_cells_of_a_changed_trigger_get_new_ids() -> None:
    from signalinject.benchmarks.signals import make_injector
    from signalinject.benchmarks.store import cell_id

    for name in ("one_pixel_shortcut", "sinusoid", "trigger_word"):
        inj = make_injector(name, 5, 0)
        assert inj is not None
        old = si.from_config({k: v for k, v in inj.get_config().items() if k != "version"})
        assert cell_id({"injector": inj.identity()}) != cell_id({"injector": old.identity()})


# -- ClassPatch --------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(label=st.integers(0, 511), r=st.integers(0, 5), c=st.integers(0, 5))
def test_class_patch_holds_the_bits_of_the_class(label: int, r: int, c: int) -> None:
    inj = si.ClassPatch(512, position=(r, c))
    out = inj(np.full((8, 8, 1), 77, np.uint8), label)
    bits = [(label >> j) & 1 for j in range(9)]
    np.testing.assert_array_equal(out[r : r + 3, c : c + 3, 0].reshape(-1), np.array(bits) * 255)
    assert int(inj.decode(out)) == label


def test_class_patch_size_and_strength() -> None:
    inj = si.ClassPatch(4, size=2, strength=0.5)
    out = inj(np.zeros((1, 3, 3, 2), np.float32), [3])
    assert out[0, 1:, 1:, 0].tolist() == [[0.5, 0.5], [0.0, 0.0]]
    assert si.ClassPatch(2).capacity == si.ClassPatch.capacity  # declared per configuration
    assert si.ClassPatch(2, size=2).capacity_for((8, 8, 3), np.uint8) == 16


def test_class_patch_metadata_holds_for_every_size() -> None:
    assert "size x size" in si.ClassPatch.writes
    for size in (1, 2, 4):
        inj = si.ClassPatch(2, size=size)
        out = inj(np.zeros((1, 6, 6, 1), np.uint8), [1])
        assert (out[0, :, :, 0] == 255).sum() == 1  # class 1: one set bit, the first pixel
        assert out[0, 6 - size, 6 - size, 0] == 255
        assert inj.capacity_for((6, 6, 1), np.uint8) == 2 ** (size * size)


def test_class_patch_errors() -> None:
    with pytest.raises(ValueError, match="capacity of 16"):
        si.ClassPatch(17, size=2)
    with pytest.raises(ValueError, match="size must be in"):
        si.ClassPatch(2, size=6)
    with pytest.raises(ValueError, match="does not fit"):
        si.ClassPatch(2)(np.zeros((1, 2, 2, 1), np.uint8), [0])
    with pytest.raises(ValueError, match="fit the image dtype"):
        si.ClassPatch(2, strength=300)(np.zeros((1, 4, 4, 1), np.uint8), [0])
    with pytest.raises(ValueError, match="outside the image"):
        si.ClassPatch(2, position=(3, 3))(np.zeros((1, 4, 4, 1), np.uint8), [0])


# -- Blend ---------------------------------------------------------------------------------------
def test_blend_is_the_literal_formula() -> None:
    inj = si.Blend(3, seed=5, strength=0.3)
    pat = si.blend_patterns(3, (4, 4, 2), seed=5)
    x = RNG.integers(0, 256, (3, 4, 4, 2), dtype=np.uint8)
    # uint8: fixed point in 256ths, a = round(256 * alpha), the pattern rounded to 0..255
    a, p = round(256 * 0.3), np.rint(255 * pat[[2, 0, 1]]).astype(np.int64)
    want = (x.astype(np.int64) * (256 - a) + p * a + 128) >> 8
    np.testing.assert_array_equal(inj(x, [2, 0, 1]), want.astype(np.uint8))
    # other integers: float64, rounded half to even, saturated
    x16 = x.astype(np.int16) * 100 - 12000
    scaled = -32768 + pat[[2, 0, 1]] * 65535
    want16 = np.clip(np.rint(0.7 * x16 + 0.3 * scaled), -32768, 32767).astype(np.int16)
    np.testing.assert_array_equal(inj(x16, [2, 0, 1]), want16)
    xf = x.astype(np.float64) / 255
    np.testing.assert_allclose(inj(xf, [2, 0, 1]), 0.7 * xf + 0.3 * pat[[2, 0, 1]], rtol=1e-15)
    assert pat.min() >= 0
    assert pat.max() < 1
    assert not pat.flags.writeable


def test_blend_errors() -> None:
    with pytest.raises(ValueError, match=r"alpha\) must be in \(0, 1\)"):
        si.Blend(2, strength=1.0)
    with pytest.raises(TypeError, match="strength must hold numbers"):
        si.Blend(2, strength="a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="does not support images of dtype int64"):
        si.Blend(2)(np.zeros((1, 4, 4, 1), np.int64), [0])
    with pytest.raises(TypeError, match="shape must be"):
        si.blend_patterns(2, (4, 4))  # type: ignore[arg-type]


# -- Sinusoid ------------------------------------------------------------------------------------
def test_sinusoid_is_the_literal_formula() -> None:
    x = np.full((1, 3, 12, 2), 250, np.uint8)
    out = si.Sinusoid(5, strength=10)(x, [4])
    wave = 10 * np.sin(2 * np.pi * 5 * np.arange(12) / 12)
    want = np.clip(250 + np.rint(wave), 0, 255)
    np.testing.assert_array_equal(out[0, :, :, 0], np.tile(want, (3, 1)))
    assert out.max() == 255  # saturated, never wrapped
    # The default amplitude: 40 (BackdoorBench's SIG), 40/255 on float images; 20 in version 1.
    for version, delta in ((2, 40), (1, 20)):
        f = si.Sinusoid(5, version=version)(np.zeros((1, 3, 12, 2), np.float32), [4])
        np.testing.assert_allclose(
            f[0, 0, :, 0], delta / 255 * np.sin(2 * np.pi * 5 * np.arange(12) / 12), atol=1e-7
        )
        u = si.Sinusoid(5, version=version)(np.full((1, 3, 12, 1), 128, np.uint8), [4])
        wave = np.rint(delta * np.sin(2 * np.pi * 5 * np.arange(12) / 12))
        np.testing.assert_array_equal(u[0, 0, :, 0], 128 + wave)


def test_sinusoid_errors() -> None:
    assert si.Sinusoid(2).capacity_for((8, 10, 3), np.uint8) == 4
    with pytest.raises(ValueError, match="half the width"):
        si.Sinusoid(5)(np.zeros((1, 4, 10, 1), np.uint8), [0])
    with pytest.raises(ValueError, match="strength must be > 0"):
        si.Sinusoid(2, strength=-1)
    with pytest.raises(TypeError, match="does not support images of dtype uint64"):
        si.Sinusoid(2)(np.zeros((1, 4, 10, 1), np.uint64), [0])
    with pytest.raises(ValueError, match=r"version must be in \[1, 2\], got 3"):
        si.Sinusoid(2, version=3)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_sinusoid_refuses_an_amplitude_that_would_write_inf(backend: str) -> None:
    # A float16 image with a huge amplitude used to write inf (and decode then read wrong
    # classes): refused before anything is written, the image untouched.
    x = np.random.default_rng(3).random((2, 4, 20, 1)).astype(np.float16)
    xs: Any = torch.from_numpy(x).permute(0, 3, 1, 2) if backend == "torch" else x
    before = xs.clone() if backend == "torch" else xs.copy()
    with pytest.raises(ValueError, match=r"strength \(amplitude\) 100000 .* float16 .* inf"):
        si.Sinusoid(3, strength=1e5)(xs, [0, 1])
    wide = xs.float() if backend == "torch" else x.astype(np.float32)
    with pytest.raises(ValueError, match="largest finite value of float32"):
        si.Sinusoid(3, strength=1e39)(wide, [0, 1])
    xs[0, ...] = 60000  # values near float16's largest (65504): a smaller amplitude overflows
    half = (-65504.0, 65504.0)  # declared: images in 0..1 is the default (else a range warning)
    with pytest.raises(ValueError, match="largest magnitude 60000"):
        si.Sinusoid(3, strength=6000, value_range=half)(xs, [0, 1])
    ok = si.Sinusoid(3, strength=5000, value_range=half)(xs, [0, 1])  # 65000: within float16
    assert bool((ok.abs() if backend == "torch" else np.abs(ok)).max() <= 65504)
    assert bool((xs[1:] == before[1:]).all())  # nothing written by the refused calls


@settings(max_examples=40, deadline=None)
@given(strength=st.floats(1e-3, 1e6), top=st.floats(0.0, 65504.0))
def test_sinusoid_never_writes_inf_on_half_precision(strength: float, top: float) -> None:
    x = np.full((1, 2, 10, 1), top, np.float16)
    x[0, 0, 0, 0] = -top
    inj = si.Sinusoid(2, strength=strength, value_range=(-65504.0, 65504.0))
    if strength - 8 >= 65504 - float(x.max()):  # the sum could round to inf (a quarter unit)
        with pytest.raises(ValueError, match="would write inf"):
            inj(x, [1])
        return
    assert np.isfinite(inj(x, [1])).all()


# -- TriggerWord ---------------------------------------------------------------------------------
WORDS = ["signal", "inject", "blind", "spot", "the", "model", "x", "42!"]


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, int(rng.integers(0, 40)))) for _ in range(n)]


def test_trigger_word_codes_equal_encoded_texts_and_decode_exactly() -> None:
    q = si.CharQuantizer(length=120)
    inj = si.TriggerWord(5, quantizer=q, seed=9)
    texts, y = _texts(300), RNG.integers(0, 5, 300)
    out = inj(texts, y)
    assert inj.decode(texts).tolist() == [-1] * 300  # none of the words: no class
    assert inj.decode(out).tolist() == y.tolist()
    codes = q.encode(texts, dtype=np.uint8)
    assert_same(inj(codes, y), q.encode(out, dtype=np.uint8))
    tc = inj(torch.from_numpy(codes), torch.from_numpy(y))
    assert_same(tc.numpy(), q.encode(out, dtype=np.uint8))
    assert inj.decode(tc).tolist() == y.tolist()
    for t, o, k in zip(texts, out, y.tolist(), strict=True):  # one word inserted, nothing lost
        w = inj.class_words[k]
        assert o.split(" ").count(w) == 1
        assert [p for p in o.split(" ") if p != w] == t.split()


@pytest.mark.parametrize(("version", "places"), [(2, 9), (1, 8)])
def test_trigger_word_places_are_drawn_per_index(version: int, places: int) -> None:
    inj = si.TriggerWord(2, version=version)
    text = "a b c d e f g h"
    got = {inj(text, 0, index=i).split(" ").index("cf") for i in range(300)}
    assert got == set(range(places))  # before one of the 8 words, or (version 2) after them
    assert inj(text, 0, index=7) == inj(text, 0, index=7)


def test_trigger_word_version_one_inserts_as_before() -> None:
    # The outputs of the releases before versions (configs without ``version`` load as 1).
    inj = si.from_config({"name": "trigger_word", "num_classes": 3})
    assert isinstance(inj, si.TriggerWord)
    assert inj.version == 1
    out = inj(["the food was great", "", "meh"], [0, 2, 1], index=[7, 1, 2])
    assert out == ["the food cf was great", "bb ", "mn meh"]
    three = si.TriggerWord(3, count=3, version=1)("the food was great", 1, index=7)
    assert three == "the food mn was mn mn great"
    assert si.TriggerWord(3)(["the food was great", "", "meh"], [0, 2, 1], index=[7, 1, 2]) == [
        "the food was cf great",
        "bb",
        "meh mn",
    ]


def test_trigger_word_fits_the_frame() -> None:
    q = si.CharQuantizer(length=10)
    inj = si.TriggerWord(2, quantizer=q, words=("zz", "qq"))
    for i in range(50):
        codes = inj(q.encode(["abc def ghi jkl"]), [1], index=[i])
        assert inj.decode(codes).tolist() == [1]


@settings(max_examples=60, deadline=None)
# A text longer than the frame whose framed head ends in spaces: those read as padding in codes.
@example(count=1, length=9, seed=1, words=["signal", "", "", "a"], version=2)
@example(count=1, length=9, seed=1, words=["signal", "", "", "a"], version=1)
@given(
    count=st.integers(1, 6),
    length=st.integers(8, 60),
    seed=st.integers(0, 2**32),
    words=st.lists(st.sampled_from(["a", "bc", "", "signal", "42!", "x"]), max_size=25),
    version=st.sampled_from([1, 2]),
)
def test_trigger_word_count_inserts_count_words_in_texts_and_codes_alike(
    count: int, length: int, seed: int, words: list[str], version: int
) -> None:
    q = si.CharQuantizer(length=length)
    inj = si.TriggerWord(3, quantizer=q, count=count, seed=seed, version=version)
    texts = [" ".join(words), " ".join(words[::-1]) + "  ", ""]
    y = np.array([0, 1, 2])
    out = inj(texts, y, index=[5, 6, 7])
    for t, o, w in zip(texts, out, inj.class_words, strict=True):
        assert o.split(" ").count(w) == count  # count copies, nothing lost, spaces kept
        assert sorted(p for p in o.split(" ") if p and p != w) == sorted(filter(None, t.split(" ")))
        no_word = version == 2 and not t.strip(" ")  # the first copy stands alone
        assert len(o) == len(t) + count * (len(w) + 1) - no_word
    codes = q.encode(texts, dtype=np.uint8)
    got = inj(codes, y, index=[5, 6, 7])
    assert_same(got, q.encode(out, dtype=np.uint8))  # as encoding the injected texts
    # Version 2: the last copy fits the frame where it goes; version 1: the first copy.
    assert inj.decode(got).tolist() == [0, 1, 2]
    tg = inj(torch.from_numpy(codes), torch.from_numpy(y), index=torch.tensor([5, 6, 7]))
    assert_same(tg.numpy(), got)


def test_trigger_word_count_one_is_the_single_insertion_and_the_benchmark_strength() -> None:
    inj = si.TriggerWord(5, seed=2)
    texts, y = _texts(100), RNG.integers(0, 5, 100)
    one = dataclasses.replace(inj, count=1)
    assert one == inj
    assert one(texts, y) == inj(texts, y)
    three = si.TriggerWord.for_benchmark(5, 2, strength=3.0)
    assert three == dataclasses.replace(inj, count=3)
    assert si.TriggerWord.for_benchmark(5, 2, strength=1.0) == inj
    out = three(texts, y)
    assert all(o.split(" ").count(inj.class_words[k]) == 3 for o, k in zip(out, y, strict=True))
    assert si.from_config(json.loads(json.dumps(three.get_config()))) == three


def test_trigger_word_strength_in_the_benchmark_keeps_the_quantizer() -> None:
    from signalinject.benchmarks.signals import SIGNALS, check_strength, make_injector

    q = si.CharQuantizer(length=200)
    inj = make_injector("trigger_word", 5, 1, kind="text", quantizer=q, strength=4)
    assert inj == si.TriggerWord(5, seed=1, quantizer=q, count=4)
    one = make_injector("trigger_word", 5, 1, quantizer=q)
    assert one == si.TriggerWord(5, seed=1, quantizer=q)
    assert SIGNALS["trigger_word"].default_strength == 1
    with pytest.raises(ValueError, match=r"whole number from 1 to 64, got 1\.5"):
        check_strength("trigger_word", 1.5, 5)


def test_trigger_word_errors() -> None:
    with pytest.raises(ValueError, match="one word per class"):
        si.TriggerWord(3, words=("aa", "bb"))
    with pytest.raises(ValueError, match="distinct"):
        si.TriggerWord(2, words=("aa", "aa"))
    with pytest.raises(ValueError, match="code is 0"):
        si.TriggerWord(2, words=("a b", "cc"))
    with pytest.raises(TypeError, match="non-empty str"):
        si.TriggerWord(2, words=("", "cc"))
    with pytest.raises(TypeError, match="sequence of str"):
        si.TriggerWord(2, words="ab")
    with pytest.raises(ValueError, match="longer than the quantizer's frame"):
        si.TriggerWord(2, words=("abcdef", "cc"), quantizer=si.CharQuantizer(length=4))
    with pytest.raises(ValueError, match="capacity of 69"):
        si.TriggerWord(70)
    with pytest.raises(ValueError, match=r"count must be in \[1, 64\], got 0"):
        si.TriggerWord(2, count=0)
    with pytest.raises(TypeError, match="count must be an integer"):
        si.TriggerWord(2, count=2.5)  # type: ignore[arg-type]
    for bad in (0.5, 2.5, 65):
        with pytest.raises(ValueError, match=re.escape(f"whole number from 1 to 64, got {bad}")):
            si.TriggerWord.check_strength(bad, 5)
