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
      float32 ``(N, C, H, W)`` (``input_shape == (C, H, W)``) in 0..1 (``input_scale="unit"``)
      or 0..255 (``"raw"``), texts as int64 character codes ``(N, L)`` (``input_shape ==
      (L,)``, 0 padding, 1..70 Zhang et al.'s alphabet). It is trained with AdamW and
      cross-entropy ([`fit`][signalinject.benchmarks.train.fit]);
    - or a scikit-learn-style estimator (``fit(X, y)``, ``predict(X)``) on float32 ``(N, D)``:
      the flattened images at ``input_scale``, or the codes.

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
    >>> verdict(0.9, 10), verdict(0.3, 10), verdict(0.05, 10), verdict(None, 10)
    ('reads', 'partial', 'ignores', None)
    >>> parse_spec("my_models.py:make_net"), parse_spec("pkg.models:Nets.small")
    (('my_models.py', 'make_net'), ('pkg.models', 'Nets.small'))
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import sys
import textwrap
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from signalinject.benchmarks._files import atomic_open, atomic_write, make_dir
from signalinject.benchmarks.report import MODEL_NAMES, Stat, model_fits, summarize, verdicts
from signalinject.benchmarks.runner import (
    BenchConfig,
    CustomModel,
    ModelFactoryError,
    run,
    suite_for,
)
from signalinject.benchmarks.settings import RunSettings, WithSettings, flat_config
from signalinject.benchmarks.signals import SIGNALS
from signalinject.benchmarks.stats import IGNORES, READS, normalized_reliance, verdict

__all__ = [
    "IGNORES",
    "READS",
    "SCAN_FIELDS",
    "CustomModel",
    "ModelFactoryError",
    "ScanConfig",
    "custom_model",
    "load_factory",
    "normalized_reliance",
    "parse_spec",
    "plot_scan",
    "scan",
    "scan_table",
    "summarize_scan",
    "verdict",
    "write_scan_report",
]

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
    "input_scale",
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
)


# -- loading the factory ---------------------------------------------------------------------------
_SPEC_HELP = (
    "expected MODULE:FACTORY, a module (a dotted name importable from the current directory, or "
    "a path to a .py file), a colon and the name of a callable in it, e.g. "
    "my_models:make_net or path/to/models.py:make_net"
)


def parse_spec(spec: str) -> tuple[str, str]:
    """``"MODULE:FACTORY"`` -> ``(MODULE, FACTORY)``; FACTORY may be dotted (``Class.method``).

    Raises:
        ModelFactoryError: not of that form (the message shows the form and an example).
    """
    if not isinstance(spec, str):
        raise ModelFactoryError(f"{_SPEC_HELP}; got {spec!r}")
    module, sep, attr = spec.rpartition(":")  # rpartition: a Windows path keeps its drive colon
    if not sep or not module.strip() or not all(p.isidentifier() for p in attr.split(".")):
        raise ModelFactoryError(f"{_SPEC_HELP}; got {spec!r}")
    return module, attr


def _is_path(module: str) -> bool:
    return module.endswith(".py") or "/" in module or os.sep in module


def _where(e: BaseException, path: str | None) -> str:
    """`` (at FILE:LINE)`` of the innermost frame in ``path`` (or of any frame), else ``""``."""
    frames = list(traceback.extract_tb(e.__traceback__))
    if path is not None:
        mine = [f for f in frames if os.path.abspath(f.filename) == os.path.abspath(path)]
        frames = mine or frames
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _import_file(path: Path, spec: str) -> ModuleType:
    resolved = path.resolve()
    digest = hashlib.blake2b(str(resolved).encode(), digest_size=4).hexdigest()
    name = f"_signalinject_scan_{path.stem}_{digest}"
    ispec = importlib.util.spec_from_file_location(name, resolved)
    if ispec is None or ispec.loader is None:
        raise ModelFactoryError(f"{spec!r}: cannot import {str(path)!r} as a Python module")
    mod = importlib.util.module_from_spec(ispec)
    sys.modules[name] = mod  # dataclasses and pickling look the module up by name
    folder = str(resolved.parent)
    if folder not in sys.path:  # so that the file can import its neighbours
        sys.path.append(folder)
    try:
        ispec.loader.exec_module(mod)
    except KeyboardInterrupt:
        del sys.modules[name]
        raise
    except BaseException as e:  # sys.exit() at import is a failure too
        del sys.modules[name]
        raise ModelFactoryError(
            f"{spec!r}: importing {str(path)!r} raised {type(e).__name__}: {e}"
            f"{_where(e, str(resolved))}"
        ) from e
    return mod


def _import_module(module: str, spec: str) -> ModuleType:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:  # as `python -m` would: modules next to you
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is not None and (module == e.name or module.startswith(e.name + ".")):
            raise ModelFactoryError(
                f"{spec!r}: no module named {module!r} (importable from {cwd}); give a path "
                f"to a .py file instead, e.g. path/to/{module.rsplit('.', 1)[-1]}.py:FACTORY"
            ) from e
        raise ModelFactoryError(
            f"{spec!r}: importing {module!r} raised {type(e).__name__}: {e}{_where(e, None)}"
        ) from e
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # sys.exit() at import is a failure too
        raise ModelFactoryError(
            f"{spec!r}: importing {module!r} raised {type(e).__name__}: {e}{_where(e, None)}"
        ) from e


def _source_fingerprint(obj: Any) -> str:
    """blake2b of the source file that defines ``obj`` (a module or a function), else of its
    qualified name: part of every cell's identity, so edited code gives new cells."""
    h = hashlib.blake2b(digest_size=16)
    try:
        path = inspect.getsourcefile(obj)
    except TypeError:
        path = None
    if path is not None and os.path.isfile(path):
        h.update(Path(path).read_bytes())
    else:
        h.update(f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj)}".encode())
    return h.hexdigest()


