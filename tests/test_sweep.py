"""Tests of signalinject.benchmarks.sweep and the code strengths of the signals: the plan of a
sweep, where a model starts reading, the report, and ``signalinject bench sweep`` end to end on a
small slice of the embedded digits with a decision tree, and of the text stand-in with the
char-CNN and a tree (``trigger_word``'s word count)."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import signalinject as si
from signalinject.benchmarks import cli
from signalinject.benchmarks.registry import default_models
from signalinject.benchmarks.settings import RunSettings
from signalinject.benchmarks.signals import (
    SIGNALS,
    STRENGTH_SIGNALS,
    check_strength,
    make_injector,
    sweepable,
)
from signalinject.benchmarks.stats import VERDICTS, verdict
from signalinject.benchmarks.store import RESULTS_FILE
from signalinject.benchmarks.sweep import (
    DEFAULT_STRENGTHS,
    SweepConfig,
    onsets,
    plan,
    sweep_signals,
    sweep_table,
    write_sweep_report,
)

K = 10
SWEEP_SIGNALS = sweep_signals("image")
TEXT = RunSettings(dataset="stdlib_code")


# -- strengths of the signals ----------------------------------------------------------------------
class TestStrength:
    def test_signals_with_a_strength(self) -> None:
        assert STRENGTH_SIGNALS == SWEEP_SIGNALS
        assert SWEEP_SIGNALS == ("one_pixel", "pattern_pixels", "random_pixel", "orthogonal_noise")
        # the paper's text signals have none: the text sweep runs the registered ones with one
        assert sweep_signals("text") == ("trigger_word",)

    @pytest.mark.parametrize("name", STRENGTH_SIGNALS)
    def test_the_papers_strength_is_the_papers_injector(self, name: str) -> None:
        default = SIGNALS[name].default_strength
        assert default is not None
        assert make_injector(name, K, 3, strength=default) == make_injector(name, K, 3)
        assert make_injector(name, K, 3, strength=None) == make_injector(name, K, 3)

    def test_pixel_codes(self) -> None:
        one = make_injector("one_pixel", K, 0, strength=28)
        assert isinstance(one, si.OnePixel)
        assert one.code_values == tuple(28.0 * k for k in range(K))
        rnd = make_injector("random_pixel", K, 0, strength=5)
        assert isinstance(rnd, si.RandomPixel)
        assert rnd.code_values[-1] == 45.0
        pat = make_injector("pattern_pixels", K, 0, strength=255)
        assert isinstance(pat, si.PatternPixels)
        assert (pat.on_value, pat.off_value) == (255.0, 0)
        noise = make_injector("orthogonal_noise", K, 0, strength=32.5)
        assert isinstance(noise, si.OrthogonalNoise)
        assert noise.strength == 32.5

    def test_an_int_and_a_float_strength_are_the_same_injector(self) -> None:
        assert make_injector("one_pixel", K, 0, strength=16) == make_injector(
            "one_pixel", K, 0, strength=16.0
        )

    @given(st.integers(1, 28), st.integers(0, 2**31))
    def test_strong_one_pixel_codes_are_written_and_read_back(self, step: int, seed: int) -> None:
        inj = make_injector("one_pixel", K, seed, strength=step)
        assert inj is not None
        rng = np.random.default_rng(seed)
        y = rng.integers(0, K, 16)
        x = rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
        out = inj(x, y)
        assert (out[:, 0, 0, 0] == y * step).all()
        assert (inj.decode(out) == y).all()

    def test_clean_ignores_a_strength(self) -> None:
        check_strength("clean", 1000)
        assert make_injector("clean", K, 0, strength=1000) is None

    @pytest.mark.parametrize(
        ("name", "strength", "err", "match"),
        [
            ("multiple_locations", 4, ValueError, "signal 'multiple_locations' has no strength"),
            ("mnemonic", 4, ValueError, "signal 'mnemonic' has no strength"),
            ("one_pixel", 29, ValueError, r"largest code would be 261 > 255 \(at most 28\)"),
            ("random_pixel", 64, ValueError, "too large for random_pixel with 10 classes"),
            ("pattern_pixels", 256, ValueError, r"largest code would be 256 > 255"),
            ("one_pixel", 2.5, ValueError, "strength must be a whole number, got 2.5"),
            ("orthogonal_noise", 0, ValueError, "strength must be a finite number > 0, got 0"),
            ("orthogonal_noise", float("inf"), ValueError, "finite number > 0, got inf"),
            ("one_pixel", "4", TypeError, "strength must be a number, got '4'"),
            ("one_pixel", True, TypeError, "strength must be a number, got True"),
            ("two_pixels", 4, ValueError, "unknown signal 'two_pixels'"),
        ],
    )
    def test_bad_strength(self, name: str, strength: Any, err: type[Exception], match: str) -> None:
        with pytest.raises(err, match=match):
            make_injector(name, K, 0, strength=strength)


# -- the plan --------------------------------------------------------------------------------------
class TestPlan:
    @given(
        st.lists(st.integers(1, 300), min_size=1, max_size=6),
        st.lists(st.sampled_from(SWEEP_SIGNALS), min_size=1, max_size=4, unique=True),
        st.integers(2, 16),
    )
    def test_every_point_fits_and_every_skip_does_not(
        self, strengths: list[int], signals: list[str], k: int
    ) -> None:
        cfg = SweepConfig(strengths=tuple(strengths), signals=tuple(signals))
        runs, skipped = plan(cfg, k)
        assert [s for s, _ in runs] == sorted({s for s, _ in runs})  # ascending, once each
        points = {(sig, s) for s, sigs in runs for sig in sigs}
        for sig, s in points:
            check_strength(sig, s, k)
        for sig, s in skipped:
            with pytest.raises(ValueError, match="too large"):
                check_strength(sig, s, k)
        for sig in signals:  # every asked point is run or skipped, and the paper's point is run
            paper = SIGNALS[sig].default_strength
            asked = {float(s) for s in strengths} | {round(float(paper or 0), 6)}
            assert {s for g, s in points | set(skipped) if g == sig} == asked
            assert (sig, round(float(paper or 0), 6)) in points

    def test_signals_without_a_strength_are_left_out_of_the_plan(self) -> None:
        cfg = SweepConfig(strengths=(4,), signals=("multiple_locations", "pattern_pixels"))
        assert plan(cfg, K) == ([(1.0, ("pattern_pixels",)), (4.0, ("pattern_pixels",))], [])

    def test_the_data_set_decides_the_defaults(self) -> None:
        image, text = SweepConfig(), SweepConfig(settings=TEXT)
        assert (image.kind, text.kind) == ("image", "text")
        assert image.signals == SWEEP_SIGNALS
        assert image.strengths == (1, 4, 16, 28, 64, 128, 255)
        assert image.models == ("convnet", "decision_tree")
        assert text.signals == ("trigger_word",)
        assert text.strengths == (1, 2, 4, 8, 16) == DEFAULT_STRENGTHS["text"]
        assert text.models == ("charcnn_narrow", "decision_tree") == default_models("sweep", "text")
        blank = SweepConfig(blank=True, settings=RunSettings(dataset="stdlib_docs"))
        assert blank.signals == ("trigger_word",)

    def test_text_plan(self) -> None:
        cfg = SweepConfig(strengths=(16, 2.5, 4, 65, 0.5), settings=TEXT)
        runs, skipped = plan(cfg, 5)
        # one word (Kurita et al.'s trigger) always runs: the chart's default point
        assert runs == [(s, ("trigger_word",)) for s in (1.0, 4.0, 16.0)]
        assert skipped == [("trigger_word", 0.5), ("trigger_word", 2.5), ("trigger_word", 65.0)]

    @given(st.lists(st.floats(0.25, 80, allow_nan=False), min_size=1, max_size=6))
    def test_text_points_are_whole_word_counts(self, strengths: list[float]) -> None:
        cfg = SweepConfig(strengths=tuple(strengths), signals=("trigger_word",), settings=TEXT)
        runs, skipped = plan(cfg, 5)
        points = [s for s, _ in runs]
        assert 1.0 in points
        for s in points:
            assert s == int(s)
            assert 1 <= s <= 64
            inj = make_injector("trigger_word", 5, 0, kind="text", strength=s)
            assert isinstance(inj, si.TriggerWord)
            assert inj.count == int(s)
        for sig, s in skipped:
            assert sig == "trigger_word"
            with pytest.raises(ValueError, match="a whole number from 1 to 64"):
                check_strength(sig, s, 5)
        assert set(points) | {s for _, s in skipped} == {float(s) for s in strengths} | {1.0}

    @pytest.mark.parametrize(
        ("kw", "match"),
        [
            (
                {"signals": ("one_pixel",), "settings": TEXT},
                "signal 'one_pixel' applies to image data, but dataset 'stdlib_code' holds text",
            ),
            (
                {"signals": ("trigger_word",)},
                "signal 'trigger_word' applies to text data, but dataset 'photo_digits' holds "
                "image data; image signals with a strength: one_pixel, pattern_pixels",
            ),
            (
                {"signals": ("mnemonic", "pattern_char"), "settings": TEXT},
                r"none of the signals \['mnemonic', 'pattern_char'\] has a strength; text "
                "signals with one: trigger_word",
            ),
            ({"strengths": (2, 0), "settings": TEXT}, "finite number > 0, got 0"),
            ({"signals": ("multiple_locations",)}, "none of the signals .* has a strength"),
            ({"signals": ("one_pixle",)}, "unknown signal 'one_pixle'"),
            ({"signals": ()}, "signals must list at least one signal"),
            ({"strengths": ()}, "strengths must list at least one number"),
            ({"strengths": (4, -1)}, "strength must be a finite number > 0, got -1"),
        ],
    )
    def test_bad_config(self, kw: dict[str, Any], match: str) -> None:
        with pytest.raises(ValueError, match=match):
            SweepConfig(**kw)

    def test_unknown_dataset(self) -> None:
        with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
            SweepConfig(settings=RunSettings(dataset="mnist"))


# -- analysis on constructed rows ------------------------------------------------------------------
def _row(signal: str, strength: float | None, model: str, reliance: float | None) -> dict:
    return {
        "dataset": "digits",
        "signal": signal,
        "strength": strength,
        "model": model,
        "seed": 0,
        "num_classes": K,
        "accuracy": 0.9,
        "gain": 0.0,
        "decode_accuracy": None if strength is None else 1.0,
        "reliance": reliance,
        "preprocess": "standardize",
        "cell_id": f"{signal}{strength}{model}",
    }


class TestOnsets:
    def test_first_strength_that_reads(self) -> None:
        rows = [_row("clean", None, "convnet", None)]
        rows += [
            _row("one_pixel", s, "convnet", r)
            for s, r in [(28, 0.9), (1, 0.0), (4, 0.3), (16, 0.6)]
        ]
        rows += [_row("one_pixel", s, "decision_tree", 0.95) for s in (1, 4, 16, 28)]
        by = {o["model"]: o for o in onsets(rows)}
        assert by["convnet"]["strengths"] == [1.0, 4.0, 16.0, 28.0]
        assert by["convnet"]["verdicts"] == ["ignores", "partial", "reads", "reads"]
        assert (by["convnet"]["reads_from"], by["convnet"]["partial_from"]) == (16.0, 4.0)
        assert by["decision_tree"]["reads_from"] == 1.0
        table = sweep_table(rows)
        # the shortcut drop beside each reliance: "–" where the rows hold none
        assert "| 1 (paper) | 100.0 | 90.0 | 0.0 | – | ignores | 90.0 | 95.0 | – | reads |" in table
        assert "| One pixel | 1 | 16 | 4 | 1 | 1 |" in table

    def test_never_reads(self) -> None:
        rows = [_row("orthogonal_noise", s, "convnet", 0.0) for s in (4, 64)]
        (o,) = onsets(rows)
        assert (o["reads_from"], o["partial_from"]) == (None, None)
        assert "| Noise | 7.65 | – | – |" in sweep_table(rows)

    def test_nothing_swept(self) -> None:
        with pytest.raises(ValueError, match="rows hold no swept signal"):
            sweep_table([_row("clean", None, "convnet", None)])
        with pytest.raises(ValueError, match="rows is empty"):
            write_sweep_report([], "unused")


# -- end to end ------------------------------------------------------------------------------------
SWEEP = [
    "bench", "sweep", "--limit", "60", "--models", "decision_tree", "--strengths", "16,64",
    "--no-progress",
]  # fmt: skip


def _warnings(argv: list[str]) -> tuple[int, str]:
    """``cli.main(argv)`` and the warnings it logged."""
    logger = logging.getLogger("signalinject.benchmarks")
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Keep(logging.WARNING)
    logger.addHandler(handler)
    try:
        code = cli.main(argv)
    finally:
        logger.removeHandler(handler)
    return code, "\n".join(records)


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One tiny sweep: one_pixel and noise (and multiple_locations, skipped) with a tree."""
    out = tmp_path_factory.mktemp("sweep") / "out"
    argv = [*SWEEP, "--signals", "one_pixel,orthogonal_noise,multiple_locations", "--out", str(out)]
    code, log = _warnings(argv)
    assert code == 0
    return out, log


