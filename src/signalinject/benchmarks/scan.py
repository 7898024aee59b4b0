"""The blindspot scan of a user's own model: ``signalinject scan MODULE:FACTORY``.

The scan injects every signal that applies to the data (image or text) into the training and
test sets, trains the user's model on each through the benchmark runner
([`run`][signalinject.benchmarks.runner.run]), and reports per
signal: the signal's decode accuracy, the model's clean accuracy and its accuracy with the signal,
    its *reliance* on the
signal (on a test copy whose signal encodes a wrong class, the fraction of predictions equal to
that class), the paper's *information shut-down* control (the same on blank data, where the
signal is the only information) and a one-word verdict.

The factory
    ``MODULE:FACTORY`` names a callable ``factory(input_shape, num_classes)`` in a module (a
    dotted module name, importable from the current directory, or a path to a ``.py`` file). It
    returns a fresh, untrained model per call:

    - a ``torch.nn.Module`` mapping a batch to logits ``(N, num_classes)``; images come as
      float32 ``(N, C, H, W)`` (``input_shape == (C, H, W)``), preprocessed by ``preprocess``
      (by default standardised per channel by the training set's mean and standard deviation;
      ``"unit"``: 0..1, ``"raw"``: 0..255), texts as int64 character codes ``(N, L)``
      (``input_shape == (L,)``, 0 padding, 1..70 Zhang et al.'s alphabet). It is trained with
      AdamW and cross-entropy ([`fit`][signalinject.benchmarks.train.fit]);
    - or a scikit-learn-style estimator (``fit(X, y)``, ``predict(X)``) on float32 ``(N, D)``:
      the flattened images, preprocessed the same way, or the codes.

    A built-in model's name (``convnet``, ``shallow_max``, ``decision_tree``, ...) may stand in
    for a factory, e.g. as a reference.

The verdict
    Reliance is compared with chance: a model whose predictions do not depend on the signal hits
    the wrong class written into it with probability ``(1 - accuracy) / (K - 1)``, at most
    ``1/K`` for a model at least as good as chance. With the *normalized reliance*
    ``rho = (reliance - 1/K) / (1 - 1/K)`` (0 at chance, 1 when every prediction follows the
    signal); a claim of reading is judged on the low end of the reliance's 95% interval (Wilson
    at the number of test samples that carry the signal for one seed, across seeds for several;
    see [`signalinject.benchmarks.stats`][signalinject.benchmarks.stats]):

    =================  =============================================  ========================
    verdict            rule                                           for K = 10 (no interval)
    =================  =============================================  ========================
    ``reads``          ``rho >= 0.5`` at the interval's low end       reliance >= 55%
    ``partial``        in between
    ``ignores``        ``rho < 0.1``                                  reliance < 19%
    ``did not learn``  ``ignores``, but the model's clean accuracy is
                       not significantly above the test set's
                       majority-class rate (one-sided binomial test,
                       p < 0.01); never on blank data
    ``non-finite``     the model's outputs held NaN or infinity
    =================  =============================================  ========================

    A model that did not learn the clean task but follows the signal still ``reads`` it. (For
    K = 2 reliance cannot tell reading the signal from erring, since the wrong class is the only
    other class; read the shut-down columns too.)

Examples:
    >>> from signalinject.benchmarks.stats import verdict
    >>> verdict(0.9, 10), verdict(0.3, 10), verdict(0.05, 10), verdict(None, 10)
    ('reads', 'partial', 'ignores', None)
"""

from __future__ import annotations

import csv
import dataclasses
import json
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from signalinject.benchmarks._files import atomic_open, atomic_write, make_dir
from signalinject.benchmarks._user_code import SPEC_HELP
from signalinject.benchmarks.errors import ModelFactoryError
from signalinject.benchmarks.registry import (
    MODELS,
    CustomModel,
    default_dataset,
    display_name,
    find_model,
    load_factory,
)
from signalinject.benchmarks.registry import (
    custom_model as custom_model,  # the scan's factories (examples/scan_your_model.py)
)
from signalinject.benchmarks.report import Stat, model_fits, summarize, verdicts
from signalinject.benchmarks.runner import SUITES, BenchConfig, run, suite_for
from signalinject.benchmarks.settings import RunSettings, WithSettings, flat_config
from signalinject.benchmarks.signals import SIGNALS, signal_names
from signalinject.benchmarks.stats import IGNORES, READS
from signalinject.benchmarks.store import preprocess_of

