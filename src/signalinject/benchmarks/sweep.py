"""The signal-strength sweep: ``signalinject bench sweep``.

The paper's codes are faint: the one-pixel code of class k is the pixel value k, at most 9 of
255, and the pattern pixels are 0 or 1. A ConvNet ignoring such a code says little about a
high-contrast one. The sweep runs the benchmark at a list of code strengths (in 0..255 image
units, see :mod:`signalinject.benchmarks.signals`: the step between class codes for
``one_pixel`` and ``random_pixel``, the set-bit value for ``pattern_pixels``, the noise RMS for
``orthogonal_noise``) and draws, per signal, accuracy and reliance of each model against the
strength, showing where a model starts to read the signal. ``multiple_locations`` has no strength
(its code is where two pixels are equal, with a random value) and is skipped, as are the text
signals. Each signal also runs at the paper's strength (1, or RMS 7.65 for the noise), so the
chart shows the paper's point; a strength too large for a signal (e.g. a one-pixel step above
255 / (K - 1)) is skipped for that signal and listed.

Every point is an ordinary benchmark cell (the injector's config is in its identity), so a sweep
resumes like ``bench images`` and shares its clean cells and its paper-strength cells.

>>> cfg = SweepConfig(strengths=(4, 64), signals=("one_pixel", "orthogonal_noise"))
>>> runs, skipped = plan(cfg, num_classes=10)
>>> runs  # doctest: +NORMALIZE_WHITESPACE
[(1.0, ('one_pixel',)), (4.0, ('one_pixel', 'orthogonal_noise')),
 (7.65, ('orthogonal_noise',)), (64.0, ('orthogonal_noise',))]
>>> skipped
[('one_pixel', 64.0)]
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from signalinject.benchmarks._files import atomic_open, atomic_write, make_dir
from signalinject.benchmarks.grid import Share
from signalinject.benchmarks.report import MODEL_NAMES, Stat
from signalinject.benchmarks.runner import SUITES, BenchConfig, run, suite_for
from signalinject.benchmarks.scan import IGNORES, READS, verdict
from signalinject.benchmarks.signals import SIGNALS, STRENGTH_SIGNALS, check_strength

__all__ = [
    "DEFAULT_STRENGTHS",
    "SWEEP_SIGNALS",
    "SweepConfig",
    "onsets",
    "plan",
    "plot_sweep",
    "sweep",
    "sweep_table",
    "write_sweep_report",
]

logger = logging.getLogger("signalinject.benchmarks")

#: The image signals that have a strength.
SWEEP_SIGNALS: tuple[str, ...] = tuple(s for s in STRENGTH_SIGNALS if "image" in SIGNALS[s].kinds)

#: The default strengths (0..255 units): the paper's 1 up to the full pixel range. For 10 classes
#: a one-pixel or random-pixel step stops at 28 (class 9's code 252).
DEFAULT_STRENGTHS: tuple[float, ...] = (1, 4, 16, 28, 64, 128, 255)

Row = Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """What a sweep runs (the benchmark's settings plus the strengths).

    Args:
        strengths: code strengths in 0..255 image units (each signal also runs at the paper's).
        signals: signals to sweep; those without a strength are skipped with a note.
        models: as :class:`~signalinject.benchmarks.runner.BenchConfig`, as are ``epochs``,
            ``batch_size``, ``seeds``, ``device``, ``input_scale``, ``limit``, ``data_dir``,
            ``download`` and ``progress``.
        dataset: an image dataset.
        blank: sweep on blank images (the shut-down control) instead of the data.
        out: output directory (``results.jsonl``, ``sweep.*``, one PNG per signal).
    """

    strengths: tuple[float, ...] = DEFAULT_STRENGTHS
    signals: tuple[str, ...] = SWEEP_SIGNALS
    models: tuple[str, ...] = ("convnet", "decision_tree")
    dataset: str = "digits"
    epochs: int = SUITES["images"].epochs
    batch_size: int = SUITES["images"].batch_size
    seeds: tuple[int, ...] = (0,)
    device: str = "auto"
    input_scale: Literal["unit", "raw"] = "unit"
    blank: bool = False
    limit: int | None = None
    data_dir: str | None = None
    download: bool = False
    out: str = "signalinject-bench/sweep"
    progress: bool = True

    def __post_init__(self) -> None:
        if suite_for(self.dataset) != "images":
            raise ValueError(
                f"the sweep runs image signals; dataset {self.dataset!r} holds text (text "
                f"signals have no strength)"
            )
        if isinstance(self.strengths, (int, float)) or not self.strengths:
            raise ValueError(f"strengths must list at least one number, got {self.strengths!r}")
        for v in self.strengths:
            check_strength("orthogonal_noise", v)  # a number > 0; per-signal limits in plan
        object.__setattr__(self, "strengths", tuple(float(v) for v in self.strengths))
        if isinstance(self.signals, str) or not self.signals:
            raise ValueError(f"signals must list at least one signal, got {self.signals!r}")
        for name in self.signals:
            if name not in SIGNALS:
                raise ValueError(f"unknown signal {name!r}; known: {', '.join(SIGNALS)}")
        if not any(name in SWEEP_SIGNALS for name in self.signals):
            raise ValueError(
                f"none of the signals {list(self.signals)} has a strength; signals with one: "
                f"{', '.join(SWEEP_SIGNALS)}"
            )


def plan(
    cfg: SweepConfig, num_classes: int
) -> tuple[list[tuple[float, tuple[str, ...]]], list[tuple[str, float]]]:
    """The runs of a sweep: per strength (ascending) the signals that take it, and the
    ``(signal, strength)`` pairs skipped because the strength does not fit the signal."""
    per: dict[float, list[str]] = {}
    skipped: list[tuple[str, float]] = []
    for sig in cfg.signals:
        if sig not in SWEEP_SIGNALS:
            continue
        default = SIGNALS[sig].default_strength
        paper = () if default is None else (round(float(default), 6),)  # the paper's point
        for s in sorted({*cfg.strengths, *paper}):
            try:
                check_strength(sig, s, num_classes)
            except ValueError:
                skipped.append((sig, s))
                continue
            per.setdefault(s, []).append(sig)
    return [(s, tuple(per[s])) for s in sorted(per)], skipped


def sweep(cfg: SweepConfig, *, share: Share | None = None) -> list[dict[str, Any]]:
    """Run the sweep (``share`` of it, see :func:`~signalinject.benchmarks.runner.run`); return
    the runner's rows of every point (``clean`` included once).

    Each row carries its ``strength`` (None for ``clean``). Signals without a strength and
    strengths a signal cannot take are logged and skipped.
    """
    from signalinject.benchmarks.datasets import load_dataset

    for sig in cfg.signals:
        if sig not in SWEEP_SIGNALS:
            logger.warning("signal %s has no strength: skipped", sig)
    bundle = load_dataset(cfg.dataset, data_dir=cfg.data_dir, download=cfg.download, limit=1)
    runs, skipped = plan(cfg, bundle.num_classes)
    for sig, s in skipped:
        logger.warning(
            "strength %g does not fit %s with %d classes: skipped", s, sig, bundle.num_classes
        )
    rows: dict[str, dict[str, Any]] = {}
    for strength, signals in runs:
        bench = BenchConfig.for_suite(
            "images",
            dataset=cfg.dataset,
            signals=signals,
            models=cfg.models,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            seeds=cfg.seeds,
            device=cfg.device,
            input_scale=cfg.input_scale,
            blank=cfg.blank,
            limit=cfg.limit,
            data_dir=cfg.data_dir,
            download=cfg.download,
            out=cfg.out,
            progress=cfg.progress,
            strength=strength,
        )
        for r in run(bench, share=share):
            rows.setdefault(str(r["cell_id"]), r)  # the clean cells come back on every run
    return list(rows.values())


# -- analysis --------------------------------------------------------------------------------------
def _points(rows: Sequence[Row]) -> dict[tuple[str, str], list[tuple[float, dict[str, Stat]]]]:
    """Per (signal, model): ``(strength, stats over seeds)`` sorted by strength."""
    groups: dict[tuple[str, str, float], list[Row]] = {}
    for r in rows:
        if r["signal"] == "clean" or r.get("strength") is None:
            continue
        groups.setdefault((str(r["signal"]), str(r["model"]), float(r["strength"])), []).append(r)
    out: dict[tuple[str, str], list[tuple[float, dict[str, Stat]]]] = {}
    for (sig, m, s), grp in sorted(groups.items(), key=lambda kv: kv[0]):
        stats = {
            k: Stat.of([g.get(k) for g in grp])
            for k in ("accuracy", "reliance", "decode_accuracy", "gain")
        }
        out.setdefault((sig, m), []).append((s, stats))
    return out


def onsets(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Per (signal, model): the smallest swept strength at which the model ``reads`` the signal
    and the smallest at which it at least ``partial``-ly reads it (None: not in the sweep).

    Verdicts are from the mean reliance over seeds (:func:`signalinject.benchmarks.scan.verdict`).
    """
    k = int(rows[0]["num_classes"]) if rows else 2
    out = []
    for (sig, m), pts in _points(rows).items():
        verdicts = [(s, verdict(st["reliance"].mean, k)) for s, st in pts]
        out.append(
            {
                "signal": sig,
                "model": m,
                "paper_strength": SIGNALS[sig].default_strength,
                "reads_from": next((s for s, v in verdicts if v == "reads"), None),
                "partial_from": next((s for s, v in verdicts if v in ("reads", "partial")), None),
                "strengths": [s for s, _ in pts],
                "verdicts": [v for _, v in verdicts],
            }
        )
    return out


def _g(s: float | None) -> str:
    return "–" if s is None else f"{s:g}"


def sweep_table(rows: Sequence[Row]) -> str:
    """Markdown: per signal, one line per strength with each model's accuracy and reliance
    (percent, ``mean ± std`` over seeds) and verdict; then where each model starts reading."""
    pts = _points(rows)
    if not pts:
        raise ValueError("rows hold no swept signal: nothing to tabulate")
    k = int(rows[0]["num_classes"])
    models = list(dict.fromkeys(m for _, m in pts))
    met = {s for s, _ in pts}
    signals = [s for s in SIGNALS if s in met]  # in the benchmark's order
    parts: list[str] = []
    for sig in signals:
        strengths = sorted({s for m in models for s, _ in pts.get((sig, m), [])})
        header = ["Strength", "Decode"]
        for m in models:
            name = MODEL_NAMES.get(m, m)
            header += [f"{name} acc.", f"{name} reliance", f"{name} verdict"]
        body = []
        for s in strengths:
            line = [_g(s) + (" (paper)" if _is_paper(sig, s) else ""), "–"]
            for m in models:
                st = dict(pts.get((sig, m), [])).get(s)
                if st is None:
                    line += ["–", "–", "–"]
                    continue
                if line[1] == "–":
                    line[1] = st["decode_accuracy"].pct()
                line += [
                    st["accuracy"].pct(),
                    st["reliance"].pct(),
                    str(verdict(st["reliance"].mean, k) or "–"),
                ]
            body.append(line)
        parts.append(f"### {SIGNALS[sig].paper_name}: strength = {SIGNALS[sig].strength}")
        parts.append(_md(header, body))
    on = onsets(rows)
    header = ["Signal", "Paper's strength"]
    for m in models:
        header += [f"{MODEL_NAMES.get(m, m)} reads from", "partial from"]
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


def _is_paper(sig: str, s: float) -> bool:
    d = SIGNALS[sig].default_strength
    return d is not None and math.isclose(s, d, rel_tol=1e-6)


def _md(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _pct(v: float | None) -> float:
    return math.nan if v is None else 100 * v


def plot_sweep(rows: Sequence[Row], signal: str, path: str | Path) -> Path:
    """One signal's chart: accuracy (left) and reliance (right) of each model against the code
    strength (log axis), the decode accuracy dashed, the verdict thresholds dotted and the
    paper's strength marked. Error bars: std over seeds."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pts = {m: p for (s, m), p in _points(rows).items() if s == signal}
    if not pts:
        raise ValueError(f"rows hold no point of signal {signal!r}")
    path = Path(path)
    k = int(rows[0]["num_classes"])
    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax_acc, ax_rel = fig.subplots(1, 2, sharex=True)
    for m, p in pts.items():
        xs = [s for s, _ in p]
        for ax, metric in ((ax_acc, "accuracy"), (ax_rel, "reliance")):
            ys = [_pct(st[metric].mean) for _, st in p]
            err = [_pct(st[metric].std) for _, st in p]
            ax.errorbar(
                xs,
                ys,
                yerr=None if all(math.isnan(e) for e in err) else err,
                marker="o",
                capsize=2,
                label=MODEL_NAMES.get(m, m),
            )
    first = next(iter(pts.values()))
    dec = [_pct(st["decode_accuracy"].mean) for _, st in first]
    ax_acc.plot([s for s, _ in first], dec, "k--", lw=1, label="decode (the signal's information)")
    chance = 1 / k
    for level, name in ((READS, "reads"), (IGNORES, "ignores")):
        y = 100 * (chance + level * (1 - chance))
        ax_rel.axhline(y, color="gray", ls=":", lw=1)
        ax_rel.text(
            0.01, y + 1.5, f"{name} {'≥' if name == 'reads' else '<'} {y:.0f}%",
            transform=ax_rel.get_yaxis_transform(), fontsize=7, color="gray",
        )  # fmt: skip
    default = SIGNALS[signal].default_strength
    for ax in (ax_acc, ax_rel):
        ax.set_xscale("log", base=2)
        ax.set_ylim(0, 105)
        ax.grid(alpha=0.3)
        if default is not None:
            ax.axvline(default, color="tab:red", ls="-.", lw=1, alpha=0.6)
        ax.set_xlabel("code strength (0..255 units, log scale)", fontsize=8)
    if default is not None:
        ax_acc.text(default, 2, " paper", color="tab:red", fontsize=7)
    xs_all = sorted({s for p in pts.values() for s, _ in p})
    for ax in (ax_acc, ax_rel):
        ax.set_xticks(xs_all, [f"{s:g}" for s in xs_all], fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    ax_acc.set_ylabel("test accuracy (%)", fontsize=8)
    ax_rel.set_ylabel("reliance (%)", fontsize=8)
    ax_acc.legend(fontsize=7, loc="lower right")
    r0 = rows[0]
    blank = " (blank images)" if r0.get("blank") else ""
    scale = r0.get("input_scale") or "unit"
    fig.suptitle(
        f"{SIGNALS[signal].paper_name} on {r0['dataset']}{blank}, input {scale}: "
        f"strength = {SIGNALS[signal].strength}",
        fontsize=9,
    )
    make_dir(path.parent)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, dpi=100, format="png")
    return path


_CSV = ("signal", "strength", "model", "seed", "accuracy", "clean_accuracy", "gain",
        "decode_accuracy", "reliance", "verdict", "input_scale", "blank", "cell_id")  # fmt: skip


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
        f"# Signal-strength sweep: {r0['dataset']}{' (blank images)' if r0.get('blank') else ''}"
        f"\n\nTrain {r0.get('n_train')} / test {r0.get('n_test')} samples, {k} classes, image "
        f"input scale {r0.get('input_scale') or '–'} for torch models, seeds "
        f"{sorted({int(r['seed']) for r in rows})}. Percentages. Verdict from reliance: reads "
        f">= {hi:.0f}%, ignores < {lo:.0f}%, partial in between."
    )
    table = out / "sweep.md"
    atomic_write(table, head + "\n\n" + sweep_table(rows) + "\n")
    path_csv = out / "sweep.csv"
    with atomic_open(path_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=_CSV, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            line = {key: r.get(key) for key in _CSV}
            line["verdict"] = verdict(r.get("reliance"), k)
            w.writerow({key: "" if v is None else v for key, v in line.items()})
    paths: dict[str, Path] = {"table": table, "csv": path_csv}
    for sig in dict.fromkeys(str(r["signal"]) for r in rows if r.get("strength") is not None):
        paths[f"figure_{sig}"] = plot_sweep(rows, sig, out / f"sweep_{sig}.png")
    return paths
