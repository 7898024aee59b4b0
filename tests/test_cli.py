"""End-to-end tests of the ``signalinject`` command line on small slices of the embedded data:
a run, its reports, resuming after an interrupted run, corrupt lines, and the help screens."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from signalinject.benchmarks import cli
from signalinject.benchmarks.datasets import load_dataset
from signalinject.benchmarks.runner import CORRUPT_FILE, RESULTS_FILE, load_records

# A tiny image run: 2 signals (clean + one_pixel) x 2 models = 4 cells, in seconds.
IMAGES = [
    "bench", "images", "--limit", "60", "--epochs", "1", "--signals", "one_pixel",
    "--models", "convnet,decision_tree", "--no-progress",
]  # fmt: skip


def bench(out: Path, *extra: str, base: list[str] = IMAGES) -> int:
    return cli.main([*base, "--out", str(out), *extra])


def lines(out: Path) -> list[dict[str, Any]]:
    """The result lines, checked to be whole JSON objects, in file order."""
    text = (out / RESULTS_FILE).read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def ids(out: Path) -> list[str]:
    return [r["cell_id"] for r in lines(out)]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One complete tiny image run; tests copy its directory before changing anything."""
    out = tmp_path_factory.mktemp("bench") / "images"
    assert bench(out) == 0
    return out


def copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


