"""Tables and figures from benchmark rows: Markdown in the shape of the paper's Tables 1 and 3,
CSV files, and a PNG chart of accuracy and reliance per signal and model.

Every number is a percentage, the mean over seeds, with the sample standard deviation
(``ddof=1``) when there is more than one seed: ``97.5 ± 0.4``.

>>> rows = [
...     {"dataset": "digits", "signal": s, "model": m, "seed": 0, "accuracy": a,
...      "gain": 0.0, "reliance": r, "decode_accuracy": d, "reliance_true_accuracy": None}
...     for s, m, a, r, d in [("clean", "convnet", 0.9, None, None),
...                           ("clean", "decision_tree", 0.8, None, None),
...                           ("one_pixel", "convnet", 0.91, 0.05, 1.0),
...                           ("one_pixel", "decision_tree", 1.0, 1.0, 1.0)]]
>>> print(paper_table(rows))  # doctest: +NORMALIZE_WHITESPACE
| Signal | Decode | ConvNet | ConvNet reliance | Best competing model | Accuracy | Reliance |
|---|---|---|---|---|---|---|
| Clean | – | 90.0 | – | Decision tree | 80.0 | – |
| One pixel | 100.0 | 91.0 | 5.0 | Decision tree | 100.0 | 100.0 |
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

from signalinject.benchmarks._files import atomic_open, atomic_write, make_dir
from signalinject.benchmarks.signals import SIGNALS

__all__ = [
    "MODEL_NAMES",
    "Stat",
    "model_table",
    "paper_table",
    "plot",
    "read_rows",
    "summarize",
    "write_csv",
    "write_report",
]

Row = Mapping[str, Any]

#: Display names of the models, as in the paper's tables.
MODEL_NAMES: dict[str, str] = {
    "convnet": "ConvNet",
    "charcnn": "Char-CNN",
    "shallow_max": "Shallow max-pool net",
    "perceptron": "Perceptron",
    "resnet18": "ResNet-18",
    "vit": "ViT",
    "mixer": "MLP-Mixer",
    "mlp": "MLP",
    "gaussian_nb": "Gaussian naive Bayes",
    "decision_tree": "Decision tree",
    "extra_trees": "Extra trees",
    "logistic_regression": "Logistic regression",
    "lda": "LDA",
    "qda": "QDA",
}

# The model each paper table is about, in order of preference.
_MAIN_MODELS = ("convnet", "charcnn")

METRICS = ("accuracy", "gain", "reliance", "decode_accuracy", "reliance_true_accuracy")

# Scalar fields of a result row written to results.csv, in this order.
CSV_FIELDS = (
    "dataset",
    "signal",
    "model",
    "seed",
    "accuracy",
    "clean_accuracy",
    "gain",
    "decode_accuracy",
    "reliance",
    "reliance_true_accuracy",
    "num_classes",
    "n_train",
    "n_fit",
    "n_test",
    "input_scale",
    "text_length",
    "fit_fraction",
    "blank",
    "strength",
    "device",
    "seconds",
    "version",
    "cell_id",
    "injector",
)


@dataclasses.dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation of a fraction over seeds (None: not applicable)."""

    mean: float | None
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Stat:
        """The statistic of the non-None values."""
        vals = [float(v) for v in values if v is not None]
        if not vals:
            return cls(None, None, 0)
        std = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
        return cls(float(np.mean(vals)), std, len(vals))

    def pct(self) -> str:
        """``"97.5 ± 0.4"`` (percent), ``"97.5"`` for one seed, ``"–"`` when not applicable."""
        if self.mean is None:
            return "–"
        if self.std is None:
            return f"{100 * self.mean:.1f}"
        return f"{100 * self.mean:.1f} ± {100 * self.std:.1f}"


def _order(values: Sequence[str], known: Sequence[str]) -> list[str]:
    """The distinct ``values``: those in ``known`` first in that order, then the rest as met."""
    seen = list(dict.fromkeys(values))
    return [k for k in known if k in seen] + [v for v in seen if v not in known]