__all__ = ["ScanConfig", "config_summary", "scan", "scan_table", "write_scan_report"]

Row = Mapping[str, Any]

#: The fields of a scan row (``scan.csv``'s columns, in order).
SCAN_FIELDS = (
    "model",
    "model_name",
    "signal",
    "signal_name",
    "dataset",
    "num_classes",
    "seeds",
    "n_train",
    "n_test",
    "preprocess",
    "clean_accuracy",
    "decode_accuracy",
    "accuracy",
    "gain",
    "reliance",
    "reliance_true_accuracy",
    "verdict",
    "blank_clean_accuracy",
    "blank_decode_accuracy",
    "blank_accuracy",
    "blank_reliance",
    "blank_verdict",
    "reliance_std",
    "blank_reliance_std",
    "accuracy_std",
    "blank_accuracy_std",
    "clean_accuracy_low",
    "clean_accuracy_high",
    "blank_clean_accuracy_low",
    "blank_clean_accuracy_high",
    "accuracy_low",
    "accuracy_high",
    "reliance_low",
    "reliance_high",
    "blank_accuracy_low",
    "blank_accuracy_high",
    "blank_reliance_low",
    "blank_reliance_high",
    "majority_rate",
    "clean_p_value",
    "learned",
    "finite",
    "clean_accuracy_injected",
    "shortcut_drop",
    "shortcut_drop_low",
    "shortcut_drop_high",
)


# -- the scan ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ScanConfig(WithSettings):
    """What a scan runs.

    Args:
        models: ``MODULE:FACTORY`` strings, built-in model names, or
            `CustomModel`s.
        signals: the signals to scan (``clean`` always runs); None: every signal of the data's
            kind (the data set's kind, image or text, selects them).
        text_length: characters per text after quantization (None: the dataset's default).
        fit_fraction: fraction of the training set an estimator fits on (1.0: all of it, as
            the torch models; the paper's baselines used 0.25).
        shutdown: also run the information shut-down control (blank data).
        settings: what every run shares
            ([`RunSettings`][signalinject.benchmarks.settings.RunSettings]): the data set (default
            ``"digits"``), seeds (numbers are the mean ± std over them), training, limit,
            the output directory (default ``signalinject-scan``: the runner's ``results.jsonl``,
            ``scan.*``), progress.
    """

    models: tuple[str | CustomModel, ...]
    signals: tuple[str, ...] | None = None
    text_length: int | None = None
    fit_fraction: float = 1.0
    shutdown: bool = True
    settings: RunSettings = dataclasses.field(default_factory=RunSettings)

    DEFAULT_DATASET: ClassVar[str] = default_dataset("scan")
    DEFAULT_OUT: ClassVar[str] = "signalinject-scan"

    def __post_init__(self) -> None:
        if isinstance(self.models, (str, CustomModel)) or not isinstance(self.models, Iterable):
            raise TypeError(f"models must be a sequence of models, got {self.models!r}")
        object.__setattr__(self, "models", tuple(self.models))
        if not self.models:
            raise ValueError("models must name at least one model to scan, got none")
        self._check_settings()
        suite_for(self.dataset)  # an unknown dataset fails here

    def bench_config(self, *, blank: bool = False) -> BenchConfig:
        """The runner's configuration of this scan (factories imported here)."""
        names: list[str] = []
        custom: list[CustomModel] = []
        for m in self.models:
            if isinstance(m, CustomModel):
                custom.append(m)
                names.append(m.name)
            elif isinstance(m, str) and find_model(m) is not None:
                names.append(m)
            elif isinstance(m, str) and ":" not in m:
                builtin = ", ".join(MODELS)
                raise ModelFactoryError(f"{SPEC_HELP}, or a built-in model ({builtin}); got {m!r}")
            else:
                cm = load_factory(m)
                custom.append(cm)
                names.append(cm.name)
        suite = suite_for(self.dataset)
        return BenchConfig(
            suite=suite,
            signals=signal_names(SUITES[suite].kind) if self.signals is None else self.signals,
            models=tuple(names),
            custom_models=tuple(custom),
            text_length=self.text_length,
            fit_fraction=self.fit_fraction,
            blank=blank,
            settings=self.run_settings(),
        )


