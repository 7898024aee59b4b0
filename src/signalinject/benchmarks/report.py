"""Tables and figures from benchmark rows: the headline table (the paper's Tables 1 and 3, with
the paper's numbers beside ours), tables of every model, CSV files, and a PNG chart.

Every number is a percentage: the mean over seeds and its 95% interval in brackets, the Wilson
interval at the test-set size for one seed, across seeds where there are several (see
[`signalinject.benchmarks.stats`][signalinject.benchmarks.stats]). Each (signal, model) gets a
verdict: ``reads``, ``partial``, ``ignores``, ``did not learn`` (the model's clean accuracy is not
    significantly
above the test set's majority-class rate; replaces ``ignores``) or ``non-finite`` (its outputs
held NaN or infinity).

The headline table names, per signal, the competing model that reads the signal best (highest
reliance, ties by accuracy) with its accuracy, its gain over its own clean accuracy and its
reliance; where no competitor reads the signal the cell says so and names the closest one. The
most accurate competitor has its own column.

Examples:
    >>> rows = [
    ...     {"dataset": "digits", "signal": s, "model": m, "seed": 0, "accuracy": a, "n_test": 100,
    ...      "gain": g, "reliance": r, "decode_accuracy": d, "reliance_true_accuracy": None,
    ...      "num_classes": 10}
    ...     for s, m, a, g, r, d in [("clean", "convnet", 0.9, 0.0, None, None),
    ...                              ("clean", "decision_tree", 0.8, 0.0, None, None),
    ...                              ("one_pixel", "convnet", 0.91, 0.01, 0.05, 1.0),
    ...                              ("one_pixel", "decision_tree", 1.0, 0.2, 1.0, 1.0)]]
    >>> print(paper_table(rows))  # doctest: +NORMALIZE_WHITESPACE
    | Signal | Decode | ConvNet | ConvNet reliance | ConvNet verdict | Paper: ConvNet (CIFAR-10) |
      Best reader | Accuracy | Gain | Reliance | Verdict | Paper: best competitor (CIFAR-10) |
      Most accurate |
    |---|---|---|---|---|---|---|---|---|---|---|---|---|
    | Clean | – | 90.0 [82.6, 94.5] | – | – | 84.7 | – | – | – | – | – | – |
      Decision tree 80.0 [71.1, 86.7] |
    | One pixel | 100.0 [96.3, 100.0] | 91.0 [83.8, 95.2] | 5.0 [2.2, 11.2] | ignores |
      84.7 (no change) | Decision tree | 100.0 [96.3, 100.0] | +20.0 | 100.0 [96.3, 100.0] |
      reads | Decision tree 100 | Decision tree 100.0 [96.3, 100.0] |
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from signalinject.benchmarks import stats as _stats
from signalinject.benchmarks._files import atomic_open, atomic_write, make_dir
from signalinject.benchmarks.registry import (
    COLOURS,
    DATASETS,
    MODELS,
    display_name,
    find_model,
    model_colour,
)
from signalinject.benchmarks.signals import SIGNALS
from signalinject.benchmarks.store import CSV_FIELDS

__all__ = ["paper_table", "verdicts", "write_report"]

Row = Mapping[str, Any]


def model_color(model: str, others: Sequence[str] = ()) -> str:
    """The colour of ``model`` in every chart: its registry entry's (a sized name has its
    entry's; the paper's domain models share the first), else one of the colours no entry takes,
    by its place among such models in ``others``.

    Examples:
        >>> model_color("decision_tree"), model_color("vit-w64-d4")
        ('#ff7f0e', '#aec7e8')
        >>> model_color("my.py:net", ["my.py:net"])
        '#ff9896'
    """
    own = model_colour(model)
    if own is not None:
        return own
    taken = {e.colour for e in MODELS.values()}
    spare = [c for c in COLOURS if c not in taken] or list(COLOURS)
    extra = [m for m in others if model_colour(m) is None]
    i = extra.index(model) if model in extra else 0
    return spare[i % len(spare)]


#: The paper's numbers (Hoffer et al. 2018, Tables 1 and 3; accuracy in %): per data kind, the
#: paper's data set, its domain model's accuracy per signal, and its best competitor per signal.
PAPER: dict[str, dict[str, Any]] = {
    "image": {
        "dataset": "CIFAR-10",
        "model": "ConvNet",
        "main": {
            "clean": "84.7",
            **{
                s: "84.7 (no change)"
                for s in (
                    "one_pixel",
                    "pattern_pixels",
                    "random_pixel",
                    "multiple_locations",
                    "orthogonal_noise",
                )
            },
        },
        "best": {
            "one_pixel": "Decision tree 100",
            "pattern_pixels": "Decision tree 100",
            "random_pixel": "Shallow Max NN 100",
            "multiple_locations": "QDA 98.4",
            "orthogonal_noise": "Perceptron 100",
        },
    },
    "text": {
        "dataset": "Yelp / Amazon Full",
        "model": "Char-CNN",
        "main": {
            "clean": "62.05 / 62.05",
            **{s: "no significant gain" for s in ("mnemonic", "length_encoding", "pattern_char")},
        },
        "best": {
            "clean": "Logistic regression (words) 59.86 / 55.26",
            "mnemonic": "Decision tree 100 / 100",
            "length_encoding": "Decision tree 99.80 / 99.97",
            "pattern_char": "Decision tree 68.66 / 69.66",
        },
    },
}

METRICS = (
    "accuracy",
    "gain",
    "reliance",
    "decode_accuracy",
    "reliance_true_accuracy",
    "clean_accuracy_injected",
    "shortcut_drop",
)


@dataclasses.dataclass(frozen=True)
class Stat:
    """A fraction over seeds: mean, sample standard deviation (None for one seed) and 95%
    interval (``low``, ``high``; None when the sample size is unknown). All None: not
    applicable."""

    mean: float | None
    std: float | None
    n: int
    low: float | None = None
    high: float | None = None

    @classmethod
    def of(cls, values: Sequence[float | None], sizes: Sequence[int | None] = ()) -> Stat:
        """The statistic of the non-None values; ``sizes`` (one per value, the samples each was
        measured on) gives the interval
        (`seed_interval`)."""
        pairs = [
            (float(v), sizes[i] if i < len(sizes) else None)
            for i, v in enumerate(values)
            if v is not None and not (isinstance(v, float) and math.isnan(v))
        ]
        if not pairs:
            return cls(None, None, 0)
        vals = [v for v, _ in pairs]
        std = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
        mean = float(np.mean(vals))
        ns = [n for _, n in pairs]
        if all(isinstance(n, int) and n > 0 for n in ns) and all(0 <= v <= 1 for v in vals):
            lo, hi = _stats.seed_interval(vals, [int(n) for n in ns if n is not None])
            return cls(mean, std, len(vals), lo, hi)
        return cls(mean, std, len(vals))

    def words(self) -> str:
        """``"97.5% (95% interval 96.1-98.4%)"``; ``"97.5%"`` without an interval."""
        if self.mean is None:
            return "–"
        if self.low is None or self.high is None:
            return f"{100 * self.mean:.1f}%"
        return f"{100 * self.mean:.1f}% (95% interval {100 * self.low:.1f}-{100 * self.high:.1f}%)"

    def pct(self) -> str:
        """``"97.5 [96.1, 98.4]"`` (percent, 95% interval), ``"97.5"`` without an interval,
        ``"–"`` when not applicable."""
        if self.mean is None:
            return "–"
        if self.low is None or self.high is None:
            return f"{100 * self.mean:.1f}"
        return f"{100 * self.mean:.1f} [{100 * self.low:.1f}, {100 * self.high:.1f}]"


def _order(values: Sequence[str], known: Sequence[str]) -> list[str]:
    """The distinct ``values``: those in ``known`` first in that order, then the rest as met."""
    seen = list(dict.fromkeys(values))
    return [k for k in known if k in seen] + [v for v in seen if v not in known]


def _sizes(grp: Sequence[Row], metric: str) -> list[int | None]:
    """The sample size of ``metric`` in each row: reliance is measured on the test samples that
    carry the signal (``n_carried``, else all), every other fraction on the test set."""
    out: list[int | None] = []
    for r in grp:
        n = r.get("n_carried") if metric == "reliance" else None
        n = n if n is not None else r.get("n_test")
        out.append(int(n) if isinstance(n, (int, float)) and not isinstance(n, bool) else None)
    return out


def _drop_stat(grp: Sequence[Row]) -> Stat:
    """The shortcut drop over seeds: the mean and sample std of the per-seed drops, and the
    paired interval of the pooled pairs (each seed's ``shortcut_discordant`` and ``n_test``
    summed, `stats.paired_difference`); one seed: its own interval."""
    seeds = [g for g in grp if g.get("shortcut_drop") is not None]
    if not seeds:
        return Stat(None, None, 0)
    vals = [float(g["shortcut_drop"]) for g in seeds]
    std = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
    mean = float(np.mean(vals))
    if len(seeds) == 1:
        return Stat(
            mean, std, 1, seeds[0].get("shortcut_drop_low"), seeds[0].get("shortcut_drop_high")
        )
    pairs = [g.get("shortcut_discordant") for g in seeds]
    sizes = [g.get("n_test") for g in seeds]
    if any(p is None for p in pairs) or not all(isinstance(n, int) and n > 0 for n in sizes):
        return Stat(mean, std, len(vals))
    n10 = sum(int(p[0]) for p in pairs if p is not None)
    n01 = sum(int(p[1]) for p in pairs if p is not None)
    _, lo, hi = _stats.paired_difference(n10, n01, sum(int(n) for n in sizes if n is not None))
    return Stat(mean, std, len(vals), lo, hi)


def summarize(rows: Sequence[Row]) -> dict[tuple[str, str], dict[str, Stat]]:
    """Per ``(signal, model)``, a `Stat` of each metric over
    the seeds (``gain`` has no
    interval: it is a difference of two measured fractions; ``shortcut_drop``'s is the paired
    interval of the seeds' pooled pairs of answers).

    Raises:
        ValueError: the rows mix datasets (a table compares models on one dataset).
    """
    datasets = sorted({str(r["dataset"]) for r in rows})
    if len(datasets) > 1:
        raise ValueError(f"rows must come from one dataset, got {datasets}")
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((str(r["signal"]), str(r["model"])), []).append(r)
    return {
        key: {
            m: _drop_stat(grp)
            if m == "shortcut_drop"
            else Stat.of([g.get(m) for g in grp], () if m == "gain" else _sizes(grp, m))
            for m in METRICS
        }
        for key, grp in groups.items()
    }


@dataclasses.dataclass(frozen=True)
class ModelFit:
    """How a model did on the clean task, over seeds (from its ``clean`` rows).

    Attributes:
        clean: its clean accuracy.
        majority_rate: the test set's majority-class rate (None: not recorded, old rows).
        p_value: one-sided binomial p of the pooled clean accuracy (correct answers summed over
            seeds, of ``n_test`` per seed) against ``majority_rate`` (None: not testable).
        learned: ``p_value < 0.01`` (True when not testable, and always on blank data, whose
            clean accuracy is chance by construction).
        finite: no output of the model held NaN or infinity, in any of its cells.
    """

    clean: Stat
    majority_rate: float | None
    p_value: float | None
    learned: bool
    finite: bool


def model_fits(rows: Sequence[Row]) -> dict[str, ModelFit]:
    """`ModelFit` of every model in ``rows`` (rows of one
    dataset)."""
    by: dict[str, list[Row]] = {}
    for r in rows:
        by.setdefault(str(r["model"]), []).append(r)
    out: dict[str, ModelFit] = {}
    for m, grp in by.items():
        clean = [r for r in grp if r["signal"] == "clean"]
        acc = Stat.of([r.get("accuracy") for r in clean], _sizes(clean, "accuracy"))
        finite = not any(
            int(r.get("nonfinite_outputs") or 0) or int(r.get("clean_nonfinite_outputs") or 0)
            for r in grp
        )
        rates = [float(r["majority_rate"]) for r in grp if r.get("majority_rate") is not None]
        rate = rates[0] if rates else None
        # the clean accuracy of each seed: from its clean row, else as recorded in its cells
        per_seed: dict[int, tuple[float, int]] = {}
        for r in grp:
            a = r.get("accuracy") if r["signal"] == "clean" else r.get("clean_accuracy")
            if a is not None and r.get("n_test"):
                per_seed.setdefault(int(r["seed"]), (float(a), int(r["n_test"])))
        p: float | None = None
        if rate is not None and per_seed:
            k = sum(round(a * n) for a, n in per_seed.values())
            total = sum(n for _, n in per_seed.values())
            p = _stats.clean_p_value(k, total, rate)
        blank = any(bool(r.get("blank")) for r in grp)
        learned = blank or p is None or p < _stats.ALPHA
        out[m] = ModelFit(acc, rate, p, learned, finite)
    return out


def verdicts(rows: Sequence[Row]) -> dict[tuple[str, str], str | None]:
    """The verdict of every ``(signal, model)`` other than clean
    ([`verdict`][signalinject.benchmarks.stats.verdict], on the mean reliance and its interval)."""
    if not rows:
        return {}
    k = int(rows[0]["num_classes"])
    st, fits = summarize(rows), model_fits(rows)
    out: dict[tuple[str, str], str | None] = {}
    for (sig, m), s in st.items():
        if sig == "clean":
            continue
        rel = s["reliance"]
        fit = fits[m]
        interval = None if rel.low is None or rel.high is None else (rel.low, rel.high)
        out[(sig, m)] = _stats.verdict(
            rel.mean, k, interval=interval, learned=fit.learned, finite=fit.finite
        )
    return out


def _signals(rows: Sequence[Row]) -> list[str]:
    return _order([str(r["signal"]) for r in rows], list(SIGNALS))


def _models(rows: Sequence[Row]) -> list[str]:
    return _order([str(r["model"]) for r in rows], list(MODELS))


def _name(model: str) -> str:
    return display_name(model)


def _main_models() -> list[str]:
    """The models a headline table is about, in order of preference (the registry's
    ``headline``)."""
    ranked = [(e.headline, n) for n, e in MODELS.items() if e.headline is not None]
    return [n for _, n in sorted(ranked)]


def _text_only(model: str) -> bool:
    try:
        found = find_model(model)
    except ValueError:
        return False
    return found is not None and found.entry.kinds == ("text",)


def _signal_name(signal: str) -> str:
    s = SIGNALS.get(signal)
    return s.paper_name if s is not None else signal


def _md(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _kind(rows: Sequence[Row]) -> str:
    """``"image"`` or ``"text"``: the rows' suite, else their signals' kind."""
    suite = next((r.get("suite") for r in rows if r.get("suite")), None)
    if suite in ("images", "text"):
        return "image" if suite == "images" else "text"
    for r in rows:
        sig = SIGNALS.get(str(r["signal"]))
        if sig is not None and str(r["signal"]) != "clean":
            return "text" if "image" not in sig.kinds else "image"
    return "text" if any(_text_only(str(r["model"])) for r in rows) else "image"


def data_label(dataset: str) -> str:
    """``"noisy_digits (embedded stand-in)"`` or ``"cifar10 (real data)"``."""
    entry = DATASETS.get(dataset)
    embedded = entry is not None and entry.embedded
    return f"{dataset} ({'embedded stand-in' if embedded else 'real data'})"


@dataclasses.dataclass(frozen=True)
class HeadlineRow:
    """One line of the headline table (see `headline`);
    Stats are fractions."""

    signal: str
    decode: Stat
    main_accuracy: Stat
    main_reliance: Stat
    main_verdict: str | None
    paper_main: str
    reader: str | None  # the competitor that reads the signal best; None: none reads it
    closest: str | None  # the competitor of highest reliance (the reader, if one reads it)
    reader_accuracy: Stat
    reader_gain: Stat
    reader_reliance: Stat
    reader_verdict: str | None
    paper_best: str
    most_accurate: str | None
    most_accurate_accuracy: Stat


def _main(rows: Sequence[Row], main_model: str | None) -> str:
    models = _models(rows)
    main = main_model or next((m for m in _main_models() if m in models), models[0])
    if main not in models:
        raise ValueError(f"main_model {main!r} is not in the rows; models: {models}")
    return main


def headline(rows: Sequence[Row], main_model: str | None = None) -> list[HeadlineRow]:
    """The headline table's lines: per signal, the main model (ConvNet or Char-CNN) and the
    competitor that reads the signal best.

    The reader is the competitor of highest mean reliance (ties: higher mean accuracy, then the
    order of the models), among those that learned (a verdict other than ``did not learn`` or
    ``non-finite``) where any did; it counts as a reader only if its verdict is ``reads``, else
    ``reader`` is None and ``closest`` names it. The ``clean`` line has no reader; its most
    accurate competitor is the reference.

    Args:
        rows: result rows of one dataset (``run``'s output or ``results.jsonl``).
        main_model: the model of the paper's column; default ``convnet``, else a char-CNN
            (``charcnn``, ``charcnn_narrow``, ``charcnn_large``), else the first model met.
    """
    if not rows:
        raise ValueError("rows is empty: nothing to tabulate")
    st = summarize(rows)
    verdict = verdicts(rows)
    main = _main(rows, main_model)
    models = _models(rows)
    order = {m: i for i, m in enumerate(models)}
    others = [m for m in models if m != main]
    paper = PAPER[_kind(rows)]
    none = Stat(None, None, 0)
    out: list[HeadlineRow] = []
    for sig in _signals(rows):
        own = st.get((sig, main))
        if own is None:
            continue
        cands = [m for m in others if (sig, m) in st]

        def acc(m: str, sig: str = sig) -> float:
            return st[(sig, m)]["accuracy"].mean or -math.inf

        best_acc = max(cands, key=lambda m: (acc(m), -order[m]), default=None)
        readers = [m for m in cands if st[(sig, m)]["reliance"].mean is not None]

        def learned(m: str, sig: str = sig) -> bool:
            return verdict.get((sig, m)) not in (_stats.DID_NOT_LEARN, _stats.NON_FINITE)

        # a model that learned nothing is named closest only when no other model is left
        closest = max(
            readers,
            key=lambda m: (learned(m), st[(sig, m)]["reliance"].mean or 0.0, acc(m), -order[m]),
            default=None,
        )
        reader = closest if closest is not None and verdict.get((sig, closest)) == "reads" else None
        rs = st[(sig, closest)] if closest is not None else None
        out.append(
            HeadlineRow(
                signal=sig,
                decode=own["decode_accuracy"],
                main_accuracy=own["accuracy"],
                main_reliance=own["reliance"],
                main_verdict=verdict.get((sig, main)),
                paper_main=paper["main"].get(sig, "–"),
                reader=reader,
                closest=closest,
                reader_accuracy=none if rs is None else rs["accuracy"],
                reader_gain=none if rs is None else rs["gain"],
                reader_reliance=none if rs is None else rs["reliance"],
                reader_verdict=None if closest is None else verdict.get((sig, closest)),
                paper_best=paper["best"].get(sig, "–"),
                most_accurate=best_acc,
                most_accurate_accuracy=none
                if best_acc is None
                else st[(sig, best_acc)]["accuracy"],
            )
        )
    return out


def _signed(s: Stat) -> str:
    return "–" if s.mean is None else f"{100 * s.mean:+.1f}"


def _reader_cell(h: HeadlineRow) -> str:
    if h.signal == "clean" or h.closest is None:
        return "–"
    if h.reader is None:
        return f"no model reads it (closest: {_name(h.closest)})"
    return _name(h.reader)


def paper_table(rows: Sequence[Row], main_model: str | None = None) -> str:
    """The headline table as Markdown (see `headline`),
    the paper's numbers beside ours.

    Columns: the signal's decode accuracy; the main model's accuracy, reliance and verdict, and
    the paper's number for it; the competitor that reads the signal best with its accuracy, its
    gain over its own clean accuracy, its reliance and verdict, and the paper's best
    competitor; the most accurate competitor. Percentages with 95% intervals.
    """
    lines = headline(rows, main_model)
    main = _name(_main(rows, main_model))
    paper = PAPER[_kind(rows)]
    pdata = paper["dataset"]
    header = [
        "Signal", "Decode", main, f"{main} reliance", f"{main} verdict",
        f"Paper: {paper['model']} ({pdata})", "Best reader", "Accuracy", "Gain", "Reliance",
        "Verdict", f"Paper: best competitor ({pdata})", "Most accurate",
    ]  # fmt: skip
    body = []
    for h in lines:
        clean = h.signal == "clean"
        body.append(
            [
                _signal_name(h.signal),
                h.decode.pct(),
                h.main_accuracy.pct(),
                h.main_reliance.pct(),
                h.main_verdict or "–",
                h.paper_main,
                _reader_cell(h),
                "–" if clean else h.reader_accuracy.pct(),
                "–" if clean else _signed(h.reader_gain),
                "–" if clean else h.reader_reliance.pct(),
                "–" if clean else (h.reader_verdict or "–"),
                h.paper_best,
                "–"
                if h.most_accurate is None
                else f"{_name(h.most_accurate)} {h.most_accurate_accuracy.pct()}",
            ]
        )
    return _md(header, body)


def _write_headline_csv(rows: Sequence[Row], path: Path) -> Path:
    """The headline table as CSV: fractions (mean, low, high), names, the paper's numbers."""
    main = _main(rows, None)
    paper = PAPER[_kind(rows)]
    dataset = str(rows[0]["dataset"])
    fields = [
        "dataset", "data", "paper_dataset", "signal", "decode", "main_model",
        "main_accuracy", "main_accuracy_low", "main_accuracy_high",
        "main_reliance", "main_reliance_low", "main_reliance_high", "main_verdict", "paper_main",
        "reader", "closest", "reader_accuracy", "reader_accuracy_low", "reader_accuracy_high",
        "reader_gain", "reader_reliance", "reader_reliance_low", "reader_reliance_high",
        "reader_verdict", "paper_best", "most_accurate", "most_accurate_accuracy",
        "most_accurate_accuracy_low", "most_accurate_accuracy_high",
    ]  # fmt: skip
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for h in headline(rows):
            line: list[Any] = [dataset, data_label(dataset), paper["dataset"], h.signal]
            line += [h.decode.mean, main]
            line += [h.main_accuracy.mean, h.main_accuracy.low, h.main_accuracy.high]
            line += [h.main_reliance.mean, h.main_reliance.low, h.main_reliance.high]
            line += [h.main_verdict, h.paper_main, h.reader, h.closest]
            line += [h.reader_accuracy.mean, h.reader_accuracy.low, h.reader_accuracy.high]
            line += [h.reader_gain.mean]
            line += [h.reader_reliance.mean, h.reader_reliance.low, h.reader_reliance.high]
            line += [h.reader_verdict, h.paper_best, h.most_accurate]
            a = h.most_accurate_accuracy
            line += [a.mean, a.low, a.high]
            w.writerow(["" if v is None else v for v in line])
    return path


def model_table(rows: Sequence[Row], metric: str = "accuracy") -> str:
    """One metric for every (signal, model) as Markdown: signals down, models across."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    stats = summarize(rows)
    models = _models(rows)
    body = []
    for sig in _signals(rows):
        body.append(
            [_signal_name(sig)]
            + [stats[(sig, m)][metric].pct() if (sig, m) in stats else "–" for m in models]
        )
    return _md(["Signal", *(_name(m) for m in models)], body)


def verdict_table(rows: Sequence[Row]) -> str:
    """The verdict of every (signal, model) as Markdown: signals down, models across."""
    v = verdicts(rows)
    models = _models(rows)
    body = [
        [_signal_name(sig)] + [str(v.get((sig, m)) or "–") for m in models]
        for sig in _signals(rows)
        if sig != "clean"
    ]
    return _md(["Signal", *(_name(m) for m in models)], body)


def _notes(rows: Sequence[Row]) -> str:
    """In words: whether the main model learned the clean task, and every model that did not
    learn it or gave non-finite outputs."""
    main = _main(rows, None)
    fits = model_fits(rows)
    blank = any(bool(r.get("blank")) for r in rows)
    out: list[str] = []
    fit = fits[main]
    if not fit.finite:
        out.append(
            f"**The {_name(main)}'s outputs held NaN or infinity**: its accuracies and "
            "reliances are those of a broken model; no verdict is given."
        )
    elif blank:
        out.append(
            "Shut-down control: clean accuracy is chance by construction, so the 'did not "
            "learn' test does not apply."
        )
    elif fit.majority_rate is not None and fit.p_value is not None:
        rate = f"{100 * fit.majority_rate:.1f}%"
        p = f"p = {fit.p_value:.2g}"
        if fit.learned:
            out.append(
                f"The {_name(main)} learned the clean task: {fit.clean.words()} against a "
                f"majority-class rate of {rate} (one-sided binomial test, {p})."
            )
        else:
            out.append(
                f"**The {_name(main)} did not learn the clean task**: {fit.clean.words()} is not "
                f"significantly above the majority-class rate of {rate} (one-sided binomial "
                f"test, {p} >= {_stats.ALPHA:g}). Its lack of gain with a signal is "
                "uninformative: it does not confirm the paper's blindspot, it only shows a "
                "model that learned nothing."
            )
    dnl = [_name(m) for m, f in fits.items() if m != main and f.finite and not f.learned]
    bad = [_name(m) for m, f in fits.items() if m != main and not f.finite]
    if dnl and not blank:
        out.append(
            "Did not learn the clean task (not significantly above the majority-class rate, "
            f"p >= {_stats.ALPHA:g}): {', '.join(dnl)}; their 'ignores' reads 'did not learn'."
        )
    if bad:
        out.append(f"Non-finite outputs (NaN or infinity): {', '.join(bad)}.")
    return "\n\n".join(out)


def write_csv(rows: Sequence[Row], path: str | Path) -> Path:
    """One line per cell with the scalar fields
    (`store.CSV_FIELDS`); the injector as JSON."""
    path = Path(path)
    with atomic_open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            line = {k: r.get(k) for k in CSV_FIELDS}
            line["injector"] = json.dumps(r.get("injector"), sort_keys=True)
            w.writerow(line)
    return path


def _write_summary_csv(rows: Sequence[Row], path: Path) -> Path:
    """Per (signal, model): seeds, each metric's mean, std and 95% interval, and the verdict."""
    stats = summarize(rows)
    verdict = verdicts(rows)
    parts = ("mean", "std", "low", "high")
    fields = ["signal", "model", "seeds"] + [f"{m}_{p}" for m in METRICS for p in parts]
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*fields, "verdict"])
        for sig in _signals(rows):
            for m in _models(rows):
                if (sig, m) not in stats:
                    continue
                st = stats[(sig, m)]
                line: list[Any] = [sig, m, st["accuracy"].n]
                for metric in METRICS:
                    x = st[metric]
                    line += [x.mean, x.std, x.low, x.high]
                line.append(verdict.get((sig, m)))
                w.writerow(["" if v is None else v for v in line])
    return path


