"""Tests of the poisoned benchmark (benchmarks/poison.py, the runner's Poison setting) and of the
coverage and fidelity sweeps and the threshold atlas (benchmarks/coverage.py): the carriers each
model is fitted on, the single target class and its baseline, the cell identities, the threshold
rule, the refusal of grids that name no carrier, and the commands end to end on a small slice of
the embedded digits with a decision tree (and a small torch model where the carriers differ)."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalinject.benchmarks import baselines, cli, runner
from signalinject.benchmarks.atlas import AtlasConfig
from signalinject.benchmarks.coverage import (
    PoisonSweepConfig,
    axis_of,
    curves,
    default_coverages,
    default_fidelities,
    onset,
    plan,
    poison_sweep,
    threshold_atlas,
    threshold_words,
    thresholds,
)
from signalinject.benchmarks.poison import Poison, target_verdict
from signalinject.benchmarks.runner import BenchConfig, Cell
from signalinject.benchmarks.settings import RunSettings
from signalinject.benchmarks.signals import make_injector
from signalinject.benchmarks.store import RESULTS_FILE, cell_id
from signalinject.carriers import carrier_count

LIMIT = 200  # digits: 200 training samples, about 20 per class; a tree fits on a quarter


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _sizes(data: runner.Loaded, model: str, seed: int = 0) -> list[int]:
    """The samples of each class in the set ``model`` is fitted on (seed ``seed``)."""
    among = runner.fit_set(data, model, seed)
    y = data.y_train if among is None else data.y_train[among]
    return [int(v) for v in np.bincount(y, minlength=10)]


def small(**kw: Any) -> RunSettings:
    return RunSettings(dataset="digits", limit=LIMIT, progress=False, epochs=1, **kw)


# -- the setting -----------------------------------------------------------------------------------
class TestPoison:
    def test_plain_and_identity(self) -> None:
        assert Poison().plain
        assert Poison().identity() is None
        assert Poison(coverage=0.1).identity() == {
            "coverage": 0.1, "fidelity": 1.0, "target": None, "carriers": "class-rank"
        }  # fmt: skip
        assert Poison(coverage=1.0, target=3).identity() is not None  # a target is no plain run

    @pytest.mark.parametrize(
        ("kw", "error", "match"),
        [
            ({"coverage": 0.0}, ValueError, r"coverage must be in \(0, 1\], got 0.0"),
            ({"coverage": 2}, ValueError, r"coverage must be in \[0, 1\], got 2.0"),
            ({"fidelity": -0.1}, ValueError, r"fidelity must be in \[0, 1\], got -0.1"),
            ({"target": -1}, ValueError, r"target must be in \[0, inf\], got -1"),
            ({"target": 1.5}, TypeError, "target must be an integer, got 1.5"),
            ({"target": 2, "fidelity": 0.5}, ValueError, "a single target class's carriers"),
        ],
    )
    def test_refuses(self, kw: dict[str, Any], error: type, match: str) -> None:
        with pytest.raises(error, match=match):
            Poison(**kw)

    def test_bench_config_refuses_another_type(self) -> None:
        with pytest.raises(TypeError, match=r"poison must be a Poison or None, got 0\.5"):
            BenchConfig.for_suite("images", poison=0.5)

    def test_a_target_outside_the_classes(self, tmp_path: Path) -> None:
        cfg = BenchConfig.for_suite(
            "images", signals=("one_pixel",), models=("decision_tree",),
            settings=small(out=str(tmp_path)), poison=Poison(coverage=0.5, target=10),
        )  # fmt: skip
        with pytest.raises(ValueError, match=r"target=10 is no class of the data: classes are 0"):
            runner.run(cfg)
        assert not (tmp_path / RESULTS_FILE).exists()


class TestTargetVerdict:
    def test_cut_offs(self) -> None:
        # baseline 0.2: reads at and above 0.2 + 0.5 * 0.8 = 0.6 (interval's low end); ignores
        # below 0.2 + 0.1 * 0.8 = 0.28 (point)
        assert target_verdict(0.7, 0.2, interval=(0.6, 0.8)) == "reads"
        assert target_verdict(0.7, 0.2, interval=(0.59, 0.8)) == "partial"
        assert target_verdict(0.27, 0.2) == "ignores"
        assert target_verdict(0.27, 0.2, learned=False) == "did not learn"
        assert target_verdict(0.9, 0.2, finite=False) == "non-finite"
        assert target_verdict(None, 0.2) is None
        assert target_verdict(0.5, 1.0) is None


# -- the stages of a poisoned cell -------------------------------------------------------------
@pytest.fixture(scope="module")
def loaded_poisoned() -> runner.Loaded:
    cfg = BenchConfig.for_suite(
        "images", signals=("blend",), models=("mlp", "decision_tree"),
        settings=small(seeds=(0, 1)), poison=Poison(coverage=0.3),
    )  # fmt: skip
    return runner.load(cfg)


class TestStages:
    def test_each_model_gets_exact_carriers_of_its_own_training_set(
        self, loaded_poisoned: runner.Loaded
    ) -> None:
        data = loaded_poisoned
        inj = make_injector("blend", 10, 1)  # changes every image it is written into
        y = data.y_train
        for model in ("mlp", "decision_tree"):
            cell = Cell(1, "blend", model)
            among = runner.fit_rows(data, cell)
            prep = runner.inject(data, inj, 1, among)
            fit = np.ones(len(y), bool) if among is None else among
            sizes = np.bincount(y[fit], minlength=10)
            assert prep.carriers == tuple(carrier_count(int(n), 0.3) for n in sizes)
            changed = (prep.x_train != data.bundle.x_train).any(axis=(1, 2, 3))
            assert np.bincount(y[changed & fit], minlength=10).tolist() == list(prep.carriers)
            assert not (changed & ~fit).any()  # nothing outside the set the model fits on
            # the test set and the wrong-signal copy: every sample carries
            assert prep.carried is not None
            assert prep.carried.all()
            assert prep.decode_accuracy == 1.0
        tree = runner.fit_rows(data, Cell(1, "decision_tree", "decision_tree"))
        assert tree is not None
        assert np.flatnonzero(tree).tolist() == baselines.fit_subset(len(y), 0.25, 1).tolist()

    def test_the_cell_identity_holds_the_point(self, loaded_poisoned: runner.Loaded) -> None:
        data = loaded_poisoned
        inj = make_injector("class_patch", 10, 0)
        cell = Cell(0, "class_patch", "decision_tree")
        ids = set()
        for p in (None, Poison(), Poison(coverage=0.3), Poison(coverage=0.2), Poison(fidelity=0.5),
                  Poison(coverage=0.3, target=1)):  # fmt: skip
            cfg = BenchConfig(**{**data.cfg.__dict__, "poison": p})
            there = runner.Loaded(**{**data.__dict__, "cfg": cfg})
            ids.add(cell_id(runner.cell_key(there, cell, inj)))
        assert len(ids) == 5  # None and Poison() (the plain run) share their cell, no other
        clean = Cell(0, "clean", "decision_tree")
        plain = runner.cell_key(runner.Loaded(**{**data.__dict__}), clean, None)
        assert "poison" not in plain  # clean cells carry nothing: shared by every point

    def test_a_target_class(self, loaded_poisoned: runner.Loaded) -> None:
        data = loaded_poisoned
        cfg = BenchConfig(**{**data.cfg.__dict__, "poison": Poison(coverage=0.5, target=3)})
        loaded = runner.Loaded(**{**data.__dict__, "cfg": cfg})
        inj = make_injector("class_patch", 10, 0)
        prep = runner.inject(loaded, inj, 0, None)
        x, y = data.bundle.x_train, data.y_train
        changed = (prep.x_train != x).any(axis=(1, 2, 3))
        assert not changed[y != 3].any()  # nothing is written into another class
        assert int(changed.sum()) == carrier_count(int((y == 3).sum()), 0.5)
        yt, xt = data.y_test, data.bundle.x_test
        test_changed = (prep.x_test != xt).any(axis=(1, 2, 3))
        np.testing.assert_array_equal(test_changed, yt == 3)  # the test set as training held
        assert prep.carried is not None
        assert prep.wrong_code is not None
        np.testing.assert_array_equal(prep.carried, yt != 3)
        assert (prep.wrong_code == 3).all()
        decoded = np.asarray(inj.decode(prep.x_wrong))
        assert (decoded[yt != 3] == 3).all()  # the copy moves every other image to the target

    def test_measure_gives_the_baseline(self, loaded_poisoned: runner.Loaded) -> None:
        data = loaded_poisoned
        cfg = BenchConfig(**{**data.cfg.__dict__, "poison": Poison(coverage=1.0, target=3)})
        loaded = runner.Loaded(**{**data.__dict__, "cfg": cfg})
        prep = runner.inject(loaded, make_injector("class_patch", 10, 0), 0, None)
        always_3 = runner.measure(lambda x: np.full(len(x), 3, np.int64), prep)
        assert always_3.reliance == 1.0
        assert always_3.target_baseline == 1.0
        truth = runner.measure(lambda x: prep.y_test, prep)  # never says 3 of another class
        assert truth.reliance == 0.0
        assert truth.target_baseline == 0.0


# -- the threshold rule ----------------------------------------------------------------------------
class TestOnset:
    def test_examples(self) -> None:
        assert onset([1.0, 0.5, 0.1], ["reads", "reads", "partial"]) == onset(
            [0.1, 0.5, 1.0], ["partial", "reads", "reads"]
        )  # any order
        o = onset([0.1, 0.5, 1.0], ["partial", "reads", "reads"])
        assert (o.value, o.below, o.monotone, o.reads) == (0.5, 0.1, True, (0.5, 1.0))
        every = onset([0.1, 1.0], ["reads", "reads"])
        assert (every.value, every.below, every.monotone) == (0.1, None, True)
        never = onset([0.1, 1.0], ["ignores", "did not learn"])
        assert (never.value, never.below, never.monotone) == (None, None, True)

    def test_not_monotone(self) -> None:
        o = onset([0.01, 0.02, 0.05, 0.1, 1.0], ["reads", "partial", "ignores", "reads", "reads"])
        assert (o.value, o.below, o.monotone, o.reads) == (0.1, 0.05, False, (0.01, 0.1, 1.0))
        # the point just below the threshold never reads: a read there would lower it
        top = onset([0.1, 0.5, 1.0], ["reads", "reads", "partial"])  # not at the largest
        assert (top.value, top.monotone, top.reads) == (None, False, (0.1, 0.5))

    @settings(max_examples=80, deadline=None)
    @given(st.lists(st.sampled_from(["reads", "partial", "ignores", None]), min_size=1, max_size=9))
    def test_the_rule(self, verdicts: list[str | None]) -> None:
        values = [10.0**-i for i in range(len(verdicts))][::-1]  # ascending
        o = onset(values, verdicts)
        if o.value is None:
            assert verdicts[-1] != "reads"
            return
        j = values.index(o.value)
        assert all(v == "reads" for v in verdicts[j:])  # there and every larger point
        assert j == 0 or verdicts[j - 1] != "reads"  # the bracket does not read
        assert o.below == (values[j - 1] if j else None)
        assert o.monotone == ("reads" not in verdicts[: max(j - 1, 0)])

    def test_refuses(self) -> None:
        with pytest.raises(ValueError, match="values and verdicts must pair up, got 2 and 1"):
            onset([0.1, 1.0], ["reads"])
        with pytest.raises(ValueError, match="values must be distinct grid points"):
            onset([1.0, 1.0], ["reads", "reads"])


def row(value: float, verdict_reliance: float, seed: int = 0, **kw: Any) -> dict[str, Any]:
    """A signal row of a coverage sweep (what `curves` reads), reliance at n_carried = 400."""
    return {
        "dataset": "d", "signal": "one_pixel", "model": "decision_tree", "seed": seed,
        "num_classes": 10, "n_test": 400, "n_carried": 400, "accuracy": 0.9,
        "clean_accuracy": 0.3, "gain": 0.6, "decode_accuracy": 1.0,
        "reliance": verdict_reliance, "reliance_true_accuracy": 0.1, "strength": 1.0,
        "coverage": value, "fidelity": 1.0, "carriers": [round(40 * value)] * 10, **kw,
    }  # fmt: skip


CLEAN = {
    "dataset": "d", "signal": "clean", "model": "decision_tree", "seed": 0, "num_classes": 10,
    "n_test": 400, "accuracy": 0.3, "clean_accuracy": 0.3, "gain": 0.0, "majority_rate": 0.1,
    "decode_accuracy": None, "reliance": None, "reliance_true_accuracy": None,
}  # fmt: skip


class TestThresholdWords:
    def test_reads_from(self) -> None:
        rows = [CLEAN, row(0.05, 0.12), row(0.1, 0.3), row(0.5, 0.95), row(1.0, 1.0)]
        (t,) = thresholds(rows)
        assert (t["threshold"], t["below"], t["carriers_min"], t["monotone"]) == (
            0.5, 0.1, 20, True
        )  # fmt: skip
        assert t["words"] == "reads from 50% of samples (20 carriers per class), not at 10%"

    def test_never_and_not_monotone(self) -> None:
        rows = [CLEAN, row(0.05, 0.12), row(1.0, 0.15)]
        assert thresholds(rows)[0]["words"] == "no grid point reads"
        rows = [CLEAN, row(0.005, 0.99), row(0.05, 0.12), row(0.5, 0.99), row(1.0, 0.99)]
        words = thresholds(rows)[0]["words"]
        assert words.startswith("reads from 50% of samples")
        assert words.endswith("; not monotone: also reads at 0.5%")

    def test_fidelity(self) -> None:
        rows = [CLEAN, *(row(1.0, r, fidelity=f) for f, r in ((0.1, 0.1), (0.5, 0.9), (1.0, 1.0)))]
        assert axis_of(rows) == "fidelity"
        pts = curves(rows)[("one_pixel", 1.0, "decision_tree")]
        assert threshold_words("fidelity", pts) == "reads from fidelity 0.5, not at fidelity 0.1"


# -- the sweep's plan ------------------------------------------------------------------------------
class TestPlan:
    def test_default_grids(self) -> None:
        assert default_coverages([320] * 10)[-1] == 0.005  # 1.6 -> 2 carriers per class
        assert default_coverages([135, 140]) == (1.0, 0.5, 0.2, 0.1, 0.05, 0.02)
        assert default_coverages([1]) == (1.0,)
        assert default_fidelities(10)[-1] == 0.1
        assert default_fidelities(2) == (1.0, 0.9, 0.75, 0.5)
        with pytest.raises(ValueError, match="class_sizes holds no class with a sample"):
            default_coverages([0, 0])

    def test_default_grid_is_sized_to_the_largest_training_set_of_the_models(
        self, tmp_path: Path
    ) -> None:
        both = PoisonSweepConfig(
            signals=("one_pixel",), models=("mlp", "decision_tree"),
            settings=small(out=str(tmp_path)),
        )  # fmt: skip
        data = runner.load(both.bench_config(1.0, None))
        tree_least = min(v for v in _sizes(data, "decision_tree") if v > 0)
        full_least = min(np.bincount(data.y_train, minlength=10).tolist())
        assert tree_least < full_least
        # the tree alone: its own quarter decides, so every point holds its carriers
        tree = PoisonSweepConfig(
            signals=("one_pixel",), models=("decision_tree",), settings=small(out=str(tmp_path))
        )
        steps, skipped = plan(tree, data)
        assert [s.value for s in steps] == sorted(default_coverages([tree_least]))
        assert skipped == []
        # beside a torch model (the whole set): the torch model's floor, the tree skipped below
        steps, skipped = plan(both, data)
        assert [s.value for s in steps] == sorted(default_coverages([full_least]))
        assert min(s.value for s in steps) < min(default_coverages([tree_least]))
        assert {m for m, _ in skipped} <= {"decision_tree"}  # where its quarter holds none

    def test_refusal_names_a_coverage_that_names_a_carrier(self, tmp_path: Path) -> None:
        none = PoisonSweepConfig(
            signals=("one_pixel",), models=("decision_tree",), points=(1.0, 0.001),
            settings=small(out=str(tmp_path)),
        )  # fmt: skip
        with pytest.raises(ValueError, match="names no carrier") as e:
            poison_sweep(none)
        largest = int(str(e.value).split("the largest class: ")[1].split()[0])
        least = float(str(e.value).rsplit(" ", 1)[1])
        assert carrier_count(largest, least) == 1  # the coverage it names does name one

    def test_skips_a_model_without_carriers_and_refuses_a_point_without_any(
        self, tmp_path: Path
    ) -> None:
        cfg = PoisonSweepConfig(
            signals=("one_pixel",), models=("mlp", "decision_tree"), points=(1.0, 0.05),
            settings=small(out=str(tmp_path)),
        )  # fmt: skip
        data = runner.load(cfg.bench_config(1.0, None))
        steps, skipped = plan(cfg, data)
        # about 20 per class: the mlp has 1 carrier per class at 5%, the tree's quarter none
        assert [(s.value, s.models) for s in steps] == [
            (0.05, ("mlp",)), (1.0, ("mlp", "decision_tree"))
        ]  # fmt: skip
        assert skipped == [("decision_tree", 0.05)]
        none = PoisonSweepConfig(
            signals=("one_pixel",), models=("decision_tree",), points=(1.0, 0.01),
            settings=small(out=str(tmp_path)),
        )  # fmt: skip
        with pytest.raises(ValueError, match=r"coverage 0.01 names no carrier: round\(0.01 \*"):
            poison_sweep(none)
        assert not (tmp_path / RESULTS_FILE).exists()  # refused before anything ran

    def test_one_load_per_strength(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from signalinject.benchmarks import coverage

        calls: list[float | None] = []
        real = coverage.load

        def counted(cfg: BenchConfig) -> runner.Loaded:
            calls.append(cfg.strength)
            return real(cfg)

        monkeypatch.setattr(coverage, "load", counted)
        monkeypatch.setattr(runner, "load", counted)  # a point that loaded again would count
        cfg = PoisonSweepConfig(
            signals=("one_pixel",), models=("decision_tree",), points=(1.0, 0.5, 0.25),
            strengths=(1.0, 2.0), settings=small(out=str(tmp_path)),
        )  # fmt: skip
        rows = poison_sweep(cfg)
        assert {r.get("coverage") for r in rows if r["signal"] != "clean"} == {None, 0.5, 0.25}
        assert calls == [None, 1.0, 2.0]  # the plan's, then one per strength, none per point

    def test_run_refuses_data_of_another_run(self, tmp_path: Path) -> None:
        cfg = PoisonSweepConfig(
            signals=("one_pixel",), models=("decision_tree",), settings=small(out=str(tmp_path))
        )
        data = runner.load(cfg.bench_config(1.0, None))
        other = dataclasses.replace(cfg.bench_config(0.5, None), blank=True)
        with pytest.raises(ValueError, match="data was loaded for another run"):
            runner.run(other, data=data)
        more = cfg.bench_config(0.5, None, ("decision_tree", "mlp"))
        with pytest.raises(ValueError, match="data was loaded for another run"):
            runner.run(more, data=data)
        assert not (tmp_path / RESULTS_FILE).exists()

    @pytest.mark.parametrize(
        ("kw", "error", "match"),
        [
            ({"axis": "strength"}, ValueError, "axis must be one of"),
            ({"points": (1.0, 0.0)}, ValueError, r"points must hold coverage values in \(0, 1\]"),
            ({"points": (1.0, 1.0)}, ValueError, "points must not repeat a point"),
            ({"points": ()}, ValueError, "points must list at least one point"),
            ({"points": "1"}, TypeError, "points must be a sequence of numbers"),
            ({"axis": "fidelity", "target": 1}, ValueError, "target=1 needs axis='coverage'"),
            ({"signals": ("clean",)}, ValueError, "signals must name signals"),
            ({"signals": ("multiple_locations",), "strengths": (4.0,)}, ValueError, "no strength"),
            ({"signals": ("mnemonic",)}, ValueError, "applies to text data, not image"),
            ({"blank": 1}, TypeError, "blank must be True or False"),
        ],
    )
    def test_bad_config(self, kw: dict[str, Any], error: type, match: str) -> None:
        with pytest.raises(error, match=match):
            PoisonSweepConfig(**kw)

    def test_out_per_axis(self) -> None:
        assert PoisonSweepConfig().out == "signalinject-bench/sweep-coverage"
        assert PoisonSweepConfig(axis="fidelity").out == "signalinject-bench/sweep-fidelity"
        assert PoisonSweepConfig().signals == (
            "one_pixel", "pattern_pixels", "random_pixel", "multiple_locations", "orthogonal_noise"
        )  # fmt: skip


# -- end to end ------------------------------------------------------------------------------------
SWEEP = [
    "bench", "sweep", "--axis", "coverage", "--dataset", "digits", "--limit", str(LIMIT),
    "--models", "decision_tree", "--signals", "one_pixel", "--strengths", "28",
    "--seeds", "0,1", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("coverage")
    assert cli.main([*SWEEP, "--points", "1,0.5,0.2", "--out", str(out)]) == 0
    return out, (out / "sweep.md").read_text()


class TestSweepCommand:
    def test_files(self, swept: tuple[Path, str]) -> None:
        out, md = swept
        rows = lines(out / RESULTS_FILE)
        signal = [r for r in rows if r["signal"] == "one_pixel"]
        assert sorted({r.get("coverage", 1.0) for r in signal}) == [0.2, 0.5, 1.0]
        assert len([r for r in rows if r["signal"] == "clean"]) == 2  # one per seed, shared
        for r in signal:
            if r.get("coverage") is not None:  # exact: see the next test
                assert len(r["carriers"]) == 10
                assert r["fidelity"] == 1.0
        assert "### Thresholds" in md
        assert "Decision tree" in md
        js = json.loads((out / "sweep.json").read_text())
        assert js["axis"] == "coverage"
        (t,) = js["thresholds"]
        assert t["points"] == [0.2, 0.5, 1.0]
        assert t["model"] == "decision_tree"
        with (out / "thresholds.csv").open() as f:
            (line,) = list(csv.DictReader(f))
        assert line["words"] == t["words"]
        with (out / "sweep.csv").open() as f:
            cells = list(csv.DictReader(f))
        assert {c["verdict"] for c in cells if c["signal"] != "clean"} <= {
            "reads", "partial", "ignores", "did not learn"
        }  # fmt: skip
        assert (out / "sweep_one_pixel.png").read_bytes().startswith(b"\x89PNG")
        # the shortcut drop beside reliance at every point: lines, CSV, table, JSON
        for c in (c for c in cells if c["signal"] != "clean"):
            r = next(x for x in signal if x["cell_id"] == c["cell_id"])
            assert float(c["shortcut_drop"]) == pytest.approx(r["shortcut_drop"])
            assert float(c["shortcut_drop_low"]) <= r["shortcut_drop"]
        assert "| Decision tree reliance | Decision tree drop | Decision tree verdict |" in md
        for p in js["curves"][0]["points"]:
            assert p["shortcut_drop"]["mean"] is not None
            assert p["shortcut_drop"]["low"] <= p["shortcut_drop"]["mean"]

    def test_carriers_are_those_of_the_trees_fit_subset(self, swept: tuple[Path, str]) -> None:
        out, _ = swept
        cfg = BenchConfig.for_suite("images", settings=small(), models=("decision_tree",))
        y = runner.load(cfg).y_train
        for r in lines(out / RESULTS_FILE):
            if r["signal"] == "one_pixel" and r.get("coverage") is not None:
                fit = baselines.fit_subset(len(y), 0.25, r["seed"])
                sizes = np.bincount(y[fit], minlength=10)
                assert r["carriers"] == [carrier_count(int(n), r["coverage"]) for n in sizes]

    def test_resumes_and_report_rerenders(self, swept: tuple[Path, str]) -> None:
        out, md = swept
        before = (out / RESULTS_FILE).read_bytes()
        assert cli.main([*SWEEP, "--points", "1,0.5,0.2", "--out", str(out)]) == 0
        assert (out / RESULTS_FILE).read_bytes() == before  # nothing recomputed
        (out / "sweep.md").unlink()
        assert cli.main(["report", "--sweep", "--out", str(out)]) == 0
        assert (out / "sweep.md").read_text().split("\n\n", 2)[2] == md.split("\n\n", 2)[2]

    def test_fidelity_and_target(self, tmp_path: Path) -> None:
        argv = [*SWEEP[:3], "fidelity", *SWEEP[4:], "--points", "1,0.1", "--out", str(tmp_path)]
        assert cli.main(argv) == 0
        rows = [r for r in lines(tmp_path / RESULTS_FILE) if r["signal"] != "clean"]
        assert sorted(r.get("fidelity", 1.0) for r in rows) == [0.1, 0.1, 1.0, 1.0]
        assert json.loads((tmp_path / "sweep.json").read_text())["axis"] == "fidelity"
        out = tmp_path / "target"
        argv = [*SWEEP, "--points", "1", "--target", "9", "--out", str(out)]
        assert cli.main(argv) == 0
        rows = [r for r in lines(out / RESULTS_FILE) if r["signal"] != "clean"]
        assert {r["target"] for r in rows} == {9}
        assert all(r["target_baseline"] is not None for r in rows)
        assert all(r["carriers"][:9] == [0] * 9 for r in rows)
        assert "moved" in (out / "sweep.md").read_text()

    @pytest.mark.parametrize(
        ("args", "match"),
        [
            (["--points", "0.5"], "--points needs --axis coverage or fidelity"),
            (["--target", "1"], "--target needs --axis coverage"),
            (["--axis", "fidelity", "--target", "1"], "target=1 needs axis='coverage'"),
            (["--axis", "coverage", "--points", "0.001", "--models", "decision_tree"],
             "coverage 0.001 names no carrier"),
        ],
    )  # fmt: skip
    def test_refusals(
        self, args: list[str], match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ["bench", "sweep", "--dataset", "digits", "--limit", str(LIMIT), "--signals",
                "one_pixel", "--no-progress", "--out", str(tmp_path), *args]  # fmt: skip
        assert cli.main(argv) == 2
        assert match in " ".join(capsys.readouterr().err.split())
        assert not (tmp_path / RESULTS_FILE).exists()

    def test_bad_points(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit):
            cli.main(["bench", "sweep", "--points", "2"])
        assert "expected fractions in [0, 1], got '2'" in capsys.readouterr().err


class TestThresholdAtlas:
    def test_bisection_skips_and_resumes(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from signalinject.benchmarks import coverage

        loads: list[BenchConfig] = []
        real = coverage.load

        def counted(c: BenchConfig) -> runner.Loaded:
            loads.append(c)
            return real(c)

        monkeypatch.setattr(coverage, "load", counted)
        monkeypatch.setattr(runner, "load", counted)  # a pair or probe that loaded would count
        cfg = AtlasConfig(
            models=("decision_tree",), signals=("one_pixel", "class_patch", "orthogonal_noise"),
            settings=small(out=str(tmp_path)),
        )  # fmt: skip
        entries = threshold_atlas(cfg)
        assert len(loads) == 1  # one load serves every pair and every probe
        by = {e["signal"]: e for e in entries}
        assert set(by) == {"one_pixel", "class_patch", "orthogonal_noise"}
        for e in entries:
            if e["skipped"]:
                assert e["verdict"] != "reads"
                assert not e["probes"]
                continue
            # a bisection: at most ceil(log2(len(grid))) probes, the threshold reads and the
            # point below does not (or is the grid's bottom)
            assert len(e["probes"]) <= int(np.ceil(np.log2(len(e["grid"]))))
            said = dict((c, v) for c, v in e["probes"])
            assert said.get(e["threshold"], "reads") == "reads"
            assert e["below"] is None or said[e["below"]] != "reads"
            assert e["carriers_min"] >= 1
        assert (tmp_path / "data" / RESULTS_FILE).exists()  # the atlas's full-coverage cells
        probes = tmp_path / "coverage" / RESULTS_FILE
        # the probes' directory holds the model's clean cell as the atlas trained it (its
        # timing included): it was copied, not trained again
        data_clean = [r for r in lines(tmp_path / "data" / RESULTS_FILE) if r["signal"] == "clean"]
        probe_clean = [r for r in lines(probes) if r["signal"] == "clean"]
        assert probe_clean == data_clean
        before = probes.read_bytes() if probes.exists() else b""
        assert threshold_atlas(cfg) == entries  # resumed: the same, nothing recomputed
        assert (probes.read_bytes() if probes.exists() else b"") == before

    def test_command_and_shards(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        argv = [
            "bench", "atlas", "--axis", "coverage", "--dataset", "digits", "--limit", str(LIMIT),
            "--models", "decision_tree,mlp", "--signals", "one_pixel", "--epochs", "1",
            "--no-progress", "--out", str(tmp_path),
        ]  # fmt: skip
        for i in (0, 1):
            assert cli.main([*argv, "--shard", f"{i}/2"]) == 0
        assert "without --shard writes the report" in capsys.readouterr().out
        shards = sorted(p.name for p in (tmp_path / "data").glob("results*.jsonl"))
        assert shards == ["results.0of2.jsonl", "results.1of2.jsonl"]
        assert cli.main(argv) == 0
        printed = capsys.readouterr().out
        assert not (tmp_path / "data" / RESULTS_FILE).exists() or not lines(
            tmp_path / "data" / RESULTS_FILE
        )  # the whole run trained nothing: every cell was in a share's file
        for name in ("thresholds.md", "thresholds.csv", "thresholds.json", "thresholds.png"):
            assert (tmp_path / name).exists(), name
        assert "| Decision tree |" in printed
