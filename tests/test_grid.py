"""A grid over several processes (issue 19): shares by a stable hash of each group, one results
file per process, merging with conflict detection, resume after a killed share, torchrun."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from signalinject.benchmarks import grid
from signalinject.benchmarks.cli import main
from signalinject.benchmarks.grid import (
    ConflictingResultsError,
    Share,
    merge_results,
    ordered_rows,
    parse_shard,
    results_files,
    share_for,
    torchrun_env,
)
from signalinject.benchmarks.runner import BenchConfig, run
from signalinject.benchmarks.settings import RunSettings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "scaling.md"
# cheap and deterministic: 3 baselines x (clean + 2 signals) x 2 seeds = 18 cells in 6 groups
GRID = {
    "models": ("gaussian_nb", "decision_tree", "lda"),
    "signals": ("one_pixel", "pattern_pixels"),
    "seeds": (0, 1),
    "limit": 120,
    "progress": False,
}
CLI = [
    "--models", "gaussian_nb,decision_tree,lda", "--signals", "one_pixel,pattern_pixels",
    "--seeds", "0,1", "--limit", "120", "--no-progress",
]  # fmt: skip
WHEN = {"seconds", "finished_at"}  # how long and when: the only fields two runs may differ in


def cfg(out: Path) -> BenchConfig:
    return BenchConfig.for_suite("images", out=str(out), **GRID)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def what(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in WHEN}


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The grid run in one process: cell id -> record."""
    out = tmp_path_factory.mktemp("single")
    run(cfg(out))
    return {r["cell_id"]: r for r in lines(out / "results.jsonl")}


# -- shares ------------------------------------------------------------------------------------
class TestShare:
    def test_names(self) -> None:
        assert (Share().results_name, Share().lock_name) == ("results.jsonl", ".lock")
        assert (Share(2, 3).results_name, Share(2, 3).lock_name) == (
            "results.2of3.jsonl",
            ".lock.2of3",
        )

    @pytest.mark.parametrize(
        ("kw", "err", "match"),
        [
            ({"index": 2, "count": 2}, ValueError, r"index must be in \[0, 1\], got 2"),
            ({"index": -1, "count": 2}, ValueError, r"index must be in \[0, 1\], got -1"),
            ({"index": 0, "count": 0}, ValueError, r"count must be in \[1, inf\], got 0"),
            ({"index": "0", "count": 2}, TypeError, r"index must be an integer, got '0'"),
            ({"index": 0, "count": 1.0}, TypeError, r"count must be an integer"),
            ({"write": 1}, TypeError, r"write must be True or False, got 1"),
        ],
    )
    def test_bad(self, kw: dict[str, Any], err: type[Exception], match: str) -> None:
        with pytest.raises(err, match=match):
            Share(**kw)

    @given(
        ids=st.sets(st.text("0123456789abcdef", min_size=1, max_size=12), max_size=40),
        count=st.integers(1, 9),
        seed=st.randoms(use_true_random=False),
    )
    @settings(max_examples=60, deadline=None)
    def test_shares_partition_the_groups_evenly_in_any_order(
        self, ids: set[str], count: int, seed: Any
    ) -> None:
        groups = {f"g{cid}": cid for cid in ids}
        shuffled = list(groups.items())
        seed.shuffle(shuffled)
        parts = [Share(i, count).select(groups) for i in range(count)]
        assert [Share(i, count).select(dict(shuffled)) for i in range(count)] == parts
        assert set().union(*parts) == set(groups)
        assert sum(len(p) for p in parts) == len(groups)  # disjoint
        assert max(map(len, parts)) - min(map(len, parts)) <= 1

    def test_parse(self) -> None:
        assert parse_shard("3/4") == Share(3, 4)
        assert parse_shard(" 0 / 1 ") == Share()

    @pytest.mark.parametrize("text", ["4/4", "1", "a/b", "-1/2", "1/0", "", "1/2/3"])
    def test_parse_bad(self, text: str) -> None:
        match = r"shard must be I/N with 0 <= I < N .*got " + re.escape(repr(text))
        with pytest.raises(ValueError, match=match):
            parse_shard(text)


