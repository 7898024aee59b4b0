"""The statistics behind the benchmark's answers: 95% intervals, the "did not learn" test and the
verdict of a model on a signal.

- [`wilson_interval`][signalinject.benchmarks.stats.wilson_interval]: the Wilson score interval of a
  binomial proportion (one seed: ``k`` hits out of the ``n`` test samples). Unlike the normal
  approximation it stays inside [0, 1] and is not empty at 0% or 100%.
- `seed_interval`: over several seeds, the Student-t
  interval of the mean of the per-seed fractions, widened where needed to cover the Wilson interval
  of the pooled counts (the seeds share one test set, so their spread alone can be 0 and claim a
  certainty the test-set size does not have).
- [`paired_difference`][signalinject.benchmarks.stats.paired_difference]: the difference of two
  accuracies on the same test samples (the shortcut drop: the clean-trained model's accuracy on
  clean test images minus the signal-trained model's) and its interval from the pairs of answers
  (a normal interval of the paired difference, Agresti & Min's adjustment); `discordant` counts
  the pairs that disagree.
- `learned`: whether a clean accuracy is significantly
  above the *majority-class rate* of the test set (one-sided exact binomial test,
  ``scipy.stats.binomtest``, p < `ALPHA`). The majority rate,
  not 1/K, is the rate of a model that learned nothing but the most frequent
  class: the char-CNN's 46/180 on an old stand-in beat 1/5 at p = 0.04 while predicting mostly
  one class (46 of the 180 test texts were of that class).
- [`verdict`][signalinject.benchmarks.stats.verdict]: ``reads`` (the reliance's interval lies above
  the reads line) / ``partial`` / ``ignores`` (the reliance is below the ignores line);
  ``did not learn`` replaces ``ignores`` for a model that did not learn the clean task, and
  ``non-finite`` any verdict of a model whose outputs held NaN or infinity.

Examples:
    >>> tuple(round(v, 4) for v in wilson_interval(5, 10))
    (0.2366, 0.7634)
    >>> learned(46, 180, 46 / 180), learned(120, 180, 46 / 180)
    (False, True)
    >>> verdict(0.95, 10, interval=(0.93, 0.97)), verdict(0.05, 10, interval=(0.03, 0.07))
    ('reads', 'ignores')
    >>> verdict(0.05, 10, interval=(0.03, 0.07), learned=False)
    'did not learn'
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as _scipy_stats

__all__ = [
    "IGNORES",
    "READS",
    "VERDICTS",
    "normalized_reliance",
    "paired_difference",
    "verdict",
    "wilson_interval",
]

#: Confidence of every interval.
CONFIDENCE = 0.95
#: Significance level of the "did not learn" test (one-sided).
ALPHA = 0.01
#: Normalized reliance at and above which (interval's lower end) the verdict is ``reads``.
READS = 0.5
#: Normalized reliance below which (interval's upper end) the verdict is ``ignores``.
IGNORES = 0.1

DID_NOT_LEARN = "did not learn"
NON_FINITE = "non-finite"
#: Every verdict, from the strongest reading to the failures.
VERDICTS: tuple[str, ...] = ("reads", "partial", "ignores", DID_NOT_LEARN, NON_FINITE)


def _counts(k: int, n: int) -> tuple[int, int]:
    if isinstance(k, bool) or isinstance(n, bool):
        raise TypeError(f"k and n must be integers, got k={k!r}, n={n!r}")
    k, n = int(k), int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1 (the number of trials), got {n}")
    if not 0 <= k <= n:
        raise ValueError(f"k must be in 0..n={n}, got {k}")
    return k, n


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return float(_scipy_stats.norm.ppf(0.5 + confidence / 2))


def wilson_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of ``k`` successes in ``n`` trials (fractions in [0, 1]).

    Examples:
        >>> wilson_interval(0, 10)[1] > 0.2, wilson_interval(10, 10)[0] < 0.8
        (True, True)
    """
    k, n = _counts(k, n)
    z = _z(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact ends at 0 and n (the formula gives them up to rounding)
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def seed_interval(
    values: Sequence[float], n: int | Sequence[int], confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """A 95% interval of a fraction measured on ``n`` samples per seed, one value per seed.

    One seed: the Wilson interval at ``n``. Several: the Student-t interval of their mean,
    widened to cover the Wilson interval of the pooled counts (``sum(round(v_i * n_i))`` of
    ``sum(n_i)``), clipped to [0, 1].

    Args:
        values: per-seed fractions in [0, 1] (finite).
        n: the number of samples each fraction is measured on (the test set, or the test samples
            that carry the signal): one for all seeds, or one per seed.

    Examples:
        >>> tuple(round(v, 3) for v in seed_interval([0.9], 100))
        (0.826, 0.945)
        >>> tuple(round(v, 3) for v in seed_interval([0.80, 0.90, 0.85], 100))
        (0.726, 0.974)
    """
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("values is empty: an interval needs at least one seed")
    for v in vals:
        if not (math.isfinite(v) and 0.0 <= v <= 1.0):
            raise ValueError(f"values must be fractions in [0, 1], got {v}")
    sizes = [n] * len(vals) if isinstance(n, int) else list(n)
    if len(sizes) != len(vals):
        raise ValueError(f"n must be one size or one per value ({len(vals)}), got {len(sizes)}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"n must hold integers >= 1, got {size!r}")
    k = sum(round(v * size) for v, size in zip(vals, sizes, strict=True))
    pooled = wilson_interval(k, sum(sizes), confidence)
    if len(vals) == 1:
        return pooled
    mean = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    t = float(_scipy_stats.t.ppf(0.5 + confidence / 2, len(vals) - 1))
    half = t * sd / math.sqrt(len(vals))
    return max(0.0, min(mean - half, pooled[0])), min(1.0, max(mean + half, pooled[1]))


def paired_difference(
    n10: int, n01: int, n: int, confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """The difference of two accuracies measured on the same ``n`` samples, and its interval.

    The samples are paired (two models answered each): ``n10`` of them the first model got
    right and the second wrong, ``n01`` the reverse; the others (both right, both wrong) do
    not move the difference. The interval is a normal (Wald) interval of the paired
    difference with Agresti & Min's (2005) adjustment, 0.5 added to each of the four cells of
    the 2x2 table of pairs (``n + 2`` pairs), which keeps it from shrinking to a point when
    no pair disagrees; clipped to [-1, 1]. Several seeds pool their pairs: sum ``n10``,
    ``n01`` and ``n`` over them.

    Returns:
        ``(difference, low, high)``: ``(n10 - n01) / n`` and the interval, in [-1, 1].

    Raises:
        ValueError: ``n < 1``, a negative count, or ``n10 + n01 > n``.

    Examples:
        >>> tuple(round(v, 4) for v in paired_difference(30, 10, 100))
        (0.2, 0.0791, 0.3131)
        >>> paired_difference(0, 0, 100)[0], paired_difference(0, 0, 100)[2] > 0
        (0.0, True)
    """
    for name, v in (("n10", n10), ("n01", n01), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {v!r}")
    n10, n01, n = int(n10), int(n01), int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1 (the number of paired samples), got {n}")
    if n10 < 0 or n01 < 0 or n10 + n01 > n:
        raise ValueError(
            f"n10 and n01 must be >= 0 with n10 + n01 <= n={n}, got n10={n10}, n01={n01}"
        )
    z = _z(confidence)
    m = n + 2
    p10, p01 = (n10 + 0.5) / m, (n01 + 0.5) / m
    centre = p10 - p01
    half = z * math.sqrt(max(p10 + p01 - centre * centre, 0.0) / m)
    return (n10 - n01) / n, max(-1.0, centre - half), min(1.0, centre + half)


def discordant(first: object, second: object) -> tuple[int, int]:
    """``(n10, n01)`` of two per-sample correctness vectors (bool ``(N,)``, the same samples):
    the samples only the first got right, and those only the second got right.

    Raises:
        ValueError: not 1-D boolean vectors of one length.
    """
    a, b = np.asarray(first), np.asarray(second)
    if a.dtype != np.bool_ or b.dtype != np.bool_ or a.ndim != 1 or a.shape != b.shape:
        raise ValueError(
            f"first and second must be 1-D boolean vectors of one length, got {a.dtype} "
            f"{a.shape} and {b.dtype} {b.shape}"
        )
    return int((a & ~b).sum()), int((~a & b).sum())


def majority_rate(labels: Sequence[int] | object) -> float:
    """The fraction of the most frequent class in ``labels`` (1-D integer labels, not empty).

    Examples:
        >>> majority_rate([0, 1, 1, 2])
        0.5
    """
    import numpy as np

    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be a non-empty 1-D integer array, got {y.dtype} {y.shape}")
    return float(np.unique(y, return_counts=True)[1].max() / y.size)


def clean_p_value(k: int, n: int, rate: float) -> float:
    """One-sided exact binomial p-value of ``k`` correct of ``n`` against a true rate ``rate``
    (H1: the accuracy is above ``rate``; ``scipy.stats.binomtest(..., alternative="greater")``).
    """
    k, n = _counts(k, n)
    if not (math.isfinite(rate) and 0.0 < rate <= 1.0):
        raise ValueError(f"rate must be in (0, 1], got {rate}")
    if rate == 1.0:
        return 1.0  # nothing is above a rate of 1
    return float(_scipy_stats.binomtest(k, n, rate, alternative="greater").pvalue)


def learned(k: int, n: int, rate: float, alpha: float = ALPHA) -> bool:
    """Whether ``k`` correct of ``n`` is significantly above the majority-class ``rate``
    (`clean_p_value` < ``alpha``)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return clean_p_value(k, n, rate) < alpha


def normalized_reliance(reliance: float, num_classes: int) -> float:
    """``(reliance - 1/K) / (1 - 1/K)``: 0 at chance, 1 when every prediction follows the signal.

    Examples:
        >>> normalized_reliance(0.1, 10), normalized_reliance(1.0, 10)
        (0.0, 1.0)
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    chance = 1.0 / num_classes
    return (reliance - chance) / (1.0 - chance)


def verdict(
    reliance: float | None,
    num_classes: int,
    *,
    interval: tuple[float, float] | None = None,
    learned: bool = True,
    finite: bool = True,
) -> str | None:
    """The verdict of a model on a signal (see the module doc); None without a reliance.

    Args:
        reliance: the reliance (mean over seeds), a fraction; None or NaN: no sample carried the
            signal.
        num_classes: K.
        interval: the reliance's 95% interval: ``reads`` needs its low end at or above the
            `READS` line (a claim of reading needs the
            evidence); None: the point value decides. ``ignores`` is the point value below the
            `IGNORES` line (no evidence of reading);
            ``partial`` anything else.
        learned: False when the model did not learn the clean task
            (`learned`): then ``did not learn`` replaces
            ``ignores`` (a model that follows the signal still ``reads`` it). Always True for
            blank-data runs.
        finite: False when the model's outputs held NaN or infinity: the verdict is
            ``non-finite``, whatever the reliance.
    """
    if not finite:
        return NON_FINITE
    if reliance is None or math.isnan(float(reliance)):
        return None
    lo = float(reliance) if interval is None else float(interval[0])
    # the tolerance makes a value exactly at a threshold (e.g. 19% for K = 10) land on the
    # documented side despite float rounding in the normalization
    if normalized_reliance(lo, num_classes) + 1e-9 >= READS:
        return "reads"
    if normalized_reliance(float(reliance), num_classes) + 1e-9 < IGNORES:
        return "ignores" if learned else DID_NOT_LEARN
    return "partial"
