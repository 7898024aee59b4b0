"""The run settings bench, scan, sweep and atlas share (settings.py), and the stages of a cell
(runner.load -> inject -> model_inputs -> fit -> measure -> record)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from signalinject.benchmarks import runner
from signalinject.benchmarks.atlas import AtlasConfig
from signalinject.benchmarks.registry import CustomModel
from signalinject.benchmarks.runner import BenchConfig, Cell
from signalinject.benchmarks.scan import ScanConfig, config_summary
from signalinject.benchmarks.settings import RunSettings, flat_config
from signalinject.benchmarks.signals import make_injector
from signalinject.benchmarks.store import CSV_FIELDS, POISON_FIELDS, RECORD_FIELDS
from signalinject.benchmarks.sweep import SweepConfig

SHARED = {f.name for f in dataclasses.fields(RunSettings)}


# -- the settings ---------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(
    seeds=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=3, unique=True).map(tuple),
    epochs=st.none() | st.integers(1, 50),
    batch_size=st.none() | st.integers(1, 512),
    lr=st.floats(1e-6, 1.0),
    preprocess=st.sampled_from(["standardize", "standardize_pixel", "unit", "raw"]),
    limit=st.none() | st.integers(1, 10_000),
    out=st.none() | st.text("abc/", min_size=1, max_size=8),
    progress=st.booleans(),
)
def test_a_bench_config_holds_the_settings(**kw: Any) -> None:
    s = RunSettings(**kw)
    cfg = BenchConfig.for_suite("images", settings=s)
    assert cfg.settings is s  # the same object, as the command line built it
    assert cfg.dataset == "photo_digits"  # None: the suite's
    assert cfg.out == (kw["out"] or "signalinject-bench/images")
    suite = runner.SUITES["images"]
    assert cfg.epochs == (kw["epochs"] or suite.epochs)  # None: the suite's
    assert cfg.batch_size == (kw["batch_size"] or suite.batch_size)


def test_the_configs_compose_the_settings_and_declare_none_of_them() -> None:
    for cls in (ScanConfig, SweepConfig, AtlasConfig):
        own = {f.name for f in dataclasses.fields(cls)}
        assert "settings" in own
        assert not own & SHARED, cls.__name__


@pytest.mark.parametrize(
    ("make", "dataset", "out"),
    [
        (lambda s: ScanConfig(models=("lda",), settings=s), "photo_digits", "signalinject-scan"),
        (lambda s: SweepConfig(settings=s), "photo_digits", "signalinject-bench/sweep"),
        (lambda s: AtlasConfig(settings=s), "photo_digits", "signalinject-bench/atlas"),
    ],
)
def test_defaults_and_the_settings_that_replace_them(make: Any, dataset: str, out: str) -> None:
    cfg = make(RunSettings())
    assert (cfg.dataset, cfg.out) == (dataset, out)
    cfg = make(RunSettings(dataset="digits", out="elsewhere", limit=50, seeds=(3,)))
    assert (cfg.dataset, cfg.out) == ("digits", "elsewhere")
    run = cfg.run_settings()  # what its runs get
    assert (run.dataset, run.limit, run.seeds) == ("digits", 50, (3,))
    flat = flat_config(cfg)
    assert set(flat) >= SHARED
    assert (flat["dataset"], flat["out"], flat["limit"]) == ("digits", "elsewhere", 50)


def test_atlas_writes_below_its_out() -> None:
    cfg = AtlasConfig(models=("lda",), settings=RunSettings(out="o"))
    assert (cfg.bench_config().out, cfg.bench_config(blank=True).out) == ("o/data", "o/blank")


def test_scan_summary_names_custom_models() -> None:
    cm = CustomModel("mine", lambda shape, k: None)
    d = config_summary(ScanConfig(models=(cm, "lda")))
    assert d["models"] == ["mine", "lda"]
    assert d["dataset"] == "photo_digits"


@pytest.mark.parametrize(
    "make",
    [
        lambda: ScanConfig(models=("lda",), settings={"limit": 5}),  # type: ignore[arg-type]
        lambda: SweepConfig(settings={"limit": 5}),  # type: ignore[arg-type]
        lambda: AtlasConfig(settings={"limit": 5}),  # type: ignore[arg-type]
    ],
)
def test_settings_must_be_run_settings(make: Any) -> None:
    with pytest.raises(TypeError, match=r"settings must be a RunSettings, got \{'limit': 5\}"):
        make()


def test_a_bad_setting_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="limit must be"):
        ScanConfig(models=("lda",), settings=RunSettings(limit=0)).bench_config()
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        ScanConfig(models=("lda",), settings=RunSettings(dataset="mnist"))


# -- the schema -----------------------------------------------------------------------------------
def test_csv_columns_are_the_schemas_numbered_fields() -> None:
    columns = [f.column for f in RECORD_FIELDS.values() if f.column is not None]
    assert sorted(columns) == list(range(len(CSV_FIELDS)))  # one field per column, no gap
    assert all(RECORD_FIELDS[name].column == i for i, name in enumerate(CSV_FIELDS))


# -- the stages -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def loaded() -> runner.Loaded:
    cfg = BenchConfig.for_suite(
        "images", dataset="digits", limit=40, models=("convnet", "decision_tree"),
        signals=("one_pixel",), progress=False, epochs=1,
    )  # fmt: skip
    return runner.load(cfg)


def test_load(loaded: runner.Loaded) -> None:
    assert loaded.input_shape == (3, 32, 32)
    assert loaded.y_train.dtype == np.int64
    assert len(loaded.y_train) == len(loaded.y_test) == 40
    assert {m: s.form for m, s in loaded.models.items()} == {
        "convnet": "torch", "decision_tree": "features"
    }  # fmt: skip


def test_model_inputs_per_form(loaded: runner.Loaded) -> None:
    inj = make_injector("one_pixel", loaded.num_classes, 0)
    prep = runner.inject(loaded, inj)
    feats = runner.model_inputs(loaded, prep, "features")
    pre = runner.model_inputs(loaded, prep, "features_preprocessed")
    tens = runner.model_inputs(loaded, prep, "torch")
    assert feats.x_train.dtype == pre.x_train.dtype == np.float32
    assert feats.x_train.shape == pre.x_train.shape == (40, 32 * 32 * 3)
    np.testing.assert_array_equal(feats.x_test, prep.x_test.reshape(40, -1))  # raw 0..255
    assert isinstance(tens.x_wrong, torch.Tensor)
    assert tuple(tens.x_wrong.shape) == (40, 3, 32, 32)
    # preprocess="standardize": every channel of the training set at mean 0, std 1
    t = tens.x_train.double()
    torch.testing.assert_close(t.mean((0, 2, 3)), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(t.std((0, 2, 3), unbiased=False), torch.ones(3, dtype=torch.float64))
    # the estimator's features: the same map, the images' pixel order
    want = tens.x_test.permute(0, 2, 3, 1).reshape(40, -1).numpy()
    np.testing.assert_allclose(pre.x_test, want, rtol=1e-6, atol=1e-6)
    for form in (feats, pre, tens):  # labels, codes and the decode accuracy as injected
        assert form.y_train is prep.y_train
        assert form.decode_accuracy == prep.decode_accuracy == 1.0


def test_fit_measure_record(loaded: runner.Loaded) -> None:
    inj = make_injector("one_pixel", loaded.num_classes, 0)
    prep = runner.inject(loaded, inj)
    inputs = runner.model_inputs(loaded, prep, "features")
    cell = Cell(0, "one_pixel", "decision_tree")
    fitted = runner.fit(loaded, cell, inputs)
    assert fitted.n_fit == 10  # a quarter of 40
    scores = runner.measure(fitted.predict, inputs, fitted.nonfinite)
    clean = {"accuracy": 0.5, "nonfinite_outputs": 0}
    key = runner.cell_key(loaded, cell, inj)
    rec = runner.record(loaded, cell, key, prep, scores, 10, clean, seconds=0.5, notes=[])
    assert list(rec) == [f for f in RECORD_FIELDS if f not in POISON_FIELDS]  # not poisoned
    assert rec["gain"] == pytest.approx(scores.accuracy - 0.5)
    assert rec["n_fit"] == 10
    assert rec["seconds"] == 0.5


# -- one settings object, checked once ------------------------------------------------------------
def _counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the benchmark's injector builds and strength checks of ``one_pixel``."""
    import signalinject as si

    counts = {"built": 0, "checked": 0}
    build, check = si.OnePixel.for_benchmark.__func__, si.OnePixel.check_strength.__func__  # type: ignore[attr-defined]

    def for_benchmark(cls: Any, *a: Any, **kw: Any) -> Any:
        counts["built"] += 1
        return build(cls, *a, **kw)

    def check_strength(cls: Any, *a: Any, **kw: Any) -> Any:
        counts["checked"] += 1
        return check(cls, *a, **kw)

    monkeypatch.setattr(si.OnePixel, "for_benchmark", classmethod(for_benchmark))
    monkeypatch.setattr(si.OnePixel, "check_strength", classmethod(check_strength))
    return counts


