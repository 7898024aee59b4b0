"""One benchmark grid over many processes: torchrun ranks, job-array shards, several GPUs.

A grid (seeds x signals x models, and strengths in a sweep) is split into *groups*: a model's
``clean`` cell and its signal cells for one seed and data set (a signal cell needs its clean
cell's accuracy). Each process takes a disjoint share of the **whole** grid's groups: the groups
are ordered by a SHA-256 of their clean cell's id and dealt round robin, so processes started at
different times, on different hosts, agree on who runs what without talking to each other.

- ``--shard I/N`` (a job array: Slurm's ``$SLURM_ARRAY_TASK_ID``, or any scheduler's index) runs
  share ``I`` of ``N``;
- under ``torchrun`` (``WORLD_SIZE`` > 1), ``parallel="cells"`` runs share ``RANK`` of
  ``WORLD_SIZE``, each process on its own GPU (``LOCAL_RANK``) where there are several, trained
  without DDP; ``parallel="ddp"`` trains every cell with DDP across all ranks (rank 0 writes).

Every process appends only to its own results file in ``--out`` (``results.<I>of<N>.jsonl``; a
single process keeps ``results.jsonl``), with the store's durability (one write and an fsync per
line, corrupt lines set aside and their cells recomputed), and skips every cell already done in
*any* results file there: a rerun after a killed process completes only what is missing.
[`merge_results`][signalinject.benchmarks.grid.merge_results] reads them all and refuses two
different results for one cell.

Examples:
    >>> share = Share(1, 2)
    >>> share.results_name, parse_shard("0/4").results_name, Share().results_name
    ('results.1of2.jsonl', 'results.0of4.jsonl', 'results.jsonl')
    >>> sorted(share.select({"a": "cell-a", "b": "cell-b", "c": "cell-c"}))
    ['b']
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from signalinject.core import check_int

__all__ = ["merge_results"]

Parallel = Literal["cells", "ddp"]
PARALLEL_MODES: tuple[Parallel, ...] = ("cells", "ddp")

#: The results files of an output directory: ``results.jsonl`` and ``results.<I>of<N>.jsonl``
#: (ASCII digits; `results_files` keeps only names whose ``I < N``, as `Share` writes them).
_RESULTS = re.compile(r"results(?:\.([0-9]+)of([0-9]+))?\.jsonl")

#: Fields that say how and when a cell ran, not what it measured: two lines of one cell may
#: differ in them (the same cell rerun elsewhere) without being a conflict.
_PROVENANCE = frozenset({"seconds", "finished_at", "device", "version", "warnings"})

#: How long the ranks that finished wait at the end for the slowest one (its share of the grid).
_WAIT = datetime.timedelta(days=7)

K = TypeVar("K")
R = TypeVar("R")


@dataclasses.dataclass(frozen=True)
class Share:
    """The part of a grid one process runs, and whether it writes its results.

    Attributes:
        index: this process's share, ``0..count-1`` (the torchrun rank, the array index).
        count: how many shares the grid is split into (1: the whole grid).
        write: whether this process appends to
            `results_name` (False only for the
            ranks other than 0 under ``parallel="ddp"``, which compute every cell with rank 0).
    """

    index: int = 0
    count: int = 1
    write: bool = True

    def __post_init__(self) -> None:
        count = check_int("count", self.count, low=1)
        check_int("index", self.index, low=0, high=count - 1)
        if not isinstance(self.write, bool):
            raise TypeError(f"write must be True or False, got {self.write!r}")

    @property
    def results_name(self) -> str:
        """This share's results file in the output directory."""
        return "results.jsonl" if self.count == 1 else f"results.{self.index}of{self.count}.jsonl"

    @property
    def lock_name(self) -> str:
        """This share's lock file (two processes of one share would compute cells twice)."""
        return ".lock" if self.count == 1 else f".lock.{self.index}of{self.count}"

    def select(self, groups: Mapping[K, str]) -> set[K]:
        """The keys of ``groups`` (a group -> its clean cell's id) that this share runs.

        The ids are ordered by their SHA-256 and dealt round robin: every share gets
        ``len(groups) // count`` or one more, and the same ids always give the same split.
        """
        order = sorted(groups, key=lambda g: hashlib.sha256(groups[g].encode()).hexdigest())
        return {g for i, g in enumerate(order) if i % self.count == self.index}


