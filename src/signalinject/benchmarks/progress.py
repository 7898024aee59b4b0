"""The progress of a benchmark run: one estimate of the whole run's time, plain lines off a
terminal.

A command that runs several grids (``bench atlas`` and ``scan``: the data, then blank data;
``sweep``: one grid per strength) opens `whole_run` with every cell of every grid, so that the
count and the estimate cover the whole run, not the grid at hand. The estimate is the cells left
of each kind (the model: a decision tree and a ViT differ by 100x) times that kind's measured
cost per cell, the mean wall time of its finished cells (a cell found in a results file counts
with its recorded ``seconds``). It is printed once every kind has a measured cell (after the
first seed's clean cells, which run first) and refined on every line after that.

On a terminal the run shows one progress bar (and the trainer's bar of the current model); in a
captured log (a file, a pipe, CI) it prints one plain line per finished cell, no escape codes.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

__all__ = ["RunProgress", "duration", "grid_progress", "whole_run"]


def duration(seconds: float) -> str:
    """A time span as a reader says it, to the second under a minute, to the minute over an hour.

    Examples:
        >>> duration(4.26), duration(200), duration(3 * 3600 + 125)
        ('4 s', '3 min 20 s', '3 h 02 min')
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class RunProgress:
    """Count and time the cells of a run; print the whole run's estimate and its progress.

    Args:
        kinds: one entry per cell of the whole run, its kind (the model's name); the order does
            not matter.
        enabled: False: silent (``--no-progress``, ``--quiet``), the counting goes on.
        stream: where the lines go (default: standard error).
        terminal: whether ``stream`` is a terminal (default: its ``isatty()``): a progress bar
            there, plain lines elsewhere.
        clock: seconds, monotonic (a test's own clock).
    """

    def __init__(
        self,
        kinds: Sequence[str],
        *,
        enabled: bool = True,
        stream: IO[str] | None = None,
        terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = len(kinds)
        self.left: Counter[str] = Counter(kinds)
        self.cost: dict[str, list[float]] = {}
        self.finished = 0
        self.enabled = enabled
        self.stream: IO[str] = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty()) if terminal is None else terminal
        self.clock = clock
        self.estimated: float | None = None  # the whole run's first estimate, once printed
        self._last = clock()
        self._bar: Any = None
        self._seen: set[str] = set()
        if enabled and self.total:
            counts = ", ".join(f"{k} {n}" for k, n in self.left.items())
            self._line(f"{self.total} cells to run ({counts})")
            if self.terminal:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=self.total, unit="cell", dynamic_ncols=True, file=self.stream,
                    bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
                )  # fmt: skip

    def restart_clock(self) -> None:
        """Start a cell's clock now: what came before (loading data) is no cell's cost."""
        self._last = self.clock()

    def describe(self, what: str) -> None:
        """Name the cell that runs now (the bar's label on a terminal)."""
        if self._bar is not None:
            self._bar.set_description(what)

    def skip(self, kind: str, seconds: float | None, cell: str | None = None) -> None:
        """A cell of ``kind`` found finished, ``seconds`` its recorded cost (None: unknown).
        A ``cell`` (its id) counted before is not counted again (``sweep``'s clean cells come
        back in the grid of every strength)."""
        if cell is not None:
            if cell in self._seen:
                return
            self._seen.add(cell)
        self._count(kind, seconds)
        if self._bar is not None:
            self._bar.update(1)
        self.restart_clock()

    def done(self, kind: str, what: str, cell: str | None = None) -> None:
        """A cell of ``kind`` (named ``what``, its id ``cell``) finished now; its cost: the time
        since the last cell (or `restart_clock`)."""
        if cell is not None:
            self._seen.add(cell)
        now = self.clock()
        seconds, self._last = now - self._last, now
        self._count(kind, seconds)
        left = self.seconds_left()
        tail = "" if left is None else f"; about {duration(left)} left"
        if self._bar is not None:
            self._bar.set_postfix_str(tail.lstrip("; "), refresh=False)
            self._bar.update(1)
        else:
            self._line(f"[{self.finished}/{self.total}] {what}: {duration(seconds)}{tail}")
        if left is not None and self.estimated is None and self.finished < self.total:
            self.estimated = left + sum(sum(v) for v in self.cost.values())
            per = ", ".join(f"{k} {duration(sum(v) / len(v))}" for k, v in self.cost.items())
            self._line(
                f"estimate for the whole run: about {duration(self.estimated)} "
                f"({self.total} cells; per cell: {per}); about {duration(left)} left"
            )

    def seconds_left(self) -> float | None:
        """The cells left of each kind times that kind's mean measured cost; None while a kind
        with cells left has none measured."""
        left = 0.0
        for kind, n in self.left.items():
            if n <= 0:
                continue
            costs = self.cost.get(kind)
            if not costs:
                return None
            left += n * sum(costs) / len(costs)
        return left

    def close(self) -> None:
        """Close the bar (on a terminal)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _count(self, kind: str, seconds: float | None) -> None:
        self.finished += 1
        self.left[kind] -= 1
        if seconds is not None and math.isfinite(seconds) and seconds >= 0:
            self.cost.setdefault(kind, []).append(float(seconds))

    def _line(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)


_ACTIVE: contextvars.ContextVar[RunProgress | None] = contextvars.ContextVar(
    "signalinject_run_progress", default=None
)


@contextlib.contextmanager
def whole_run(kinds: Sequence[str], *, enabled: bool) -> Iterator[RunProgress]:
    """Make one `RunProgress` over ``kinds`` (every cell of every grid the block runs) the one
    that `grid_progress` hands out inside the block."""
    progress = RunProgress(kinds, enabled=enabled)
    token = _ACTIVE.set(progress)
    try:
        yield progress
    finally:
        _ACTIVE.reset(token)
        progress.close()


@contextlib.contextmanager
def grid_progress(kinds: Sequence[str], *, enabled: bool) -> Iterator[RunProgress]:
    """The progress of one grid whose cells have kinds ``kinds``: the enclosing `whole_run`'s
    where there is one (its clock restarted), else one for this grid alone."""
    active = _ACTIVE.get()
    if active is not None:
        active.restart_clock()
        yield active
        return
    progress = RunProgress(kinds, enabled=enabled)
    try:
        yield progress
    finally:
        progress.close()
