"""The signal-strength sweep: ``signalinject bench sweep``.

The paper's codes are faint: the one-pixel code of class k is the pixel value k, at most 9 of
255, and the pattern pixels are 0 or 1. A ConvNet ignoring such a code says little about a
high-contrast one. The sweep runs the benchmark at a list of code strengths, each in the units
its signal declares (see [`signalinject.benchmarks.signals`][signalinject.benchmarks.signals]):
on images, 0..255 units (the step between class codes for ``one_pixel`` and ``random_pixel``,
the set-bit value for ``pattern_pixels``, the noise RMS for ``orthogonal_noise``); on text, a
count (``trigger_word``: the copies of the class word in each text). It draws, per signal,
accuracy and reliance of each model against the strength, showing where a model starts to read
the signal. The data set decides the kind: an image data set sweeps image signals, a text data
set text signals. Signals without a strength (``multiple_locations``: its code is where two
pixels are equal, with a random value; the paper's text signals: a character is a character)
are skipped. Each signal also runs at its default strength (the paper's: 1, or RMS 7.65 for the
noise; one word for ``trigger_word``, as in Kurita et al. 2020), so the chart shows the paper's
point; a strength a signal cannot take (a one-pixel step above 255 / (K - 1), a word count that
is not a whole number) is skipped for that signal and listed.

Every point is an ordinary benchmark cell (the injector's config is in its identity), so a sweep
resumes like ``bench images`` or ``bench text`` and shares their clean and default-strength cells.

Examples:
    >>> cfg = SweepConfig(strengths=(4, 64), signals=("one_pixel", "orthogonal_noise"))
    >>> runs, skipped = plan(cfg, num_classes=10)
    >>> runs  # doctest: +NORMALIZE_WHITESPACE
    [(1.0, ('one_pixel',)), (4.0, ('one_pixel', 'orthogonal_noise')),
     (7.65, ('orthogonal_noise',)), (64.0, ('orthogonal_noise',))]
    >>> skipped
    [('one_pixel', 64.0)]
    >>> text = SweepConfig(strengths=(2, 2.5, 100), settings=RunSettings(dataset="stdlib_code"))
    >>> text.signals, text.models
    (('trigger_word',), ('charcnn_narrow', 'decision_tree'))
    >>> plan(text, num_classes=5)  # doctest: +NORMALIZE_WHITESPACE
    ([(1.0, ('trigger_word',)), (2.0, ('trigger_word',))],
     [('trigger_word', 2.5), ('trigger_word', 100.0)])
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from signalinject.benchmarks._files import atomic_open, atomic_write, make_dir
from signalinject.benchmarks.grid import Share
from signalinject.benchmarks.registry import Kind, default_models, display_name
from signalinject.benchmarks.report import Stat, model_color, summarize, verdicts
from signalinject.benchmarks.runner import SUITES, BenchConfig, run, suite_for
from signalinject.benchmarks.settings import RunSettings, WithSettings
from signalinject.benchmarks.signals import SIGNALS, check_strength, signal_names, sweepable
from signalinject.benchmarks.stats import DID_NOT_LEARN, IGNORES, NON_FINITE, READS
from signalinject.benchmarks.store import preprocess_of
from signalinject.core import list_signals

__all__ = ["SweepConfig", "sweep"]

logger = logging.getLogger("signalinject.benchmarks")

#: The default strengths per data kind. Images (0..255 units): the paper's 1 up to the full
#: pixel range; for 10 classes a one-pixel or random-pixel step stops at 28 (class 9's code 252).
#: Text (counts): one to 16 copies of a class word.
DEFAULT_STRENGTHS: Mapping[Kind, tuple[float, ...]] = {
    "image": (1, 4, 16, 28, 64, 128, 255),
    "text": (1, 2, 4, 8, 16),
}

Row = Mapping[str, Any]


def sweep_signals(kind: Kind) -> tuple[str, ...]:
    """The signals a sweep on ``kind`` data runs by default: the benchmark's default signals of
    that kind that have a strength (images: the paper's four); where none has one (text: the
    paper's signals have no strength), every registered signal of that kind with one (text:
    ``trigger_word``).

    Examples:
        >>> sweep_signals("image"), sweep_signals("text")
        (('one_pixel', 'pattern_pixels', 'random_pixel', 'orthogonal_noise'), ('trigger_word',))
    """
    paper = tuple(s for s in signal_names(kind) if sweepable(s, kind))
    return paper or tuple(s for s in list_signals(kind) if sweepable(s, kind))


@dataclasses.dataclass(frozen=True)
class SweepConfig(WithSettings):
    """What a sweep runs (the strengths, and the benchmark's settings).

    The data set decides the kind (image or text) and so the defaults.

    Args:
        strengths: code strengths in each signal's units (0..255 image units; a word count for
            ``trigger_word``); each signal also runs at its default. None: `DEFAULT_STRENGTHS` of
            the data's kind.
        signals: signals to sweep, all of the data's kind; those without a strength are skipped
            with a note. None: `sweep_signals` of
            the data's kind.
        models: as [`BenchConfig`][signalinject.benchmarks.runner.BenchConfig]; None: the
            registry's ``sweep`` models of the data's kind (the suite's ConvNet, the paper's or
            Zhang et al.'s character CNN at the text suite's width, and the decision tree).
        blank: sweep on blank data (the shut-down control: all-zero images, empty texts) instead
            of the data.
        settings: what every run shares
            ([`RunSettings`][signalinject.benchmarks.settings.RunSettings]): a data set (default:
            the image suite's), seeds, training, limit, the output directory (default
            ``signalinject-bench/sweep``: ``results.jsonl``, ``sweep.*``, one PNG per signal),
            progress.

    After construction ``strengths``, ``signals`` and ``models`` hold tuples (the defaults
    resolved).
    """

    strengths: tuple[float, ...] | None = None
    signals: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None
    blank: bool = False
    settings: RunSettings = dataclasses.field(default_factory=RunSettings)

    DEFAULT_DATASET: ClassVar[str] = SUITES["images"].dataset
    DEFAULT_OUT: ClassVar[str] = "signalinject-bench/sweep"

    def __post_init__(self) -> None:
        self._check_settings()
        kind = self.kind  # an unknown data set fails here
        strengths = DEFAULT_STRENGTHS[kind] if self.strengths is None else self.strengths
        if isinstance(strengths, (int, float)) or not strengths:
            raise ValueError(f"strengths must list at least one number, got {strengths!r}")
        for v in strengths:
            check_strength("orthogonal_noise", v)  # a number > 0; per-signal limits in plan
        object.__setattr__(self, "strengths", tuple(float(v) for v in strengths))
        signals = sweep_signals(kind) if self.signals is None else self.signals
        if isinstance(signals, str) or not signals:
            raise ValueError(f"signals must list at least one signal, got {signals!r}")
        for name in signals:
            sig = SIGNALS.get(name)
            if sig is None:
                raise ValueError(f"unknown signal {name!r}; known: {', '.join(SIGNALS)}")
            if kind not in sig.kinds:
                raise ValueError(
                    f"signal {name!r} applies to {'/'.join(sig.kinds)} data, but dataset "
                    f"{self.dataset!r} holds {kind} data; {kind} signals with a strength: "
                    f"{', '.join(sweep_signals(kind))}"
                )
        object.__setattr__(self, "signals", tuple(signals))
        if not any(sweepable(name) for name in signals):
            raise ValueError(
                f"none of the signals {list(signals)} has a strength; {kind} signals with one: "
                f"{', '.join(sweep_signals(kind))}"
            )
        models = default_models("sweep", kind) if self.models is None else self.models
        object.__setattr__(self, "models", models)  # checked by the runner's BenchConfig

    @property
    def kind(self) -> Kind:
        """The data kind of the data set, ``"image"`` or ``"text"``."""
        return SUITES[suite_for(self.dataset)].kind


def plan(
    cfg: SweepConfig, num_classes: int
) -> tuple[list[tuple[float, tuple[str, ...]]], list[tuple[str, float]]]:
    """The runs of a sweep: per strength (ascending) the signals that take it, and the
    ``(signal, strength)`` pairs skipped because the strength does not fit the signal."""
    per: dict[float, list[str]] = {}
    skipped: list[tuple[str, float]] = []
    for sig in cfg.signals or ():  # resolved: never None after construction
        if not sweepable(sig):
            continue
        default = SIGNALS[sig].default_strength
        paper = () if default is None else (round(float(default), 6),)  # the default's point
        for s in sorted({*(cfg.strengths or ()), *paper}):
            try:
                check_strength(sig, s, num_classes)
            except ValueError:
                skipped.append((sig, s))
                continue
            per.setdefault(s, []).append(sig)
    return [(s, tuple(per[s])) for s in sorted(per)], skipped


def sweep(cfg: SweepConfig, *, share: Share | None = None) -> list[dict[str, Any]]:
    """Run the sweep (``share`` of it, see [`run`][signalinject.benchmarks.runner.run]); return
    the runner's rows of every point (``clean`` included once).

    Each row carries its ``strength`` (None for ``clean``). Signals without a strength and
    strengths a signal cannot take are logged and skipped.
    """
    from signalinject.benchmarks.datasets import load_dataset

    for sig in cfg.signals or ():
        if not sweepable(sig):
            logger.warning("signal %s has no strength: skipped", sig)
    bundle = load_dataset(
        cfg.dataset, data_dir=cfg.settings.data_dir, download=cfg.settings.download, limit=1
    )
    runs, skipped = plan(cfg, bundle.num_classes)
    for sig, s in skipped:
        try:
            check_strength(sig, s, bundle.num_classes)
        except ValueError as e:  # always: plan skipped it for this
            logger.warning(
                "strength %g does not fit %s with %d classes: skipped (%s)",
                s, sig, bundle.num_classes, e,
            )  # fmt: skip
    rows: dict[str, dict[str, Any]] = {}
    settings = cfg.run_settings()
    for strength, signals in runs:
        bench = BenchConfig(
            suite=suite_for(cfg.dataset),
            signals=signals,
            models=cfg.models or (),  # resolved: never None after construction
            blank=cfg.blank,
            strength=strength,
            settings=settings,
        )
        for r in run(bench, share=share):
            rows.setdefault(str(r["cell_id"]), r)  # the clean cells come back on every run
    return list(rows.values())


# -- analysis --------------------------------------------------------------------------------------
Point = tuple[float, dict[str, Stat], str | None]


def _points(rows: Sequence[Row]) -> dict[tuple[str, str], list[Point]]:
    """Per (signal, model): ``(strength, stats over seeds, verdict)`` sorted by strength.

    Each strength is judged with the model's clean cells, as a benchmark run at that strength
    ([`verdicts`][signalinject.benchmarks.report.verdicts]: the
    reliance's interval, ``did not learn``, ``non-finite``).
    """
    clean = [r for r in rows if r["signal"] == "clean"]
    by_strength: dict[float, list[Row]] = {}
    for r in rows:
        if r["signal"] != "clean" and r.get("strength") is not None:
            by_strength.setdefault(float(r["strength"]), []).append(r)
    out: dict[tuple[str, str], list[Point]] = {}
    for s in sorted(by_strength):
        sub = [*clean, *by_strength[s]]
        stats, verdict = summarize(sub), verdicts(sub)
        for (sig, m), st in sorted(stats.items()):
            if sig != "clean":
                out.setdefault((sig, m), []).append((s, st, verdict.get((sig, m))))
    return {key: out[key] for key in sorted(out)}


def onsets(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Per (signal, model): the smallest swept strength at which the model ``reads`` the signal
    and the smallest at which it at least ``partial``-ly reads it (None: not in the sweep).

    Verdicts are those of
    [`verdicts`][signalinject.benchmarks.report.verdicts] at each
    strength.
    """
    out = []
    for (sig, m), pts in _points(rows).items():
        out.append(
            {
                "signal": sig,
                "model": m,
                "paper_strength": SIGNALS[sig].default_strength,
                "reads_from": next((s for s, _, v in pts if v == "reads"), None),
                "partial_from": next((s for s, _, v in pts if v in ("reads", "partial")), None),
                "strengths": [s for s, _, _ in pts],
                "verdicts": [v for _, _, v in pts],
            }
        )
    return out


def _g(s: float | None) -> str:
    return "–" if s is None else f"{s:g}"


def sweep_table(rows: Sequence[Row]) -> str:
    """Markdown: per signal, one line per strength with each model's accuracy and reliance
    (percent, mean and 95% interval) and verdict; then where each model starts reading."""
    pts = _points(rows)
    if not pts:
        raise ValueError("rows hold no swept signal: nothing to tabulate")
    models = list(dict.fromkeys(m for _, m in pts))
    met = {s for s, _ in pts}
    signals = [s for s in SIGNALS if s in met]  # in the benchmark's order
    parts: list[str] = []
    for sig in signals:
        strengths = sorted({s for m in models for s, _, _ in pts.get((sig, m), [])})
        header = ["Strength", "Decode"]
        for m in models:
            name = display_name(m)
            header += [f"{name} acc.", f"{name} reliance", f"{name} verdict"]
        body = []
        for s in strengths:
            line = [_g(s) + (f" ({_default_word(sig)})" if _is_default(sig, s) else ""), "–"]
            for m in models:
                pt = next((p for p in pts.get((sig, m), []) if p[0] == s), None)
                if pt is None:
                    line += ["–", "–", "–"]
                    continue
                _, st, v = pt
                if line[1] == "–":
                    line[1] = st["decode_accuracy"].pct()
                line += [st["accuracy"].pct(), st["reliance"].pct(), str(v or "–")]
            body.append(line)
        parts.append(f"### {SIGNALS[sig].paper_name}: strength = {SIGNALS[sig].strength}")
        parts.append(_md(header, body))
    on = onsets(rows)
    header = ["Signal", "Default strength"]
    for m in models:
        header += [f"{display_name(m)} reads from", "partial from"]
    body = []
    for sig in signals:
        line = [SIGNALS[sig].paper_name, _g(SIGNALS[sig].default_strength)]
        for m in models:
            o = next((o for o in on if o["signal"] == sig and o["model"] == m), None)
            line += ["–", "–"] if o is None else [_g(o["reads_from"]), _g(o["partial_from"])]
        body.append(line)
    parts.append(
        "### Where each model starts reading the signal (the smallest strength swept with that "
        "verdict; –: at none)"
    )
    parts.append(_md(header, body))
    return "\n\n".join(parts)


def _is_default(sig: str, s: float) -> bool:
    d = SIGNALS[sig].default_strength
    return d is not None and math.isclose(s, d, rel_tol=1e-6)


def _default_word(sig: str) -> str:
    """What a signal's default strength is: ``paper`` (the paper's signals), else ``default``
    (the value of the work a signal comes from, e.g. one word for ``trigger_word``)."""
    cls = SIGNALS[sig].cls
    return "paper" if cls is not None and cls.default_grid else "default"


def _inputs(rows: Sequence[Row], *, short: bool = False) -> str:
    """What the models saw, in words: the text length, or the torch models' image preprocessing
    (the first row that records one; ``short``: ``input standardize``, for a chart's title)."""
    row = rows[0]
    if row.get("text_length") is not None:
        return f"text length {row['text_length']}"
    mode = next((m for m in map(preprocess_of, rows) if m), "–")
    return f"input {mode}" if short else f"image preprocessing {mode} for torch models"


def _blank(row: Row) -> str:
    """`` (blank images)`` or `` (empty texts)`` for a row of the shut-down control, else ``""``."""
    if not row.get("blank"):
        return ""
    return " (empty texts)" if row.get("text_length") is not None else " (blank images)"


def _md(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _pct(v: float | None) -> float:
    return math.nan if v is None else 100 * v


def plot_sweep(rows: Sequence[Row], signal: str, path: str | Path) -> Path:
    """One signal's chart: accuracy (left) and reliance (right) of each model against the code
    strength (log axis), the decode accuracy dashed, chance and the verdict thresholds dotted,
    the default strength marked (``paper`` for the paper's signals). Error bars: 95% intervals.
    One colour per model (`model_color`); a model
    that did not learn the clean task, or gave non-finite outputs, says so in the legend and is
    drawn dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pts = {m: p for (s, m), p in _points(rows).items() if s == signal}
    if not pts:
        raise ValueError(f"rows hold no point of signal {signal!r}")
    path = Path(path)
    k = int(rows[0]["num_classes"])
    # 7.2 in wide: 8 pt text stays >= 9 px where the docs show it 690 px wide (figures.shown_px)
    fig = Figure(figsize=(7.2, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax_acc, ax_rel = fig.subplots(1, 2, sharex=True)
    word = _default_word(signal)
    models = list(pts)
    for m, p in pts.items():
        xs = [s for s, _, _ in p]
        failed = {str(v) for _, _, v in p} & {DID_NOT_LEARN, NON_FINITE}
        label = display_name(m) + (f" ({', '.join(sorted(failed))})" if failed else "")
        for ax, metric in ((ax_acc, "accuracy"), (ax_rel, "reliance")):
            ys = [_pct(st[metric].mean) for _, st, _ in p]
            lo = [y - _pct(st[metric].low) for y, (_, st, _) in zip(ys, p, strict=True)]
            hi = [_pct(st[metric].high) - y for y, (_, st, _) in zip(ys, p, strict=True)]
            ax.errorbar(
                xs, ys, yerr=[[max(0.0, v) for v in lo], [max(0.0, v) for v in hi]],
                marker="o", capsize=2, color=model_color(m, models),
                ls="--" if failed else "-", label=label,
            )  # fmt: skip
            zero = [x for x, y in zip(xs, ys, strict=True) if y == y and y < 0.5]
            if metric == "reliance" and zero:  # a visible mark on every 0%
                ax.plot(
                    zero, [0.0] * len(zero), marker="^", ls="none", ms=6, clip_on=False,
                    color=model_color(m, models), markeredgecolor="black", zorder=3,
                )  # fmt: skip
    first = next(iter(pts.values()))
    dec = [_pct(st["decode_accuracy"].mean) for _, st, _ in first]
    ax_acc.plot(
        [s for s, _, _ in first], dec, "k--", lw=1, label="decode (the signal's information)"
    )
    chance = 1 / k
    ax_rel.axhline(100 * chance, color="black", ls=":", lw=1.2)
    ax_rel.text(
        0.99, 100 * chance + 1.5, f"chance {100 * chance:.0f}%", ha="right",
        transform=ax_rel.get_yaxis_transform(), fontsize=8,
    )  # fmt: skip
    for level, name in ((READS, "reads"), (IGNORES, "ignores")):
        y = 100 * (chance + level * (1 - chance))
        ax_rel.axhline(y, color="gray", ls=":", lw=1)
        ax_rel.text(
            0.01, y + 1.5, f"{name} {'≥' if name == 'reads' else '<'} {y:.0f}%",
            transform=ax_rel.get_yaxis_transform(), fontsize=8, color="gray",
        )  # fmt: skip
    default = SIGNALS[signal].default_strength
    accs = [st["accuracy"].low for p in pts.values() for _, st, _ in p]
    low = min((100 * a for a in accs if a is not None), default=0.0)
    ax_acc.set_ylim(max(0.0, 10 * math.floor((low - 3) / 10)), 101)  # shows the differences
    ax_rel.set_ylim(0, 105)
    for ax in (ax_acc, ax_rel):
        ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
        if default is not None:
            ax.axvline(default, color="tab:red", ls="-.", lw=1, alpha=0.6)
        # one line for the paper's signals; a longer description (a word count) wraps
        xlabel = textwrap.fill(f"strength: {SIGNALS[signal].strength} (log scale)", 50)
        ax.set_xlabel(xlabel, fontsize=8.5)
    if default is not None:
        ax_acc.text(default, ax_acc.get_ylim()[0] + 2, f" {word}", color="tab:red", fontsize=8)
    xs_all = sorted({s for p in pts.values() for s, _, _ in p})
    for ax in (ax_acc, ax_rel):
        ax.set_xlim(xs_all[0] / 1.3, xs_all[-1] * 1.3)
        ax.set_xticks(xs_all, [f"{s:g}" for s in xs_all], fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
    ax_acc.set_ylabel("test accuracy (%), 95% interval", fontsize=8.5)
    ax_rel.set_ylabel("reliance (%), 95% interval", fontsize=8.5)
    ax_acc.legend(fontsize=8, loc="lower right")
    r0 = rows[0]
    blank = _blank(r0)
    title = (
        f"{SIGNALS[signal].paper_name} on {r0['dataset']}{blank}, {_inputs(rows, short=True)}: "
        f"strength = {SIGNALS[signal].strength}"
    )
    fig.suptitle(textwrap.fill(title, 100), fontsize=10)  # 100 characters fit 7.2 in at 10 pt
    make_dir(path.parent)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, dpi=100, format="png")
    return path


_CSV = ("signal", "strength", "model", "seed", "accuracy", "accuracy_low", "accuracy_high",
        "clean_accuracy", "gain", "decode_accuracy", "reliance", "reliance_low", "reliance_high",
        "clean_accuracy_injected", "shortcut_drop", "shortcut_drop_low", "shortcut_drop_high",
        "verdict", "majority_rate", "clean_p_value", "nonfinite_outputs", "preprocess",
        "text_length", "blank", "cell_id")  # fmt: skip


def write_sweep_report(rows: Sequence[Row], out: str | Path) -> dict[str, Path]:
    """Write ``sweep.md``, ``sweep.csv`` and ``sweep_<signal>.png`` per signal into ``out``.

    Returns:
        The paths by kind: ``"table"``, ``"csv"`` and ``"figure_<signal>"``.
    """
    if not rows:
        raise ValueError("rows is empty: nothing to report")
    out = Path(out)
    make_dir(out)
    r0 = rows[0]
    k = int(r0["num_classes"])
    lo, hi = 100 * (1 / k + IGNORES * (1 - 1 / k)), 100 * (1 / k + READS * (1 - 1 / k))
    head = (
        f"# Signal-strength sweep: {r0['dataset']}{_blank(r0)}"
        f"\n\nTrain {r0.get('n_train')} / test {r0.get('n_test')} samples, {k} classes, "
        f"{_inputs(rows)}, seeds "
        f"{sorted({int(r['seed']) for r in rows})}. Percentages, mean and 95% interval. Verdict "
        f"from the reliance: reads if its 95% interval's low end >= {hi:.0f}%, ignores if it is "
        f"< {lo:.0f}%, partial otherwise; 'did not learn' replaces 'ignores' for a model "
        "whose clean accuracy is not significantly above the majority-class rate (one-sided "
        "binomial test, p < 0.01; not on blank data), 'non-finite' marks NaN or infinite outputs."
    )
    table = out / "sweep.md"
    atomic_write(table, head + "\n\n" + sweep_table(rows) + "\n")
    path_csv = out / "sweep.csv"
    with atomic_open(path_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=_CSV, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            line = {key: r.get(key) for key in _CSV}
            line["preprocess"] = preprocess_of(r)  # a 0.1.x line's input_scale
            if r["signal"] != "clean" and r.get("strength") is not None:  # this seed's verdict
                one = [c for c in rows if c["signal"] == "clean" and c["seed"] == r["seed"]]
                line["verdict"] = verdicts([*one, r]).get((r["signal"], r["model"]))
            w.writerow({key: "" if v is None else v for key, v in line.items()})
    paths: dict[str, Path] = {"table": table, "csv": path_csv}
    for sig in dict.fromkeys(str(r["signal"]) for r in rows if r.get("strength") is not None):
        paths[f"figure_{sig}"] = plot_sweep(rows, sig, out / f"sweep_{sig}.png")
    return paths
