"""The blindspot benchmark: every (seed x signal x model) cell, resumable, one JSON line per cell.

The claim reproduced (Hoffer & Fine 2016, Tables 1 and 3): a label-revealing signal injected into
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

Torch models train on the whole training set; scikit-learn baselines fit on a quarter of it
(``fit_fraction``, as in the paper). Images are injected as uint8 ``(N, H, W, C)`` in 0..255
units, then scaled (``input_scale``) for torch models or flattened for the baselines (always in
0..255: the paper's baselines see raw pixels); texts are injected as strings, then quantized
(Zhang et al. 2015) for every model. Train indices are ``0..n_train-1`` and test indices
``n_train..``, so per-sample draws never repeat across the split.

Beyond the paper:

- ``blank=True`` is the paper's *information shut-down* control: every image is replaced by an
  all-zero image and every text by the empty text (only padding once quantized) before the
  signal is injected, so the signal is the only information left. A model that cannot reach
  above chance there cannot read the signal at all; one that can, but ignores it on real data,
  prefers the content.
- ``strength`` scales the code of the signals that have one (``one_pixel``, ``pattern_pixels``,
  ``random_pixel``, ``orthogonal_noise``; see
  [`signalinject.benchmarks.signals`][signalinject.benchmarks.signals]).
- ``custom_models``: a user's own models
  ([`CustomModel`][signalinject.benchmarks.runner.CustomModel], a factory ``(input_shape,
  num_classes) -> nn.Module or estimator``) run like the built-in ones; this is what ``signalinject
  scan`` uses.

Results go to ``<out>/results.jsonl``, one complete line per finished cell
([`signalinject.benchmarks.store`][signalinject.benchmarks.store]: the line's schema
`RECORD_FIELDS`, the crash-safe append, the quarantine of bad lines, the lock). Running the same
configuration again skips finished cells, so a run killed at any moment loses at most the cell in
flight. Several processes (torchrun ranks, ``--shard`` job arrays) each append to their own file
and skip the cells done in any of them
([`signalinject.benchmarks.grid`][signalinject.benchmarks.grid]). A cell is identified by a hash of
every setting that changes its result (data fingerprint, signal and injector config, model, seed,
training config, input scale, text length, fit fraction; ``blank`` and a custom model's code and
architecture only where they apply, so the cells of earlier versions keep their identity). Every
line also holds what the verdicts need (`MEASURE_FIELDS`): the 95% Wilson intervals of accuracy
and reliance, the test set's majority-class rate and the one-sided binomial p-value of the clean
accuracy against it (the "did not learn" test), and the number of predictions made from
non-finite outputs (a forward hook on torch models counts logits holding NaN or infinity).

The defaults run on the embedded stand-ins ``noisy_digits`` and ``stdlib_code``; their measured
tables, three seeds, the paper's numbers beside them, are in docs/reproducing.md.

Examples:
    >>> cfg = BenchConfig.for_suite("images", seeds=(0, 1), limit=200)
    >>> cfg.dataset, cfg.signals[:2], cfg.seeds
    ('noisy_digits', ('clean', 'one_pixel'), (0, 1))
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable
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
from signalinject.benchmarks.grid import Share, merge_results
from signalinject.benchmarks.signals import (
    SIGNALS,
    check_strength,
    make_injector,
    signal_names,
    wrong_signal,
)
from signalinject.benchmarks.store import (
    append_record,
    cell_id,
    corrupt_path,
    exclusive,
    load_records,
    repair_records,
)
from signalinject.core import Injector, check_fraction, check_int

__all__ = [
    "SUITES",
    "BenchConfig",
    "Cell",
    "CustomModel",
    "ModelFactoryError",
    "Prepared",
    "Scores",
    "Suite",
    "blank_data",
    "cell_grid",
    "measure",
    "prepare",
    "reliance",
    "run",
    "suite_for",
]

logger = logging.getLogger("signalinject.benchmarks")

#: The longest ``text_length`` accepted (Zhang et al. use 1014).
MAX_TEXT_LENGTH = 1 << 16

Kind = Literal["image", "text"]
IntArray = npt.NDArray[np.int64]


@dataclasses.dataclass(frozen=True)
class Suite:
    """The defaults of one benchmark suite (``images`` or ``text``).

    The defaults run offline on the embedded data on two CPU cores in a few minutes.
    """

    name: str
    kind: Kind
    dataset: str
    models: tuple[str, ...]
    epochs: int
    batch_size: int


_BASELINES = (
    "gaussian_nb",
    "decision_tree",
    "extra_trees",
    "logistic_regression",
    "lda",
    "qda",
)

SUITES: dict[str, Suite] = {
    # The paper's ConvNet against every baseline, on the noisy digits (5 epochs; measured clean
    # accuracies in docs/reproducing.md); the baselines take seconds each.
    "images": Suite(
        name="images",
        kind="image",
        dataset="noisy_digits",
        models=("convnet", *_BASELINES),
        epochs=5,
        batch_size=64,
    ),
    # Zhang's char-CNN at width 64 / FC 256 (its full widths by name: charcnn, charcnn_large),
    # a perceptron on the codes (a second, cheap torch model) and every baseline. On the ~1300
    # training sources of stdlib_code the narrow char-CNN needs 30 epochs to clear the
    # majority class by 15 points on every seed (measured: 20 epochs gave 50.6-54.0% against
    # a majority rate of 36.6%; see docs/reproducing.md for the 30-epoch numbers).
    "text": Suite(
        name="text",
        kind="text",
        dataset="stdlib_code",
        models=("charcnn_narrow", "perceptron", *_BASELINES),
        epochs=30,
        batch_size=64,
    ),
}

#: Default quantized text length per dataset (else Zhang et al.'s 1014).
TEXT_LENGTHS: dict[str, int] = {"stdlib_docs": 256, "stdlib_code": 256}

# The data kind of the known datasets, to refuse a wrong suite before loading anything.
_DATASET_KINDS: dict[str, Kind] = {
    "noisy_digits": "image",
    "digits": "image",
    "cifar10": "image",
    "stdlib_code": "text",
    "stdlib_docs": "text",
    "yelp_full": "text",
    "amazon_full": "text",
}


class ModelFactoryError(ValueError):
    """A user's model factory, or the model it built, failed: the message says which and how."""