def summarize(rows: Sequence[Row]) -> dict[tuple[str, str], dict[str, Stat]]:
    """Per ``(signal, model)``, a :class:`Stat` of each metric over the seeds.

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
        key: {m: Stat.of([g.get(m) for g in grp]) for m in METRICS} for key, grp in groups.items()
    }


def _signals(rows: Sequence[Row]) -> list[str]:
    return _order([str(r["signal"]) for r in rows], list(SIGNALS))


def _models(rows: Sequence[Row]) -> list[str]:
    return _order([str(r["model"]) for r in rows], list(MODEL_NAMES))


def _name(model: str) -> str:
    return MODEL_NAMES.get(model, model)


def _signal_name(signal: str) -> str:
    s = SIGNALS.get(signal)
    return s.paper_name if s is not None else signal


def _md(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def paper_table(rows: Sequence[Row], main_model: str | None = None) -> str:
    """The paper's Table 1 (images) / Table 3 (text) as Markdown, one line per signal.

    Columns: the signal's decode accuracy, the main model's (ConvNet or Char-CNN) accuracy and
    reliance, and the best competing model (highest mean accuracy on that signal) with its
    accuracy and reliance.

    Args:
        rows: result rows of one dataset (``run``'s output or ``results.jsonl``).
        main_model: the model of the paper's column; default ``convnet``, else ``charcnn``, else
            the first model met.
    """
    if not rows:
        raise ValueError("rows is empty: nothing to tabulate")
    stats = summarize(rows)
    models = _models(rows)
    main = main_model or next((m for m in _MAIN_MODELS if m in models), models[0])
    if main not in models:
        raise ValueError(f"main_model {main!r} is not in the rows; models: {models}")
    others = [m for m in models if m != main]
    header = ["Signal", "Decode", _name(main), f"{_name(main)} reliance"]
    if others:
        header += ["Best competing model", "Accuracy", "Reliance"]
    body = []
    for sig in _signals(rows):
        own = stats.get((sig, main))
        if own is None:
            continue
        line = [
            _signal_name(sig),
            own["decode_accuracy"].pct(),
            own["accuracy"].pct(),
            own["reliance"].pct(),
        ]
        cands = [(m, stats[(sig, m)]) for m in others if (sig, m) in stats]
        if cands:
            best, st = max(cands, key=lambda c: c[1]["accuracy"].mean or -math.inf)
            line += [_name(best), st["accuracy"].pct(), st["reliance"].pct()]
        elif others:
            line += ["–", "–", "–"]
        body.append(line)
    return _md(header, body)


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


def write_csv(rows: Sequence[Row], path: str | Path) -> Path:
    """One line per cell with the scalar fields (:data:`CSV_FIELDS`); the injector as JSON."""
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
    stats = summarize(rows)
    fields = ["signal", "model", "seeds"] + [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for sig in _signals(rows):
            for m in _models(rows):
                if (sig, m) not in stats:
                    continue
                st = stats[(sig, m)]
                line: list[Any] = [sig, m, st["accuracy"].n]
                for metric in METRICS:
                    line += [st[metric].mean, st[metric].std]
                w.writerow(["" if v is None else v for v in line])
    return path


def plot(rows: Sequence[Row], path: str | Path) -> Path:
    """A PNG with two panels of grouped bars, accuracy and reliance (%) per signal and model.

    Error bars are the standard deviation over seeds. Drawn with the Agg canvas directly, so the
    caller's matplotlib backend and pyplot state are untouched.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    stats = summarize(rows)
    signals, models = _signals(rows), _models(rows)
    fig = Figure(figsize=(max(6.0, 1.4 * len(signals) + 2), 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 1, sharex=True)
    width = 0.8 / len(models)
    x = np.arange(len(signals), dtype=np.float64)
    for ax, metric, label in zip(
        axes, ("accuracy", "reliance"), ("accuracy (%)", "reliance (%)"), strict=True
    ):
        for j, m in enumerate(models):
            means, errs = [], []
            for sig in signals:
                st = stats.get((sig, m), {}).get(metric)
                means.append(math.nan if st is None or st.mean is None else 100 * st.mean)
                errs.append(math.nan if st is None or st.std is None else 100 * st.std)
            ax.bar(
                x + (j - (len(models) - 1) / 2) * width,
                means,
                width,
                yerr=None if all(math.isnan(e) for e in errs) else errs,  # none for 1 seed
                label=_name(m),
                capsize=2,
            )
        ax.set_ylabel(label)
        ax.set_ylim(0, 105)
        ax.grid(axis="y", alpha=0.3)
    # the signal's own decode accuracy (its information content) as a line over each group
    decode_label: str | None = "decode (the signal's information)"
    for i, sig in enumerate(signals):
        dec = [stats[(sig, m)]["decode_accuracy"].mean for m in models if (sig, m) in stats]
        dec_v = [d for d in dec if d is not None]
        if dec_v:
            axes[0].hlines(
                100 * dec_v[0],
                i - 0.45,
                i + 0.45,
                colors="black",
                linestyles="--",
                label=decode_label,
            )
            decode_label = None  # one legend entry
    axes[0].set_title(f"{rows[0]['dataset']}: accuracy with the signal in train and test")
    axes[1].set_title("reliance: predictions equal to a wrong class written into the signal")
    axes[1].set_xticks(x, [_signal_name(s) for s in signals], rotation=20, ha="right")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="outside lower center", ncols=min(len(labels), 3), fontsize="small"
    )
    with atomic_open(path, "wb") as f:
        fig.savefig(f, dpi=110, format="png")
    return path


def _strength(rows: Sequence[Row]) -> float | None:
    """The code strength the rows ran at, if one other than the paper's (``--strength``)."""
    values = {float(r["strength"]) for r in rows if r.get("strength") is not None}
    if len(values) != 1:
        return None
    (v,) = values
    sig = SIGNALS.get(next(str(r["signal"]) for r in rows if r.get("strength") is not None))
    default = None if sig is None else sig.default_strength
    return None if default is not None and math.isclose(v, default, rel_tol=1e-6) else v


def _header(rows: Sequence[Row]) -> str:
    r = rows[0]
    seeds = sorted({int(x["seed"]) for x in rows})
    strength = _strength(rows)
    lines = [
        f"# Blindspot benchmark: {r['dataset']}",
        "",
        f"{r.get('data_description', '')}".strip(),
        "",
        f"Train {r.get('n_train')} / test {r.get('n_test')} samples, {r.get('num_classes')} "
        f"classes; seeds {seeds}; signalinject {r.get('version')}."
        + (" **Shut-down control: blank data**, only the signal." if r.get("blank") else "")
        + ("" if strength is None else f" Code strength {strength:g} (0..255 units).")
        + " Torch models train on the "
        "whole training set, the scikit-learn baselines on a quarter of it (as in the paper). "
        "Percentages, mean ± std over seeds. *Decode*: the signal read back by its injector "
        "(its information content). *Reliance*: on a test copy whose signal encodes a wrong "
        "class, the fraction of predictions equal to that class (~1: the model reads the "
        "signal; about 1/K or less: it ignores it).",
    ]
    return "\n".join(lines)


def write_report(rows: Sequence[Row], out: str | Path) -> dict[str, Path]:
    """Write ``results.md``, ``results.csv``, ``summary.csv`` and ``results.png`` into ``out``.

    Returns:
        The paths written, by kind (``"table"``, ``"csv"``, ``"summary"``, ``"figure"``).
    """
    if not rows:
        raise ValueError("rows is empty: nothing to report")
    out = Path(out)
    make_dir(out)
    md = (
        "\n\n".join(
            [
                _header(rows),
                "## Table (the paper's Table 1 / Table 3)",
                paper_table(rows),
                "## Accuracy of every model",
                model_table(rows, "accuracy"),
                "## Reliance of every model",
                model_table(rows, "reliance"),
            ]
        )
        + "\n"
    )
    table = out / "results.md"
    atomic_write(table, md)
    return {
        "table": table,
        "csv": write_csv(rows, out / "results.csv"),
        "summary": _write_summary_csv(rows, out / "summary.csv"),
        "figure": plot(rows, out / "results.png"),
    }


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``results.jsonl`` (bad lines are reported and left out)."""
    from signalinject.benchmarks.runner import load_records, logger

    path = Path(path)
    records, bad = load_records(path)
    for no, _ in bad:
        logger.warning("%s:%d: corrupt, truncated or duplicated line left out", path, no)
    return list(records.values())
