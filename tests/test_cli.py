"""End-to-end tests of the ``signalinject`` command line on small slices of the embedded data:
a run, its reports, resuming after an interrupted run, corrupt lines, and the help screens."""

from __future__ import annotations

import json
import logging
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from signalinject.benchmarks import cli
from signalinject.benchmarks.datasets import load_dataset
from signalinject.benchmarks.store import CORRUPT_FILE, RESULTS_FILE, load_records

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
            assert r["dataset"] == "photo_digits"
            assert (r["n_train"], r["n_test"], r["num_classes"]) == (60, 60, 10)
            assert 0.0 <= r["accuracy"] <= 1.0
            assert r["gain"] == pytest.approx(r["accuracy"] - r["clean_accuracy"])
            assert r["seconds"] > 0
            assert r["data_description"] == load_dataset("photo_digits").description
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
        assert sig_cnn["preprocess"] == "standardize"  # the default
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
        assert bench(out, "--epochs", "2", "--preprocess", "raw", "--models", "decision_tree") == 0
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
            (["--seeds", "x"], "0,1,2 or 0-4 (low to high, at most 1000), got 'x'"),
            (["--epochs", "0"], "expected a positive integer, got 0"),
            (["--signals", ","], "expected comma-separated signals"),
            (["--preprocess", "big"], "invalid choice: 'big'"),
            (["--input-scale", "raw"], "unrecognized arguments: --input-scale"),
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
        assert bench(tmp_path / "out", *args) == 2
        err = capsys.readouterr().err
        assert f"CIFAR-10 not found in {tmp_path}" in err
        assert err.rstrip().endswith("or pass --download")  # the option, not the API's argument
        assert "download=True" not in err

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
        assert len(parse(["bench", "text", "--seeds", f"1-{cli.MAX_SEEDS}"]).seeds) == 1000

    @pytest.mark.parametrize("seeds", ["0-4294967295", "5-2", "0-999,1000", "a-b", "-1"])
    def test_seeds_bounded(self, seeds: str, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as e:
            cli.main(["bench", "images", "--seeds", seeds])
        assert e.value.code == 2
        assert "expected seeds like 0,1,2 or 0-4 (low to high, at most 1000)" in (
            capsys.readouterr().err
        )

    def test_text_length_bounded(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        argv = ["bench", "text", "--text-length", str(2**30), "--out", str(tmp_path)]
        assert cli.main(argv) == 2
        assert "text_length must be" in one_line(capsys.readouterr().err)
        assert not (tmp_path / RESULTS_FILE).exists()


class TestHelp:
    def test_lines_break_in_lists_never_in_names_or_numbers(self) -> None:
        text = "models mixer-w128-d4 569,994, mlp 2,103,818, one_pixel,pattern_pixels --seeds 0,1"
        for width in range(14, 40):
            lines = cli._wrap(text, width)
            words = " ".join(lines).split()
            for kept in ("mixer-w128-d4", "569,994,", "2,103,818,"):
                assert kept in words, (width, lines)
            assert all(len(line) <= width for line in lines)
        assert cli._wrap("a one_pixel,pattern_pixels", 12) == ["a one_pixel,", "pattern_pixels"]

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
        assert "(default: photo_digits)" in options["--dataset"] or suite == "text"
        assert ("--preprocess" in options) == (suite == "images")

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
        assert "--preprocess" in got.stdout


# -- hostile inputs: each is one line on stderr and an exit status, nothing half-written ---------
def one_line(err: str) -> str:
    """The single line of ``err`` (fails if there is not exactly one)."""
    got = err.strip().splitlines()
    assert len(got) == 1, got
    return got[0]


USER_MODELS = """
import sys

from sklearn.tree import DecisionTreeClassifier


def exits(input_shape, num_classes):
    sys.exit(0)


def exits_in_fit(input_shape, num_classes):
    class Quitter(DecisionTreeClassifier):
        def fit(self, X, y):
            sys.exit(0)

    return Quitter()


def interrupted(input_shape, num_classes):
    raise KeyboardInterrupt


def tree(input_shape, num_classes):
    return DecisionTreeClassifier(random_state=0)
"""


def scan(out: Path, *models: str) -> int:
    return cli.main([
        "scan", *models, "--limit", "40", "--signals", "one_pixel", "--no-shutdown",
        "--no-progress", "--out", str(out),
    ])  # fmt: skip


class TestUserCode:
    @pytest.fixture
    def models(self, tmp_path: Path) -> Path:
        path = tmp_path / "user_models.py"
        path.write_text(USER_MODELS, encoding="utf-8")
        return path

    @pytest.mark.parametrize("factory", ["exits", "exits_in_fit"])
    def test_sys_exit_0_is_a_failure(
        self, tmp_path: Path, models: Path, factory: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert scan(tmp_path / "out", f"{models}:{factory}") == 2
        line = one_line(capsys.readouterr().err)
        assert line.startswith("signalinject scan: error: ")
        assert f"{models}:{factory}" in line
        assert "SystemExit: 0" in line

    def test_sys_exit_at_import(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        path = tmp_path / "quits.py"
        path.write_text("import sys\nsys.exit(0)\n", encoding="utf-8")
        assert scan(tmp_path / "out", f"{path}:f") == 2
        line = one_line(capsys.readouterr().err)
        assert f"importing {str(path)!r} raised SystemExit: 0" in line

    def test_ctrl_c_says_the_run_resumes(
        self, tmp_path: Path, models: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "out"
        assert scan(out, f"{models}:interrupted") == 130
        assert one_line(capsys.readouterr().err) == (
            f"signalinject scan: interrupted; the finished cells are saved in {out}: the same "
            "command resumes where it left off"
        )


@pytest.mark.slow  # not ci: TestErrors's Ctrl-C tests guard the message and status in-process
def test_sigint_mid_run_says_it_resumes(tmp_path: Path) -> None:
    """A real Ctrl-C (SIGINT) once the first cell is written: one line, status 130, whole lines
    only; the same command then finishes the run."""
    import signal
    import time

    out = tmp_path / "out"
    argv = [sys.executable, "-m", "signalinject", *IMAGES, "--models", "decision_tree,convnet"]
    # 30 epochs: the convnet's cells last seconds, so the interrupt lands mid-run even where
    # the first line is seen late (3 epochs let a loaded machine finish before the signal)
    argv += ["--epochs", "30", "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ((out / RESULTS_FILE).exists() and (out / RESULTS_FILE).stat().st_size):
        assert time.monotonic() < deadline, "no cell finished in 120 s"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == (
        f"signalinject bench images: interrupted; the finished cells are saved in {out}: the "
        "same command resumes where it left off"
    )
    assert "Traceback" not in err
    done = lines(out)  # whole lines only
    assert 1 <= len(done) < 4
    rerun = subprocess.run(
        [*argv[:-2], "--out", str(out)], capture_output=True, text=True, timeout=300, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    assert [r["cell_id"] for r in lines(out)[: len(done)]] == [r["cell_id"] for r in done]
    assert len(lines(out)) == 4


class TestOutputFiles:
    def test_bad_result_values_are_set_aside_and_recomputed(
        self, first_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        out = copy_run(first_run, tmp_path / "typed")
        path = out / RESULTS_FILE
        rows = lines(first_run)
        broken = [
            {**rows[0], "accuracy": "abc"},
            {**rows[1], "seed": "zero"},
            {**rows[2], "model": None},
            rows[3],
        ]
        text = "\n".join(json.dumps(r) for r in broken).replace('"abc"', "NaN", 0) + "\n"
        path.write_text(text, encoding="utf-8")
        with caplog.at_level(logging.WARNING, logger="signalinject.benchmarks"):
            assert bench(out) == 0
        for no, field in ((1, "accuracy"), (2, "seed"), (3, "model")):
            assert f"{path}:{no}: unusable line (the field '{field}' is" in caplog.text
        assert sorted(ids(out)) == sorted(ids(first_run))
        assert [r["accuracy"] for r in lines(out)] == [r["accuracy"] for r in rows[3:] + rows[:3]]
        assert len((out / CORRUPT_FILE).read_text(encoding="utf-8").splitlines()) == 3
        assert (out / "results.md").stat().st_size > 0

    def test_nan_result_is_set_aside(self, first_run: Path, tmp_path: Path) -> None:
        out = copy_run(first_run, tmp_path / "nan")
        path = out / RESULTS_FILE
        text = path.read_text(encoding="utf-8").splitlines()
        acc = json.loads(text[3])["accuracy"]
        text[3] = text[3].replace(f'"accuracy": {json.dumps(acc)}', '"accuracy": NaN', 1)
        path.write_text("\n".join(text) + "\n", encoding="utf-8")
        assert load_records(path)[1][0][0] == 4
        assert bench(out) == 0
        assert lines(out)[-1]["accuracy"] == acc

    @pytest.mark.parametrize("name", [".lock", RESULTS_FILE])
    def test_a_symlink_is_never_written_through(
        self, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        target = tmp_path / "precious.txt"
        target.write_text("keep\n", encoding="utf-8")
        out = tmp_path / "out"
        out.mkdir()
        (out / name).symlink_to(target)
        assert bench(out, "--models", "decision_tree") == 2
        line = one_line(capsys.readouterr().err)
        assert line == (
            f"signalinject bench images: error: {out / name}: is a symlink; refusing to write "
            "through it (remove the link)"
        )
        assert target.read_text(encoding="utf-8") == "keep\n"

    def test_a_symlinked_report_is_replaced_not_followed(
        self, first_run: Path, tmp_path: Path
    ) -> None:
        out = copy_run(first_run, tmp_path / "linked")
        target = tmp_path / "precious.txt"
        target.write_text("keep\n", encoding="utf-8")
        for name in ("results.md", "results.png", "results.csv", "summary.csv"):
            (out / name).unlink()
            (out / name).symlink_to(target)
        assert bench(out) == 0
        assert target.read_text(encoding="utf-8") == "keep\n"
        assert not (out / "results.png").is_symlink()
        assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"

    @pytest.mark.parametrize(
        ("setup", "match"),
        [
            ("out_is_a_file", "{out}: is a file, expected a directory"),
            ("results_is_a_dir", "{out}/results.jsonl: Is a directory"),
            ("figure_is_a_dir", "{out}/results.png: is a directory, expected a file"),
        ],
    )
    def test_paths_in_the_way(
        self, first_run: Path, tmp_path: Path, setup: str, match: str,
        capsys: pytest.CaptureFixture[str],
    ) -> None:  # fmt: skip
        out = tmp_path / "out"
        if setup == "out_is_a_file":
            out.write_text("", encoding="utf-8")
        elif setup == "results_is_a_dir":
            (out / RESULTS_FILE).mkdir(parents=True)
        else:
            copy_run(first_run, out)
            (out / "results.png").unlink()
            (out / "results.png").mkdir()
        assert bench(out) == 2
        line = one_line(capsys.readouterr().err)
        assert line == f"signalinject bench images: error: {match.format(out=out)}"
        assert not list(out.parent.rglob("*.tmp")) if out.is_dir() else True

    def test_read_only_out(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A directory the run may not write to. root writes anywhere, so there the refusal
        of the file system is simulated (``os.open`` raising EACCES as it would)."""
        import errno

        from signalinject.benchmarks import _files

        out = tmp_path / "ro"
        out.mkdir()
        if os.geteuid() == 0:
            real_open = os.open

            def refused(path: Any, flags: int, mode: int = 0o777) -> int:
                if str(path).startswith(str(out)):
                    raise PermissionError(errno.EACCES, "Permission denied", str(path))
                return real_open(path, flags, mode)

            monkeypatch.setattr(_files.os, "open", refused)
        else:
            out.chmod(0o500)
        try:
            assert bench(out, "--models", "decision_tree") == 2
        finally:
            out.chmod(0o700)
        line = one_line(capsys.readouterr().err)
        assert line == f"signalinject bench images: error: {out}/.lock: Permission denied"

    def test_full_disk(
        self, first_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:  # fmt: skip
        """ENOSPC while the last cell's line is appended (a real full disk cannot be made
        here: ``os.write`` fails as it would): one line, and the file is left whole."""
        import errno

        from signalinject.benchmarks import _files

        out = copy_run(first_run, tmp_path / "full")
        path = out / RESULTS_FILE
        kept = path.read_text(encoding="utf-8").splitlines(keepends=True)[:-1]
        path.write_text("".join(kept), encoding="utf-8")

        def full(fd: int, data: Any) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(_files.os, "write", full)
        assert bench(out) == 2
        assert one_line(capsys.readouterr().err) == (
            "signalinject bench images: error: No space left on device (free some space, then "
            "run the same command again: it resumes there)"
        )
        assert path.read_text(encoding="utf-8") == "".join(kept)


class TestDataErrors:
    def test_download_without_a_network(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """urllib's URLError, here from a URL that cannot be fetched (as without a network)."""
        from signalinject.benchmarks import datasets

        url = (tmp_path / "offline" / "cifar-10-python.tar.gz").as_uri()
        monkeypatch.setattr(datasets, "CIFAR10_URL", url)
        args = ["--dataset", "cifar10", "--data-dir", str(tmp_path / "d"), "--download"]
        assert bench(tmp_path / "out", *args, "--models", "decision_tree") == 2
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"signalinject bench images: error: cannot download {url} (")
        assert line.endswith(f"put cifar-10-python.tar.gz in {tmp_path / 'd'} by hand")

    def test_zhang_archive_that_is_not_gzip(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (tmp_path / "yelp_review_full_csv.tgz").write_bytes(b"not a gzip file")
        args = ["bench", "text", "--dataset", "yelp_full", "--data-dir", str(tmp_path)]
        assert cli.main([*args, "--out", str(tmp_path / "out"), "--no-progress"]) == 2
        line = one_line(capsys.readouterr().err)
        assert "yelp_review_full_csv.tgz: not a readable tar.gz archive" in line

    def test_cifar_labels_of_the_wrong_type(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        import numpy as np

        from test_datasets import py2_pickle

        folder = tmp_path / "cifar-10-batches-py"
        folder.mkdir()
        batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0.5, 1.5]}
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            (folder / name).write_bytes(py2_pickle(batch))
        args = ["--dataset", "cifar10", "--data-dir", str(tmp_path), "--models", "decision_tree"]
        assert bench(tmp_path / "out", *args) == 2
        line = one_line(capsys.readouterr().err)
        assert "b'labels' must be a list of integers 0..9, got a list holding float" in line

    def test_signals_are_checked_before_the_first_cell(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        base = ["bench", "text", "--limit", "30", "--models", "decision_tree", "--no-progress"]
        for length, match in (
            ("1", "signal length_encoding cannot run with text_length=1: LengthEncoding"),
            ("100", "signal pattern_char cannot run with text_length=100: positions"),
        ):
            out = tmp_path / length
            assert cli.main([*base, "--text-length", length, "--out", str(out)]) == 2
            assert match in one_line(capsys.readouterr().err)
            assert not (out / RESULTS_FILE).exists()  # nothing trained


class TestShow:
    def test_missing_data_says_download(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ["show", "one_pixel", "--dataset", "cifar10", "--data-dir", str(tmp_path)]
        assert cli.main([*argv, "--out", str(tmp_path / "x.png")]) == 2
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"signalinject show: error: CIFAR-10 not found in {tmp_path}")
        assert line.endswith("or pass --download")

    def test_out_under_a_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        (tmp_path / "f").write_text("", encoding="utf-8")
        assert cli.main(["show", "one_pixel", "-n", "2", "--out", str(tmp_path / "f/x.png")]) == 2
        assert one_line(capsys.readouterr().err) == (
            f"signalinject show: error: {tmp_path / 'f'}: is a file, expected a directory"
        )


class TestHelpText:
    COMMANDS: ClassVar[list[list[str]]] = [
        [], ["bench"], ["bench", "images"], ["bench", "text"], ["bench", "sweep"], ["scan"],
        ["show"], ["bench", "throughput"], ["bench", "trainspeed"],
    ]  # fmt: skip

    @pytest.mark.parametrize("columns", ["60", "100"])
    @pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
    def test_no_internal_references_no_words_cut(
        self, command: list[str], columns: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:  # fmt: skip
        from signalinject.benchmarks.runner import SUITES
        from signalinject.benchmarks.signals import signal_names

        monkeypatch.setenv("COLUMNS", columns)
        with pytest.raises(SystemExit):
            cli.main([*command, "--help"])
        text = capsys.readouterr().out
        assert "issue" not in text.lower()
        assert "(default: None)" not in text  # the real default, in words
        words = set(re.findall(r"[\w.-]+", text))
        names = {*signal_names("image"), *signal_names("text")}
        for suite in SUITES.values():
            names.update(suite.models)
        for name in names:  # a name in the help is never cut into two lines
            parts = [w for w in words if w != name and len(w) > 2 and name.startswith(w)]
            cut = [p for p in parts if name[len(p) :] in words]
            assert not cut, (name, cut)
        for line in text.splitlines():  # nor an option at its hyphen (--text-|length)
            assert not line.rstrip().endswith(("-", "_")), line


# -- the training commands keep freed memory (glibc) -----------------------------------------------
_FAULTS = """
import resource, sys
import torch
from signalinject.benchmarks import cli
from signalinject.benchmarks.registry import build_model
torch.set_num_threads(1)
print(cli._keep_freed_memory() if sys.argv[1] == "keep" else "default")
net = build_model("convnet", (3, 32, 32), 10)
opt = torch.optim.AdamW(net.parameters(), 1e-3)
x, y = torch.randn(64, 3, 32, 32), torch.arange(64) % 10
def step() -> None:
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net(x), y).backward()
    opt.step()
for _ in range(2):
    step()
for _ in range(9):  # the page faults of each step
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(how: str, env: dict[str, str]) -> tuple[str, float]:
    """What the process said, and the median page faults of a training step."""
    out = subprocess.run(
        [sys.executable, "-c", _FAULTS, how], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], statistics.median(int(v) for v in out[1:])


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="glibc's mallopt",
)
def test_training_commands_keep_freed_memory() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUN"))}
    env["OMP_NUM_THREADS"] = "1"
    said, faults_kept = _faults("keep", env)
    assert said == "True"
    _, faults_default = _faults("default", env)
    # The ConvNet's steps fault their activations in afresh by default (about 9,000 page faults
    # a step here); with freed memory kept, the first steps' pages serve the later ones (0 a
    # step, but for a step now and then that grows the heap: hence the median).
    assert faults_default > 1000
    assert faults_kept < faults_default / 10
    assert _faults("keep", {**env, "MALLOC_TRIM_THRESHOLD_": "131072"})[0] == "False"  # theirs