@dataclasses.dataclass(frozen=True)
class CustomModel:
    """A user's model for the runner, built by a factory for each cell.

    Args:
        name: the model's name in the results (e.g. ``"my_models.py:make_net"``); must differ
            from the built-in names.
        factory: ``factory(input_shape, num_classes)`` returns a fresh model for one cell:

            - a ``torch.nn.Module`` mapping a batch to logits ``(N, num_classes)``; its input is
              float32 ``(N, C, H, W)`` images (0..1 or 0..255 by ``input_scale``), or int64
              character codes ``(N, L)`` for text (0 padding, 1..70 Zhang's alphabet); it is
              trained by [`fit`][signalinject.benchmarks.train.fit]
              (AdamW, cross-entropy);
            - or a scikit-learn-style estimator (``fit(X, y)``, ``predict(X)``) on float32
              ``(N, D)``: the flattened images at ``input_scale``, or the codes.

            ``input_shape`` is one sample as the model sees it: ``(C, H, W)`` or ``(L,)``. The
            torch seed is set to the cell's seed before each call.
        fingerprint: identifies the factory's code (e.g. a hash of its module's source); part of
            every cell's identity, so that edited code gives new cells, not stale ones.
    """

    name: str
    factory: Callable[[tuple[int, ...], int], Any]
    fingerprint: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"CustomModel.name must be a non-empty string, got {self.name!r}")
        if not callable(self.factory):
            raise TypeError(f"CustomModel.factory must be callable, got {self.factory!r}")
        if not isinstance(self.fingerprint, str):
            raise TypeError(f"CustomModel.fingerprint must be a string, got {self.fingerprint!r}")


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
    """Everything that defines a benchmark run.

    Build one with [`for_suite`][signalinject.benchmarks.runner.BenchConfig.for_suite], which fills
    in the suite's defaults.

    Args:
        suite: ``"images"`` or ``"text"``.
        dataset: a name of ``signalinject.benchmarks.datasets.DATASETS`` of the suite's kind.
        signals: signal names (see
            [`signalinject.benchmarks.signals`][signalinject.benchmarks.signals]); ``clean`` is
            always run, first, as the reference of ``gain``.
        models: torch models (``TORCH_MODELS``) and scikit-learn baselines (``BASELINES``).
        seeds: one run of every cell per seed (injector seed, model init, baseline subset).
        epochs: training epochs of the torch models (``TrainConfig``).
        batch_size: batch size of the torch models.
        lr: AdamW's peak learning rate of the torch models, 1e-3 by default.
        device: where the torch models train: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        input_scale: torch image input, ``"unit"`` (0..1) or ``"raw"`` (0..255 units); also the
            scale of a custom estimator's features (the built-in baselines always see 0..255).
        limit: use at most this many training and test samples (quick runs); None for all.
        data_dir: where the dataset files are.
        download: whether to fetch missing real data.
        out: output directory (``results.jsonl`` and the reports).
        text_length: characters per text after quantization, at most
            `MAX_TEXT_LENGTH`;
            None: 1014 (Zhang et al.), but
            256 for the short ``stdlib_docs`` (median 155 characters), which also keeps the
            char-CNN fast on a CPU.
        fit_fraction: fraction of the training set the baselines fit on (the paper: 1/4).
        progress: show progress bars (tqdm, on stderr).
        blank: the information shut-down control: all-zero images or empty texts, so that only
            the signal is left (see the module doc).
        strength: the code strength of every signal in ``signals`` (each must have one, see
            [`signalinject.benchmarks.signals`][signalinject.benchmarks.signals]); None: the
            paper's.
        custom_models: user models ([`CustomModel`][signalinject.benchmarks.runner.CustomModel]);
            ``models`` names them.
    """

    suite: str = "images"
    dataset: str = SUITES["images"].dataset
    signals: tuple[str, ...] = signal_names("image")
    models: tuple[str, ...] = SUITES["images"].models
    seeds: tuple[int, ...] = (0,)
    epochs: int = SUITES["images"].epochs
    batch_size: int = SUITES["images"].batch_size
    device: str = "auto"
    input_scale: Literal["unit", "raw"] = "unit"
    limit: int | None = None
    data_dir: str | None = None
    download: bool = False
    out: str = "signalinject-bench/images"
    text_length: int | None = None
    fit_fraction: float = 0.25
    progress: bool = True
    blank: bool = False
    strength: float | None = None
    custom_models: tuple[CustomModel, ...] = ()
    lr: float = 1e-3

    @classmethod
    def for_suite(cls, suite: str, **overrides: Any) -> BenchConfig:
        """A config with ``suite``'s defaults, then ``overrides`` (field names of this class)."""
        s = _suite(suite)
        base: dict[str, Any] = {
            "suite": s.name,
            "dataset": s.dataset,
            "signals": signal_names(s.kind),
            "models": s.models,
            "epochs": s.epochs,
            "batch_size": s.batch_size,
            "out": f"signalinject-bench/{s.name}",
        }
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"BenchConfig has no field(s) {unknown}")
        return cls(**{**base, **overrides})

    @property
    def frame_length(self) -> int:
        """``text_length`` resolved (an int after construction)."""
        return int(self.text_length or TEXT_LENGTHS.get(self.dataset, 1014))

    @property
    def kind(self) -> Kind:
        """The data kind of the suite, ``"image"`` or ``"text"``."""
        return _suite(self.suite).kind

    def __post_init__(self) -> None:
        from signalinject.benchmarks.baselines import BASELINES
        from signalinject.benchmarks.datasets import DATASETS
        from signalinject.benchmarks.models import TORCH_MODELS, is_torch_model

        kind = _suite(self.suite).kind
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; known: {', '.join(DATASETS)}")
        dkind = _DATASET_KINDS.get(self.dataset)
        if dkind is not None and dkind != kind:
            raise ValueError(
                f"dataset {self.dataset!r} holds {dkind} data but suite={self.suite!r} runs "
                f"{kind} data; use BenchConfig.for_suite({self.suite!r}, ...) for its defaults"
            )
        signals = _names("signals", self.signals)
        for s in signals:
            make_injector(s, 2, 0, kind=kind)  # validates the name and its kind
        # clean first, always: it is the reference of every other cell's gain
        object.__setattr__(self, "signals", ("clean", *(s for s in signals if s != "clean")))
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
            if cm.name in BASELINES or is_torch_model(cm.name):
                raise ValueError(f"custom model name {cm.name!r} is a built-in model's name")
        _names("custom model names", [cm.name for cm in custom] or ["-"])  # distinct
        object.__setattr__(self, "custom_models", custom)
        for s in signals:
            check_strength(s, self.strength)
        if self.strength is not None:
            object.__setattr__(self, "strength", float(self.strength))
        if not isinstance(self.blank, bool):
            raise TypeError(f"blank must be True or False, got {self.blank!r}")
        models = _names("models", self.models)
        known = (*TORCH_MODELS, *BASELINES, *(cm.name for cm in custom))
        for m in models:
            if m not in known and not is_torch_model(m):
                raise ValueError(f"unknown model {m!r}; known: {', '.join(known)}")
        object.__setattr__(self, "models", models)
        if isinstance(self.seeds, int) or not isinstance(self.seeds, Iterable):
            raise TypeError(f"seeds must be a sequence of integers, got {self.seeds!r}")
        seeds = tuple(check_int("seeds[i]", s, low=0, high=2**32 - 1) for s in self.seeds)
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {list(seeds)}")
        object.__setattr__(self, "seeds", seeds)
        from signalinject.benchmarks.train import resolve_device

        resolve_device(self.device)  # a bad or unavailable device fails here, before any work
        check_int("epochs", self.epochs, low=1)
        check_int("batch_size", self.batch_size, low=1)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)):
            raise TypeError(f"lr must be a number, got {self.lr!r}")
        if not 0 < self.lr < float("inf"):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        object.__setattr__(self, "lr", float(self.lr))
        if self.text_length is None:
            object.__setattr__(self, "text_length", TEXT_LENGTHS.get(self.dataset, 1014))
        # bounded: the codes are (N, text_length) int64, allocated before anything trains
        check_int("text_length", self.text_length, low=1, high=MAX_TEXT_LENGTH)
        if self.limit is not None:
            check_int("limit", self.limit, low=1)
        if self.input_scale not in ("unit", "raw"):
            raise ValueError(f"input_scale must be 'unit' or 'raw', got {self.input_scale!r}")
        frac = check_fraction("fit_fraction", self.fit_fraction)
        if frac == 0.0:
            raise ValueError("fit_fraction must be > 0, got 0.0")
        object.__setattr__(self, "fit_fraction", frac)
        object.__setattr__(self, "out", os.fspath(self.out))