class TestRun:
    def test_one_line_per_cell_with_every_field(self, first_run: Path) -> None:
        rows = lines(first_run)
        cells = [(r["signal"], r["model"], r["seed"]) for r in rows]
        assert cells == [
            ("clean", "convnet", 0),
            ("clean", "decision_tree", 0),
            ("one_pixel", "convnet", 0),
            ("one_pixel", "decision_tree", 0),
        ]
        assert len(set(ids(first_run))) == 4
        for r in rows:
            assert r["dataset"] == "noisy_digits"
            assert (r["n_train"], r["n_test"], r["num_classes"]) == (60, 60, 10)
            assert 0.0 <= r["accuracy"] <= 1.0
            assert r["gain"] == pytest.approx(r["accuracy"] - r["clean_accuracy"])
            assert r["seconds"] > 0
            assert r["data_description"] == load_dataset("noisy_digits").description
        clean_cnn, clean_tree, sig_cnn, sig_tree = rows
        assert clean_cnn["reliance"] is None
        assert clean_cnn["decode_accuracy"] is None
        assert clean_cnn["injector"] is None
        assert sig_cnn["clean_accuracy"] == clean_cnn["accuracy"]
        assert sig_tree["clean_accuracy"] == clean_tree["accuracy"]
        assert sig_cnn["injector"]["__class_fullname__"] == "signalinject.image.OnePixel"
        assert sig_cnn["decode_accuracy"] == 1.0  # one pixel is lossless
        assert 0.0 <= sig_cnn["reliance"] <= 1.0
        # the torch model trains on everything with its config recorded; the baseline on 1/4
        assert sig_cnn["train"]["epochs"] == 1
        assert sig_cnn["input_scale"] == "unit"
        assert sig_cnn["n_fit"] == 60
        assert sig_tree["train"] is None
        assert sig_tree["n_fit"] == 15

    def test_reports_are_written_and_announced(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "run"
        assert bench(out, "--models", "decision_tree") == 0
        printed = capsys.readouterr().out
        assert "| Signal | Decode | Decision tree |" in printed
        for name in ("results.md", "results.csv", "summary.csv", "results.png"):
            assert (out / name).stat().st_size > 0
            assert str(out / name) in printed
        assert f"results: {out}/results.jsonl" in printed

    def test_rerun_skips_finished_cells(
        self, first_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        out = copy_run(first_run, tmp_path / "again")
        before = (out / RESULTS_FILE).read_bytes()
        with caplog.at_level(logging.INFO, logger="signalinject.benchmarks"):
            assert bench(out) == 0
        assert (out / RESULTS_FILE).read_bytes() == before
        assert "4 of 4 cells were already in" in caplog.text

    def test_resume_after_a_lost_last_line(self, first_run: Path, tmp_path: Path) -> None:
        out = copy_run(first_run, tmp_path / "lost")
        path = out / RESULTS_FILE
        kept = path.read_text(encoding="utf-8").splitlines(keepends=True)[:-1]
        path.write_text("".join(kept), encoding="utf-8")  # killed before the last line
        assert bench(out) == 0
        assert ids(out) == ids(first_run)  # the lost cell again, nothing duplicated
        assert lines(out)[-1]["accuracy"] == lines(first_run)[-1]["accuracy"]

    def test_truncated_line_is_reported_and_recomputed(
        self, first_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        out = copy_run(first_run, tmp_path / "cut")
        path = out / RESULTS_FILE
        raw = path.read_bytes()
        last = raw.rstrip(b"\n").rfind(b"\n") + 1
        path.write_bytes(raw[: last + 40])  # killed mid-write of the last line
        with caplog.at_level(logging.WARNING, logger="signalinject.benchmarks"):
            assert bench(out) == 0
        lost = ids(first_run)[-1]
        assert f"{path}:4: corrupt or truncated line; cell {lost} will be recomputed" in caplog.text
        assert ids(out) == ids(first_run)
        assert (out / CORRUPT_FILE).read_bytes() == raw[last : last + 40] + b"\n"
        assert load_records(path)[1] == []

    def test_corrupt_middle_line_is_reported_and_recomputed(
        self, first_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        out = copy_run(first_run, tmp_path / "corrupt")
        path = out / RESULTS_FILE
        text = path.read_text(encoding="utf-8").splitlines()
        text[1] = text[1].replace('"accuracy"', '"acc\x00uracy').replace("}", "")
        path.write_text("\n".join(text) + "\n", encoding="utf-8")
        with caplog.at_level(logging.WARNING, logger="signalinject.benchmarks"):
            assert bench(out) == 0
        assert f"{path}:2: corrupt or truncated line" in caplog.text
        assert sorted(ids(out)) == sorted(ids(first_run))
        assert len(ids(out)) == 4

    def test_settings_that_change_results_change_the_cell(
        self, first_run: Path, tmp_path: Path
    ) -> None:
        out = copy_run(first_run, tmp_path / "epochs")
        assert bench(out, "--epochs", "2") == 0
        rows = lines(out)
        assert len(rows) == 6  # the two convnet cells again; the baseline ignores epochs
        assert [(r["signal"], r["model"], r["train"]["epochs"]) for r in rows[4:]] == [
            ("clean", "convnet", 2),
            ("one_pixel", "convnet", 2),
        ]
        assert bench(out, "--epochs", "2", "--input-scale", "raw", "--models", "decision_tree") == 0
        assert len(lines(out)) == 6
        assert bench(out, "--limit", "50", "--models", "decision_tree") == 0
        assert len(lines(out)) == 8  # other data: other cells

    def test_text_suite(self, tmp_path: Path) -> None:
        out = tmp_path / "text"
        args = [
            "bench", "text", "--limit", "40", "--epochs", "1", "--signals", "mnemonic",
            "--models", "charcnn,decision_tree", "--text-length", "128", "--no-progress",
        ]  # fmt: skip
        assert cli.main([*args, "--out", str(out)]) == 0
        rows = lines(out)
        assert [(r["signal"], r["model"]) for r in rows] == [
            ("clean", "charcnn"),
            ("clean", "decision_tree"),
            ("mnemonic", "charcnn"),
            ("mnemonic", "decision_tree"),
        ]
        mn = rows[2]
        assert mn["text_length"] == 128
        assert mn["injector"]["quantizer"]["length"] == 128
        assert mn["decode_accuracy"] == 1.0  # the first character is always visible
        assert rows[3]["n_fit"] == 10
        for r in rows[2:]:
            assert 0.0 <= r["reliance"] <= 1.0


class TestControls:
    def test_blank(self, tmp_path: Path) -> None:
        out = tmp_path / "blank"
        assert bench(out, "--blank", "--models", "decision_tree") == 0
        clean, one = lines(out)
        assert clean["blank"] is True
        assert one["blank"] is True
        # with nothing but zeros a model predicts one class; with the code the tree reads it
        assert clean["accuracy"] <= 0.2
        assert one["accuracy"] > 0.7
        assert one["decode_accuracy"] == 1.0
        normal = tmp_path / "normal"
        assert bench(normal, "--models", "decision_tree") == 0
        assert not set(ids(out)) & set(ids(normal))
        assert [r["blank"] for r in lines(normal)] == [False, False]

    def test_strength_keeps_the_signals_that_have_one(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        base = [x for x in IMAGES if x not in ("--signals", "one_pixel")]
        argv = [*base, "--models", "decision_tree", "--strength", "16", "--out", str(tmp_path)]
        assert cli.main(argv) == 0
        assert "multiple_locations has no strength, left out" in capsys.readouterr().err
        rows = lines(tmp_path)
        assert [r["signal"] for r in rows] == [
            "clean", "one_pixel", "pattern_pixels", "random_pixel", "orthogonal_noise",
        ]  # fmt: skip
        assert [r["strength"] for r in rows] == [None, 16.0, 16.0, 16.0, 16.0]
        assert rows[3]["injector"]["values"][-1] == 144.0

    def test_strength_of_a_signal_without_one(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert bench(tmp_path, "--signals", "multiple_locations", "--strength", "4") == 2
        assert "signal 'multiple_locations' has no strength" in capsys.readouterr().err

    def test_strength_too_large(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert bench(tmp_path, "--strength", "64", "--models", "decision_tree") == 2
        err = capsys.readouterr().err
        assert "strength 64 is too large for one_pixel with 10 classes" in err
        assert not (tmp_path / RESULTS_FILE).exists()


class TestErrors:
    def test_bad_model(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert bench(tmp_path, "--models", "resnet") == 2
        err = capsys.readouterr().err
        assert "signalinject bench images: error: unknown model 'resnet'" in err
        assert not (tmp_path / RESULTS_FILE).exists()

    def test_text_signal_on_images(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert bench(tmp_path, "--signals", "mnemonic") == 2
        assert "'mnemonic' applies to text data, not image" in capsys.readouterr().err

    @pytest.mark.parametrize(
        ("args", "match"),
        [
            (["--seeds", "x"], "expected seeds like 0,1,2 or 0-4, got 'x'"),
            (["--epochs", "0"], "expected a positive integer, got 0"),
            (["--signals", ","], "expected comma-separated signals"),
            (["--input-scale", "big"], "invalid choice: 'big'"),
            (["--strength", "0"], "expected a number > 0, got '0'"),
            (["--strength", "x"], "expected a number > 0, got 'x'"),
        ],
    )
    def test_bad_arguments(
        self, args: list[str], match: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as e:
            cli.main(["bench", "images", *args])
        assert e.value.code == 2
        assert match in capsys.readouterr().err

    def test_missing_real_data(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        args = ["--dataset", "cifar10", "--data-dir", str(tmp_path), "--models", "decision_tree"]
        assert bench(tmp_path / "out", *args) == 1
        assert f"CIFAR-10 not found in {tmp_path}" in capsys.readouterr().err

    def test_output_directory_in_use(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        import fcntl

        tmp_path.mkdir(exist_ok=True)
        with open(tmp_path / ".lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # another run holds it
            assert bench(tmp_path, "--models", "decision_tree") == 1
        assert f"another signalinject run is writing to {tmp_path}" in capsys.readouterr().err
        assert not (tmp_path / RESULTS_FILE).exists()

    def test_seeds_syntax(self) -> None:
        parse = cli.build_parser().parse_args
        assert parse(["bench", "text", "--seeds", "0-2,7"]).seeds == (0, 1, 2, 7)


class TestHelp:
    @pytest.mark.parametrize("suite", ["images", "text"])
    def test_help_gives_every_default_and_fits_a_screen(
        self, suite: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit):
            cli.main(["bench", suite, "--help"])
        text = capsys.readouterr().out
        assert len(text.splitlines()) <= 48
        assert max(len(line) for line in text.splitlines()) <= 100
        # the option entries: from a line starting with "  -" to the next one
        entries: list[str] = []
        for line in text[text.index("options:") :].splitlines()[1:]:
            if line.startswith("  -"):
                entries.append(line)
            elif entries:
                entries[-1] += " " + line.strip()
        options = {e.split()[0].rstrip(","): e for e in entries}
        for opt, entry in options.items():
            if opt not in ("-h", "--download", "--no-progress"):
                assert "(default: " in entry, opt
        for opt in ("--dataset", "--data-dir", "--download", "--signals", "--models", "--epochs",
                    "--seeds", "--device", "--out", "--limit"):  # fmt: skip
            assert opt in options
        assert "(default: noisy_digits)" in options["--dataset"] or suite == "text"
        assert ("--input-scale" in options) == (suite == "images")

    def test_top_level_help(self, capsys: pytest.CaptureFixture[str]) -> None:
        for argv in (["--help"], ["bench", "--help"]):
            with pytest.raises(SystemExit):
                cli.main(argv)
            text = capsys.readouterr().out
            assert len(text.splitlines()) <= 30
            assert "bench" in text
        with pytest.raises(SystemExit):
            cli.main(["bench", "--help"])
        listed = capsys.readouterr().out
        for command in ("images", "text", "sweep", "throughput", "trainspeed"):
            assert f"    {command}" in listed, command

    def test_python_dash_m(self) -> None:
        env = {**os.environ, "PYTHONWARNINGS": "error"}
        got = subprocess.run(
            [sys.executable, "-m", "signalinject", "bench", "images", "--help"],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert got.returncode == 0, got.stderr
        assert "--input-scale" in got.stdout