@pytest.mark.parametrize(("seeds", "built"), [("0", 1), ("0,1", 2)])
def test_a_run_checks_each_strength_once_and_builds_each_injector_once(
    seeds: str, built: int, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a two-cell run checked the strength 8 times and built the injector 4 times."""
    from signalinject.benchmarks import cli

    counts = _counting(monkeypatch)
    argv = ["bench", "images", "--dataset", "digits", "--limit", "40", "--signals", "one_pixel"]
    argv += ["--models", "decision_tree", "--strength", "16", "--seeds", seeds, "--no-progress"]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 0
    assert counts == {"built": built, "checked": 1}  # one injector per (seed, signal)


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "images"],
        ["bench", "text"],
        ["bench", "sweep"],
        ["bench", "atlas"],
        ["scan", "my.py:net"],
    ],
)
def test_the_command_lines_defaults_are_the_settings_own(argv: list[str]) -> None:
    """The CLI reads its defaults from RunSettings (declared once, there)."""
    from signalinject.benchmarks import cli

    got = cli._run_settings(cli.build_parser().parse_args(argv))
    want = RunSettings()
    for name in ("data_dir", "download", "seeds", "lr", "device", "preprocess", "limit"):
        assert getattr(got, name) == getattr(want, name), name
    assert got.progress is True