def _errors(s: Stat | None) -> tuple[float, float, float]:
    """``(mean, below, above)`` in percent for an error bar (NaN where not applicable)."""
    if s is None or s.mean is None:
        return math.nan, math.nan, math.nan
    m = 100 * s.mean
    if s.low is None or s.high is None:
        return m, math.nan, math.nan
    return m, max(0.0, m - 100 * s.low), max(0.0, 100 * s.high - m)


def _model_label(m: str, fit: ModelFit | None) -> str:
    if fit is not None and not fit.finite:
        return f"{_name(m)} (non-finite outputs)"
    if fit is not None and not fit.learned:
        return f"{_name(m)} (did not learn)"
    return _name(m)


def plot(rows: Sequence[Row], path: str | Path) -> Path:
    """A PNG with two panels per signal and model: accuracy (points with their 95% intervals, on
    an axis fitted to the values) and reliance (bars from 0 with their intervals, a dashed
    chance line at 1/K, a mark on every 0%).

    One colour per model (`model_color`); a model that
    did not learn the clean task has hatched bars and says so in the legend, as does one with
    non-finite outputs. Drawn with the Agg canvas directly, so the caller's matplotlib backend and
    pyplot state are untouched.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    stats = summarize(rows)
    fits = model_fits(rows)
    signals, models = _signals(rows), _models(rows)
    k = rows[0].get("num_classes")
    # narrow (7.6 in for six signals): its text stays >= 9 px where the docs show it 690 px wide
    fig = Figure(figsize=(max(6.9, 0.9 * len(signals) + 2.2), 7.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax_acc, ax_rel = fig.subplots(2, 1, sharex=True)
    width = 0.8 / len(models)
    x = np.arange(len(signals), dtype=np.float64)
    lows: list[float] = []
    for j, m in enumerate(models):
        xs = x + (j - (len(models) - 1) / 2) * width
        color = model_color(m, models)
        fit = fits.get(m)
        hatch = "//" if fit is not None and not (fit.learned and fit.finite) else None
        acc = [_errors(stats.get((sig, m), {}).get("accuracy")) for sig in signals]
        ys = np.array([a[0] for a in acc])
        err = np.array([[a[1] for a in acc], [a[2] for a in acc]])
        ax_acc.errorbar(
            xs, ys, yerr=np.nan_to_num(err), fmt="o", color=color, ms=5, capsize=2, lw=1,
            label=_model_label(m, fit),
        )  # fmt: skip
        lows += [v - e for v, e in zip(ys, np.nan_to_num(err[0]), strict=True) if v == v]
        rel = [_errors(stats.get((sig, m), {}).get("reliance")) for sig in signals]
        rs = np.array([r[0] for r in rel])
        rerr = np.array([[r[1] for r in rel], [r[2] for r in rel]])
        ax_rel.bar(
            xs, rs, width, yerr=np.nan_to_num(rerr), color=color, capsize=2,
            hatch=hatch, edgecolor="white" if hatch else None, linewidth=0,
        )  # fmt: skip
        zero = [i for i, v in enumerate(rs) if v == v and v < 0.5]  # ~0%: no visible bar
        if zero:
            ax_rel.plot(
                xs[zero], np.zeros(len(zero)), marker="^", ls="none", color=color,
                markeredgecolor="black", markersize=6, clip_on=False, zorder=3,
            )  # fmt: skip
    # accuracy: an axis fitted to the values (the differences, not the distance from 0)
    bottom = 0.0 if not lows else max(0.0, 10 * math.floor((min(lows) - 3) / 10))
    ax_acc.set_ylim(bottom, 101)
    ax_acc.set_ylabel("accuracy (%), 95% interval")
    ax_acc.grid(axis="y", alpha=0.3)
    # the signal's own decode accuracy (its information content) as a line over each group
    decode_label: str | None = "decode (the signal's information)"
    for i, sig in enumerate(signals):
        dec = [stats[(sig, m)]["decode_accuracy"].mean for m in models if (sig, m) in stats]
        dec_v = [d for d in dec if d is not None]
        if dec_v and 100 * dec_v[0] >= bottom:
            ax_acc.hlines(
                100 * dec_v[0], i - 0.45, i + 0.45, colors="black", linestyles="--",
                label=decode_label,
            )  # fmt: skip
            decode_label = None  # one legend entry
    ax_rel.set_ylim(0, 105)
    ax_rel.set_ylabel("reliance (%), 95% interval")
    ax_rel.grid(axis="y", alpha=0.3)
    if isinstance(k, int) and k >= 2:
        ax_rel.axhline(
            100 / k, color="grey", ls=":", lw=1.5, label=f"chance (1/K = {100 / k:.0f}%)"
        )
    ax_rel.plot([], [], marker="^", ls="none", color="white", markeredgecolor="black", label="0%")
    dataset = str(rows[0]["dataset"])
    ax_acc.set_title(f"{data_label(dataset)}: accuracy with the signal in train and test")
    ax_rel.set_title("reliance: predictions equal to a wrong class written into the signal")
    ax_rel.set_xticks(x, [_signal_name(s) for s in signals], rotation=20, ha="right")
    handles, labels = ax_acc.get_legend_handles_labels()
    h2, l2 = ax_rel.get_legend_handles_labels()
    longest = max(len(t) for t in labels + l2)
    fig.legend(
        handles + h2, labels + l2, loc="outside lower center", fontsize="small",
        ncols=min(len(labels) + 2, 4 if longest < 24 else 3 if longest < 36 else 2),
    )  # fmt: skip
    with atomic_open(path, "wb") as f:
        fig.savefig(f, dpi=110, format="png")
    return path


def _strength(rows: Sequence[Row]) -> str | None:
    """The code strength the rows ran at, if one other than the paper's (``--strength``), with
    what it sets for each signal that ran at it (a pixel step, a blend weight, a count...)."""
    values = {float(r["strength"]) for r in rows if r.get("strength") is not None}
    if len(values) != 1:
        return None
    (v,) = values
    names = dict.fromkeys(str(r["signal"]) for r in rows if r.get("strength") is not None)
    sigs = [SIGNALS[n] for n in names if n in SIGNALS]
    default = sigs[0].default_strength if sigs else None
    if default is not None and math.isclose(v, default, rel_tol=1e-6):
        return None
    what = "; ".join(f"{s.name}: {s.strength}" for s in sigs if s.strength)
    return f"{v:g}" + (f" ({what})" if what else "")


def _header(rows: Sequence[Row]) -> str:
    r = rows[0]
    seeds = sorted({int(x["seed"]) for x in rows})
    strength = _strength(rows)
    paper = PAPER[_kind(rows)]["dataset"]
    lines = [
        f"# Blindspot benchmark: {r['dataset']}",
        "",
        f"Data: **{data_label(str(r['dataset']))}**; the paper ran on {paper}. "
        + f"{r.get('data_description', '')}".strip(),
        "",
        f"Train {r.get('n_train')} / test {r.get('n_test')} samples, {r.get('num_classes')} "
        f"classes; seeds {seeds}; signalinject {r.get('version')}."
        + (" **Shut-down control: blank data**, only the signal." if r.get("blank") else "")
        + ("" if strength is None else f" Code strength {strength}.")
        + " Torch models train on the "
        "whole training set, the scikit-learn baselines on a quarter of it (as in the paper). "
        "Percentages: the mean over seeds and its 95% interval [low, high] (Wilson at the "
        "test-set size for one seed; across seeds for several). *Decode*: the signal read back "
        "by its injector (its information content). *Reliance*: on a test copy whose signal "
        "encodes a wrong class, the fraction of predictions equal to that class. *Verdict*: "
        "**reads** when the interval's low end of reliance is at least half-way from chance "
        "(1/K) to 100%, **ignores** when the reliance is within a tenth of that way from "
        "chance, **partial** otherwise; **did not learn** replaces *ignores* for a model whose "
        "clean accuracy is not significantly above the test set's majority-class rate "
        f"(one-sided binomial test, p < {_stats.ALPHA:g}; never on blank data); **non-finite**: "
        "the model's outputs held NaN or infinity. *Best reader*: the competing model of "
        "highest reliance (ties: accuracy), if it reads the signal.",
    ]
    return "\n".join(lines)


def write_report(rows: Sequence[Row], out: str | Path) -> dict[str, Path]:
    """Write ``results.md``, ``table.csv`` (the headline table), ``results.csv``,
    ``summary.csv`` and ``results.png`` into ``out``.

    Returns:
        The paths written, by kind (``"table"``, ``"headline"``, ``"csv"``, ``"summary"``,
        ``"figure"``).
    """
    if not rows:
        raise ValueError("rows is empty: nothing to report")
    out = Path(out)
    make_dir(out)
    notes = _notes(rows)
    parts = [
        _header(rows),
        "## Table (the paper's Table 1 / Table 3, the paper beside us)",
        paper_table(rows),
        *([notes] if notes else []),
        "## Verdict of every model",
        verdict_table(rows),
        "## Accuracy of every model",
        model_table(rows, "accuracy"),
        "## Reliance of every model",
        model_table(rows, "reliance"),
        "## Shortcut drop of every model",
        "The accuracy on the clean test images of the model trained without the signal minus "
        "that of the model trained with it (same seed; One-Pixel Shortcut's measure, beside "
        "reliance, not a verdict), with its paired 95% interval; – on blank data.",
        model_table(rows, "shortcut_drop"),
    ]
    table = out / "results.md"
    atomic_write(table, "\n\n".join(parts) + "\n")
    return {
        "table": table,
        "headline": _write_headline_csv(rows, out / "table.csv"),
        "csv": write_csv(rows, out / "results.csv"),
        "summary": _write_summary_csv(rows, out / "summary.csv"),
        "figure": plot(rows, out / "results.png"),
    }


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``results.jsonl`` (bad lines are reported and left out)."""
    from signalinject.benchmarks.store import load_records, logger

    path = Path(path)
    records, bad = load_records(path)
    for no, _ in bad:
        logger.warning("%s:%d: corrupt, truncated or duplicated line left out", path, no)
    return list(records.values())