def scan(cfg: ScanConfig) -> list[dict[str, Any]]:
    """Run the scan (resumable: finished cells in ``cfg.out`` are reused); one row per
    (model, signal), see `summarize_scan`."""
    bench = cfg.bench_config()
    rows = run(bench)
    blank = run(dataclasses.replace(bench, blank=True)) if cfg.shutdown else []
    return summarize_scan(rows, blank)


def _display_names(models: Sequence[str]) -> dict[str, str]:
    """Short names: a built-in's display name, else the factory's name (the whole spec where two
    factories share a name)."""
    short = {m: display_name(m) for m in models}
    short = {m: n if n != m else m.rpartition(":")[2] or m for m, n in short.items()}
    counts: dict[str, int] = {}
    for s in short.values():
        counts[s] = counts.get(s, 0) + 1
    return {m: s if counts[s] == 1 else m for m, s in short.items()}


def summarize_scan(rows: Sequence[Row], blank_rows: Sequence[Row] = ()) -> list[dict[str, Any]]:
    """The scan's rows from the runner's rows on the data and on blank data.

    Returns:
        One dict per (model, signal other than clean), in run order, with the fields of
        `SCAN_FIELDS`: fractions in [0, 1] (means over
        seeds; ``*_std`` the sample standard deviation, None for one seed; ``*_low``/``*_high`` the
        95% interval), ``verdict`` and ``blank_verdict``
        (`verdict` on the reliance's interval; ``did not
        learn`` only on the data, never on blank data), ``learned`` (the clean accuracy is
        significantly above the test set's ``majority_rate``: one-sided binomial ``clean_p_value`` <
        0.01) and ``finite`` (no NaN or infinite output); ``clean_accuracy`` is the model without a
        signal, ``blank_clean_accuracy`` the same on blank data (chance); the ``blank_*`` fields are
        None without the shut-down control.

    Raises:
        ValueError: no rows, or rows of several datasets.
    """
    if not rows:
        raise ValueError("rows is empty: nothing to summarize")
    datasets = sorted({str(r["dataset"]) for r in (*rows, *blank_rows)})
    if len(datasets) > 1:
        raise ValueError(f"rows must come from one dataset, got {datasets}")
    data, fits, verdict_of = summarize(rows), model_fits(rows), verdicts(rows)
    blank = summarize(blank_rows) if blank_rows else {}
    blank_verdict = verdicts(blank_rows) if blank_rows else {}
    models = list(dict.fromkeys(str(r["model"]) for r in rows))
    signals = list(dict.fromkeys(str(r["signal"]) for r in rows if r["signal"] != "clean"))
    names = _display_names(models)
    first = rows[0]
    k = int(first["num_classes"])
    out: list[dict[str, Any]] = []
    none = Stat(None, None, 0)
    for m in models:
        clean = data.get(("clean", m), {}).get("accuracy", none)
        bclean = blank.get(("clean", m), {}).get("accuracy", none)
        scale = next((preprocess_of(r) for r in rows if r["model"] == m), None)
        fit = fits[m]
        for sig in signals:
            st = data.get((sig, m))
            if st is None:
                continue
            bst = blank.get((sig, m), {})
            ba, br = bst.get("accuracy", none), bst.get("reliance", none)
            seeds = sorted({int(r["seed"]) for r in rows if r["model"] == m and r["signal"] == sig})
            out.append(
                {
                    "model": m,
                    "model_name": names[m],
                    "signal": sig,
                    "signal_name": SIGNALS[sig].paper_name if sig in SIGNALS else sig,
                    "dataset": first["dataset"],
                    "num_classes": k,
                    "seeds": seeds,
                    "n_train": first.get("n_train"),
                    "n_test": first.get("n_test"),
                    "preprocess": scale,
                    "clean_accuracy": clean.mean,
                    "decode_accuracy": st["decode_accuracy"].mean,
                    "accuracy": st["accuracy"].mean,
                    "gain": st["gain"].mean,
                    "reliance": st["reliance"].mean,
                    "reliance_true_accuracy": st["reliance_true_accuracy"].mean,
                    "verdict": verdict_of.get((sig, m)),
                    "blank_clean_accuracy": bclean.mean,
                    "blank_decode_accuracy": bst["decode_accuracy"].mean if bst else None,
                    "blank_accuracy": ba.mean,
                    "blank_reliance": br.mean,
                    "blank_verdict": blank_verdict.get((sig, m)),
                    "reliance_std": st["reliance"].std,
                    "blank_reliance_std": br.std,
                    "accuracy_std": st["accuracy"].std,
                    "blank_accuracy_std": ba.std,
                    "blank_clean_accuracy_low": bclean.low,
                    "blank_clean_accuracy_high": bclean.high,
                    "clean_accuracy_low": clean.low,
                    "clean_accuracy_high": clean.high,
                    "accuracy_low": st["accuracy"].low,
                    "accuracy_high": st["accuracy"].high,
                    "reliance_low": st["reliance"].low,
                    "reliance_high": st["reliance"].high,
                    "blank_accuracy_low": ba.low,
                    "blank_accuracy_high": ba.high,
                    "blank_reliance_low": br.low,
                    "blank_reliance_high": br.high,
                    "majority_rate": fit.majority_rate,
                    "clean_p_value": fit.p_value,
                    "learned": fit.learned,
                    "finite": fit.finite,
                    # the shortcut drop (beside reliance, not a verdict; none on blank data)
                    "clean_accuracy_injected": st["clean_accuracy_injected"].mean,
                    "shortcut_drop": st["shortcut_drop"].mean,
                    "shortcut_drop_low": st["shortcut_drop"].low,
                    "shortcut_drop_high": st["shortcut_drop"].high,
                }
            )
    return out