class TestEndToEnd:
    def test_points_and_skips(self, swept: tuple[Path, str]) -> None:
        out, log = swept
        rows = [json.loads(x) for x in (out / RESULTS_FILE).read_text().splitlines()]
        points = sorted((r["signal"], r["strength"]) for r in rows)
        assert points == [
            ("clean", None),
            ("one_pixel", 1.0),
            ("one_pixel", 16.0),
            ("orthogonal_noise", 7.65),
            ("orthogonal_noise", 16.0),
            ("orthogonal_noise", 64.0),
        ]
        assert "signal multiple_locations has no strength: skipped" in log
        assert "strength 64 does not fit one_pixel with 10 classes: skipped" in log
        one = {r["strength"]: r for r in rows if r["signal"] == "one_pixel"}
        assert one[16.0]["injector"]["values"] == [16.0 * k for k in range(K)]
        assert one[1.0]["injector"]["values"] is None  # the paper's injector itself
        for r in rows:
            assert r["blank"] is False

    def test_report(self, swept: tuple[Path, str]) -> None:
        out, _ = swept
        md = (out / "sweep.md").read_text(encoding="utf-8")
        assert "### One pixel: strength = step between class codes" in md
        assert "| Strength | Decode | Decision tree acc. | Decision tree reliance |" in md
        assert "### Where each model starts reading the signal" in md
        with open(out / "sweep.csv", newline="", encoding="utf-8") as f:
            lines = list(csv.DictReader(f))
        assert len(lines) == 6
        assert {r["verdict"] for r in lines if r["signal"] != "clean"} <= set(VERDICTS)
        for sig in ("one_pixel", "orthogonal_noise"):
            assert (out / f"sweep_{sig}.png").read_bytes().startswith(b"\x89PNG")
        assert not (out / "sweep_multiple_locations.png").exists()

    def test_the_papers_point_is_the_bench_cell(
        self, swept: tuple[Path, str], tmp_path: Path
    ) -> None:
        out, _ = swept
        copy = tmp_path / "copy"
        copy.mkdir()
        (copy / RESULTS_FILE).write_bytes((out / RESULTS_FILE).read_bytes())
        before = (copy / RESULTS_FILE).read_bytes()
        argv = [
            "bench", "images", "--limit", "60", "--models", "decision_tree", "--signals",
            "one_pixel,orthogonal_noise", "--no-progress", "--out", str(copy),
        ]  # fmt: skip
        assert cli.main(argv) == 0
        assert (copy / RESULTS_FILE).read_bytes() == before  # nothing new to compute

    def test_printed_paths(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        out = tmp_path / "one"
        argv = [*SWEEP, "--signals", "pattern_pixels", "--strengths", "255", "--out", str(out)]
        assert cli.main(argv) == 0
        printed = capsys.readouterr().out
        for name in ("sweep.md", "sweep.csv", "sweep_pattern_pixels.png"):
            assert str(out / name) in printed
        assert "| 255 |" in printed

    def test_blank_sweep_reads_strong_codes(self, tmp_path: Path) -> None:
        out = tmp_path / "blank"
        argv = [*SWEEP, "--signals", "one_pixel", "--blank", "--out", str(out)]
        assert cli.main(argv) == 0
        rows = [json.loads(x) for x in (out / RESULTS_FILE).read_text().splitlines()]
        assert all(r["blank"] for r in rows)
        strong = next(r for r in rows if r["strength"] == 16.0)
        # the code is all a tree sees; it fits on 15 samples, so it knows most classes, not all
        assert verdict(strong["reliance"], K) == "reads"
        assert strong["accuracy"] > strong["clean_accuracy"] + 0.5

    @pytest.mark.parametrize(
        ("args", "match"),
        [
            (["--strengths", "0"], "expected numbers > 0, got '0'"),
            (["--strengths", "a"], "expected numbers like 1,4,16, got 'a'"),
        ],
    )
    def test_bad_arguments(
        self, args: list[str], match: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as e:
            cli.main(["bench", "sweep", *args])
        assert e.value.code == 2
        assert match in capsys.readouterr().err

    def test_image_signal_on_text(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        argv = [*SWEEP, "--dataset", "stdlib_docs", "--signals", "one_pixel"]
        assert cli.main([*argv, "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "'one_pixel' applies to image data, but dataset 'stdlib_docs' holds text" in err
        assert not (tmp_path / RESULTS_FILE).exists()

    def test_help_gives_every_default_and_fits_a_screen(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit):
            cli.main(["bench", "sweep", "--help"])
        text = capsys.readouterr().out
        assert len(text.splitlines()) <= 48
        assert max(len(line) for line in text.splitlines()) <= 100
        entries: list[str] = []
        for line in text[text.index("options:") :].splitlines()[1:]:
            if line.startswith("  -"):
                entries.append(line)
            elif entries:
                entries[-1] += " " + line.strip()
        for e in entries:
            if not e.split()[0].startswith("-h"):
                assert "(default: " in e, e
        # the help breaks long name lists after their commas
        flat = " ".join(text.split()).replace(", ", ",")
        assert "(default: image 1,4,16,28,64,128,255; text 1,2,4,8,16; coverage," in flat
        assert "(default: image convnet,decision_tree; text charcnn_narrow,decision_tree)" in flat
        assert "text trigger_word;" in flat
        assert "(default: the first 4 image,1 text;" in flat


# -- end to end on text ----------------------------------------------------------------------------
TEXT_SWEEP = [
    "bench", "sweep", "--dataset", "stdlib_code", "--limit", "60", "--epochs", "1",
    "--strengths", "2,2.5,4", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def text_swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One tiny text sweep with the default models (the char-CNN for one epoch, and a tree)."""
    out = tmp_path_factory.mktemp("text_sweep") / "out"
    code, log = _warnings([*TEXT_SWEEP, "--out", str(out)])
    assert code == 0
    return out, log


class TestTextEndToEnd:
    def test_points_and_skips(self, text_swept: tuple[Path, str]) -> None:
        out, log = text_swept
        rows = [json.loads(x) for x in (out / RESULTS_FILE).read_text().splitlines()]
        points = sorted((r["signal"], r["strength"] or 0, r["model"]) for r in rows)
        signals = [("clean", 0), *(("trigger_word", s) for s in (1.0, 2.0, 4.0))]
        models = ("charcnn_narrow", "decision_tree")
        assert points == [(sig, s, m) for sig, s in signals for m in models]
        assert "strength 2.5 does not fit trigger_word with 5 classes: skipped" in log
        assert "a whole number from 1 to 64, got 2.5" in log
        words = {r["strength"]: r for r in rows if r["signal"] == "trigger_word"}
        assert words[1.0]["injector"]["count"] == 1  # Kurita et al.'s one word
        assert words[2.0]["injector"]["count"] == 2
        assert words[4.0]["injector"]["count"] == 4
        for r in rows:
            assert r["suite"] == "text"
            assert r["text_length"] == 256
            assert r["blank"] is False
            if r["signal"] == "trigger_word":
                assert r["decode_accuracy"] == 1.0

    def test_report(self, text_swept: tuple[Path, str]) -> None:
        out, _ = text_swept
        md = (out / "sweep.md").read_text(encoding="utf-8")
        assert "Train 60 / test 60 samples, 5 classes, text length 256, seeds [0]." in md
        assert "image input" not in md
        assert (
            "### Rare-word trigger (Kurita et al. 2020): strength = count, the copies of the "
            "class word in each text" in md
        )
        assert "| Strength | Decode | Char-CNN (narrow) acc. |" in md
        assert "| 1 (default) | 100.0 [94.0, 100.0] |" in md  # not the paper's: Kurita et al.'s
        assert "(paper)" not in md
        assert "| Rare-word trigger (Kurita et al. 2020) | 1 |" in md
        with open(out / "sweep.csv", newline="", encoding="utf-8") as f:
            lines = list(csv.DictReader(f))
        assert len(lines) == 8
        assert {r["text_length"] for r in lines} == {"256"}
        assert (out / "sweep_trigger_word.png").read_bytes().startswith(b"\x89PNG")

    def test_resumes(self, text_swept: tuple[Path, str], tmp_path: Path) -> None:
        out, _ = text_swept
        copy = tmp_path / "copy"
        copy.mkdir()
        (copy / RESULTS_FILE).write_bytes((out / RESULTS_FILE).read_bytes())
        before = (copy / RESULTS_FILE).read_bytes()
        assert cli.main([*TEXT_SWEEP, "--out", str(copy)]) == 0
        assert (copy / RESULTS_FILE).read_bytes() == before  # nothing new to compute
        # the sweep's points are bench text's cells at that strength
        argv = [
            "bench", "text", "--limit", "60", "--epochs", "1", "--signals", "trigger_word",
            "--models", "charcnn_narrow,decision_tree", "--strength", "4", "--no-progress",
            "--out", str(copy),
        ]  # fmt: skip
        assert cli.main(argv) == 0
        assert (copy / RESULTS_FILE).read_bytes() == before

    def test_bench_text_strength(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        argv = [
            "bench", "text", "--limit", "60", "--models", "decision_tree", "--strength", "3",
            "--no-progress", "--out", str(tmp_path),
        ]  # fmt: skip
        assert cli.main(argv) == 0
        err = capsys.readouterr().err
        # the default signals have no strength: the note names them and what runs instead
        assert (
            "note: --strength: mnemonic, length_encoding, pattern_char have no strength, left "
            "out; runs trigger_word" in err
        )
        rows = [json.loads(x) for x in (tmp_path / RESULTS_FILE).read_text().splitlines()]
        assert [(r["signal"], r["strength"]) for r in rows] == [
            ("clean", None), ("trigger_word", 3.0),
        ]  # fmt: skip
        assert rows[1]["injector"]["count"] == 3
        assert rows[1]["decode_accuracy"] == 1.0
        assert "Code strength 3 (trigger_word: count" in (tmp_path / "results.md").read_text()

    def test_bench_text_help_says_what_the_strength_is(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("COLUMNS", "80")
        with pytest.raises(SystemExit):
            cli.main(["bench", "text", "--help"])
        text = capsys.readouterr().out
        assert len(text.splitlines()) <= 40
        flat = " ".join(text.split())
        assert "--strength STRENGTH copies of trigger_word's class word" in flat
        assert "(default: 1)" in flat

    @pytest.mark.parametrize(
        ("args", "match"),
        [
            (["--strength", "2.5"], "a whole number from 1 to 64, got 2.5"),
            (["--strength", "65"], "a whole number from 1 to 64, got 65.0"),
            (["--signals", "mnemonic", "--strength", "2"], "signal 'mnemonic' has no strength"),
            (["--signals", "one_pixel"], "'one_pixel' applies to image data, not text"),
        ],
    )
    def test_bench_text_bad_strength(
        self, args: list[str], match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ["bench", "text", "--limit", "60", "--models", "decision_tree", *args]
        assert cli.main([*argv, "--no-progress", "--out", str(tmp_path)]) == 2
        assert match in capsys.readouterr().err
        assert not (tmp_path / RESULTS_FILE).exists()

    def test_blank_text_sweep_reads_the_words(self, tmp_path: Path) -> None:
        out = tmp_path / "blank"
        argv = [
            "bench", "sweep", "--dataset", "stdlib_code", "--limit", "60", "--models",
            "decision_tree", "--strengths", "2", "--blank", "--no-progress", "--out", str(out),
        ]  # fmt: skip
        assert cli.main(argv) == 0
        rows = [json.loads(x) for x in (out / RESULTS_FILE).read_text().splitlines()]
        assert all(r["blank"] for r in rows)
        assert sorted(r["strength"] or 0 for r in rows) == [0, 1.0, 2.0]
        # empty texts: the words are all there is, and a tree reads them
        for r in rows:
            if r["signal"] == "trigger_word":
                assert verdict(r["reliance"], 5) == "reads", r
        assert "(empty texts)" in (out / "sweep.md").read_text(encoding="utf-8")


USER_WORDS = """
import signalinject as si

def make_words(num_classes, seed, quantizer=None, strength=None):
    count = 1 if strength is None else int(strength)
    return si.TriggerWord(num_classes, seed=seed, quantizer=quantizer, count=count,
                          words=WORDS[:num_classes])

WORDS = ("zzq", "qqz", "jjx", "xxj", "zqj")
"""


def test_a_users_text_signal_with_a_strength_is_swept(tmp_path: Path) -> None:
    module = tmp_path / "words.py"
    module.write_text(USER_WORDS)
    spec = f"{module}:make_words"
    assert sweepable(spec, "text")
    assert not sweepable(spec, "image")
    out = tmp_path / "out"
    argv = [
        "bench", "sweep", "--dataset", "stdlib_code", "--signals", spec, "--strengths", "3",
        "--models", "decision_tree", "--limit", "60", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    assert cli.main(argv) == 0
    lines = (out / RESULTS_FILE).read_text().splitlines()
    rows = {r["strength"]: r for r in map(json.loads, lines)}
    assert sorted(rows, key=lambda s: s or 0) == [None, 1.0, 3.0]
    assert rows[3.0]["signal"] == spec
    assert rows[3.0]["injector"]["count"] == 3
    assert rows[3.0]["injector"]["words"][0] == "zzq"
    assert rows[3.0]["decode_accuracy"] == 1.0
    with pytest.raises(ValueError, match="applies to text data, but dataset 'photo_digits'"):
        SweepConfig(signals=(spec,))
