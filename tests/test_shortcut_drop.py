"""The shortcut drop (issue 26; One-Pixel Shortcut's measure, beside reliance): the clean-trained
model's accuracy on the clean test images minus that of the model trained with the signal (same
seed), with a paired 95% interval over the test images; null on blank data.

What is pinned: the interval's formula on hand-built answers, the pairing and its pooling over
seeds, the packed answers a clean line stores, the runner's fields (the clean images through the
injected training set's preprocessing, one more prediction pass), and null where it does not
apply.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from signalinject.benchmarks import runner, stats
from signalinject.benchmarks.report import summarize, write_report
from signalinject.benchmarks.runner import BenchConfig, Cell
from signalinject.benchmarks.signals import make_injector
from signalinject.benchmarks.store import (
    CSV_FIELDS,
    MEASURE_FIELDS,
    pack_correct,
    record_problem,
    unpack_correct,
)
from signalinject.benchmarks.train import ImageScaling

Z = 1.959963984540054  # the normal quantile of a 95% interval

CLEAN = np.array([1, 1, 1, 0, 0, 1, 0, 1, 1, 1], dtype=bool)  # the clean-trained model: 7 of 10
INJECTED = np.array([1, 0, 0, 0, 1, 1, 0, 0, 1, 1], dtype=bool)  # trained with the signal: 5


# -- the definition --------------------------------------------------------------------------------
def test_the_drop_of_hand_built_answers() -> None:
    n10, n01 = stats.discordant(CLEAN, INJECTED)
    assert (n10, n01) == (3, 1)  # images 1, 2, 7 only the clean model got; image 4 only the other
    drop, lo, hi = stats.paired_difference(n10, n01, 10)
    assert drop == pytest.approx(CLEAN.mean() - INJECTED.mean()) == pytest.approx(0.2)
    # Agresti & Min: 0.5 added to each cell of the 2x2 table, n + 2 pairs, then Wald
    p10, p01 = 3.5 / 12, 1.5 / 12
    half = Z * math.sqrt((p10 + p01 - (p10 - p01) ** 2) / 12)
    assert lo == pytest.approx(p10 - p01 - half, abs=1e-12)
    assert hi == pytest.approx(p10 - p01 + half, abs=1e-12)
    assert (round(lo, 4), round(hi, 4)) == (-0.1862, 0.5195)


def test_agreeing_models_drop_nothing_with_an_interval_of_some_width() -> None:
    drop, lo, hi = stats.paired_difference(0, 0, 1000)
    assert drop == 0.0
    assert lo < 0 < hi  # not a point: n pairs cannot rule out a small difference
    assert hi - lo < 0.01


def test_a_total_collapse_stays_inside_minus_1_to_1() -> None:
    drop, lo, hi = stats.paired_difference(50, 0, 50)
    assert drop == 1.0
    assert 0.85 < lo < hi <= 1.0


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=200),
)
def test_the_interval_holds_the_centre_and_mirrors(pairs: list[tuple[bool, bool]]) -> None:
    a = np.array([p[0] for p in pairs], dtype=bool)
    b = np.array([p[1] for p in pairs], dtype=bool)
    n10, n01 = stats.discordant(a, b)
    drop, lo, hi = stats.paired_difference(n10, n01, len(a))
    assert drop == pytest.approx(a.mean() - b.mean())
    assert -1.0 <= lo < hi <= 1.0
    assert lo <= (n10 - n01) / (len(a) + 2) <= hi  # Agresti-Min's centre
    back, blo, bhi = stats.paired_difference(n01, n10, len(a))  # the models swapped
    assert (back, blo, bhi) == pytest.approx((-drop, -hi, -lo))


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((1, 1, 0), ValueError, "n must be >= 1 .*, got 0"),
        ((-1, 0, 5), ValueError, "n10 and n01 must be >= 0 with n10 \\+ n01 <= n=5, got n10=-1"),
        ((3, 3, 5), ValueError, "n10 \\+ n01 <= n=5, got n10=3, n01=3"),
        ((1.5, 0, 5), TypeError, "n10 must be an integer, got 1.5"),
        ((True, 0, 5), TypeError, "n10 must be an integer, got True"),
    ],
)
def test_paired_difference_refuses(
    args: tuple[Any, ...], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        stats.paired_difference(*args)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (np.ones(3, bool), np.ones(4, bool)),
        (np.ones(3, bool), np.ones(3, np.int64)),
        (np.ones((3, 1), bool), np.ones((3, 1), bool)),
    ],
)
def test_discordant_refuses(a: Any, b: Any) -> None:
    with pytest.raises(ValueError, match="first and second must be 1-D boolean vectors of one"):
        stats.discordant(a, b)


# -- the stored answers ----------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(bits=st.lists(st.booleans(), max_size=70))
def test_packed_answers_round_trip(bits: list[bool]) -> None:
    a = np.array(bits, dtype=bool)
    text = pack_correct(a)
    assert len(text) == 2 * ((len(a) + 7) // 8)
    back = unpack_correct(text, len(a))
    assert back is not None
    np.testing.assert_array_equal(back, a)
    assert unpack_correct(text, len(a) + 8) is None  # another test set's answers
    assert unpack_correct(None, len(a)) is None  # a line without them (0.1.x)


def test_pack_refuses_other_than_booleans() -> None:
    with pytest.raises(ValueError, match="correct must be a 1-D boolean vector, got int64"):
        pack_correct(np.array([1, 0]))


def test_the_fields_are_measures_and_columns() -> None:
    names = ("clean_accuracy_injected", "shortcut_drop", "shortcut_drop_low", "shortcut_drop_high")
    for name in (*names, "shortcut_discordant", "clean_test_correct"):
        assert name in MEASURE_FIELDS
    assert CSV_FIELDS[CSV_FIELDS.index("reliance_true_accuracy") + 1 :][:4] == names
    assert "clean_test_correct" not in CSV_FIELDS
    line = {"shortcut_drop": -1.5}
    assert "the field 'shortcut_drop' is -1.5, expected null or a number in -1..1" in str(
        record_problem({**_line(), **line})
    )
    assert "shortcut_discordant" in str(record_problem({**_line(), "shortcut_discordant": [1]}))
    assert "clean_test_correct" in str(record_problem({**_line(), "clean_test_correct": "xyz"}))


def _line() -> dict[str, Any]:
    return {
        "cell_id": "ab", "dataset": "digits", "signal": "one_pixel", "model": "m", "seed": 0,
        "accuracy": 0.5, "clean_accuracy": 0.5, "gain": 0.0, "decode_accuracy": 1.0,
        "reliance": 0.1, "reliance_true_accuracy": 0.4,
    }  # fmt: skip


# -- the runner ------------------------------------------------------------------------------------
def _bench(tmp: Path, *, models: tuple[str, ...] = ("decision_tree",), **kw: Any) -> list[dict]:
    cfg = BenchConfig.for_suite(
        "images", dataset="digits", limit=80, models=models, signals=("one_pixel",),
        progress=False, epochs=1, out=str(tmp), **kw,
    )  # fmt: skip
    return runner.run(cfg)


def test_a_run_records_the_drop(tmp_path: Path) -> None:
    clean, sig = _bench(tmp_path / "a", seeds=(0,))
    assert clean["shortcut_drop"] is None  # the clean cell has no drop of its own ...
    answers = unpack_correct(clean["clean_test_correct"], clean["n_test"])
    assert answers is not None  # ... but stores its answers
    assert answers.mean() == pytest.approx(clean["accuracy"])
    # the signal cell: its model on the clean test images, paired with those answers
    data = runner.load(BenchConfig.for_suite(
        "images", dataset="digits", limit=80, models=("decision_tree",), signals=("one_pixel",),
        progress=False,
    ))  # fmt: skip
    prep = runner.inject(data, data.injectors[(0, "one_pixel")])
    inputs = runner.model_inputs(data, prep, "features")
    fitted = runner.fit(data, Cell(0, "one_pixel", "decision_tree"), inputs)
    mine = fitted.predict(inputs.x_clean) == data.y_test
    assert sig["clean_accuracy_injected"] == pytest.approx(mine.mean())
    n10, n01 = stats.discordant(answers, mine)
    assert sig["shortcut_discordant"] == [n10, n01]
    assert (sig["shortcut_drop"], sig["shortcut_drop_low"], sig["shortcut_drop_high"]) == (
        stats.paired_difference(n10, n01, len(mine))
    )
    assert sig["shortcut_drop"] == pytest.approx(clean["accuracy"] - sig["clean_accuracy_injected"])
    assert sig["clean_test_correct"] is None
    # in the report: a section of its own, and the summary's columns
    paths = write_report([clean, sig], tmp_path / "report")
    assert "## Shortcut drop of every model" in paths["table"].read_text()
    head = paths["summary"].read_text().splitlines()[0].split(",")
    assert {"shortcut_drop_mean", "shortcut_drop_low", "shortcut_drop_high"} <= set(head)


def test_blank_data_has_no_drop(tmp_path: Path) -> None:
    for rec in _bench(tmp_path, blank=True):
        for name in (
            "clean_accuracy_injected", "shortcut_drop", "shortcut_drop_low", "shortcut_drop_high",
            "shortcut_discordant", "clean_test_correct",
        ):  # fmt: skip
            assert rec[name] is None, name


def test_a_clean_line_without_answers_gives_no_drop(tmp_path: Path) -> None:
    out = tmp_path / "old"
    _bench(out)
    path = out / "results.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    lines[0].pop("clean_test_correct")  # a clean cell of 0.1.x, before the answers were stored
    path.write_text(json.dumps(lines[0]) + "\n")
    _, sig = _bench(out)
    assert sig["shortcut_drop"] is None
    assert sig["clean_accuracy_injected"] is not None  # still measured


def test_the_clean_images_go_through_the_injected_training_sets_map() -> None:
    cfg = BenchConfig.for_suite(
        "images", dataset="digits", limit=40, models=("convnet",), signals=("one_pixel",),
        progress=False, epochs=1, preprocess="standardize_pixel",
    )  # fmt: skip
    data = runner.load(cfg)
    prep = runner.inject(data, make_injector("one_pixel", data.num_classes, 0))
    np.testing.assert_array_equal(prep.x_clean, data.bundle.x_test)  # the test set, no signal
    got = runner.model_inputs(data, prep, "torch")
    s = ImageScaling.fit(prep.x_train, "standardize_pixel")  # the injected training set's
    assert torch.equal(got.x_clean, s.to_tensor(data.bundle.x_test))
    clean_fit = ImageScaling.fit(data.bundle.x_train, "standardize_pixel")
    assert not torch.equal(got.x_clean, clean_fit.to_tensor(data.bundle.x_test))
    # one more prediction pass, on those images
    seen: list[Any] = []

    def predict(x: Any) -> np.ndarray[Any, Any]:
        seen.append(x)
        return np.zeros(len(x), np.int64)

    scores = runner.measure(predict, got)
    assert len(seen) == 3
    assert seen[2] is got.x_clean
    assert scores.clean_correct is not None
    np.testing.assert_array_equal(scores.clean_correct, data.y_test == 0)
    blank = runner.inject(
        dataclasses.replace(data, cfg=dataclasses.replace(cfg, blank=True)),
        make_injector("one_pixel", data.num_classes, 0),
    )
    assert blank.x_clean is None


def test_seeds_pool_their_pairs() -> None:
    def row(seed: int, n10: int, n01: int) -> dict[str, Any]:
        drop, lo, hi = stats.paired_difference(n10, n01, 100)
        return {
            "dataset": "digits", "signal": "one_pixel", "model": "m", "seed": seed,
            "accuracy": 0.5, "gain": 0.0, "n_test": 100, "shortcut_drop": drop,
            "shortcut_drop_low": lo, "shortcut_drop_high": hi, "shortcut_discordant": [n10, n01],
        }  # fmt: skip

    rows = [row(0, 30, 10), row(1, 20, 10)]
    got = summarize(rows)[("one_pixel", "m")]["shortcut_drop"]
    assert got.mean == pytest.approx(0.15)
    assert got.std == pytest.approx(np.std([0.2, 0.1], ddof=1))
    _, lo, hi = stats.paired_difference(50, 20, 200)
    assert (got.low, got.high) == (lo, hi)
    one = summarize(rows[:1])[("one_pixel", "m")]["shortcut_drop"]
    assert (one.mean, one.low, one.high) == pytest.approx(stats.paired_difference(30, 10, 100))
    none = summarize([{**rows[0], "shortcut_drop": None}])[("one_pixel", "m")]["shortcut_drop"]
    assert none.mean is None