# -- the report ------------------------------------------------------------------------------------
def _stat(r: Row, key: str) -> Stat:
    """``r[key]`` with its 95% interval (``key_low``, ``key_high``) when known."""
    return Stat(r.get(key), None, 1, r.get(f"{key}_low"), r.get(f"{key}_high"))


def _pct(r: Row, key: str) -> str:
    return _stat(r, key).pct()


def _signed(mean: float | None) -> str:
    return "–" if mean is None else f"{100 * mean:+.1f}"


def _bold(v: str | None) -> str:
    return f"**{v}**" if v == "reads" else str(v or "–")


def scan_table(rows: Sequence[Row]) -> str:
    """The scan as Markdown: per model a ``Clean`` line (the references) and one line per signal.

    Columns: the signal's decode accuracy, the model's accuracy with the signal (``Clean``: its
    clean accuracy) and its gain over clean, reliance and verdict; then the same on blank data
    (the shut-down control; ``Clean``: the accuracy on blank data without a signal, i.e. chance).
    Percentages with their 95% intervals in brackets.
    """
    if not rows:
        raise ValueError("rows is empty: nothing to tabulate")
    shutdown = any(r.get("blank_accuracy") is not None for r in rows)
    header = ["Model", "Signal", "Decode", "Accuracy", "Gain", "Reliance", "Verdict"]
    if shutdown:
        header += ["Shut-down decode", "Shut-down acc.", "Shut-down reliance", "Shut-down verdict"]
    body: list[list[str]] = []
    seen: set[str] = set()
    for r in rows:
        if r["model"] not in seen:
            seen.add(str(r["model"]))
            line = [str(r["model_name"]), "Clean", "–", _pct(r, "clean_accuracy"), "–", "–", "–"]
            if shutdown:
                line += ["–", _pct(r, "blank_clean_accuracy"), "–", "–"]
            body.append(line)
        line = [
            "",
            str(r["signal_name"]),
            _pct(r, "decode_accuracy"),
            _pct(r, "accuracy"),
            _signed(r["gain"]),
            _pct(r, "reliance"),
            _bold(r["verdict"]),
        ]
        if shutdown:
            line += [
                _pct(r, "blank_decode_accuracy"),
                _pct(r, "blank_accuracy"),
                _pct(r, "blank_reliance"),
                _bold(r.get("blank_verdict")),
            ]
        body.append(line)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(b) + " |" for b in body]
    return "\n".join(lines)


