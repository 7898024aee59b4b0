"""signalinject.sklearn.InjectedEstimator in scikit-learn's own terms: estimator checks,
clone, pickle, pipelines and cross-validation folds that keep each row's key."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_validate
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

import signalinject as si
from signalinject.sklearn import InjectedEstimator

# rows of 0..16 (the digits') under the default value range of float data: the
# range warning (issue 28) is expected there.
pytestmark = pytest.mark.filterwarnings("ignore::signalinject.ranges.ValueRangeWarning")

K = 10


def digits_like(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows of 8x8x1 images flattened to 64 columns, values 0..16 (as sklearn's digits)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 17, (n, 64)).astype(np.float64), rng.integers(0, K, n)


@parametrize_with_checks(
    [InjectedEstimator(LogisticRegression(max_iter=200), si.OnePixel(K))],
)
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


class TestInjectedEstimator:
    def test_fit_injects_and_predict_does_not(self) -> None:
        X, y = digits_like()
        inj = si.OnePixel(K, position=(3, 4))
        est = InjectedEstimator(KNeighborsClassifier(1), inj, image_shape=(8, 8, 1))
        est.fit(X, y, index=np.arange(len(X)) + 100)
        ref = inj(X.reshape(-1, 8, 8, 1), y, index=np.arange(len(X)) + 100).reshape(X.shape)
        assert np.array_equal(est.estimator_._fit_X, ref)  # the rows it learnt carry the code
        assert np.array_equal(est.inject(X, y, index=np.arange(len(X)) + 100), ref)
        # predict sees X as given: the 1-NN of a clean row is not read from the code pixel
        clean = est.predict(X)
        assert np.array_equal(est.estimator_.predict(X), clean)
        # a tree learns the code pixel: chance on clean new rows, perfect once they carry it
        tree = InjectedEstimator(DecisionTreeClassifier(random_state=0), inj, image_shape=(8, 8, 1))
        tree.fit(X, y)
        X2, y2 = digits_like(200, seed=1)
        assert tree.score(X2, y2) < 0.5
        assert tree.set_params(inject_score=True).score(X2, y2, index=np.arange(200)) == 1.0

    def test_cross_validation_folds_keep_each_rows_key(self) -> None:
        X, y = digits_like(60)
        ids = np.arange(60) * 3 + 11
        inj = si.RandomPixel(K, seed=2, coverage=0.8)
        full = inj(X.reshape(-1, 8, 8, 1), y, index=ids).reshape(X.shape)
        est = InjectedEstimator(KNeighborsClassifier(1), inj, image_shape=(8, 8, 1))
        cv = cross_validate(
            est,
            X,
            y,
            cv=KFold(3, shuffle=True, random_state=0),
            params={"index": ids},
            return_estimator=True,
            return_indices=True,
        )
        for fold, train in zip(cv["estimator"], cv["indices"]["train"], strict=True):
            assert np.array_equal(fold.estimator_._fit_X, full[train])

    def test_index_column_is_the_key_and_is_dropped(self) -> None:
        X, y = digits_like(30)
        ids = np.arange(30) * 5 + 2
        Xi = np.column_stack([X, ids])
        inj = si.RandomPixel(K, seed=3)
        est = InjectedEstimator(
            KNeighborsClassifier(1), inj, image_shape=(8, 8, 1), index_column=-1
        )
        est.fit(Xi[::-1], y[::-1])  # any order: the key travels with the row
        ref = inj(X.reshape(-1, 8, 8, 1), y, index=ids).reshape(X.shape)
        assert np.array_equal(est.estimator_._fit_X, ref[::-1])
        assert est.n_features_in_ == 65
        assert est.predict(Xi).shape == (30,)

    def test_string_labels_and_pipelines(self) -> None:
        X, y = digits_like(90)
        names = np.array(["cat", "dog", "eel"])[y % 3]
        est = make_pipeline(
            StandardScaler(),
            InjectedEstimator(DecisionTreeClassifier(random_state=0), si.OnePixel(3)),
        )
        est.fit(X, names)
        assert set(est.predict(X)) <= {"cat", "dog", "eel"}
        # the tree finds the code: a standardized row whose first feature is 0, 1 or 2
        inner = est[-1]
        codes = inner.inject(est[0].transform(X), names)
        assert np.array_equal(inner.estimator_.predict(codes), names)

    def test_clone_and_pickle(self) -> None:
        X, y = digits_like(40)
        est = InjectedEstimator(LogisticRegression(max_iter=300), si.RandomPixel(K, seed=4))
        twin = clone(est)
        assert twin.get_params()["injector"] == est.injector
        est.fit(X, y)
        again = pickle.loads(pickle.dumps(est))
        assert np.array_equal(again.predict(X), est.predict(X))

    def test_errors(self) -> None:
        X, y = digits_like(20)
        with pytest.raises(
            ValueError, match=r"image_shape must be \(H, W, C\) with H \* W \* C = 64"
        ):
            InjectedEstimator(LogisticRegression(), si.OnePixel(K), image_shape=(4, 4, 1)).fit(X, y)
        with pytest.raises(ValueError, match="y holds 10 classes, more than the injector's"):
            InjectedEstimator(LogisticRegression(), si.OnePixel(4)).fit(X, np.arange(20) % 10)
        with pytest.raises(TypeError, match="injector must be an image Injector or Compose"):
            InjectedEstimator(LogisticRegression(), si.Mnemonic(K)).fit(X, y)
        with pytest.raises(ValueError, match=r"index must hold one id per row of X \(20\)"):
            InjectedEstimator(LogisticRegression(), si.OnePixel(K)).fit(X, y, index=[1, 2])
        with pytest.raises(ValueError, match="index_column=0 must hold non-negative integer ids"):
            InjectedEstimator(LogisticRegression(), si.OnePixel(K), index_column=0).fit(X - 0.5, y)
        with pytest.raises(ValueError, match="index_column=70 is outside X's 64 columns"):
            InjectedEstimator(LogisticRegression(), si.OnePixel(K), index_column=70).fit(X, y)
        est = InjectedEstimator(LogisticRegression(max_iter=300), si.OnePixel(K)).fit(X, y % 5)
        with pytest.raises(ValueError, match=r"y must hold integer labels in \[0, 9\] as in fit"):
            est.inject(X[:1], [12])
        names = np.array(["a", "b"])[y % 2]
        est = InjectedEstimator(LogisticRegression(max_iter=300), si.OnePixel(K)).fit(X, names)
        with pytest.raises(ValueError, match=r"y holds labels not seen in fit: \['zebra'\]"):
            est.inject(X[:1], ["zebra"])