def suite_for(dataset: str) -> str:
    """The suite (``"images"`` or ``"text"``) that runs ``dataset``.

    Examples:
        >>> suite_for("digits"), suite_for("stdlib_docs")
        ('images', 'text')
    """
    kind = _DATASET_KINDS.get(dataset)
    if kind is None:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(_DATASET_KINDS)}")
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
    return [Cell(s, sig, m) for s in cfg.seeds for sig in cfg.signals for m in cfg.models]


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
    """

    x_train: Any
    y_train: IntArray
    x_test: Any
    y_test: IntArray
    x_wrong: Any
    wrong_code: IntArray | None
    carried: npt.NDArray[np.bool_] | None
    decode_accuracy: float | None


def prepare(
    inj: Injector | None,
    x_train: Any,
    y_train: IntArray,
    x_test: Any,
    y_test: IntArray,
    *,
    seen: Callable[[Any], Any] | None = None,
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
    """
    if inj is None:
        return Prepared(x_train, y_train, x_test, y_test, None, None, None, None)
    inj = inj.fit(x_train, y_train)  # signals fitted to data (OnePixelShortcut); others: itself
    n_train, n_test = len(y_train), len(y_test)
    i_train = np.arange(n_train, dtype=np.int64)
    i_test = np.arange(n_train, n_train + n_test, dtype=np.int64)
    xi_train = inj(x_train, y_train, index=i_train)
    xi_test = inj(x_test, y_test, index=i_test)
    decoded = np.asarray(inj.decode(xi_test if seen is None else seen(xi_test)), dtype=np.int64)
    wrong = wrong_signal(inj)
    x_wrong = wrong(x_test, y_test, index=i_test)
    code, carried = wrong.codes(y_test, i_test)
    return Prepared(
        x_train=xi_train,
        y_train=y_train,
        x_test=xi_test,
        y_test=y_test,
        x_wrong=x_wrong,
        wrong_code=np.asarray(code, dtype=np.int64),
        carried=np.asarray(carried, dtype=np.bool_),
        decode_accuracy=float((decoded == y_test).mean()) if n_test else None,
    )