class TestEnvironment:
    def test_torchrun_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
            monkeypatch.delenv(k, raising=False)
        assert torchrun_env() == (0, 1, 0)
        assert share_for("cells", "1/3") == Share(1, 3)
        monkeypatch.setenv("WORLD_SIZE", "4")
        monkeypatch.setenv("RANK", "2")
        monkeypatch.setenv("LOCAL_RANK", "1")
        assert torchrun_env() == (2, 4, 1)
        assert share_for("cells") == Share(2, 4)
        assert share_for("ddp") == Share(write=False)
        monkeypatch.setenv("RANK", "0")
        assert share_for("ddp") == Share(write=True)

    @pytest.mark.parametrize(
        ("env", "match"),
        [
            ({"WORLD_SIZE": "2", "RANK": "x"}, r"must hold integers, got WORLD_SIZE='2' RANK='x'"),
            ({"WORLD_SIZE": "2"}, r"must hold integers, got WORLD_SIZE='2' RANK=''"),
            ({"WORLD_SIZE": "2", "RANK": "2"}, r"RANK must be in 0..WORLD_SIZE-1=1, got 2"),
        ],
    )
    def test_bad_env(
        self, env: dict[str, str], match: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
            monkeypatch.delenv(k, raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        with pytest.raises(ValueError, match=match):
            torchrun_env()

    def test_share_for_bad(self, monkeypatch: pytest.MonkeyPatch) -> None:
        with pytest.raises(
            ValueError, match=r"parallel must be one of \(.cells., .ddp.\), got .x."
        ):
            share_for("x")
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("RANK", "1")
        with pytest.raises(ValueError, match=r"shard='0/2' under torchrun \(WORLD_SIZE=2\)"):
            share_for("cells", "0/2")

    def test_bind_device(self) -> None:
        before = torch.cuda.current_device() if torch.cuda.is_available() else None
        grid.bind_device(0)
        assert (torch.cuda.current_device() if torch.cuda.is_available() else None) == before
        with pytest.raises(ValueError, match=r"local_rank must be in \[0, inf\], got -1"):
            grid.bind_device(-1)


# -- merging -----------------------------------------------------------------------------------
class TestMerge:
    def test_files_and_order(self, tmp_path: Path) -> None:
        for name in ("results.1of2.jsonl", "results.0of2.jsonl", "results.jsonl",
                     "results.0of2.corrupt.jsonl", "results.csv", "other.jsonl"):  # fmt: skip
            (tmp_path / name).write_text("")
        got = [p.name for p in results_files(tmp_path)]
        assert got == ["results.jsonl", "results.0of2.jsonl", "results.1of2.jsonl"]
        assert results_files(tmp_path / "missing") == []

    def test_same_cell_twice_is_kept_once_and_differences_are_refused(
        self, single: dict[str, dict[str, Any]], tmp_path: Path
    ) -> None:
        recs = list(single.values())
        a, b = tmp_path / "results.0of2.jsonl", tmp_path / "results.1of2.jsonl"
        a.write_text("".join(json.dumps(r) + "\n" for r in recs))
        rerun = {**recs[3], "seconds": 99.0, "device": "cuda", "finished_at": "later"}
        b.write_text(json.dumps(rerun) + "\n" + '{"cell_id": "trunc')  # + a line cut by a kill
        merged = merge_results(tmp_path)
        assert merged == single  # the first file's line kept, the truncated one left out
        assert [r["cell_id"] for r in ordered_rows(merged)] == list(single)  # a run's order
        other = {**recs[3], "accuracy": recs[3]["accuracy"] / 2}
        b.write_text(json.dumps(other) + "\n")
        cid = recs[3]["cell_id"]
        with pytest.raises(ConflictingResultsError, match=rf"cell {cid} \(seed 0 .*\) has "
                           rf"different results in .*results.0of2.jsonl and .*results.1of2.jsonl:"
                           r" accuracy is"):  # fmt: skip
            merge_results(tmp_path)
        with pytest.raises(ConflictingResultsError, match=f"cell {cid}"):
            run(cfg(tmp_path))  # refused before any cell runs
        assert main(["report", "--out", str(tmp_path)]) == 2


# -- the grid in shares --------------------------------------------------------------------------
def test_two_shares_equal_one_process_cell_for_cell(
    single: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    rows = [run(cfg(tmp_path), share=Share(i, 2)) for i in (0, 1)]
    files = [tmp_path / f"results.{i}of2.jsonl" for i in (0, 1)]
    got = [lines(f) for f in files]
    assert [[r["cell_id"] for r in g] for g in got] == [[r["cell_id"] for r in x] for x in rows]
    ids = [r["cell_id"] for g in got for r in g]
    assert len(ids) == len(set(ids)) == len(single) == 18  # no cell computed twice, none lost
    assert {len(g) for g in got} == {9}  # 3 groups of 3 cells each
    for r in got[0] + got[1]:
        assert what(r) == what(single[r["cell_id"]])
    assert not (tmp_path / "results.jsonl").exists()
    # a whole-grid run afterwards computes nothing and returns every row in the grid's order
    again = run(cfg(tmp_path))
    assert [r["cell_id"] for r in again] == list(single)
    assert (tmp_path / "results.jsonl").read_text() == ""


def test_a_killed_share_is_completed_by_a_rerun(
    single: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    run(cfg(tmp_path), share=Share(0, 2))  # share 1 never ran (killed before its first cell)
    first = {r["cell_id"] for r in lines(tmp_path / "results.0of2.jsonl")}
    run(cfg(tmp_path))  # one process completes the grid: only what is missing
    rest = lines(tmp_path / "results.jsonl")
    assert {r["cell_id"] for r in rest} == set(single) - first
    run(cfg(tmp_path), share=Share(1, 2))  # share 1 relaunched late: nothing left to do
    assert lines(tmp_path / "results.1of2.jsonl") == []


def test_a_ddp_rank_other_than_0_writes_nothing(
    single: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    rows = run(cfg(tmp_path), share=Share(write=False))
    assert [what(r) for r in rows] == [what(r) for r in single.values()]
    assert list(tmp_path.iterdir()) == []


def test_cli_shards_then_report_equal_one_process(tmp_path: Path, capsys: Any) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["bench", "images", *CLI, "--out", str(one)]) == 0
    for i in (0, 1):
        assert main(["bench", "images", *CLI, "--out", str(two), "--shard", f"{i}/2"]) == 0
        assert f"signalinject report --out {two}" in capsys.readouterr().out
    assert not (two / "results.md").exists()
    assert main(["report", "--out", str(two)]) == 0
    assert str(two / "results.md") in capsys.readouterr().out
    assert (two / "results.md").read_text() == (one / "results.md").read_text()

    def csv(path: Path) -> list[list[str]]:  # all but the seconds column
        rows = [line.split(",") for line in path.read_text().splitlines()]
        col = rows[0].index("seconds")
        return [r[:col] + r[col + 1 :] for r in rows]

    assert csv(two / "results.csv") == csv(one / "results.csv")
    assert (two / "summary.csv").read_text() == (one / "summary.csv").read_text()


def test_a_sweep_in_two_shares_equals_one_process(tmp_path: Path) -> None:
    from signalinject.benchmarks.sweep import SweepConfig, sweep

    def scfg(out: Path) -> SweepConfig:
        return SweepConfig(
            strengths=(4.0,), signals=("one_pixel",), models=("gaussian_nb", "decision_tree"),
            settings=RunSettings(seeds=(0, 1), limit=100, out=str(out), progress=False),
        )  # fmt: skip

    one = {r["cell_id"]: r for r in sweep(scfg(tmp_path / "one"))}
    for i in (0, 1):
        sweep(scfg(tmp_path / "two"), share=Share(i, 2))
    two = merge_results(tmp_path / "two")
    assert sorted(two) == sorted(one)  # clean, the paper's strength 1 and 4: 12 cells
    assert len(one) == 12
    assert all(what(two[c]) == what(one[c]) for c in one)
    ids = [r["cell_id"] for p in results_files(tmp_path / "two") for r in lines(p)]
    assert len(ids) == len(set(ids))  # no cell computed twice (the clean cells included)
    assert main(["report", "--sweep", "--out", str(tmp_path / "two")]) == 0


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["bench", "images", "--shard", "2/2"], r"shard must be I/N with 0 <= I < N"),
        (["report"], r"no results file \(results\*.jsonl\) in"),
    ],
)
def test_cli_errors(argv: list[str], match: str, tmp_path: Path, capsys: Any) -> None:
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert re.search(match, capsys.readouterr().err)


# -- real processes ------------------------------------------------------------------------------
def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "signalinject", *args]


