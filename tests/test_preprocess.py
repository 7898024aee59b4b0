"""The images' preprocessing (issue 26): ``RunSettings.preprocess``, ``train.ImageScaling`` and
the runner's stage 3 (``model_inputs``) that fits it on each cell's injected training set.

What is pinned: the statistics are the training set's alone (the test set never changes them),
blank data gives finite values (the floor), the test set, the wrong-signal copy and the clean
test images go through one affine map, the per-pixel variant, ``unit``/``raw`` as 0.1.x had them,
the mode in the cell's identity, and the error a bad name gets.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from signalinject.benchmarks import runner
from signalinject.benchmarks.runner import BenchConfig, Cell
from signalinject.benchmarks.settings import RunSettings
from signalinject.benchmarks.signals import make_injector
from signalinject.benchmarks.store import PREPROCESS_MODES as STORE_MODES
from signalinject.benchmarks.store import cell_id, preprocess_of
from signalinject.benchmarks.train import (
    PREPROCESS_MODES,
    STD_FLOOR,
    ImageScaling,
    check_preprocess,
    images_to_tensor,
)

U8 = npt.NDArray[np.uint8]
images = hnp.arrays(
    np.uint8,
    st.tuples(st.integers(1, 6), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3)),
)


def reference(x: U8, mode: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The statistics of ``mode`` by NumPy's own mean and std (float64)."""
    axes = (0, 1, 2) if mode == "standardize" else (0,)
    xf = x.astype(np.float64)
    return xf.mean(axes), np.maximum(xf.std(axes), STD_FLOOR)


# -- the map --------------------------------------------------------------------------------------
def test_the_modes() -> None:
    assert PREPROCESS_MODES == ("standardize", "standardize_pixel", "unit", "raw")
    assert STORE_MODES is PREPROCESS_MODES  # one declaration
    assert RunSettings().preprocess == "standardize"  # the default of every torch model