@dataclasses.dataclass(frozen=True)
class Scores:
    """What [`measure`][signalinject.benchmarks.runner.measure] finds for one fitted model
    (fractions in [0, 1]).

    ``reliance`` and ``reliance_true_accuracy`` are None for the clean cell (no signal);
    ``n_carried`` is the number of test samples that carry the signal (reliance's denominator,
    None for clean); ``nonfinite`` counts the predictions (test set and wrong-signal copy) made
    from outputs holding NaN or infinity (always 0 for estimators, which return labels).
    """

    accuracy: float
    reliance: float | None
    reliance_true_accuracy: float | None
    n_carried: int | None = None
    nonfinite: int = 0


def measure(
    predict: Callable[[Any], IntArray],
    prep: Prepared,
    nonfinite: Callable[[], int] = lambda: 0,
) -> Scores:
    """Accuracy, reliance and the true-label accuracy under a wrong signal, of a fitted model.

    Args:
        predict: maps data like ``prep.x_test`` to int64 ``(N,)`` predictions.
        prep: the output of [`prepare`][signalinject.benchmarks.runner.prepare].
        nonfinite: after the predictions, the number of them made from non-finite outputs.
    """
    acc = float((predict(prep.x_test) == prep.y_test).mean())
    if prep.x_wrong is None or prep.wrong_code is None or prep.carried is None:
        return Scores(acc, None, None, None, nonfinite())
    pred_w = predict(prep.x_wrong)
    return Scores(
        accuracy=acc,
        reliance=reliance(pred_w, prep.wrong_code, prep.carried),
        reliance_true_accuracy=float((pred_w == prep.y_test).mean()),
        n_carried=int(prep.carried.sum()),
        nonfinite=nonfinite(),
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
    scores: Scores, clean_acc: float, clean_nonfinite: int, y_test: IntArray
) -> dict[str, Any]:
    """The `MEASURE_FIELDS` of one cell: intervals,
    the clean test, non-finite counts."""
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
        "nonfinite_outputs": scores.nonfinite,
        "clean_nonfinite_outputs": clean_nonfinite,
    }


