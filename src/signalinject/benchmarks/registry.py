"""The registries of the benchmarks' models and data sets: one entry each, read by everything else.

A model is one [`ModelEntry`][signalinject.benchmarks.registry.ModelEntry]: its builder, display
name, colour, size grammar (``resnet18-w16``), the inputs it takes, the rule that keys its stored
results, and the default runs it belongs to. A data set is one
[`DatasetEntry`][signalinject.benchmarks.registry.DatasetEntry]: its loader, kind, classes, how
it is built, citation and default text length. The runner, reports, figures, atlas, scan, sweep,
the command line's help and the docs' tables read them; nothing else names a model or a data set.

Adding one
    A new model or data set is one module that calls
    [`register_model`][signalinject.benchmarks.registry.register_model] or
    [`register_dataset`][signalinject.benchmarks.registry.register_dataset] when imported, plus
    its name in `MODULES` (one line). The registries import those modules the first time they
    are read, so ``import signalinject.benchmarks.registry`` stays light. A user's own model,
    ``MODULE:FACTORY`` or a [`CustomModel`][signalinject.benchmarks.registry.CustomModel], goes
    through the same lookup ([`model`][signalinject.benchmarks.registry.model]) without being
    registered.

Names and sizes
    A model's name is its entry's name, or, for an entry that declares ``sizes``, the name with
    size options: ``BASE(-LETTER INT)*``, e.g. ``resnet18-w16`` (width 16) or ``vit-w64-d4``
    (width 64, depth 4). Dashes keep names free of commas and shell characters, so they go into
    ``--models a,b`` as they are.

Identity
    What keys a model's stored results (its cells' ids, which hash every setting that changes a
    cell's result) is the entry's ``identity``: ``"paper"`` (the name alone: the paper's models
    and baselines keep their 0.1.0 cell ids), ``"structure"`` (a hash of the built model's
    structure, the default: a changed architecture gives new cells, never stale results) or
    ``"code"`` (a user's factory: its source fingerprint, the kind and architecture of what it
    builds).

Examples:
    >>> m = model("vit-w64-d4")
    >>> m.entry.name, dict(m.options), m.entry.inputs, m.entry.identity
    ('vit', {'width': 64, 'depth': 4}, ('images',), 'structure')
    >>> default_models("images")[:4]
    ('convnet', 'shallow_max', 'perceptron', 'gaussian_nb')
    >>> d = DATASETS["photo_digits"]
    >>> d.kind, d.num_classes, d.embedded, default_dataset("images")
    ('image', 10, True, 'photo_digits')
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from signalinject.benchmarks._user_code import load_callable, source_fingerprint
from signalinject.benchmarks.errors import ModelFactoryError

__all__ = [
    "DATASETS",
    "MODELS",
    "MODULES",
    "CustomModel",
    "DataBundle",
    "DatasetEntry",
    "Model",
    "ModelEntry",
    "build_model",
    "count_parameters",
    "custom_model",
    "dataset",
    "model",
    "register_dataset",
    "register_model",
]

Kind = Literal["image", "text"]
#: What a model takes: ``"images"`` float32 ``(N, C, H, W)``, ``"codes"`` int64 character codes
#: ``(N, L)`` (torch tensors on the run's device), ``"features"`` float32 ``(N, D)`` NumPy arrays
#: (the flattened images or codes, for an estimator's ``fit(X, y)`` / ``predict(X)``).
Input = Literal["images", "codes", "features"]
Identity = Literal["paper", "structure", "code"]
#: Builds a fresh model: ``build(input_shape, num_classes, *, seed, **options)`` returns a
#: ``torch.nn.Module`` (logits ``(N, K)``) or an estimator; ``input_shape`` is one sample as the
#: model sees it, ``(C, H, W)`` or ``(L,)``; ``seed`` is for estimators that draw (torch is
#: seeded by the runner before the call); ``options`` are the name's size options.
Builder = Callable[..., Any]

MODULES: list[str] = [
    "signalinject.benchmarks.models",
    "signalinject.benchmarks.modern",
    "signalinject.benchmarks.baselines",
    "signalinject.benchmarks.datasets",
]
"""The modules that register the built-in models and data sets, imported the first time a
registry is read (in this order: the order of the defaults and of the reports' rows). A new
model or data set module adds its one line here."""

#: The charts' colours (matplotlib's tab10, then tab20's light shades): entries name theirs,
#: models without one take the unused ones by order of appearance.
COLOURS: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip

_INPUTS: tuple[Input, ...] = ("images", "codes", "features")
# what a torch model of each input takes: (in words, the number of axes of one sample)
_SHAPES: dict[str, tuple[str, int]] = {
    "images": ("images of shape (C, H, W)", 3),
    "codes": ("text codes of shape (L,)", 1),
}
_IDENTITIES: tuple[Identity, ...] = ("paper", "structure", "code")
_MODEL_NAME = re.compile(r"[a-z][a-z0-9_]*")
_SIZED = re.compile(r"^([a-z][a-z0-9_]*)((?:-[a-z][0-9]+)*)$")

IntArray = npt.NDArray[np.int64]
ImageArray = npt.NDArray[np.uint8]


def _frozen(mapping: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{what} must be a mapping, got {mapping!r}")
    return MappingProxyType(dict(mapping))


# -- models -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class ModelEntry:
    """One model of the benchmarks, as registered.

    Attributes:
        name: the model's name in runs and results (``convnet``): lowercase letters, digits and
            underscores.
        build: ``build(input_shape, num_classes, *, seed, **options)`` (see `Builder`).
        display_name: its name in tables and charts (``ConvNet``).
        inputs: what it takes (see `Input`): ``("images",)``, ``("codes",)``, both, or
            ``("features",)`` for an estimator; its data kinds follow (`kinds`).
        colour: its colour in every chart (``#1f77b4``); None: a spare colour by order of
            appearance.
        sizes: the size options a name may carry, suffix letter -> build option
            (``{"w": "width"}``: ``resnet18-w16`` builds with ``width=16``).
        identity: what keys its stored results: ``"paper"``, ``"structure"`` or ``"code"`` (see
            the module doc).
        defaults: the default runs it belongs to, run -> the name it runs under there:
            ``"images"``/``"text"`` (the suites), ``"atlas"``/``"atlas_full"`` (the atlas on a
            CPU / at published sizes), ``"sweep"`` (the strength sweep of its kind).
        headline: its rank as the model a suite's headline table is about (the paper's model of
            its kind; lower first); None: a competitor.
        description: its architecture in a few words, for the docs' tables.
        raw_features: an estimator's features are the raw values (pixels in 0..255, as the
            paper's baselines see them); False: preprocessed by the run's ``preprocess``, as the
            torch models' images are (a user's factory).
        fingerprint: identity ``"code"``: the hash of the factory's source.
        lr: its own peak learning rate, used in every run in place of the run's ``lr`` (a
            model that needs another step size than its suite's, the same for data and blank
            runs); None: the run's.
    """

    name: str
    build: Builder
    display_name: str
    inputs: tuple[Input, ...]
    colour: str | None = None
    sizes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    identity: Identity = "structure"
    defaults: Mapping[str, str] = dataclasses.field(default_factory=dict)
    headline: int | None = None
    description: str = ""
    raw_features: bool = True
    fingerprint: str = ""
    lr: float | None = None

    def __post_init__(self) -> None:
        if not callable(self.build):
            raise TypeError(f"ModelEntry.build must be callable, got {self.build!r}")
        if not isinstance(self.display_name, str) or not self.display_name:
            raise TypeError(f"display_name must be a non-empty string, got {self.display_name!r}")
        inputs = tuple(self.inputs)
        if not inputs or any(i not in _INPUTS for i in inputs):
            raise ValueError(f"inputs must be among {_INPUTS}, got {self.inputs!r}")
        object.__setattr__(self, "inputs", inputs)
        if self.identity not in _IDENTITIES:
            raise ValueError(f"identity must be one of {_IDENTITIES}, got {self.identity!r}")
        sizes = _frozen(self.sizes, "sizes")
        for letter, option in sizes.items():
            if not re.fullmatch(r"[a-z]", letter) or not str(option).isidentifier():
                raise ValueError(f"sizes must map one letter to an option, got {letter!r}")
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "defaults", _frozen(self.defaults, "defaults"))
        if self.lr is not None:
            if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)):
                raise TypeError(f"ModelEntry.lr must be None or a number, got {self.lr!r}")
            if not 0 < self.lr < float("inf"):
                raise ValueError(f"ModelEntry.lr must be a finite number > 0, got {self.lr}")
            object.__setattr__(self, "lr", float(self.lr))

    @property
    def kinds(self) -> tuple[Kind, ...]:
        """The data kinds it runs on: images, text, or both (an estimator on features)."""
        image: tuple[Kind, ...] = ("image",) if {"images", "features"} & set(self.inputs) else ()
        text: tuple[Kind, ...] = ("text",) if {"codes", "features"} & set(self.inputs) else ()
        return image + text


@dataclasses.dataclass(frozen=True, eq=False)
class Model:
    """A model as a run names it: its entry and the size options its name carries.

    Attributes:
        name: the name in the run (``resnet18-w16``, ``my_models.py:make_net``).
        entry: its [`ModelEntry`][signalinject.benchmarks.registry.ModelEntry].
        options: the name's size options (``{"width": 16}``).
    """

    name: str
    entry: ModelEntry
    options: Mapping[str, int] = dataclasses.field(default_factory=dict)

    @property
    def display_name(self) -> str:
        """The entry's display name; a sized name's with its size beside it, so that every
        table names models one way (``ConvNet`` beside ``ResNet-18 (w16)``, not
        ``resnet18-w16``).

        Examples:
            >>> find_model("resnet18-w16").display_name, find_model("vit-w64-d4").display_name
            ('ResNet-18 (w16)', 'ViT (w64-d4)')
        """
        if not self.options:
            return self.entry.display_name
        size = self.name.removeprefix(self.entry.name).lstrip("-")
        return f"{self.entry.display_name} ({size})" if size else self.entry.display_name

    def build(
        self, input_shape: tuple[int, ...], num_classes: int, *, seed: int = 0, **options: Any
    ) -> Any:
        """A fresh model for inputs of one sample's ``input_shape``; ``options`` override the
        name's size options."""
        shape = _input_shape(input_shape)
        takes = self.entry.inputs
        if "features" not in takes and self.entry.identity != "code":  # a shape it must take
            forms = [_SHAPES[i] for i in takes]
            if all(len(shape) != axes for _, axes in forms):
                what = " or ".join(words for words, _ in forms)
                raise ValueError(f"{self.name} takes {what}, got input_shape {shape}")
        return self.entry.build(shape, num_classes, seed=seed, **{**self.options, **options})

    def identity(self, built: Any) -> dict[str, str] | None:
        """What keys the cells of this model, given one model it built (see the module doc)."""
        rule = self.entry.identity
        if rule == "paper":
            return None
        if rule == "structure":
            return {"structure": structure_hash(built)}
        kind = "torch" if _is_module(built) else "estimator"
        return {"code": self.entry.fingerprint, "kind": kind, "architecture": _repr_hash(built)}