@pytest.mark.slow  # not ci: test_a_killed_share_is_completed_by_a_rerun guards the same, in-process
def test_sigkill_mid_share_then_rerun_completes(
    single: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    path = tmp_path / "results.1of2.jsonl"
    argv = _cli("bench", "images", *CLI, "--out", str(tmp_path), "--shard", "1/2")
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (path.exists() and path.read_text().count("\n") >= 2):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()  # reaped, its pipe closed
    assert 2 <= len(lines(path)) < 9  # killed mid-share
    for i in (0, 1):
        subprocess.run([*argv[:-1], f"{i}/2"], env=_env(), check=True, capture_output=True)
    ids = [r["cell_id"] for i in (0, 1) for r in lines(tmp_path / f"results.{i}of2.jsonl")]
    assert sorted(ids) == sorted(single)


@pytest.mark.slow
@pytest.mark.ci  # the only run of torchrun with parallel="cells"
@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_documented_torchrun_command_runs_the_grid_in_two_ranks(
    single: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    block = re.search(r"^## torchrun.*?^```bash\n(.*?)^```", DOCS.read_text(), re.M | re.S)
    assert block, f"no bash block in the torchrun section of {DOCS}"
    argv = shlex.split(block.group(1))
    assert argv[0] == "torchrun"
    argv = [sys.executable, "-m", "torch.distributed.run", *argv[1:]]
    # as written, with the cheap grid's options last (argparse: the last one wins)
    argv += [*CLI, "--out", str(tmp_path)]
    proc = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"torchrun failed:\n{proc.stdout}\n{proc.stderr}"
    got = [lines(tmp_path / f"results.{i}of2.jsonl") for i in (0, 1)]
    assert all(got)  # both ranks worked
    ids = [r["cell_id"] for g in got for r in g]
    assert len(ids) == len(set(ids)) == len(single)
    for r in got[0] + got[1]:
        assert what(r) == what(single[r["cell_id"]])
    assert (tmp_path / "results.md").exists()  # rank 0's report
    assert proc.stdout.count("| Signal | Decode |") == 1


@pytest.mark.slow
@pytest.mark.ci  # the only run of the grid with parallel="ddp"
@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_parallel_ddp_trains_each_cell_on_both_ranks_and_rank_0_writes(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
            "2", "-m", "signalinject", "--", "bench", "images", "--models",
            "convnet,decision_tree", "--signals", "one_pixel", "--epochs", "1", "--limit", "60",
            "--no-progress", "--parallel", "ddp", "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"torchrun failed:\n{proc.stdout}\n{proc.stderr}"
    assert results_files(tmp_path) == [tmp_path / "results.jsonl"]  # rank 0's file only
    recs = lines(tmp_path / "results.jsonl")
    assert sorted((r["signal"], r["model"]) for r in recs) == [
        ("clean", "convnet"), ("clean", "decision_tree"),
        ("one_pixel", "convnet"), ("one_pixel", "decision_tree"),
    ]  # fmt: skip
    assert proc.stdout.count("| Signal | Decode |") == 1  # rank 0's report
