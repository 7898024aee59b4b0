"""A scikit-learn meta-estimator that injects the signal into the training rows during ``fit``.

An injector cannot live in a ``FunctionTransformer`` (a transformer never sees ``y``), so
[`InjectedEstimator`][signalinject.sklearn.InjectedEstimator] wraps a classifier: ``fit(X, y)``
injects each row's label signal into ``X`` and fits a clone of the classifier on it; ``predict`` and
friends pass ``X`` through untouched. Rows are images flattened to ``n_features`` columns
(``image_shape``).

Each row is keyed by a stable index so that it is injected the same way in every
cross-validation fold: ``fit(X, y, index=ids)`` (``cross_validate(..., params={"index": ids})``
hands each fold its rows' ids), or an ``index_column`` of ``X`` that holds the ids (dropped
before injection and fitting). Without either, the keys are the row positions of the ``fit``
call, which differ from fold to fold. Ids are integers: floats are refused, never truncated.
``score`` with ``inject_score=True`` never keys by position: it needs the ids too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn import get_config
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.metrics import accuracy_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from signalinject._backend import to_backend
from signalinject.core import Compose, Injector

__all__ = ["InjectedEstimator"]

#: Why ``inject_score=True`` needs the rows' ids at scoring time, and the two ways to give them.
_NEEDS_IDS = (
    "inject_score=True injects the rows score() sees keyed by their ids, never by their "
    "positions (in a fold they are not the rows' ids), and no ids reach score(): pass "
    "index_column= (the column of X "
    "that holds each row's id), or enable metadata routing "
    "(sklearn.set_config(enable_metadata_routing=True)) and request the ids for scoring "
    "(est.set_score_request(index=True), est.set_fit_request(index=True)), then "
    "cross_validate(..., params={'index': ids})"
)


def _has(name: str) -> Any:
    """``available_if`` check: the wrapped (or fitted) estimator has method ``name``."""

    def check(self: InjectedEstimator) -> bool:
        est = getattr(self, "estimator_", self.estimator)
        return hasattr(est, name)

    return check


class InjectedEstimator(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):  # type: ignore[misc]
    """Fit ``estimator`` on rows that carry the signal of their label.

    Args:
        estimator: a scikit-learn classifier (cloned at ``fit``).
        injector: an image [`Injector`][signalinject.core.Injector] or
            [`Compose`][signalinject.core.Compose].
        image_shape: ``(H, W, C)`` of one row (channels-last; ``H * W * C`` must equal the
            number of feature columns, the index column aside). None: ``(1, n_features, 1)``,
            each feature one pixel of a one-row grayscale image.
        index_column: the column of ``X`` that holds each row's stable integer id (dropped
            before injection, fitting and prediction); None: ``fit(..., index=)`` or the row
            positions.
        inject_score: ``score(X, y)`` injects ``X`` with ``y`` first (the accuracy with the
            signal), keyed by the rows' ids, never by their positions: it needs
            ``index_column``, or metadata routing with ``set_score_request(index=True)``
            (checked at ``fit``), or ``score(X, y, index=ids)``. By default nothing is injected
            outside ``fit``. True or False.

    Rows are float (scikit-learn's ``validate_data``): give the injector the range they span
    (``value_range=(0, 16)`` for the digits), or a ``ValueRangeWarning`` says that the signal is
    scaled for [0, 1].

    Attributes:
        estimator_: the fitted clone. classes_: the labels, sorted (label ``classes_[k]`` is
            injected as class ``k``). n_features_in_: the number of columns of ``X``.

    Examples:
        >>> import numpy as np, signalinject as si
        >>> from sklearn.tree import DecisionTreeClassifier
        >>> from signalinject.sklearn import InjectedEstimator
        >>> rng = np.random.default_rng(0)
        >>> X = rng.integers(0, 256, (200, 16)).astype(float)
        >>> y, index = rng.integers(0, 4, 200), np.arange(200)
        >>> inj = si.OnePixel(4, value_range=(0, 255))  # float rows: their range
        >>> est = InjectedEstimator(DecisionTreeClassifier(random_state=0), inj)
        >>> est.fit(X, y, index=index).score(X, y)  # no signal at test time
        0.23
        >>> est.set_params(inject_score=True).score(X, y, index=index)  # reads it
        1.0
    """

    def __init__(
        self,
        estimator: Any,
        injector: Injector | Compose,
        *,
        image_shape: tuple[int, int, int] | None = None,
        index_column: int | None = None,
        inject_score: bool = False,
    ) -> None:
        self.estimator = estimator
        self.injector = injector
        self.image_shape = image_shape
        self.index_column = index_column
        self.inject_score = inject_score

    # -- helpers ------------------------------------------------------------------------------
    def _split(
        self, X: npt.NDArray[Any], index: Any, *, scoring: bool = False
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
        """``(features, keys)``: the index column dropped, and the rows' keys.

        ``scoring``: keys for ``score`` with ``inject_score``, which never falls back to the
        row positions (they differ between the rows of a fold and the ids they stand for).
        """
        n = X.shape[0]
        col = self.index_column
        if col is not None:
            if isinstance(col, bool) or not isinstance(col, (int, np.integer)):
                raise TypeError(f"index_column must be an int or None, got {col!r}")
            if not -X.shape[1] <= col < X.shape[1]:
                raise ValueError(f"index_column={col} is outside X's {X.shape[1]} columns")
            ids = X[:, col]
            if index is None:
                # X is float: an id must be a whole number float64 holds exactly.
                bad = (ids != np.round(ids)) | (ids < 0) | ~(ids <= 2.0**53)
                if bad.any():
                    raise ValueError(
                        f"index_column={col} must hold non-negative integer ids (at most "
                        f"2**53), got values such as {ids[bad][:3].tolist()}"
                    )
                index = ids.astype(np.int64)
            X = np.delete(X, col, axis=1)
        if index is None:
            if scoring:
                raise ValueError(_NEEDS_IDS)
            return X, np.arange(n, dtype=np.int64)
        keys = np.asarray(to_backend(index, X, name="index"))  # floats refused, never truncated
        if keys.ndim != 1 or keys.shape[0] != n:
            raise ValueError(f"index must hold one id per row of X ({n}), got shape {keys.shape}")
        return X, keys

    def _images(self, X: npt.NDArray[Any]) -> tuple[int, ...]:
        if not isinstance(self.injector, (Injector, Compose)) or self.injector.kind != "image":
            raise TypeError(f"injector must be an image Injector or Compose, got {self.injector!r}")
        given = self.image_shape
        if given is not None and (
            isinstance(given, (str, bytes))
            or not isinstance(given, (tuple, list))
            or len(given) != 3
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in given)
        ):
            raise TypeError(f"image_shape must be (H, W, C), three integers, got {given!r}")
        if given is not None and min(given) < 1:
            raise ValueError(f"image_shape must hold positive sizes (H, W, C), got {given!r}")
        shape: tuple[int, ...] = (1, X.shape[1], 1) if given is None else tuple(map(int, given))
        if int(np.prod(shape)) != X.shape[1]:
            raise ValueError(
                f"image_shape must be (H, W, C) with H * W * C = {X.shape[1]} (the feature "
                f"columns of X), got {self.image_shape!r}"
            )
        return shape

    def _inject(self, X: npt.NDArray[Any], codes: Any, keys: npt.NDArray[np.int64]) -> Any:
        shape = self._images(X)
        imgs = np.ascontiguousarray(X).reshape(X.shape[0], *shape)
        inject: Any = self.injector  # image injectors (checked above) take channels_last
        out = inject(imgs, codes, index=keys, channels_last=True)
        return out.reshape(X.shape)

    def _codes(self, y: Any) -> npt.NDArray[np.int64]:
        """The class each label encodes: integer labels in ``[0, num_classes)`` themselves (the
        same in every fold), other labels their position in ``classes_``."""
        y = np.asarray(y)
        if self._labels_are_codes:
            if np.issubdtype(y.dtype, np.integer) and ((y >= 0) & (y < self._k)).all():
                return np.asarray(y, dtype=np.int64)
            raise ValueError(
                f"y must hold integer labels in [0, {self._k - 1}] as in fit, got "
                f"{np.unique(y)[:5].tolist()}"
            )
        codes = np.searchsorted(self.classes_, y)
        codes = np.minimum(codes, len(self.classes_) - 1)
        unseen = self.classes_[codes] != y
        if unseen.any():
            raise ValueError(
                f"y holds labels not seen in fit: {np.unique(np.asarray(y)[unseen])[:5].tolist()}"
            )
        return np.asarray(codes, dtype=np.int64)

    # -- scikit-learn API ---------------------------------------------------------------------
    def __sklearn_tags__(self) -> Any:
        """The classifier's tags; ``poor_score``: fitted on injected rows, it may rely on the
        signal and score poorly on clean rows (that is what it measures)."""
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags

    def fit(self, X: Any, y: Any, index: Any = None, **fit_params: Any) -> InjectedEstimator:
        """Inject each row's label signal and fit a clone of ``estimator`` on the result.

        Args:
            X: ``(n_samples, n_features)``.
            y: labels ``(n_samples,)``: integers in ``[0, num_classes)`` are injected as
                themselves; other labels (strings, ...) as their position in ``classes_``
                (at most ``num_classes`` distinct ones).
            index: stable integer ids ``(n_samples,)`` keying each row's draws (see module doc).
            **fit_params: passed to ``estimator.fit`` (e.g. ``sample_weight``).
        """
        self._check_scoring_ids()
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        k = self.injector.num_classes if isinstance(self.injector, (Injector, Compose)) else 0
        if len(self.classes_) > k:
            raise ValueError(
                f"y holds {len(self.classes_)} classes, more than the injector's num_classes={k}"
            )
        self._k = k
        self._labels_are_codes = bool(
            np.issubdtype(self.classes_.dtype, np.integer)
            and self.classes_[0] >= 0
            and self.classes_[-1] < k
        )
        feats, keys = self._split(X, index)
        injected = self._inject(feats, self._codes(y), keys)
        self.estimator_ = clone(self.estimator).fit(injected, y, **fit_params)
        return self

    def _check_scoring_ids(self) -> None:
        """Refuse a non-bool ``inject_score``, and ``inject_score=True`` where ``score`` would
        receive no ids: no ``index_column``, and ``index`` not routed to ``score``."""
        if not isinstance(self.inject_score, (bool, np.bool_)):
            raise TypeError(f"inject_score must be True or False, got {self.inject_score!r}")
        if not self.inject_score or self.index_column is not None:
            return
        if get_config().get("enable_metadata_routing", False):
            request = self.get_metadata_routing().score.requests.get("index")
            if request is True or isinstance(request, str):  # requested, or under an alias
                return
        raise ValueError(_NEEDS_IDS)

    def inject(self, X: Any, y: Any, index: Any = None) -> Any:
        """``X`` (index column dropped) with the signal of ``y`` in each row, as in ``fit``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        feats, keys = self._split(X, index)
        return self._inject(feats, self._codes(np.asarray(y)), keys)

    def _features(self, X: Any) -> Any:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return X if self.index_column is None else np.delete(X, self.index_column, axis=1)

    def predict(self, X: Any) -> Any:
        """The fitted estimator's predictions on ``X`` as given (nothing injected)."""
        feats = self._features(X)  # checks that it is fitted first
        return self.estimator_.predict(feats)

    @available_if(_has("predict_proba"))  # type: ignore[untyped-decorator]
    def predict_proba(self, X: Any) -> Any:
        """The fitted estimator's ``predict_proba`` on ``X`` as given."""
        feats = self._features(X)  # checks that it is fitted first
        return self.estimator_.predict_proba(feats)

    @available_if(_has("decision_function"))  # type: ignore[untyped-decorator]
    def decision_function(self, X: Any) -> Any:
        """The fitted estimator's ``decision_function`` on ``X`` as given."""
        feats = self._features(X)  # checks that it is fitted first
        return self.estimator_.decision_function(feats)

    def score(self, X: Any, y: Any, sample_weight: Any = None, index: Any = None) -> float:
        """Accuracy on ``X`` as given, or on ``X`` injected with ``y`` if ``inject_score``."""
        if not isinstance(self.inject_score, (bool, np.bool_)):
            raise TypeError(f"inject_score must be True or False, got {self.inject_score!r}")
        if self.inject_score:
            check_is_fitted(self)
            X = validate_data(self, X, reset=False)
            feats, keys = self._split(X, index, scoring=True)
            feats = self._inject(feats, self._codes(np.asarray(y)), keys)
        else:
            feats = self._features(X)
        return float(accuracy_score(y, self.estimator_.predict(feats), sample_weight=sample_weight))
