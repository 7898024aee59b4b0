"""How much poison does a model need: ``bench sweep --axis coverage|fidelity`` and ``bench atlas
--axis coverage``.

The strength sweep ([`signalinject.benchmarks.sweep`][signalinject.benchmarks.sweep]) asks how
loud a code must be; this one asks how many training samples must carry it, and how truthfully.
Every point is an ordinary benchmark cell with a
[`Poison`][signalinject.benchmarks.poison.Poison] setting (part of the cell's identity, so a
stored result is never reused for another point; the full point is the plain cell, shared with
``bench`` and ``atlas``):

- ``coverage`` c: exactly ``round(c * n_k)`` carriers in each class k of the samples a model is
  fitted on (an estimator's fit subset: a decision tree at c sees a quarter of a ConvNet's
  carriers), chosen by the rank of a hash of ``(seed, index)``, nested across c (see
  [`signalinject.carriers`][signalinject.carriers]); the test set and the wrong-signal copy carry
  the code on every sample. The default grid runs a 1-2-5 log ladder from 100% down to the last
  point where every class still has at least `HANDFUL` carriers in the largest of the models'
  training sets (a torch model's whole set beside a tree's quarter; a tree alone: its
  quarter); a point where a model's own training set has no carrier is skipped for that model
  and listed, and a grid point that names no carrier for any model is refused before anything
  trains.
- ``fidelity`` f: every sample carries, exactly ``round(f * n_k)`` of each class with its own
  class's code and the rest with a wrong class's; the default grid runs from 1 down to chance
  (f = 1/K, where the code says nothing of the label).
- ``target`` t (coverage only): only samples of class t carry (the rare-spurious-correlation
  setting); the measure is the fraction of non-target test images moved to t by its code
  against the same model's rate of predicting t on clean non-target images (see
  [`signalinject.benchmarks.poison`][signalinject.benchmarks.poison] for the cut-offs).

**The threshold** of a model on a signal (`onset`): the smallest grid point at which its verdict
(on the 95% interval pooled over seeds) is ``reads`` there and at every larger point, bracketed
by the grid point below it (which does not read): ``reads from 0.5% of samples (not at 0.2%)``,
with the carriers per class it takes. Where no grid point reads, or the largest does not, there
is none; where a point below the bracket reads again, the curve is not monotone and the
report says so. The tables, CSV, JSON and one chart per signal (a curve per model, the threshold
marked, the chance line) are written by `write_poison_report`.

**The threshold atlas** (`threshold_atlas`): per model and signal of the atlas, on the data,
one seed (the settings' first, 0 by default), the threshold in carriers per class, found by
bisection on the nested default grid (the verdicts assumed monotone: about log2 of the grid's
points in cells per pair); pairs whose full-coverage cell (the atlas's own, reused from
``OUT/data``) does not read are skipped. Its cells go to ``OUT/coverage``; it resumes and runs in
shares like every grid.

Examples:
    >>> default_coverages([320] * 10)
    (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005)
    >>> default_fidelities(10)
    (1.0, 0.9, 0.75, 0.5, 0.35, 0.25, 0.15, 0.1)
    >>> o = onset([0.01, 0.1, 1.0], ["partial", "reads", "reads"])
    >>> o.value, o.below, o.monotone
    (0.1, 0.01, True)
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from signalinject.benchmarks._files import atomic_open, atomic_write, make_dir
from signalinject.benchmarks.atlas import AtlasConfig
from signalinject.benchmarks.grid import Share, merge_results
from signalinject.benchmarks.poison import Poison, target_verdict
from signalinject.benchmarks.registry import Kind, default_models, display_name
from signalinject.benchmarks.report import Stat, model_color, model_fits, summarize, verdicts
from signalinject.benchmarks.runner import (
    SUITES,
    BenchConfig,
    Loaded,
    fit_set,
    load,
    run,
    suite_for,
)
from signalinject.benchmarks.settings import RunSettings, WithSettings, flat_config
from signalinject.benchmarks.signals import SIGNALS, check_signal, signal_names
from signalinject.benchmarks.stats import DID_NOT_LEARN, IGNORES, NON_FINITE, READS
from signalinject.benchmarks.store import append_record, exclusive
from signalinject.carriers import carrier_count

__all__ = [
    "PoisonSweepConfig",
    "default_coverages",
    "default_fidelities",
    "onset",
    "poison_sweep",
    "threshold_atlas",
    "write_poison_report",
]

logger = logging.getLogger("signalinject.benchmarks")

Axis = Literal["coverage", "fidelity"]
AXES: tuple[Axis, ...] = ("coverage", "fidelity")
Row = Mapping[str, Any]

#: The coverage ladder, 1-2-5 on a log scale (BackdoorBench's poisoning ratios are on it: 10%,
#: 5%, 1%, 0.5%, 0.1%).
LADDER: tuple[float, ...] = (
    1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001, 0.00005,
    0.00002, 0.00001,
)  # fmt: skip
#: The fewest carriers per class the default coverage grid goes down to.
HANDFUL = 2
#: The fidelity ladder above chance; the default grid ends at chance, 1/K.
FIDELITIES: tuple[float, ...] = (1.0, 0.9, 0.75, 0.5, 0.35, 0.25, 0.15)


def default_coverages(class_sizes: Iterable[int]) -> tuple[float, ...]:
    """The default coverage grid of a training set whose classes (those that carry) hold
    ``class_sizes`` samples: the `LADDER` points, from 1 down to the last at which the smallest
    class still has `HANDFUL` carriers (at least 1.0 alone).

    Examples:
        >>> default_coverages([135, 140])
        (1.0, 0.5, 0.2, 0.1, 0.05, 0.02)
    """
    sizes = [int(n) for n in class_sizes if int(n) > 0]
    if not sizes:
        raise ValueError("class_sizes holds no class with a sample: nothing can carry")
    least = min(sizes)
    grid = tuple(c for c in LADDER if carrier_count(least, c) >= HANDFUL)
    return grid or (1.0,)


def default_fidelities(num_classes: int) -> tuple[float, ...]:
    """The default fidelity grid: `FIDELITIES` above chance, then chance (1/K, rounded to 6
    digits).

    Examples:
        >>> default_fidelities(4)
        (1.0, 0.9, 0.75, 0.5, 0.35, 0.25)
    """
    chance = 1 / num_classes
    return (*(f for f in FIDELITIES if f > chance + 1e-9), round(chance, 6))


def _points(name: str, values: Any, axis: Axis) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a sequence of numbers, got {values!r}")
    out: list[float] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise TypeError(f"{name} must hold numbers in [0, 1], got {v!r}")
        low_ok = v > 0 if axis == "coverage" else v >= 0
        if not (low_ok and v <= 1):
            what = "(0, 1]" if axis == "coverage" else "[0, 1]"
            raise ValueError(f"{name} must hold {axis} values in {what}, got {v!r}")
        out.append(float(v))
    if not out:
        raise ValueError(f"{name} must list at least one point, got none")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a point, got {out}")
    return tuple(sorted(out, reverse=True))


@dataclasses.dataclass(frozen=True)
class PoisonSweepConfig(WithSettings):
    """What a coverage or fidelity sweep runs.

    Args:
        axis: ``"coverage"`` or ``"fidelity"``.
        points: the grid, fractions (coverage in (0, 1], fidelity in [0, 1]); None: sized to
            the data (`default_coverages` of the training set's classes, or of the target's;
            `default_fidelities`).
        signals: any signals of the data's kind, the user's ``MODULE:FACTORY`` included; None:
            the paper's signals of that kind.
        models: as [`BenchConfig`][signalinject.benchmarks.runner.BenchConfig]; None: the
            registry's ``sweep`` models of the data's kind.
        strengths: each signal at each of these strengths (each signal must have one); None:
            at its default.
        target: coverage only: only this class carries (the rare-spurious-correlation
            setting); None: every class.
        blank: on blank data (the shut-down control).
        settings: what every run shares; the output directory defaults to
            ``signalinject-bench/sweep-<axis>``.
    """

    axis: Axis = "coverage"
    points: tuple[float, ...] | None = None
    signals: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None
    strengths: tuple[float, ...] | None = None
    target: int | None = None
    blank: bool = False
    settings: RunSettings = dataclasses.field(default_factory=RunSettings)

    DEFAULT_DATASET: ClassVar[str] = SUITES["images"].dataset
    DEFAULT_OUT: ClassVar[str] = "signalinject-bench/sweep-coverage"

    def __post_init__(self) -> None:
        self._check_settings()
        if self.axis not in AXES:
            raise ValueError(f"axis must be one of {AXES}, got {self.axis!r}")
        kind = self.kind
        if self.points is not None:
            object.__setattr__(self, "points", _points("points", self.points, self.axis))
        signals = signal_names(kind)[1:] if self.signals is None else self.signals
        if isinstance(signals, str) or not signals:
            raise ValueError(f"signals must list at least one signal, got {signals!r}")
        strengths = self.strengths
        if strengths is not None:
            if isinstance(strengths, (int, float)) or not strengths:
                raise ValueError(f"strengths must list at least one number, got {strengths!r}")
            strengths = tuple(float(s) for s in strengths)
            object.__setattr__(self, "strengths", strengths)
        for name in signals:
            if name == "clean":
                raise ValueError("signals must name signals: clean runs with every sweep")
            for s in strengths or (None,):
                check_signal(name, kind, s)
        object.__setattr__(self, "signals", tuple(signals))
        models = default_models("sweep", kind) if self.models is None else self.models
        object.__setattr__(self, "models", tuple(models))
        if self.target is not None:
            if self.axis != "coverage":
                raise ValueError(
                    f"target={self.target!r} needs axis='coverage' (a target class's carriers "
                    f"all encode it), got axis={self.axis!r}"
                )
            Poison(target=self.target)  # an integer >= 0; the data's classes: at run time
        if not isinstance(self.blank, bool):
            raise TypeError(f"blank must be True or False, got {self.blank!r}")
        self.bench_config(1.0, None)  # every other setting, checked by the runner's config

    @property
    def kind(self) -> Kind:
        """The data kind of the data set."""
        return SUITES[suite_for(self.dataset)].kind

    @property
    def out(self) -> str:
        """The output directory: the settings', else ``signalinject-bench/sweep-<axis>``."""
        return self.settings.out or f"signalinject-bench/sweep-{self.axis}"

    def poison(self, value: float) -> Poison:
        """The setting of grid point ``value``."""
        if self.axis == "fidelity":
            return Poison(fidelity=value)
        return Poison(coverage=value, target=self.target)

    def bench_config(
        self, value: float, strength: float | None, models: Sequence[str] | None = None
    ) -> BenchConfig:
        """The benchmark of grid point ``value`` at ``strength`` (of ``models``: None, all)."""
        return BenchConfig(
            suite=suite_for(self.dataset),
            signals=self.signals or (),
            models=tuple(models if models is not None else self.models or ()),
            blank=self.blank,
            strength=strength,
            settings=self.run_settings(),
            poison=self.poison(value),
        )