def _legend(k: int) -> str:
    lo = 100 * (1 / k + IGNORES * (1 - 1 / k))
    hi = 100 * (1 / k + READS * (1 - 1 / k))
    return (
        "*Decode*: the signal read back by its injector (its information content). *Reliance*: "
        "on a test copy whose signal encodes a wrong class, the fraction of predictions equal "
        f"to that class. Brackets: 95% intervals. *Verdict* (K = {k}): **reads** if the "
        f"reliance interval's low end is >= {hi:.0f}%, **ignores** if the reliance is below "
        f"{lo:.0f}% (chance is {100 / k:.0f}%), **partial** otherwise; **did not learn** "
        "replaces *ignores* when the model's clean accuracy is not significantly above the test "
        "set's majority-class rate (one-sided binomial test, p < 0.01): its lack of reaction to "
        "a signal then says nothing; **non-finite**: the model's outputs held NaN or infinity. "
        "*Shut-down*: the same on blank data (all-zero images, empty texts) where the signal is "
        "the only information; its *Clean* line is chance (no 'did not learn' there). A model "
        "that ignores a signal on real data but reads it on blank data prefers the content; one "
        "that ignores it on blank data too cannot read it at all."
    )


def _scan_notes(rows: Sequence[Row]) -> str:
    """In words: the models that did not learn the clean task or gave non-finite outputs."""
    out = []
    for r in {str(r["model"]): r for r in rows}.values():
        name = r["model_name"]
        if r.get("finite") is False:
            out.append(f"**{name}: non-finite outputs** (NaN or infinity); no verdict is given.")
        elif r.get("learned") is False:
            rate = r.get("majority_rate")
            p = r.get("clean_p_value")
            clean = _stat(r, "clean_accuracy").words()
            out.append(
                f"**{name} did not learn the clean task**: {clean} is not "
                f"significantly above the majority-class rate of {100 * float(rate or 0):.1f}% "
                f"(one-sided binomial test, p = {float(p or 1):.2g}); that it ignores the "
                "signals is uninformative. Train it longer (--epochs), check its learning rate "
                "(--lr) or its architecture."
            )
    return "\n\n".join(out)