def parse_shard(text: str) -> Share:
    """``"I/N"`` (``--shard``) -> ``Share(I, N)``; ``I`` counts from 0.

    Raises:
        ValueError: not two integers ``0 <= I < N``.
    """
    # ASCII digits only: \d would take other scripts' digits (int("٢") == 2).
    m = re.fullmatch(r" *([0-9]+) */ *([0-9]+) *", text) if isinstance(text, str) else None
    if m is None or not int(m.group(1)) < int(m.group(2)):
        raise ValueError(
            f"shard must be I/N with 0 <= I < N (e.g. 0/4 for the first of four shares), "
            f"got {text!r}"
        )
    return Share(int(m.group(1)), int(m.group(2)))


def torchrun_env() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's variables; ``(0, 1, 0)`` without.

    Raises:
        ValueError: ``WORLD_SIZE`` not a whole number >= 1 in ASCII digits (``-3``, ``0``,
            ``٢``), or > 1 with ``RANK`` or ``LOCAL_RANK`` missing or not such numbers.
    """
    env = {k: os.environ.get(k, "") for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    # ASCII digits only: int() takes "-3", "+3", "3_0" and other scripts' digits.
    given = {k: v.strip() for k, v in env.items()}

    def whole(name: str, default: str | None) -> int:
        value = given[name] or default
        if value is None or not re.fullmatch(r"[0-9]+", value):
            raise ValueError(
                f"torchrun's environment must hold integers, got "
                f"WORLD_SIZE={env['WORLD_SIZE']!r} RANK={env['RANK']!r} "
                f"LOCAL_RANK={env['LOCAL_RANK']!r} (whole numbers in ASCII digits, RANK set "
                f"when WORLD_SIZE > 1)"
            )
        return int(value)

    world = whole("WORLD_SIZE", "1")
    if world < 1:
        raise ValueError(f"WORLD_SIZE must be >= 1, got {env['WORLD_SIZE']!r}")
    if world == 1:
        return 0, 1, 0
    rank, local = whole("RANK", None), whole("LOCAL_RANK", "0")
    if not 0 <= rank < world:
        raise ValueError(f"RANK must be in 0..WORLD_SIZE-1={world - 1}, got {rank}")
    return rank, world, local


def share_for(parallel: str = "cells", shard: str | None = None) -> Share:
    """This process's share: from ``--shard I/N``, from torchrun's rank, or the whole grid.

    Args:
        parallel: under torchrun, ``"cells"`` (each rank its share of the groups) or ``"ddp"``
            (every rank every cell, rank 0 writes).
        shard: ``"I/N"`` or None.

    Raises:
        ValueError: an unknown ``parallel``, a malformed ``shard``, or ``shard`` under torchrun.
    """
    if parallel not in PARALLEL_MODES:
        raise ValueError(f"parallel must be one of {PARALLEL_MODES}, got {parallel!r}")
    rank, world, _ = torchrun_env()
    if world == 1:
        return Share() if shard is None else parse_shard(shard)
    if shard is not None:
        raise ValueError(
            f"shard={shard!r} under torchrun (WORLD_SIZE={world}): the ranks already split the "
            f"grid; use --shard without torchrun, or torchrun without --shard"
        )
    return Share(rank, world) if parallel == "cells" else Share(write=rank == 0)


def bind_device(local_rank: int) -> None:
    """Make GPU ``local_rank`` (mod the count) this process's default CUDA device, where there
    are several; nothing on a CPU or single-GPU machine. ``device="auto"``/``"cuda"`` then
    train there, and the cells keep the same ids on every GPU."""
    import torch

    check_int("local_rank", local_rank, low=0)
    if torch.cuda.is_available() and torch.cuda.device_count() > 1:
        torch.cuda.set_device(local_rank % torch.cuda.device_count())


def run_grid(
    run_share: Callable[[Share], R], parallel: str = "cells", shard: str | None = None
) -> R | None:
    """Run this process's share of a grid; the whole grid's result where this process reports.

    Args:
        run_share: runs the cells of a share and returns its rows (e.g.
            ``lambda share: runner.run(cfg, share=share)``).
        parallel: see `share_for`.
        shard: see `share_for`.

    Returns:
        ``run_share``'s result over the whole grid in the process that writes the report: a
        single process; rank 0 under torchrun, after every rank finished its share (it then
        runs ``run_share(Share())``, which finds every cell done and returns all rows). None in
        the other ranks and in a ``--shard`` process (``signalinject report`` merges the shards).
    """
    share = share_for(parallel, shard)
    rank, world, local = torchrun_env()
    if world == 1:
        rows = run_share(share)
        return rows if share.count == 1 else None
    bind_device(local)
    import torch.distributed as dist

    if parallel == "ddp":  # train.fit sets up the process group and DDP, as for one cell
        try:
            rows = run_share(share)
        finally:  # a group left to the interpreter's exit can abort it (gloo's threads)
            if dist.is_initialized():
                dist.destroy_process_group()
        return rows if share.write else None

    from signalinject.benchmarks.train import local_training

    if not dist.is_initialized():  # gloo: a CPU barrier, whatever the ranks train on
        dist.init_process_group("gloo", timeout=_WAIT)
    try:
        with local_training():
            run_share(share)
            dist.barrier()  # every rank's cells are in its results file
            return run_share(Share()) if rank == 0 else None
    finally:
        dist.destroy_process_group()


def results_files(out: str | os.PathLike[str]) -> list[Path]:
    """The results files in ``out``: ``results.jsonl`` first, then each share's by name.

    Raises:
        ValueError: a name ``results.<I>of<N>.jsonl`` that no share writes (``I >= N``, ``N``
            of 1, leading zeros: ``results.5of3.jsonl``), which would be merged as a share's.
    """
    d = Path(out)
    if not d.is_dir():
        return []
    names = [p.name for p in d.iterdir() if _RESULTS.fullmatch(p.name)]
    for name in names:
        _check_results_name(d, name)
    return [d / n for n in sorted(names, key=lambda n: (n != "results.jsonl", n))]


def _check_results_name(d: Path, name: str) -> None:
    """Refuse ``results.<I>of<N>.jsonl`` unless ``Share(I, N)`` writes it."""
    m = _RESULTS.fullmatch(name)
    if m is None or m.group(1) is None:
        return
    i, n = m.group(1), m.group(2)
    if str(int(i)) != i or str(int(n)) != n or not int(i) < int(n) or int(n) < 2:
        raise ValueError(
            f"{d / name}: no share writes this name (share I of N is results.<I>of<N>.jsonl "
            f"with 0 <= I < N, N >= 2, no leading zeros); rename or remove it"
        )


class ConflictingResultsError(ValueError):
    """Two results files hold different results for one cell."""


def merge_results(out: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Every finished cell in ``out``'s results files, by cell id.

    Bad lines (a process killed mid-write) are left out: their cells count as not done. The
    same cell in two files is kept once if the two lines agree on everything but when and
    where it ran (``seconds``, ``finished_at``, ``device``, ``version``, ``warnings``).

    Raises:
        ConflictingResultsError: one cell with different results in two files; the message
            names the cell, the files and the first field that differs.
    """
    from signalinject.benchmarks.store import load_records

    merged: dict[str, dict[str, Any]] = {}
    source: dict[str, Path] = {}
    for path in results_files(out):
        records, _ = load_records(path)
        for cid, rec in records.items():
            if cid not in merged:
                merged[cid], source[cid] = rec, path
                continue
            old = merged[cid]
            differ = sorted(
                k for k in {*old, *rec} - _PROVENANCE if old.get(k, None) != rec.get(k, None)
            )
            if differ:
                k = differ[0]
                raise ConflictingResultsError(
                    f"cell {cid} (seed {rec.get('seed')} {rec.get('signal')} {rec.get('model')})"
                    f" has different results in {source[cid]} and {path}: {k} is "
                    f"{old.get(k)!r} in one and {rec.get(k)!r} in the other; delete the line "
                    f"you do not trust (or its file) and run again to recompute what is missing"
                )
    return merged


def ordered_rows(records: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows of [`merge_results`][signalinject.benchmarks.grid.merge_results] in a single run's
    order with the default settings: per seed, per signal (``clean`` first, then the registry's
        order), per model (the registry's
    order); a sweep's strengths ascending within a signal."""
    from signalinject.benchmarks.registry import MODELS
    from signalinject.benchmarks.signals import SIGNALS

    signals, models = list(SIGNALS), list(MODELS)

    def rank(names: list[str], name: Any) -> tuple[int, str]:
        return (names.index(name), "") if name in names else (len(names), str(name))

    def key(r: Mapping[str, Any]) -> tuple[Any, ...]:
        strength = r.get("strength")
        return (
            str(r.get("dataset")),
            r.get("seed", 0),
            rank(signals, r.get("signal")),
            -1.0 if strength is None else float(strength),
            rank(models, r.get("model")),
        )

    return [dict(r) for r in sorted(records.values(), key=key)]
