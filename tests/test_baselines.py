"""The scikit-learn baselines: raw features, the fitting subset, the shrunk Gaussian LDA/QDA,
and the paper's finding that a decision tree reads a one-pixel or pattern-pixel signal."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal
from sklearn.covariance import LedoitWolf
from sklearn.covariance import ledoit_wolf_shrinkage as sk_shrinkage

import signalinject as si
from signalinject.benchmarks.baselines import features, fit_subset
from signalinject.benchmarks.datasets import load_dataset
from signalinject.benchmarks.registry import MODELS, build_model, model_names
from signalinject.benchmarks.shrunk import ShrunkGaussianClassifier, ledoit_wolf_shrinkage

#: The registered estimators (the paper's baselines, and any other registered one).
BASELINES = model_names(inputs="features")


def build_baseline(name: str, seed: int = 0, **options: object) -> Any:
    return build_model(name, (6,), 3, seed=seed, **options)


# -- features and the fitting subset ----------------------------------------------------------
def test_features_flattens_raw_values() -> None:
    x = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    f = features(x)
    assert f.dtype == np.float32
    assert f.shape == (2, 12)
    np.testing.assert_array_equal(f[1], np.arange(12, 24))
    np.testing.assert_array_equal(features(np.array([[3, 0, 70]])), [[3.0, 0.0, 70.0]])


def test_features_rejects_texts() -> None:
    with pytest.raises(TypeError, match="quantize texts into integer codes first"):
        features(["some text"])


def test_features_rejects_one_sample_without_batch_axis() -> None:
    with pytest.raises(ValueError, match=r"ndim >= 2, got shape \(5,\)"):
        features(np.zeros(5))


def test_features_rejects_non_numbers() -> None:
    with pytest.raises(TypeError, match="features needs numbers, got dtype <U1"):
        features(np.array([["a"]]))


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 400),
    st.floats(0.01, 1.0),
    st.floats(0.01, 1.0),
    st.integers(0, 2**64 - 1),
)
def test_fit_subset_properties(n: int, f1: float, f2: float, seed: int) -> None:
    small, large = fit_subset(n, min(f1, f2), seed), fit_subset(n, max(f1, f2), seed)
    assert len(small) == max(1, round(n * min(f1, f2)))
    assert small.dtype == np.int64
    assert (np.diff(small) > 0).all()  # sorted, no repeats
    assert small[0] >= 0
    assert small[-1] < n
    assert set(small.tolist()) <= set(large.tolist())  # nested
    np.testing.assert_array_equal(fit_subset(n, min(f1, f2), seed), small)  # a pure function


def test_fit_subset_quarter_and_seeds() -> None:
    a, b = fit_subset(1000, seed=0), fit_subset(1000, seed=1)
    assert len(a) == 250
    assert len(set(a.tolist()) & set(b.tolist())) < 125  # seeds draw different quarters
    assert fit_subset(1000, 1.0).tolist() == list(range(1000))


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((10, 0.0), ValueError, r"fraction must be in \(0, 1\], got 0.0"),
        ((10, 1.5), ValueError, r"fraction must be in \[0, 1\], got 1.5"),
        ((0, 0.25), ValueError, r"n must be in \[1, inf\], got 0"),
        ((10, 0.25, -1), ValueError, r"seed must be in \[0, "),
        ((10.0, 0.25), TypeError, "n must be an integer"),
    ],
)
def test_fit_subset_errors(args: tuple[Any, ...], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        fit_subset(*args)


# -- the estimators ----------------------------------------------------------------------------
def test_the_papers_baselines_are_registered_with_their_0_1_0_identity() -> None:
    paper = ("gaussian_nb", "decision_tree", "extra_trees", "logistic_regression", "lda", "qda")
    assert set(paper) <= set(BASELINES)
    for name in paper:
        entry = MODELS[name]
        assert (entry.inputs, entry.identity, entry.kinds) == (
            ("features",),
            "paper",
            ("image", "text"),
        ), name
        assert entry.defaults.keys() >= {"images", "text"}, name


@pytest.mark.parametrize("name", BASELINES)
def test_every_baseline_fits_separable_data(name: str) -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = rng.normal(size=(60, 6)) + 5.0 * y[:, None]
    est: Any = build_baseline(
        name, seed=3, **({"n_estimators": 10} if name == "extra_trees" else {})
    )
    est.fit(x, y)
    assert (est.predict(x) == y).mean() == 1.0
    if "random_state" in est.get_params():
        assert est.get_params()["random_state"] == 3


def test_seed_changes_the_tree() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(80, 5)), rng.integers(0, 2, 80)
    probe = rng.normal(size=(200, 5))
    trees: list[Any] = [build_baseline("extra_trees", seed=s, n_estimators=5) for s in (0, 0, 1)]
    preds = [t.fit(x, y).predict(probe) for t in trees]
    np.testing.assert_array_equal(preds[0], preds[1])
    assert (preds[0] != preds[2]).any()


def test_build_baseline_unknown() -> None:
    with pytest.raises(ValueError, match="unknown model 'svm'; known: convnet"):
        build_baseline("svm", seed=0)
    with pytest.raises(ValueError, match=r"seed must be in \[0, 4294967295\], got -1"):
        build_baseline("decision_tree", seed=-1)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 25), st.integers(1, 25), st.integers(0, 2**32 - 1))
def test_ledoit_wolf_shrinkage_matches_sklearn(n: int, d: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.1, 10.0, size=d)
    a = x - x.mean(0)
    gram = a @ a.T if n <= d else a.T @ a
    if d == 1:
        return  # sklearn returns 0.0 for one feature by convention
    assert ledoit_wolf_shrinkage(a, gram) == pytest.approx(sk_shrinkage(x), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("per_class", [4, 40])  # fewer samples than features, then more
@pytest.mark.parametrize("shared", [False, True])
def test_shrunk_gaussian_matches_dense_reference(per_class: int, shared: bool) -> None:
    """Log posteriors equal a dense N(mean, LedoitWolf covariance) density, both code paths."""
    rng = np.random.default_rng(1)
    d = 12
    x = np.concatenate([rng.normal(c, 1.0 + c, size=(per_class, d)) for c in range(3)])
    y = np.repeat([10, 20, 30], per_class)  # any class values
    est = ShrunkGaussianClassifier(shared_covariance=shared, reg=0.0).fit(x, y)
    probe = rng.normal(1.0, 2.0, size=(9, d))
    ref = np.empty((9, 3))
    centered = np.concatenate([x[y == c] - x[y == c].mean(0) for c in (10, 20, 30)])
    for i, c in enumerate((10, 20, 30)):
        if shared:
            cov = LedoitWolf(assume_centered=True).fit(centered).covariance_
        else:
            cov = LedoitWolf().fit(x[y == c]).covariance_
        logpdf = multivariate_normal(x[y == c].mean(0), cov).logpdf(probe)
        ref[:, i] = np.log(1 / 3) + logpdf + 0.5 * d * np.log(2 * np.pi)
    np.testing.assert_allclose(est.decision_function(probe), ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(est.predict(probe), np.array([10, 20, 30])[ref.argmax(1)])
    np.testing.assert_allclose(est.predict_proba(probe).sum(1), 1.0)


def test_qda_fits_3072_features_with_36_samples_per_class() -> None:
    """Where plain QDA's covariances are singular (scikit-learn 1.9 refuses to fit)."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 36)
    means = rng.uniform(0, 255, size=(10, 3072))
    x = np.clip(means[y] + rng.normal(0, 40, size=(360, 3072)), 0, 255).astype(np.float32)
    start = time.perf_counter()
    est = build_baseline("qda").fit(x, y)
    seconds = time.perf_counter() - start
    assert all(0.0 < g.shrinkage < 1.0 for g in est.gaussians_)
    x_new = np.clip(means[y] + rng.normal(0, 40, size=(360, 3072)), 0, 255)
    assert (est.predict(x_new) == y).mean() == 1.0
    assert np.isfinite(est.decision_function(x_new)).all()
    assert seconds < 20  # ~0.3 s: O(n^2 D) through the Gram matrix, not O(D^3)


