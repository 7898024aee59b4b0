"""Tests of signalinject.benchmarks.report: tables, CSV files and the PNG chart."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalinject.benchmarks import report
from signalinject.benchmarks.report import (
    Stat,
    headline,
    model_fits,
    model_table,
    paper_table,
    summarize,
    verdicts,
    write_report,
)
from signalinject.benchmarks.stats import wilson_interval

MODELS = ("convnet", "decision_tree", "logistic_regression")
SIGNALS = ("clean", "one_pixel", "random_pixel")


def make_rows(
    acc: dict[tuple[str, str], list[float]], dataset: str = "digits"
) -> list[dict[str, Any]]:
    """Result rows with the given accuracies per (signal, model), one row per seed."""
    rows = []
    for (sig, m), accs in acc.items():
        for seed, a in enumerate(accs):
            clean = sig == "clean"
            rows.append(
                {
                    "cell_id": f"{sig}-{m}-{seed}",
                    "dataset": dataset,
                    "signal": sig,
                    "model": m,
                    "seed": seed,
                    "accuracy": a,
                    "clean_accuracy": acc[("clean", m)][seed],
                    "gain": a - acc[("clean", m)][seed],
                    "decode_accuracy": None if clean else 0.75,
                    "reliance": None if clean else a / 2,
                    "reliance_true_accuracy": None if clean else 0.1,
                    "injector": None if clean else {"__class_fullname__": "x.Y", "seed": seed},
                    "n_train": 100,
                    "n_test": 50,
                    "num_classes": 10,
                    "version": "0.1.0",
                    "data_description": "tiny test data",
                }
            )
    return rows


class TestStat:
    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.floats(0, 1), min_size=2, max_size=6))
    def test_mean_and_sample_std(self, vals: list[float]) -> None:
        s = Stat.of(vals)
        assert s.n == len(vals)
        assert s.mean == pytest.approx(sum(vals) / len(vals))
        ref = (sum((v - s.mean) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5
        assert s.std == pytest.approx(ref, abs=1e-12)
        assert (s.low, s.high) == (None, None)  # no sample size, no interval
        assert s.pct() == f"{100 * s.mean:.1f}"

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.integers(0, 50), min_size=1, max_size=5))
    def test_the_interval_holds_the_mean(self, hits: list[int]) -> None:
        s = Stat.of([h / 50 for h in hits], [50] * len(hits))
        assert s.low is not None
        assert s.high is not None
        assert s.mean is not None
        assert 0.0 <= s.low <= s.mean <= s.high <= 1.0
        assert s.pct() == f"{100 * s.mean:.1f} [{100 * s.low:.1f}, {100 * s.high:.1f}]"

    def test_one_seed_is_the_wilson_interval(self) -> None:
        s = Stat.of([0.5], [10])
        assert (round(s.low or 0, 4), round(s.high or 0, 4)) == (0.2366, 0.7634)
        assert s.pct() == "50.0 [23.7, 76.3]"

    def test_none_values_are_left_out(self) -> None:
        assert Stat.of([None, 0.5, None]) == Stat(0.5, None, 1)
        assert Stat.of([0.5]).pct() == "50.0"
        assert Stat.of([None, None]).pct() == "–"


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("|").split("|")]


class TestHeadline:
    def test_paper_table_two_seeds(self) -> None:
        acc = {
            ("clean", "convnet"): [0.90, 0.92],
            ("clean", "decision_tree"): [0.80, 0.80],
            ("clean", "logistic_regression"): [0.85, 0.87],
            ("one_pixel", "convnet"): [0.90, 0.94],
            ("one_pixel", "decision_tree"): [1.0, 1.0],
            ("one_pixel", "logistic_regression"): [0.86, 0.86],
        }
        rows = make_rows(acc)
        for r in rows:
            if (r["signal"], r["model"]) == ("one_pixel", "decision_tree"):
                r["reliance"] = 1.0
        lines = paper_table(rows).splitlines()
        assert cells(lines[0]) == [
            "Signal", "Decode", "ConvNet", "ConvNet reliance", "ConvNet verdict",
            "Paper: ConvNet (CIFAR-10)", "Best reader", "Accuracy", "Gain", "Reliance",
            "Verdict", "Paper: best competitor (CIFAR-10)", "Most accurate",
        ]  # fmt: skip
        clean, one = cells(lines[2]), cells(lines[3])
        assert clean[:2] == ["Clean", "–"]
        assert clean[2].startswith("91.0 [")
        assert clean[5] == "84.7"
        # the most accurate model, the ConvNet included (91.0 beats logistic regression's 86.0)
        assert clean[-1].startswith("ConvNet 91.0 [")
        assert one[0] == "One pixel"
        assert one[5] == "84.7 (no change)"
        assert one[6] == "Decision tree"  # reliance 100% beats logistic regression's 43%
        assert one[10] == "reads"
        assert one[8] == "+20.0"  # its gain over its own clean accuracy
        assert one[11] == "Decision tree 100"
        assert len(lines) == 4

    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(st.integers(0, 4), min_size=3, max_size=3),
        st.lists(st.integers(0, 4), min_size=3, max_size=3),
    )
    def test_the_reader_has_the_highest_reliance_ties_by_accuracy(
        self, rel: list[int], acc: list[int]
    ) -> None:
        models = ("convnet", "decision_tree", "extra_trees", "lda")
        rows = []
        for i, m in enumerate(models):
            a = 0.5 if i == 0 else 0.2 + 0.2 * acc[i - 1]
            r = 0.05 if i == 0 else 0.25 * rel[i - 1]
            rows += make_rows({("clean", m): [0.6], ("one_pixel", m): [a]})
            rows[-1]["reliance"] = r
        (_, h) = headline(rows)
        others = models[1:]
        key = {m: (rel[i], acc[i]) for i, m in enumerate(others)}
        best = max(key.values())
        tied = [m for m in others if key[m] == best]
        assert (h.closest, *h.closest_ties) == tuple(tied)  # an exact tie names every model
        v = verdicts(rows)[("one_pixel", h.closest)]
        assert h.reader == (h.closest if v == "reads" else None)

    def test_no_model_reads_it(self) -> None:
        rows = make_rows(
            {(s, m): [0.8] for s in ("clean", "random_pixel") for m in ("convnet", "lda", "qda")}
        )
        for r in rows:
            if r["signal"] != "clean":
                r["reliance"] = 0.12 if r["model"] == "qda" else 0.02
        line = cells(paper_table(rows).splitlines()[3])
        assert line[6] == "no model reads it (closest: QDA)"
        assert line[11] == "Shallow Max NN 100"

    def test_a_model_that_did_not_learn_is_not_the_closest_reader(self) -> None:
        # qda sits at the majority rate (did not learn) with the highest, meaningless reliance
        acc = {(s, m): [0.8] for s in ("clean", "random_pixel") for m in ("convnet", "lda")}
        acc |= {(s, "qda"): [0.3] for s in ("clean", "random_pixel")}
        rows = make_rows(acc)
        for r in rows:
            r["majority_rate"] = 0.3
            if r["signal"] != "clean":
                r["reliance"] = 0.04 if r["model"] == "qda" else 0.02
        assert verdicts(rows)[("random_pixel", "qda")] == "did not learn"
        (_, h) = headline(rows)
        assert h.closest == "lda"
        assert h.reader is None
        # where every competitor did not learn, the closest is still named (and so marked)
        rows = [r for r in rows if r["model"] != "lda"]
        (_, h) = headline(rows)
        assert h.closest == "qda"
        assert h.reader_verdict == "did not learn"

    def test_an_exact_tie_names_every_tied_model(self, tmp_path: Path) -> None:
        # the cell: Gaussian NB and the decision tree, both 100/100 on one pixel
        acc = {
            ("clean", "convnet"): [0.77], ("clean", "gaussian_nb"): [0.36],
            ("clean", "decision_tree"): [0.20], ("one_pixel", "convnet"): [0.76],
            ("one_pixel", "gaussian_nb"): [1.0], ("one_pixel", "decision_tree"): [1.0],
        }  # fmt: skip
        rows = make_rows(acc)
        for r in rows:
            if r["signal"] == "one_pixel" and r["model"] != "convnet":
                r["reliance"] = 1.0
        line = cells(paper_table(rows).splitlines()[3])
        assert line[6] == "Gaussian naive Bayes = Decision tree (tie)"
        assert line[8] == "+64.0 / +80.0"  # each tied model's gain, in the order of the names
        assert line[-1].startswith("Gaussian naive Bayes = Decision tree (tie) 100.0 [")
        write_report(rows, tmp_path)
        with open(tmp_path / "table.csv", newline="", encoding="utf-8") as f:
            one = list(csv.DictReader(f))[1]
        assert (one["reader"], one["closest_tied"]) == ("gaussian_nb", "decision_tree")
        assert (one["most_accurate"], one["most_accurate_tied"]) == ("gaussian_nb", "decision_tree")

    def test_the_papers_numbers_only_beside_their_models(self, tmp_path: Path) -> None:
        # --models decision_tree alone: no "ConvNet 84.7" beside our tree, no competitor column
        rows = make_rows({(s, "decision_tree"): [0.4] for s in ("clean", "one_pixel")})
        table = paper_table(rows)
        header = cells(table.splitlines()[0])
        assert header == [
            "Signal", "Decode", "Decision tree", "Decision tree reliance",
            "Decision tree verdict", "Most accurate",
        ]  # fmt: skip
        assert "84.7" not in table
        assert "Paper" not in table
        write_report(rows, tmp_path)
        with open(tmp_path / "table.csv", newline="", encoding="utf-8") as f:
            got = list(csv.DictReader(f))
        assert {r["paper_main"] for r in got} == {""}
        assert {r["paper_best"] for r in got} == {""}
        # the ConvNet alone: its paper number, but no competitor's
        rows = make_rows({(s, "convnet"): [0.8] for s in ("clean", "one_pixel")})
        header = cells(paper_table(rows).splitlines()[0])
        assert "Paper: ConvNet (CIFAR-10)" in header
        assert "Paper: best competitor (CIFAR-10)" not in header

    def test_most_accurate_includes_the_domain_model(self) -> None:
        acc = {(s, m): [a] for s in ("clean", "one_pixel") for m, a in
               (("convnet", 0.771), ("qda", 0.746), ("lda", 0.5))}  # fmt: skip
        (clean, one) = headline(make_rows(acc))
        assert (clean.most_accurate, clean.most_accurate_ties) == ("convnet", ())
        assert one.most_accurate == "convnet"

    def test_text_table_names_the_paper_and_defaults_to_a_charcnn(self) -> None:
        acc = {(s, m): [0.5] for s in ("clean", "mnemonic") for m in ("gaussian_nb", "charcnn")}
        lines = paper_table(make_rows(acc, "stdlib_code")).splitlines()
        assert cells(lines[0])[2:6] == [
            "Char-CNN", "Char-CNN reliance", "Char-CNN verdict",
            "Paper: Char-CNN (Yelp Full / Amazon Full)",
        ]  # fmt: skip
        assert cells(lines[2])[5] == "62.05 / 62.05"
        assert cells(lines[2])[11] == "Logistic regression (words) 59.86 / 55.26"
        assert cells(lines[3])[11] == "Decision tree 100 / 100"
        narrow = {(s, m): [0.5] for s in ("clean",) for m in ("lda", "charcnn_narrow")}
        assert cells(paper_table(make_rows(narrow, "stdlib_code")).splitlines()[0])[2] == (
            "Char-CNN (narrow)"
        )

    def test_model_table(self) -> None:
        def ci(v: float) -> str:  # the Wilson interval at n_test = 50 (tested in test_stats)
            lo, hi = wilson_interval(round(v * 50), 50)
            return f"{100 * v:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"

        acc = {(s, m): [0.25 + 0.25 * i] for i, s in enumerate(SIGNALS) for m in MODELS[:2]}
        assert model_table(make_rows(acc), "reliance") == "\n".join(
            [
                "| Signal | ConvNet | Decision tree |",
                "|---|---|---|",
                "| Clean | – | – |",
                f"| One pixel | {ci(0.25)} | {ci(0.25)} |",
                f"| Random pixel | {ci(0.375)} | {ci(0.375)} |",
            ]
        )

    def test_summarize_refuses_mixed_datasets(self) -> None:
        acc = {("clean", "convnet"): [0.5]}
        rows = make_rows(acc) + make_rows(acc, "cifar10")
        with pytest.raises(ValueError, match=r"one dataset, got \['cifar10', 'digits'\]"):
            summarize(rows)

    def test_empty_rows(self) -> None:
        with pytest.raises(ValueError, match="rows is empty"):
            paper_table([])

    def test_unknown_main_model(self) -> None:
        rows = make_rows({("clean", "convnet"): [0.5]})
        with pytest.raises(ValueError, match="main_model 'qda' is not in the rows"):
            paper_table(rows, main_model="qda")

    def test_unknown_metric(self) -> None:
        rows = make_rows({("clean", "convnet"): [0.5]})
        with pytest.raises(ValueError, match="metric must be one of"):
            model_table(rows, "speed")


class TestDidNotLearn:
    """The verdicts from result rows: the did-not-learn and non-finite rules."""

    def rows(self, clean: float, reliance: float, **extra: Any) -> list[dict[str, Any]]:
        rows = make_rows({("clean", "convnet"): [clean], ("one_pixel", "convnet"): [clean]})
        rows[1]["reliance"] = reliance
        for r in rows:
            r.update(majority_rate=0.3, **extra)
        return rows

    def test_a_one_class_model_did_not_learn(self) -> None:
        rows = self.rows(0.3, 0.0)  # right on the majority class: 15 of 50
        fit = model_fits(rows)["convnet"]
        assert not fit.learned
        assert fit.p_value is not None
        assert fit.p_value > 0.4
        assert verdicts(rows)[("one_pixel", "convnet")] == "did not learn"
        md = "\n".join([paper_table(rows), report._notes(rows)])
        assert "**The ConvNet did not learn the clean task**" in md
        assert "uninformative" in md

    def test_a_learner_that_ignores(self) -> None:
        rows = self.rows(0.8, 0.0)
        assert model_fits(rows)["convnet"].learned
        assert verdicts(rows)[("one_pixel", "convnet")] == "ignores"
        assert "The ConvNet learned the clean task" in report._notes(rows)

    def test_a_perfect_reader_reads_even_without_learning(self) -> None:
        rows = self.rows(0.3, 1.0)
        assert verdicts(rows)[("one_pixel", "convnet")] == "reads"

    def test_non_finite_outputs(self) -> None:
        rows = self.rows(0.8, 0.0, nonfinite_outputs=50)
        assert verdicts(rows)[("one_pixel", "convnet")] == "non-finite"
        assert "outputs held NaN or infinity" in report._notes(rows)

    def test_never_on_blank_data(self) -> None:
        rows = self.rows(0.1, 0.0, blank=True)
        assert model_fits(rows)["convnet"].learned
        assert verdicts(rows)[("one_pixel", "convnet")] == "ignores"

    def test_old_rows_without_the_rate_are_not_judged(self) -> None:
        rows = make_rows({("clean", "lda"): [0.1], ("one_pixel", "lda"): [0.1]})
        assert model_fits(rows)["lda"].p_value is None
        assert verdicts(rows)[("one_pixel", "lda")] == "ignores"


class TestFiles:
    def test_write_report(self, tmp_path: Path) -> None:
        acc = {(s, m): [0.5, 0.7] for s in SIGNALS for m in MODELS}
        rows = make_rows(acc)
        paths = write_report(rows, tmp_path / "out")
        assert set(paths) == {"table", "headline", "csv", "summary", "figure"}
        md = paths["table"].read_text(encoding="utf-8")
        assert paper_table(rows) in md
        assert "a quarter of it" in md
        with open(paths["csv"], newline="", encoding="utf-8") as f:
            got = list(csv.DictReader(f))
        assert len(got) == len(rows)
        assert [float(r["accuracy"]) for r in got] == [r["accuracy"] for r in rows]
        assert json.loads(got[-1]["injector"]) == rows[-1]["injector"]
        with open(paths["summary"], newline="", encoding="utf-8") as f:
            summary = list(csv.DictReader(f))
        assert len(summary) == len(SIGNALS) * len(MODELS)
        assert float(summary[0]["accuracy_mean"]) == pytest.approx(0.6)
        assert float(summary[0]["accuracy_std"]) == pytest.approx(np.std([0.5, 0.7], ddof=1))
        assert float(summary[0]["accuracy_low"]) < 0.5 < 0.7 < float(summary[0]["accuracy_high"])
        assert [r["verdict"] for r in summary[:3]] == ["", "", ""]  # clean: no verdict
        with open(paths["headline"], newline="", encoding="utf-8") as f:
            head = list(csv.DictReader(f))
        assert [r["signal"] for r in head] == list(SIGNALS)
        assert head[1]["data"] == "digits (embedded stand-in)"
        assert head[1]["paper_dataset"] == "CIFAR-10"
        # one unit (fractions), the paper's words in columns of their own
        assert float(head[1]["paper_main"]) == pytest.approx(0.847)
        assert head[1]["paper_main_note"] == "no change"
        assert head[1]["paper_best_model"] == "Decision tree"
        assert float(head[1]["paper_best"]) == 1.0
        assert float(head[1]["main_accuracy_low"]) < float(head[1]["main_accuracy"])
        img = matplotlib.image.imread(paths["figure"])
        assert img.ndim == 3
        assert img.shape[0] > 300
        assert img.shape[1] > 300
        assert img.std() > 0  # something was drawn

    def test_the_header_names_the_controls(self, tmp_path: Path) -> None:
        acc = {(s, m): [0.5] for s in SIGNALS for m in MODELS}
        plain = write_report(make_rows(acc), tmp_path / "plain")["table"].read_text("utf-8")
        assert "Shut-down" not in plain
        assert "Code strength" not in plain
        rows = [
            {**r, "blank": True, "strength": None if r["signal"] == "clean" else 16.0}
            for r in make_rows(acc)
        ]
        paths = write_report(rows, tmp_path / "blank")
        md = paths["table"].read_text("utf-8")
        assert "**Shut-down control: blank data**, only the signal." in md
        # what the strength sets, per signal, from the signals' declarations
        from signalinject.benchmarks.signals import SIGNALS as DECLARED

        assert f"Code strength 16 (one_pixel: {DECLARED['one_pixel'].strength}; " in md
        assert "0..255 units" not in md
        with open(paths["csv"], newline="", encoding="utf-8") as f:
            got = list(csv.DictReader(f))
        assert [(r["blank"], r["strength"]) for r in got[:4]] == [
            ("True", ""), ("True", ""), ("True", ""), ("True", "16.0"),
        ]  # fmt: skip
        # the paper's strength is no news
        paper = [{**r, "strength": None if r["signal"] == "clean" else 1.0} for r in rows]
        md = write_report(paper, tmp_path / "paper")["table"].read_text("utf-8")
        assert "Code strength" not in md
        # a blend weight is not a pixel value
        blend = [{**r, "signal": "blend", "strength": 0.05} for r in make_rows(acc)]
        md = write_report(blend, tmp_path / "blend")["table"].read_text("utf-8")
        assert "Code strength 0.05 (blend: alpha, the pattern's blend weight)." in md

    def test_write_report_empty(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="nothing to report"):
            write_report([], tmp_path)

    def test_read_rows_leaves_out_bad_lines(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        rows = make_rows({("clean", "convnet"): [0.5, 0.6]})
        path = tmp_path / "results.jsonl"
        text = "".join(json.dumps(r) + "\n" for r in rows)
        path.write_text(text + '{"cell_id": "abc", "datas', encoding="utf-8")
        with caplog.at_level(logging.WARNING):
            got = report.read_rows(path)
        assert got == rows
        assert f"{path}:3: corrupt, truncated or duplicated line left out" in caplog.text


class TestColours:
    def test_one_colour_per_model_in_every_chart(self) -> None:
        from signalinject.benchmarks.registry import MODELS

        domain = {n for n, e in MODELS.items() if e.headline is not None}  # the paper's own
        assert domain >= {"convnet", "charcnn", "charcnn_large", "charcnn_narrow"}
        others = [m for m in MODELS if m not in domain]
        colours = [report.model_color(m) for m in others]
        assert len(set(colours)) == len(colours)  # the competitors are told apart
        assert {report.model_color(m) for m in domain} == {report.model_color("convnet")}
        assert report.model_color("convnet") not in colours
        # users' models: distinct spare colours, by their order among the models drawn
        users = ["a.py:net", "b.py:net"]
        mine = [report.model_color(m, [*others, *users]) for m in users]
        assert len(set(mine)) == 2
        assert not set(mine) & set(colours)


class TestChart:
    """``results.png`` read as a user reads it: its artists, its axes and its legend."""

    @staticmethod
    def legend(fig: Any) -> list[str]:
        return [t.get_text() for t in fig.legends[0].get_texts()]

    def test_no_line_falls_off_the_axis(self) -> None:
        # the random pixel decodes at 4.3% on noisy_digits: far below every accuracy drawn
        acc = {(s, m): [0.8] for s in ("clean", "one_pixel", "random_pixel") for m in MODELS}
        rows = make_rows(acc)
        for r in rows:
            if r["signal"] == "random_pixel":
                r["decode_accuracy"] = 0.043
        fig = report.results_figure(rows)
        ax_acc = fig.axes[0]
        bottom, top = ax_acc.get_ylim()
        # the decode lines: the horizontal segments (hlines) of the accuracy panel
        segments = [
            seg
            for c in ax_acc.collections
            if hasattr(c, "get_segments")
            for seg in c.get_segments()
            if len(seg) == 2 and seg[0][1] == seg[1][1]
        ]
        levels = {round(float(seg[0][1]), 1) for seg in segments}
        assert 4.3 in levels  # the line is drawn...
        assert bottom <= 4.3 <= top  # ...and inside the axis
        for line in ax_acc.lines:  # every marker too
            ys = [y for y in line.get_ydata() if y == y]
            assert all(bottom <= y <= top for y in ys), line

    def test_the_legend_lists_only_what_is_drawn(self) -> None:
        acc = {(s, m): [0.8] for s in ("clean", "one_pixel") for m in MODELS}
        rows = make_rows(acc)
        fig = report.results_figure(rows)
        assert "0%" not in self.legend(fig)  # no reliance at 0%: no triangle, no entry
        markers = [ln for ln in fig.axes[1].lines if ln.get_marker() == "^"]
        assert not markers
        for r in rows:
            if r["signal"] == "one_pixel" and r["model"] == "logistic_regression":
                r["reliance"] = 0.0
        fig = report.results_figure(rows)
        assert "0%" in self.legend(fig)
        markers = [ln for ln in fig.axes[1].lines if ln.get_marker() == "^"]
        assert sum(len(m.get_xdata()) for m in markers) == 1

    def test_did_not_learn_only_for_models_that_learned_nothing(self) -> None:
        # the text chart: baselines at the majority rate on the clean task, two of them
        # reading the mnemonic at 100%: those learned the signal
        acc = {(s, m): [0.3] for s in ("clean", "mnemonic")
               for m in ("charcnn_narrow", "gaussian_nb", "lda")}  # fmt: skip
        rows = make_rows(acc, "stdlib_code")
        for r in rows:
            r["majority_rate"] = 0.36
            r["num_classes"] = 5
            if r["signal"] == "mnemonic":
                r["reliance"] = 1.0 if r["model"] == "gaussian_nb" else 0.02
                r["accuracy"] = 1.0 if r["model"] == "gaussian_nb" else 0.3
        labels = self.legend(report.results_figure(rows))
        assert "Gaussian naive Bayes (clean at majority rate)" in labels
        assert "LDA (did not learn)" in labels
        assert "Char-CNN (narrow) (did not learn)" in labels
        # the hatch marks the cells whose verdict is "did not learn", not a model's every bar
        bars = [p for p in report.results_figure(rows).axes[1].patches if p.get_height() > 0]
        hatched = {round(p.get_height()) for p in bars if p.get_hatch()}
        assert 100 not in hatched
        assert hatched == {2}