@settings(max_examples=60, deadline=None)
@given(x=images, mode=st.sampled_from(["standardize", "standardize_pixel"]))
def test_statistics_are_numpys(x: U8, mode: str) -> None:
    s = ImageScaling.fit(x, mode)
    mean, std = reference(x, mode)
    assert s.shift.dtype == s.scale.dtype == np.float32
    assert s.shift.shape == mean.shape == ((x.shape[3],) if mode == "standardize" else x.shape[1:])
    np.testing.assert_allclose(s.shift, mean, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(s.scale, std, rtol=1e-5, atol=1e-4)
    assert (s.scale >= STD_FLOOR).all()
    # applied: (x - mean) / std, finite, in the images' layout
    t = s.to_tensor(x)
    want = (x.astype(np.float64) - mean) / std
    np.testing.assert_allclose(t.permute(0, 2, 3, 1).numpy(), want, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(s.to_features(x), t.permute(0, 2, 3, 1).reshape(len(x), -1))


@settings(max_examples=30, deadline=None)
@given(x=images, perm=st.randoms(use_true_random=False))
def test_statistics_do_not_depend_on_the_order_of_the_images(x: U8, perm: Any) -> None:
    order = list(range(len(x)))
    perm.shuffle(order)
    for mode in ("standardize", "standardize_pixel"):
        a, b = ImageScaling.fit(x, mode), ImageScaling.fit(x[order], mode)
        np.testing.assert_array_equal(a.shift, b.shift)  # exact integer sums
        np.testing.assert_array_equal(a.scale, b.scale)


@settings(max_examples=30, deadline=None)
@given(x=images)
def test_statistics_do_not_depend_on_the_memory_layout(x: U8) -> None:
    planar = np.ascontiguousarray(x.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)  # strided view
    for mode in ("standardize", "standardize_pixel"):
        a, b = ImageScaling.fit(x, mode), ImageScaling.fit(planar, mode)
        np.testing.assert_array_equal(a.shift, b.shift)
        np.testing.assert_array_equal(a.scale, b.scale)


@pytest.mark.parametrize("mode", ["standardize", "standardize_pixel"])
@pytest.mark.parametrize("value", [0, 7, 255])
def test_a_constant_channel_is_finite(mode: str, value: int) -> None:
    x = np.full((5, 4, 4, 3), value, np.uint8)
    s = ImageScaling.fit(x, mode)
    np.testing.assert_array_equal(s.scale, np.full_like(s.scale, STD_FLOOR))
    t = s.to_tensor(x)
    assert torch.isfinite(t).all()
    assert (t == 0).all()  # the constant maps to 0


@pytest.mark.parametrize("mode", ["standardize", "standardize_pixel"])
def test_blank_images_with_one_pixel_keep_the_code_in_grey_levels(mode: str) -> None:
    # the shut-down control's training set: all zero but pixel (0, 0) = the class (0..9); its
    # std is below one grey level per channel, so the floor keeps one class one unit apart
    y = np.arange(200) % 10
    x = np.zeros((200, 8, 8, 3), np.uint8)
    x[:, 0, 0, :] = y[:, None]
    s = ImageScaling.fit(x, mode)
    t = s.to_tensor(x)
    assert torch.isfinite(t).all()
    code = t[:, 0, 0, 0].numpy()
    step = np.diff(code[:10])
    if mode == "standardize":  # mean 4.5 / 64 per channel, std 2.87 / 8 < 1: floored
        np.testing.assert_allclose(step, 1.0, rtol=1e-6)
    else:  # at (0, 0): mean 4.5, std 2.87 (not floored); elsewhere 0 and floored
        np.testing.assert_allclose(step, 1 / np.std(np.arange(10)), rtol=1e-5)
        assert (t[:, :, 1:, :] == 0).all()


def test_the_per_pixel_variant_is_per_position() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 3, 2, 3), dtype=np.uint8)
    x[:, 1, 1, 2] = 9  # one constant position
    s = ImageScaling.fit(x, "standardize_pixel")
    assert s.shift.shape == s.scale.shape == (3, 2, 3)
    np.testing.assert_allclose(s.shift, x.mean(0), rtol=1e-6)
    assert s.scale[1, 1, 2] == STD_FLOOR
    assert s.shift[1, 1, 2] == 9.0
    t = s.to_tensor(x).double()
    torch.testing.assert_close(t.mean(0)[2, 1, 1], torch.tensor(0.0, dtype=torch.float64))
    per_pos = t.std(0, unbiased=False)
    per_pos[2, 1, 1] = 1.0  # the constant position is 0, not 1
    torch.testing.assert_close(per_pos, torch.ones_like(per_pos), rtol=1e-5, atol=1e-5)


def test_unit_and_raw_are_0_1s() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (4, 5, 5, 3), dtype=np.uint8)
    old = torch.from_numpy(x).permute(0, 3, 1, 2).float().contiguous()
    assert torch.equal(ImageScaling.fit(x, "raw").to_tensor(x), old)
    assert torch.equal(ImageScaling.fit(x, "unit").to_tensor(x), old / 255.0)
    assert torch.equal(images_to_tensor(x), old / 255.0)
    assert torch.equal(images_to_tensor(x, preprocess="raw"), old)
    s = ImageScaling.fit(x, "standardize")
    assert torch.equal(images_to_tensor(x, preprocess=s), s.to_tensor(x))


# -- the stage that fits it, on the injected training set only -----------------------
@pytest.fixture(scope="module")
def loaded() -> runner.Loaded:
    cfg = BenchConfig.for_suite(
        "images", dataset="digits", limit=60, models=("convnet", "decision_tree"),
        signals=("one_pixel",), progress=False, epochs=1,
    )  # fmt: skip
    return runner.load(cfg)


def with_mode(data: runner.Loaded, mode: str, **kw: Any) -> runner.Loaded:
    cfg = dataclasses.replace(
        data.cfg, settings=dataclasses.replace(data.cfg.settings, preprocess=mode), **kw
    )
    return dataclasses.replace(data, cfg=cfg)