def test_shrunk_gaussian_single_sample_class() -> None:
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    est = ShrunkGaussianClassifier().fit(x, np.array([0, 0, 0, 1]))
    scores = est.decision_function(np.array([[5.0, 5.0], [0.2, 0.2]]))
    assert np.isfinite(scores).all()
    assert est.predict(np.array([[5.0, 5.0], [0.2, 0.2]])).tolist() == [1, 0]


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "match"),
    [
        (np.zeros((3, 2)), np.zeros(2), {}, r"x \(N, D\) and y \(N,\) with N >= 1"),
        (np.zeros(3), np.zeros(3), {}, r"x \(N, D\) and y \(N,\)"),
        (np.array([[np.nan, 0.0]]), np.zeros(1), {}, "NaN or infinite"),
        (np.zeros((2, 2)), np.zeros(2), {"reg": 1.0}, r"reg must be in \[0, 1\), got 1.0"),
    ],
)
def test_shrunk_gaussian_fit_errors(x: Any, y: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ShrunkGaussianClassifier(**kwargs).fit(x, y)


def test_shrunk_gaussian_predict_checks_width() -> None:
    est = ShrunkGaussianClassifier().fit(np.eye(4), np.array([0, 0, 1, 1]))
    with pytest.raises(
        ValueError, match=r"x must be \(N, 4\) like the training data, got \(1, 3\)"
    ):
        est.predict(np.zeros((1, 3)))


# -- the paper's finding -----------------------------------------------------------------------
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def digits() -> Any:
    return load_dataset("digits")


def _tree_accuracy(digits: Any, x_tr: Any, x_te: Any, seed: int) -> float:
    idx = fit_subset(len(digits.y_train), 0.25, seed=seed)  # the paper fits on a quarter
    tree = build_baseline("decision_tree", seed=seed).fit(x_tr[idx], digits.y_train[idx])
    return float((tree.predict(x_te) == digits.y_test).mean())


def test_decision_tree_on_clean_digits(digits: Any) -> None:
    """The control: without a signal the same tree is far from perfect (measured 77%, 78%, 76%)."""
    x_tr, x_te = features(digits.x_train), features(digits.x_test)
    assert max(_tree_accuracy(digits, x_tr, x_te, s) for s in SEEDS) < 0.85


@pytest.mark.parametrize(
    "injector", [si.OnePixel(num_classes=10), si.PatternPixels(num_classes=10)], ids=repr
)
def test_decision_tree_reads_the_signal(digits: Any, injector: Any) -> None:
    """Hoffer et al. (2018), Table 1: a tree on raw pixels, fitted on a quarter, reaches ~100%."""
    n = len(digits.y_train)
    x_tr = features(injector(digits.x_train, digits.y_train))
    test_index = np.arange(n, n + len(digits.y_test))  # per-sample draws never repeat
    x_te = features(injector(digits.x_test, digits.y_test, index=test_index))
    accs = [_tree_accuracy(digits, x_tr, x_te, s) for s in SEEDS]
    # Measured: one pixel 97.5%, 100%, 100%; pattern pixels 97.3%, 98.2%, 100%.
    assert min(accs) >= 0.97
    assert np.mean(accs) >= 0.98