def load_factory(spec: str) -> CustomModel:
    """Import ``MODULE:FACTORY`` and return it as a
    [`CustomModel`][signalinject.benchmarks.scan.CustomModel] named ``spec``.

    Raises:
        ModelFactoryError: a malformed spec, a module that is missing or fails to import (with
            the exception and where it happened), a missing attribute (with the callables the
            module defines), or an attribute that is not callable.
    """
    module, attr = parse_spec(spec)
    if _is_path(module):
        path = Path(module).expanduser()
        if not path.is_file():
            what = "is a directory, not a .py file" if path.is_dir() else "not found"
            if path.exists() and not path.is_dir():
                what = "is not a regular file"
            raise ModelFactoryError(f"{spec!r}: module file {str(path)!r} {what}")
        mod = _import_file(path, spec)
    else:
        mod = _import_module(module, spec)
    obj: Any = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            own = sorted(
                n
                for n, v in vars(mod).items()
                if callable(v)
                and not n.startswith("_")
                and getattr(v, "__module__", None) == mod.__name__
            )
            raise ModelFactoryError(
                f"{spec!r}: module {module!r} has no attribute {attr!r}; "
                f"callables it defines: {', '.join(own) or 'none'}"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelFactoryError(
            f"{spec!r}: {attr!r} is a {type(obj).__name__}, not a callable "
            f"factory(input_shape, num_classes)"
        )
    return CustomModel(spec, obj, _source_fingerprint(mod))


def custom_model(
    factory: Callable[[tuple[int, ...], int], Any], name: str | None = None
) -> CustomModel:
    """A [`CustomModel`][signalinject.benchmarks.scan.CustomModel] from a callable, fingerprinted by
    its module's source.

    Args:
        factory: ``factory(input_shape, num_classes)`` (see the module doc).
        name: the model's name in the results; default ``module:qualname``.
    """
    if not callable(factory):
        raise ModelFactoryError(f"factory must be callable, got {factory!r}")
    if name is None:
        name = f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', factory)}"
    return CustomModel(name, factory, _source_fingerprint(factory))


# -- the scan ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ScanConfig(WithSettings):
    """What a scan runs.

    Args:
        models: ``MODULE:FACTORY`` strings, built-in model names, or
            [`CustomModel`][signalinject.benchmarks.scan.CustomModel]s.
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

    DEFAULT_DATASET: ClassVar[str] = "digits"
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
        from signalinject.benchmarks.baselines import BASELINES
        from signalinject.benchmarks.models import TORCH_MODELS, is_torch_model

        names: list[str] = []
        custom: list[CustomModel] = []
        for m in self.models:
            if isinstance(m, CustomModel):
                custom.append(m)
                names.append(m.name)
            elif isinstance(m, str) and (m in BASELINES or is_torch_model(m)):
                names.append(m)
            elif isinstance(m, str) and ":" not in m:
                builtin = ", ".join((*TORCH_MODELS, *BASELINES))
                raise ModelFactoryError(f"{_SPEC_HELP}, or a built-in model ({builtin}); got {m!r}")
            else:
                cm = load_factory(m)
                custom.append(cm)
                names.append(cm.name)
        options: dict[str, Any] = {
            **self.bench_options(),
            "models": tuple(names),
            "custom_models": tuple(custom),
            "text_length": self.text_length,
            "fit_fraction": self.fit_fraction,
            "blank": blank,
        }
        if self.signals is not None:
            options["signals"] = self.signals
        return BenchConfig.for_suite(suite_for(self.dataset), **options)


def scan(cfg: ScanConfig) -> list[dict[str, Any]]:
    """Run the scan (resumable: finished cells in ``cfg.out`` are reused); one row per
    (model, signal), see [`summarize_scan`][signalinject.benchmarks.scan.summarize_scan]."""
    bench = cfg.bench_config()
    rows = run(bench)
    blank = run(dataclasses.replace(bench, blank=True)) if cfg.shutdown else []
    return summarize_scan(rows, blank)


def _display_names(models: Sequence[str]) -> dict[str, str]:
    """Short names: a built-in's display name, else the factory's name (the whole spec where two
    factories share a name)."""
    short = {m: MODEL_NAMES.get(m, m.rpartition(":")[2] or m) for m in models}
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
        ([`verdict`][signalinject.benchmarks.scan.verdict] on the reliance's interval; ``did not
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
        scale = next((r.get("input_scale") for r in rows if r["model"] == m), None)
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
                    "input_scale": scale,
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
        f"Blindspot scan on {r0['dataset']} (K = {k}, input {r0.get('input_scale') or '–'}): "
        "reliance on a wrong-class signal"
    )
    # a narrow figure (few signals) wraps its title rather than clipping it: ~14 characters
    # of 11-point text per inch
    fig.suptitle(textwrap.fill(title, int(fig.get_figwidth() * 14)), fontsize=11)
    make_dir(path.parent)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, dpi=100, format="png")
    return path


def write_scan_report(
    rows: Sequence[Row], out: str | Path, config: Mapping[str, Any] | None = None
) -> dict[str, Path]:
    """Write ``scan.md``, ``scan.json``, ``scan.csv`` and ``scan.png`` into ``out``.

    Args:
        rows: [`summarize_scan`][signalinject.benchmarks.scan.summarize_scan]'s rows.
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
        f"{r0.get('seeds')}, image input scale {r0.get('input_scale') or '–'}. Percentages."
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
    [`flat_config`][signalinject.benchmarks.settings.flat_config]."""
    d = flat_config(cfg)
    d["models"] = [m.name if isinstance(m, CustomModel) else m for m in cfg.models]
    return d
