"""The scikit-learn baselines, registered: fitted on flattened raw inputs and on a fraction of the
data.

As in the paper (Hoffer et al. 2018, Table 1): Gaussian naive Bayes, a decision tree, extra
trees, logistic regression, LDA and QDA, each on the raw values (pixels in 0..255, or the text's
integer codes) flattened to one vector per sample, fitted on a quarter of the training set.

LDA and QDA are the Ledoit-Wolf shrunk Gaussian class models of
[`signalinject.benchmarks.shrunk`][signalinject.benchmarks.shrunk]. scikit-learn is imported
when a baseline is built, not when this module registers them, so that the command line starts
without it.

Examples:
    >>> import numpy as np
    >>> fit_subset(8, 0.25, seed=0).tolist()
    [2, 6]
    >>> features(np.zeros((2, 4, 4, 3), np.uint8)).shape
    (2, 48)
"""

from __future__ import annotations

import importlib
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt

from signalinject._backend import hash_u32
from signalinject.benchmarks.registry import COLOURS, ModelEntry, register_model
from signalinject.core import check_fraction, check_int

__all__: list[str] = []


def features(x: Any) -> npt.NDArray[np.float32]:
    """Raw inputs ``(N, ...)`` -> float32 ``(N, D)``: images ``(N, H, W, C)`` or codes ``(N, L)``.

    The values are kept as they are (0..255 pixels, integer codes): the baselines see exactly
    what the signal wrote.
    """
    if isinstance(x, (list, tuple)):
        raise TypeError(
            "features needs an array (N, ...); quantize texts into integer codes first "
            f"(got a {type(x).__name__})"
        )
    arr = np.asarray(x)
    if arr.ndim < 2:
        raise ValueError(f"features needs a batch (N, ...) with ndim >= 2, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"features needs numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr.reshape(arr.shape[0], -1), dtype=np.float32)


_SUBSET_STREAM = zlib.crc32(b"fit_subset")


def fit_subset(n: int, fraction: float = 0.25, seed: int = 0) -> npt.NDArray[np.int64]:
    """Sorted indices of the ``round(n * fraction)`` samples (at least 1) a baseline is fitted on.

    The paper fits its baselines on a quarter of the training set. The subset is a pure function
    of ``(n, seed)`` through the library's counter-based hash (the same on every NumPy), and the
    subsets of one seed are nested: a larger fraction keeps every index of a smaller one.
    """
    n = check_int("n", n, low=1)
    f = check_fraction("fraction", fraction)
    if f == 0.0:
        raise ValueError("fraction must be in (0, 1], got 0.0")
    seed = check_int("seed", seed, low=0, high=2**64 - 1)
    m = max(1, round(n * f))
    order = np.argsort(hash_u32(np.arange(n, dtype=np.int64), seed, _SUBSET_STREAM, 0))
    return np.sort(order[:m]).astype(np.int64)


# -- the registry's entries ----------------------------------------------------------------------
def _estimator(path: str, *, seeded: bool, **fixed: Any) -> Any:
    """The builder of the estimator class at ``path`` (``module:Class``, imported when first
    built): ``cls(**fixed, **options)``, with ``random_state=seed`` where it draws (the input
    shape does not matter: an estimator sees the flattened features)."""
    module, name = path.split(":")

    def build(input_shape: tuple[int, ...], num_classes: int, *, seed: int, **options: Any) -> Any:
        seed = check_int("seed", seed, low=0, high=2**32 - 1)
        cls = getattr(importlib.import_module(module), name)
        return cls(**{**fixed, **({"random_state": seed} if seeded else {}), **options})

    return build


_SHRUNK = "signalinject.benchmarks.shrunk:ShrunkGaussianClassifier"


def _runs(name: str, *more: str) -> dict[str, str]:
    """Every baseline runs in both suites (``images``, ``text``), some in ``more`` runs."""
    return {run: name for run in ("images", "text", *more)}


register_model(ModelEntry(
    "gaussian_nb", _estimator("sklearn.naive_bayes:GaussianNB", seeded=False),
    "Gaussian naive Bayes", ("features",), COLOURS[6], identity="paper",
    defaults=_runs("gaussian_nb"), description="GaussianNB()",
))  # fmt: skip
register_model(ModelEntry(
    # also in the atlas and the sweeps: the competitor that reads the codes
    "decision_tree", _estimator("sklearn.tree:DecisionTreeClassifier", seeded=True),
    "Decision tree", ("features",), COLOURS[1], identity="paper",
    defaults=_runs("decision_tree", "atlas", "atlas_full", "sweep"),
    description="DecisionTreeClassifier(random_state=seed)",
))  # fmt: skip
register_model(ModelEntry(
    "extra_trees",
    _estimator("sklearn.ensemble:ExtraTreesClassifier", seeded=True, n_estimators=100),
    "Extra trees", ("features",), COLOURS[2], identity="paper", defaults=_runs("extra_trees"),
    description="ExtraTreesClassifier(n_estimators=100, random_state=seed)",
))  # fmt: skip
register_model(ModelEntry(
    "logistic_regression",
    _estimator("sklearn.linear_model:LogisticRegression", seeded=True, max_iter=1000),
    "Logistic regression", ("features",), COLOURS[3], identity="paper",
    defaults=_runs("logistic_regression"),
    description="LogisticRegression(max_iter=1000, random_state=seed): L2, C=1",
))  # fmt: skip
register_model(ModelEntry(
    "lda", _estimator(_SHRUNK, seeded=False, shared_covariance=True), "LDA", ("features",),
    COLOURS[4], identity="paper", defaults=_runs("lda"),
    description="ShrunkGaussianClassifier(shared_covariance=True)",
))  # fmt: skip
register_model(ModelEntry(
    "qda", _estimator(_SHRUNK, seeded=False, shared_covariance=False), "QDA", ("features",),
    COLOURS[5], identity="paper", defaults=_runs("qda"),
    description="ShrunkGaussianClassifier(shared_covariance=False)",
))  # fmt: skip