@dataclasses.dataclass(frozen=True)
class Step:
    """One grid point of a sweep: its value, strength, and the models whose training sets
    hold a carrier there."""

    value: float
    strength: float | None
    models: tuple[str, ...]


def _class_sizes(data: Loaded, model: str, seed: int, target: int | None) -> list[int]:
    """The samples of each class (of ``target`` alone) in the set ``model`` is fitted on."""
    among = fit_set(data, model, seed)
    y = data.y_train if among is None else data.y_train[among]
    sizes = np.bincount(y, minlength=data.num_classes)
    return [int(sizes[target])] if target is not None else [int(v) for v in sizes]


def _ceil_sig(x: float, digits: int) -> float:
    """``x > 0`` rounded up to ``digits`` significant digits (``_ceil_sig(0.0054945, 3)`` is
    0.00550)."""
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(x)))
    return math.ceil(x * scale - 1e-9) / scale


def plan(cfg: PoisonSweepConfig, data: Loaded) -> tuple[list[Step], list[tuple[str, float]]]:
    """The grid points of ``cfg`` on ``data`` (a run of ``cfg.bench_config(1.0, None)``, loaded):
    per strength and point (ascending), the models that run there; and the ``(model, point)``
    pairs skipped because the model's training set has no carrier at that point (in some seed).

    Raises:
        ValueError: a target that is no class of the data, or a grid point that names no
            carrier in any model's training set (``round(c * n_k) = 0`` in every class).
    """
    if cfg.target is not None:
        Poison(target=cfg.target).check_classes(data.num_classes)
    models = cfg.models or ()
    seeds = cfg.settings.seeds
    sizes = {(m, s): _class_sizes(data, m, s, cfg.target) for m in models for s in seeds}
    points = cfg.points
    if points is None:
        if cfg.axis == "fidelity":
            points = default_fidelities(data.num_classes)
        else:
            # sized to the largest of the models' training sets (an estimator fits on a
            # fraction of it): a model whose set is smaller is skipped at the points where
            # it holds no carrier, rather than every model stopping at the smallest set's floor
            least = [
                min(min((v for v in sizes[(m, s)] if v > 0), default=0) for s in seeds)
                for m in models
            ]
            points = default_coverages([max(least)])
    steps: list[Step] = []
    skipped: list[tuple[str, float]] = []
    for value in sorted(points):
        if cfg.axis == "coverage":
            ok = tuple(
                m
                for m in models
                if all(any(carrier_count(n, value) for n in sizes[(m, s)]) for s in seeds)
            )
        else:
            ok = tuple(models)
        if not ok:
            largest = max(n for v in sizes.values() for n in v)
            # the smallest c with round(c * largest) >= 1, rounded up at 3 digits (so it names one)
            least_c = _ceil_sig(0.5 / largest, 3)
            where = f"class {cfg.target}" if cfg.target is not None else "every class"
            raise ValueError(
                f"coverage {value:g} names no carrier: round({value:g} * n_k) is 0 in {where} "
                f"of every model's training set (the largest class: {largest} samples); the "
                f"smallest coverage that names one is {least_c:g}"
            )
        skipped += [(m, value) for m in models if m not in ok]
        for s in cfg.strengths or (None,):
            steps.append(Step(value, s, ok))
    return steps, skipped