def build_model(
    name: str, input_shape: tuple[int, ...], num_classes: int, *, seed: int = 0, **options: Any
) -> Any:
    """A fresh registered model ``name`` (size options included, see
    [`model`][signalinject.benchmarks.registry.model]) for inputs of one sample's
    ``input_shape``: ``(C, H, W)`` for images, ``(L,)`` for text codes.

    Raises:
        ValueError: an unknown name, or an input shape the model cannot take.
    """
    return model(name).build(input_shape, num_classes, seed=seed, **options)


def count_parameters(built: Any) -> int:
    """Number of trainable parameters of a torch model (frozen buffers such as CharCNN's one-hot
    table excluded)."""
    return sum(p.numel() for p in built.parameters() if p.requires_grad)


def _input_shape(input_shape: Any) -> tuple[int, ...]:
    from signalinject.core import check_int

    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"input_shape must be a tuple of ints, got {input_shape!r}")
    return tuple(check_int(f"input_shape[{i}]", v, low=1) for i, v in enumerate(input_shape))


def _is_module(obj: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")  # a torch model implies torch is imported
    return torch is not None and isinstance(obj, torch.nn.Module)


def _repr_hash(obj: Any) -> str:
    """16 hex digits of ``repr(obj)`` without memory addresses (``<function f at 0x7f...>``
    differs per process)."""
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(obj))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def structure_hash(model: Any) -> str:
    """16 hex digits naming ``model``'s structure, the same for every seed: for a torch model
    its modules (``repr``) and the name and shape of every parameter and buffer (which a
    ``repr`` omits: a class token, learned or fixed positions); for anything else its ``repr``
    without memory addresses."""
    if not _is_module(model):
        return _repr_hash(model)
    shapes = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    text = f"{model!r}\n{shapes}"
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


