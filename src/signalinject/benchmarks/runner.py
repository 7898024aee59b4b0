"""The blindspot benchmark: every (seed x signal x model) cell, resumable, one JSON line per cell.

The claim reproduced (Hoffer et al. 2018, Tables 1 and 3): a label-revealing signal injected into
the training *and* test data is picked up at once by simple models (a decision tree reaches ~100%
with one pixel holding the class number) while a ConvNet, or a character CNN on text, gains little
or nothing: the signal sits in its blindspot. For every cell the runner measures

- ``accuracy``: test accuracy with the signal in train and test alike (as in the paper);
- ``clean_accuracy`` and ``gain``: the same model without a signal (the ``clean`` cell, always
  run first) and the difference;
- ``decode_accuracy``: the injector's own ``decode`` on the injected test set, *without* the
  sample index: how much of the label the signal carries (its information content). For text it
  reads the quantized codes the models see (where, e.g., space padding is invisible);
- ``reliance``: on a copy of the test set whose signal encodes a *wrong* class (the same injector
  with ``fidelity=0.0``), the fraction of predictions equal to that wrong class. ~1: the model
  reads the signal; about chance (~1/K) or below: it ignores it. ``reliance_true_accuracy`` is the
  accuracy against the true labels on that copy.
- ``shortcut_drop`` (One-Pixel Shortcut's measure, Wu et al. 2023; beside reliance, not a verdict
  of its own): the accuracy on the *clean* test images of the clean-trained model minus that of
  the model trained with the signal (same seed and model; the clean images go through the
  signal cell's own preprocessing), with a paired 95% interval over the test images
  ([`paired_difference`][signalinject.benchmarks.stats.paired_difference]).
  ``clean_accuracy_injected`` is the second accuracy. Reliance asks whether a wrong code
  overrides the content; the drop asks whether the model leaned on the code. Not applicable
  (null) on blank data.

A cell is one staged pass, each stage a typed function of this module: ``load`` (the data, once
per run, each (seed, signal)'s injector, and every check that can fail before training) ->
``inject`` (train, test and the wrong-signal copy, once per signal and seed) -> ``model_inputs``
(the data as a model takes it, once per input form) -> ``fit`` -> ``measure`` -> ``record`` (the
result line). ``bench``, ``scan``, ``sweep`` and ``atlas`` all run their cells through
[`run`][signalinject.benchmarks.runner.run].

Torch models train on the whole training set; scikit-learn baselines fit on a quarter of it
(``fit_fraction``, as in the paper). Images are injected as uint8 ``(N, H, W, C)`` in 0..255
units, then preprocessed (``preprocess``: by default standardised per channel with the mean and
standard deviation of the cell's injected training set, see
[`ImageScaling`][signalinject.benchmarks.train.ImageScaling]) for torch models, or flattened for the
baselines (always in 0..255: the paper's baselines see raw pixels); texts are injected as strings,
then quantized
(Zhang et al. 2015) for every model. Train indices are ``0..n_train-1`` and test indices
``n_train..``, so per-sample draws never repeat across the split.

Beyond the paper:

- ``blank=True`` is the paper's *information shut-down* control: every image is replaced by an
  all-zero image and every text by the empty text (only padding once quantized) before the
  signal is injected, so the signal is the only information left. A model that cannot reach
  above chance there cannot read the signal at all; one that can, but ignores it on real data,
  prefers the content.
- ``strength`` scales the code of every signal that declares one (its class's
  ``strength_scales``): the paper's pixel signals and noise, and the triggers beyond the paper
  (a lit pixel's value, a blend weight, a sinusoid's amplitude, a count of class words; see
  [`signalinject.benchmarks.signals`][signalinject.benchmarks.signals]).
- a user's own models (``MODULE:FACTORY`` in ``models``, or ``custom_models``:
  [`CustomModel`][signalinject.benchmarks.registry.CustomModel], a factory ``(input_shape,
  num_classes) -> nn.Module or estimator``) run like the registered ones
  ([`signalinject.benchmarks.registry`][signalinject.benchmarks.registry]); this is what
  ``signalinject scan`` uses.

Results go to ``<out>/results.jsonl``, one complete line per finished cell
([`signalinject.benchmarks.store`][signalinject.benchmarks.store]: the line's schema
`RECORD_FIELDS`, the crash-safe append, the quarantine of bad lines, the lock). Running the same
configuration again skips finished cells, so a run killed at any moment loses at most the cell in
flight. Several processes (torchrun ranks, ``--shard`` job arrays) each append to their own file and
skip the cells done in any of them ([`signalinject.benchmarks.grid`][signalinject.benchmarks.grid]).
A cell is identified by a hash of every setting that changes its result (data fingerprint, signal
and injector config, model, seed, training config, image preprocessing, text length, fit fraction;
``blank`` and a custom model's code and architecture only where they apply, so the cells of earlier
versions keep their identity). Every line also holds what the verdicts need (`MEASURE_FIELDS`): the
95% Wilson intervals of accuracy and reliance, the test set's majority-class rate and the one-sided
binomial p-value of the clean accuracy against it (the "did not learn" test), and the number of
predictions made from non-finite outputs (a forward hook on torch models counts logits holding NaN
or infinity).

The defaults run on the embedded stand-ins ``photo_digits`` and ``stdlib_code``; their measured
tables, three seeds, the paper's numbers beside them, are in docs/reproducing.md.

Examples:
    >>> cfg = BenchConfig.for_suite("images", seeds=(0, 1), limit=200)
    >>> cfg.dataset, cfg.signals[:2], cfg.settings.seeds
    ('photo_digits', ('clean', 'one_pixel'), (0, 1))
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import logging
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch

from signalinject.benchmarks._files import (
    append_bytes,
    make_dir,
    refuse_symlink,
)
from signalinject.benchmarks.errors import ModelFactoryError
from signalinject.benchmarks.grid import Share, merge_results
from signalinject.benchmarks.poison import Poison
from signalinject.benchmarks.progress import grid_progress
from signalinject.benchmarks.registry import (
    CustomModel,
    Kind,
    Model,
    dataset,
    default_dataset,
    default_models,
    find_model,
    load_factory,
    model,
)
from signalinject.benchmarks.settings import RunSettings
from signalinject.benchmarks.signals import (
    SIGNALS,
    build_injector,
    check_signal,
    check_strength_fits,
    signal_names,
    wrong_signal,
)
from signalinject.benchmarks.store import (
    POISON_FIELDS,
    RECORD_FIELDS,
    append_record,
    cell_id,
    corrupt_path,
    exclusive,
    load_records,
    pack_correct,
    repair_records,
    unpack_correct,
)
from signalinject.carriers import Carriers
from signalinject.core import Injector, check_fraction, check_int

__all__ = ["SUITES", "BenchConfig", "Suite", "run"]

logger = logging.getLogger("signalinject.benchmarks")

#: The longest ``text_length`` accepted (Zhang et al. use 1014).
MAX_TEXT_LENGTH = 1 << 16

IntArray = npt.NDArray[np.int64]


@dataclasses.dataclass(frozen=True)
class Suite:
    """The defaults of one benchmark suite (``images`` or ``text``); its data set and models
    are the registries' (the entries that declare the suite among their defaults).

    The defaults run offline on the embedded data on two CPU cores in a few minutes.
    """

    name: str
    kind: Kind
    epochs: int
    batch_size: int

    @property
    def dataset(self) -> str:
        """The suite's default data set."""
        return default_dataset(self.name, self.kind)

    @property
    def models(self) -> tuple[str, ...]:
        """The suite's default models."""
        return default_models(self.name)

    @property
    def out(self) -> str:
        """The suite's default output directory."""
        return f"signalinject-bench/{self.name}"