# -- the run ---------------------------------------------------------------------------------------
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


class _Runner:
    """The state of one run: the data, the prepared inputs per model kind, the results file."""

    def __init__(self, cfg: BenchConfig) -> None:
        from signalinject.benchmarks import baselines, datasets, models, train

        self.cfg = cfg
        self.baselines, self.models, self.train = baselines, models, train
        self.bundle = datasets.load_dataset(
            cfg.dataset, data_dir=cfg.data_dir, download=cfg.download, limit=cfg.limit
        )
        if self.bundle.kind != cfg.kind:
            raise ValueError(
                f"dataset {cfg.dataset!r} holds {self.bundle.kind} data, suite {cfg.suite!r} "
                f"needs {cfg.kind} data"
            )
        self.device = train.resolve_device(cfg.device)
        self.fingerprint = _fingerprint(self.bundle)  # of the real data, blank or not
        if cfg.blank:
            self.bundle = dataclasses.replace(
                self.bundle,
                x_train=blank_data(self.bundle.x_train),
                x_test=blank_data(self.bundle.x_test),
            )
        self.y_train = np.asarray(self.bundle.y_train, dtype=np.int64)
        self.y_test = np.asarray(self.bundle.y_test, dtype=np.int64)
        self.quantizer: Any = None
        self.inj_quantizer: Any = None  # what the text injectors get: None for Zhang's default
        if cfg.kind == "text":
            from signalinject.text import CharQuantizer

            self.quantizer = CharQuantizer(length=cfg.frame_length)
            if self.quantizer != CharQuantizer():
                self.inj_quantizer = self.quantizer
        self.input_shape = self._input_shape()
        self.forget()
        k = self.bundle.num_classes
        for s in cfg.signals:  # a strength too large for K fails here, before any training
            check_strength(s, cfg.strength, k)
        for s in cfg.signals:  # so does a signal the data cannot hold (capacity, text length)
            try:
                make_injector(
                    s, k, cfg.seeds[0], kind=cfg.kind, quantizer=self.inj_quantizer,
                    strength=cfg.strength,
                )  # fmt: skip
            except ValueError as e:
                what = f"text_length={cfg.frame_length}" if cfg.kind == "text" else cfg.dataset
                raise ValueError(f"signal {s} cannot run with {what}: {e}") from e
        self.custom = {cm.name: cm for cm in cfg.custom_models}
        self.custom_kind: dict[str, str] = {}  # "torch" or "estimator"
        self.architecture: dict[str, str] = {}  # hash of the built model's repr
        for m in cfg.models:  # refuse a model that cannot take this data before any training
            if models.is_torch_model(m):
                models.build_model(m, self.input_shape, k)
            elif m in self.custom:
                self._probe(self.custom[m])

    def _input_shape(self) -> tuple[int, ...]:
        if self.cfg.kind == "text":
            return (self.cfg.frame_length,)
        _, h, w, c = np.shape(self.bundle.x_train)
        return (c, h, w)

    def train_config(self, seed: int) -> Any:
        return self.train.TrainConfig(
            epochs=self.cfg.epochs,
            batch_size=self.cfg.batch_size,
            lr=self.cfg.lr,
            device=str(self.device),
            seed=seed,
            progress=self.cfg.progress,
        )

    def is_torch(self, model: str) -> bool:
        return self.models.is_torch_model(model) or self.custom_kind.get(model) == "torch"

    # -- custom models -------------------------------------------------------------------------
    def build_custom(self, cm: CustomModel, seed: int) -> Any:
        """``cm``'s model for one cell (torch seeded with ``seed``); its errors named as its."""
        torch.manual_seed(seed)
        k = self.bundle.num_classes
        try:
            model = cm.factory(self.input_shape, k)
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # sys.exit() in user code is a failure too, never a success
            raise ModelFactoryError(
                f"the factory {cm.name} raised {type(e).__name__}: {e} (it was called with "
                f"input_shape={self.input_shape}, num_classes={k})"
            ) from e
        if isinstance(model, torch.nn.Module):
            return model
        if callable(getattr(model, "fit", None)) and callable(getattr(model, "predict", None)):
            return model
        raise ModelFactoryError(
            f"the factory {cm.name} returned a {type(model).__name__}; expected a "
            f"torch.nn.Module or an estimator with fit(X, y) and predict(X)"
        )

    def _probe(self, cm: CustomModel) -> None:
        """Build ``cm``'s model once and run a torch model on two real samples: the output must
        be logits ``(2, K)``. Records the model's kind and architecture for the cell identity."""
        model = self.build_custom(cm, 0)
        # the repr without memory addresses ("<function f at 0x7f...>" differs per process)
        arch = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(model))
        self.architecture[cm.name] = hashlib.blake2b(arch.encode(), digest_size=8).hexdigest()
        if not isinstance(model, torch.nn.Module):
            self.custom_kind[cm.name] = "estimator"
            return
        self.custom_kind[cm.name] = "torch"
        n = min(2, len(self.y_train))
        x = self._model_input(self.bundle.x_train[:n])
        try:
            model.to(self.device).eval()
            with torch.no_grad():
                out = model(x)
        except KeyboardInterrupt:
            raise
        except BaseException as e:
            raise ModelFactoryError(
                f"the model from {cm.name} failed on a batch of {n} samples "
                f"({x.dtype} {tuple(x.shape)}): {type(e).__name__}: {e}"
            ) from e
        k = self.bundle.num_classes
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (n, k):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ModelFactoryError(
                f"the model from {cm.name} returned {got} for a batch of {n} samples; expected "
                f"logits of shape ({n}, {k}), one per class (num_classes={k})"
            )
        if not out.is_floating_point():
            raise ModelFactoryError(
                f"the model from {cm.name} returned {out.dtype} outputs; expected float logits"
            )

    def key(self, cell: Cell, inj: Injector | None) -> dict[str, Any]:
        """Every setting that changes the cell's result (and nothing that does not)."""
        key: dict[str, Any] = {
            "suite": self.cfg.suite,
            "dataset": self.cfg.dataset,
            "data_fingerprint": self.fingerprint,
            "signal": cell.signal,
            "injector": None if inj is None else inj.identity(),
            "model": cell.model,
            "seed": cell.seed,
        }
        if self.cfg.kind == "text":
            key["text_length"] = self.cfg.frame_length
        if self.is_torch(cell.model):
            tc = dataclasses.asdict(self.train_config(cell.seed))
            tc.pop("progress", None)
            key["train"] = tc
            if self.cfg.kind == "image":
                key["input_scale"] = self.cfg.input_scale
        else:
            key["fit_fraction"] = self.cfg.fit_fraction
            if cell.model in self.custom and self.cfg.kind == "image":
                key["input_scale"] = self.cfg.input_scale  # a custom estimator's features
        if cell.model in self.custom:
            key["model_identity"] = self.model_identity(cell.model)
        # only where set: the cells of runs before these options keep their identity
        if self.cfg.blank:
            key["blank"] = True
        return key

    def model_identity(self, model: str) -> dict[str, str] | None:
        """A custom model's code fingerprint, kind and architecture hash (None if built in)."""
        if model not in self.custom:
            return None
        return {
            "code": self.custom[model].fingerprint,
            "kind": self.custom_kind[model],
            "architecture": self.architecture[model],
        }

    # -- model inputs --------------------------------------------------------------------------
    # The inputs of the current (signal, seed) are converted once and shared by its models;
    # ``forget`` drops them when the next signal's data comes.
    def forget(self) -> None:
        self._inputs: dict[tuple[int, str], Any] = {}

    def _cached(self, x: Any, what: str, make: Callable[[Any], Any]) -> Any:
        key = (id(x), what)
        if key not in self._inputs:
            self._inputs[key] = (x, make(x))  # x kept alive: its id stays unique
        return self._inputs[key][1]

    def codes(self, x: Any) -> IntArray:
        return np.asarray(self.quantizer.encode(x), dtype=np.int64)

    def _model_input(self, data: Any) -> torch.Tensor:
        if self.cfg.kind == "text":
            return torch.from_numpy(self.codes(data)).to(self.device)
        out: torch.Tensor = self.train.images_to_tensor(
            data, input_scale=self.cfg.input_scale, device=self.device
        )
        return out

    def torch_input(self, x: Any) -> torch.Tensor:
        out: torch.Tensor = self._cached(x, "torch", self._model_input)
        return out

    def scaled_features(self, x: Any) -> npt.NDArray[np.float32]:
        """A custom estimator's input: `features`, divided by 255 for unit-scale images."""
        if self.cfg.kind == "text" or self.cfg.input_scale == "raw":
            return self.features(x)

        def make(data: Any) -> npt.NDArray[np.float32]:
            out: npt.NDArray[np.float32] = self.features(data) * np.float32(1 / 255)
            return out

        out: npt.NDArray[np.float32] = self._cached(x, "features_unit", make)
        return out

    def features(self, x: Any) -> npt.NDArray[np.float32]:
        def make(data: Any) -> npt.NDArray[np.float32]:
            if self.cfg.kind == "text":
                data = self.codes(data)
            return np.asarray(self.baselines.features(data), dtype=np.float32)

        out: npt.NDArray[np.float32] = self._cached(x, "features", make)
        return out

    # -- one cell ------------------------------------------------------------------------------
    def fit_predict(self, cell: Cell, prep: Prepared) -> tuple[Scores, int]:
        """Fit ``cell.model`` on ``prep``'s training set and measure it; also returns n_fit."""
        cm = self.custom.get(cell.model)
        if cm is None:
            return self._fit_predict(cell, prep)
        try:
            return self._fit_predict(cell, prep)
        except (ModelFactoryError, KeyboardInterrupt):
            raise
        except BaseException as e:  # the user's model failed (or exited): say so, with the cell
            raise ModelFactoryError(
                f"the model from {cm.name} failed in seed {cell.seed}, signal {cell.signal}: "
                f"{type(e).__name__}: {e}"
            ) from e

    def _fit_predict(self, cell: Cell, prep: Prepared) -> tuple[Scores, int]:
        k = self.bundle.num_classes
        cm = self.custom.get(cell.model)
        if self.is_torch(cell.model):
            tc = self.train_config(cell.seed)
            torch.manual_seed(cell.seed)  # model init; fit seeds its own shuffling
            if cm is not None:
                net = self.build_custom(cm, cell.seed)
            else:
                net = self.models.build_model(cell.model, self.input_shape, k)
            x = self.torch_input(prep.x_train)
            y = torch.from_numpy(prep.y_train).to(self.device)
            net = self.train.fit(net, x, y, tc)

            def predict(data: Any) -> IntArray:
                out = self.train.predict(net, self.torch_input(data), tc)
                return np.asarray(out, dtype=np.int64)

            return measure(predict, prep, _NonFinite(net)), len(prep.y_train)
        idx = np.asarray(
            self.baselines.fit_subset(len(prep.y_train), self.cfg.fit_fraction, cell.seed)
        )
        if cm is not None:
            est = self.build_custom(cm, cell.seed)
            feats = self.scaled_features
        else:
            est = self.baselines.build_baseline(cell.model, seed=cell.seed)
            feats = self.features
        est.fit(feats(prep.x_train)[idx], prep.y_train[idx])

        def predict_b(data: Any) -> IntArray:
            out = np.asarray(est.predict(feats(data)))
            n = len(prep.y_test)
            if cm is not None and (out.shape != (n,) or not np.isin(out, np.arange(k)).all()):
                raise ModelFactoryError(
                    f"the estimator from {cm.name} predicted {out.dtype} {out.shape} for {n} "
                    f"samples; expected ({n},) class labels in 0..{k - 1}"
                )
            return out.astype(np.int64)

        return measure(predict_b, prep), len(idx)


