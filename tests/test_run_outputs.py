"""What a run prints, read as a user reads it (issue 31): the log of a non-interactive run (plain
lines, one estimate of the whole run, no escape codes), ``--quiet``, the threads a run uses, the
lock files left behind, the names a command's help and errors list, the atlas's warning at sizes
too small to answer, and the models' display names."""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

from signalinject.benchmarks import cli, store
from signalinject.benchmarks.atlas import atlas_table, size_warning, write_atlas_report
from signalinject.benchmarks.progress import RunProgress, duration, grid_progress, whole_run
from signalinject.benchmarks.registry import MODELS, default_models, display_name, model_names
from signalinject.benchmarks.signals import kind_names, signal_names, sweepable

ESCAPES = re.compile(r"\x1b|\r")


# -- the progress of a whole run ------------------------------------------------------------------
class Clock:
    """A clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_estimate_of_the_whole_run_from_each_kinds_cost() -> None:
    clock, log = Clock(), io.StringIO()
    # two grids of 2 kinds: 3 cells of "net" and 3 of "tree" in each (data, then blank)
    kinds = ["net", "tree"] * 3 * 2
    p = RunProgress(kinds, stream=log, terminal=False, clock=clock)
    clock.now += 10
    p.done("net", "data seed 0 clean net")
    assert p.seconds_left() is None  # no tree cell measured yet: no number to give
    clock.now += 1
    p.done("tree", "data seed 0 clean tree")
    # 5 net cells x 10 s + 5 tree cells x 1 s left; 11 s spent
    assert p.seconds_left() == 55.0
    assert p.estimated == 66.0
    clock.now += 30  # a slower net cell: the estimate is refined
    p.done("net", "data seed 0 one_pixel net")
    assert p.seconds_left() == 4 * 20.0 + 5 * 1.0
    lines = log.getvalue().splitlines()
    assert lines[0] == "12 cells to run (net 6, tree 6)"
    assert lines[1] == "[1/12] data seed 0 clean net: 10 s"
    assert lines[2] == "[2/12] data seed 0 clean tree: 1 s; about 55 s left"
    assert lines[3] == (
        "estimate for the whole run: about 1 min 06 s (12 cells; per cell: net 10 s, tree 1 s); "
        "about 55 s left"
    )
    assert lines[4] == "[3/12] data seed 0 one_pixel net: 30 s; about 1 min 25 s left"
    assert sum("estimate for the whole run" in line for line in lines) == 1
    assert not ESCAPES.search(log.getvalue())


def test_cells_found_done_count_once_with_their_recorded_cost() -> None:
    clock, log = Clock(), io.StringIO()
    p = RunProgress(["net", "net", "tree"], stream=log, terminal=False, clock=clock)
    p.skip("net", 8.0, "a")
    p.skip("net", 8.0, "a")  # sweep: a clean cell comes back in the next strength's grid
    assert (p.finished, p.left["net"], p.seconds_left()) == (1, 1, None)
    clock.now += 2
    p.done("tree", "blank seed 0 clean tree", "b")
    assert p.seconds_left() == 8.0
    assert p.estimated == 18.0


def test_grids_inside_a_whole_run_share_its_count() -> None:
    with (
        whole_run(["m"] * 4, enabled=False) as run,
        grid_progress(["m"] * 2, enabled=True) as first,
        grid_progress(["m"] * 2, enabled=True) as second,
    ):
        assert first is run
        assert second is run
        assert run.total == 4
    with grid_progress(["m"] * 2, enabled=False) as alone:
        assert alone.total == 2


def test_silent_when_disabled() -> None:
    log = io.StringIO()
    p = RunProgress(["m"], enabled=False, stream=log, terminal=False)
    p.done("m", "x")
    assert log.getvalue() == ""


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0 s"), (59.4, "59 s"), (61, "1 min 01 s"), (7322, "2 h 02 min")]
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_duration_refuses(bad: float) -> None:
    with pytest.raises(ValueError, match="seconds must be a finite number >= 0"):
        duration(bad)


# -- a non-interactive run, as CI or `> log 2>&1` captures it -------------------------------------
RUN = """
import sys, torch
from signalinject.benchmarks import cli
torch.set_num_threads(3)
code = cli.main(sys.argv[1:])
print(f"threads={torch.get_num_threads()}")
sys.exit(code)
"""

ATLAS = [
    "bench", "atlas", "--dataset", "digits", "--models", "mlp-w8-d1,decision_tree",
    "--signals", "one_pixel", "--limit", "60", "--epochs", "1",
]  # fmt: skip


def _run(args: list[str], threads: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if threads is not None:
        env["OMP_NUM_THREADS"] = threads
    return subprocess.run(
        [sys.executable, "-c", RUN, *args], env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    out = tmp_path_factory.mktemp("log")
    proc = _run([*ATLAS, "--out", str(out)], threads=None)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout, proc.stderr


def test_a_captured_log_holds_plain_lines(logged: tuple[Path, str, str]) -> None:
    _, stdout, log = logged
    assert not ESCAPES.search(log), "progress bars' escape codes in a captured log"
    lines = log.splitlines()
    # both halves (data, then blank) in one count and one estimate
    assert "8 cells to run (mlp-w8-d1 4, decision_tree 4)" in lines
    assert sum(line.startswith("estimate for the whole run: about ") for line in lines) == 1
    cells = [line for line in lines if line.startswith("[")]
    assert [c.split("]")[0] for c in cells] == [f"[{i}/8" for i in range(1, 9)]
    assert cells[-1].startswith("[8/8] blank seed 0 one_pixel decision_tree: ")
    assert "| MLP (w8-d1) |" in stdout


def test_no_lock_file_is_left(logged: tuple[Path, str, str]) -> None:
    out = logged[0]
    assert [p.name for p in out.rglob(".lock*")] == []


def test_one_thread_unless_told(logged: tuple[Path, str, str], tmp_path: Path) -> None:
    assert logged[1].splitlines()[-1] == "threads=1"  # torch's default would use every core
    out = str(logged[0])  # every cell done: nothing trains
    told = _run([*ATLAS, "--out", out, "--threads", "2"], threads="4")
    assert told.stdout.splitlines()[-1] == "threads=2"
    env = _run([*ATLAS, "--out", out, "--quiet"], threads="2")
    assert env.returncode == 0, env.stderr
    *paths, threads = env.stdout.splitlines()
    assert threads == "threads=2"
    # --quiet: the results' paths alone, one a line, every one there
    assert len(paths) >= 6, paths
    assert all(Path(p).is_file() for p in paths), paths
    assert Path(out, "atlas.md") in map(Path, paths)
    assert not ESCAPES.search(env.stderr)
    assert "cells to run" not in env.stderr


def test_threads_of() -> None:
    ns = argparse.Namespace(threads=None)
    assert cli.threads_of(ns, {}) == cli.DEFAULT_THREADS == 1
    assert cli.threads_of(ns, {"OMP_NUM_THREADS": "3"}) == 3
    assert cli.threads_of(ns, {"OMP_NUM_THREADS": "0"}) == 1  # not a thread count
    assert cli.threads_of(argparse.Namespace(threads=2), {"OMP_NUM_THREADS": "3"}) == 2


@pytest.mark.parametrize("command", [["bench", "images"], ["bench", "atlas"], ["bench", "sweep"]])
def test_zero_threads_is_refused(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main([*command, "--threads", "0"])
    assert "--threads" in capsys.readouterr().err


# -- locks ----------------------------------------------------------------------------------------
def test_the_lock_goes_with_its_run(tmp_path: Path) -> None:
    with store.exclusive(tmp_path):
        assert (tmp_path / store.LOCK_FILE).is_file()
        with (
            pytest.raises(store.ResultsLockedError, match="another signalinject run"),
            store.exclusive(tmp_path),
        ):
            pass  # pragma: no cover - never entered
    assert not (tmp_path / store.LOCK_FILE).exists()
    with store.exclusive(tmp_path):  # the next run takes it again
        pass
    assert list(tmp_path.iterdir()) == []


# -- the names a command accepts: in its help and in its errors -----------------------------------
def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        cli.main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split()).replace(", ", ",").replace(" ", ",")


def _names(text: str) -> set[str]:
    return set(re.split(r"[,;:() ]+", text))


HELPS = {
    "bench images": (["bench", "images"], kind_names("image"), model_names(kind="image")),
    "bench text": (["bench", "text"], kind_names("text"), model_names(kind="text")),
    "bench atlas": (["bench", "atlas"], kind_names("image")[1:], model_names(kind="image")),
    "bench sweep": (
        ["bench", "sweep"],
        [s for k in ("image", "text") for s in kind_names(k) if sweepable(s, k)],
        (),  # its --models help points to bench images' and bench text's (one screen)
    ),
    "scan": (["scan"], kind_names("image")[1:] + kind_names("text")[1:], ()),
}


@pytest.mark.parametrize("command", HELPS)
def test_help_lists_every_valid_name(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv, signals, models = HELPS[command]
    words = _names(_help(argv, capsys))
    assert set(signals) - {"clean"} <= words, set(signals) - words
    assert set(models) <= words, set(models) - words


ERRORS = [
    (["bench", "images", "--signals", "mnemonic"], "image", False),
    (["bench", "images", "--signals", "foo"], "image", False),
    (["bench", "text", "--signals", "one_pixel"], "text", False),
    (["bench", "atlas", "--signals", "foo"], "image", False),
    (["scan", "decision_tree", "--dataset", "digits", "--signals", "foo"], "image", False),
    (["scan", "decision_tree", "--dataset", "stdlib_code", "--signals", "one_pixel"], "text",
     False),
    (["bench", "sweep", "--signals", "foo"], "image", True),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "kind", "with_strength"), ERRORS)
def test_unknown_signal_lists_the_names_valid_there(
    argv: list[str], kind: Literal["image", "text"], with_strength: bool, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # the names valid now (a test run may have registered more signals: they are valid too)
    valid = [s for s in kind_names(kind) if not with_strength or sweepable(s, kind)]
    assert cli.main([*argv, "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    listed = err.split(f"{kind} signals", 1)[1].split(":", 1)[1].strip().split(", ")
    assert set(listed) == set(valid), (listed, valid)
    assert not (tmp_path / "out").exists()


# -- the atlas at a size too small to answer ------------------------------------------------------
def _cell(model: str, learned: bool) -> dict[str, object]:
    return {
        "model": model, "model_name": display_name(model), "signal": "one_pixel",
        "signal_name": "One pixel", "dataset": "noisy_digits", "num_classes": 10,
        "seeds": [0], "n_train": 200, "n_test": 200, "clean_accuracy": 0.1, "reliance": 0.1,
        "verdict": "ignores" if learned else "did not learn", "learned": learned,
        "blank_reliance": 0.1, "blank_verdict": "ignores",
    }  # fmt: skip


def test_atlas_says_when_the_size_is_too_small() -> None:
    cells = [_cell("resnet18-w16", False), _cell("vit-w64-d4", False), _cell("convnet", True)]
    warning = size_warning(cells)
    assert warning is not None
    assert warning.startswith("too small to answer for 2 of 3 models: at 200 training samples ")
    assert "ResNet-18 (w16), ViT (w64-d4) did not learn" in warning
    assert size_warning([_cell("convnet", True)]) is None


def _runner_row(model: str, signal: str, acc: float) -> dict[str, object]:
    return {
        "dataset": "digits", "model": model, "signal": signal, "seed": 0, "num_classes": 10,
        "n_train": 100, "n_test": 50, "input_scale": "unit", "accuracy": acc, "gain": 0.0,
        "majority_rate": 0.1,
        "decode_accuracy": None if signal == "clean" else 1.0,
        "reliance": None if signal == "clean" else 0.1,
        "reliance_true_accuracy": None if signal == "clean" else 0.9,
    }  # fmt: skip


def test_atlas_report_carries_the_warning(tmp_path: Path) -> None:
    from signalinject.benchmarks.scan import summarize_scan

    rows = [
        _runner_row(m, s, acc)
        for m, acc in (("resnet18-w16", 0.1), ("convnet", 0.9))
        for s in ("clean", "one_pixel")
    ]
    blank = [{**r, "blank": True} for r in rows]
    write_atlas_report(summarize_scan(rows, blank), tmp_path)
    md = (tmp_path / "atlas.md").read_text()
    assert "**Warning: too small to answer for 1 of 2 models: at 100 training samples " in md
    assert "ResNet-18 (w16) did not learn the clean task" in md
    write_atlas_report(summarize_scan(rows[2:], blank[2:]), tmp_path)
    assert "Warning" not in (tmp_path / "atlas.md").read_text()


# -- one display name per model, the registry's ---------------------------------------------------
@pytest.mark.parametrize("name", sorted({*default_models("atlas"), *default_models("atlas_full")}))
def test_every_atlas_model_shows_its_registry_name(name: str) -> None:
    shown = display_name(name)
    base = next(e for e in MODELS.values() if name == e.name or name.startswith(f"{e.name}-"))
    assert shown.startswith(base.display_name), (name, shown)
    table = atlas_table([_cell(name, True)])
    assert f"| {shown} |" in table
    assert f"| {name} |" not in table.replace(shown, "")


def test_the_suites_defaults_are_the_paper_signals() -> None:
    # the atlas's help names what it runs by default: the paper's five, not every image signal
    assert signal_names("image")[1:] == (
        "one_pixel", "pattern_pixels", "random_pixel", "multiple_locations", "orthogonal_noise",
    )  # fmt: skip


# -- the shortcut drop beside reliance (a measure, not a verdict; "–" where it does not apply) ----
def _drop_rows(blank: bool = False) -> list[dict[str, object]]:
    rows = []
    for m in ("convnet", "decision_tree"):
        for s in ("clean", "one_pixel"):
            r = {**_runner_row(m, s, 0.9), "blank": blank}
            if s != "clean" and not blank:
                r |= {"shortcut_drop": 0.05, "shortcut_drop_low": 0.01,
                      "shortcut_drop_high": 0.09}  # fmt: skip
            rows.append(r)
    return rows


def _columns(table: str, first_cell: str) -> dict[str, str]:
    lines = [line.strip("|").split(" | ") for line in table.splitlines()]
    header = [h.strip() for h in lines[0]]
    row = next(cells for cells in lines if [c.strip() for c in cells][:2] == ["", first_cell])
    return dict(zip(header, (c.strip() for c in row), strict=True))


def test_scan_table_has_the_drop_beside_reliance() -> None:
    from signalinject.benchmarks.scan import scan_table, summarize_scan

    table = scan_table(summarize_scan(_drop_rows(), _drop_rows(blank=True)))
    header = table.splitlines()[0]
    assert "| Reliance | Drop | Verdict |" in header
    assert "Shut-down drop" not in header  # blank data: no drop to measure
    cols = _columns(table, "One pixel")
    assert cols["Drop"] == "5.0 [1.0, 9.0]"
    clean = next(line for line in table.splitlines() if "| Clean |" in line).split(" | ")
    assert clean[header.strip("| ").split(" | ").index("Drop")] == "–"


def test_scan_table_on_blank_data_says_not_applicable() -> None:
    from signalinject.benchmarks.scan import scan_table, summarize_scan

    table = scan_table(summarize_scan(_drop_rows(blank=True)))
    assert _columns(table, "One pixel")["Drop"] == "–"


def test_atlas_table_has_the_drop_beside_the_verdict() -> None:
    from signalinject.benchmarks.scan import summarize_scan

    table = atlas_table(summarize_scan(_drop_rows(), _drop_rows(blank=True)))
    row = next(line for line in table.splitlines() if line.startswith("| ConvNet |"))
    data, blank = row.split(" | ")[2].split(" / ")
    assert data.endswith(", drop +5.0")
    assert "drop" not in blank


def test_heat_map_writes_the_drop_on_the_data_only() -> None:
    from signalinject.benchmarks.scan import scan_figure, summarize_scan

    fig = scan_figure(summarize_scan(_drop_rows(), _drop_rows(blank=True)))
    data, blank = ([t.get_text() for t in ax.texts] for ax in fig.axes[:2])
    assert data
    assert all(t.endswith("\ndrop +5") for t in data)
    assert blank
    assert not any("drop" in t for t in blank)


def test_sweep_table_has_the_drop_beside_reliance() -> None:
    from signalinject.benchmarks.sweep import sweep_table

    rows = [
        {
            **r,
            "strength": None if r["signal"] == "clean" else s,
            "cell_id": f"{r['model']}{r['signal']}{s}",
        }
        for s in (4.0, 28.0)
        for r in _drop_rows()
    ]
    header = sweep_table(rows).split("\n\n")[1].splitlines()[0]
    assert "| ConvNet reliance | ConvNet drop | ConvNet verdict |" in header
    assert "5.0 [1.0, 9.0]" in sweep_table(rows)