SUITES: dict[str, Suite] = {
    # The paper's ConvNet, Shallow MaxNN and perceptron against every baseline, on the photo
    # digits (5 epochs; measured in docs/reproducing.md); the baselines take seconds each.
    "images": Suite(name="images", kind="image", epochs=5, batch_size=64),
    # Zhang's char-CNN at width 64 / FC 256 (its full widths by name: charcnn, charcnn_large),
    # a perceptron on the codes (a second, cheap torch model) and every baseline. On the ~1300
    # training sources of stdlib_code the narrow char-CNN needs 30 epochs to clear the
    # majority class by 15 points on every seed (measured: 20 epochs gave 50.6-54.0% against
    # a majority rate of 36.6%; see docs/reproducing.md for the 30-epoch numbers).
    "text": Suite(name="text", kind="text", epochs=30, batch_size=64),
}


def blank_data(x: Any) -> Any:
    """The shut-down control's data: all-zero images of ``x``'s shape, or empty texts.

    Examples:
        >>> blank_data(["a text", "another"]), blank_data(np.full((1, 2, 2, 1), 7, np.uint8)).sum()
        (['', ''], np.uint64(0))
    """
    if isinstance(x, np.ndarray):
        return np.zeros_like(x)
    return [""] * len(x)


def _names(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a sequence of names, got {value!r}")
    out = tuple(value)
    for v in out:
        if not isinstance(v, str):
            raise TypeError(f"{name} must hold strings, got {v!r}")
    if not out:
        raise ValueError(f"{name} must name at least one entry, got none")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a name, got {list(out)}")
    return out


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """Everything that defines a benchmark run: the suite, its signals and models, and the
    [`RunSettings`][signalinject.benchmarks.settings.RunSettings] it shares with every other
    kind of run (held as they are: their defaults and checks are declared there, once).

    Build one with [`for_suite`][signalinject.benchmarks.runner.BenchConfig.for_suite], which
    also takes the settings' fields by name.

    Args:
        suite: ``"images"`` or ``"text"``.
        signals: signal names (see
            [`signalinject.benchmarks.signals`][signalinject.benchmarks.signals]); ``clean`` is
            always run, first, as the reference of ``gain``.
        models: registered models (with size options, ``resnet18-w16``), users' ``MODULE:FACTORY``
            and the names of ``custom_models``.
        text_length: characters per text after quantization, at most `MAX_TEXT_LENGTH`; None:
            the data set's (1014, Zhang et al.'s; 256 for the short stdlib stand-ins, which also
            keeps the char-CNN fast on a CPU).
        fit_fraction: fraction of the training set the estimators fit on (the paper: 1/4).
        blank: the information shut-down control: all-zero images or empty texts, so that only
            the signal is left (see the module doc).
        strength: the code strength of every signal in ``signals`` (each must have one, see
            [`signalinject.benchmarks.signals`][signalinject.benchmarks.signals]); None: the
            paper's.
        custom_models: user models ([`CustomModel`][signalinject.benchmarks.registry.CustomModel]);
            ``models`` names them.
        poison: which training samples carry the signal
            ([`Poison`][signalinject.benchmarks.poison.Poison]: exact coverage and fidelity per
            class, or a single target class); None: every one, with its true code.
        settings: the data set (None: the suite's), seeds, training, device, preprocessing, limit,
            output directory (None: ``signalinject-bench/<suite>``) and progress bars.

    After construction ``signals`` starts with ``clean``, ``text_length`` holds the resolved
    length, and every ``MODULE:FACTORY`` of ``models`` is loaded into ``custom_models``.
    """

    suite: str
    signals: tuple[str, ...]
    models: tuple[str, ...]
    text_length: int | None = None
    fit_fraction: float = 0.25
    blank: bool = False
    strength: float | None = None
    custom_models: tuple[CustomModel, ...] = ()
    settings: RunSettings = dataclasses.field(default_factory=RunSettings)
    poison: Poison | None = None

    @classmethod
    def for_suite(cls, suite: str, **overrides: Any) -> BenchConfig:
        """A config of ``suite`` with its default signals and models, then ``overrides``: field
        names of this class or of [`RunSettings`][signalinject.benchmarks.settings.RunSettings]
        (set on ``settings``)."""
        own = {f.name for f in dataclasses.fields(cls)}
        shared = {f.name for f in dataclasses.fields(RunSettings)}
        unknown = sorted(set(overrides) - own - shared)
        if unknown:
            raise TypeError(f"BenchConfig has no field(s) {unknown}")
        settings = overrides.pop("settings", None) or RunSettings()
        given = {k: overrides.pop(k) for k in list(overrides) if k in shared}
        if given:
            settings = dataclasses.replace(settings, **given)
        s = _suite(suite)
        defaults = {"signals": signal_names(s.kind), "models": s.models}
        return cls(suite=suite, settings=settings, **{**defaults, **overrides})

    @property
    def kind(self) -> Kind:
        """The data kind of the suite, ``"image"`` or ``"text"``."""
        return _suite(self.suite).kind

    @property
    def dataset(self) -> str:
        """The data set: the settings', else the suite's."""
        return self.settings.dataset or _suite(self.suite).dataset

    @property
    def out(self) -> str:
        """The output directory: the settings', else ``signalinject-bench/<suite>``."""
        return self.settings.out or _suite(self.suite).out

    @property
    def epochs(self) -> int:
        """Torch training epochs: the settings', else the suite's."""
        return self.settings.epochs or _suite(self.suite).epochs

    @property
    def batch_size(self) -> int:
        """Torch batch size: the settings', else the suite's."""
        return self.settings.batch_size or _suite(self.suite).batch_size

    @property
    def frame_length(self) -> int:
        """``text_length`` resolved (an int after construction)."""
        return int(self.text_length or dataset(self.dataset).frame_length)

    def model(self, name: str) -> Model:
        """The model ``name`` of this run (registered, sized, or one of ``custom_models``)."""
        return model(name, self.custom_models)

    def __post_init__(self) -> None:
        kind = _suite(self.suite).kind
        if not isinstance(self.settings, RunSettings):
            raise TypeError(f"settings must be a RunSettings, got {self.settings!r}")
        data = dataset(self.dataset)
        if data.kind != kind:
            raise ValueError(
                f"dataset {self.dataset!r} holds {data.kind} data but suite={self.suite!r} runs "
                f"{kind} data; use BenchConfig.for_suite({self.suite!r}, ...) for its defaults"
            )
        signals = _names("signals", self.signals)
        for s in signals:
            check_signal(s, kind, self.strength)  # the name, its kind, that it has a strength
        # clean first, always: it is the reference of every other cell's gain
        object.__setattr__(self, "signals", ("clean", *(s for s in signals if s != "clean")))
        if self.strength is not None:
            object.__setattr__(self, "strength", float(self.strength))
        if not isinstance(self.blank, bool):
            raise TypeError(f"blank must be True or False, got {self.blank!r}")
        if self.poison is not None and not isinstance(self.poison, Poison):
            raise TypeError(f"poison must be a Poison or None, got {self.poison!r}")
        models = _names("models", self.models)
        object.__setattr__(self, "custom_models", self._custom(models))
        for m in models:
            self.model(m)  # an unknown name fails here
        object.__setattr__(self, "models", models)
        if self.text_length is None:
            object.__setattr__(self, "text_length", data.frame_length)
        # bounded: the codes are (N, text_length) int64, allocated before anything trains
        check_int("text_length", self.text_length, low=1, high=MAX_TEXT_LENGTH)
        frac = check_fraction("fit_fraction", self.fit_fraction)
        if frac == 0.0:
            raise ValueError("fit_fraction must be > 0, got 0.0")
        object.__setattr__(self, "fit_fraction", frac)

    def _custom(self, models: tuple[str, ...]) -> tuple[CustomModel, ...]:
        """``custom_models`` checked, and every ``MODULE:FACTORY`` of ``models`` not among them
        loaded (once: the run builds from these)."""
        if isinstance(self.custom_models, (CustomModel, str)) or not isinstance(
            self.custom_models, Iterable
        ):
            raise TypeError(
                f"custom_models must be a sequence of CustomModel, got {self.custom_models!r}"
            )
        custom = tuple(self.custom_models)
        for cm in custom:
            if not isinstance(cm, CustomModel):
                raise TypeError(f"custom_models must hold CustomModel objects, got {cm!r}")
            if find_model(cm.name) is not None:
                raise ValueError(f"custom model name {cm.name!r} is a built-in model's name")
        named = {cm.name for cm in custom}
        for m in models:
            if m not in named and ":" in m and find_model(m) is None:
                custom += (load_factory(m),)
        _names("custom model names", [cm.name for cm in custom] or ["-"])  # distinct
        return custom


def suite_for(name: str) -> str:
    """The suite (``"images"`` or ``"text"``) that runs data set ``name``.

    Examples:
        >>> suite_for("digits"), suite_for("stdlib_docs")
        ('images', 'text')
    """
    kind = dataset(name).kind
    return next(s.name for s in SUITES.values() if s.kind == kind)


def _suite(name: str) -> Suite:
    s = SUITES.get(name)
    if s is None:
        raise ValueError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    return s


@dataclasses.dataclass(frozen=True)
class Cell:
    """One (seed, signal, model) combination of the grid."""

    seed: int
    signal: str
    model: str


def cell_grid(cfg: BenchConfig) -> list[Cell]:
    """The cells of ``cfg`` in run order: per seed, per signal (``clean`` first), per model."""
    return [Cell(s, sig, m) for s in cfg.settings.seeds for sig in cfg.signals for m in cfg.models]


# -- measuring --------------------------------------------------------------------------------
def reliance(pred: IntArray, wrong_code: IntArray, carried: npt.NDArray[np.bool_]) -> float | None:
    """Fraction of the carried samples predicted as the wrong class their signal encodes.

    Args:
        pred: int64 ``(N,)`` predictions on the wrong-signal copy of the test set.
        wrong_code: int64 ``(N,)`` the class each sample's signal encodes (never the truth).
        carried: bool ``(N,)`` whether the sample carries the signal.

    Returns:
        A float in [0, 1], or None when no sample carries the signal.

    Examples:
        >>> import numpy as np
        >>> reliance(np.array([1, 2, 0]), np.array([1, 2, 1]), np.array([True, True, True]))
        0.6666666666666666
    """
    n = int(carried.sum())
    if n == 0:
        return None
    return float((pred[carried] == wrong_code[carried]).sum() / n)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """The data of one (signal, seed): injected train and test sets and the wrong-signal copy.

    Attributes:
        x_train, x_test, x_wrong: injected data (uint8 ``(N, H, W, C)`` or lists of strings);
            ``x_wrong`` is the test set with a wrong-class signal (None for ``clean``).
        y_train, y_test: int64 labels.
        wrong_code: int64 ``(n_test,)`` the class ``x_wrong``'s signal encodes (None: clean).
        carried: bool ``(n_test,)`` which test samples carry the signal (None: clean).
        decode_accuracy: the injector's decode (without index) on ``x_test`` vs ``y_test``.
        target: the single target class of a poisoned run (None: every class carries); then
            ``x_test`` carries the code on the target's samples only and ``x_wrong`` gives the
            others the target's code (see
            [`signalinject.benchmarks.poison`][signalinject.benchmarks.poison]).
        carriers: the carriers of each class in the training set a poisoned run drew (None:
            every sample carries).
        x_clean: the test set without the signal, where the model trained with it is measured
            for the shortcut drop (None: clean, and blank data).
    """

    x_train: Any
    y_train: IntArray
    x_test: Any
    y_test: IntArray
    x_wrong: Any
    wrong_code: IntArray | None
    carried: npt.NDArray[np.bool_] | None
    decode_accuracy: float | None
    target: int | None = None
    carriers: tuple[int, ...] | None = None
    x_clean: Any = None


def _decoded(inj: Injector, raw: Any, n: int) -> IntArray:
    """``inj.decode``'s output as int64 ``(n,)``, or an error naming the signal's class and
    file: a decode of another shape would broadcast against the labels (or fail there with
    NumPy's words), and NaN cast to int64 would count as a wrong label, 0% decoded."""
    cls = type(inj)
    try:
        where = inspect.getsourcefile(cls) or cls.__module__
    except TypeError:
        where = cls.__module__
    who = f"{cls.__qualname__}.decode (signal {inj.name!r}, {where})"
    arr = np.asarray(raw.detach().cpu() if isinstance(raw, torch.Tensor) else raw)
    if arr.shape != (n,):
        raise ValueError(
            f"{who} returned shape {arr.shape} for {n} test samples; it must return one "
            f"integer label per sample, shape ({n},)"
        )
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind != "f":
        raise ValueError(f"{who} returned {arr.dtype} labels; it must return integers")
    bad = ~np.isfinite(arr) | (arr != np.round(arr))
    if bad.any():
        raise ValueError(
            f"{who} returned {int(bad.sum())} labels that are not whole numbers (such as "
            f"{arr[bad][0]!r}); it must return integer labels"
        )
    return arr.astype(np.int64)


def prepare(
    inj: Injector | None,
    x_train: Any,
    y_train: IntArray,
    x_test: Any,
    y_test: IntArray,
    *,
    seen: Callable[[Any], Any] | None = None,
    plan: Carriers | None = None,
    target: int | None = None,
) -> Prepared:
    """Inject ``inj`` into train and test alike, and build the wrong-signal test copy.

    Args:
        inj: the injector, or None for the clean cell.
        x_train: uint8 images ``(N, H, W, C)`` or a list of strings.
        y_train: int64 labels ``(N,)``.
        x_test: as ``x_train``, the test set.
        y_test: as ``y_train``, the test set.
        seen: maps injected data to what the models see, which ``decode`` then reads (for text:
            the quantizer's codes, where e.g. space padding is invisible); None: the data itself.
        plan: the carriers of the training set (indices ``0..n_train-1``) and their codes
            ([`Poison.plan`][signalinject.benchmarks.poison.Poison.plan]); None: every training
            sample carries its true code.
        target: the single target class of ``plan`` (None: none): the test set carries the
            code on that class's samples only, and the wrong-signal copy gives every other
            sample the target's code.
    """
    if inj is None:
        return Prepared(x_train, y_train, x_test, y_test, None, None, None, None)
    inj = inj.fit(x_train, y_train)  # signals fitted to data (OnePixelShortcut); others: itself
    n_train, n_test = len(y_train), len(y_test)
    i_train = np.arange(n_train, dtype=np.int64)
    i_test = np.arange(n_train, n_train + n_test, dtype=np.int64)
    xi_train = inj(x_train, y_train, index=i_train) if plan is None else plan.inject(inj, x_train)
    xi_test = inj(x_test, y_test, index=i_test)
    decoded = _decoded(inj, inj.decode(xi_test if seen is None else seen(xi_test)), n_test)
    wrong = wrong_signal(inj)
    if target is None:
        x_wrong = wrong(x_test, y_test, index=i_test)
        code, carried = wrong.codes(y_test, i_test)
    else:  # the target's samples carry its code, the others are clean; the copy moves them
        if plan is None:
            raise ValueError(f"target={target} needs the plan of its carriers, got plan=None")
        k = plan.num_classes
        code = np.full(n_test, target, dtype=np.int64)
        carried = y_test != target
        everyone = np.ones(n_test, dtype=bool)
        own = Carriers(i_test, y_test, ~carried, y_test, k)
        x_wrong = Carriers(i_test, y_test, everyone, code, k).inject(inj, x_test)
        xi_test = own.inject(inj, x_test)
    return Prepared(
        x_train=xi_train,
        y_train=y_train,
        x_test=xi_test,
        y_test=y_test,
        x_wrong=x_wrong,
        wrong_code=np.asarray(code, dtype=np.int64),
        carried=np.asarray(carried, dtype=np.bool_),
        decode_accuracy=float((decoded == y_test).mean()) if n_test else None,
        target=target,
        carriers=None if plan is None else plan.counts,
        x_clean=x_test,
    )


@dataclasses.dataclass(frozen=True)
class Scores:
    """What `measure` finds for one fitted model
    (fractions in [0, 1]).

    ``reliance`` and ``reliance_true_accuracy`` are None for the clean cell (no signal);
    ``n_carried`` is the number of test samples that carry the signal (reliance's denominator,
    None for clean); ``nonfinite`` counts the predictions (test set, wrong-signal copy, clean
    test images) made from outputs holding NaN or infinity (always 0 for estimators, which
    return labels). ``clean_correct``, bool ``(n_test,)``: which clean test images the model got
    right (the clean cell: its test set; a signal cell: ``prep.x_clean``, None without it).
    ``target_baseline`` (a single target class only, else None): the fraction of the carried
    (non-target) test samples predicted as the target on the test set, where they are clean.
    """

    accuracy: float
    reliance: float | None
    reliance_true_accuracy: float | None
    n_carried: int | None = None
    nonfinite: int = 0
    target_baseline: float | None = None
    clean_correct: npt.NDArray[np.bool_] | None = None


def measure(
    predict: Callable[[Any], IntArray],
    prep: Prepared,
    nonfinite: Callable[[], int] = lambda: 0,
) -> Scores:
    """Accuracy, reliance and the true-label accuracy under a wrong signal, of a fitted model,
    and which clean test images it gets right (the shortcut drop's half; one more prediction
    pass where ``prep.x_clean`` is set).

    Args:
        predict: maps data like ``prep.x_test`` to int64 ``(N,)`` predictions.
        prep: the output of `prepare`.
        nonfinite: after the predictions, the number of them made from non-finite outputs.
    """
    pred = predict(prep.x_test)
    correct = np.asarray(pred == prep.y_test, dtype=np.bool_)
    acc = float(correct.mean())
    if prep.x_wrong is None or prep.wrong_code is None or prep.carried is None:
        return Scores(acc, None, None, None, nonfinite(), clean_correct=correct)
    pred_w = predict(prep.x_wrong)
    baseline = None
    if prep.target is not None:  # what the model says of the clean non-target images
        baseline = reliance(pred, prep.wrong_code, prep.carried)
    clean_correct = None
    if prep.x_clean is not None:
        clean_correct = np.asarray(predict(prep.x_clean) == prep.y_test, dtype=np.bool_)
    return Scores(
        accuracy=acc,
        reliance=reliance(pred_w, prep.wrong_code, prep.carried),
        reliance_true_accuracy=float((pred_w == prep.y_test).mean()),
        n_carried=int(prep.carried.sum()),
        nonfinite=nonfinite(),
        target_baseline=baseline,
        clean_correct=clean_correct,
    )


class _NonFinite:
    """Counts the samples whose outputs hold NaN or infinity, as a forward hook on a model.

    Counts stay on the model's device until read (no synchronisation per batch).
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.counts: list[torch.Tensor] = []
        self.handle = model.register_forward_hook(self._hook)

    def _hook(self, module: torch.nn.Module, inputs: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor) and out.is_floating_point() and out.ndim >= 1:
            self.counts.append((~torch.isfinite(out)).reshape(len(out), -1).any(1).sum())

    def __call__(self) -> int:
        self.handle.remove()
        return int(sum(int(c) for c in self.counts))


def _measures(
    scores: Scores,
    clean_acc: float,
    clean_nonfinite: int,
    y_test: IntArray,
    clean: Mapping[str, Any] | None = None,
    blank: bool = False,
) -> dict[str, Any]:
    """The `MEASURE_FIELDS` of one cell: intervals,
    the clean test, the shortcut drop (against ``clean``, the clean cell's line; None: this is
    the clean cell), non-finite counts."""
    from signalinject.benchmarks import stats

    n = len(y_test)
    rate = stats.majority_rate(y_test)
    acc_lo, acc_hi = stats.wilson_interval(round(scores.accuracy * n), n)
    rel_lo: float | None = None
    rel_hi: float | None = None
    if scores.reliance is not None and scores.n_carried:
        rel_lo, rel_hi = stats.wilson_interval(
            round(scores.reliance * scores.n_carried), scores.n_carried
        )
    return {
        "majority_rate": rate,
        "clean_p_value": stats.clean_p_value(round(clean_acc * n), n, rate),
        "accuracy_low": acc_lo,
        "accuracy_high": acc_hi,
        "n_carried": scores.n_carried,
        "reliance_low": rel_lo,
        "reliance_high": rel_hi,
        **_drop(scores, clean, blank),
        "nonfinite_outputs": scores.nonfinite,
        "clean_nonfinite_outputs": clean_nonfinite,
    }


def _drop(scores: Scores, clean: Mapping[str, Any] | None, blank: bool) -> dict[str, Any]:
    """The shortcut drop's fields of one cell (see the module doc): a clean cell stores its
    answers (``clean_test_correct``); a signal cell pairs its model's answers on the clean test
    images with those of the clean cell of its seed and model. All null on blank data, and a
    signal cell's drop null where the clean cell's answers are not stored (a line of 0.1.x)."""
    from signalinject.benchmarks import stats

    out: dict[str, Any] = {
        "clean_accuracy_injected": None,
        "shortcut_drop": None,
        "shortcut_drop_low": None,
        "shortcut_drop_high": None,
        "shortcut_discordant": None,
        "clean_test_correct": None,
    }
    mine = scores.clean_correct
    if blank or mine is None:
        return out
    if clean is None:  # the clean cell itself: what the drops of its seed and model pair with
        out["clean_test_correct"] = pack_correct(mine)
        return out
    out["clean_accuracy_injected"] = float(mine.mean()) if len(mine) else None
    theirs = unpack_correct(clean.get("clean_test_correct"), len(mine))
    if theirs is None or not len(mine):
        return out
    n10, n01 = stats.discordant(theirs, mine)
    drop, lo, hi = stats.paired_difference(n10, n01, len(mine))
    out.update(
        shortcut_drop=drop, shortcut_drop_low=lo, shortcut_drop_high=hi,
        shortcut_discordant=[n10, n01],
    )  # fmt: skip
    return out


# -- the stages of a cell ----------------------------------------------------------------------
# A cell is one pass, top to bottom: load (once per run) -> inject (once per signal and seed)
# -> model inputs (once per signal, seed and input form) -> fit -> measure -> record. Each stage
# is a function of typed inputs; `_run` calls them in that order and keeps no other state.
InputForm = Literal["torch", "features", "features_preprocessed"]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How a run builds and feeds one model.

    Attributes:
        name: the model's name in the results.
        model: the [`Model`][signalinject.benchmarks.registry.Model] it names (its entry and
            size options).
        torch: a torch model (trained by `fit`), else an estimator (``fit(X, y)``,
            ``predict(X)``).
        form: its input: ``"torch"`` (float32 images ``(N, C, H, W)`` or int64 codes ``(N, L)``
            on the run's device, images preprocessed), ``"features"`` (float32 ``(N, D)``, images
            in 0..255) or ``"features_preprocessed"`` (the same, preprocessed as the torch
            models' images: a user's estimator, see ``ModelEntry.raw_features``).
        identity: what its entry's identity rule gives (see
            [`signalinject.benchmarks.registry`][signalinject.benchmarks.registry]): None for the
            paper's models (their 0.1.0 cells keep their ids), the hash of the structure of the
            others, a user's factory's code fingerprint, kind and architecture hash: part of its
            cells' identity, so a changed architecture gives new cells, never stale ones.
    """

    name: str
    model: Model
    torch: bool
    form: InputForm
    identity: dict[str, str] | None = None

    @property
    def user(self) -> bool:
        """A user's factory (its failures are named as its)."""
        return self.model.entry.identity == "code"


@dataclasses.dataclass(frozen=True)
class Loaded:
    """The first stage's output (`load`): the data of a
    run and what every cell reads from it.

    Attributes:
        cfg: the run's configuration.
        bundle: the dataset (a ``signalinject.benchmarks.datasets.Bundle``); with ``cfg.blank``
            its images are all zero and its texts empty.
        y_train, y_test: int64 labels ``(n_train,)``, ``(n_test,)``.
        fingerprint: blake2b of the real data and labels (blank or not).
        device: where torch models train.
        quantizer: the quantizer of the models' codes (text), None for images.
        inj_quantizer: the quantizer text injectors get (None: Zhang's default).
        input_shape: one sample as a model sees it, ``(C, H, W)`` or ``(L,)``.
        models: every model of ``cfg.models`` by name.
        injectors: the injector of every (seed, signal) of the run (None for ``clean``), built
            once, here.
    """

    cfg: BenchConfig
    bundle: Any
    y_train: IntArray
    y_test: IntArray
    fingerprint: str
    device: torch.device
    quantizer: Any
    inj_quantizer: Any
    input_shape: tuple[int, ...]
    models: Mapping[str, ModelSpec]
    injectors: Mapping[tuple[int, str], Injector | None]

    @property
    def num_classes(self) -> int:
        """K, the number of classes."""
        return int(self.bundle.num_classes)

    def codes(self, texts: Any) -> IntArray:
        """Texts as the models see them: int64 codes ``(N, text_length)``."""
        return np.asarray(self.quantizer.encode(texts), dtype=np.int64)


def _fingerprint(bundle: Any) -> str:
    """blake2b of the loaded data and labels: a cell is only "the same" on the same data."""
    h = hashlib.blake2b(digest_size=16)
    for part in (bundle.x_train, bundle.y_train, bundle.x_test, bundle.y_test):
        if isinstance(part, np.ndarray):
            h.update(f"{part.dtype.str}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).data)
        else:
            h.update(f"list{len(part)}".encode())
            for s in part:
                b = s.encode("utf-8", "surrogatepass")
                h.update(len(b).to_bytes(8, "little"))
                h.update(b)
    return h.hexdigest()


def load(cfg: BenchConfig) -> Loaded:
    """Stage 1: load ``cfg``'s data and check, before anything trains, that every signal and
    model of ``cfg`` can take it (a strength too large for K, a signal the data cannot hold, a
    model that cannot take its input shape, a custom model that fails on two real samples).

    Raises:
        ValueError: the data refuses a setting (the message names it).
        ModelFactoryError: a custom model failed its probe.
    """
    from signalinject.benchmarks import datasets, train
    from signalinject.quantizer import CharQuantizer

    st = cfg.settings
    bundle = datasets.load_dataset(
        cfg.dataset, data_dir=st.data_dir, download=st.download, limit=st.limit
    )
    if bundle.kind != cfg.kind:
        raise ValueError(
            f"dataset {cfg.dataset!r} holds {bundle.kind} data, suite {cfg.suite!r} "
            f"needs {cfg.kind} data"
        )
    fingerprint = _fingerprint(bundle)  # of the real data, blank or not
    if cfg.blank:
        bundle = dataclasses.replace(
            bundle, x_train=blank_data(bundle.x_train), x_test=blank_data(bundle.x_test)
        )
    quantizer: Any = None
    inj_quantizer: Any = None  # what the text injectors get: None for Zhang's default
    if cfg.kind == "text":
        quantizer = CharQuantizer(length=cfg.frame_length)
        if quantizer != CharQuantizer():
            inj_quantizer = quantizer
        input_shape: tuple[int, ...] = (cfg.frame_length,)
    else:
        _, h, w, c = np.shape(bundle.x_train)
        input_shape = (c, h, w)
    k = bundle.num_classes
    if cfg.poison is not None:
        cfg.poison.check_classes(k)
    injectors: dict[tuple[int, str], Injector | None] = {}
    for s in cfg.signals:  # a strength too large for K fails here, before any training
        check_strength_fits(s, cfg.strength, k)
        for seed in cfg.settings.seeds:  # so does a signal the data cannot hold (capacity...)
            try:
                injectors[(seed, s)] = build_injector(
                    s, k, seed, quantizer=inj_quantizer, strength=cfg.strength
                )
            except ValueError as e:
                what = f"text_length={cfg.frame_length}" if cfg.kind == "text" else cfg.dataset
                raise ValueError(f"signal {s} cannot run with {what}: {e}") from e
    data = Loaded(
        cfg=cfg,
        bundle=bundle,
        y_train=np.asarray(bundle.y_train, dtype=np.int64),
        y_test=np.asarray(bundle.y_test, dtype=np.int64),
        fingerprint=fingerprint,
        device=train.resolve_device(cfg.settings.device),
        quantizer=quantizer,
        inj_quantizer=inj_quantizer,
        input_shape=input_shape,
        models={},
        injectors=injectors,
    )
    specs = {m: _model_spec(data, m) for m in cfg.models}
    return dataclasses.replace(data, models=specs)


def _model_spec(data: Loaded, name: str) -> ModelSpec:
    """``name``'s spec; a model that cannot take ``data`` fails here, before any training (a
    user's model is also run on two real samples)."""
    m = data.cfg.model(name)
    if m.entry.identity == "code":
        built = _probe(data, m)
    else:
        built = m.build(data.input_shape, data.num_classes)
    is_torch = isinstance(built, torch.nn.Module)
    form: InputForm = "torch"
    if not is_torch:
        pre = data.cfg.kind == "image" and not m.entry.raw_features
        form = "features_preprocessed" if pre else "features"
    return ModelSpec(name, m, is_torch, form, m.identity(built))


def _probe(data: Loaded, m: Model) -> Any:
    """Build a user's model once and run a torch model on two real samples: the output must
    be logits ``(2, K)``. Returns the model (for its identity)."""
    model = m.build(data.input_shape, data.num_classes, seed=0)
    if not isinstance(model, torch.nn.Module):
        return model
    n = min(2, len(data.y_train))
    x = _convert(data, data.bundle.x_train[:n], "torch", _scaling(data, data.bundle.x_train[:n]))
    try:
        model.to(data.device).eval()
        with torch.no_grad():
            out = model(x)
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        raise ModelFactoryError(
            f"the model from {m.name} failed on a batch of {n} samples "
            f"({x.dtype} {tuple(x.shape)}): {type(e).__name__}: {e}"
        ) from e
    k = data.num_classes
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (n, k):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelFactoryError(
            f"the model from {m.name} returned {got} for a batch of {n} samples; expected "
            f"logits of shape ({n}, {k}), one per class (num_classes={k})"
        )
    if not out.is_floating_point():
        raise ModelFactoryError(
            f"the model from {m.name} returned {out.dtype} outputs; expected float logits"
        )
    return model


def train_config(
    cfg: BenchConfig, seed: int, device: torch.device, model: Model | None = None
) -> Any:
    """The ``TrainConfig`` of a torch model's cell (``model``'s own ``lr`` where its entry has
    one)."""
    from signalinject.benchmarks.train import TrainConfig

    own = None if model is None else model.entry.lr
    return TrainConfig(
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.settings.lr if own is None else own,
        device=str(device),
        seed=seed,
        progress=cfg.settings.progress,
    )


def cell_key(data: Loaded, cell: Cell, inj: Injector | None) -> dict[str, Any]:
    """Every setting that changes ``cell``'s result (and nothing that does not): what its
    `cell_id` hashes."""
    cfg, spec = data.cfg, data.models[cell.model]
    key: dict[str, Any] = {
        "suite": cfg.suite,
        "dataset": cfg.dataset,
        "data_fingerprint": data.fingerprint,
        "signal": cell.signal,
        "injector": None if inj is None else inj.identity(),
        "model": cell.model,
        "seed": cell.seed,
    }
    if cfg.kind == "text":
        key["text_length"] = cfg.frame_length
    if spec.torch:
        tc = dataclasses.asdict(train_config(cfg, cell.seed, data.device, spec.model))
        tc.pop("progress", None)
        key["train"] = tc
        if cfg.kind == "image":
            key["preprocess"] = cfg.settings.preprocess
    else:
        key["fit_fraction"] = cfg.fit_fraction
        if spec.form == "features_preprocessed":
            key["preprocess"] = cfg.settings.preprocess  # its features are preprocessed so
    if spec.identity is not None:
        key["model_identity"] = spec.identity
    # only where set: the cells of runs before these options keep their identity
    if cfg.blank:
        key["blank"] = True
    if inj is not None and cfg.poison is not None and (poison := cfg.poison.identity()):
        key["poison"] = poison
    return key


def fit_set(data: Loaded, model: str, seed: int) -> npt.NDArray[np.bool_] | None:
    """The training samples ``model`` is fitted on in seed ``seed``: an estimator's fit subset
    (``cfg.fit_fraction`` of them, see `fit`) as a bool mask; None for a torch model (all)."""
    if data.models[model].torch:
        return None
    from signalinject.benchmarks import baselines

    n = len(data.y_train)
    mask = np.zeros(n, dtype=bool)
    mask[baselines.fit_subset(n, data.cfg.fit_fraction, seed)] = True
    return mask


def fit_rows(data: Loaded, cell: Cell) -> npt.NDArray[np.bool_] | None:
    """The training samples among which a poisoned run draws ``cell``'s carriers: its
    model's `fit_set`; None (all of them) where the run is not poisoned or the model is
    fitted on all."""
    poison = data.cfg.poison
    if poison is None or poison.plain:
        return None
    return fit_set(data, cell.model, cell.seed)


def inject(
    data: Loaded, inj: Injector | None, seed: int = 0, among: npt.NDArray[np.bool_] | None = None
) -> Prepared:
    """Stage 2: `prepare` on ``data`` (the decode
    accuracy of text read on the models' codes; no clean test copy on blank data); in a
    poisoned run, the carriers of seed ``seed`` among the training samples ``among``
    (`fit_rows`; None: all)."""
    seen = data.codes if data.cfg.kind == "text" else None
    poison = data.cfg.poison
    plan = None
    if inj is not None and poison is not None and not poison.plain:
        plan = poison.plan(data.y_train, data.num_classes, seed, among)
    prep = prepare(
        inj,
        data.bundle.x_train,
        data.y_train,
        data.bundle.x_test,
        data.y_test,
        seen=seen,
        plan=plan,
        target=None if poison is None else poison.target,
    )
    if data.cfg.blank:  # no shortcut drop on blank data: its "clean" images hold nothing
        prep = dataclasses.replace(prep, x_clean=None)
    return prep


def _scaling(data: Loaded, x_train: Any) -> Any:
    """The image map of the run's ``preprocess`` fitted on ``x_train`` (a cell's injected
    training set), or None for text."""
    from signalinject.benchmarks.train import ImageScaling

    if data.cfg.kind != "image":
        return None
    return ImageScaling.fit(x_train, data.cfg.settings.preprocess)


def _convert(data: Loaded, x: Any, form: InputForm, scaling: Any) -> Any:
    """Injected data ``x`` as a model of ``form`` takes it (see `ModelSpec`); images of the
    forms that are preprocessed go through ``scaling`` (an
    [`ImageScaling`][signalinject.benchmarks.train.ImageScaling] fitted on the cell's training
    set)."""
    from signalinject.benchmarks import baselines

    cfg = data.cfg
    if form == "torch":
        if cfg.kind == "text":
            return torch.from_numpy(data.codes(x)).to(data.device)
        return scaling.to_tensor(x, device=data.device)
    if form == "features_preprocessed" and cfg.kind == "image":
        return scaling.to_features(x)
    return np.asarray(
        baselines.features(data.codes(x) if cfg.kind == "text" else x), dtype=np.float32
    )


def model_inputs(data: Loaded, prep: Prepared, form: InputForm) -> Prepared:
    """Stage 3: ``prep`` with its data (train, test, wrong-signal copy, clean test images) as a
    model of ``form`` takes it; labels, codes and the decode accuracy as they are.

    Images of the preprocessed forms (``"torch"``, ``"features_preprocessed"``) go through one
    map fitted here on ``prep.x_train`` alone, the cell's injected training set (see
    [`RunSettings.preprocess`][signalinject.benchmarks.settings.RunSettings]): the test set and
    the wrong-signal copy never change it, and the clean test images (the shortcut drop) go
    through it too.
    """
    scaling = None if form == "features" else _scaling(data, prep.x_train)
    return dataclasses.replace(
        prep,
        x_train=_convert(data, prep.x_train, form, scaling),
        x_test=_convert(data, prep.x_test, form, scaling),
        x_wrong=None if prep.x_wrong is None else _convert(data, prep.x_wrong, form, scaling),
        x_clean=None if prep.x_clean is None else _convert(data, prep.x_clean, form, scaling),
    )


@dataclasses.dataclass(frozen=True)
class Fitted:
    """The fourth stage's output (`fit`).

    Attributes:
        predict: maps model inputs ``(N, ...)`` to int64 ``(N,)`` predictions.
        nonfinite: after the predictions, how many came from non-finite outputs.
        n_fit: the number of training samples the model was fitted on.
    """

    predict: Callable[[Any], IntArray]
    nonfinite: Callable[[], int]
    n_fit: int


def fit(data: Loaded, cell: Cell, inputs: Prepared) -> Fitted:
    """Stage 4: fit ``cell.model`` on ``inputs``' training set (the output of
    `model_inputs` for the model's form): a torch
    model on all of it, an estimator on the ``cfg.fit_fraction`` subset of the cell's seed."""
    from signalinject.benchmarks import baselines, train

    cfg, spec, k = data.cfg, data.models[cell.model], data.num_classes
    if spec.torch:
        tc = train_config(cfg, cell.seed, data.device, spec.model)
        torch.manual_seed(cell.seed)  # model init; fit seeds its own shuffling
        net = spec.model.build(data.input_shape, k, seed=cell.seed)
        y = torch.from_numpy(inputs.y_train).to(data.device)
        net = train.fit(net, inputs.x_train, y, tc)

        def predict(x: Any) -> IntArray:
            return np.asarray(train.predict(net, x, tc), dtype=np.int64)

        return Fitted(predict, _NonFinite(net), len(inputs.y_train))
    idx = np.asarray(baselines.fit_subset(len(inputs.y_train), cfg.fit_fraction, cell.seed))
    est = spec.model.build(data.input_shape, k, seed=cell.seed)
    est.fit(inputs.x_train[idx], inputs.y_train[idx])

    def predict_b(x: Any) -> IntArray:
        out = np.asarray(est.predict(x))
        n = len(inputs.y_test)
        if spec.user and (out.shape != (n,) or not np.isin(out, np.arange(k)).all()):
            raise ModelFactoryError(
                f"the estimator from {spec.name} predicted {out.dtype} {out.shape} for {n} "
                f"samples; expected ({n},) class labels in 0..{k - 1}"
            )
        return out.astype(np.int64)

    return Fitted(predict_b, lambda: 0, len(idx))


@contextlib.contextmanager
def _blame(spec: ModelSpec, cell: Cell) -> Iterator[None]:
    """A user's model's failure in the block, raised as a
    [`ModelFactoryError`][signalinject.benchmarks.errors.ModelFactoryError] that names the
    cell."""
    if not spec.user:
        yield
        return
    try:
        yield
    except (ModelFactoryError, KeyboardInterrupt):
        raise
    except BaseException as e:  # the user's model failed (or exited): say so, with the cell
        raise ModelFactoryError(
            f"the model from {spec.name} failed in seed {cell.seed}, signal "
            f"{cell.signal}: {type(e).__name__}: {e}"
        ) from e


def record(
    data: Loaded,
    cell: Cell,
    key: Mapping[str, Any],
    prep: Prepared,
    scores: Scores,
    n_fit: int,
    clean: Mapping[str, Any] | None,
    *,
    seconds: float,
    notes: list[str],
) -> dict[str, Any]:
    """Stage 6: the result line of ``cell``, its fields in
    `RECORD_FIELDS`' order.

    Args:
        data: the run's data.
        cell: the cell.
        key: its `cell_key`.
        prep: its injected data (for the decode accuracy).
        scores: what `measure` found.
        n_fit: the number of training samples the model was fitted on.
        clean: the result line of the clean cell of the same seed and model (None for a clean
            cell itself): the reference of ``gain``.
        seconds: how long fit and measure took.
        notes: the warnings they raised, as ``"Category: message"``.
    """
    from signalinject import __version__

    cfg, sig = data.cfg, SIGNALS[cell.signal]
    if clean is None:
        clean_acc, clean_nonfinite = scores.accuracy, scores.nonfinite
    else:
        clean_acc = float(clean["accuracy"])
        clean_nonfinite = int(clean.get("nonfinite_outputs", 0))
    strength = sig.default_strength if cfg.strength is None else cfg.strength
    values: dict[str, Any] = {
        "cell_id": cell_id(key),
        "suite": cfg.suite,
        "dataset": cfg.dataset,
        "signal": cell.signal,
        "model": cell.model,
        "seed": cell.seed,
        "accuracy": scores.accuracy,
        "clean_accuracy": clean_acc,
        "gain": scores.accuracy - clean_acc,
        "decode_accuracy": prep.decode_accuracy,
        "reliance": scores.reliance,
        "reliance_true_accuracy": scores.reliance_true_accuracy,
        **_measures(scores, clean_acc, clean_nonfinite, data.y_test, clean, cfg.blank),
        "injector": key["injector"],
        "train": key.get("train"),
        "preprocess": key.get("preprocess"),
        "text_length": key.get("text_length"),
        "fit_fraction": key.get("fit_fraction"),
        "blank": cfg.blank,
        "strength": strength if sig.strength else None,
        **_poison_fields(cfg.poison, prep, scores),
        "model_identity": key.get("model_identity"),
        "num_classes": data.num_classes,
        "n_train": len(data.y_train),
        "n_fit": n_fit,
        "n_test": len(data.y_test),
        "limit": cfg.settings.limit,
        "data_description": data.bundle.description,
        "data_fingerprint": data.fingerprint,
        "device": str(data.device),
        "version": __version__,
        "seconds": round(seconds, 3),
        "warnings": notes,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return {name: values[name] for name in RECORD_FIELDS if name in values}


def _poison_fields(poison: Poison | None, prep: Prepared, scores: Scores) -> dict[str, Any]:
    """The fields of a line that say which training samples carried the signal, for a signal
    cell of a poisoned run; none otherwise (a plain run's lines, and a clean cell's, are the
    lines of a run without the setting)."""
    if poison is None or poison.plain or prep.x_wrong is None:
        return {}
    values = (
        poison.coverage,
        poison.fidelity,
        poison.target,
        None if prep.carriers is None else list(prep.carriers),
        scores.target_baseline,
    )
    return dict(zip(POISON_FIELDS, values, strict=True))


# -- the run ---------------------------------------------------------------------------------------
def run(
    cfg: BenchConfig, *, share: Share | None = None, data: Loaded | None = None
) -> list[dict[str, Any]]:
    """Run every cell of ``cfg`` (of ``share``) not already in a results file of ``cfg.out``.

    Args:
        cfg: the grid.
        share: the part of the grid this process runs and the file it appends to (see
            [`signalinject.benchmarks.grid`][signalinject.benchmarks.grid]); None: the whole grid,
            ``results.jsonl``.
        data: the loaded data (`load`) of a run that differs from ``cfg`` at most in its
            ``poison`` setting, its output directory and in holding more models and signals
            (a sweep's grid points and the threshold atlas's probes share one load); None:
            load ``cfg``'s.

    Returns:
        One dict per cell of `cell_grid` (of ``share``),
        in that order: the finished cells read back from the files and the new ones, exactly as
            written (see the module doc).

    Raises:
        signalinject.benchmarks.grid.ConflictingResultsError: two results files of ``cfg.out``
            hold different results for one cell.
    """
    share = Share() if share is None else share
    if data is not None:
        data = _reuse(data, cfg)
    out = Path(cfg.out)
    if not share.write:
        make_dir(out)
        return _run(cfg, out / share.results_name, share, data)
    with exclusive(out, share.lock_name):
        return _run(cfg, out / share.results_name, share, data)


def _reuse(data: Loaded, cfg: BenchConfig) -> Loaded:
    """``data`` as the loaded data of ``cfg``, or a ValueError where ``cfg`` differs from the
    run it was loaded for in more than its poison setting, its output directory and a subset
    of its models and signals."""
    was = data.cfg
    like = dataclasses.replace(
        was,
        poison=cfg.poison,
        models=cfg.models,
        signals=cfg.signals,
        settings=dataclasses.replace(was.settings, out=cfg.settings.out),
    )
    subset = set(cfg.models) <= set(data.models) and set(cfg.signals) <= set(was.signals)
    if like != cfg or not subset:
        raise ValueError(
            "data was loaded for another run: only the poison setting, the output directory "
            f"and fewer models or signals may differ (loaded for {was!r}, asked for {cfg!r})"
        )
    if cfg.poison is not None:
        cfg.poison.check_classes(data.num_classes)
    return dataclasses.replace(data, cfg=cfg)


def _run(
    cfg: BenchConfig, path: Path, share: Share, loaded: Loaded | None = None
) -> list[dict[str, Any]]:
    for p in (path, corrupt_path(path)):  # refused now, not after the first cell
        refuse_symlink(p)
    done, bad = load_records(path)
    if bad and share.write:
        repair_records(path, done, bad)
    done = merge_results(path.parent)  # done in any process's file is done
    data = load(cfg) if loaded is None else loaded  # stage 1
    if share.write:  # a results file that cannot be written fails now, before training
        append_bytes(path, b"")
    groups = {
        (s, m): cell_id(cell_key(data, Cell(s, "clean", m), None))
        for s in cfg.settings.seeds
        for m in cfg.models
    }
    mine = share.select(groups)
    grid = [c for c in cell_grid(cfg) if (c.seed, c.model) in mine]
    rows: list[dict[str, Any]] = []
    n_done = 0
    where = "blank" if cfg.blank else "data"
    with grid_progress([c.model for c in grid], enabled=cfg.settings.progress) as bar:
        for seed in cfg.settings.seeds:
            for signal in cfg.signals:
                inj = data.injectors[(seed, signal)]
                # injected on the first cell that needs it: per training set (a poisoned run
                # draws an estimator's carriers among its fit subset), then per input form
                preps: dict[bool, Prepared] = {}
                inputs: dict[tuple[bool, InputForm], Prepared] = {}
                for model in cfg.models:
                    if (seed, model) not in mine:
                        continue
                    cell = Cell(seed, signal, model)
                    key = cell_key(data, cell, inj)
                    cid = cell_id(key)
                    if cid in done:
                        rows.append(done[cid])
                        n_done += 1
                        bar.skip(model, done[cid].get("seconds"), cid)
                        continue
                    what = f"{where} seed {seed} {signal} {model}"
                    bar.describe(what)
                    spec = data.models[model]
                    rows_of = fit_rows(data, cell)
                    subset = rows_of is not None
                    if subset not in preps:
                        preps[subset] = inject(data, inj, seed, rows_of)  # stage 2
                    prep = preps[subset]
                    if (subset, spec.form) not in inputs:
                        inputs[(subset, spec.form)] = model_inputs(data, prep, spec.form)  # 3
                    given = inputs[(subset, spec.form)]
                    t0 = time.perf_counter()
                    # a fit's warnings (e.g. a solver that did not converge) are part of its
                    # result: recorded in the line and logged, never raised, never lost
                    with warnings.catch_warnings(record=True) as caught, _blame(spec, cell):
                        warnings.simplefilter("always")
                        fitted = fit(data, cell, given)  # stage 4
                        scores = measure(fitted.predict, given, fitted.nonfinite)
                    seconds = time.perf_counter() - t0
                    notes = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
                    for note in notes:
                        logger.warning("seed %d %s %s: %s", seed, signal, model, note)
                    # the clean cell of this (seed, model) ran (or was loaded) just before
                    clean = None
                    if signal != "clean":
                        clean = done[cell_id(cell_key(data, Cell(seed, "clean", model), None))]
                    rec = record(
                        data, cell, key, prep, scores, fitted.n_fit, clean,
                        seconds=seconds, notes=notes,
                    )  # fmt: skip
                    if share.write:
                        append_record(path, rec)
                    done[cid] = rec
                    rows.append(rec)
                    bar.done(model, what, cid)
    if n_done:
        logger.info(
            "%d of %d cells were already in %s and were skipped",
            n_done,
            len(grid),
            path.parent,
        )
    return rows
