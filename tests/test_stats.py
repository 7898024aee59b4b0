"""Tests of signalinject.benchmarks.stats: intervals, the did-not-learn test, the verdict."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from signalinject.benchmarks import stats


class TestWilson:
    # Closed forms: at k = 0 the upper end is z^2 / (n + z^2), at k = n the lower end is
    # n / (n + z^2); 5 of 10 is the textbook (0.2366, 0.7634).
    @pytest.mark.parametrize(
        ("k", "n", "lo", "hi"),
        [
            (5, 10, 0.236593, 0.763407),
            (0, 10, 0.0, 1.959964**2 / (10 + 1.959964**2)),
            (10, 10, 10 / (10 + 1.959964**2), 1.0),
        ],
    )
    def test_known_values(self, k: int, n: int, lo: float, hi: float) -> None:
        got = stats.wilson_interval(k, n)
        assert got == pytest.approx((lo, hi), abs=1e-6)

    @settings(max_examples=100, deadline=None)
    @given(st.integers(2, 5000).flatmap(lambda n: st.tuples(st.integers(1, n - 1), st.just(n))))
    def test_ends_invert_the_score_test(self, kn: tuple[int, int]) -> None:
        # the Wilson ends are the rates p at which the score statistic |k/n - p| / sqrt(p(1-p)/n)
        # equals z: the interval is the set of rates the two-sided score test does not reject
        k, n = kn
        for p in stats.wilson_interval(k, n):
            score = abs(k / n - p) / math.sqrt(p * (1 - p) / n)
            assert score == pytest.approx(scipy_stats.norm.ppf(0.975), rel=1e-6)

    @settings(max_examples=100, deadline=None)
    @given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
    def test_holds_the_proportion(self, kn: tuple[int, int]) -> None:
        k, n = kn
        lo, hi = stats.wilson_interval(k, n)
        assert 0.0 <= lo <= k / n <= hi <= 1.0
        assert hi - lo > 0  # never empty, even at 0 and n

    def test_narrower_with_more_samples(self) -> None:
        a = stats.wilson_interval(50, 100)
        b = stats.wilson_interval(500, 1000)
        assert b[1] - b[0] < a[1] - a[0]

    @pytest.mark.parametrize(
        ("k", "n", "match"),
        [(1, 0, "n must be >= 1"), (11, 10, r"k must be in 0..n=10, got 11"), (-1, 5, "k must")],
    )
    def test_bad_counts(self, k: int, n: int, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            stats.wilson_interval(k, n)

    def test_bad_types_and_confidence(self) -> None:
        with pytest.raises(TypeError, match="k and n must be integers"):
            stats.wilson_interval(True, 10)
        with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\), got 1.5"):
            stats.wilson_interval(1, 10, confidence=1.5)


class TestSeedInterval:
    def test_one_seed_is_wilson(self) -> None:
        assert stats.seed_interval([0.5], 10) == stats.wilson_interval(5, 10)

    def test_several_seeds_t_interval(self) -> None:
        vals = [0.70, 0.80, 0.75]
        lo, hi = stats.seed_interval(vals, 10_000)  # big n: the t interval is the wider
        mean, sd = 0.75, 0.05
        half = scipy_stats.t.ppf(0.975, 2) * sd / math.sqrt(3)  # 4.303 * 0.05 / 1.732
        assert (lo, hi) == pytest.approx((mean - half, mean + half))

    def test_equal_seeds_keep_the_binomial_width(self) -> None:
        lo, hi = stats.seed_interval([1.0, 1.0, 1.0], 50)
        assert hi == 1.0
        assert lo == pytest.approx(stats.wilson_interval(150, 150)[0])
        assert lo < 1.0

    def test_sizes_per_seed(self) -> None:
        assert stats.seed_interval([0.5, 0.5], [10, 30]) == pytest.approx(
            stats.wilson_interval(20, 40)
        )

    @pytest.mark.parametrize(
        ("values", "n", "match"),
        [
            ([], 10, "values is empty"),
            ([1.5], 10, r"fractions in \[0, 1\], got 1.5"),
            ([math.nan], 10, "fractions"),
            ([0.5], 0, "n must hold integers >= 1, got 0"),
            ([0.5, 0.5], [10], r"one size or one per value \(2\), got 1"),
        ],
    )
    def test_bad_input(self, values: list[float], n: int | list[int], match: str) -> None:
        with pytest.raises(ValueError, match=match):
            stats.seed_interval(values, n)


class TestLearned:
    def test_majority_rate(self) -> None:
        assert stats.majority_rate([0, 1, 1, 2]) == 0.5
        with pytest.raises(ValueError, match="non-empty 1-D integer array"):
            stats.majority_rate([])
        with pytest.raises(ValueError, match="integer"):
            stats.majority_rate([0.5, 1.0])

    def test_against_scipy(self) -> None:
        # the char-CNN of an old stand-in: 46/180, the majority class being 46 of the 180
        p = stats.clean_p_value(46, 180, 46 / 180)
        assert p == pytest.approx(scipy_stats.binomtest(46, 180, 46 / 180, "greater").pvalue)
        assert p > 0.4
        assert not stats.learned(46, 180, 46 / 180)
        # against 1/K it would have "learned" at p = 0.04 (the wrong baseline)
        assert 0.01 < stats.clean_p_value(46, 180, 0.2) < 0.05
        assert stats.learned(120, 180, 46 / 180)

    def test_a_model_that_predicts_one_class(self) -> None:
        # 445 test images, the majority class 45 of them: predicting it gets 45/445
        assert not stats.learned(45, 445, 45 / 445)
        assert stats.learned(75, 445, 45 / 445)
        p = scipy_stats.binomtest(75, 445, 45 / 445, alternative="greater").pvalue
        assert stats.clean_p_value(75, 445, 45 / 445) == pytest.approx(p)
        assert p < 0.01

    def test_a_perfect_model(self) -> None:
        assert stats.learned(445, 445, 0.1)
        assert stats.clean_p_value(10, 10, 1.0) == 1.0  # nothing is above a rate of 1

    def test_bad_rate_and_alpha(self) -> None:
        with pytest.raises(ValueError, match=r"rate must be in \(0, 1\], got 0.0"):
            stats.clean_p_value(1, 10, 0.0)
        with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\), got 2"):
            stats.learned(1, 10, 0.5, alpha=2)


class TestVerdict:
    def test_point_values(self) -> None:
        assert stats.verdict(0.9, 10) == "reads"
        assert stats.verdict(0.3, 10) == "partial"
        assert stats.verdict(0.05, 10) == "ignores"
        assert stats.verdict(None, 10) is None
        assert stats.verdict(math.nan, 10) is None

    def test_thresholds_land_on_the_documented_side(self) -> None:
        assert stats.verdict(0.55, 10) == "reads"
        assert stats.verdict(0.19, 10) == "partial"

    def test_the_interval_decides(self) -> None:
        # a mean above the reads line but an interval reaching below it: not yet "reads"
        assert stats.verdict(0.6, 10, interval=(0.5, 0.7)) == "partial"
        assert stats.verdict(0.6, 10, interval=(0.56, 0.64)) == "reads"
        # symmetric: "ignores" needs the interval's high end below the ignores line (19%)
        assert stats.verdict(0.15, 10, interval=(0.1, 0.2)) == "partial"
        assert stats.verdict(0.15, 10, interval=(0.1, 0.18)) == "ignores"
        assert stats.verdict(0.25, 10, interval=(0.2, 0.3)) == "partial"
        # the cell: extra trees on one pixel, 17.5 [14.3, 21.3], was "ignores"
        assert stats.verdict(0.175, 10, interval=(0.143, 0.213)) == "partial"

    @given(
        k=st.integers(2, 20),
        a=st.floats(0, 1, allow_nan=False),
        b=st.floats(0, 1, allow_nan=False),
        learned=st.booleans(),
    )
    def test_the_rule_is_symmetric_in_the_interval(
        self, k: int, a: float, b: float, learned: bool
    ) -> None:
        lo, hi = min(a, b), max(a, b)
        ignores, reads = stats.verdict_lines(k)
        got = stats.verdict((lo + hi) / 2, k, interval=(lo, hi), learned=learned)
        if lo >= reads + 1e-6:
            assert got == "reads"
        elif hi < ignores - 1e-6:
            assert got == ("ignores" if learned else "did not learn")
        elif lo < reads - 1e-6 and hi >= ignores + 1e-6:
            assert got == "partial"

    def test_did_not_learn_replaces_only_ignores(self) -> None:
        assert stats.verdict(0.05, 10, learned=False) == "did not learn"
        assert stats.verdict(1.0, 10, learned=False) == "reads"  # a perfect reader still reads
        assert stats.verdict(0.3, 10, learned=False) == "partial"

    def test_non_finite_outputs(self) -> None:
        assert stats.verdict(0.05, 10, finite=False) == "non-finite"
        assert stats.verdict(1.0, 10, finite=False) == "non-finite"
        assert stats.verdict(None, 10, finite=False) == "non-finite"

    def test_normalized_reliance(self) -> None:
        assert stats.normalized_reliance(0.1, 10) == 0.0
        assert stats.normalized_reliance(1.0, 10) == 1.0
        with pytest.raises(ValueError, match="num_classes must be an integer >= 2, got 1"):
            stats.normalized_reliance(0.5, 1)

    def test_every_verdict_is_listed(self) -> None:
        got = {
            stats.verdict(r, 10, learned=lrn, finite=f)
            for r in (0.0, 0.3, 1.0)
            for lrn in (True, False)
            for f in (True, False)
        }
        assert got == set(stats.VERDICTS)