def poison_sweep(cfg: PoisonSweepConfig, *, share: Share | None = None) -> list[dict[str, Any]]:
    """Run the sweep (``share`` of it, see [`run`][signalinject.benchmarks.runner.run]); return
    the runner's rows of every point (each ``clean`` cell once).

    Raises:
        ValueError: see `plan`.
    """
    data = load(cfg.bench_config(1.0, None))
    steps, skipped = plan(cfg, data)
    for m, value in skipped:
        logger.warning(
            "%s %g: the training set of %s holds no carrier (round(%g * n_k) = 0 in every "
            "class): skipped",
            cfg.axis, value, m, value,
        )  # fmt: skip
    rows: dict[str, dict[str, Any]] = {}
    # one load per strength, shared by its grid points (a stand-in's build and the injectors
    # are the same at every point): no per-point cost beyond the cells
    loaded: dict[float | None, Loaded] = {None: data} if cfg.strengths is None else {}
    for step in steps:
        bench = cfg.bench_config(step.value, step.strength, step.models)
        if step.strength not in loaded:
            loaded[step.strength] = load(cfg.bench_config(1.0, step.strength))
        for r in run(bench, share=share, data=loaded[step.strength]):
            rows.setdefault(str(r["cell_id"]), r)  # the clean cells come back at every point
    return list(rows.values())


# -- analysis --------------------------------------------------------------------------------------
def axis_of(rows: Sequence[Row]) -> str:
    """The axis the rows were swept along: ``"target"`` (a single target class, along
    coverage), ``"fidelity"``, ``"coverage"``, else ``"strength"``."""
    if any(r.get("target") is not None for r in rows):
        return "target"
    if any(r.get("fidelity") not in (None, 1.0) for r in rows):
        return "fidelity"
    if any(r.get("coverage") not in (None, 1.0) for r in rows):
        return "coverage"
    return "strength"


def _value(r: Row, axis: str) -> float:
    """A signal row's grid point (1.0 for a plain cell: every sample carried, truthfully)."""
    v = r.get("fidelity" if axis == "fidelity" else "coverage")
    return 1.0 if v is None else float(v)


@dataclasses.dataclass(frozen=True)
class Onset:
    """Where a curve starts to read (`onset`).

    Attributes:
        value: the threshold: the smallest grid point that reads, with every larger one; None
            where the largest point does not read (or no point does).
        below: the grid point below the threshold (it does not read); None at the smallest.
        monotone: no grid point below ``below`` reads (and, without a threshold, none reads).
        reads: every grid point that reads, ascending.
    """

    value: float | None
    below: float | None
    monotone: bool
    reads: tuple[float, ...]


def onset(values: Sequence[float], verdict_list: Sequence[str | None]) -> Onset:
    """The threshold rule over one curve: grid points ``values`` (any order, distinct) and the
    verdict at each.

    Examples:
        >>> onset([0.01, 0.1, 0.5, 1.0], ["reads", "partial", "reads", "reads"])
        Onset(value=0.5, below=0.1, monotone=False, reads=(0.01, 0.5, 1.0))
        >>> onset([0.1, 1.0], ["ignores", "partial"]).value is None
        True
    """
    if len(values) != len(verdict_list):
        raise ValueError(
            f"values and verdicts must pair up, got {len(values)} and {len(verdict_list)}"
        )
    if len(set(values)) != len(values):
        raise ValueError(f"values must be distinct grid points, got {list(values)}")
    pts = sorted(zip(values, verdict_list, strict=True))
    reads = tuple(float(v) for v, d in pts if d == "reads")
    j = len(pts)
    while j > 0 and pts[j - 1][1] == "reads":
        j -= 1
    if j == len(pts):  # the largest point does not read: no threshold
        return Onset(None, None, not reads, reads)
    below = float(pts[j - 1][0]) if j > 0 else None
    monotone = not any(d == "reads" for _, d in pts[: max(j - 1, 0)])
    return Onset(float(pts[j][0]), below, monotone, reads)