@pytest.mark.parametrize("mode", PREPROCESS_MODES)
def test_test_and_wrong_copies_go_through_the_training_sets_map(
    loaded: runner.Loaded, mode: str
) -> None:
    data = with_mode(loaded, mode)
    prep = runner.inject(data, make_injector("one_pixel", data.num_classes, 0))
    got = runner.model_inputs(data, prep, "torch")
    s = ImageScaling.fit(prep.x_train, mode)  # the injected training set's
    for name in ("x_train", "x_test", "x_wrong"):
        assert torch.equal(getattr(got, name), s.to_tensor(getattr(prep, name))), name
    # one affine map: where two sets hold the same value in a channel, they map it alike
    for a, b in (("x_test", "x_wrong"), ("x_train", "x_test")):
        xa, xb = getattr(prep, a), getattr(prep, b)
        ta, tb = (getattr(got, n).permute(0, 2, 3, 1).numpy() for n in (a, b))
        same = xa == xb
        np.testing.assert_array_equal(ta[same], tb[same])
    feats = runner.model_inputs(data, prep, "features_preprocessed")
    np.testing.assert_array_equal(feats.x_wrong, s.to_features(prep.x_wrong))


@pytest.mark.parametrize("mode", ["standardize", "standardize_pixel"])
def test_the_test_set_never_changes_the_statistics(loaded: runner.Loaded, mode: str) -> None:
    data = with_mode(loaded, mode)
    prep = runner.inject(data, make_injector("one_pixel", data.num_classes, 0))
    other = dataclasses.replace(
        prep,
        x_test=np.full_like(prep.x_test, 250),
        x_wrong=255 - prep.x_wrong,
    )
    a = runner.model_inputs(data, prep, "torch")
    b = runner.model_inputs(data, other, "torch")
    assert torch.equal(a.x_train, b.x_train)
    s = ImageScaling.fit(prep.x_train, mode)
    assert torch.equal(b.x_test, s.to_tensor(other.x_test))
    # and the training set does: a changed training set, another map for the same test set
    shifted = dataclasses.replace(prep, x_train=prep.x_train // 2)
    c = runner.model_inputs(data, shifted, "torch")
    assert not torch.equal(a.x_test, c.x_test)


def test_the_statistics_are_of_the_injected_training_set(loaded: runner.Loaded) -> None:
    data = with_mode(loaded, "standardize_pixel")
    prep = runner.inject(data, make_injector("one_pixel", data.num_classes, 0))
    clean = runner.inject(data, None)
    assert not np.array_equal(prep.x_train, clean.x_train)  # the pixel changed the set
    got = runner.model_inputs(data, prep, "torch")
    s = ImageScaling.fit(prep.x_train, "standardize_pixel")
    assert torch.equal(got.x_train, s.to_tensor(prep.x_train))
    assert not torch.equal(
        got.x_test, ImageScaling.fit(clean.x_train, "standardize_pixel").to_tensor(prep.x_test)
    )


@pytest.mark.parametrize("mode", PREPROCESS_MODES)
def test_blank_data_is_finite_through_the_runner(loaded: runner.Loaded, mode: str) -> None:
    cfg = dataclasses.replace(
        loaded.cfg, blank=True, settings=dataclasses.replace(loaded.cfg.settings, preprocess=mode)
    )
    data = runner.load(cfg)
    for inj in (None, make_injector("one_pixel", data.num_classes, 0)):
        prep = runner.inject(data, inj)
        got = runner.model_inputs(data, prep, "torch")
        for name in ("x_train", "x_test", "x_wrong"):
            t = getattr(got, name)
            assert t is None or torch.isfinite(t).all(), (mode, inj, name)
        # its own cell's statistics: the blank injected training set's
        s = ImageScaling.fit(prep.x_train, mode)
        assert torch.equal(got.x_test, s.to_tensor(prep.x_test))


def test_the_baselines_keep_raw_pixels(loaded: runner.Loaded) -> None:
    prep = runner.inject(loaded, make_injector("one_pixel", loaded.num_classes, 0))
    assert loaded.models["decision_tree"].form == "features"
    got = runner.model_inputs(loaded, prep, "features")
    np.testing.assert_array_equal(got.x_test, prep.x_test.reshape(len(prep.x_test), -1))


# -- the cell's identity --------------------------------------------------------------------------
def test_the_mode_is_part_of_the_cell_identity(loaded: runner.Loaded) -> None:
    inj = make_injector("one_pixel", loaded.num_classes, 0)
    ids = {}
    for mode in PREPROCESS_MODES:
        data = with_mode(loaded, mode)
        key = runner.cell_key(data, Cell(0, "one_pixel", "convnet"), inj)
        assert key["preprocess"] == mode
        assert "input_scale" not in key
        ids[mode] = cell_id(key)
        tree = runner.cell_key(data, Cell(0, "one_pixel", "decision_tree"), inj)
        assert "preprocess" not in tree  # the baselines see raw pixels whatever the mode
    assert len(set(ids.values())) == len(PREPROCESS_MODES)
    # never 0.1.x's cell of the same model divided by 255 either
    old = runner.cell_key(with_mode(loaded, "unit"), Cell(0, "one_pixel", "convnet"), inj)
    old["input_scale"] = old.pop("preprocess")
    assert cell_id(old) not in ids.values()


def test_a_line_names_its_preprocessing() -> None:
    assert preprocess_of({"preprocess": "standardize_pixel"}) == "standardize_pixel"
    assert preprocess_of({"input_scale": "raw"}) == "raw"  # a 0.1.x line
    assert preprocess_of({"preprocess": None}) is None
    assert preprocess_of({}) is None


# -- bad names ------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["standardise", "Unit", "", None, 1])
def test_a_bad_name_is_refused(bad: Any) -> None:
    match = r"preprocess must be one of 'standardize', 'standardize_pixel', 'unit', 'raw', got "
    with pytest.raises(ValueError, match=match):
        RunSettings(preprocess=bad)
    with pytest.raises(ValueError, match=match):
        check_preprocess(bad)
    with pytest.raises(ValueError, match=match):
        ImageScaling.fit(np.zeros((1, 2, 2, 3), np.uint8), bad)


@pytest.mark.parametrize(
    ("x", "mode", "error", "match"),
    [
        (np.zeros((2, 2, 3), np.uint8), "standardize", ValueError, r"got shape \(2, 2, 3\)"),
        (np.zeros((1, 2, 2, 3), np.float32), "standardize", TypeError, "got float32"),
        ([[0]], "unit", TypeError, "uint8 numpy array .* got list"),
        (np.zeros((0, 2, 2, 3), np.uint8), "standardize", ValueError, "at least one image"),
    ],
)
def test_fit_refuses(x: Any, mode: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        ImageScaling.fit(x, mode)


@pytest.mark.parametrize(
    ("mode", "shape", "match"),
    [
        (
            "standardize_pixel",
            (1, 3, 2, 3),
            r"ImageScaling\('standardize_pixel'\) was fitted on images of shape \(N, 2, 2, 3\), "
            r"got \(1, 3, 2, 3\)",
        ),
        (
            "standardize",
            (1, 2, 2, 1),
            r"ImageScaling\('standardize'\) was fitted on 3 channels, got images of shape "
            r"\(1, 2, 2, 1\)",
        ),
    ],
)
def test_a_map_refuses_other_images(mode: str, shape: tuple[int, ...], match: str) -> None:
    s = ImageScaling.fit(np.zeros((1, 2, 2, 3), np.uint8), mode)
    x = np.zeros(shape, np.uint8)
    with pytest.raises(ValueError, match=match):
        s.to_tensor(x)
    with pytest.raises(ValueError, match=match):
        s.to_features(x)