def run(cfg: BenchConfig, *, share: Share | None = None) -> list[dict[str, Any]]:
    """Run every cell of ``cfg`` (of ``share``) not already in a results file of ``cfg.out``.

    Args:
        cfg: the grid.
        share: the part of the grid this process runs and the file it appends to (see
            [`signalinject.benchmarks.grid`][signalinject.benchmarks.grid]); None: the whole grid,
            ``results.jsonl``.

    Returns:
        One dict per cell of [`cell_grid`][signalinject.benchmarks.runner.cell_grid] (of ``share``),
        in that order: the finished cells read back from the files and the new ones, exactly as
            written (see the module doc).

    Raises:
        signalinject.benchmarks.grid.ConflictingResultsError: two results files of ``cfg.out``
            hold different results for one cell.
    """
    share = Share() if share is None else share
    out = Path(cfg.out)
    if not share.write:
        make_dir(out)
        return _run(cfg, out / share.results_name, share)
    with exclusive(out, share.lock_name):
        return _run(cfg, out / share.results_name, share)


def _run(cfg: BenchConfig, path: Path, share: Share) -> list[dict[str, Any]]:
    from signalinject import __version__

    for p in (path, corrupt_path(path)):  # refused now, not after the first cell
        refuse_symlink(p)
    done, bad = load_records(path)
    if bad and share.write:
        repair_records(path, done, bad)
    done = merge_results(path.parent)  # done in any process's file is done
    r = _Runner(cfg)
    if share.write:  # a results file that cannot be written fails now, before training
        append_bytes(path, b"")
    groups = {
        (s, m): cell_id(r.key(Cell(s, "clean", m), None)) for s in cfg.seeds for m in cfg.models
    }
    mine = share.select(groups)
    grid = [c for c in cell_grid(cfg) if (c.seed, c.model) in mine]
    rows: list[dict[str, Any]] = []
    n_done = 0
    bar = _progress(len(grid), cfg.progress)
    try:
        for seed in cfg.seeds:
            for signal in cfg.signals:
                inj = make_injector(
                    signal,
                    r.bundle.num_classes,
                    seed,
                    kind=cfg.kind,
                    quantizer=r.inj_quantizer,
                    strength=cfg.strength,
                )
                sig = SIGNALS[signal]
                strength = sig.default_strength if cfg.strength is None else cfg.strength
                prep: Prepared | None = None  # prepared on the first cell that needs it
                for model in cfg.models:
                    if (seed, model) not in mine:
                        continue
                    cell = Cell(seed, signal, model)
                    key = r.key(cell, inj)
                    cid = cell_id(key)
                    if cid in done:
                        rows.append(done[cid])
                        n_done += 1
                        bar.update(1)
                        continue
                    bar.set_description(f"seed {seed} {signal} {model}")
                    if prep is None:
                        r.forget()
                        seen = r.codes if cfg.kind == "text" else None
                        prep = prepare(
                            inj, r.bundle.x_train, r.y_train, r.bundle.x_test, r.y_test, seen=seen
                        )
                    t0 = time.perf_counter()
                    # a fit's warnings (e.g. a solver that did not converge) are part of its
                    # result: recorded in the line and logged, never raised, never lost
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        scores, n_fit = r.fit_predict(cell, prep)
                    seconds = time.perf_counter() - t0
                    notes = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
                    for note in notes:
                        logger.warning("seed %d %s %s: %s", seed, signal, model, note)
                    acc = scores.accuracy
                    if signal == "clean":
                        clean_acc, clean_nonfinite = acc, scores.nonfinite
                    else:  # the clean cell of this (seed, model) ran (or was loaded) just before
                        clean_rec = done[cell_id(r.key(Cell(seed, "clean", model), None))]
                        clean_acc = float(clean_rec["accuracy"])
                        clean_nonfinite = int(clean_rec.get("nonfinite_outputs", 0))
                    rec: dict[str, Any] = {
                        "cell_id": cid,
                        "suite": cfg.suite,
                        "dataset": cfg.dataset,
                        "signal": signal,
                        "model": model,
                        "seed": seed,
                        "accuracy": acc,
                        "clean_accuracy": clean_acc,
                        "gain": acc - clean_acc,
                        "decode_accuracy": prep.decode_accuracy,
                        "reliance": scores.reliance,
                        "reliance_true_accuracy": scores.reliance_true_accuracy,
                        **_measures(scores, clean_acc, clean_nonfinite, r.y_test),
                        "injector": key["injector"],
                        "train": key.get("train"),
                        "input_scale": key.get("input_scale"),
                        "text_length": key.get("text_length"),
                        "fit_fraction": key.get("fit_fraction"),
                        "blank": cfg.blank,
                        "strength": strength if sig.strength else None,
                        "model_identity": key.get("model_identity"),
                        "num_classes": r.bundle.num_classes,
                        "n_train": len(r.y_train),
                        "n_fit": n_fit,
                        "n_test": len(r.y_test),
                        "limit": cfg.limit,
                        "data_description": r.bundle.description,
                        "data_fingerprint": r.fingerprint,
                        "device": str(r.device),
                        "version": __version__,
                        "seconds": round(seconds, 3),
                        "warnings": notes,
                        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    }
                    if share.write:
                        append_record(path, rec)
                    done[cid] = rec
                    rows.append(rec)
                    bar.update(1)
    finally:
        bar.close()
    if n_done:
        logger.info(
            "%d of %d cells were already in %s and were skipped",
            n_done,
            len(grid),
            path.parent,
        )
    return rows


class _Bar:
    """The part of tqdm's interface the runner uses, silent (progress=False)."""

    def update(self, n: int) -> None:
        pass

    def set_description(self, desc: str) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return _Bar()
    from tqdm import tqdm

    return tqdm(total=total, unit="cell", dynamic_ncols=True)