def plot_scan(rows: Sequence[Row], path: str | Path) -> Path:
    """A PNG of the scan: heat maps of reliance per model (rows) and signal (columns), with the
    verdict written in each cell; a second map for the shut-down control when it ran."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("rows is empty: nothing to plot")
    path = Path(path)
    models = list(dict.fromkeys(str(r["model"]) for r in rows))
    signals = list(dict.fromkeys(str(r["signal"]) for r in rows))
    by = {(str(r["model"]), str(r["signal"])): r for r in rows}
    panels = [("reliance", "verdict", "on the data")]
    if any(r.get("blank_reliance") is not None for r in rows):
        panels.append(("blank_reliance", "blank_verdict", "shut-down control: blank data"))
    names = {str(r["model"]): str(r["model_name"]) for r in rows}
    clean = {str(r["model"]): r for r in rows}
    k = int(rows[0]["num_classes"])
    # Panels stacked, 1.1 in per signal: 8.5 pt text stays >= 9 px where the docs show the
    # figure 690 px wide (figures.shown_px).
    width = 1.6 + 1.1 * len(signals) + 0.6
    height = (1.1 + 0.55 * len(models)) * len(panels) + 0.4
    fig = Figure(figsize=(max(6.0, width), height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    cmap = "Reds"
    image = None
    for i, (ax, (metric, vkey, title)) in enumerate(zip(axes, panels, strict=True)):
        grid = np.full((len(models), len(signals)), np.nan)
        for a, m in enumerate(models):
            for c, s in enumerate(signals):
                v = by.get((m, s), {}).get(metric)
                if v is not None:
                    grid[a, c] = 100 * float(v)
        image = ax.imshow(grid, cmap=cmap, vmin=0, vmax=100, aspect="auto")
        for a, m in enumerate(models):
            for c, s in enumerate(signals):
                r = by.get((m, s))
                if r is None or r.get(metric) is None:
                    continue
                v = 100 * float(r[metric])
                ax.text(
                    c,
                    a,
                    f"{r.get(vkey)}\n{v:.0f}%",
                    ha="center",
                    va="center",
                    fontsize=8.5,
                    color="white" if v > 60 else "black",
                    weight="bold" if r.get(vkey) == "reads" else "normal",
                )
        ax.set_xticks(
            range(len(signals)),
            [SIGNALS[s].paper_name if s in SIGNALS else s for s in signals],
            rotation=25,
            ha="right",
            fontsize=9,
        )
        if i == 0:  # the panels are stacked: each names its models
            labels = []
            for m in models:
                ca = clean[m].get("clean_accuracy")
                extra = "" if ca is None else f"\nclean {100 * float(ca):.1f}%"
                if clean[m].get("finite") is False:
                    extra += " (non-finite)"
                elif clean[m].get("learned") is False:
                    extra += " (did not learn)"
                labels.append(f"{names[m]}{extra}")
        ax.set_yticks(range(len(models)), labels, fontsize=9)
        ax.set_title(title, fontsize=10)
    if image is not None:
        cb = fig.colorbar(image, ax=list(axes), shrink=0.9, pad=0.02)
        cb.set_label("reliance (%)", fontsize=9)
        cb.ax.tick_params(labelsize=8.5)
    r0 = rows[0]
    title = (
        f"Blindspot scan on {r0['dataset']} (K = {k}, input {_input_of(rows)}): "
        "reliance on a wrong-class signal"
    )
    # a narrow figure (few signals) wraps its title rather than clipping it: ~14 characters
    # of 11-point text per inch
    fig.suptitle(textwrap.fill(title, int(fig.get_figwidth() * 14)), fontsize=11)
    make_dir(path.parent)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, dpi=100, format="png")
    return path


def _input_of(rows: Sequence[Row]) -> str:
    """The image preprocessing the rows' models saw (the first row that records one), or
    ``–``."""
    return next((str(r["preprocess"]) for r in rows if r.get("preprocess")), "–")


def write_scan_report(
    rows: Sequence[Row], out: str | Path, config: Mapping[str, Any] | None = None
) -> dict[str, Path]:
    """Write ``scan.md``, ``scan.json``, ``scan.csv`` and ``scan.png`` into ``out``.

    Args:
        rows: `summarize_scan`'s rows.
        out: the directory.
        config: what ran (stored in ``scan.json`` next to the rows).

    Returns:
        The paths by kind (``"table"``, ``"json"``, ``"csv"``, ``"figure"``).
    """
    if not rows:
        raise ValueError("rows is empty: nothing to report")
    out = Path(out)
    make_dir(out)
    r0 = rows[0]
    k = int(r0["num_classes"])
    head = (
        f"# Blindspot scan: {r0['dataset']}\n\n"
        f"Train {r0.get('n_train')} / test {r0.get('n_test')} samples, {k} classes, seeds "
        f"{r0.get('seeds')}, image preprocessing {_input_of(rows)}. Percentages."
    )
    notes = _scan_notes(rows)
    md = "\n\n".join([head, scan_table(rows), *([notes] if notes else []), _legend(k)]) + "\n"
    table = out / "scan.md"
    atomic_write(table, md)
    js = out / "scan.json"
    atomic_write(
        js,
        json.dumps({"config": dict(config or {}), "rows": list(rows)}, indent=1, default=str)
        + "\n",
    )
    path_csv = out / "scan.csv"
    with atomic_open(path_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SCAN_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            line = {key: r.get(key) for key in SCAN_FIELDS}
            line["seeds"] = " ".join(str(s) for s in r.get("seeds", []))
            w.writerow({key: "" if v is None else v for key, v in line.items()})
    return {
        "table": table,
        "json": js,
        "csv": path_csv,
        "figure": plot_scan(rows, out / "scan.png"),
    }


def config_summary(cfg: ScanConfig) -> dict[str, Any]:
    """``cfg`` as plain JSON values (custom models by name), for ``scan.json``: see
    `flat_config`."""
    d = flat_config(cfg)
    d["models"] = [m.name if isinstance(m, CustomModel) else m for m in cfg.models]
    return d