@dataclasses.dataclass(frozen=True)
class CurvePoint:
    """One grid point of a curve (one model, one signal at one strength).

    Attributes:
        value: the grid point (coverage or fidelity).
        stats: the metrics over seeds ([`summarize`][signalinject.benchmarks.report.summarize]).
        verdict: the verdict there (a target's: `target_verdict`).
        carriers: the fewest and most carriers per class (of the classes that carry) over the
            seeds' training sets; None for a plain cell (every sample).
        baseline: a single target class's baseline over seeds; None otherwise.
    """

    value: float
    stats: Mapping[str, Stat]
    verdict: str | None
    carriers: tuple[int, int] | None
    baseline: Stat | None


Series = tuple[str, float | None, str]  # (signal, strength, model)


def _carriers(grp: Sequence[Row]) -> tuple[int, int] | None:
    counts = [n for r in grp if r.get("carriers") is not None for n in r["carriers"] if int(n) > 0]
    return (min(counts), max(counts)) if counts else None


def curves(rows: Sequence[Row]) -> dict[Series, list[CurvePoint]]:
    """Per (signal, strength, model), its points ascending. Each point is judged with the
    model's clean cells, as a benchmark run there (a target's with
    `target_verdict`)."""
    axis = axis_of(rows)
    clean = [r for r in rows if r["signal"] == "clean"]
    fits = model_fits(rows) if rows else {}
    by: dict[tuple[str, float | None, float], list[Row]] = {}
    for r in rows:
        if r["signal"] == "clean":
            continue
        s = None if r.get("strength") is None else float(r["strength"])
        by.setdefault((str(r["signal"]), s, _value(r, axis)), []).append(r)
    out: dict[Series, list[CurvePoint]] = {}
    for (sig, s, value), grp in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        sub = [*clean, *grp]
        stats = summarize(sub)
        judged = verdicts(sub)
        for m in dict.fromkeys(str(r["model"]) for r in grp):
            mine = [r for r in grp if r["model"] == m]
            st = stats[(sig, m)]
            baseline = None
            verdict = judged.get((sig, m))
            if axis == "target":
                baseline = Stat.of(
                    [r.get("target_baseline") for r in mine], [r.get("n_carried") for r in mine]
                )
                rel = st["reliance"]
                interval = None if rel.low is None or rel.high is None else (rel.low, rel.high)
                fit = fits[m]
                verdict = target_verdict(
                    rel.mean, baseline.mean, interval=interval,
                    learned=fit.learned, finite=fit.finite,
                )  # fmt: skip
            point = CurvePoint(value, st, verdict, _carriers(mine), baseline)
            out.setdefault((sig, s, m), []).append(point)
    for pts in out.values():
        pts.sort(key=lambda p: p.value)
    return out


def _frac(v: float) -> str:
    """A grid point as a percentage: ``0.5%``, ``100%``."""
    return f"{100 * v:.4g}%"


def _point(axis: str, v: float) -> str:
    return f"fidelity {v:g}" if axis == "fidelity" else _frac(v)


def _per_class(c: tuple[int, int] | None, target: bool = False, noun: str = "") -> str:
    """``"14-18 per class"`` (``noun="carriers"``: ``"14-18 carriers per class"``); a
    target's count alone; ``"all"`` for a plain cell."""
    if c is None:
        return "all"
    n = f"{c[0]}" if c[0] == c[1] else f"{c[0]}-{c[1]}"
    n += f" {noun}" if noun else ""
    return n if target else f"{n} per class"


def threshold_words(axis: str, pts: Sequence[CurvePoint], target: int | None = None) -> str:
    """The threshold of one curve in words: ``reads from 0.5% of samples (not at 0.2%), 2
    carriers per class``; ``no grid point reads``; and what makes the curve not monotone."""
    o = onset([p.value for p in pts], [p.verdict for p in pts])
    at = {p.value: p for p in pts}
    whose = f"of class {target}'s samples" if target is not None else "of samples"
    if o.value is None:
        if not o.reads:
            return "no grid point reads"
        top = _point(axis, max(at))
        return (
            f"no threshold: reads at {', '.join(_point(axis, v) for v in o.reads)} but not at "
            f"{top} (not monotone)"
        )
    thr = at[o.value]
    what = f"{_point(axis, o.value)}" + (f" {whose}" if axis != "fidelity" else "")
    if axis != "fidelity":
        what += f" ({_per_class(thr.carriers, target is not None, 'carriers')})"
    if o.below is None:
        words = f"reads at every grid point, down to {what}"
    else:
        words = f"reads from {what}, not at {_point(axis, o.below)}"
    if not o.monotone:
        low = [v for v in o.reads if v < (o.below if o.below is not None else o.value)]
        words += f"; not monotone: also reads at {', '.join(_point(axis, v) for v in low)}"
    return words


