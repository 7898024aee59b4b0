"""Tests of signalinject.carriers: exact carriers per class, nested across coverages, keyed by
(seed, index); exact truthful carriers per class at a fidelity; a single target class; and the
injection of any signal into the carriers alone (NumPy, torch, texts)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import signalinject as si
from signalinject._backend import hash_u32
from signalinject.carriers import CARRIER_STREAM, carrier_count

K = 5
labels = st.lists(st.integers(0, K - 1), min_size=1, max_size=300).map(
    lambda v: np.asarray(v, dtype=np.int64)
)
fractions = st.floats(0.001, 1.0)


def class_sizes(y: np.ndarray, k: int = K) -> list[int]:
    return [int(v) for v in np.bincount(y, minlength=k)]


def names_a_carrier(y: np.ndarray, c: float) -> bool:
    return any(carrier_count(n, c) for n in class_sizes(y))


class TestCount:
    def test_half_up(self) -> None:
        assert [carrier_count(n, 0.5) for n in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3]
        assert carrier_count(1350, 0.05) == 68  # 67.5, whatever the float product rounds to
        assert carrier_count(320, 0.005) == 2  # 1.6
        assert carrier_count(320, 0.001) == 0  # 0.32
        assert carrier_count(7, 1.0) == 7
        assert carrier_count(0, 0.5) == 0

    def test_refuses(self) -> None:
        with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\], got 1.5"):
            carrier_count(10, 1.5)
        with pytest.raises(ValueError, match=r"n must be in \[0, inf\], got -1"):
            carrier_count(-1, 0.5)


class TestCoverage:
    @settings(max_examples=60, deadline=None)
    @given(y=labels, c=fractions, seed=st.integers(0, 2**64 - 1))
    def test_exact_carriers_per_class(self, y: np.ndarray, c: float, seed: int) -> None:
        if not names_a_carrier(y, c):
            with pytest.raises(ValueError, match="names no carrier"):
                si.carriers(y, K, coverage=c, seed=seed)
            return
        plan = si.carriers(y, K, coverage=c, seed=seed)
        assert plan.counts == tuple(carrier_count(n, c) for n in class_sizes(y))
        np.testing.assert_array_equal(plan.code, y)  # fidelity 1: every code is its class

    @settings(max_examples=60, deadline=None)
    @given(y=labels, a=fractions, b=fractions, seed=st.integers(0, 2**32))
    def test_nested_across_coverages(self, y: np.ndarray, a: float, b: float, seed: int) -> None:
        lo, hi = sorted((a, b))
        if not names_a_carrier(y, lo):
            return
        small = si.carriers(y, K, coverage=lo, seed=seed).carried
        large = si.carriers(y, K, coverage=hi, seed=seed).carried
        assert not (small & ~large).any()  # every carrier of the smaller is one of the larger

    @settings(max_examples=40, deadline=None)
    @given(y=labels, c=fractions, seed=st.integers(0, 2**32), data=st.data())
    def test_decided_by_seed_and_index_not_by_order(
        self, y: np.ndarray, c: float, seed: int, data: st.DataObject
    ) -> None:
        if not names_a_carrier(y, c):
            return
        index = np.arange(1000, 1000 + len(y), dtype=np.int64)
        perm = np.asarray(data.draw(st.permutations(range(len(y)))), dtype=np.int64)
        one = si.carriers(y, K, coverage=c, seed=seed, index=index)
        other = si.carriers(y[perm], K, coverage=c, seed=seed, index=index[perm])
        assert set(index[one.carried]) == set(index[perm][other.carried])

    def test_the_same_twice_and_another_seed_differs(self) -> None:
        y = np.repeat(np.arange(K), 200)
        a = si.carriers(y, K, coverage=0.1, seed=3).carried
        np.testing.assert_array_equal(a, si.carriers(y, K, coverage=0.1, seed=3).carried)
        assert (a != si.carriers(y, K, coverage=0.1, seed=4).carried).any()
        # pinned: the carriers of seed 0 (a change of the key is a change of every result):
        # the 5 lowest keys of the carrier stream
        first = np.flatnonzero(si.carriers(np.zeros(50, np.int64), 2, coverage=0.1).carried)
        key = hash_u32(np.arange(50, dtype=np.int64), 0, CARRIER_STREAM, 0)
        assert first.tolist() == sorted(np.argsort(key)[:5].tolist()) == [3, 4, 21, 23, 35]

    def test_among(self) -> None:
        y = np.repeat(np.arange(K), 40)
        among = np.zeros(len(y), dtype=bool)
        among[::4] = True  # 10 of each class
        plan = si.carriers(y, K, coverage=0.3, among=among)
        assert plan.counts == (3,) * K
        assert not (plan.carried & ~among).any()

    def test_full_coverage_is_every_sample(self) -> None:
        y = np.array([0, 1, 1, 2, 4, 4, 4], dtype=np.int64)
        plan = si.carriers(y, K, coverage=1.0)
        assert plan.carried.all()
        assert plan.counts == (1, 2, 1, 0, 3)

    def test_torch_labels(self) -> None:
        y = torch.arange(20) % 2
        plan = si.carriers(y, 2, coverage=0.2, seed=1)
        assert plan.counts == (2, 2)
        assert isinstance(plan.carried, np.ndarray)


class TestTarget:
    @settings(max_examples=40, deadline=None)
    @given(y=labels, c=fractions, t=st.integers(0, K - 1))
    def test_only_the_target_carries(self, y: np.ndarray, c: float, t: int) -> None:
        if carrier_count(int((y == t).sum()), c) == 0:
            with pytest.raises(ValueError, match=f"names no carrier.*in class {t}"):
                si.carriers(y, K, coverage=c, target=t)
            return
        plan = si.carriers(y, K, coverage=c, target=t)
        assert not plan.carried[y != t].any()
        assert plan.counts[t] == carrier_count(int((y == t).sum()), c)

    def test_writes_nothing_into_other_classes(self) -> None:
        y = np.repeat(np.arange(K), 30)
        x = np.random.default_rng(0).integers(16, 240, (len(y), 8, 8, 3), dtype=np.uint8)
        plan = si.carriers(y, K, coverage=0.5, target=2)
        out = plan.inject(si.ClassPatch(K, size=2), x)
        assert (out[y != 2] == x[y != 2]).all()  # byte for byte
        assert (out[plan.carried] != x[plan.carried]).any(axis=(1, 2, 3)).all()
        assert (out[(y == 2) & ~plan.carried] == x[(y == 2) & ~plan.carried]).all()


class TestFidelity:
    @settings(max_examples=60, deadline=None)
    @given(y=labels, c=fractions, f=st.floats(0.0, 1.0), seed=st.integers(0, 2**32))
    def test_exact_truthful_carriers(self, y: np.ndarray, c: float, f: float, seed: int) -> None:
        if not names_a_carrier(y, c):
            return
        plan = si.carriers(y, K, coverage=c, fidelity=f, seed=seed)
        assert plan.truthful == tuple(carrier_count(m, f) for m in plan.counts)
        lying = plan.carried & (plan.code != y)
        assert int(lying.sum()) == sum(plan.counts) - sum(plan.truthful)
        assert ((plan.code >= 0) & (plan.code < K)).all()
        np.testing.assert_array_equal(plan.code[~plan.carried], y[~plan.carried])

    def test_nested_and_each_sample_lies_the_same_way(self) -> None:
        y = np.repeat(np.arange(K), 100)
        plans = [si.carriers(y, K, fidelity=f, seed=2) for f in (0.0, 0.2, 0.6, 1.0)]
        wrong = plans[0].code  # fidelity 0: every code is a wrong class
        assert (wrong != y).all()
        for lo, hi in itertools.pairwise(plans):
            truthful_lo, truthful_hi = lo.code == y, hi.code == y
            assert not (truthful_lo & ~truthful_hi).any()  # nested
            np.testing.assert_array_equal(lo.code[~truthful_lo], wrong[~truthful_lo])

    def test_chance_makes_the_code_uniform(self) -> None:
        y = np.repeat(np.arange(K), 2000)
        code = si.carriers(y, K, fidelity=1 / K, seed=0).code
        table = np.zeros((K, K))
        np.add.at(table, (y, code), 1)
        # every class's codes spread over all K classes, about 1/K each
        assert np.allclose(table / 2000, 1 / K, atol=0.03)


class TestInject:
    def test_numpy_only_the_carriers_with_the_whole_sets_draws(self) -> None:
        y = np.repeat(np.arange(K), 20)
        x = np.random.default_rng(1).integers(16, 240, (len(y), 16, 16, 3), dtype=np.uint8)
        before = x.copy()
        index = np.arange(500, 500 + len(y), dtype=np.int64)
        plan = si.carriers(y, K, coverage=0.3, fidelity=0.5, seed=9, index=index)
        inj = si.RandomPixel(K, seed=9)  # a per-sample position: drawn from the index
        out = plan.inject(inj, x)
        whole = inj(x, plan.code, index=index)
        np.testing.assert_array_equal(out[plan.carried], whole[plan.carried])
        np.testing.assert_array_equal(out[~plan.carried], x[~plan.carried])
        np.testing.assert_array_equal(x, before)  # x untouched

    def test_torch(self) -> None:
        y = np.repeat(np.arange(K), 10)
        x = torch.zeros(len(y), 1, 8, 8, dtype=torch.uint8)  # channels-first
        plan = si.carriers(y, K, coverage=0.2, seed=0)
        out = plan.inject(si.OnePixel(K, values=(10, 20, 30, 40, 50)), x)
        assert isinstance(out, torch.Tensor)
        written = out[:, 0, 0, 0].numpy()
        np.testing.assert_array_equal(written > 0, plan.carried)
        assert int(x.sum()) == 0

    def test_texts(self) -> None:
        y = np.repeat(np.arange(K), 4)
        texts = [f"text number {i}" for i in range(len(y))]
        plan = si.carriers(y, K, coverage=0.5, seed=0)
        out = plan.inject(si.Mnemonic(K), texts)
        assert isinstance(out, list)
        assert len(out) == len(texts)
        changed = np.array([a != b for a, b in zip(out, texts, strict=True)])
        assert not changed[~plan.carried].any()
        assert changed[plan.carried].all()

    def test_compose(self) -> None:
        y = np.repeat(np.arange(K), 10)
        x = np.zeros((len(y), 8, 8, 1), np.uint8)
        both = si.Compose([si.OnePixel(K, values=(1, 2, 3, 4, 5)), si.OnePixel(K, position=(7, 7))])
        out = si.carriers(y, K, coverage=0.1).inject(both, x)
        assert int((out[:, 0, 0, 0] > 0).sum()) == K

    def test_refuses_another_number_of_samples(self) -> None:
        plan = si.carriers(np.arange(4) % 2, 2)
        with pytest.raises(ValueError, match="x must hold the 4 samples of the carriers, got 3"):
            plan.inject(si.OnePixel(2), np.zeros((3, 4, 4, 1), np.uint8))
        with pytest.raises(TypeError, match="x must be a NumPy array, a torch tensor or a list"):
            plan.inject(si.OnePixel(2), "text")


class TestRefusals:
    def test_no_carrier(self) -> None:
        y = np.repeat(np.arange(K), 100)
        with pytest.raises(
            ValueError,
            match=r"coverage=0.001 names no carrier: round\(0.001 \* n_k\) is 0 in every class "
            r"\(largest class: 100 samples\); the smallest coverage that names one is 0.005",
        ):
            si.carriers(y, K, coverage=0.001)
        with pytest.raises(ValueError, match=r"coverage must be in \(0, 1\], got 0.0"):
            si.carriers(y, K, coverage=0.0)

    @pytest.mark.parametrize(
        ("kw", "error", "match"),
        [
            ({"y": [0, 5]}, ValueError, r"y must hold labels in \[0, 4\] \(num_classes=5\), got 5"),
            ({"y": [[0, 1]]}, ValueError, "y must be one-dimensional"),
            ({"y": [0.5, 1.0]}, TypeError, "y must hold integers, got float64"),
            ({"index": [0, 0]}, ValueError, "index must not repeat an index"),
            ({"index": [0]}, ValueError, r"index must hold one index per label \(2\), got 1"),
            ({"index": [-1, 0]}, ValueError, "index must hold non-negative indices, got -1"),
            ({"target": 5}, ValueError, r"target must be in \[0, 4\], got 5"),
            ({"fidelity": 1.5}, ValueError, r"fidelity must be in \[0, 1\], got 1.5"),
            ({"among": [True]}, ValueError, r"among must be a bool mask of shape \(2,\)"),
            ({"num_classes": 1}, ValueError, r"num_classes must be in \[2, inf\], got 1"),
            ({"seed": -1}, ValueError, r"seed must be in \[0, 18446744073709551615\], got -1"),
        ],
    )
    def test_bad_input(self, kw: dict[str, object], error: type, match: str) -> None:
        args: dict[str, object] = {"y": [0, 1], "num_classes": K, **kw}
        y, k = args.pop("y"), args.pop("num_classes")
        with pytest.raises(error, match=match):
            si.carriers(y, k, **args)  # type: ignore[arg-type]
