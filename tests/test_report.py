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
from signalinject.benchmarks.report import Stat, model_table, paper_table, summarize, write_report

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
        assert s.pct() == f"{100 * s.mean:.1f} ± {100 * s.std:.1f}"

    def test_none_values_are_left_out(self) -> None:
        assert Stat.of([None, 0.5, None]) == Stat(0.5, None, 1)
        assert Stat.of([0.5]).pct() == "50.0"
        assert Stat.of([None, None]).pct() == "–"


class TestTables:
    def test_paper_table_two_seeds(self) -> None:
        acc = {
            ("clean", "convnet"): [0.90, 0.92],
            ("clean", "decision_tree"): [0.80, 0.80],
            ("clean", "logistic_regression"): [0.85, 0.87],
            ("one_pixel", "convnet"): [0.90, 0.94],
            ("one_pixel", "decision_tree"): [1.0, 1.0],
            ("one_pixel", "logistic_regression"): [0.86, 0.86],
        }
        lines = paper_table(make_rows(acc)).splitlines()
        assert lines[0] == (
            "| Signal | Decode | ConvNet | ConvNet reliance | Best competing model | Accuracy "
            "| Reliance |"
        )
        assert lines[2] == "| Clean | – | 91.0 ± 1.4 | – | Logistic regression | 86.0 ± 1.4 | – |"
        assert lines[3] == (
            "| One pixel | 75.0 ± 0.0 | 92.0 ± 2.8 | 46.0 ± 1.4 | Decision tree | 100.0 ± 0.0 "
            "| 50.0 ± 0.0 |"
        )
        assert len(lines) == 4

    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.floats(0, 1), min_size=len(MODELS) * 2, max_size=len(MODELS) * 2))
    def test_best_competing_model_has_the_highest_mean_accuracy(self, accs: list[float]) -> None:
        it = iter(accs)
        acc = {(s, m): [next(it)] for s in ("clean", "one_pixel") for m in MODELS}
        lines = paper_table(make_rows(acc), main_model="convnet").splitlines()[2:]
        for sig, line in zip(("clean", "one_pixel"), lines, strict=True):
            cells = [c.strip() for c in line.strip("|").split("|")]
            others = [m for m in MODELS if m != "convnet"]
            best = max(others, key=lambda m: acc[(sig, m)][0])  # first of equals, as the table
            assert cells[4] == report.MODEL_NAMES[best]
            assert cells[5] == f"{100 * acc[(sig, best)][0]:.1f}"

    def test_main_model_defaults_to_charcnn_for_text(self) -> None:
        acc = {(s, m): [0.5] for s in ("clean", "mnemonic") for m in ("gaussian_nb", "charcnn")}
        header = paper_table(make_rows(acc, "stdlib_docs")).splitlines()[0]
        assert header.startswith("| Signal | Decode | Char-CNN | Char-CNN reliance |")

    def test_model_table(self) -> None:
        acc = {(s, m): [0.25 + 0.25 * i] for i, s in enumerate(SIGNALS) for m in MODELS[:2]}
        assert model_table(make_rows(acc), "reliance") == "\n".join(
            [
                "| Signal | ConvNet | Decision tree |",
                "|---|---|---|",
                "| Clean | – | – |",
                "| One pixel | 25.0 | 25.0 |",
                "| Random pixel | 37.5 | 37.5 |",
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


class TestFiles:
    def test_write_report(self, tmp_path: Path) -> None:
        acc = {(s, m): [0.5, 0.7] for s in SIGNALS for m in MODELS}
        rows = make_rows(acc)
        paths = write_report(rows, tmp_path / "out")
        assert set(paths) == {"table", "csv", "summary", "figure"}
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
        assert "Code strength 16 (0..255 units)." in md
        with open(paths["csv"], newline="", encoding="utf-8") as f:
            got = list(csv.DictReader(f))
        assert [(r["blank"], r["strength"]) for r in got[:4]] == [
            ("True", ""), ("True", ""), ("True", ""), ("True", "16.0"),
        ]  # fmt: skip
        # the paper's strength is no news
        paper = [{**r, "strength": None if r["signal"] == "clean" else 1.0} for r in rows]
        md = write_report(paper, tmp_path / "paper")["table"].read_text("utf-8")
        assert "Code strength" not in md

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