# -- users' models ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CustomModel:
    """A user's model for the runner, built by a factory for each cell.

    Args:
        name: the model's name in the results (e.g. ``"my_models.py:make_net"``); must differ
            from the registered names.
        factory: ``factory(input_shape, num_classes)`` returns a fresh model for one cell:

            - a ``torch.nn.Module`` mapping a batch to logits ``(N, num_classes)``; its input is
              float32 ``(N, C, H, W)`` images (preprocessed by ``preprocess``), or int64
              character codes ``(N, L)`` for text (0 padding, 1..70 Zhang's alphabet); it is
              trained by [`fit`][signalinject.benchmarks.train.fit]
              (AdamW, cross-entropy);
            - or a scikit-learn-style estimator (``fit(X, y)``, ``predict(X)``) on float32
              ``(N, D)``: the flattened images, preprocessed the same way, or the codes.

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

    def as_model(self) -> Model:
        """This factory as a [`Model`][signalinject.benchmarks.registry.Model] of identity
        ``"code"``: built with torch seeded by the cell's seed, its failures raised as
        [`ModelFactoryError`][signalinject.benchmarks.errors.ModelFactoryError]."""
        cm = self

        def build(input_shape: tuple[int, ...], num_classes: int, *, seed: int = 0) -> Any:
            import torch

            torch.manual_seed(seed)
            try:
                built = cm.factory(input_shape, num_classes)
            except KeyboardInterrupt:
                raise
            except BaseException as e:  # sys.exit() in user code is a failure too
                raise ModelFactoryError(
                    f"the factory {cm.name} raised {type(e).__name__}: {e} (it was called with "
                    f"input_shape={input_shape}, num_classes={num_classes})"
                ) from e
            if isinstance(built, torch.nn.Module) or (
                callable(getattr(built, "fit", None)) and callable(getattr(built, "predict", None))
            ):
                return built
            raise ModelFactoryError(
                f"the factory {cm.name} returned a {type(built).__name__}; expected a "
                f"torch.nn.Module or an estimator with fit(X, y) and predict(X)"
            )

        short = self.name.rpartition(":")[2] or self.name
        entry = ModelEntry(
            self.name, build, short, _INPUTS, identity="code", raw_features=False,
            fingerprint=self.fingerprint,
        )  # fmt: skip
        return Model(self.name, entry)


def load_factory(spec: str) -> CustomModel:
    """Import ``MODULE:FACTORY`` and return it as a
    [`CustomModel`][signalinject.benchmarks.registry.CustomModel] named ``spec``, fingerprinted
    by its module's source (see `signalinject.benchmarks._user_code`).

    Raises:
        ModelFactoryError: a malformed spec, a module that is missing or fails to import (with
            the exception and where it happened), a missing attribute (with the callables the
            module defines), or an attribute that is not callable.
    """
    factory, fingerprint = load_callable(spec)
    return CustomModel(spec, factory, fingerprint)


def custom_model(
    factory: Callable[[tuple[int, ...], int], Any], name: str | None = None
) -> CustomModel:
    """A [`CustomModel`][signalinject.benchmarks.registry.CustomModel] from a callable,
    fingerprinted by its module's source.

    Args:
        factory: ``factory(input_shape, num_classes)`` (see
            [`CustomModel`][signalinject.benchmarks.registry.CustomModel]).
        name: the model's name in the results; default ``module:qualname``.
    """
    if not callable(factory):
        raise ModelFactoryError(f"factory must be callable, got {factory!r}")
    if name is None:
        name = f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', factory)}"
    return CustomModel(name, factory, source_fingerprint(factory))


# -- data sets ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DataBundle:
    """One dataset, split into train and test.

    Attributes:
        name: its registered name.
        kind: ``"image"`` or ``"text"``.
        num_classes: K; labels are ``0..K-1``.
        x_train, x_test: images as uint8 ``(N, H, W, C)`` channels-last in 0..255, or texts as
            ``list[str]``.
        y_train, y_test: int64 ``(N,)`` labels.
        description: one line; says plainly when the data is a stand-in for the paper's.
    """

    name: str
    kind: Kind
    num_classes: int
    x_train: ImageArray | list[str]
    y_train: IntArray
    x_test: ImageArray | list[str]
    y_test: IntArray
    description: str

    def __post_init__(self) -> None:
        if self.kind not in ("image", "text"):
            raise ValueError(f"kind must be 'image' or 'text', got {self.kind!r}")
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if len(x) != len(y):
                raise ValueError(
                    f"{self.name}: x_{split} holds {len(x)} samples but y_{split} {len(y)} labels"
                )


#: Loads a data set: ``load(root, *, download, limit)`` returns its
#: [`DataBundle`][signalinject.benchmarks.registry.DataBundle]; ``root`` is the folder of the
#: real data sets' files, ``limit`` at most this many samples per split (a loader may read
#: only that many; the caller cuts the rest).
Loader = Callable[..., DataBundle]


@dataclasses.dataclass(frozen=True)
class DatasetEntry:
    """One data set of the benchmarks, as registered.

    Attributes:
        name: its name (``photo_digits``).
        load: ``load(root, *, download, limit)`` (see `Loader`).
        kind: ``"image"`` (uint8 ``(N, H, W, C)``) or ``"text"`` (strings).
        num_classes: K.
        built: how it is built, one line (the docs' tables).
        citation: where the data comes from.
        size: train / test samples, as the docs show them (``"1352 / 445"``).
        embedded: needs no file and no download (a stand-in built from what the package's
            dependencies ship); False: read from ``data_dir``.
        text_length: text: the default quantized length (None: Zhang et al.'s 1014).
        defaults: the default runs it belongs to: ``"images"``/``"text"`` (the suites, and with
            them the sweep, atlas, scan and the pictures of ``signalinject show``: every command
            defaults to the same data of a kind).
    """

    name: str
    load: Loader
    kind: Kind
    num_classes: int
    built: str
    citation: str
    size: str
    embedded: bool = False
    text_length: int | None = None
    defaults: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # a user's data set is named by its MODULE:FACTORY (never registered)
        if not _MODEL_NAME.fullmatch(str(self.name)) and ":" not in str(self.name):
            raise ValueError(f"a data set's name must be lowercase, got {self.name!r}")
        if not callable(self.load):
            raise TypeError(f"DatasetEntry.load must be callable, got {self.load!r}")
        if self.kind not in ("image", "text"):
            raise ValueError(f"kind must be 'image' or 'text', got {self.kind!r}")
        object.__setattr__(self, "defaults", tuple(self.defaults))

    @property
    def frame_length(self) -> int:
        """The quantized text length of its runs unless one is given (1014: Zhang et al.)."""
        return self.text_length or 1014


# -- the registries -----------------------------------------------------------------------------
E = TypeVar("E", ModelEntry, DatasetEntry)
_loaded: set[str] = set()


def _load_modules() -> None:
    """Import every module of `MODULES` not imported yet (each registers its entries)."""
    for name in list(MODULES):
        if name not in _loaded:
            _loaded.add(name)  # first: a module that reads the registry while loading is fine
            try:
                importlib.import_module(name)
            except BaseException:
                _loaded.discard(name)  # a failed import fails every read, never a partial one
                raise


class _Registry(Mapping[str, E], Generic[E]):
    """Registered entries by name; `MODULES` imported on first read. The order (of the defaults,
    the reports' rows, the help) is their modules' order in `MODULES`, then the order in which
    each module registers them, whichever module happened to be imported first."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._entries: dict[str, E] = {}

    def _add(self, entry: E) -> E:
        old = self._entries.get(entry.name)
        if old is not None and old is not entry:
            raise ValueError(f"{self._what} {entry.name!r} is registered already")
        self._entries[entry.name] = entry
        return entry

    def _names(self) -> list[str]:
        _load_modules()
        order = {m: i for i, m in enumerate(MODULES)}
        seq = {n: i for i, n in enumerate(self._entries)}

        def rank(name: str) -> tuple[int, int]:
            e = self._entries[name]
            module = getattr(e.build if isinstance(e, ModelEntry) else e.load, "__module__", "")
            return order.get(module, len(order)), seq[name]

        return sorted(self._entries, key=rank)

    def __getitem__(self, name: str) -> E:
        _load_modules()
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        _load_modules()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"{self._what.upper()}S({', '.join(self)})"


MODELS: Mapping[str, ModelEntry] = _Registry("model")
"""Every registered model by name, in registration order (`MODULES` imported on first read)."""
DATASETS: Mapping[str, DatasetEntry] = _Registry("data set")
"""Every registered data set by name, in registration order (`MODULES` imported on first
read)."""


def register_model(entry: ModelEntry) -> ModelEntry:
    """Add ``entry`` to `MODELS` (its module's import does this); returns it.

    Raises:
        ValueError: a name taken by another entry, or one that is not lowercase letters, digits
            and underscores.
    """
    if not isinstance(entry, ModelEntry):
        raise TypeError(f"register_model takes a ModelEntry, got {entry!r}")
    if not _MODEL_NAME.fullmatch(entry.name):
        raise ValueError(
            f"a model's name must be lowercase letters, digits and underscores, got {entry.name!r}"
        )
    return MODELS._add(entry)  # type: ignore[attr-defined,no-any-return]


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Add ``entry`` to `DATASETS` (its module's import does this); returns it.

    Raises:
        ValueError: a name taken by another entry, or not lowercase letters, digits and
            underscores.
    """
    if not isinstance(entry, DatasetEntry):
        raise TypeError(f"register_dataset takes a DatasetEntry, got {entry!r}")
    if not _MODEL_NAME.fullmatch(entry.name):
        raise ValueError(f"a data set's name must be lowercase, got {entry.name!r}")
    return DATASETS._add(entry)  # type: ignore[attr-defined,no-any-return]


def _parse_sized(name: str) -> Model | None:
    """``name`` as a registered entry with size options; None if its base is no sized entry.

    Raises:
        ValueError: the base takes sizes but not these (an unknown or a repeated option).
    """
    m = _SIZED.match(name)
    if m is None or not m.group(2):
        return None
    entry = MODELS.get(m.group(1))
    if entry is None or not entry.sizes:
        return None
    options: dict[str, int] = {}
    for part in m.group(2).split("-")[1:]:
        letter, value = part[0], int(part[1:])
        if letter not in entry.sizes:
            known = ", ".join(f"-{k}N ({v})" for k, v in entry.sizes.items())
            raise ValueError(f"{entry.name} has no option -{letter}; it takes {known}")
        if entry.sizes[letter] in options:
            raise ValueError(f"option -{letter} given twice")
        options[entry.sizes[letter]] = value
    return Model(name, entry, MappingProxyType(options))


def find_model(name: object) -> Model | None:
    """The registered model ``name`` names, with its size options; None for any other name
    (nothing is imported: a ``MODULE:FACTORY`` is None here).

    Raises:
        ValueError: a sized entry's name with an option it does not take.

    Examples:
        >>> find_model("resnet18-w16").options["width"], find_model("resnet18") is not None
        (16, True)
        >>> find_model("my_models.py:net") is None
        True
    """
    if not isinstance(name, str):
        return None
    entry = MODELS.get(name)
    if entry is not None:
        return Model(name, entry)
    try:
        return _parse_sized(name)
    except ValueError as e:
        raise ValueError(f"model {name!r}: {e}") from None


def model(name: str, custom: Iterable[CustomModel] = ()) -> Model:
    """The model ``name`` names: a registered entry (with size options), one of ``custom`` by
    its name, or a user's ``MODULE:FACTORY`` (imported here).

    Raises:
        ValueError: an unknown name (the message lists the registered ones and the size
            grammar), or an option a sized entry does not take.
        ModelFactoryError: a ``MODULE:FACTORY`` that cannot be loaded.
    """
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {name!r}")
    for cm in custom:
        if cm.name == name:
            return cm.as_model()
    found = MODELS.get(name)
    if found is not None:
        return Model(name, found)
    try:
        sized = _parse_sized(name)
    except ValueError as e:
        raise ValueError(f"unknown model {name!r}: {e}") from None
    if sized is not None:
        return sized
    if ":" in name:
        return load_factory(name).as_model()
    takes_sizes = ", ".join(n for n, e in MODELS.items() if e.sizes)
    raise ValueError(
        f"unknown model {name!r}; known: {', '.join(MODELS)} (with size options such as "
        f"resnet18-w16 for {takes_sizes}), or MODULE:FACTORY"
    )


def model_names(*, inputs: Input | None = None, kind: Kind | None = None) -> tuple[str, ...]:
    """The registered models' names, of those that take ``inputs`` and run on ``kind``."""
    return tuple(
        n
        for n, e in MODELS.items()
        if (inputs is None or inputs in e.inputs) and (kind is None or kind in e.kinds)
    )


def default_models(run: str, kind: Kind | None = None) -> tuple[str, ...]:
    """The models a default run holds, in registration order, as named there (``atlas``:
    ``resnet18-w16``); ``kind``: only the models of that data kind.

    Raises:
        ValueError: no registered model belongs to ``run``.
    """
    names = tuple(
        e.defaults[run]
        for e in MODELS.values()
        if run in e.defaults and (kind is None or kind in e.kinds)
    )
    if not names:
        runs = sorted({r for e in MODELS.values() for r in e.defaults})
        raise ValueError(f"no model belongs to the default run {run!r}; runs: {', '.join(runs)}")
    return names


def model_colour(name: str, others: Iterable[str] = ()) -> str | None:
    """The registered colour of ``name``'s entry (a sized name has its entry's); None where it
    has none (a spare colour is then chosen by order of appearance)."""
    try:
        found = find_model(name)
    except ValueError:
        return None
    return None if found is None else found.entry.colour


def display_name(name: str) -> str:
    """``name``'s display name (``ConvNet``); a sized or unknown name as it is written."""
    try:
        found = find_model(name)
    except ValueError:
        return name
    return name if found is None else found.display_name


def dataset(name: str) -> DatasetEntry:
    """The registered data set ``name``, or a user's ``MODULE:FACTORY`` (`user_dataset`).

    Raises:
        ValueError: an unknown name (the message lists the registered ones).
        ModelFactoryError, TypeError: a ``MODULE:FACTORY`` that cannot be loaded (see
            `user_dataset`).
    """
    entry = DATASETS.get(name) if isinstance(name, str) else None
    if entry is None and isinstance(name, str) and ":" in name:
        return user_dataset(name)
    if entry is None:
        raise ValueError(
            f"unknown dataset {name!r}; known: {', '.join(DATASETS)}, or MODULE:FACTORY"
        )
    return entry


_USER_DATASETS: dict[tuple[str, str], DatasetEntry] = {}


def user_dataset(spec: str) -> DatasetEntry:
    """A user's data set, ``MODULE:FACTORY``, as a `DatasetEntry`.

    ``FACTORY()`` takes no argument and returns a
    [`DataBundle`][signalinject.benchmarks.registry.DataBundle]; it is called once per process
    and module source (a rerun after the module changed calls it again). The entry is named
    ``spec`` and goes through the registry's road like a registered data set (``--limit``, the
    runner, the reports); its results are keyed by the data's own fingerprint, as every data
    set's are, so changed data never reuses a stored cell.

    Raises:
        ModelFactoryError: a malformed spec, a module that is missing or fails to import, a
            missing or non-callable attribute (`load_callable`).
        TypeError: the factory returns something other than a ``DataBundle``.
    """
    factory, fingerprint = load_callable(spec)
    key = (spec, fingerprint)
    if key not in _USER_DATASETS:
        bundle = factory()
        if not isinstance(bundle, DataBundle):
            raise TypeError(
                f"{spec!r} must return a signalinject.benchmarks.registry.DataBundle, "
                f"got {type(bundle).__name__}"
            )
        bundle = dataclasses.replace(bundle, name=spec)

        def load(root: Path, *, download: bool, limit: int | None) -> DataBundle:
            return bundle

        _USER_DATASETS[key] = DatasetEntry(
            spec, load, bundle.kind, bundle.num_classes, bundle.description,
            f"a user's factory, {spec}", f"{len(bundle.x_train)} / {len(bundle.x_test)}",
            embedded=True,
        )  # fmt: skip
    return _USER_DATASETS[key]


def default_dataset(run: str, kind: Kind | None = None) -> str:
    """The first registered data set (of ``kind``) that is ``run``'s default.

    Raises:
        ValueError: none is.
    """
    for n, e in DATASETS.items():
        if run in e.defaults and (kind is None or e.kind == kind):
            return n
    raise ValueError(f"no data set is the default of {run!r} (kind {kind})")


def default_data_dir() -> Path:
    """``$SIGNALINJECT_DATA_DIR`` if set, else ``~/.cache/signalinject``."""
    env = os.environ.get("SIGNALINJECT_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "signalinject"


# -- the docs' tables ---------------------------------------------------------------------------
#: The input shapes the docs' tables count parameters at (and the shared checker builds at):
#: the digits' 8x8x1 and CIFAR-10's 32x32x3 for images, the stand-ins' 256 and Zhang et al.'s
#: 1014 characters for text; 10 image classes, 5 text classes.
DOC_SHAPES: dict[str, tuple[tuple[int, ...], ...]] = {
    "images": ((1, 8, 8), (3, 32, 32)),
    "codes": ((256,), (1014,)),
}
DOC_CLASSES: dict[str, int] = {"images": 10, "codes": 5}
_BEGIN = "<!-- registry tables: generated by python -m signalinject.benchmarks.registry -->"
_END = "<!-- end of the registry tables -->"


def _runs_of(entry: ModelEntry) -> list[tuple[str, str]]:
    """``(name, default runs)`` of the entry's name and of each sized name its runs use."""
    names = dict.fromkeys([entry.name, *entry.defaults.values()])
    return [(n, ", ".join(r for r, m in entry.defaults.items() if m == n) or "–") for n in names]


def _count(name: str, shape: tuple[int, ...], k: int) -> str:
    return f"{count_parameters(build_model(name, shape, k)):,}"


def _shape_words(shape: tuple[int, ...]) -> str:
    return "×".join(str(v) for v in (*shape[1:], shape[0])) if len(shape) == 3 else f"L={shape[0]}"


def docs_tables() -> str:
    """The docs' tables of the registries (docs/models.md): the torch models per input, with
    their parameters counted at `DOC_SHAPES`, the estimators, and the data sets."""
    parts: list[str] = []
    for inputs, title in (("images", "Image models"), ("codes", "Text models")):
        shapes, k = DOC_SHAPES[inputs], DOC_CLASSES[inputs]
        head = ["name", "model", "cells keyed by", "default runs"]
        head += [f"parameters, {_shape_words(s)}" for s in shapes]
        rows = []
        for n, e in MODELS.items():
            if inputs not in e.inputs:
                continue
            for name, runs in _runs_of(e):
                what = e.description or e.display_name
                if name != n:
                    sized = find_model(name)
                    assert sized is not None
                    what = f"`{n}` with {', '.join(f'{o} {v}' for o, v in sized.options.items())}"
                counts = [_count(name, s, k) for s in shapes]
                rows.append([f"`{name}`", what, e.identity, runs, *counts])
        parts.append(f"### {title} ({k} classes)\n\n{_md_table(head, rows)}")
    rows = [
        [f"`{n}`", e.description or e.display_name, e.identity, _runs_of(e)[0][1]]
        for n, e in MODELS.items()
        if e.inputs == ("features",)
    ]
    head = ["name", "estimator", "cells keyed by", "default runs"]
    parts.append(f"### Estimators (flattened features)\n\n{_md_table(head, rows)}")
    head = ["name", "kind", "train / test", "how it is built", "source", "embedded", "default of"]
    rows = [
        [
            f"`{n}`",
            f"{d.kind}, {d.num_classes} classes"
            + ("" if d.kind == "image" else f", {d.frame_length} characters"),
            d.size, d.built, d.citation, "yes" if d.embedded else "no",
            ", ".join(d.defaults) or "–",
        ]
        for n, d in DATASETS.items()
    ]  # fmt: skip
    parts.append(f"### Data sets\n\n{_md_table(head, rows)}")
    return "\n\n".join(parts)


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def docs_block(text: str) -> str:
    """``text`` (a docs page) with its generated block replaced by `docs_tables`.

    Raises:
        ValueError: the page has no block (its two marker lines).
    """
    start, end = text.find(_BEGIN), text.find(_END)
    if start < 0 or end < start:
        raise ValueError(f"no generated block: expected the lines {_BEGIN!r} and {_END!r}")
    return f"{text[: start + len(_BEGIN)]}\n\n{docs_tables()}\n\n{text[end:]}"


if __name__ == "__main__":  # python -m signalinject.benchmarks.registry [docs/models.md]
    import sys

    # the registries the plug-ins fill are the importable module's, not this __main__'s
    from signalinject.benchmarks import registry

    page = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/models.md")
    page.write_text(registry.docs_block(page.read_text()))
    print(f"wrote the registry tables into {page}")