def thresholds(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Per (signal, strength, model): its threshold (`onset`), the carriers per class there,
    and the curve's points and verdicts, as plain values (the JSON's and CSV's)."""
    axis = axis_of(rows)
    target = next((int(r["target"]) for r in rows if r.get("target") is not None), None)
    out = []
    for (sig, s, m), pts in curves(rows).items():
        o = onset([p.value for p in pts], [p.verdict for p in pts])
        thr = next((p for p in pts if p.value == o.value), None)
        out.append(
            {
                "signal": sig,
                "strength": s,
                "model": m,
                "axis": "coverage" if axis == "target" else axis,
                "target": target,
                "threshold": o.value,
                "below": o.below,
                "carriers_min": None if thr is None or thr.carriers is None else thr.carriers[0],
                "carriers_max": None if thr is None or thr.carriers is None else thr.carriers[1],
                "monotone": o.monotone,
                "reads_at": list(o.reads),
                "points": [p.value for p in pts],
                "verdicts": [p.verdict for p in pts],
                "words": threshold_words(axis, pts, target),
            }
        )
    return out


def _series_name(sig: str, s: float | None, several: bool) -> str:
    name = SIGNALS[sig].paper_name if sig in SIGNALS else sig
    return f"{name} (strength {s:g})" if several and s is not None else name


def _md(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def poison_table(rows: Sequence[Row]) -> str:
    """Markdown: per signal (and strength), one line per grid point with each model's carriers
    per class, accuracy, reliance (a target's: moved to the target, and its baseline; percent,
    mean and 95% interval) and verdict; then each model's threshold."""
    cs = curves(rows)
    if not cs:
        raise ValueError("rows hold no signal cell: nothing to tabulate")
    axis = axis_of(rows)
    target = axis == "target"
    models = list(dict.fromkeys(m for _, _, m in cs))
    series = list(dict.fromkeys((sig, s) for sig, s, _ in cs))
    several = len({sig for sig, _ in series}) < len(series)
    parts: list[str] = []
    col = "Fidelity" if axis == "fidelity" else "Coverage"
    for sig, s in series:
        values = sorted({p.value for m in models for p in cs.get((sig, s, m), [])})
        header = [col, "Decode"]
        for m in models:
            name = display_name(m)
            header += [f"{name} carriers", f"{name} acc."]
            header += [f"{name} moved", f"{name} baseline"] if target else [f"{name} reliance"]
            header += [f"{name} drop", f"{name} verdict"]
        body = []
        for v in values:
            line = [_point(axis, v) if axis == "fidelity" else _frac(v), "–"]
            for m in models:
                p = next((q for q in cs.get((sig, s, m), []) if q.value == v), None)
                if p is None:
                    line += ["–"] * (6 if target else 5)
                    continue
                if line[1] == "–":
                    line[1] = p.stats["decode_accuracy"].pct()
                line += [_per_class(p.carriers, target), p.stats["accuracy"].pct()]
                line += [p.stats["reliance"].pct()]
                if target:
                    line += [p.baseline.pct() if p.baseline is not None else "–"]
                line += [p.stats["shortcut_drop"].pct(), str(p.verdict or "–")]
            body.append(line)
        strength = "" if s is None else f", strength {s:g}"
        parts.append(f"### {_series_name(sig, s, False)}{strength}: {col.lower()}")
        parts.append(_md(header, body))
    head = ["Signal", "Model", "Threshold", "Not at", "Carriers", "Monotone", "In words"]
    body = []
    for t in thresholds(rows):
        carriers = (
            "–"
            if t["carriers_min"] is None
            else _per_class((t["carriers_min"], t["carriers_max"]), target)
        )
        body.append(
            [
                _series_name(t["signal"], t["strength"], several),
                display_name(t["model"]),
                "–" if t["threshold"] is None else _point(axis, t["threshold"]),
                "–" if t["below"] is None else _point(axis, t["below"]),
                carriers if axis != "fidelity" else "all",
                "yes" if t["monotone"] else "**no**",
                t["words"],
            ]
        )
    parts.append(
        "### Thresholds (the smallest grid point that reads, with every larger one; the "
        "verdict on the interval pooled over seeds)"
    )
    parts.append(_md(head, body))
    return "\n\n".join(parts)


def _pct(v: float | None) -> float:
    return math.nan if v is None else 100 * v


def plot_poison(rows: Sequence[Row], signal: str, strength: float | None, path: str | Path) -> Path:
    """One signal's chart: accuracy (left) and reliance (right; a target's: the fraction moved
    to the target, its baseline dashed) of each model against the grid point (coverage on a
    log axis, fidelity linear), 95% intervals; each model's threshold marked (a star and a
    dotted line in its colour), chance dotted."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    axis = axis_of(rows)
    cs = {m: p for (sig, s, m), p in curves(rows).items() if sig == signal and s == strength}
    if not cs:
        raise ValueError(f"rows hold no point of signal {signal!r} at strength {strength!r}")
    path = Path(path)
    k = int(rows[0]["num_classes"])
    fig = Figure(figsize=(7.2, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax_acc, ax_rel = fig.subplots(1, 2, sharex=True)
    models = list(cs)
    for m, pts in cs.items():
        xs = [p.value for p in pts]
        colour = model_color(m, models)
        failed = {str(p.verdict) for p in pts} & {DID_NOT_LEARN, NON_FINITE}
        label = display_name(m) + (f" ({', '.join(sorted(failed))})" if failed else "")
        for ax, metric in ((ax_acc, "accuracy"), (ax_rel, "reliance")):
            ys = [_pct(p.stats[metric].mean) for p in pts]
            lo = [max(0.0, y - _pct(p.stats[metric].low)) for y, p in zip(ys, pts, strict=True)]
            hi = [max(0.0, _pct(p.stats[metric].high) - y) for y, p in zip(ys, pts, strict=True)]
            ax.errorbar(
                xs, ys, yerr=[lo, hi], marker="o", capsize=2, color=colour,
                ls="--" if failed else "-", label=label,
            )  # fmt: skip
        if axis == "target":
            base = [_pct(p.baseline.mean if p.baseline else None) for p in pts]
            ax_rel.plot(xs, base, ls=":", color=colour, lw=1.2)
        o = onset(xs, [p.verdict for p in pts])
        if o.value is not None:
            y = next(_pct(p.stats["reliance"].mean) for p in pts if p.value == o.value)
            ax_rel.axvline(o.value, color=colour, ls=":", lw=1.2)
            ax_rel.plot([o.value], [y], marker="*", ms=13, color=colour, mec="black", zorder=4)
    chance = 1 / k
    if axis == "target":
        note = "dotted: baseline (target predicted on clean images)"
        ax_rel.text(0.01, 0.98, note, transform=ax_rel.transAxes, fontsize=7.5, va="top")
    else:
        ax_rel.axhline(100 * chance, color="black", ls=":", lw=1.2)
        ax_rel.text(
            0.99, 100 * chance + 1.5, f"chance {100 * chance:.0f}%", ha="right",
            transform=ax_rel.get_yaxis_transform(), fontsize=8,
        )  # fmt: skip
        y = 100 * (chance + READS * (1 - chance))
        ax_rel.axhline(y, color="gray", ls=":", lw=1)
        ax_rel.text(
            0.01, y + 1.5, f"reads ≥ {y:.0f}% (interval)", color="gray", fontsize=8,
            transform=ax_rel.get_yaxis_transform(),
        )  # fmt: skip
        y = 100 * (chance + IGNORES * (1 - chance))
        ax_rel.axhline(y, color="gray", ls=":", lw=1)
    xs_all = sorted({p.value for pts in cs.values() for p in pts})
    for ax in (ax_acc, ax_rel):
        ax.grid(alpha=0.3)
        if axis == "fidelity":
            ax.axvline(chance, color="black", ls=":", lw=1)
            ax.set_xlim(min([*xs_all, chance]) - 0.03, 1.03)
            ax.set_xlabel("fidelity: the carriers whose code is their class", fontsize=8.5)
            ax.set_xticks(xs_all, [f"{v:g}" for v in xs_all], fontsize=7)
        else:
            ax.set_xscale("log")
            ax.set_xlim(xs_all[0] / 1.5, xs_all[-1] * 1.5)
            what = "of the target class" if axis == "target" else "of each class"
            ax.set_xlabel(f"coverage: carriers {what} (log scale)", fontsize=8.5)
            ax.set_xticks(xs_all, [_frac(v) for v in xs_all], fontsize=7, rotation=45)
            ax.minorticks_off()
        ax.tick_params(axis="y", labelsize=8)
    ax_acc.set_ylim(0, 101)
    ax_rel.set_ylim(0, 105)
    ax_acc.set_ylabel("test accuracy (%), 95% interval", fontsize=8.5)
    rel_label = "moved to the target (%)" if axis == "target" else "reliance (%), 95% interval"
    ax_rel.set_ylabel(rel_label, fontsize=8.5)
    ax_acc.legend(fontsize=8, loc="lower right")
    r0 = rows[0]
    blank = " (blank data)" if r0.get("blank") else ""
    strength_note = "" if strength is None else f", strength {strength:g}"
    name = SIGNALS[signal].paper_name if signal in SIGNALS else signal
    tgt = next((r["target"] for r in rows if r.get("target") is not None), None)
    sweep = {"target": f"class {tgt} alone carries", "fidelity": "fidelity"}.get(axis, "coverage")
    title = (
        f"{name}{strength_note} on {r0['dataset']}{blank}: {sweep}; "
        "★ threshold (reads there and above)"
    )
    fig.suptitle(textwrap.fill(title, 100), fontsize=10)
    make_dir(path.parent)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, dpi=100, format="png")
    return path


_CSV = ("signal", "strength", "coverage", "fidelity", "target", "model", "seed", "carriers_min",
        "carriers_max", "accuracy", "accuracy_low", "accuracy_high", "clean_accuracy", "gain",
        "decode_accuracy", "reliance", "reliance_low", "reliance_high", "target_baseline",
        "clean_accuracy_injected", "shortcut_drop", "shortcut_drop_low", "shortcut_drop_high",
        "verdict", "n_fit", "blank", "preprocess", "text_length", "cell_id")  # fmt: skip
_THRESHOLD_CSV = ("signal", "strength", "model", "axis", "target", "threshold", "below",
                  "carriers_min", "carriers_max", "monotone", "reads_at", "points", "verdicts",
                  "words")  # fmt: skip


def _head(rows: Sequence[Row], axis: str) -> str:
    r0 = rows[0]
    k = int(r0["num_classes"])
    lo, hi = 100 * (1 / k + IGNORES * (1 - 1 / k)), 100 * (1 / k + READS * (1 - 1 / k))
    title = {
        "coverage": "Coverage sweep",
        "fidelity": "Fidelity sweep",
        "target": "Single target class",
    }.get(axis, "Sweep")
    blank = " (blank data)" if r0.get("blank") else ""
    seeds = sorted({int(r["seed"]) for r in rows})
    text = (
        f"# {title}: {r0['dataset']}{blank}\n\nTrain {r0.get('n_train')} / test "
        f"{r0.get('n_test')} samples, {k} classes, seeds {seeds}. Percentages, mean and 95% "
        "interval. Carriers: per class, of the samples each model is fitted on (an "
        "estimator's fit subset); the test set carries the code on every sample. Drop: the "
        "shortcut drop, the clean-trained model's accuracy on the clean test images minus "
        "that of the model trained on the poisoned set (same seed; paired interval; none on "
        "blank data). "
    )
    if axis == "target":
        return text + (
            "Only the target class's training samples carry the signal. Moved: the non-target "
            "test images predicted as the target when they carry its code; baseline: the same "
            "model's rate of predicting the target on the clean non-target test images. "
            "Verdict: reads if the moved fraction's interval lies at or above baseline + 50% "
            "of the way to 100%, ignores if it is below baseline + 10% of the way, partial "
            "otherwise."
        )
    return text + (
        f"Verdict from the reliance: reads if its 95% interval's low end >= {hi:.0f}%, ignores "
        f"if it is < {lo:.0f}%, partial otherwise ('did not learn': the clean model is not "
        "above the majority rate)."
    )


def write_poison_report(
    rows: Sequence[Row], out: str | Path, config: Mapping[str, Any] | None = None
) -> dict[str, Path]:
    """Write ``sweep.md`` (tables and thresholds), ``sweep.csv`` (one line per cell, with its
    seed's verdict), ``thresholds.csv``, ``sweep.json`` (the config, the curves and the
    thresholds) and ``sweep_<signal>[_<strength>].png`` per signal into ``out``.

    Returns:
        The paths by kind: ``"table"``, ``"csv"``, ``"thresholds"``, ``"json"``,
        ``"figure_<signal>"``.
    """
    if not rows:
        raise ValueError("rows is empty: nothing to report")
    out = Path(out)
    make_dir(out)
    axis = axis_of(rows)
    table = out / "sweep.md"
    atomic_write(table, _head(rows, axis) + "\n\n" + poison_table(rows) + "\n")
    clean = [r for r in rows if r["signal"] == "clean"]
    path_csv = out / "sweep.csv"
    with atomic_open(path_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=_CSV, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            line = {key: r.get(key) for key in _CSV}
            c = _carriers([r])
            line["carriers_min"], line["carriers_max"] = (None, None) if c is None else c
            if r["signal"] != "clean":
                line["coverage"] = r.get("coverage", 1.0)
                line["fidelity"] = r.get("fidelity", 1.0)
                one = [x for x in clean if x["seed"] == r["seed"] and x["model"] == r["model"]]
                single = curves([*one, r])
                pts = next(iter(single.values()), [])
                line["verdict"] = pts[0].verdict if pts else None
            w.writerow({key: "" if v is None else v for key, v in line.items()})
    found = thresholds(rows)
    path_thr = out / "thresholds.csv"
    with atomic_open(path_thr, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=_THRESHOLD_CSV)
        w.writeheader()
        for t in found:
            line = dict(t)
            for key in ("reads_at", "points", "verdicts"):
                line[key] = " ".join(str(v) for v in t[key])
            w.writerow({key: "" if v is None else v for key, v in line.items()})
    doc = {
        "axis": "coverage" if axis == "target" else axis,
        "config": dict(config or {}),
        "curves": [
            {
                "signal": sig,
                "strength": s,
                "model": m,
                "points": [
                    {
                        "value": p.value,
                        "carriers": None if p.carriers is None else list(p.carriers),
                        "verdict": p.verdict,
                        **{
                            key: dataclasses.asdict(st)
                            for key, st in p.stats.items()
                            if key
                            in (
                                "accuracy",
                                "reliance",
                                "shortcut_drop",
                                "clean_accuracy_injected",
                                "decode_accuracy",
                                "gain",
                            )
                        },
                        "target_baseline": (
                            None if p.baseline is None else dataclasses.asdict(p.baseline)
                        ),
                    }
                    for p in pts
                ],
            }
            for (sig, s, m), pts in curves(rows).items()
        ],
        "thresholds": found,
    }
    path_json = out / "sweep.json"
    atomic_write(path_json, json.dumps(doc, indent=1, default=str) + "\n")
    paths: dict[str, Path] = {
        "table": table,
        "csv": path_csv,
        "thresholds": path_thr,
        "json": path_json,
    }
    series = list(dict.fromkeys((sig, s) for sig, s, _ in curves(rows)))
    several = len({sig for sig, _ in series}) < len(series)
    for sig, s in series:
        stem = sig.replace(":", "_").replace("/", "_").replace(".", "_")
        name = f"sweep_{stem}" + (f"_{s:g}" if several and s is not None else "")
        paths[f"figure_{sig}" + (f"_{s:g}" if several and s is not None else "")] = plot_poison(
            rows, sig, s, out / f"{name}.png"
        )
    return paths


def sweep_summary(cfg: PoisonSweepConfig) -> dict[str, Any]:
    """``cfg`` as plain values, for ``sweep.json``."""
    return flat_config(cfg)


# -- the threshold atlas ---------------------------------------------------------------------------
def threshold_atlas(cfg: AtlasConfig, *, share: Share | None = None) -> list[dict[str, Any]]:
    """Per model and signal of the atlas ``cfg`` (``share`` of them: a pair runs in the share
    of its model's clean cell), its coverage threshold on the data at the settings' first seed
    (see the module doc).

    The full-coverage cell is the atlas's own (``OUT/data``, run there if missing); each probe of
    the bisection is a cell in ``OUT/coverage``, where the model's clean cell is copied from
    ``OUT/data`` (not trained again). A grid point at which the model's training set holds no
    carrier (an estimator's quarter) counts as not reading, without a cell.

    Returns:
        One entry per pair of the share: ``model``, ``signal``, their display names, the
        full-coverage ``reliance`` and ``verdict``, ``skipped`` (why no threshold was sought,
        else None), ``threshold`` and ``below`` (grid points), ``carriers_min`` and
        ``carriers_max`` per class at the threshold, ``smallest`` (the threshold is the grid's
        smallest point: it may lie lower), ``probes`` (``[coverage, verdict]`` in the order
        run), ``grid``, ``seed`` and the data's ``dataset``, ``num_classes``, ``n_train``.
    """
    share = Share() if share is None else share
    base = cfg.bench_config()
    seed = cfg.settings.seeds[0]
    full = dataclasses.replace(base, settings=dataclasses.replace(base.settings, seeds=(seed,)))
    data = load(full)
    grid = sorted(default_coverages(np.bincount(data.y_train, minlength=data.num_classes)))
    probes_dir = Path(cfg.out, "coverage")
    probes_out = dataclasses.replace(full.settings, out=str(probes_dir))
    entries: list[dict[str, Any]] = []
    for model in full.models:
        sizes = _class_sizes(data, model, seed, None)
        for signal in full.signals[1:]:
            one = dataclasses.replace(full, signals=(signal,), models=(model,))
            rows = run(one, share=share, data=data)
            if not rows:
                continue  # another share's pair
            cell = next(r for r in rows if r["signal"] == signal)
            verdict = verdicts(rows).get((signal, model))
            entry: dict[str, Any] = {
                "model": model,
                "model_name": display_name(model),
                "signal": signal,
                "signal_name": SIGNALS[signal].paper_name,
                "dataset": cell["dataset"],
                "num_classes": cell["num_classes"],
                "n_train": cell["n_train"],
                "seed": seed,
                "reliance": cell["reliance"],
                "verdict": verdict,
                "skipped": None,
                "threshold": None,
                "below": None,
                "carriers_min": None,
                "carriers_max": None,
                "smallest": False,
                "probes": [],
                "grid": grid,
            }
            entries.append(entry)
            if verdict != "reads":
                entry["skipped"] = f"does not read at full coverage ({verdict or '–'})"
                continue
            clean = next((r for r in rows if r["signal"] == "clean"), None)
            if clean is not None and share.write:
                _reuse_clean(probes_dir, share, clean)
            lo, hi = -1, len(grid) - 1  # grid[hi] reads; grid[lo] does not (-1: below all)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                c = grid[mid]
                said: str | None = "no carrier"
                if any(carrier_count(n, c) for n in sizes):
                    probe = dataclasses.replace(one, poison=Poison(coverage=c), settings=probes_out)
                    said = verdicts(run(probe, share=share, data=data)).get((signal, model))
                entry["probes"].append([c, said])
                if said == "reads":
                    hi = mid
                else:
                    lo = mid
            counts = [carrier_count(n, grid[hi]) for n in sizes if carrier_count(n, grid[hi])]
            entry.update(
                threshold=grid[hi],
                below=grid[lo] if lo >= 0 else None,
                carriers_min=min(counts),
                carriers_max=max(counts),
                smallest=lo < 0,
            )
    return entries


def _reuse_clean(out: Path, share: Share, clean: Mapping[str, Any]) -> None:
    """Give the probes' directory ``out`` the model's clean cell from the atlas's ``OUT/data``.

    Every probe of a model needs its clean cell (the shortcut drop compares with its answers);
    without this, the model's first probe trained it again in ``out`` (5 of the 35 cells of the
    threshold atlas on ``photo_digits``). A clean cell never holds a poison setting, so its id is
    the same in both directories and the runner finds it done.
    """
    make_dir(out)
    with exclusive(out, share.lock_name):
        if str(clean["cell_id"]) not in merge_results(out):
            append_record(out / share.results_name, clean)


def _atlas_cell(e: Mapping[str, Any]) -> str:
    if e.get("skipped"):
        return f"– ({e.get('verdict') or '–'})"
    n = _per_class((e["carriers_min"], e["carriers_max"]), True)
    return f"{'≤' if e.get('smallest') else ''}{n} ({_frac(e['threshold'])})"


def threshold_atlas_table(entries: Sequence[Row]) -> str:
    """Markdown: one row per model, one column per signal; each cell the threshold in carriers
    per class and as a coverage (``≤``: the grid's smallest point reads), or ``–`` with the
    full-coverage verdict where the pair was skipped."""
    if not entries:
        raise ValueError("entries is empty: nothing to tabulate")
    models = list(dict.fromkeys(str(e["model"]) for e in entries))
    signals = list(dict.fromkeys(str(e["signal"]) for e in entries))
    by = {(str(e["model"]), str(e["signal"])): e for e in entries}
    names = {str(e["signal"]): str(e["signal_name"]) for e in entries}
    header = ["Model", *(names[s] for s in signals)]
    body = [
        [display_name(m), *(_atlas_cell(by[(m, s)]) if (m, s) in by else "–" for s in signals)]
        for m in models
    ]
    return _md(header, body)


def plot_threshold_atlas(entries: Sequence[Row], path: str | Path) -> Path:
    """The heat map of the thresholds: models x signals, colour the log10 of the carriers per
    class at the threshold (fewer: a model reads sooner), the number in each cell; grey for
    the pairs that do not read at full coverage."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    models = list(dict.fromkeys(str(e["model"]) for e in entries))
    signals = list(dict.fromkeys(str(e["signal"]) for e in entries))
    by = {(str(e["model"]), str(e["signal"])): e for e in entries}
    grid = np.full((len(models), len(signals)), np.nan)
    for (m, s), e in by.items():
        if not e.get("skipped") and e.get("carriers_min"):
            grid[models.index(m), signals.index(s)] = math.log10(int(e["carriers_min"]))
    width = max(5.0, 1.0 + 0.95 * len(signals))
    # room for the rotated signal names and the colour bar's label even with a single model
    fig = Figure(figsize=(width, max(2.8, 1.8 + 0.45 * len(models))), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_facecolor("#d9d9d9")
    top = max(1.0, float(np.nanmax(grid)) if np.isfinite(grid).any() else 1.0)
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis_r", vmin=0, vmax=top, aspect="auto")
    for (m, s), e in by.items():
        i, j = models.index(m), signals.index(s)
        text = "–" if e.get("skipped") else _atlas_cell(e).split(" (")[0]
        dark = bool(np.isfinite(grid[i, j]) and grid[i, j] > 0.55 * top)  # viridis_r: dark high
        colour = "white" if dark else "black"
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(signals)), [str(by_sig) for by_sig in signals], fontsize=7.5)
    ax.set_xticklabels(
        [next(str(e["signal_name"]) for e in entries if e["signal"] == s) for s in signals],
        rotation=30, ha="right", fontsize=7.5,
    )  # fmt: skip
    ax.set_yticks(range(len(models)), [display_name(m) for m in models], fontsize=8)
    bar = fig.colorbar(im, ax=ax, shrink=0.9)
    bar.set_label("log10 carriers\nper class", fontsize=7.5)
    e0 = entries[0]
    title = (
        f"Coverage threshold per class, {e0['dataset']}, seed {e0['seed']} "
        "(–: does not read at full coverage)"
    )
    # about 11 characters of 9 pt text per inch: the title wraps within the figure
    fig.suptitle(textwrap.fill(title, int(width * 11)), fontsize=9)
    path = Path(path)
    make_dir(path.parent)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, dpi=100, format="png")
    return path


_ATLAS_CSV = ("model", "signal", "dataset", "seed", "reliance", "verdict", "skipped", "threshold",
              "below", "carriers_min", "carriers_max", "smallest", "probes")  # fmt: skip


def write_threshold_atlas(
    entries: Sequence[Row], out: str | Path, config: Mapping[str, Any] | None = None
) -> dict[str, Path]:
    """Write ``thresholds.md``, ``thresholds.csv``, ``thresholds.json`` and the heat map
    ``thresholds.png`` of `threshold_atlas`'s entries into ``out``."""
    if not entries:
        raise ValueError("entries is empty: nothing to report")
    out = Path(out)
    make_dir(out)
    e0 = entries[0]
    grid = ", ".join(_frac(c) for c in e0["grid"])
    head = (
        f"# Coverage thresholds: {e0['dataset']}\n\nTrain {e0['n_train']} samples, "
        f"{e0['num_classes']} classes, seed {e0['seed']}, on the data. Each cell: the fewest "
        "carriers per class (of the samples the model is fitted on) at which the model reads "
        "the signal there and at every larger grid point, found by bisection on the grid "
        f"{grid} (verdicts assumed monotone); ≤: the smallest point reads. –: the model does "
        "not read the signal at full coverage (its verdict in brackets)."
    )
    md = out / "thresholds.md"
    atomic_write(md, f"{head}\n\n{threshold_atlas_table(entries)}\n")
    path_csv = out / "thresholds.csv"
    with atomic_open(path_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=_ATLAS_CSV, extrasaction="ignore")
        w.writeheader()
        for e in entries:
            line = {key: e.get(key) for key in _ATLAS_CSV}
            line["probes"] = " ".join(f"{c:g}:{v}" for c, v in e.get("probes", []))
            w.writerow({key: "" if v is None else v for key, v in line.items()})
    js = out / "thresholds.json"
    atomic_write(
        js, json.dumps({"config": dict(config or {}), "entries": list(entries)}, indent=1) + "\n"
    )
    png = plot_threshold_atlas(entries, out / "thresholds.png")
    return {"table": md, "csv": path_csv, "json": js, "figure": png}
