"""The benchmark's signals by name: each name maps to an injector factory with the paper's defaults.

Everything here is read from the registry of signals
    ([`signalinject.list_signals`][signalinject.list_signals]): a
signal's name, kind, paper name, strength and factory
(`for_benchmark`) are declared by its class, and a signal
defined anywhere (a user's module) is a benchmark signal by name. The default lists
([`signal_names`][signalinject.benchmarks.signals.signal_names]) hold the signals that declare
``default_grid``.

A factory takes ``(num_classes, seed)`` and returns a fresh [`Injector`][signalinject.Injector]
(``clean`` returns None: no signal). Image signals write into uint8 ``(N, H, W, C)`` images in
0..255 units (the class number itself is the pixel's code, as in the paper); text signals edit the
strings before character quantization.

The paper's pixel codes are faint (class k is the pixel value k, at most 9 of 255). Four image
signals take a ``strength`` in 0..255 image units that scales their code through the injector's
own parameters (``None``, or the paper's value, gives the paper's injector unchanged):

| signal | ``strength`` | paper's value |
|---|---|---|
| ``one_pixel`` | step between class codes: ``values=(0, s, 2s, ...)`` | 1 |
| ``pattern_pixels`` | value of a set bit: ``on_value=s`` (``off_value=0``) | 1 |
| ``random_pixel`` | step between class codes: ``values=(0, s, 2s, ...)`` | 1 |
| ``orthogonal_noise`` | per-element RMS of the noise: ``strength=s`` | 7.65 (3%) |

``multiple_locations`` has no strength (its code is *where* a pair of pixels equals, with a random
value), nor do the paper's text signals (a character is a character). The signals beyond the paper
declare theirs (``strength_scales``): the value of a lit pixel (``one_pixel_shortcut``,
``class_patch``; 255), the blend weight alpha in (0, 1) (``blend``; 0.2), the sinusoid's amplitude
(``sinusoid``; 40, BackdoorBench's) and the number of inserted class words (``trigger_word``; 1).

Examples:
    >>> from signalinject.benchmarks.signals import make_injector, signal_names
    >>> signal_names("image")[:4]
    ('clean', 'one_pixel', 'pattern_pixels', 'random_pixel')
    >>> signal_names("image")[4:]
    ('multiple_locations', 'orthogonal_noise')
    >>> make_injector("one_pixel", num_classes=10, seed=3)  # doctest: +ELLIPSIS
    OnePixel(num_classes=10, seed=3, coverage=1.0, fidelity=1.0, ..., position=(0, 0), values=None)
    >>> make_injector("clean", num_classes=10, seed=3) is None
    True
    >>> make_injector("one_pixel", num_classes=4, seed=0, strength=60).values
    (0.0, 60.0, 120.0, 180.0)
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from signalinject.benchmarks._user_code import load_callable
from signalinject.benchmarks.errors import ModelFactoryError
from signalinject.core import Injector, list_signals

__all__ = ["SIGNALS", "Signal", "make_injector", "signal_names", "user_signal"]

Kind = Literal["image", "text"]
Factory = Callable[..., "Injector | None"]


@dataclasses.dataclass(frozen=True)
class Signal:
    """One benchmark signal: what its class declares (see [`Injector`][signalinject.Injector]).

    Attributes:
        name: the benchmark's name (``one_pixel``): the class's ``name``.
        kinds: the data kinds it applies to (``clean`` applies to both).
        paper_name: its name in Hoffer et al. (2018), Table 1 or Table 3.
        factory: ``(num_classes, seed) -> Injector`` with the paper's defaults (None for
            ``clean``); text factories also take ``quantizer=`` (a ``CharQuantizer``, None for
            Zhang's), which bounds what the signal may write; factories of signals with a
            strength also take ``strength=`` (see the module doc).
        strength: what ``strength`` sets, in words; None: the signal has no strength.
        default_strength: the paper's strength (what ``strength=None`` means).
        cls: the injector class (None for ``clean``).
    """

    name: str
    kinds: tuple[Kind, ...]
    paper_name: str
    factory: Factory
    strength: str | None = None
    default_strength: float | None = None
    cls: type[Injector] | None = None


def _clean(num_classes: int, seed: int, **_: Any) -> None:
    return None


_CLEAN = Signal("clean", ("image", "text"), "Clean", _clean)


_VIEWS: dict[type[Injector], Signal] = {}


def _signal(cls: type[Injector]) -> Signal:
    """The benchmark's view of a registered signal class (built once per class)."""
    if cls in _VIEWS:
        return _VIEWS[cls]

    def factory(num_classes: int, seed: int, **kw: Any) -> Injector:
        return cls.for_benchmark(num_classes, seed, **kw)

    factory.__name__ = f"make_{cls.__name__}"
    kind: Kind = "text" if cls.kind == "text" else "image"
    sig = Signal(
        cls.name,
        (kind,),
        cls.paper_name or cls.__name__,
        factory,
        cls.strength_scales,
        cls.paper_strength,
        cls,
    )
    _VIEWS[cls] = sig
    return sig


class _Signals(Mapping[str, Signal]):
    """The benchmark's signals by name: ``clean``, then every registered signal, read from the
    registry at each use (a signal defined after this module was imported is in it)."""

    def __getitem__(self, name: str) -> Signal:
        if name == "clean":
            return _CLEAN
        cls = list_signals().get(name)
        if cls is not None:
            return _signal(cls)
        if isinstance(name, str) and ":" in name:  # MODULE:FACTORY, the user's own signal
            return user_signal(name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(("clean", *list_signals()))

    def __len__(self) -> int:
        return 1 + len(list_signals())

    def __repr__(self) -> str:
        return f"SIGNALS({', '.join(self)})"


#: Every benchmark signal by name (a live view of the registry; ``clean`` first).
SIGNALS: Mapping[str, Signal] = _Signals()


_USER: dict[str, Signal] = {}


def user_signal(spec: str) -> Signal:
    """The user's own signal ``MODULE:FACTORY`` as a benchmark signal named ``spec``.

    ``MODULE`` is a dotted module importable from the current directory or a path to a ``.py``
    file, loaded as ``scan`` loads a model factory; ``FACTORY(num_classes, seed)`` returns an
    [`Injector`][signalinject.Injector] of a registered signal class (one with a ``name``: its
    config is the cell's identity). It also receives ``strength=`` and, for text,
    ``quantizer=`` when its signature takes them (a factory without ``strength`` has none).
    Loaded once per process.

    Raises:
        ModelFactoryError: a malformed spec, a module that is missing or fails to import, a
            missing or non-callable attribute (as ``scan`` reports a model factory), or a
            factory that fails or returns no registered injector.
    """
    if spec in _USER:
        return _USER[spec]
    fn, _ = load_callable(spec)
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature: positional only
        params = {}  # type: ignore[assignment]
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    takes = {k for k in ("strength", "quantizer") if var_kw or k in params}

    def factory(num_classes: int, seed: int, **kw: Any) -> Injector:
        given = {k: v for k, v in kw.items() if k in takes and v is not None}
        try:
            inj = fn(num_classes, seed, **given)
        except Exception as e:  # the user's code: say where, as scan does for a model
            raise ModelFactoryError(
                f"{spec!r}: {getattr(fn, '__qualname__', fn)}({num_classes}, {seed}"
                f"{''.join(f', {k}={v!r}' for k, v in given.items())}) raised "
                f"{type(e).__name__}: {e}"
            ) from e
        if not isinstance(inj, Injector) or "name" not in type(inj).__dict__:
            raise ModelFactoryError(
                f"{spec!r}: the factory must return an Injector of a registered signal class "
                f"(a subclass that declares name = '...'), got {type(inj).__name__}"
            )
        return inj

    probe = factory(2, 0)
    cls = type(probe)
    kind: Kind = "text" if cls.kind == "text" else "image"
    strength = cls.strength_scales if "strength" in takes else None
    if strength is None and "strength" in takes:
        strength = "the factory's strength="
    default = cls.paper_strength if strength is not None else None
    sig = Signal(spec, (kind,), cls.paper_name or cls.name, factory, strength, default, cls)
    _USER[spec] = sig
    return sig


def _defaults(kind: Kind) -> tuple[str, ...]:
    return ("clean", *(n for n, c in list_signals(kind).items() if c.default_grid))


def _strength_signals() -> tuple[str, ...]:
    """The default signals that take a ``strength`` (see the module doc)."""
    return tuple(n for n in (*_defaults("image"), *_defaults("text")) if SIGNALS[n].strength)


def __getattr__(name: str) -> tuple[str, ...]:
    # IMAGE_SIGNALS, TEXT_SIGNALS, STRENGTH_SIGNALS: the default lists, read from the registry.
    if name == "IMAGE_SIGNALS":
        return _defaults("image")
    if name == "TEXT_SIGNALS":
        return _defaults("text")
    if name == "STRENGTH_SIGNALS":
        return _strength_signals()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def signal_names(kind: Kind) -> tuple[str, ...]:
    """The default signal names for ``kind`` (``"image"`` or ``"text"``), ``clean`` first.

    The registered signals that declare ``default_grid`` (the paper's); any other registered
    signal runs when named.
    """
    if kind not in ("image", "text"):
        raise ValueError(f"kind must be 'image' or 'text', got {kind!r}")
    return _defaults(kind)


def sweepable(name: str, kind: Kind | None = None) -> bool:
    """Whether ``sweep`` can run signal ``name``: a signal with a ``strength`` (a registered name
    or a user's ``MODULE:FACTORY``), of data kind ``kind`` (``"image"`` or ``"text"``) if given."""
    sig = SIGNALS.get(name)
    if sig is None or sig.strength is None:
        return False
    return kind is None or kind in sig.kinds


def check_strength(name: str, strength: float | None, num_classes: int | None = None) -> None:
    """Refuse a ``strength`` that signal ``name`` cannot take (before anything is run):
    `check_signal`, then
    `check_strength_fits`.

    ``clean`` ignores any strength. Pixel codes must be whole numbers (the benchmark's images
    are uint8): ``strength`` an integer >= 1, and, given ``num_classes``, the largest code
    within 255.

    Raises:
        TypeError: not a number.
        ValueError: an unknown signal, a signal without a strength, or a strength that does not
            fit.
    """
    check_signal(name, strength=strength)
    check_strength_fits(name, strength, num_classes)


def check_strength_fits(name: str, strength: float | None, num_classes: int | None) -> None:
    """What signal ``name``'s class refuses of a ``strength`` already checked by
    `check_signal`, for ``num_classes`` classes
    (None: for any): e.g. a pixel code above 255."""
    if strength is None or name == "clean":
        return
    cls = SIGNALS[name].cls
    assert cls is not None  # only clean has no class
    cls.check_strength(strength, num_classes)


def check_signal(name: str, kind: Kind | None = None, strength: float | None = None) -> None:
    """Refuse signal ``name`` before anything is loaded: an unknown name, one of another data
    ``kind``, a ``strength`` that is no finite number > 0 or given to a signal without one. What
    the strength must be for the data's classes is checked once they are known
    (`check_strength`)."""
    sig = SIGNALS.get(name)
    if sig is None:
        raise ValueError(f"unknown signal {name!r}; known: {', '.join(SIGNALS)}")
    if kind is not None and kind not in sig.kinds:
        raise ValueError(
            f"signal {name!r} applies to {'/'.join(sig.kinds)} data, not {kind}; "
            f"{kind} signals: {', '.join(signal_names(kind))}"
        )
    if strength is None or name == "clean":
        return
    if isinstance(strength, bool) or not isinstance(strength, (int, float)):
        raise TypeError(f"strength must be a number, got {strength!r}")
    if sig.strength is None:
        raise ValueError(
            f"signal {name!r} has no strength (signals with one: {', '.join(_strength_signals())})"
        )
    if not math.isfinite(strength) or strength <= 0:
        raise ValueError(f"strength must be a finite number > 0, got {strength!r}")


def build_injector(
    name: str,
    num_classes: int,
    seed: int,
    *,
    quantizer: Any = None,
    strength: float | None = None,
) -> Injector | None:
    """A fresh injector for signal ``name`` whose strength was checked (see
    [`make_injector`][signalinject.benchmarks.signals.make_injector], which checks it first)."""
    sig = SIGNALS[name]
    kw: dict[str, Any] = {}
    if "text" in sig.kinds and quantizer is not None:
        kw["quantizer"] = quantizer
    if strength is not None and sig.strength is not None:
        # float: 60 and 60.0 must give the same injector config (and so the same cell id)
        kw["strength"] = float(strength)
    return sig.factory(num_classes, seed, **kw)


def make_injector(
    name: str,
    num_classes: int,
    seed: int,
    *,
    kind: Kind | None = None,
    quantizer: Any = None,
    strength: float | None = None,
) -> Injector | None:
    """A fresh injector for signal ``name`` (None for ``clean``).

    Args:
        name: a key of `SIGNALS`.
        num_classes: the dataset's number of classes K.
        seed: the injector's seed (one per benchmark seed).
        kind: if given, refuse a signal that does not apply to that data kind.
        quantizer: for text signals, the ``CharQuantizer`` the models' input goes through
            (None: Zhang's, length 1014); ignored by image signals.
        strength: the code's strength, in the signal's own units (0..255 image units for the
            paper's image signals, see the module doc); None: the paper's. ``clean`` ignores it.

    Raises:
        ValueError: unknown name, a signal of the wrong kind, or a strength it cannot take
            (`check_strength`).
    """
    check_signal(name, kind, strength)
    check_strength_fits(name, strength, num_classes)
    return build_injector(name, num_classes, seed, quantizer=quantizer, strength=strength)


def wrong_signal(inj: Injector) -> Injector:
    """The same injector with ``fidelity=0.0``: every carried sample encodes a wrong class.

    The wrong class of each sample is ``inj_wrong.codes(y, index)[0]`` (uniform over the other
    K-1 classes, a pure function of ``(seed, index)``); everything else (positions, values,
    coverage) is drawn as by ``inj``.
    """
    return dataclasses.replace(inj, fidelity=0.0)
