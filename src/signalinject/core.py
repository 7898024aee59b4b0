"""The ``Injector`` base class, the registry of signals, ``Compose`` and configurations.

An injector is a small frozen dataclass. Calling it on data ``x`` with labels ``y`` draws the
per-sample parameters from ``(seed, index, y)``
([`Injector.codes`][signalinject.core.Injector.codes]) and then writes them in one vectorized pass.
The call and ``decode`` are one template here, for every family; the families
([`signalinject.image`][signalinject.image], [`signalinject.text`][signalinject.text]) supply its
hooks ([`batch_view`][signalinject.core.Injector.batch_view], ``make_params``, ``apply``,
``read``). This module knows no family: what the rest of the package needs of a signal, the
signal declares.

A signal registers by being defined: a subclass that declares a ``name`` (``one_pixel``) is a
signal of the registry ([`get_signal`][signalinject.core.get_signal],
[`list_signals`][signalinject.core.list_signals]), which the benchmarks, ``show``, the throughput
benchmark and the tests read. Its ``name`` keys its configuration and, through ``stream``, its
random draws, so moving or renaming the class changes neither.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
import reprlib
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from signalinject._backend import (
    Array,
    allow_in_checkpoints,
    as_index,
    blank_like,
    check_writable,
    checkpoint_classes,
    copy_into,
    copy_of,
    gate,
    is_array,
    is_torch,
    labels_out,
    mark_written,
    numpy_view,
    randint,
    stack,
    to_backend,
    where,
)
from signalinject._compile import outside_graph
from signalinject.footprint import warn_order

if TYPE_CHECKING:
    import torch
else:  # imported at its first use (see signalinject._backend)
    from signalinject._backend import torch

__all__ = [
    "Compose",
    "Fraction",
    "Injector",
    "Integer",
    "Params",
    "Prepared",
    "Real",
    "checked",
    "checkpoint_globals",
    "from_config",
    "get_signal",
    "list_signals",
]

# Counters of the draws shared by every injector; subclasses use counters >= 16.
_COVERAGE, _FIDELITY, _WRONG_CLASS = 1, 2, 3

#: The signals by ``name``, in the order they were defined.
_REGISTRY: dict[str, type[Injector]] = {}
#: Every other name a signal answers to: its aliases, its ``module.qualname`` (the 0.1.0 configs'
#: ``__class_fullname__``), mapped to its ``name``.
_ALIASES: dict[str, str] = {}
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_COMPOSE = "compose"


def _fullname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _register(cls: type[Injector]) -> None:
    """Add ``cls`` (which declares ``name``) to the registry; refuse a name already taken."""
    name = cls.__dict__["name"]
    if not isinstance(name, str) or not _NAME.match(name) or name == _COMPOSE:
        raise ValueError(
            f"{cls.__qualname__}.name must be a short snake_case identifier (like "
            f"'one_pixel'), other than {_COMPOSE!r}, got {name!r}"
        )
    keys = (name, *cls.aliases, _fullname(cls))
    for key in keys:
        owner = _REGISTRY.get(_ALIASES.get(key, key))
        # The same class defined again (a module imported twice, a notebook cell run again)
        # replaces the old one; another class may not take its names.
        if owner is not None and _fullname(owner) != _fullname(cls):
            raise ValueError(
                f"signal name {key!r} of {_fullname(cls)} is already taken by {_fullname(owner)}"
            )
    _REGISTRY[name] = cls
    for key in keys[1:]:
        _ALIASES[key] = name
    # A signal defined after the package was imported (a user's) loads from checkpoints too.
    allow_in_checkpoints(cls)


def get_signal(name: str) -> type[Injector]:
    """The signal class registered as ``name``, one of its aliases or its ``module.qualname``.

    Examples:
        >>> import signalinject as si
        >>> cls = si.get_signal("one_pixel")
        >>> cls is si.get_signal("signalinject.image.OnePixel") is si.OnePixel
        True

    Raises:
        ValueError: no signal answers to ``name``; the message lists the known names.
    """
    if not isinstance(name, str):
        raise TypeError(f"a signal name must be a str, got {name!r} ({type(name).__name__})")
    cls = _REGISTRY.get(_ALIASES.get(name, name))
    if cls is None:
        raise ValueError(f"unknown signal {name!r}; known: {', '.join(_REGISTRY)}")
    return cls


def list_signals(kind: str | None = None) -> dict[str, type[Injector]]:
    """The registered signals by name, in definition order; ``kind``: only ``image``/``text``.

    Examples:
        >>> import signalinject as si
        >>> list(si.list_signals("text"))
        ['mnemonic', 'length_encoding', 'pattern_char', 'trigger_word']
    """
    if kind is not None and kind not in ("image", "text"):
        raise ValueError(f"kind must be 'image', 'text' or None, got {kind!r}")
    return {n: c for n, c in _REGISTRY.items() if kind is None or c.kind == kind}


P = TypeVar("P", bound="Params")


@dataclasses.dataclass(frozen=True)
class Params:
    """Per-sample parameters ([`Injector.make_params`][signalinject.core.Injector.make_params]):
    typed, one field per quantity.

    Every field holds ``N`` rows (one per sample) on the batch's backend and device. Each signal
    family extends this class with what it writes (a small frozen dataclass: the fields say what
    they are, instead of dict keys whose meaning changes from signal to signal).

    Attributes:
        code: int64 ``(N,)``: the class each sample's signal encodes (``fidelity`` applied).
        carried: bool ``(N,)``: True where the sample carries the signal (``coverage``).
    """

    code: Any
    carried: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        allow_in_checkpoints(cls)

    def take(self: P, rows: Any) -> P:
        """The parameters of ``rows`` (a slice or an integer index array of the backend)."""
        return self.map(lambda v: v[rows])

    def map(self: P, fn: Callable[[Any], Any]) -> P:
        """``fn`` applied to every field (e.g. ``lambda v: v.to(device)``)."""
        return type(self)(*(fn(getattr(self, n)) for n in _field_names(type(self))))

    def extend(self, cls: type[P], **more: Any) -> P:
        """These parameters as ``cls`` (a subclass), with the fields it adds set from ``more``."""
        return cls(*(getattr(self, n) for n in _field_names(type(self))), **more)


_FIELD_NAMES: dict[type[Params], tuple[str, ...]] = {}


def _field_names(cls: type[Params]) -> tuple[str, ...]:
    """The fields of a ``Params`` class in order (cached: ``dataclasses.fields`` is not free,
    and one-sample calls build parameters at every call)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def check_int(name: str, value: object, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` (bools refused) within ``[low, high]``, else a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def check_fraction(name: str, value: object) -> float:
    """``value`` as a float in [0, 1], else a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    v = float(value)
    if not 0.0 <= v <= 1.0:  # also refuses NaN
        raise ValueError(f"{name} must be in [0, 1], got {v}")
    return v


# -- declared field rules (scikit-learn's _param_validation, in small) -------------------------
@dataclasses.dataclass(frozen=True)
class Integer:
    """Field rule: an ``int`` (bools refused) within ``[low, high]`` (None: unbounded)."""

    low: int | None = None
    high: int | None = None

    def __call__(self, name: str, value: object) -> int:
        return check_int(name, value, low=self.low, high=self.high)


@dataclasses.dataclass(frozen=True)
class Fraction:
    """Field rule: a number in [0, 1], as a float."""

    def __call__(self, name: str, value: object) -> float:
        return check_fraction(name, value)


@dataclasses.dataclass(frozen=True)
class Real:
    """Field rule: a finite real number.

    An int stays an int unless ``as_float``; with ``positive``, the number must be > 0; with
    ``optional``, None passes as None."""

    positive: bool = False
    optional: bool = False
    as_float: bool = False

    def __call__(self, name: str, value: object) -> Any:
        if value is None and self.optional:
            return None
        (v,) = check_finite_values(name, (value,))
        if self.positive and v <= 0:
            raise ValueError(f"{name} must be > 0, got {v}")
        return float(v) if self.as_float else v


def checked(
    rule: Callable[[str, Any], Any], *, omit_default: bool = False, **field_options: Any
) -> Any:
    """A dataclass field whose value ``rule(name, value)`` checks and normalizes.

    Every rule runs (in field order) when an injector is built, before the signal's
    ``_normalize`` (rules across fields) and the capacity check, so that those see normalized
    fields: ``strength: float | None = checked(Real(positive=True, optional=True),
    default=None)``. ``omit_default``: `get_config` leaves the field out while it holds its
    default (a field added to signals whose configs, and so results' cell ids, predate it).
    """
    meta = {"check": rule, **({"omit_default": True} if omit_default else {})}
    return dataclasses.field(metadata=meta, **field_options)


def check_finite_values(name: str, values: object) -> tuple[float, ...]:
    """A sequence of finite real numbers as a tuple of floats (ints stay ints)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a sequence of numbers, got {values!r}")
    out: list[Any] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{name} must hold numbers, got {v!r} in {list(values)!r}")
        if not math.isfinite(float(v)):
            raise ValueError(f"{name} must hold finite numbers, got {v!r}")
        out.append(int(v) if isinstance(v, numbers.Integral) else float(v))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Injector:
    """Base of every signal injector.

    Args:
        num_classes: number of classes K (labels are 0..K-1); at least 2 and at most the
            signal's capacity.
        seed: seed of every per-sample draw, 0 <= seed < 2**64.
        coverage: fraction of samples that carry the signal, decided per sample.
        fidelity: fraction of carried signals that encode the true label; the rest encode a
            different class drawn uniformly, decided per sample.
    """

    num_classes: int = checked(Integer(low=2))
    seed: int = checked(Integer(0, 2**64 - 1), default=0, kw_only=True)
    coverage: float = checked(Fraction(), default=1.0, kw_only=True)
    fidelity: float = checked(Fraction(), default=1.0, kw_only=True)

    # -- what a signal declares (class attributes; the registry and the benchmarks read them) --
    #: Stable short name (``one_pixel``): declaring it registers the class as a signal. Configs,
    #: the random stream and the benchmarks' cell ids key on it, never on where the class lives.
    name: ClassVar[str]
    #: Other names the signal answers to in `get_signal` and `from_config` (old
    #: names, the ``module.qualname`` of a class that moved).
    aliases: ClassVar[tuple[str, ...]] = ()
    #: Id of the signal's random stream; frozen once published (default: crc32 of ``name``).
    #: The 0.1.0 signals declare crc32 of their class name, their 0.1.0 value.
    stream: ClassVar[int]
    #: What the signal is written into: ``"image"`` or ``"text"`` (set by the family base).
    kind: ClassVar[str] = ""
    #: Its name in the paper it comes from (Hoffer et al. 2018 for the built-in ones).
    paper_name: ClassVar[str | None] = None
    #: Where it writes, in words (what ``show`` outlines).
    writes: ClassVar[str] = ""
    #: What the benchmark's ``strength`` scales, in words; None: the signal has no strength.
    strength_scales: ClassVar[str | None] = None
    #: The paper's strength (what the benchmark's ``strength=None`` means).
    paper_strength: ClassVar[float | None] = None
    #: ``decode`` needs the sample indices to find the signal (else it decodes blind).
    decode_needs_index: ClassVar[bool] = False
    #: Part of the benchmarks' default signal lists (the paper's signals).
    default_grid: ClassVar[bool] = False
    #: The 0.1.0 ``__class_fullname__`` of the signals that existed then: results' cell ids hash
    #: the config in that form (`identity`), so 0.1.0 results keep resolving.
    legacy_id: ClassVar[str | None] = None
    #: Largest ``num_classes`` the signal can encode (None: unbounded or known at call time).
    capacity: ClassVar[int | None] = None
    #: Fields added after the signal was published, with the value that configs and pickles
    #: written before them mean (``{"version": 1}``): `from_config` and unpickling fill a
    #: missing key with it, and `identity` leaves a field at that value out, so that results
    #: computed before the field existed keep their cell ids.
    config_defaults: ClassVar[Mapping[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("signalinject."):
            allow_in_checkpoints(cls)  # the package's (a user's signal: once it registers)
        for method in ("__call__", "decode"):  # run outside a torch.compile graph
            if method in cls.__dict__:
                setattr(cls, method, outside_graph(cls.__dict__[method]))
        if "name" not in cls.__dict__:
            return  # a family base (ImageInjector), or a subclass that is no signal of its own
        # Declared per class, never inherited: a subclass with a name of its own is a new
        # signal, with its own stream and ids, and not in the default lists unless it says so.
        if "stream" not in cls.__dict__:
            cls.stream = zlib.crc32(str(cls.__dict__["name"]).encode())
        for attr, default in (("legacy_id", None), ("default_grid", False), ("aliases", ())):
            if attr not in cls.__dict__:
                setattr(cls, attr, default)
        if cls.legacy_id is not None:
            cls.aliases = (*cls.aliases, cls.legacy_id)
        _register(cls)

    def __setstate__(self, state: object) -> None:
        """Unpickling (``pickle``, ``copy``, DataLoader workers, ``torch.load(weights_only=True)``)
        runs the constructor's checks (`restore_checked`): a stored injector that the
        constructor would refuse (``fidelity=-1``, ``num_classes=1``) raises as it loads. A
        pickle written before a field of `config_defaults` existed means that value."""
        if isinstance(state, dict):
            state = {**self.config_defaults, **state}
        restore_checked(self, state)

    def __post_init__(self) -> None:
        for f in _checked_fields(type(self)):  # the declared rules, field by field
            self._set(f.name, f.metadata["check"](f.name, getattr(self, f.name)))
        self._normalize()
        if self.fidelity < 1.0 and self.num_classes > 2**31:
            raise ValueError(
                f"{type(self).__name__}: fidelity < 1 draws wrong classes among num_classes, "
                f"at most 2**31, got num_classes={self.num_classes}"
            )
        # Checked together, after every field is normalized: a capacity may depend on them.
        cap = self._capacity()
        if cap is not None and self.num_classes > cap:
            raise ValueError(
                f"{type(self).__name__}: num_classes={self.num_classes} exceeds the signal's "
                f"capacity of {cap} classes"
            )
        self._validate()

    def _normalize(self) -> None:
        """Check and normalize what a declared rule ([`checked`][signalinject.core.checked]) cannot:
        fields whose
        rule depends on another field (chain with ``super()``)."""

    def _validate(self) -> None:
        """Rules across fields, run once every field is normalized (chain with ``super()``)."""

    def _capacity(self) -> int | None:
        """The capacity of this configuration (subclasses with variable capacity override)."""
        return self.capacity

    def capacity_for(self, shape: tuple[int, ...], dtype: Any) -> int | None:
        """The largest ``num_classes`` this configuration can encode in samples of ``shape``
        and ``dtype`` (NumPy or torch); None: unbounded.

        ``shape``: one sample as the kernels see it, ``(H, W, C)`` channels-last for images,
        ``(L,)`` for codes. The default is the configuration's capacity; signals whose capacity
        depends on the data (the pixel codes a dtype holds, the elements of an image) say so.
        """
        return self._capacity()

    def _set(self, name: str, value: object) -> None:
        """Normalize a field in ``_normalize`` (the dataclass is frozen)."""
        object.__setattr__(self, name, value)

    # -- fitted signals and the benchmarks --------------------------------------------------
    def fit(self, x: Any, y: Any) -> Injector:
        """A new injector fitted to data ``x`` with labels ``y``, its fit held in its fields.

        The signals fitted to data (their code depends on the data, e.g. the One-Pixel
        Shortcut) override this; every other signal needs no fit and returns itself unchanged,
        so that a pipeline can call ``fit`` on any injector.
        """
        return self

    @classmethod
    def for_benchmark(
        cls, num_classes: int, seed: int, *, strength: float | None = None, quantizer: Any = None
    ) -> Injector:
        """The benchmark's injector: the paper's defaults, ``strength`` applied if given.

        ``quantizer`` matters to text signals only. Signals with a strength override this and
        [`check_strength`][signalinject.core.Injector.check_strength].
        """
        if strength is not None:
            raise ValueError(f"signal {cls.name!r} has no strength")
        return cls(num_classes, seed=seed)

    @classmethod
    def check_strength(cls, strength: float, num_classes: int | None) -> None:
        """Refuse a benchmark ``strength`` (finite, > 0) that the signal cannot take.

        The default accepts any; the pixel signals refuse codes that uint8 cannot hold.
        """

    def overwrites(self, earlier: Injector) -> str | None:
        """Why this injector, applied after ``earlier`` in a ``Compose``, can overwrite the code
        that ``earlier`` wrote (a phrase), or None where it cannot.

        What the order check ([`order_conflicts`][signalinject.footprint.order_conflicts]) asks
        of each later child. The families answer from where their signals declare they write
        (image signals: [`footprint`][signalinject.image.ImageInjector.footprint]; text signals:
        [`footprint`][signalinject.text.TextInjector.footprint]); the default, for a signal that
        declares nothing, is None.
        """
        return None

    # -- per-sample draws -----------------------------------------------------------------
    def codes(self, y: Array, index: Array) -> tuple[Array, Array]:
        """The class each sample's signal encodes, and whether it carries one.

        Args:
            y: int64 labels ``(N,)`` in [0, K).
            index: int64 sample indices ``(N,)``, same backend and device as ``y``.

        Returns:
            ``(code, carried)``: int64 ``(N,)`` equal to ``y`` where the signal tells the truth
            and a uniformly drawn other class elsewhere; bool ``(N,)`` True where the sample
            carries the signal (``coverage``).
        """
        k, s = self.num_classes, self.stream
        carried = gate(index, self.coverage, self.seed, s, _COVERAGE)
        if self.fidelity >= 1.0:
            return y, carried
        truthful = gate(index, self.fidelity, self.seed, s, _FIDELITY)
        wrong = (y + 1 + randint(index, k - 1, self.seed, s, _WRONG_CLASS)) % k
        return where(truthful, y, wrong), carried

    def draw_int(self, index: Array, bound: int, counter: int) -> Array:
        """Per-sample integers in ``[0, bound)`` from this injector's stream (counter >= 16)."""
        return randint(index, bound, self.seed, self.stream, counter)

    def check_labels(self, y: Any, x: Array, *, single: bool) -> Array:
        """Labels as int64 ``(N,)`` on ``x``'s backend/device, validated against ``num_classes``.

        ``single``: ``x`` is one sample and ``y`` one integer; the result then has shape (1,).
        """
        k = self.num_classes
        if single:
            if is_array(y) and y.ndim != 0:
                raise ValueError(
                    f"y must be one integer label for a single sample, got shape {tuple(y.shape)}"
                )
            if is_array(y):
                y = y.reshape(1)
            elif isinstance(y, bool) or not isinstance(y, numbers.Integral):
                raise TypeError(f"y must be an integer label, got {y!r} ({type(y).__name__})")
            else:
                y = [int(y)]
        elif isinstance(y, numbers.Integral) and not isinstance(y, bool):
            raise ValueError(
                f"y is one integer but x holds a batch of {x.shape[0]}; pass labels of shape (N,)"
            )
        out = to_backend(y, x, name="y")
        n = 1 if single else int(x.shape[0])
        if out.ndim != 1 or out.shape[0] != n:
            raise ValueError(
                f"y must have shape ({n},), one label per sample of x, got {tuple(out.shape)}"
            )
        if n:
            bad = (out < 0) | (out >= k)
            if bool(bad.any()):
                first = int(out[bad][0])
                raise ValueError(
                    f"y must hold labels in [0, {k - 1}] (num_classes={k}), got {first}"
                )
        return out

    def check_index(self, index: Any, x: Array, n: int, *, single: bool) -> Array:
        """Sample indices as int64 ``(n,)`` on ``x``'s backend/device; default ``arange(n)``."""
        if single and index is not None:
            if is_array(index):
                if index.ndim != 0:
                    raise ValueError(
                        f"index must be one integer for a single sample, got shape "
                        f"{tuple(index.shape)}"
                    )
                index = index.reshape(1)
            else:
                index = [check_int("index", index, low=0)]
        return as_index(index, n, x)

    # -- configuration --------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """A JSON-serializable description: ``{"name": ..., **init_args}``.

        Raises:
            TypeError: the class declares no ``name`` of its own (a subclass of a signal that
                is not registered): its config would rebuild its parent.
        """
        cls = type(self)
        if "name" not in cls.__dict__:
            raise TypeError(
                f"{cls.__qualname__} declares no name of its own, so it has no config; give "
                f"it a class attribute name = '...' to register it as a signal"
            )
        cfg: dict[str, Any] = {"name": cls.name}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.init and not (f.metadata.get("omit_default") and value == f.default):
                cfg[f.name] = _jsonable(value)
        return cfg

    def identity(self) -> dict[str, Any]:
        """The config as results' cell ids hash it:
        [`get_config`][signalinject.core.Injector.get_config], except that a signal of 0.1.0 keeps
        the form it had then (``__class_fullname__``: its
        `legacy_id`),
        so that results computed by 0.1.0 keep resolving, and that a field of
        `config_defaults` at its value there is left out (the form before the field existed)."""
        cfg = self.get_config()
        for key, value in self.config_defaults.items():
            if key in cfg and cfg[key] == value:
                del cfg[key]  # the form results had before the field existed
        if self.legacy_id is None:
            return cfg
        del cfg["name"]
        return {"__class_fullname__": self.legacy_id, **cfg}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Injector | Compose:
        """Rebuild an injector (or ``Compose``) from
        [`get_config`][signalinject.core.Injector.get_config]'s output."""
        return from_config(config)

    # -- the injection template: written once, the families supply the hooks --------------
    #: ``apply`` reads the clean data from ``source`` and writes every element of ``out``: one
    #: pass over memory instead of a copy followed by a read-modify-write of the whole batch.
    _fuses_copy: ClassVar[bool] = False

    def __call__(self, x: Any, y: Any, *, index: Any = None, inplace: bool = False) -> Any:
        """Inject the signal of labels ``y`` into the batch ``x`` (see each family)."""
        return self._inject(x, y, index, inplace, {})

    def _inject(self, x: Any, y: Any, index: Any, inplace: bool, options: Mapping[str, Any]) -> Any:
        """Inject into an array or tensor ``x``: the one template of every family.

        Through the hooks: [`batch_view`][signalinject.core.Injector.batch_view] validates ``x``
        and views it as the kernels take it; the labels and indices are checked;
        [`make_params`][signalinject.core.Injector.make_params] draws (and validates) what to
        write; then the output is made and [`apply`][signalinject.core.Injector.apply] writes.

        A CPU tensor goes through NumPy views of its memory (`numpy_view`: the same bits), its
        labels and indices drawn with NumPy, unless ``y`` or ``index`` is a tensor off the CPU
        (the checks then name the mismatch). The output is a blank batch written from ``x`` in
        one pass where the family fuses its copy (``_fuses_copy``) or NumPy can allocate it
        (`blank_like`), else a copy; with ``inplace``, ``x`` itself, checked writable. Nothing is
        written before every check has passed: the data's own values are checked
        ([`check_values`][signalinject.core.Injector.check_values]) before a write into data that
        ``apply`` does not copy, and named before bad labels or indices.
        """
        view, single = self.batch_view(x, _one_label(y), **options)
        n = int(view.shape[0])
        host = numpy_view(view)
        off_cpu = any(is_torch(v) and v.device.type != "cpu" for v in (y, index))
        like = view if host is None or off_cpu else host
        try:
            labels = self.check_labels(y, like, single=single)
            idx = self.check_index(index, like, n, single=single)
            params = self.make_params(labels, idx, like)
        except (TypeError, ValueError):
            self.check_values(view)  # the data's own errors are named first
            raise
        self.check_data(like)
        source = None
        if inplace:
            check_writable(x)
            out = x
        elif (blank := blank_like(x, host is not None, self._fuses_copy)) is not None:
            out, source = blank, like
        else:
            out = copy_of(x)
        if source is None:
            self.check_values(view)  # before a write into data that apply does not copy
        out_view = self.kernel_view(out[None] if single else out, **options)
        if host is not None:
            out_view = numpy_view(out_view)  # a blank, copy or x itself: viewable as x is
        if n:
            self.apply(out_view, params, source=source)
            if inplace and host is not None:
                mark_written(x)  # a tensor written through its NumPy view
        return out

    def _decode(self, x: Any, index: Any, options: Mapping[str, Any]) -> Any:
        """Read the signal back from an array or tensor ``x``: the one template of every family
        ([`batch_view`][signalinject.core.Injector.batch_view], then
        [`read`][signalinject.core.Injector.read]); int64 ``(N,)``, or one label for one
        sample (a 0-d tensor or a NumPy int64)."""
        view, single = self.batch_view(x, None, **options)
        idx = self.check_index(index, view, int(view.shape[0]), single=single)
        return labels_out(self.read(view, idx), single)

    # -- the hooks of the families and signals -----------------------------------------------
    def batch_view(self, x: Any, single: bool | None, **options: Any) -> tuple[Array, bool]:
        """``x`` validated and viewed as [`make_params`][signalinject.core.Injector.make_params]
        and [`apply`][signalinject.core.Injector.apply] take it (no copy; images channels-last
        ``(N, H, W, C)``, codes ``(N, L)``), and whether ``x`` was one sample.

        ``single``: what the labels say (one integer label: one sample); None for ``decode``,
        which judges from ``x``. Raises (TypeError, ValueError) for data the family cannot take.
        """
        raise NotImplementedError

    def check_options(self, options: Mapping[str, Any]) -> None:
        """Refuse call options the injector does not take (what a stored
        [`Prepared`][signalinject.core.Prepared] holds); none by default, images take
        ``channels_last``.

        Raises:
            TypeError: an unknown option, or a value of the wrong type.
        """
        if options:
            raise TypeError(f"{type(self).__name__} takes no options, got {sorted(options)}")

    def check_values(self, x: Array) -> None:
        """Refuse data whose values the signal cannot be written into (one pass over ``x``, the
        batch as [`batch_view`][signalinject.core.Injector.batch_view] gives it): the text
        signals' codes outside the alphabet. Nothing by default."""

    def check_data(self, x: Array) -> None:
        """Look at the data before anything is written, to warn (never to refuse): the image
        family checks the images against their value range
        ([`ValueRangeWarning`][signalinject.ranges.ValueRangeWarning]). Nothing by default."""

    def read(self, x: Array, index: Array) -> Array:
        """The decoding rule on the batch as [`batch_view`][signalinject.core.Injector.batch_view]
        gives it: the class each sample's signal encodes, integers ``(N,)``."""
        raise NotImplementedError

    def make_params(self, y: Array, index: Array, x: Array) -> Params:
        """Sample (and validate) the per-sample parameters for the batch ``x``; writes nothing.

        ``x`` is the batch as [`apply`][signalinject.core.Injector.apply] takes it: images
        channels-last ``(N, H, W, C)``, codes ``(N, L)``; ``y`` and ``index`` int64 ``(N,)`` on its
        backend. Raises before anything is written when ``x`` cannot take the signal.

        Returns:
            [`Params`][signalinject.core.Params] (``code``, ``carried``), or the signal's subclass
            of it with what it writes, each field with ``N`` rows on ``x``'s backend.
        """
        code, carried = self.codes(y, index)
        return Params(code, carried)

    def kernel_view(self, x: Any, **options: Any) -> Any:
        """The batch ``x`` as [`make_params`][signalinject.core.Injector.make_params] and
        [`apply`][signalinject.core.Injector.apply] take it (a view, no copy):
        itself here; images are viewed channels-last (``options``: ``channels_last``)."""
        return x

    def prepare(self, like: Any, **options: Any) -> Prepared:
        """Validate once for batches like ``like``; the result injects fast, unchecked.

        "Validate once, then inject fast" for training loops: ``fast = inj.prepare(x)`` runs
        every check of a call (type, dtype, layout, that the signal fits ``like``'s shape and
        dtype) on one sample of ``like``, which it leaves untouched; ``fast(xb, yb, idx)`` then
        writes into each batch in place with no check and no host sync on a GPU.

        Args:
            like: a batch ``(N, ...)`` (array or tensor, ``N >= 1``) shaped and typed as the
                batches to come.
            **options: the call's options (``channels_last`` for images).

        Raises:
            TypeError, ValueError: as a call on ``like`` would.

        Examples:
            >>> import numpy as np, signalinject as si
            >>> x = np.zeros((4, 8, 8, 3), np.uint8)
            >>> fast = si.OnePixel(10).prepare(x)
            >>> fast(x, np.array([7, 1, 2, 3]), np.arange(4))[:, 0, 0, 0].tolist()
            [7, 1, 2, 3]
        """
        if not is_array(like) or like.ndim == 0 or not len(like):
            raise TypeError(
                f"prepare: like must be a non-empty batch (a numpy.ndarray or torch.Tensor), "
                f"got {type(like).__name__}"
            )
        self(like[:1], [0], index=[0], **options)  # every check of a call, on one sample
        return Prepared(self, tuple(sorted(options.items())))

    def apply(self, out: Any, params: Params, *, source: Any = None) -> None:
        """Write the signal described by ``params``
        ([`make_params`][signalinject.core.Injector.make_params]) into ``out`` in place.

        ``out``: the batch as [`make_params`][signalinject.core.Injector.make_params] took it,
        holding the clean data, unless ``source`` (the clean data, shaped as ``out``) is given: then
        every element of ``out`` is written. No validation: the kernel level under ``__call__``.
        """
        raise NotImplementedError

    def decode(self, x: Any) -> Any:
        """Read the encoded class back from injected data (int64 labels, same backend); the
        families add their options (``index``, ``channels_last``)."""
        return self._decode(x, None, {})


@dataclasses.dataclass(frozen=True)
class Prepared:
    """An injector validated once for batches like one
    ([`Injector.prepare`][signalinject.core.Injector.prepare]).

    ``fast(x, y, index)`` writes the signal into ``x`` in place and returns it: no checks, so
    ``x`` must be shaped, typed and laid out as the batch it was prepared for, and ``y`` and
    ``index`` int64 ``(N,)`` on ``x``'s backend and device (as a ``DataLoader`` gives them).
    The same values as ``injector(x, y, index=index)``; picklable. The one check it keeps is
    the labels' range, the same on every route (the compiled and NumPy kernels would otherwise
    differ on a label outside ``[0, num_classes)``): on the CPU a ``ValueError``; on an
    accelerator an asynchronous device assertion (no host sync), which fails at the next
    synchronisation as torch's own out-of-range indexing does.
    """

    injector: Injector
    #: The call's options (``channels_last``), as sorted ``(name, value)`` pairs.
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.injector, Injector):
            raise TypeError(
                f"Prepared: injector must be an Injector, got {type(self.injector).__name__}"
            )
        opts = self.options
        if not isinstance(opts, tuple) or not all(
            isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], str) for o in opts
        ):
            raise TypeError(f"Prepared: options must be (name, value) pairs, got {opts!r}")
        self.injector.check_options(dict(opts))

    def __setstate__(self, state: object) -> None:
        """Unpickling runs the constructor's checks (`restore_checked`)."""
        restore_checked(self, state)

    @outside_graph
    def __call__(self, x: Any, y: Any, index: Any) -> Any:
        inj = self.injector
        _check_fast_labels(y, inj.num_classes)
        view = inj.kernel_view(x, **dict(self.options))
        inj.apply(view, inj.make_params(y, index, view))
        return x


def _check_fast_labels(y: Any, k: int) -> None:
    """Refuse labels outside ``[0, k)`` on `Prepared`'s unchecked path without a host sync:
    a ``ValueError`` for NumPy and CPU tensors (two reductions, next to nothing beside the
    write), an asynchronous device assertion for tensors on an accelerator."""
    if isinstance(y, torch.Tensor):
        if y.device.type != "cpu":
            if y.numel():
                torch._assert_async(((y >= 0) & (y < k)).all())
            return
        lo, hi = (int(y.min()), int(y.max())) if y.numel() else (0, 0)
    else:
        a = np.asarray(y)
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    if lo < 0 or hi >= k:
        raise ValueError(
            f"y must hold labels in [0, {k - 1}] (num_classes={k}), got {lo if lo < 0 else hi} "
            f"(Prepared checks nothing else: pass the labels the batch was prepared for)"
        )


_CHECKED: dict[type, tuple[dataclasses.Field[Any], ...]] = {}


def _checked_fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    """The fields of ``cls`` that declare a rule (cached per class)."""
    out = _CHECKED.get(cls)
    if out is None:
        out = _CHECKED[cls] = tuple(f for f in dataclasses.fields(cls) if "check" in f.metadata)
    return out


def _children(injectors: object) -> tuple[Injector, ...]:
    """The children of a ``Compose`` as a tuple, checked."""
    if isinstance(injectors, str | bytes | Mapping) or not isinstance(injectors, Iterable):
        raise TypeError(
            f"Compose: injectors must be a sequence of Injector, got {type(injectors).__name__}"
        )
    items = tuple(injectors)
    if not items:
        raise ValueError("Compose needs at least one injector, got none")
    for i, inj in enumerate(items):
        if not isinstance(inj, Injector):
            raise TypeError(
                f"Compose: injectors[{i}] must be an Injector, got {type(inj).__name__}"
            )
    return items


def restore_checked(obj: Any, state: object) -> None:
    """Restore the frozen dataclass ``obj`` from its pickled ``state`` through its constructor,
    so that every check of the constructor runs (its ``__setstate__``).

    Fields missing from ``state`` take their defaults (a pickle from before a field existed).

    Raises:
        TypeError: ``state`` is not a dict, or lacks a field without a default.
        ValueError: ``state`` holds a key that is no field; and the constructor's own errors.
    """
    cls = type(obj)
    if not isinstance(state, dict):
        raise TypeError(
            f"{cls.__name__}: a pickled state must be a dict of its fields, got "
            f"{type(state).__name__}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    extra = sorted(map(repr, set(state) - set(fields)))
    if extra:
        raise ValueError(
            f"{cls.__name__}: the pickled state holds {', '.join(extra)}, no field of it; its "
            f"fields: {', '.join(fields)}"
        )
    missing = [
        n
        for n, f in fields.items()
        if f.init
        and n not in state
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise TypeError(f"{cls.__name__}: the pickled state lacks {', '.join(missing)}")
    try:
        fresh = cls(**{n: v for n, v in state.items() if fields[n].init})
    except (TypeError, ValueError) as e:  # named: a checkpoint's error points at no line
        raise type(e)(f"unpickling a {cls.__name__}: {e}") from e
    obj.__dict__.update(fresh.__dict__)


def _one_label(y: Any) -> bool:
    """Whether labels ``y`` stand for one sample: an integer or a 0-d array/tensor."""
    if is_array(y):
        return int(y.ndim) == 0
    return not isinstance(y, list | tuple)


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_jsonable(e) for e in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


#: Deepest nesting of lists in a config value (the fields hold pairs of pairs at most): deeper
#: is refused before it is read, never a RecursionError.
_MAX_DEPTH = 8


def _tupled(v: Any, where: str, depth: int = 0) -> Any:
    """A JSON value with its lists as tuples (the fields' form)."""
    if not isinstance(v, list):
        return v
    if depth >= _MAX_DEPTH:
        raise ValueError(f"{where}: lists nested deeper than {_MAX_DEPTH} levels, no field holds")
    return tuple(_tupled(e, where, depth + 1) for e in v)


@dataclasses.dataclass(frozen=True)
class Compose:
    """Apply several injectors in turn, all keyed by the same sample indices.

    Each child keeps its own random stream (its class and seed), so adding or removing a child
    never changes another child's draws. ``decode`` returns one row of labels per child.
    Building one warns ([`OrderWarning`][signalinject.footprint.OrderWarning]) where a later child
    can overwrite an earlier child's code
    ([`order_conflicts`][signalinject.footprint.order_conflicts]): put the child that writes more
    first.

    Examples:
        >>> import numpy as np, signalinject as si
        >>> c = si.Compose([si.OnePixel(10), si.OnePixel(10, position=(5, 5))])
        >>> x = np.zeros((4, 8, 8, 1), np.uint8); y = np.array([3, 1, 4, 1])
        >>> c.decode(c(x, y)).tolist()
        [[3, 1, 4, 1], [3, 1, 4, 1]]
    """

    #: The children, in order (any sequence is accepted and stored as a tuple).
    injectors: Sequence[Injector]

    def __post_init__(self) -> None:
        items = _children(self.injectors)
        object.__setattr__(self, "injectors", items)
        warn_order(items, stacklevel=3)  # at the line that builds the Compose

    def __setstate__(self, state: object) -> None:
        """Unpickling (``pickle``, ``copy``, ``torch.load(weights_only=True)``) checks the
        children as the constructor does (each child checked its own fields as it loaded); the
        order was warned about when the ``Compose`` was built."""
        if not isinstance(state, dict) or set(state) != {"injectors"}:
            got = (
                ", ".join(sorted(map(repr, state)))
                if isinstance(state, dict)
                else type(state).__name__
            )
            raise ValueError(f"Compose: a pickled state must hold 'injectors' alone, got {got}")
        object.__setattr__(self, "injectors", _children(state["injectors"]))

    @property
    def kind(self) -> str:
        """The children's common ``kind`` (``"image"``, ``"text"``), or ``""`` where they
        differ."""
        kinds = {inj.kind for inj in self.injectors}
        return kinds.pop() if len(kinds) == 1 else ""

    @property
    def num_classes(self) -> int:
        """The labels every child accepts: ``0 .. num_classes - 1`` (the smallest child's)."""
        return min(inj.num_classes for inj in self.injectors)

    @outside_graph
    def __call__(
        self, x: Any, y: Any, *, index: Any = None, inplace: bool = False, **kw: Any
    ) -> Any:
        """Apply every injector in order, all keyed by the same ``index``.

        The first child writes into a copy and the others into that copy; with ``inplace=True``
        the result is written into ``x`` (an array, a tensor or a list of texts) only once every
        child has succeeded, so a child that refuses leaves ``x`` as it was.

        Raises:
            ValueError: ``inplace=True`` into a read-only or self-overlapping array (checked
                before any child runs), or any child's refusal.
        """
        arrays = is_array(x)
        if inplace and arrays:
            check_writable(x)
        out = x
        for i, inj in enumerate(self.injectors):
            out = inj(out, y, index=index, inplace=i > 0, **kw)
        if not inplace or not (arrays or isinstance(x, list)):
            return out
        if arrays:
            copy_into(x, out)
        else:
            x[:] = out
        return x

    @outside_graph
    def decode(self, x: Any, **kw: Any) -> Any:
        """Each child's decode, stacked: int64 ``(len(injectors), N)`` (or ``(len,)``)."""
        return stack([inj.decode(x, **kw) for inj in self.injectors])

    def get_config(self) -> dict[str, Any]:
        """``{"name": "compose", "injectors": [...]}``."""
        return {"name": _COMPOSE, "injectors": [inj.get_config() for inj in self.injectors]}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Injector | Compose:
        """Rebuild from [`get_config`][signalinject.core.Compose.get_config]'s output."""
        return from_config(config)


allow_in_checkpoints(Params, Prepared, Compose)


def checkpoint_globals() -> list[type]:
    """The classes ``torch.load(weights_only=True)`` may build to load signalinject injectors.

    Every injector class of the package and every signal registered since (a user's too),
    ``Compose``, ``Prepared``, the parameter classes and ``CharQuantizer``. Each is allow-listed
    (``torch.serialization.add_safe_globals``) as soon as torch is imported, or when it is
    defined if torch is imported already; signalinject never imports torch for it. A checkpoint
    that holds an injector runs the injector's field checks as it loads (a bad field raises).
    """
    return checkpoint_classes()


def from_config(config: Mapping[str, Any]) -> Injector | Compose:
    """Rebuild an injector or a ``Compose`` from a ``get_config()`` dictionary.

    The signal is named by ``"name"`` (a registered name or alias), or, in 0.1.0 configs, by
    ``"__class_fullname__"`` (the class's ``module.qualname`` then); every other key is a field
    of the signal (a ``Compose``: ``"injectors"``, the list of its children's configs).

    Raises:
        ValueError: the name is missing or names no registered signal, a key names no field
            (``Compose``: anything but ``injectors``), a ``Compose`` without ``injectors`` or
            holding another ``Compose``, values nested deeper than any field holds; and the
            constructor's own errors for the fields' values.
    """
    name, args = _name_and_fields(config, "config")
    if name in (_COMPOSE, _fullname(Compose)):
        extra = sorted(map(repr, set(args) - {"injectors"}))
        if extra:
            raise ValueError(
                f"a compose config holds 'name' and 'injectors' only, got {', '.join(extra)}"
            )
        children = args.get("injectors")
        if not isinstance(children, list | tuple):
            raise ValueError(
                f"a compose config needs 'injectors': a list of injector configs, got "
                f"{reprlib.repr(children)}"
            )
        return Compose(
            tuple(_signal_from_config(c, f"injectors[{i}]") for i, c in enumerate(children))
        )
    return _signal_from_config(config, "config")


def _name_and_fields(config: object, where: str) -> tuple[Any, dict[Any, Any]]:
    """The name of a config and its other entries (see `from_config`)."""
    keys = ("name", "__class_fullname__")
    if not isinstance(config, Mapping) or sum(k in config for k in keys) != 1:
        raise ValueError(
            f"{where} must be a mapping with 'name' (or, from 0.1.0, '__class_fullname__'), "
            f"got {reprlib.repr(config)}"
        )
    key = "name" if "name" in config else "__class_fullname__"
    return config[key], {k: v for k, v in config.items() if k != key}


def _signal_from_config(config: object, where: str) -> Injector:
    """The injector of one signal's config (a ``Compose`` is refused: it cannot nest, so a
    config is never read deeper than one ``Compose``)."""
    name, args = _name_and_fields(config, where)
    if name in (_COMPOSE, _fullname(Compose)):
        raise ValueError(f"{where}: a Compose cannot hold another Compose in a config")
    cls = _REGISTRY.get(_ALIASES.get(name, name)) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"{where}: unknown injector {reprlib.repr(name)}; known: {', '.join(_REGISTRY)} "
            f"and {_COMPOSE!r}"
        )
    args = {**cls.config_defaults, **args}  # a config written before those fields existed
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    extra = sorted(map(repr, set(args) - set(fields)))
    if extra:
        raise ValueError(
            f"{where}: {cls.__name__} has no field {', '.join(extra)}; its fields: "
            f"{', '.join(fields)}"
        )
    return cls(**{k: _tupled(v, f"{where}[{k!r}]") for k, v in args.items()})
